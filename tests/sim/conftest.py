"""Fixtures: a fake API with its deployment controller, and the real Kubernetes client on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client

from controller.sim.kube_api import FakeKubeApi


@dataclass
class Kube:
    """The official client's APIs, talking HTTP to the fake on 127.0.0.1."""

    apps: client.AppsV1Api
    autoscaling: client.AutoscalingV2Api
    core: client.CoreV1Api


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    """A running fake with the deployment controller (ReplicaSets per template revision)."""
    fake = FakeKubeApi(deployment_controller=True, max_lifetime=120).start()
    yield fake
    fake.stop()
    assert fake.internal_errors == [], "the fake itself failed while serving"


@pytest.fixture
def kube(api: FakeKubeApi) -> Iterator[Kube]:
    """The real client configured for the fake (no kubeconfig involved)."""
    config = client.Configuration()
    config.host = api.url
    with client.ApiClient(config) as api_client:
        yield Kube(
            client.AppsV1Api(api_client),
            client.AutoscalingV2Api(api_client),
            client.CoreV1Api(api_client),
        )
