"""A planner process for the SIGKILL test (``python -m tests.planner.crash_child DIR PHASE``).

Everything it keeps lives in files under DIR: the planner checkpointer, the state store and
the simulated cluster's write log (the cluster outlives the process, as a real one would).
Phase ``first`` plans one incident and hangs right after its write, to be killed; phase
``second`` starts on the same files, recovers and prints what it found as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from controller.actuators.reconcile import Actuator
from controller.approvals.scripted import GrantAll
from controller.models.actions import Action, ScaleAction
from controller.models.ledger import EntryType
from controller.planner.graph.build import build_graph
from controller.planner.graph.driver import IncidentDriver, TickView
from controller.planner.graph.runner import Checkpointer, PlannerRunner, sqlite_checkpointer
from controller.planning import InlinePlanning
from controller.ports import LiveWorkload
from controller.sim.fakes import SimulatedCluster, StaticKillSwitch
from controller.state.history import StoredHistory
from controller.state.inbox import StoredInbox
from controller.state.store import SqliteStateStore
from tests.factories import T0
from tests.planner.harness import make_world, saturation_incident

HANG = 60.0
"""Seconds the first phase waits after its write for the parent's SIGKILL."""


class LoggedCluster:
    """A ``ClusterWriter`` that keeps every write in a file, fsynced before it returns."""

    def __init__(self, inner: SimulatedCluster, log: Path, hang: bool) -> None:
        self.inner = inner
        self.log = log
        self.hang = hang

    def apply(
        self, action: Action, *, resource_version: str, idempotency_key: str, now: datetime
    ) -> LiveWorkload:
        live = self.inner.apply(
            action, resource_version=resource_version, idempotency_key=idempotency_key, now=now
        )
        with self.log.open("a", encoding="utf-8") as out:
            out.write(action.model_dump_json() + "\n")
            out.flush()
            os.fsync(out.fileno())
        if self.hang:
            sys.stdout.write("WROTE\n")
            sys.stdout.flush()
            time.sleep(HANG)
        return live


def replay_writes(cluster: SimulatedCluster, log: Path) -> int:
    """Bring the simulated cluster to where the killed process left it."""
    if not log.exists():
        return 0
    lines = log.read_text(encoding="utf-8").splitlines()
    for line in lines:
        action = ScaleAction.model_validate_json(line)
        live = cluster.get_workload(action.target)
        assert live is not None
        cluster.apply(action, resource_version=live.resource_version, idempotency_key="", now=T0)
    return len(lines)


def main(state_dir: Path, phase: str) -> None:
    world = make_world()
    log = state_dir / "cluster.jsonl"
    before = replay_writes(world.cluster, log)
    store = SqliteStateStore(state_dir / "state.db")
    world.history = StoredHistory(store)
    writer = LoggedCluster(world.cluster, log, hang=phase == "first")
    world.executor = Actuator(reader=world.cluster, writer=writer, kill_switch=StaticKillSwitch())
    inbox = StoredInbox(store)

    def make(saver: Checkpointer) -> IncidentDriver:
        runner = PlannerRunner(build_graph(saver), world.context())
        return IncidentDriver(runner=runner, approvals=GrantAll(inbox), inbox=inbox, store=store)

    planning = InlinePlanning(make, lambda: sqlite_checkpointer(state_dir / "checkpoints.db"))
    planning.start()  # phase two: recovery re-runs the interrupted act node here
    incident = saturation_incident()
    if phase == "first":
        planning.submit(TickView(now=T0, open_incidents={incident.id: incident}), [incident])
    assert planning.driver is not None
    track = planning.driver.tracks.get(incident.id)
    planning.close()
    found = {
        "writes_before": before,
        "writes_after": len(log.read_text(encoding="utf-8").splitlines()),
        "actions": [e.payload["status"] for e in world.entries(EntryType.ACTION)],
        "waiting": None if track is None or track.waiting is None else track.waiting.kind,
        "acted": None if track is None else track.acted,
    }
    sys.stdout.write(json.dumps(found) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
