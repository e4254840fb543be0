"""``aiops demo``: the live operator acting on the simulated cluster, in about a minute.

A ``SimulatedStack`` (the Kubernetes API fake, the simulator, a real Prometheus) plays a
built-in scenario with its fault moved to ``FAULT_AT``; the operator runs in this process
(``Operator`` over the stack's kubeconfig, the cluster kill switch plugged in) in propose
mode, so every action waits for a human. A request for approval is answered from the
terminal (or by ``--approve-all``/``--reject-all``) and written into the operator's own
durable inbox, the path every channel shares: the graph judges it (plan hash, snapshot,
expiry) exactly as it judges an ``aiops approve``. The timeline is read off the ledger, the
record of truth, so what is printed is what was decided.

The loop is shortened to fit the stack's two minutes of history (``fast_config``): a 20 s
error-ratio window, burn-rate and saturation windows in seconds, runbooks baking 30 s. The
end-to-end tests use the same configuration, so the demo shows what they prove.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controller.bundled import default_policy, default_runbooks
from controller.models.signals import Signal
from controller.observers.queries import preset_templates
from controller.sim.cluster.scenarios import builtin
from controller.sim.cluster.spec import Scenario

FAULT_AT = timedelta(seconds=15)
"""When the fault strikes, from the scenario's start (the warm-up ends about 10 s in)."""
BAKE = "30s"
"""Runbook bake: with a 20 s error-ratio window, the read at the end is all post-action."""
RATE_WINDOW = "20s"


@dataclass(frozen=True, slots=True)
class FastConfig:
    """Files for a loop that plays out in seconds: settings, policy, runbook folder."""

    settings: Path
    policy: Path
    runbooks: Path


def fast_settings() -> dict[str, Any]:
    """Settings (a YAML mapping) whose windows fit two minutes of history."""
    error_ratio = preset_templates("kube-state-metrics")[Signal.ERROR_RATIO]
    return {
        "detection": {
            "burn_windows": [{"long": "2m", "short": "20s", "factor": 14.4}],
            # The shop runs at ~1.02 x its CPU request when healthy: 1.5 means a real surge.
            "cpu_saturation": 1.5,
            "saturation_for": "15s",
        },
        "prometheus": {
            "step": "5s",  # the simulator's warm-up step: every rate() window starts on a sample
            "queries": {
                Signal.ERROR_RATIO.value: error_ratio.replace("${rate_window}", RATE_WINDOW)
            },
        },
    }


def fast_config(root: Path, *, approvals_for_rollback: bool = True) -> FastConfig:
    """Write the fast settings, the bundled policy (``approvals_for_rollback=False`` drops
    its approval rule by kind, for auto mode) and the bundled runbooks baking ``BAKE``."""
    root.mkdir(parents=True, exist_ok=True)
    settings = root / "settings.yaml"
    settings.write_text(json.dumps(fast_settings(), indent=2) + "\n", encoding="utf-8")
    policy = root / "policy.yaml"
    text = default_policy().read_text(encoding="utf-8")
    if not approvals_for_rollback:
        text = text.replace("kinds: [rollback, restart, pause_rollout]", "kinds: []")
    policy.write_text(text, encoding="utf-8")
    runbooks = root / "runbooks"
    shutil.copytree(default_runbooks(), runbooks)
    for book in runbooks.glob("*.md"):
        body = book.read_text(encoding="utf-8")
        body = re.sub(r"^  bake: .*$", f"  bake: {BAKE}", body, flags=re.MULTILINE)
        body = re.sub(
            r"^  min_improvement: .*$", "  min_improvement: 0.3", body, flags=re.MULTILINE
        )
        book.write_text(body, encoding="utf-8")
    return FastConfig(settings, policy, runbooks)


def scenario(name: str, fault_at: timedelta = FAULT_AT) -> Scenario:
    """A built-in scenario whose faults start at ``fault_at`` (their durations kept)."""
    base = builtin(name)
    faults = []
    for fault in base.faults:
        update: dict[str, Any] = {"at": fault_at}
        until = getattr(fault, "until", None)
        if until is not None:
            update["until"] = fault_at + (until - fault.at)
        faults.append(fault.model_copy(update=update))
    return base.model_copy(update={"faults": tuple(faults)})


KILL_SWITCH_DATA = {"engaged": "false", "reason": "aiops demo", "by": "aiops-demo"}


