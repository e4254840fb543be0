"""``aiops run`` as a subprocess against the simulated cluster: the loop closes for real.

Each test starts a ``SimulatedStack`` (the Kubernetes API fake with its deployment
controller, the simulator, a real Prometheus scraping it, OTLP traces into the operator's
own receiver), then ``python -m controller run`` against it, and waits, bounded, for what
the operator must do. The ground truth is outside the operator: the fake's request log
(what was sent to the API server), the simulator's model (what the workload now does) and
the sealed ledger. Timings: tests/e2e/helpers.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from controller.models.ledger import EntryType
from controller.sim.kube_api import FakeKubeApi
from tests.e2e.helpers import Rig, of_type, rig, set_kill_switch, wait_until, writes

ACT_WITHIN = 60.0
"""Seconds from the operator's start to its action (fault at 15 s, detection, planning)."""
VERIFY_WITHIN = 60.0
"""Seconds from the action to its verification (the runbook bakes 30 s)."""
CHECKOUT = "/apis/apps/v1/namespaces/shop/deployments/checkout"


def _payload(entry: Any) -> dict[str, Any]:
    payload = entry.payload
    return payload if isinstance(payload, dict) else dict(payload.model_dump(mode="json"))


def _real_writes(r: Rig, path: str) -> list[str]:
    return [q.method for q in writes(r.api) if q.path == path and q.params.get("dryRun") != "All"]


def test_auto_rolls_back_a_bad_deploy_and_verifies_it(tmp_path: Path) -> None:
    with rig(tmp_path, "bad-deploy", "auto") as r:
        assert wait_until(lambda: bool(of_type(r.state, EntryType.ACTION)), ACT_WITHIN), (
            r.describe()
        )
        action = of_type(r.state, EntryType.ACTION)[0]
        assert _payload(action)["action"]["kind"] == "rollback", r.describe()
        assert "PATCH" in _real_writes(r, CHECKOUT), r.describe()
        stored = r.api.get("deployments", "shop", "checkout")
        assert stored is not None
        image = stored["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "registry.example.com/shop/checkout:1.4.2"  # the revision before
        assert wait_until(
            lambda: r.stack.runner.cluster.rates("shop/checkout").error_ratio < 0.01, 20.0
        ), r.describe()
        assert wait_until(lambda: bool(of_type(r.state, EntryType.VERIFICATION)), VERIFY_WITHIN), (
            r.describe()
        )
        verification = of_type(r.state, EntryType.VERIFICATION)[0]
        assert verification.incident_id == action.incident_id
        assert _payload(verification)["phase"] == "improved", r.describe()


PAYMENTS_HPA = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/payments"
PAYMENTS = "/apis/apps/v1/namespaces/shop/deployments/payments"


def test_surge_on_an_hpa_workload_moves_the_hpa_never_the_replicas(tmp_path: Path) -> None:
    with rig(tmp_path, "traffic-surge", "auto") as r:
        before = r.api.get("horizontalpodautoscalers", "shop", "payments")
        assert before is not None
        assert wait_until(lambda: bool(_real_writes(r, PAYMENTS_HPA)), ACT_WITHIN), r.describe()
        action = of_type(r.state, EntryType.ACTION)[0]
        assert _payload(action)["action"]["kind"] == "adjust_hpa", r.describe()
        after = r.api.get("horizontalpodautoscalers", "shop", "payments")
        assert after is not None
        assert after["spec"]["maxReplicas"] > before["spec"]["maxReplicas"], r.describe()
        # The operator never wrote the Deployment (neither the object nor its /scale): the
        # HPA controller of the simulator owns spec.replicas and is the only one to move it.
        assert [q for q in writes(r.api) if q.path.startswith(PAYMENTS)] == [], r.describe()
        assert "aiops-controller" not in _managers(r.api, "deployments", "payments")
        assert "aiops-controller" in _managers(r.api, "horizontalpodautoscalers", "payments")


def _managers(api: FakeKubeApi, plural: str, name: str) -> set[str]:
    """The field managers recorded on an object (who wrote which fields)."""
    stored = api.get(plural, "shop", name) or {}
    return {str(m.get("manager")) for m in stored.get("metadata", {}).get("managedFields", [])}


def _decided(r: Rig, kind: str) -> bool:
    """A decision was recorded on a ``kind`` proposal for shop/checkout."""
    proposals = {
        e.plan_hash
        for e in of_type(r.state, EntryType.PROPOSAL)
        if e.incident_id
        and e.incident_id.startswith("shop.checkout")
        and _payload(e)["action"]["kind"] == kind
    }
    return any(e.plan_hash in proposals for e in of_type(r.state, EntryType.DECISION))


SETTLE = 5.0
"""Seconds after the decision in which a write would have been sent (ticks are 1 s)."""


def test_shadow_mode_writes_nothing_against_the_same_fault(tmp_path: Path) -> None:
    with rig(tmp_path, "bad-deploy", "shadow") as r:
        assert wait_until(lambda: _decided(r, "rollback"), ACT_WITHIN), r.describe()
        time.sleep(SETTLE)
        assert writes(r.api) == [], r.describe()  # not even a dry run
        status, body = r.operator.get("/readyz")
        assert json.loads(body)["mode"] == "shadow"
        assert r.stack.runner.cluster.rates("shop/checkout").error_ratio > 0.1  # still broken


def test_engaged_kill_switch_stops_every_write_and_freezes(tmp_path: Path) -> None:
    def engage(api: FakeKubeApi) -> None:
        set_kill_switch(api, engaged=True)

    with rig(tmp_path, "bad-deploy", "auto", before=engage) as r:
        assert wait_until(
            lambda: any(_payload(e)["mode"] == "frozen" for e in of_type(r.state, EntryType.MODE)),
            20.0,
        ), r.describe()
        assert wait_until(
            lambda: any(
                (e.incident_id or "").startswith("shop.checkout")
                for e in of_type(r.state, EntryType.DETECTION)
            ),
            ACT_WITHIN,
        ), r.describe()
        time.sleep(SETTLE)
        assert writes(r.api) == [], r.describe()
        assert of_type(r.state, EntryType.ACTION) == [], r.describe()
        assert r.stack.runner.cluster.rates("shop/checkout").error_ratio > 0.1
