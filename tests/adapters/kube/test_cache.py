"""WatchCache against the loopback fake API server, through the real kubernetes client."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from controller.kube.resources import SPECS, Kind
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi
from tests.adapters.kube import manifests
from tests.adapters.kube.conftest import CacheFactory, wait_until

CORE_WATCHED = sorted(CORE_PLURALS)


def names(cache_list: tuple[dict[str, object], ...]) -> list[str]:
    return [str(obj["metadata"]["name"]) for obj in cache_list]  # type: ignore[index]


def rewatched(api: FakeKubeApi, before: dict[str, int]) -> Callable[[], bool]:
    """A predicate: every kind has started a new watch since ``before`` was counted."""
    return lambda: all(api.established(plural) > count for plural, count in before.items())


def seed(api: FakeKubeApi) -> None:
    api.put("namespaces", manifests.namespace(team="payments"))
    api.put("deployments", manifests.deployment())
    for rs in manifests.replicasets():
        api.put("replicasets", rs)
    api.put("pods", manifests.crashing_pod())
    api.put("horizontalpodautoscalers", manifests.hpa())


def test_initial_list_fills_the_cache_and_syncs(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    cache, _ = make_cache()
    assert not cache.synced()
    assert set(cache.unsynced()) == {spec.kind.value for spec in SPECS}

    cache.start()

    assert cache.wait_synced(5), cache.unsynced()
    assert names(cache.list(Kind.DEPLOYMENTS)) == ["checkout"]
    assert len(cache.list(Kind.REPLICASETS, "shop")) == 4
    assert cache.get(Kind.NAMESPACES, None, "shop") is not None
    assert cache.list(Kind.SCALEDOBJECTS) == ()  # CRD not served: absent, still synced
    statuses = {s.label: s.phase.value for s in cache.statuses()}
    assert statuses["scaledobjects"] == "not installed"
    assert statuses["deployments"] == "synced"
    for plural in CORE_WATCHED:
        assert fake_api.count(plural, watch=False) == 1
        assert fake_api.requests_for(plural, watch=False)[0].path.startswith(("/api/", "/apis/"))


def test_watch_events_update_the_cache(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    cache, _ = make_cache()
    cache.start()
    assert cache.wait_synced(5)

    added = manifests.deployment()
    added["metadata"] |= {"name": "search", "uid": "search-uid"}
    fake_api.put("deployments", added)
    assert wait_until(lambda: cache.get(Kind.DEPLOYMENTS, "shop", "search") is not None)

    fake_api.put("deployments", manifests.deployment(spec__replicas=9))

    def replicas() -> object:
        obj = cache.get(Kind.DEPLOYMENTS, "shop", "checkout") or {}
        return obj.get("spec", {}).get("replicas")

    assert wait_until(lambda: replicas() == 9)

    fake_api.delete("deployments", "shop", "search")
    assert wait_until(lambda: cache.get(Kind.DEPLOYMENTS, "shop", "search") is None)
    assert names(cache.list(Kind.DEPLOYMENTS)) == ["checkout"]
    assert fake_api.count("deployments", watch=False) == 1  # all of it via the watch


def test_watch_request_carries_list_version_and_bookmarks(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    listed_at = fake_api.current_rv()
    cache, _ = make_cache(watch_timeout=timedelta(seconds=42))
    cache.start()
    assert cache.wait_synced(5)
    assert wait_until(lambda: fake_api.count("deployments", watch=True) >= 1)

    watch = fake_api.requests_for("deployments", watch=True)[0]
    assert watch.params["resourceVersion"] == listed_at
    assert watch.params["allowWatchBookmarks"] == "true"
    assert watch.params["timeoutSeconds"] == "42"


def test_dropped_stream_rewatches_from_last_version_without_relist(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    cache, _ = make_cache()
    cache.start()
    assert cache.wait_synced(5)
    last = fake_api.put("deployments", manifests.deployment(spec__replicas=6))
    last_version = last["metadata"]["resourceVersion"]
    assert wait_until(
        lambda: (
            (cache.get(Kind.DEPLOYMENTS, "shop", "checkout") or {}).get("metadata", {})
            == last["metadata"]
        )
    )
    watches = fake_api.count("deployments", watch=True)

    fake_api.drop_watches()

    assert wait_until(lambda: fake_api.count("deployments", watch=True) > watches)
    again = fake_api.requests_for("deployments", watch=True)[watches]
    assert again.params["resourceVersion"] == last_version
    assert fake_api.count("deployments", watch=False) == 1
    assert cache.synced()
    fake_api.put("deployments", manifests.deployment(spec__replicas=7))
    assert wait_until(
        lambda: (cache.get(Kind.DEPLOYMENTS, "shop", "checkout") or {})["spec"]["replicas"] == 7
    )


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "http-410"])
def test_gone_forces_relist_and_unsyncs_until_done(
    fake_api: FakeKubeApi, make_cache: CacheFactory, as_status: bool
):
    seed(fake_api)
    extra = manifests.deployment()
    extra["metadata"] |= {"name": "search", "uid": "search-uid"}
    fake_api.put("deployments", extra)
    cache, _ = make_cache()
    cache.start()
    assert cache.wait_synced(5)
    fake_api.watch_gone_as_status = as_status
    fake_api.hold_lists()

    fake_api.expire()
    if as_status:
        fake_api.drop_watches()  # the HTTP 410 comes on the next watch request

    assert wait_until(lambda: "deployments" in cache.unsynced())
    assert "410" in cache.unsynced()["deployments"]
    assert not cache.synced()
    # The world moves on while the re-list is pending: changes the old watch never saw.
    fake_api.delete("deployments", "shop", "search")
    fake_api.put("deployments", manifests.deployment(spec__replicas=5))
    assert not cache.synced()

    fake_api.release_lists()

    assert cache.wait_synced(5), cache.unsynced()
    assert names(cache.list(Kind.DEPLOYMENTS)) == ["checkout"]
    assert cache.get(Kind.DEPLOYMENTS, "shop", "checkout")["spec"]["replicas"] == 5  # type: ignore[index]
    assert fake_api.count("deployments", watch=False) == 2


@pytest.mark.parametrize(
    ("mode", "retry_after"), [("unavailable", "1"), ("reset", None)], ids=["503", "reset"]
)
def test_api_unavailable_at_start_then_recovers(
    fake_api: FakeKubeApi, make_cache: CacheFactory, mode: str, retry_after: str | None
):
    seed(fake_api)
    fake_api.mode, fake_api.retry_after = mode, retry_after
    cache, _ = make_cache()
    cache.start()

    assert wait_until(lambda: fake_api.count("deployments", watch=False) >= 2)
    assert not cache.synced()
    reason = cache.unsynced()["deployments"]
    assert reason.startswith("initial list pending: list failed")
    assert cache.last_success() is None
    if retry_after is not None:  # every wait honours Retry-After
        first, second = fake_api.requests_for("deployments", watch=False)[:2]
        assert second.at - first.at >= 0.95

    fake_api.mode = "ok"

    assert cache.wait_synced(5), cache.unsynced()
    assert names(cache.list(Kind.DEPLOYMENTS)) == ["checkout"]
    assert cache.last_success() is not None


def test_thread_and_connection_count_stay_flat_across_reconnects(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    cache, _ = make_cache()
    cache.start()
    assert cache.wait_synced(5)
    assert wait_until(lambda: fake_api.open_watches == len(CORE_WATCHED))
    reflectors = cache.thread_count
    baseline = threading.active_count()
    assert reflectors == len(SPECS)

    for _ in range(20):
        reconnected = rewatched(fake_api, {p: fake_api.established(p) for p in CORE_WATCHED})
        fake_api.drop_watches()
        assert wait_until(reconnected)

    assert wait_until(lambda: fake_api.open_watches == len(CORE_WATCHED))
    assert wait_until(lambda: threading.active_count() <= baseline)
    assert cache.thread_count == reflectors
    assert cache.synced()
    for plural in CORE_WATCHED:
        assert fake_api.count(plural, watch=False) == 1  # 20 drops, not one re-list


def test_repeated_watch_failures_unsync_then_relist(
    fake_api: FakeKubeApi, make_cache: CacheFactory
):
    seed(fake_api)
    cache, _ = make_cache(max_failures=2)
    cache.start()
    assert cache.wait_synced(5)

    fake_api.mode = "unavailable"
    fake_api.drop_watches()

    assert wait_until(lambda: "deployments" in cache.unsynced())
    assert (
        "watch failed" in cache.unsynced()["deployments"]
        or "list failed" in (cache.unsynced()["deployments"])
    )
    fake_api.mode = "ok"
    assert cache.wait_synced(5)
    assert fake_api.count("deployments", watch=False) >= 2


def test_forbidden_kind_is_reported_unsynced(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    fake_api.forbidden = {"pods"}
    cache, _ = make_cache()
    cache.start()

    assert wait_until(lambda: fake_api.count("pods", watch=False) >= 1)

    def only_pods_blind_by_403() -> bool:
        # Other kinds sync at their own pace and the 403 reaches the reason a moment after
        # the request is recorded: wait for the settled state, not for one half of it.
        unsynced = cache.unsynced()
        return set(unsynced) == {"pods"} and "HTTP 403" in unsynced["pods"]

    assert wait_until(only_pods_blind_by_403), cache.unsynced()
    assert not cache.synced()


def test_optional_crd_is_watched_when_served(make_cache: CacheFactory, fake_api: FakeKubeApi):
    fake_api.served.add("scaledobjects")
    fake_api.put("scaledobjects", manifests.scaled_object())
    cache, _ = make_cache()
    cache.start()

    assert cache.wait_synced(5)
    assert names(cache.list(Kind.SCALEDOBJECTS)) == ["worker-scaler"]
    assert fake_api.requests_for("scaledobjects", watch=False)[0].path == (
        "/apis/keda.sh/v1alpha1/scaledobjects"
    )


def test_namespace_allow_list_scopes_every_request(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    elsewhere = manifests.deployment()
    elsewhere["metadata"] |= {"namespace": "other", "uid": "other-uid"}
    fake_api.put("deployments", elsewhere)
    fake_api.put("namespaces", manifests.namespace("other"))
    cache, _ = make_cache(namespaces=("shop",))
    cache.start()

    assert cache.wait_synced(5)
    assert [d["metadata"]["namespace"] for d in cache.list(Kind.DEPLOYMENTS)] == ["shop"]
    assert names(cache.list(Kind.NAMESPACES)) == ["shop"]
    assert fake_api.requests_for("deployments", watch=False)[0].path == (
        "/apis/apps/v1/namespaces/shop/deployments"
    )
    ns_list = fake_api.requests_for("namespaces", watch=False)[0]
    assert ns_list.params["fieldSelector"] == "metadata.name=shop"
    assert set(cache.unsynced()) == set()
    assert {s.label for s in cache.statuses()} >= {"deployments/shop", "namespaces/shop"}


def test_periodic_resync_relists_and_stays_synced(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    cache, _ = make_cache(resync=timedelta(seconds=1))
    cache.start()
    assert cache.wait_synced(5)
    # A change the watch never delivers: only the periodic re-list can bring it in.
    fake_api.put("deployments", manifests.deployment(spec__replicas=8), notify=False)

    assert wait_until(lambda: fake_api.count("deployments", watch=False) >= 2, timeout=4)
    assert wait_until(
        lambda: (cache.get(Kind.DEPLOYMENTS, "shop", "checkout") or {})["spec"]["replicas"] == 8
    )
    assert cache.synced()
    watch = fake_api.requests_for("deployments", watch=True)[0]
    assert int(watch.params["timeoutSeconds"]) <= 1  # the watch ends in time for the resync


def test_a_reflector_survives_a_malformed_response(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    fake_api.list_override = {"kind": "DeploymentList", "metadata": "corrupt", "items": []}
    cache, _ = make_cache()
    cache.start()

    assert wait_until(lambda: fake_api.count("deployments", watch=False) >= 2)
    assert "unexpected AttributeError" in cache.unsynced()["deployments"]
    assert cache.thread_count == len(SPECS)  # the loop caught it and carries on

    fake_api.list_override = None
    assert cache.wait_synced(5), cache.unsynced()


def test_stop_joins_threads_promptly(fake_api: FakeKubeApi, make_cache: CacheFactory):
    seed(fake_api)
    cache, _ = make_cache()
    cache.start()
    assert cache.wait_synced(5)
    assert wait_until(lambda: fake_api.open_watches == len(CORE_WATCHED))

    assert cache.stop(timeout=3)
    assert cache.thread_count == 0
    assert wait_until(lambda: fake_api.open_watches == 0)


def test_lists_are_paginated_into_one_snapshot(
    fake_api: FakeKubeApi, make_cache: CacheFactory, monkeypatch: pytest.MonkeyPatch
):
    from controller.kube import reflector

    monkeypatch.setattr(reflector, "LIST_PAGE_SIZE", 2)
    for n in range(5):
        pod = manifests.crashing_pod()
        pod["metadata"]["name"] = f"checkout-pod-{n}"
        fake_api.put("pods", pod)
    cache, _ = make_cache()
    cache.start()
    assert cache.wait_synced(5), cache.unsynced()
    assert len(cache.list(Kind.PODS, "shop")) == 5
    pages = fake_api.requests_for("pods", watch=False)
    assert [r.params.get("limit") for r in pages] == ["2", "2", "2"]
    assert "continue" not in pages[0].params and all("continue" in r.params for r in pages[1:])
    assert wait_until(lambda: len(fake_api.requests_for("pods", watch=True)) >= 1)
    watch = fake_api.requests_for("pods", watch=True)
    assert watch[0].params["resourceVersion"] == fake_api.current_rv()  # the snapshot's