def release_kill_switch(api: Any, namespace: str, name: str) -> None:
    """Store the kill switch ConfigMap disengaged (it fails closed when missing)."""
    api.served.add("configmaps")  # the fake serves only the plurals asked for
    api.put(
        "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
    }
    api.put("configmaps", {**body, "data": dict(KILL_SWITCH_DATA)})


Ask = Callable[[str], str]
"""Reads one answer from the human (``console.input``); tests pass their own."""


@dataclass
class DemoResult:
    """What the demo saw: the ledger's entry types in order, and how it ended."""

    kinds: list[str]
    outcome: str  # "verified", "rejected", "timeout"
    verification: str = ""


class Demo:
    """One demo run: stack, in-process operator, timeline; everything stopped at the end."""

    def __init__(
        self,
        name: str,
        *,
        answer: str,  # "ask", "approve", "reject"
        console: Any,
        ask: Ask | None = None,
        timeout: float = 150.0,
    ) -> None:
        self.name = name
        self.answer = answer
        self.console = console
        self.ask = ask or (lambda prompt: str(console.input(prompt)))
        self.timeout = timeout
        self.started = time.monotonic()
        self.seen = 0
        self.kinds: list[str] = []

    def run(self) -> DemoResult:
        """Play the scenario until the action is verified (or rejected, or time is up)."""
        from controller.guardrails.freeze import FreezeGate
        from controller.kube.killswitch import ClusterKillSwitch
        from controller.operator.logs import configure_operator_logging
        from controller.operator.modes import OperatorMode
        from controller.operator.ports import PlugIns
        from controller.operator.root import Operator, RunOptions
        from controller.operator.wiring import WallClock
        from controller.sim.cluster import SimulatedStack
        from controller.sim.cluster.stack import free_port

        root = Path(tempfile.mkdtemp(prefix="aiops-demo-"))
        stop = threading.Event()
        thread: threading.Thread | None = None
        stack: SimulatedStack | None = None
        try:
            config = fast_config(root / "config")
            port = free_port()
            self.note(f"starting the simulated cluster ({self.name}) and a real Prometheus")
            stack = SimulatedStack(
                scenario(self.name), root / "stack",
                otlp_endpoint=f"http://127.0.0.1:{port}/v1/traces", trace_sample_ratio=1.0,
                max_lifetime=self.timeout + 60.0,
            )  # fmt: skip
            stack.start()
            settings = _demo_settings(config, stack, root / "state", port)
            switch = settings.kill_switch
            release_kill_switch(stack.api, switch.namespace, switch.name)
            configure_operator_logging(settings.log)
            options = RunOptions(
                mode=OperatorMode.PROPOSE, settings=settings, policy=config.policy,
                runbooks=config.runbooks, instance="aiops-demo",
            )  # fmt: skip
            plugins = PlugIns(
                kill_switch=lambda api: FreezeGate(
                    ClusterKillSwitch(api, settings.kill_switch), clock=WallClock()
                )
            )
            operator = Operator(options, plugins)
            thread = threading.Thread(target=operator.run, args=(stop,), name="operator")
            thread.start()
            at = int(FAULT_AT.total_seconds())
            self.note(
                f"operator running in propose mode; the fault strikes {at}s into the scenario"
            )
            return self._follow(operator, root / "state" / "ledger.jsonl", stack)
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=15.0)
            if stack is not None:
                stack.stop()
            shutil.rmtree(root, ignore_errors=True)

    def note(self, text: str) -> None:
        self.console.print(f"[dim]{self._clock()}[/dim] {text}")

    def _clock(self) -> str:
        return f"+{time.monotonic() - self.started:5.1f}s"

    def _follow(self, operator: Any, ledger: Path, stack: Any) -> DemoResult:
        from controller.ledger import read_entries

        deadline = self.started + self.timeout
        outcome, verification = "timeout", ""
        while time.monotonic() < deadline and outcome == "timeout":
            entries = read_entries(ledger) if ledger.exists() else []
            for entry in entries[self.seen :]:
                self.seen += 1
                self.kinds.append(entry.type.value)
                payload = _plain(entry.payload)
                self._print(entry.type.value, entry.incident_id, payload, stack)
                if entry.type.value == "approval_requested":
                    self._answer(operator, payload)
                elif entry.type.value == "approval" and payload.get("outcome") != "approved":
                    outcome = "rejected"
                elif entry.type.value == "verification":
                    outcome, verification = "verified", str(payload.get("phase"))
            time.sleep(0.25)
        return DemoResult(self.kinds, outcome, verification)

    def _answer(self, operator: Any, payload: dict[str, Any]) -> None:
        from controller.models.decisions import Approval, ApprovalOutcome, ApprovalRequest

        request = ApprovalRequest.model_validate(payload)
        if self.answer == "ask":
            reply = self.ask("  approve? [y/N] ").strip().lower()
            yes = reply in {"y", "yes"}
        else:
            yes = self.answer == "approve"
            self.note(f"  approve? [y/N] {'y' if yes else 'N'} (--{self.answer}-all)")
        outcome = ApprovalOutcome.APPROVED if yes else ApprovalOutcome.REJECTED
        who = "demo:terminal" if self.answer == "ask" else f"demo:--{self.answer}-all"
        answer = Approval.to(request, outcome, who, datetime.now(UTC), note="aiops demo")
        operator.inbox.put(answer)  # the durable inbox: the graph judges it like any answer

    def _print(self, kind: str, incident: str | None, p: dict[str, Any], stack: Any) -> None:
        text = _describe(kind, p)
        if text is None:
            return
        style = STYLES.get(kind, "")
        where = f" [cyan]{incident}[/cyan]" if incident else ""
        line = f"[dim]{self._clock()}[/dim] [{style}]{kind:<18}[/{style}]{where} {text}"
        self.console.print(line, highlight=False)
        if kind in {"action", "verification"} and self.name == "bad-deploy":
            rates = stack.runner.cluster.rates("shop/checkout")
            self.note(f"  simulator: shop/checkout error ratio now {rates.error_ratio:.3f}")


