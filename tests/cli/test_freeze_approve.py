"""``aiops freeze|unfreeze|approve|reject`` as a user runs them: a kubeconfig pointing at the
loopback fake API, the real client, one line per outcome and the documented exit codes (0
written, 1 refused, 2 user mistake, 3 cluster unavailable). The round trips run the CLI as a
child process; the refusals run it in-process (Typer's runner), which is faster and the same
code from argument parsing on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from typer.testing import CliRunner

from controller.cli import app
from controller.kube.client import Timeouts, build_api_client
from controller.kube.killswitch import ClusterKillSwitch
from controller.kube.remediation_body import REMEDIATIONS, remediation_name
from controller.kube.remediations import RemediationStore
from controller.settings import KillSwitchSettings
from controller.sim.fakes import SimulatedClock
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi, Fault, remediation_crd
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import fast_settings
from tests.adapters.kube.remediation_rig import T0, plan, request
from tests.cli_runner import aiops


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    fake = FakeKubeApi(served=set(CORE_PLURALS) | {"configmaps"}).start()
    fake.install_crd(remediation_crd())
    fake.put("namespaces", manifests.namespace())
    yield fake
    fake.stop()
    assert fake.internal_errors == [], "the fake itself failed while serving"


def _kubeconfig(folder: Path, server: str, user: str = "alice") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": user, "user": {"token": "not-checked"}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "fake", "user": user, "namespace": "shop"}}
        ],
        "current-context": "fake",
    }
    path = folder / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def kubeconfig(api: FakeKubeApi, tmp_path: Path) -> Path:
    return _kubeconfig(tmp_path, api.url)


def _switch_engaged(api: FakeKubeApi) -> bool:
    client = build_api_client(fast_settings(), host=api.url)
    try:
        return ClusterKillSwitch(client, KillSwitchSettings()).engaged()
    finally:
        client.close()


class _Ran:
    """What an in-process run left: its exit code and everything it printed."""

    def __init__(self, returncode: int, output: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, output, ""


def _inline(*args: str | Path) -> _Ran:
    """``aiops <args>`` in this process (the logging it configures is reset afterwards)."""
    try:
        result = CliRunner().invoke(app, [str(a) for a in args])
    finally:
        structlog.reset_defaults()
    assert result.exception is None or isinstance(result.exception, SystemExit), result
    return _Ran(result.exit_code, result.output)


def _one_line(run: Any) -> str:
    """The command's message: one line, never a traceback."""
    text = (run.stdout + run.stderr).strip()
    assert "Traceback" not in text, text
    assert len(text.splitlines()) == 1, text
    return str(text)


def test_freeze_and_unfreeze_round_trip(api: FakeKubeApi, kubeconfig: Path, tmp_path: Path):
    assert _switch_engaged(api)  # no ConfigMap yet: fail closed
    frozen = aiops("freeze", "--reason", "black friday", "--kubeconfig", kubeconfig, cwd=tmp_path)
    assert frozen.returncode == 0, frozen.stderr
    assert "kill switch engaged by kube:alice" in _one_line(frozen)
    stored = api.get("configmaps", "aiops", "aiops-controller-kill-switch")
    assert stored is not None
    assert {k: stored["data"][k] for k in ("engaged", "reason", "by")} == {
        "engaged": "true", "reason": "black friday", "by": "kube:alice",
    }  # fmt: skip
    assert _switch_engaged(api)
    released = aiops("unfreeze", "--kubeconfig", kubeconfig, cwd=tmp_path)
    assert released.returncode == 0, released.stderr
    assert "kill switch disengaged" in _one_line(released)
    assert not _switch_engaged(api)


def test_freeze_needs_a_reason_and_a_usable_kubeconfig(kubeconfig: Path, tmp_path: Path):
    empty = _inline("freeze", "--reason", "  ", "--kubeconfig", kubeconfig)
    assert empty.returncode == 2 and "--reason" in _one_line(empty)
    missing = _inline("freeze", "--reason", "x", "--kubeconfig", tmp_path / "nope")
    assert missing.returncode == 2 and "cannot load kubeconfig" in _one_line(missing)
    context = _inline("freeze", "--reason", "x", "--kubeconfig", kubeconfig, "--context", "prod")
    assert context.returncode == 2 and "no such context" in _one_line(context)


def test_freeze_against_a_dead_api_exits_3(api: FakeKubeApi, kubeconfig: Path):
    api.inject(Fault.server_error(503))
    run = _inline("freeze", "--reason", "x", "--kubeconfig", kubeconfig)
    assert run.returncode == 3 and "cluster unavailable" in _one_line(run)
    assert api.mutations() == []


def _pending(api: FakeKubeApi) -> str:
    client = build_api_client(fast_settings(), host=api.url)
    try:
        store = RemediationStore(client, timeouts=Timeouts(3.0, 3.0), clock=SimulatedClock(T0))
        store.publish(request(plan(), ttl=timedelta(days=3650)))
    finally:
        client.close()
    return remediation_name(plan().action, plan().plan_hash())


def test_approve_writes_the_answer_as_the_kubeconfig_user(
    api: FakeKubeApi, kubeconfig: Path, tmp_path: Path
):
    name = _pending(api)
    run = aiops("approve", name, "--reason", "dashboards agree", "--kubeconfig", kubeconfig,
                cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"shop/{name}: approved by kube:alice" in _one_line(run)  # -n from the context
    stored = api.get(REMEDIATIONS.plural, "shop", name)
    assert stored is not None
    answer = stored["spec"]["answer"]
    assert (answer["decision"], answer["by"], answer["reason"]) == (
        "approve", "alice", "dashboards agree",
    )  # fmt: skip
    again = aiops("reject", name, "--reason", "changed my mind", "-n", "shop",
                  "--kubeconfig", kubeconfig, cwd=tmp_path)  # fmt: skip
    assert again.returncode == 1 and "already answered" in _one_line(again)
    assert api.get(REMEDIATIONS.plural, "shop", name)["spec"]["answer"] == answer  # type: ignore[index]


def test_approve_mistakes_and_refusals(api: FakeKubeApi, kubeconfig: Path):
    name = _pending(api)
    ghost = _inline("approve", "ghost", "--reason", "r", "--kubeconfig", kubeconfig)
    assert ghost.returncode == 2 and "no such Remediation" in _one_line(ghost)
    no_reason = _inline("reject", name, "--reason", "", "--kubeconfig", kubeconfig)
    assert no_reason.returncode == 2 and "--reason" in _one_line(no_reason)
    api.forbidden.add("remediations")
    denied = _inline("approve", name, "--reason", "r", "--kubeconfig", kubeconfig)
    assert denied.returncode == 1 and "403" in _one_line(denied)  # RBAC decides who may
    api.forbidden.clear()
    api.inject(Fault.reset())
    dead = _inline("approve", name, "--reason", "r", "--kubeconfig", kubeconfig)
    assert dead.returncode == 3 and "cluster unavailable" in _one_line(dead)
    api.faults.clear()
    stored = api.get(REMEDIATIONS.plural, "shop", name)
    assert stored is not None and "answer" not in stored["spec"]
    wrong_ns = _inline("approve", name, "-n", "payments", "--reason", "r",
                       "--kubeconfig", kubeconfig)  # fmt: skip
    assert wrong_ns.returncode == 2 and "payments/" in _one_line(wrong_ns)
