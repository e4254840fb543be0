"""``aiops capture`` against the real Prometheus produces a file ``aiops replay`` scores."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from controller.incident_loader import load_incident
from tests.adapters.prometheus.servers import PrometheusServer, free_port
from tests.capture.recorded_prometheus import override_queries, recent, serving
from tests.cli_runner import aiops
from tests.conftest import EXAMPLES, REPO


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusServer, object]]:
    incident = recent(load_incident(EXAMPLES / "memory-leak.json"), datetime.now(UTC))
    with serving(incident, tmp_path_factory.mktemp("capture")) as server:
        yield server, incident


def _capture(
    server, incident, tmp_path: Path, *extra: str | Path
) -> subprocess.CompletedProcess[str]:
    return aiops(
        "capture",
        "--prometheus",
        server.url,
        "--namespace",
        "shop",
        "--from",
        incident.window.start.isoformat(),
        "--to",
        incident.window.end.isoformat(),
        "--config",
        _settings(tmp_path),
        *extra,
        cwd=tmp_path,
    )


def _settings(tmp_path: Path) -> Path:
    config = tmp_path / "aiops.yaml"
    config.write_text(yaml.safe_dump({"prometheus": {"queries": override_queries()}}))
    return config


def test_capture_then_replay_scores(served, tmp_path: Path) -> None:
    server, incident = served
    truth = tmp_path / "truth.json"
    truth.write_text(incident.ground_truth.model_dump_json())
    policy = tmp_path / "policy.yaml"
    default = (REPO / "policies" / "default.yaml").read_text()
    policy.write_text(default.replace("allow: []", "allow: [shop]"))  # no cluster: no labels
    run = _capture(
        server,
        incident,
        tmp_path,
        "--truth",
        truth,
        "--name",
        "leak-capture",
        "-o",
        "captured.json",
    )
    assert run.returncode == 0, run.stderr
    captured = load_incident(tmp_path / "captured.json")
    assert {w.ref.key for w in captured.workloads} == {w.ref.key for w in incident.workloads}
    assert len(captured.series) == len(incident.series)
    original = {(s.workload.key, s.signal): s.to_series_data() for s in incident.series}
    for series in captured.series:
        want = original[(series.workload.key, series.signal)]
        got = series.to_series_data()
        assert got.timestamps == want.timestamps
        assert got.values == pytest.approx(want.values, rel=1e-9)
    replay = aiops(
        "replay", "captured.json", "--policy", policy, "-f", "json", "-o", "r.json", cwd=tmp_path
    )
    assert replay.returncode == 0, replay.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["score"]["passed"] is True, result["score"]
    assert [a["action"]["kind"] for a in result["actions"]] == ["restart"]


def test_unreachable_prometheus_is_one_line_exit_3(tmp_path: Path) -> None:
    run = aiops(
        "capture",
        "--prometheus",
        f"http://127.0.0.1:{free_port()}",
        "--namespace",
        "shop",
        "--from",
        "now-1h",
        "-o",
        "x.json",
        cwd=tmp_path,
    )
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stderr
    assert "backend unavailable: prometheus" in run.stderr
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--from", "yesterday"], "--from: yesterday: use RFC 3339"),
        (["--from", "now-1h", "--to", "now-2h"], "must be after --from"),
        (["--from", "now-1h", "--step", "0s"], "--step: 0s: must be at least 1s"),
        (["--from", "2026-01-01T00:00:00"], "needs a timezone"),
        (["--from", "now-1h", "--name", "Last Night!"], "--name: Last Night!: use lower-case"),
    ],
)
def test_bad_flags_are_one_line_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    run = aiops(
        "capture", "--prometheus", "http://127.0.0.1:9", "--namespace", "shop", *args, cwd=tmp_path
    )
    assert run.returncode == 2, run.stderr
    assert fragment in run.stderr and "Traceback" not in run.stderr


def test_capture_reads_inventory_labels_and_events_from_the_cluster(served, tmp_path: Path) -> None:
    """With --kubeconfig the file carries revisions, namespace labels and events from the
    cluster (a loopback API server driven by the real client), series from Prometheus."""
    from tests.adapters.kube import manifests
    from tests.adapters.kube.fake_api import FakeKubeApi

    server, incident = served
    api = FakeKubeApi().start()
    try:
        api.put("namespaces", manifests.namespace(**{"aiops.dev/remediate": "enabled"}))
        api.put("deployments", manifests.deployment())
        for replicaset in manifests.replicasets():
            api.put("replicasets", replicaset)
        for event in manifests.events():
            api.put("events", event)
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
                    "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester"}}
                    ],
                }
            )
        )
        run = _capture(server, incident, tmp_path, "--kubeconfig", kubeconfig, "-o", "cluster.json")
    finally:
        api.stop()
    assert run.returncode == 0, run.stderr
    captured = load_incident(tmp_path / "cluster.json")
    checkout = next(w for w in captured.workloads if w.ref.name == "checkout")
    assert len(checkout.revisions) >= 2 and checkout.current_revision is not None
    assert captured.namespaces[0].labels.get("aiops.dev/remediate") == "enabled"
    assert "with cluster inventory and events" in captured.metadata.description
