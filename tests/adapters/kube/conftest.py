"""Fixtures: a loopback fake API server, and caches that talk to it through the real client."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from controller.kube.cache import WatchCache
from controller.kube.client import RateLimitedApiClient, build_api_client
from controller.kube.reflector import Backoff
from controller.settings import KubeSettings
from controller.sim.kube_api import FakeKubeApi
from tests.adapters.kube.remediation_rig import crd_api, rig  # noqa: F401  (fixtures)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` every 10 ms for at most ``timeout`` seconds; return its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(0.01)
    return True


def fast_settings(**overrides: Any) -> KubeSettings:
    """Settings for loopback tests: no throttling to speak of, short timeouts."""
    values: dict[str, Any] = {
        "qps": 1000.0,
        "request_timeout": timedelta(seconds=3),
        "watch_timeout": timedelta(seconds=30),
        "resync": timedelta(minutes=10),
    }
    values.update(overrides)
    return KubeSettings(**values)


@pytest.fixture
def fake_api() -> Iterator[FakeKubeApi]:
    """A running fake API server; stopped after the test."""
    api = FakeKubeApi().start()
    yield api
    api.stop()
    assert api.internal_errors == [], "the fake itself failed while serving"


CacheFactory = Callable[..., tuple[WatchCache, RateLimitedApiClient]]


@pytest.fixture
def make_cache(fake_api: FakeKubeApi) -> Iterator[CacheFactory]:
    """Build (and later stop) caches wired to ``fake_api`` with a tiny, seeded backoff."""
    made: list[tuple[WatchCache, RateLimitedApiClient]] = []

    def factory(**overrides: Any) -> tuple[WatchCache, RateLimitedApiClient]:
        max_failures = overrides.pop("max_failures", 3)
        settings = fast_settings(**overrides)
        client = build_api_client(settings, host=fake_api.url)
        cache = WatchCache(
            client,
            settings,
            backoff=Backoff(initial=0.01, maximum=0.05, rng=random.Random(7)),
            max_failures=max_failures,
        )
        made.append((cache, client))
        return cache, client

    yield factory
    fake_api.release_lists()  # a failed test may have left lists held at the gate
    stopped = [cache.stop(timeout=5.0) for cache, _ in made]
    for _, client in made:
        client.close()
    assert all(stopped), "reflector threads did not stop"
