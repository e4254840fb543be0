"""The end-to-end rig: a ``SimulatedStack`` playing a scenario and ``aiops run`` against it.

Everything is shortened so one scenario plays out in well under a minute of wall time, with
the configuration ``aiops demo`` uses (``controller.operator.demo.fast_config``): the fault
comes soon after the warm-up, the windows fit the stack's two minutes of history, the
runbooks bake for seconds, and the operator ticks every second over a Prometheus step of
the simulator's 5 s warm-up step (docs/simulator.md). The policy is the bundled one with
its approval rule by kind dropped, so auto mode acts on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controller.ledger import read_entries
from controller.models.ledger import EntryType
from controller.operator.demo import fast_config, scenario
from controller.sim.cluster import SimulatedStack
from controller.sim.cluster.stack import free_port
from controller.sim.kube_api import FakeKubeApi, RecordedRequest
from tests.operator.process import Running, start

KILL_SWITCH = ("aiops", "aiops-controller-kill-switch")
"""The kill switch ConfigMap of the default settings (``kill_switch.*``)."""


def set_kill_switch(api: FakeKubeApi, *, engaged: bool) -> None:
    """Store the kill switch ConfigMap directly (not a request the operator made)."""
    namespace, name = KILL_SWITCH
    api.served.add("configmaps")  # the fake serves only what a test asks for
    api.put(
        "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    api.put(
        "configmaps",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"engaged": "true" if engaged else "false", "reason": "e2e", "by": "test"},
        },
    )


def writes(api: FakeKubeApi) -> list[RecordedRequest]:
    """Every PATCH, PUT, POST or DELETE the operator sent that is not an Event."""
    return [r for r in api.mutations() if not r.path.endswith("/events")]


def entries(state: Path) -> list[Any]:
    """The ledger's entries so far (the writer fsyncs each; a partial line is not read)."""
    path = state / "ledger.jsonl"
    return list(read_entries(path)) if path.exists() else []


def of_type(state: Path, kind: EntryType) -> list[Any]:
    return [e for e in entries(state) if e.type is kind]


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
    """Poll ``predicate`` for at most ``timeout`` seconds; its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step)
    return True


def _summary(entry: Any) -> str:
    payload = entry.payload
    p = payload if isinstance(payload, dict) else payload.model_dump(mode="json")
    detail = ""
    if entry.type is EntryType.DECISION:
        decision = p["decision"]
        detail = f" {decision['verdict']}: {[r['code'] for r in decision['reasons']]}"
    elif entry.type is EntryType.PROPOSAL:
        detail = f" {p['action']['kind']} {p.get('runbook_id')}"
    elif entry.type is EntryType.MODE:
        detail = f" {p['mode']}"
    elif entry.type in (EntryType.ESCALATION, EntryType.ACTION, EntryType.VERIFICATION):
        detail = f" {str(p)[:300]}"
    return f"{entry.incident_id} {entry.type.value}{detail}"


class Rig:
    """One stack and one operator; ``state`` is the operator's state folder."""

    def __init__(self, stack: SimulatedStack, operator: Running, state: Path) -> None:
        self.stack = stack
        self.operator = operator
        self.state = state

    @property
    def api(self) -> FakeKubeApi:
        return self.stack.api

    def describe(self) -> str:
        """What a failed assertion should show: the ledger's types and the operator's log."""
        kinds = [_summary(e) for e in entries(self.state)]
        return f"ledger: {kinds}\nwrites: {[(r.method, r.path) for r in writes(self.api)]}\n" + (
            self.operator.stderr()
        )


@contextmanager
def rig(
    tmp_path: Path,
    name: str,
    mode: str,
    *,
    before: Callable[[FakeKubeApi], None] | None = None,
) -> Iterator[Rig]:
    """Start the stack for scenario ``name``, then ``aiops run --mode MODE`` against it."""
    config = fast_config(tmp_path / "config", approvals_for_rollback=False)
    settings, policy, runbooks = config.settings, config.policy, config.runbooks
    port = free_port()
    stack = SimulatedStack(
        scenario(name), tmp_path / "stack", otlp_endpoint=f"http://127.0.0.1:{port}/v1/traces",
        trace_sample_ratio=1.0, max_lifetime=180.0,
    )  # fmt: skip
    stack.start()
    running: Running | None = None
    try:
        set_kill_switch(stack.api, engaged=False)
        if before is not None:
            before(stack.api)
        state = tmp_path / "state"
        args = [
            "--mode", mode, "--kubeconfig", str(stack.kubeconfig),
            "--prometheus", stack.prometheus.url, "--state-dir", str(state),
            "--port", str(port), "--tick", "1s", "--config", str(settings),
            "--policy", str(policy), "--runbooks", str(runbooks),
        ]  # fmt: skip
        environ = {
            "AIOPS_OPERATOR__GRACE_PERIOD": "5s",
            "AIOPS_KUBE__QPS": "500",
            "AIOPS_LLM__ENABLED": "false",
            "AIOPS_LOG__LEVEL": "info",
        }
        running = start(args, environ, tmp_path)
        yield Rig(stack, running, state)
    finally:
        if running is not None:
            if running.process.poll() is None:
                try:
                    running.terminate(within=15.0)
                except Exception:
                    pass
            running.kill()
        stack.stop()
