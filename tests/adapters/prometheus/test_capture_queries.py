"""What ``aiops capture`` asks of Prometheus: discovery, and range fetches that raise.

Unlike a tick, capture must fail loudly: a malformed answer raises PermanentError naming the
query and the range, as a failed request does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from controller.errors import PermanentError
from controller.models.workloads import WorkloadRef
from tests.adapters.prometheus.fakes import FaultServer, answer, success
from tests.adapters.prometheus.helpers import observer
from tests.adapters.prometheus.recording import WATCHED, Recording
from tests.adapters.prometheus.servers import PrometheusServer


def test_discover_names_the_workloads_of_a_namespace(
    prometheus: PrometheusServer, recording: Recording, now: datetime
) -> None:
    found = observer(prometheus.url).discover(["shop"], now - timedelta(hours=1), now)
    assert found == (
        WorkloadRef(namespace="shop", name="admin"),
        WorkloadRef(namespace="shop", name="cart"),
        WorkloadRef(namespace="shop", name="web"),
    )
    with pytest.raises(ValueError, match="empty selector"):
        observer(prometheus.url).discover([], now - timedelta(hours=1), now)


def test_a_malformed_range_answer_fails_the_capture_naming_the_query(now: datetime) -> None:
    broken = [{"metric": {"namespace": "shop", "workload": "web"}, "values": "oops"}]
    with FaultServer(answer(200, success(broken))) as server:
        metrics = observer(server.url)
        with pytest.raises(PermanentError) as caught:
            metrics.fetch_range(
                [WATCHED[0].ref], now - timedelta(minutes=5), now, timedelta(seconds=30)
            )
    message = str(caught.value)
    assert message.startswith("query sum by (namespace, workload)")
    assert "data.result[0].values is a string, not an array" in message