STYLES = {
    "detection": "bold red", "proposal": "yellow", "decision": "magenta",
    "approval_requested": "bold yellow", "approval": "bold green", "action": "bold blue",
    "verification": "bold green", "escalation": "red", "mode": "dim",
}  # fmt: skip


def _plain(payload: Any) -> dict[str, Any]:
    if isinstance(payload, dict):
        return payload
    return dict(payload.model_dump(mode="json"))


def _describe(kind: str, p: dict[str, Any]) -> str | None:
    """One readable line per ledger entry (None: not shown)."""
    if kind == "detection":
        incident = p.get("incident") or {}
        findings = ", ".join(str(f.get("kind")) for f in incident.get("findings") or [])
        hypotheses: list[dict[str, Any]] = list(incident.get("hypotheses") or [])
        lead = hypotheses[0].get("fault", "?") if hypotheses else "?"
        return f"{findings}; lead hypothesis {lead}"
    if kind == "proposal":
        action = p.get("action") or {}
        return f"plan: {action.get('kind')} ({p.get('runbook_id') or p.get('planner')})"
    if kind == "decision":
        decision = p.get("decision") or {}
        reasons = "; ".join(str(r.get("detail")) for r in decision.get("reasons") or [])
        return f"verdict {decision.get('verdict')}: {reasons}"
    if kind == "approval_requested":
        summary = str(p.get("summary", ""))
        summary = summary if len(summary) <= 160 else summary[:157] + "..."
        return f"{summary} (plan {str(p.get('plan_hash'))[:12]})"
    if kind == "approval":
        return f"{p.get('outcome')} by {p.get('approver')}"
    if kind == "action":
        return f"{(p.get('action') or {}).get('kind')}: {p.get('status', '')} {p.get('detail', '')}"
    if kind == "verification":
        return f"{p.get('phase')}: {p.get('detail')}"
    if kind == "escalation":
        return str(p.get("reason", ""))[:200]
    if kind == "mode":
        return f"controller mode {p.get('mode')}"
    return None


def _demo_settings(config: FastConfig, stack: Any, state: Path, port: int) -> Any:
    """The fast settings pointed at the stack; quiet logs (the timeline is the output)."""
    from controller.settings import load_settings

    settings = load_settings(config.settings)
    op = settings.operator.model_copy(
        update={
            "state_dir": state, "port": port, "host": "127.0.0.1",
            "tick_interval": timedelta(seconds=1), "grace_period": timedelta(seconds=5),
        }
    )  # fmt: skip
    return settings.model_copy(
        update={
            "operator": op,
            "kube": settings.kube.model_copy(
                update={"kubeconfig": str(stack.kubeconfig), "qps": 500.0}
            ),
            "prometheus": settings.prometheus.model_copy(update={"url": stack.prometheus.url}),
            "llm": settings.llm.model_copy(update={"enabled": False}),
            "log": settings.log.model_copy(update={"level": "error", "format": "console"}),
        }
    )
