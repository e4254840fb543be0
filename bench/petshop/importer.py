"""Turn the PetShop root-cause dataset into incident files: ``python -m bench.petshop.importer``.

Source: ``../shared/data/petshop/dataset`` (amazon-science/petshop-root-cause-analysis,
CC-BY-4.0; the licence and notice are copied next to the output). Output:
``bench/petshop/incidents/{train,test}/``, compact JSON, one file per issue and one per
fault-free window. The train/test split is the dataset's own; tune on train, report on test.

How the data maps (components -> workloads: ``bench.petshop.components``; injection command
-> ground truth: ``bench.petshop.truth``):

- ``latency`` ``p50``/``p99`` -> ``latency_p50``/``latency_p99`` in seconds (X-Ray reports
  seconds: the frontend's normal average is ~0.08, an injected 1000 ms sleep shows as ~1.0).
  ``Average``, ``p90`` and ``p95`` have no signal in the format and are dropped.
- ``availability`` ``Average`` (percent of successful requests) -> ``error_ratio`` =
  1 - availability / 100.
- ``requests`` ``Sum`` (requests per 5-minute period) -> ``request_rate`` = Sum / 300, per
  second.
- Timestamps: CloudWatch stamps a 5-minute statistic with the *start* of its period; the
  importer stamps it at the period's *end*, when it is known, so a replay never sees a value
  before it could have been read (no look-ahead). The window starts at the first period's
  start; the replay ticks once per sample.
- Values are rounded to 6 significant digits (the files stay small; the dataset's 16 digits
  are noise). Empty cells are ``null`` (a gap, never 0).
- ``graph.csv`` (row calls column) -> trace series: one per component (``caller`` null) and
  one per call edge. X-Ray gives node statistics only, so an edge carries its *callee's*
  statistics (rate, error ratio, p50, p99): how the callee looks from its callers. That is an
  approximation a reader of the localization results must keep in mind.
- The ground truth's onset is the dataset's ``target.timestamp`` (when the symptom was
  measured); ``root_cause`` is the workload of ``root_cause.node``. A code change gets a
  ``deploy`` event at onset (revision 1 -> 2) and a ``rollout_complete`` 30 s later, so a
  rollback is possible and the rollout is not mistaken for a stuck one.
- ``noissue`` (about 49 h, high and low traffic only) is cut into consecutive windows of the
  issue windows' length (5 samples), each a fault-free file (``fault: none``); the first half
  of each scenario's windows goes to train, the second half to test. The dataset holds no
  normal data right before an issue (its normal period was recorded months later, and the
  issue windows follow each other every ~30 minutes), so issue files carry no extra history:
  the samples before onset inside the window are the only baseline.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.petshop.components import REMEDIATE_LABEL, Scenario, inventory, scenario
from bench.petshop.truth import Injection, injection

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "petshop"
DEFAULT_OUT = REPO / "bench" / "petshop" / "incidents"
PERIOD = 300.0
"""Seconds per CloudWatch statistic."""
WINDOW_SAMPLES = 5
"""Samples per issue window in the dataset; fault-free windows are cut to the same length."""
ROLLOUT_SECONDS = 30.0
"""A deploy's rollout is complete this long after the deploy event (a Lambda or ECS update)."""
SCENARIOS = ("high_traffic", "low_traffic", "temporal_traffic1", "temporal_traffic2")
LICENCE_FILES = ("LICENSE_DATASET", "NOTICE")
SIGNALS = {
    ("latency", "p50"): ("latency_p50", "s"),
    ("latency", "p99"): ("latency_p99", "s"),
    ("availability", "Average"): ("error_ratio", "ratio"),
    ("requests", "Sum"): ("request_rate", "1/s"),
}


@dataclass(frozen=True, slots=True)
class Table:
    """One ``metrics.csv``: period-end timestamps and a column per (component, metric, stat)."""

    timestamps: tuple[int, ...]
    columns: Mapping[tuple[str, str, str], tuple[float | None, ...]]

    @property
    def components(self) -> set[str]:
        return {component for component, _, _ in self.columns}

    def rows(self, start: int, stop: int) -> Table:
        """Samples ``start`` to ``stop`` (exclusive)."""
        cut = {key: values[start:stop] for key, values in self.columns.items()}
        return Table(self.timestamps[start:stop], cut)


def _number(cell: str) -> float | None:
    if cell.strip() == "":
        return None
    value = float(cell)
    if not math.isfinite(value):
        return None
    return float(f"{value:.6g}")


