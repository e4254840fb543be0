"""The observer at fleet scale against the real Prometheus (issue 10).

Thousands of watched workloads make every query's text tens of kilobytes (two regex
alternations). The queries go as POST bodies, so the request line stays short, even through
a proxy that refuses lines over 8 KiB; messages name queries instead of quoting them, so a
window's message has the same bounded size for 30 or 3,000 workloads; the store keeps an
unchanged series' data object instead of rebuilding it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from structlog.testing import capture_logs

from controller.models.signals import Health, Signal, SignalWindow
from controller.models.workloads import WorkloadRef
from tests.adapters.prometheus.fakes import LINE_LIMIT, LineLimitProxy
from tests.adapters.prometheus.helpers import observer, query_name
from tests.adapters.prometheus.recording import STEP, WATCHED, Recording
from tests.adapters.prometheus.servers import PrometheusServer, RecordingProxy

REFS = [truth.ref for truth in WATCHED]
KEYS = {ref.key for ref in REFS}


def ghosts(count: int) -> list[WorkloadRef]:
    """Workloads with no series at all, spread over the watched and other namespaces."""
    spaces = ("shop", "pay", "search", "billing", "identity")
    return [
        WorkloadRef(namespace=spaces[i % len(spaces)], name=f"ghost-{i:05d}-worker")
        for i in range(count)
    ]


def messages(windows: Mapping[str, Mapping[Signal, SignalWindow]]) -> list[str]:
    return [w.message for by in windows.values() for w in by.values()]


STOPPED = ("pay/api", Signal.REPLICAS_AVAILABLE)
"""The recording stops this gauge 20 minutes before its end."""


def assert_fleet(windows, absent: list[WorkloadRef]) -> None:
    for key in KEYS:
        healths = {s: w.health for s, w in windows[key].items() if (key, s) != STOPPED}
        assert set(healths.values()) == {Health.OK}, (key, healths)
    for ref in absent:
        assert {w.health for w in windows[ref.key].values()} == {Health.NO_DATA}


def test_a_query_for_1200_workloads_goes_as_a_post_body_and_works(
    proxy: RecordingProxy, recording: Recording, now: datetime
) -> None:
    absent = ghosts(1200)
    metrics = observer(proxy.url)
    windows = metrics.observe(REFS + absent, now)
    assert_fleet(windows, absent)
    rate = windows["shop/web"][Signal.REQUEST_RATE].latest()
    assert rate is not None and rate[1] == pytest.approx(WATCHED[0].rps)
    sent = proxy.queries()
    assert len(sent) == len(Signal) and {s.method for s in sent} == {"POST"}
    assert all("ghost-01199-worker" in s.param("query") for s in sent)
    query = sent[0].param("query")
    assert len(urlencode({"query": query})) > 3 * LINE_LIMIT  # what a GET would have sent


def test_behind_a_proxy_that_refuses_request_lines_over_8_kib_the_observer_works(
    prometheus: PrometheusServer, now: datetime
) -> None:
    absent = ghosts(1200)
    with LineLimitProxy(prometheus.port) as proxy:
        metrics = observer(proxy.url)
        first = metrics.observe(REFS + absent, now)
        later = metrics.observe(REFS + absent, now + timedelta(seconds=STEP))
    assert_fleet(first, absent)
    assert_fleet(later, absent)
    assert proxy.refused == 0 and len(proxy.lines) == 2 * len(Signal)
    assert max(proxy.lines) < 100  # "POST /api/v1/query_range HTTP/1.1"


@pytest.mark.parametrize("absent", [30, 3000])
def test_a_window_message_has_a_bounded_size_whatever_the_fleet(
    prometheus: PrometheusServer, now: datetime, absent: int
) -> None:
    refs = REFS + ghosts(absent)
    windows = observer(prometheus.url).observe(refs, now)
    texts = messages(windows)
    assert len(texts) == len(refs) * len(Signal)
    longest_key = max(len(ref.key) for ref in refs)
    assert max(map(len, texts)) <= 140 + longest_key  # name + "no series for KEY over RANGE"
    assert sum(map(len, texts)) <= 200 * len(texts)  # linear in the watched set, not square


def test_each_query_text_is_logged_once_and_named_in_messages(
    prometheus: PrometheusServer, now: datetime
) -> None:
    absent = ghosts(50)
    metrics = observer(prometheus.url)
    with capture_logs() as logs:
        first = metrics.observe(REFS + absent, now)
        metrics.observe(REFS + absent, now + timedelta(seconds=STEP))
        metrics.observe(REFS + absent[:10], now + timedelta(seconds=2 * STEP))
    sent = [entry for entry in logs if entry["event"] == "prometheus query"]
    assert len(sent) == 2 * len(Signal)  # the first set, then the changed one; never repeated
    names = [entry["query_name"] for entry in sent]
    assert len(set(names)) == len(names)
    message = first[absent[0].key][Signal.ERROR_RATIO].message
    name = query_name(message)
    assert name in names[: len(Signal)] and name.startswith("error_ratio#")
    text = metrics.query_text(name)
    assert text is not None and "ghost-00049-worker" in text and text not in message


def test_an_unchanged_series_keeps_its_data_and_a_new_step_appends(
    prometheus: PrometheusServer, now: datetime
) -> None:
    metrics = observer(prometheus.url, lookback=timedelta(hours=1))
    first = metrics.observe(REFS, now - timedelta(seconds=25))
    again = metrics.observe(REFS, now - timedelta(seconds=20))  # the same evaluation step
    later = metrics.observe(REFS, now + timedelta(seconds=5))  # the next one
    for key in KEYS:
        memory = Signal.MEMORY_SATURATION
        assert again[key][memory].data is first[key][memory].data
        old, new = first[key][memory].data, later[key][memory].data
        assert new is not old
        assert list(new.timestamps[:-1]) == list(old.timestamps[1:])  # one in, one out
        assert new.timestamps[-1] == old.timestamps[-1] + STEP
        assert list(new.values[:-1]) == list(old.values[1:])
