"""Client construction: token bucket, kubeconfig / in-cluster loading, no hidden retries."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import CoreV1Api

from controller.errors import ConfigError
from controller.kube.client import (
    RateLimitedApiClient,
    Timeouts,
    TokenBucket,
    build_api_client,
    build_configuration,
)
from controller.kube.errors import KubeTemporaryError, translated
from controller.settings import KubeSettings
from controller.sim.kube_api import FakeKubeApi
from tests.adapters.kube import manifests


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_token_bucket_allows_a_burst_then_spaces_requests():
    clock = FakeTime()
    bucket = TokenBucket(2.0, 2, monotonic=clock.monotonic, sleep=clock.sleep)

    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.5, 1.0]
    clock.now += 1.5  # refills 3 tokens, which pays the 2 borrowed: one left
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == 0.5
    assert bucket.taken == 6


def test_token_bucket_never_saves_more_than_its_burst():
    clock = FakeTime()
    bucket = TokenBucket(5.0, monotonic=clock.monotonic, sleep=clock.sleep)
    assert bucket.burst == 10  # default: two seconds' worth
    clock.now += 3600
    waits = [bucket.reserve() for _ in range(11)]
    assert waits[:10] == [0.0] * 10
    assert waits[10] == pytest.approx(0.2)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, None), (-1.0, None), (1.0, 0)])
def test_token_bucket_rejects_nonsense(rate, burst):
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_every_request_waits_for_a_token(fake_api: FakeKubeApi):
    clock = FakeTime()
    bucket = TokenBucket(1.0, 1, monotonic=clock.monotonic, sleep=clock.sleep)
    configuration = build_configuration(KubeSettings(), host=fake_api.url)
    with RateLimitedApiClient(configuration, bucket) as client:
        core = CoreV1Api(client)
        for _ in range(3):
            response: Any = core.list_namespace(_preload_content=False)
            assert json.loads(response.data)["kind"] == "NamespaceList"
            response.release_conn()

    assert clock.slept == [1.0, 2.0]  # frozen clock: the 2nd and 3rd wait their turn
    assert bucket.taken == 3
    assert fake_api.count("namespaces", watch=False) == 3


def test_no_hidden_retries(fake_api: FakeKubeApi):
    fake_api.mode = "reset"
    with build_api_client(KubeSettings(), host=fake_api.url) as client:
        with pytest.raises(KubeTemporaryError), translated("list namespaces"):
            CoreV1Api(client).list_namespace(_preload_content=False, _request_timeout=(2, 2))
    assert fake_api.count("namespaces", watch=False) == 1  # urllib3 did not retry behind us


def _kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "loopback", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
        "contexts": [
            {"name": "fake", "context": {"cluster": "loopback", "user": "tester"}},
            {"name": "broken", "context": {"cluster": "missing", "user": "tester"}},
        ],
        "current-context": "broken",
    }
    target = path / "kubeconfig"
    target.write_text(json.dumps(config), encoding="utf-8")
    return target


def test_kubeconfig_and_context_reach_the_cluster(tmp_path: Path, fake_api: FakeKubeApi):
    fake_api.put("namespaces", manifests.namespace())
    settings = KubeSettings(kubeconfig=str(_kubeconfig(tmp_path, fake_api.url)), context="fake")

    with build_api_client(settings) as client:
        response: Any = CoreV1Api(client).list_namespace(_preload_content=False)
        body = json.loads(response.data)
        response.release_conn()

    assert [item["metadata"]["name"] for item in body["items"]] == ["shop"]
    assert client.configuration.retries is False


@pytest.mark.parametrize(
    ("context", "file_exists", "location"),
    [("broken", True, "context broken"), ("absent", True, "context absent"), (None, False, "")],
)
def test_bad_kubeconfig_is_a_config_error(
    tmp_path: Path, fake_api: FakeKubeApi, context, file_exists, location
):
    path = _kubeconfig(tmp_path, fake_api.url) if file_exists else tmp_path / "nope"
    with pytest.raises(ConfigError) as caught:
        build_configuration(KubeSettings(kubeconfig=str(path), context=context))
    assert caught.value.source == str(path)
    assert caught.value.location == location
    assert "cannot load kubeconfig" in caught.value.reason


def test_in_cluster_outside_a_cluster_is_a_config_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    with pytest.raises(ConfigError) as caught:
        build_configuration(KubeSettings())
    assert caught.value.source == "in-cluster service account"
    assert "kube.kubeconfig" in caught.value.reason


def test_timeouts_follow_settings():
    timeouts = Timeouts.from_settings(KubeSettings(request_timeout=timedelta(seconds=4)))
    assert timeouts.request() == (4.0, 4.0)
    assert timeouts.watch(300) == (4.0, 304.0)
