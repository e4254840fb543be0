"""Fixtures for the operator tests: the Kubernetes API fake and the real Prometheus.

The Prometheus fixtures are the adapter tier's (a session server over promtool-created
blocks of a known recording), imported so both tiers share one server per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from controller.sim.kube_api import FakeKubeApi
from tests.adapters.prometheus.conftest import blocks, prometheus, recording, start_server
from tests.operator.cluster import seed, write_kubeconfig

__all__ = ["blocks", "prometheus", "recording", "start_server"]


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """An in-process CLI run points structlog at its captured (then closed) stderr."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def cluster() -> Iterator[FakeKubeApi]:
    """A running fake API server with the recording's three workloads."""
    api = FakeKubeApi(max_lifetime=120.0).start()
    seed(api)
    yield api
    api.stop()
    assert api.internal_errors == [], "the fake itself failed while serving"


@pytest.fixture
def kubeconfig(tmp_path: Path, cluster: FakeKubeApi) -> Path:
    """A kubeconfig file for ``cluster``."""
    return write_kubeconfig(tmp_path / "kubeconfig.json", cluster.url)
