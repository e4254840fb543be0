"""The composition root without a cluster: what a reload changes, and what the mode picks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.bundled import default_policy, default_runbooks
from controller.guardrails.policy import PolicyMode
from controller.loop import LoopConfig
from controller.operator.modes import OperatorMode
from controller.operator.root import Operator, RunOptions, instance_name
from controller.settings import Settings

GOOD = default_policy().read_text(encoding="utf-8")


@dataclass
class StubLoop:
    config: LoopConfig
    contexts: int = 0

    def planner_context(self) -> Any:
        self.contexts += 1
        return ("context", self.contexts)


@dataclass
class StubDriver:
    runner: Any = None


def operator(tmp_path: Path, mode: OperatorMode) -> Operator:
    policy = tmp_path / "policy.yaml"
    policy.write_text(GOOD, encoding="utf-8")
    settings = Settings().model_copy(
        update={"operator": Settings().operator.model_copy(update={"state_dir": tmp_path})}
    )
    options = RunOptions(mode=mode, settings=settings, policy=policy, runbooks=default_runbooks())
    return Operator(options)


def test_a_policy_reload_reaches_the_loop_and_the_planner(tmp_path: Path) -> None:
    op = operator(tmp_path, OperatorMode.SHADOW)
    loop = StubLoop(LoopConfig(policy=op.policy.current, runbooks=(), settings=op.settings))
    driver = StubDriver(runner="old")
    op.loop = loop  # type: ignore[assignment]
    op._graph_parts = (object(), driver)  # type: ignore[assignment]
    (tmp_path / "policy.yaml").write_text(GOOD.replace("name: default", "name: edited"))
    assert op.policy.poll() is True
    assert loop.config.policy.name == "edited"
    assert loop.config.policy.policy.spec.mode is PolicyMode.DRY_RUN  # still shadow
    assert driver.runner != "old" and loop.contexts == 1  # a runner over the new context
    assert op.controller_metrics.value("aiops_config_reloads_total", {"kind": "policy"}) == 1.0


def test_a_bad_edit_before_the_loop_exists_is_counted_only(tmp_path: Path) -> None:
    op = operator(tmp_path, OperatorMode.AUTO)
    (tmp_path / "policy.yaml").write_text("kind: Nope\n", encoding="utf-8")
    assert op.policy.poll() is False
    assert op.policy.current.name == "default"
    assert (
        op.controller_metrics.value("aiops_config_reload_failures_total", {"kind": "policy"}) == 1.0
    )


def test_the_mode_gauge_is_set_at_construction(tmp_path: Path) -> None:
    op = operator(tmp_path, OperatorMode.PROPOSE)
    assert op.controller_metrics.value("aiops_mode", {"mode": "propose"}) == 1.0
    assert op.controller_metrics.value("aiops_mode", {"mode": "shadow"}) == 0.0
    assert instance_name("aiops-0") == "aiops-0" and instance_name(None)
