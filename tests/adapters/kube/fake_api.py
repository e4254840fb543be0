"""The loopback fake Kubernetes API now lives in the package (``controller.sim.kube_api``)
so that chaos scenarios and ``aiops demo`` can use it too; this module keeps older imports
(``tests.adapters.kube.fake_api``) working."""

from __future__ import annotations

from controller.sim.kube_api import CORE_PLURALS, RESOURCES, FakeKubeApi, RecordedRequest

__all__ = ["CORE_PLURALS", "RESOURCES", "FakeKubeApi", "RecordedRequest"]