def read_table(path: Path) -> Table:
    """Parse the four-row header and the rows; timestamps moved to the period's end."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    components, metrics, stats = rows[0], rows[1], rows[2]
    body = [row for row in rows[4:] if row and row[0].strip()]
    timestamps = tuple(int(float(row[0]) + PERIOD) for row in body)
    columns: dict[tuple[str, str, str], tuple[float | None, ...]] = {}
    for index in range(1, len(components)):
        key = (components[index], metrics[index], stats[index])
        columns[key] = tuple(_number(row[index]) for row in body)
    return Table(timestamps, columns)


def read_graph(path: Path) -> list[tuple[str, str]]:
    """Call edges (caller, callee) from the adjacency matrix, sorted."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    nodes = rows[0][1:]
    edges = [
        (row[0], nodes[j])
        for row in rows[1:]
        for j, cell in enumerate(row[1:])
        if cell.strip() and float(cell) == 1.0
    ]
    return sorted(edges)


def _convert(signal: str, value: float | None) -> float | None:
    if value is None:
        return None
    if signal == "error_ratio":
        return float(f"{min(1.0, max(0.0, 1.0 - value / 100.0)):.6g}")
    if signal == "request_rate":
        return float(f"{value / PERIOD:.6g}")
    return value


def _signal_values(table: Table, component: str) -> dict[str, tuple[float | None, ...]]:
    found = {}
    for (metric, stat), (signal, _) in SIGNALS.items():
        values = table.columns.get((component, metric, stat))
        if values is not None and any(v is not None for v in values):
            found[signal] = tuple(_convert(signal, v) for v in values)
    return found


def _series(s: Scenario, table: Table, components: Sequence[str]) -> list[dict[str, Any]]:
    units = dict(SIGNALS.values())
    out = []
    for component in components:
        for signal, values in sorted(_signal_values(table, component).items()):
            out.append(
                {
                    "workload": s.ref(component),
                    "signal": signal,
                    "unit": units[signal],
                    "timestamps": list(table.timestamps),
                    "values": list(values),
                }
            )
    return out


def _trace(
    table: Table, caller: str | None, callee: str, stats: Mapping[str, Sequence[float | None]]
) -> dict[str, Any]:
    empty = [None] * len(table.timestamps)
    return {
        "caller": caller,
        "callee": callee,
        "timestamps": list(table.timestamps),
        "rate": list(stats.get("request_rate", empty)),
        "error_ratio": list(stats.get("error_ratio", empty)),
        "latency_p50_seconds": list(stats.get("latency_p50", empty)),
        "latency_p99_seconds": list(stats.get("latency_p99", empty)),
    }


def _traces(
    table: Table, components: Sequence[str], edges: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """A service series per component with data, and an edge series per call edge whose
    callee has data (carrying the callee's statistics)."""
    stats = {c: _signal_values(table, c) for c in components}
    out = [_trace(table, None, c, stats[c]) for c in components if stats[c]]
    known = set(components)
    for caller, callee in edges:
        if caller in known and callee in known and stats[callee]:
            out.append(_trace(table, caller, callee, stats[callee]))
    return out


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Issue:
    """One labelled issue of the dataset."""

    split: str
    number: int
    target: Mapping[str, Any]
    table: Table


def incident_document(
    s: Scenario,
    table: Table,
    edges: Sequence[tuple[str, str]],
    *,
    name: str,
    title: str,
    description: str,
    truth: dict[str, Any],
    deployed: tuple[str, float] | None = None,
) -> dict[str, Any]:
    """One incident file as plain JSON data (validated by the caller)."""
    components = sorted(s.names)
    deployed_at = None if deployed is None else _iso(deployed[1])
    workloads = [
        inventory(s, c, deployed_at=deployed_at if deployed and deployed[0] == c else None)
        for c in components
    ]
    events = []
    if deployed is not None:
        events.append(
            {
                "time": _iso(deployed[1]),
                "kind": "deploy",
                "workload": s.ref(deployed[0]),
                "reason": "CdkDeploy",
                "message": "cdk deploy (PetShop fault injection: code change)",
                "revision": 2,
                "previous_revision": 1,
                "image": f"petshop.example/{s.names[deployed[0]]}:r2",
                "actor": "cdk",
            }
        )
        events.append(
            {
                "time": _iso(deployed[1] + ROLLOUT_SECONDS),
                "kind": "rollout_complete",
                "workload": s.ref(deployed[0]),
                "reason": "CdkDeployComplete",
                "message": "cdk deploy finished",
                "revision": 2,
            }
        )
    return {
        "apiVersion": "aiops.dev/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": name,
            "title": title,
            "description": description,
            "source": "import:petshop",
            "created": _iso(table.timestamps[-1]),
        },
        "window": {
            "start": _iso(table.timestamps[0] - PERIOD),
            "end": _iso(table.timestamps[-1]),
            "step": "5m",
        },
        "namespaces": [{"name": s.namespace, "labels": dict(REMEDIATE_LABEL)}],
        "workloads": workloads,
        "series": _series(s, table, components),
        "traces": _traces(table, components, edges),
        "events": events,
        "ground_truth": truth,
    }


