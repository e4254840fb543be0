"""Find the incident files under a folder and replay each one, in parallel over processes.

Each file goes through ``controller.replay.engine.run_replay``, the function ``aiops replay``
uses, with the inputs ``aiops replay FILE`` would build by default (runbook planner, the
file's recorded approvals else grant-all), an in-memory ledger instead of a ledger file.
A file that cannot be read, has no ground truth, or whose replay raises is *skipped* with one
line saying why; the evaluation goes on. Results come back in path order whatever the
completion order, so two runs print the same table.

Why processes: a replay is pure Python and CPU bound, so threads would share one core.
Workers are forked from a parent that has already imported the engine, and each worker loads
the policy, runbooks and settings once (``_loaded``), not once per file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from controller.bundled import default_policy, default_runbooks
from controller.errors import InputError
from controller.evaluation.baseline import baseline_ranking
from controller.evaluation.outcome import FileOutcome, Skipped, outcome_of, rank_of
from controller.guardrails.loader import LoadedPolicy, load_policy
from controller.incident_loader import load_incident
from controller.logging import configure_logging
from controller.planner.runbook.catalog import Runbook, load_runbooks
from controller.replay.engine import run_replay
from controller.replay.inputs import PlannerMode, ReplayInputs, default_approvals_mode
from controller.settings import Settings, load_settings
from controller.sim.fakes import InMemoryLedger

Result = FileOutcome | Skipped
Progress = Callable[[Result], None]


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """What every replay of the evaluation shares (paths, so it pickles cheaply)."""

    policy: Path | None = None
    runbooks: Path | None = None
    config: Path | None = None


def incident_paths(root: Path) -> list[Path]:
    """``root`` itself when it is a file, else every ``*.json`` below it, sorted."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.json") if p.is_file())


@lru_cache(maxsize=4)
def _loaded(config: EvalConfig) -> tuple[LoadedPolicy, tuple[Runbook, ...], Settings]:
    settings = load_settings(config.config)
    # Hundreds of replays would bury the report under their warnings (mode changes...): the
    # evaluation logs errors only; the per-file story is what ``aiops replay FILE`` is for.
    configure_logging(settings.log.model_copy(update={"level": "error"}))
    policy = load_policy(config.policy or default_policy())
    runbooks = load_runbooks(config.runbooks or default_runbooks())
    return policy, runbooks, settings


def check_config(config: EvalConfig) -> None:
    """Load the shared inputs once in the parent: a bad policy or setting is one line, exit 2,
    before any worker starts (raises InputError)."""
    _loaded(config)


def evaluate_file(path: Path, config: EvalConfig) -> Result:
    """Replay and score one file; every failure becomes a ``Skipped`` with one line."""
    try:
        incident = load_incident(path)
    except InputError as exc:
        return Skipped(path=str(path), reason=exc.one_line())
    if incident.ground_truth is None:
        return Skipped(path=str(path), reason=f"{path}: no ground_truth: nothing to score")
    policy, runbooks, settings = _loaded(config)
    inputs = ReplayInputs(
        incident=incident,
        source=str(path),
        policy=policy,
        runbooks=runbooks,
        settings=settings,
        approvals=default_approvals_mode(incident),
        planner=PlannerMode.RUNBOOK,
    )
    try:
        result = run_replay(inputs, InMemoryLedger())
    except Exception as exc:  # a replay bug must not stop the other files; say which file
        return Skipped(path=str(path), reason=f"{path}: replay failed: {type(exc).__name__}: {exc}")
    outcome = outcome_of(incident, result, str(path))
    base = rank_of(outcome.root_cause, baseline_ranking(incident))
    return outcome.model_copy(update={"baseline_rank": base})


def default_jobs() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _in_process(paths: Sequence[Path], config: EvalConfig) -> Iterator[Result]:
    for path in paths:
        yield evaluate_file(path, config)


def _pooled(paths: Sequence[Path], config: EvalConfig, jobs: int) -> Iterator[Result]:
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(evaluate_file, path, config) for path in paths]
        for future in as_completed(futures):
            yield future.result()


def evaluate(
    paths: Sequence[Path], config: EvalConfig, *, jobs: int = 1, progress: Progress | None = None
) -> tuple[list[FileOutcome], list[Skipped]]:
    """Every file's outcome (path order) and the skipped files; ``jobs`` 1 runs in-process."""
    check_config(config)
    results = (
        _in_process(paths, config)
        if jobs <= 1 or len(paths) <= 1
        else _pooled(paths, config, min(jobs, len(paths)))
    )
    outcomes: list[FileOutcome] = []
    skipped: list[Skipped] = []
    for result in results:
        if isinstance(result, FileOutcome):
            outcomes.append(result)
        else:
            skipped.append(result)
        if progress is not None:
            progress(result)
    outcomes.sort(key=lambda o: o.path)
    skipped.sort(key=lambda s: s.path)
    return outcomes, skipped
