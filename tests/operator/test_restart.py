"""A restart on the same state folder: the ledger is resumed (verified, one more segment),
the state store and checkpoints reopen. In process (``Operator.run`` on a thread, stopped by
its event) against the Kubernetes API fake and the real Prometheus."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from controller.bundled import default_policy, default_runbooks
from controller.ledger import verify_ledger
from controller.operator.modes import OperatorMode
from controller.operator.root import Operator, RunOptions
from controller.settings import Settings
from controller.sim.kube_api import FakeKubeApi
from tests.adapters.prometheus.servers import PrometheusServer
from tests.operator.process import wait_for


def _settings(state: Path, prometheus: PrometheusServer) -> Settings:
    base = Settings()
    return base.model_copy(
        update={
            "operator": base.operator.model_copy(
                update={
                    "state_dir": state,
                    "port": 0,
                    "tick_interval": timedelta(seconds=1),
                    "grace_period": timedelta(seconds=5),
                }
            ),
            "prometheus": base.prometheus.model_copy(update={"url": prometheus.url}),
            "kube": base.kube.model_copy(update={"qps": 500.0}),
            "llm": base.llm.model_copy(update={"enabled": False}),
        }
    )


def _run_once(state: Path, cluster: FakeKubeApi, prometheus: PrometheusServer) -> int:
    options = RunOptions(
        mode=OperatorMode.SHADOW, settings=_settings(state, prometheus), policy=default_policy(),
        runbooks=default_runbooks(), kube_host=cluster.url, instance="test-0",
    )  # fmt: skip
    operator = Operator(options)
    stop = threading.Event()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(operator.run(stop)), daemon=True)
    thread.start()
    assert wait_for(lambda: operator.tick_age() is not None, 20.0), "no tick"
    stop.set()
    thread.join(10.0)
    assert not thread.is_alive() and codes == [0]
    return len(operator.journal.open_records())


def test_a_restart_resumes_the_ledger_in_a_new_segment(
    tmp_path: Path, cluster: FakeKubeApi, prometheus: PrometheusServer
) -> None:
    state = tmp_path / "state"
    _run_once(state, cluster, prometheus)
    first = verify_ledger(state / "ledger.jsonl")
    _run_once(state, cluster, prometheus)
    second = verify_ledger(state / "ledger.jsonl")
    assert (first.segments, second.segments) == (1, 2)
    assert second.recoveries == 0 and second.entries > first.entries
    assert (state / "state.sqlite").exists() and (state / "checkpoints.sqlite").exists()