def issue_document(s: Scenario, issue: Issue, edges: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The incident file of one labelled issue."""
    command = str(issue.target["metadata"]["reproducibility"]["command"])
    how: Injection = injection(command)
    root = str(issue.target["root_cause"]["node"])
    onset = float(issue.target["target"]["timestamp"])
    symptom = issue.target["target"]
    truth = {
        "fault": how.fault,
        "onset": _iso(onset),
        "root_cause": s.ref(root),
        "acceptable_actions": list(how.acceptable),
        "preferred_actions": list(how.preferred),
        "forbidden_actions": list(how.forbidden),
        "notes": how.notes(command),
    }
    return incident_document(
        s,
        issue.table,
        edges,
        name=f"petshop-{s.namespace.removeprefix('petshop-')}-{issue.split}-issue-{issue.number}",
        title=f"PetShop {s.key} {issue.split} issue {issue.number}: {how.kind} on {root}",
        description=f"Symptom: {symptom['node']} {symptom['metric']} ({symptom['agg']}). "
        f"Root cause: {root}. Imported from the PetShop root-cause dataset (CC-BY-4.0).",
        truth=truth,
        deployed=(root, onset) if how.deploys else None,
    )


def normal_windows(table: Table) -> Iterator[tuple[int, Table]]:
    """Consecutive, non-overlapping windows of ``WINDOW_SAMPLES`` samples."""
    for number, start in enumerate(range(0, len(table.timestamps) - WINDOW_SAMPLES + 1,
                                         WINDOW_SAMPLES)):  # fmt: skip
        yield number, table.rows(start, start + WINDOW_SAMPLES)


def _issues(root: Path) -> Iterator[Issue]:
    for split in ("train", "test"):
        folder = root / split
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("issue_*"), key=lambda p: int(p.name.split("_")[1])):
            target = json.loads((path / "target.json").read_text())
            yield Issue(
                split, int(path.name.split("_")[1]), target, read_table(path / "metrics.csv")
            )


def convert_scenario(root: Path, key: str) -> dict[str, dict[str, Any]]:
    """Every incident file of one scenario, keyed by its path under the output folder."""
    edges = read_graph(root / "graph.csv")
    issues = list(_issues(root))
    normal_path = root / "noissue" / "metrics.csv"
    normal = read_table(normal_path) if normal_path.is_file() else None
    components = {c for edge in edges for c in edge}
    for issue in issues:
        components |= issue.table.components
    if normal is not None:
        components |= normal.components
    s = scenario(key, components)
    files = {}
    for issue in issues:
        document = issue_document(s, issue, edges)
        files[f"{issue.split}/{document['metadata']['name']}.json"] = document
    if normal is not None:
        windows = list(normal_windows(normal))
        for number, window in windows:
            split = "train" if number < len(windows) // 2 else "test"
            name = f"petshop-{s.namespace.removeprefix('petshop-')}-normal-{number:03d}"
            files[f"{split}/{name}.json"] = incident_document(
                s,
                window,
                edges,
                name=name,
                title=f"PetShop {s.key}: normal operation, window {number}",
                description="Fault-free window of the dataset's normal operation (noissue).",
                truth={"fault": "none", "notes": "PetShop noissue: no fault injected"},
            )
    return files


def render(document: Mapping[str, Any]) -> str:
    """Compact, key-ordered JSON: byte-identical on every run."""
    return json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n"


def convert(source: Path) -> dict[str, str]:
    """Every output file (relative path -> text), validated as an incident file."""
    from controller.incident_loader import parse_incident  # the format's own validation

    out: dict[str, str] = {}
    for key in SCENARIOS:
        root = source / "dataset" / key
        if not root.is_dir():
            continue
        for relative, document in convert_scenario(root, key).items():
            parse_incident(document, relative)
            out[relative] = render(document)
    for name in LICENCE_FILES:
        out[name] = (source / name).read_text()
    return out


def write(files: Mapping[str, str], out: Path) -> None:
    """Replace ``out`` with exactly ``files`` (stale files from older runs are removed)."""
    if out.exists():
        shutil.rmtree(out)
    for relative, text in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the vendored files; exit 2 with one line when the source is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.source / "dataset").is_dir():
        sys.stderr.write(f"error: {args.source}: no dataset/ folder (PetShop dataset)\n")
        return 2
    files = convert(args.source)
    write(files, args.out)
    incidents = sum(1 for name in files if name.endswith(".json"))
    sys.stdout.write(f"{incidents} incident files written to {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
