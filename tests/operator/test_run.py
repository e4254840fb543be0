"""``aiops run`` as a subprocess against the Kubernetes API fake and the real Prometheus.

Each test starts the real command (``python -m controller run``) with a 1 s tick, waits for
it to become ready, checks what it serves and what it sent to the API server (the fake's
request log is the ground truth), then stops it with SIGTERM within the grace period.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from controller.bundled import default_policy
from controller.cli import app
from controller.cli.run import WATCHDOG_SLACK
from controller.incident_loader import load_incident
from controller.ledger import read_entries, verify_ledger
from controller.models.ledger import EntryType
from controller.sim.kube_api import FakeKubeApi
from tests.adapters.prometheus.servers import PrometheusServer
from tests.operator.cluster import EVENTS_NAMESPACE, events_posted, writes_other_than_events
from tests.operator.process import Running, sample, start, wait_for
from tests.operator.volume import ConfigMapVolume

GRACE = 5.0
READY_WITHIN = 20.0
GOOD_POLICY = default_policy().read_text(encoding="utf-8")


def _start(
    tmp_path: Path, kubeconfig: Path, prometheus: PrometheusServer, *extra: str, **env: str
) -> Running:
    args = [
        "--kubeconfig", str(kubeconfig), "--prometheus", prometheus.url,
        "--state-dir", str(tmp_path / "state"), "--port", "0", "--tick", "1s", *extra,
    ]  # fmt: skip
    environ = {
        "AIOPS_OPERATOR__GRACE_PERIOD": f"{GRACE:g}s",
        "AIOPS_KUBE__QPS": "500",
        "AIOPS_LLM__ENABLED": "false",
        "AIOPS_LOG__LEVEL": "info",
        **env,
    }
    return start(args, environ, tmp_path)


def _ready(running: Running) -> dict[str, object]:
    assert wait_for(lambda: running.get("/readyz")[0] == 200, READY_WITHIN), running.stderr()
    status, body = running.get("/readyz")
    assert status == 200
    return dict(json.loads(body))


def _stop_cleanly(running: Running, state: Path) -> None:
    code, took = running.terminate(within=GRACE + WATCHDOG_SLACK + 5)
    assert code == 0, running.stderr()  # not the watchdog's exit: done within the grace
    # The operator's own work ended inside the grace period; the interpreter's teardown
    # after it (slow on a loaded machine) is what the watchdog's slack is for.
    assert running.logged("operator stopped")[0]["seconds_left"] > 0
    assert took <= GRACE + WATCHDOG_SLACK, f"shutdown took {took:.1f}s"
    summary = verify_ledger(state / "ledger.jsonl", require_seal=True)
    assert summary.sealed
    assert running.logged("ledger sealed")


@pytest.fixture
def stop_at_teardown() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        running.kill()


def test_shadow_run_end_to_end(
    tmp_path: Path,
    cluster: FakeKubeApi,
    kubeconfig: Path,
    prometheus: PrometheusServer,
    stop_at_teardown: list[Running],
) -> None:
    """One process, its whole life (one start keeps the tier fast): probes, metrics, the
    start Event, a bad then a good policy edit through a ConfigMap swap, SIGTERM, the seal,
    and not one write in shadow mode."""
    volume = ConfigMapVolume(tmp_path / "policy")
    volume.root.mkdir()
    volume.publish({"policy.yaml": GOOD_POLICY})
    running = _start(
        tmp_path, kubeconfig, prometheus, "--policy", str(volume.root / "policy.yaml"),
        AIOPS_OPERATOR__RELOAD_EVERY="0s",
    )  # fmt: skip
    stop_at_teardown.append(running)

    # -- started and serving ----------------------------------------------------------
    ready = _ready(running)
    assert ready["synced"] is True and ready["leader"] is True and ready["mode"] == "shadow"
    assert running.get("/healthz") == (200, '{"status":"ok"}')
    status, metrics = running.get("/metrics")
    assert status == 200
    assert sample(metrics, "aiops_mode", mode="shadow") == 1.0
    assert sample(metrics, "aiops_mode", mode="auto") == 0.0
    assert sample(metrics, "aiops_leader") == 1.0
    assert (sample(metrics, "aiops_tick_duration_seconds_count") or 0) >= 1
    assert (sample(metrics, "aiops_outbound_requests_total", dependency="prometheus",
                   status="200") or 0) > 0  # fmt: skip
    assert (sample(metrics, "aiops_outbound_requests_total", dependency="kubernetes",
                   status="200") or 0) > 0  # fmt: skip
    assert sample(metrics, "aiops_observer_ok", source="kubernetes") == 1.0
    assert sample(metrics, "aiops_planning_queue_depth") is not None
    assert running.get("/v1/traces")[0] == 405  # the OTLP receiver, same port (POST only)
    assert running.post("/v1/traces", b"{}", "application/json") == 200  # an empty export

    def traces_fresh() -> bool:
        return sample(running.get("/metrics")[1], "aiops_observer_ok", source="traces") == 1.0

    assert wait_for(traces_fresh, 5.0)  # the export reached the loop's trace source
    assert running.get("/slack/events")[0] == 404  # the slot, not configured yet

    assert wait_for(lambda: len(events_posted(cluster, "OperatorStarted")) == 1, 5.0)
    started = events_posted(cluster, "OperatorStarted")
    event = started[0]
    assert event.path == f"/api/v1/namespaces/{EVENTS_NAMESPACE}/events"
    assert "shadow mode" in event.body["message"] and event.body["type"] == "Normal"
    assert running.logged("operator started")[0]["mode"] == "shadow"

    # -- a bad edit keeps the last good policy ----------------------------------------
    volume.publish({"policy.yaml": GOOD_POLICY.replace("mode: enforce", "mode: sometimes")})

    def failures() -> float:
        metrics = running.get("/metrics")[1]
        return sample(metrics, "aiops_config_reload_failures_total", kind="policy") or 0.0

    assert wait_for(lambda: failures() == 1.0, 10.0), running.stderr()
    assert wait_for(lambda: len(events_posted(cluster, "ConfigReloadFailed")) == 1, 5.0)
    warning = events_posted(cluster, "ConfigReloadFailed")[0].body
    assert warning["type"] == "Warning" and "last good version kept" in warning["message"]
    assert running.logged("config reload failed, last good version kept")
    assert running.get("/readyz")[0] == 200  # still running, on the last good policy

    volume.publish({"policy.yaml": GOOD_POLICY.replace("name: default", "name: edited")})

    def reloads() -> float:
        return sample(running.get("/metrics")[1], "aiops_config_reloads_total", kind="policy") or 0

    assert wait_for(lambda: reloads() == 1.0, 10.0), running.stderr()
    assert failures() == 1.0

    # -- SIGTERM: clean exit within the grace period, the ledger sealed ----------------
    _stop_cleanly(running, tmp_path / "state")
    assert writes_other_than_events(cluster) == []  # shadow: not a PATCH, not a dry run
    entries = read_entries(tmp_path / "state" / "ledger.jsonl")
    assert entries[-1].type is EntryType.SEAL
    assert events_posted(cluster, "OperatorStopped")

    # -- the recording's error burn was detected, decided on and written for replay ----
    detected = {e.incident_id for e in entries if e.type is EntryType.DETECTION}
    assert "shop" in {i.split(".")[0] for i in detected if i}
    proposed = events_posted(cluster, "Proposed")
    assert {r.body["involvedObject"]["namespace"] for r in proposed} <= {"shop", "pay"}
    assert proposed and all(r.body["involvedObject"]["kind"] == "Deployment" for r in proposed)
    files = sorted((tmp_path / "state" / "incidents").glob("*.json"))
    assert len(files) == len(detected)  # still open at shutdown: written then
    recorded = load_incident(files[0])
    assert recorded.series and recorded.metadata.source == "aiops-run"


def test_a_bad_policy_at_start_up_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Refused before anything starts (no cluster, no Prometheus is even asked)."""
    bad = tmp_path / "policy.yaml"
    bad.write_text("kind: Nope\n", encoding="utf-8")
    done = CliRunner().invoke(
        app, ["run", "--policy", str(bad), "--port", "0", "--state-dir", str(tmp_path / "s"),
              "--prometheus", "http://127.0.0.1:9"],
    )  # fmt: skip
    assert done.exit_code == 2, done.output
    assert "policy.yaml" in done.output and "Traceback" not in done.output
    assert not (tmp_path / "s").exists()
