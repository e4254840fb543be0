"""The fake Kubernetes API, pinned to what the Kubernetes API documents.

Each test names the documented behaviour it holds the fake to (API concepts: "Resource
versions", "Dry-run", "Retrieving large results sets in chunks", "Field management"; the
Status object of ``metav1``; the scale subresource). Raw HTTP (httpx) so that status codes,
headers and bodies are checked as sent, not as a client library interprets them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from controller.errors import InputError
from controller.sim.kube_api import CORE_PLURALS, FakeKubeApi, Fault, remediation_crd
from tests.adapters.kube import manifests

APPS = "/apis/apps/v1/namespaces/shop/deployments"
DEPLOYMENT = f"{APPS}/checkout"
SCALE = f"{DEPLOYMENT}/scale"
HPA = "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/checkout"
REPLICASETS = "/apis/apps/v1/namespaces/shop/replicasets"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


@pytest.fixture
def api() -> Iterator[FakeKubeApi]:
    fake = FakeKubeApi(served=set(CORE_PLURALS) | {"scaledobjects"}).start()
    fake.put("namespaces", manifests.namespace())
    fake.put("deployments", manifests.deployment())
    for replicaset in manifests.replicasets():
        fake.put("replicasets", replicaset)
    fake.put("horizontalpodautoscalers", manifests.hpa())
    fake.put("scaledobjects", manifests.scaled_object())
    yield fake
    fake.stop()
    assert fake.internal_errors == [], "the fake itself failed while serving"


@pytest.fixture
def http(api: FakeKubeApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=5.0) as client:
        yield client


def version(api: FakeKubeApi, plural: str = "deployments", name: str = "checkout") -> str:
    found = api.get(plural, "shop", name)
    assert found is not None
    return str(found["metadata"]["resourceVersion"])


def assert_status(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    """The body is a metav1.Status failure with this code and reason."""
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert (body["status"], body["code"], body["reason"]) == ("Failure", code, reason)
    assert isinstance(body["message"], str) and body["message"]
    return body


# ----- Status objects and codes -------------------------------------------------------------


def test_a_missing_object_is_404_not_found(http: httpx.Client):
    body = assert_status(http.get(f"{APPS}/ghost"), 404, "NotFound")
    assert body["message"] == 'deployments.apps "ghost" not found'
    assert body["details"] == {"name": "ghost", "group": "apps", "kind": "deployments"}
    assert_status(http.get("/apis/apps/v1/namespaces/shop/statefulsets"), 404, "NotFound")


def test_unserved_verbs_are_405(http: httpx.Client):
    assert_status(http.post(APPS, json={}), 405, "MethodNotAllowed")
    assert_status(http.delete(DEPLOYMENT), 405, "MethodNotAllowed")


# ----- resourceVersion semantics ----------------------------------------------------------


def test_a_stale_resource_version_in_the_patch_is_409_conflict(
    api: FakeKubeApi, http: httpx.Client
):
    before = api.get("deployments", "shop", "checkout")
    patch = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 9}}
    body = assert_status(http.patch(DEPLOYMENT, json=patch, headers=MERGE), 409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on deployments.apps "checkout": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    assert body["details"] == {"name": "checkout", "group": "apps", "kind": "deployments"}
    assert api.get("deployments", "shop", "checkout") == before


def test_the_current_version_writes_and_a_new_version_is_assigned(
    api: FakeKubeApi, http: httpx.Client
):
    old = version(api)
    patch = {"metadata": {"resourceVersion": old}, "spec": {"replicas": 5}}
    answer = http.patch(DEPLOYMENT, json=patch, headers=MERGE)
    assert answer.status_code == 200
    new = answer.json()["metadata"]["resourceVersion"]
    assert int(new) > int(old) and new == version(api)
    unconditional = http.patch(DEPLOYMENT, json={"spec": {"replicas": 6}}, headers=MERGE)
    assert unconditional.status_code == 200  # no resourceVersion: last write wins


def test_a_write_that_changes_nothing_keeps_the_version(api: FakeKubeApi, http: httpx.Client):
    old = version(api)
    answer = http.patch(DEPLOYMENT, json={"spec": {"replicas": 4}}, headers=MERGE)
    assert answer.status_code == 200 and answer.json()["metadata"]["resourceVersion"] == old
    assert version(api) == old


def test_generation_moves_with_the_spec_only(api: FakeKubeApi, http: httpx.Client):
    notes = {"metadata": {"annotations": {"team": "payments"}}}
    assert http.patch(DEPLOYMENT, json=notes, headers=MERGE).json()["metadata"]["generation"] == 7
    spec = {"spec": {"paused": True}}
    assert http.patch(DEPLOYMENT, json=spec, headers=MERGE).json()["metadata"]["generation"] == 8


# ----- dry run ----------------------------------------------------------------------------


def test_dry_run_validates_and_answers_but_stores_nothing(api: FakeKubeApi, http: httpx.Client):
    before, history = api.get("deployments", "shop", "checkout"), len(api.store.history)
    answer = http.patch(
        DEPLOYMENT, params={"dryRun": "All"}, json={"spec": {"replicas": 7}}, headers=MERGE
    )
    assert answer.status_code == 200
    assert answer.json()["spec"]["replicas"] == 7
    assert api.get("deployments", "shop", "checkout") == before
    assert len(api.store.history) == history  # no watch event either
    invalid = {"spec": {"replicas": -1}}
    dry = http.patch(DEPLOYMENT, params={"dryRun": "All"}, json=invalid, headers=MERGE)
    assert_status(dry, 422, "Invalid")  # every stage runs, validation included
    stale = {"metadata": {"resourceVersion": "1"}}
    dry = http.patch(DEPLOYMENT, params={"dryRun": "All"}, json=stale, headers=MERGE)
    assert_status(dry, 409, "Conflict")
    unknown = http.patch(DEPLOYMENT, params={"dryRun": "Some"}, json={}, headers=MERGE)
    assert_status(unknown, 400, "BadRequest")


# ----- validation (422) -------------------------------------------------------------------


def test_an_invalid_object_is_422_with_field_causes(api: FakeKubeApi, http: httpx.Client):
    body = assert_status(
        http.patch(DEPLOYMENT, json={"spec": {"replicas": -1}}, headers=MERGE), 422, "Invalid"
    )
    assert body["message"] == (
        'Deployment.apps "checkout" is invalid: spec.replicas: Invalid value: -1: must be '
        "greater than or equal to 0"
    )
    assert body["details"]["kind"] == "Deployment" and body["details"]["group"] == "apps"
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: -1: must be greater than or equal to 0",
            "field": "spec.replicas",
        }
    ]
    labels = {"spec": {"template": {"metadata": {"labels": {"app": "cart"}}}}}
    mismatch = assert_status(http.patch(DEPLOYMENT, json=labels, headers=MERGE), 422, "Invalid")
    assert "`selector` does not match template `labels`" in mismatch["message"]
    assert api.get("deployments", "shop", "checkout")["spec"]["replicas"] == 4  # type: ignore[index]


def test_hpa_bounds_are_validated(http: httpx.Client):
    answer = http.patch(HPA, json={"spec": {"minReplicas": 5, "maxReplicas": 3}}, headers=MERGE)
    body = assert_status(answer, 422, "Invalid")
    assert body["message"].startswith('HorizontalPodAutoscaler.autoscaling "checkout" is invalid')
    assert "must be greater than or equal to `minReplicas`" in body["message"]
    zero = http.patch(HPA, json={"spec": {"minReplicas": 0}}, headers=MERGE)
    assert_status(zero, 422, "Invalid")
    good = http.patch(HPA, json={"spec": {"minReplicas": 3, "maxReplicas": 12}}, headers=MERGE)
    assert good.status_code == 200 and good.json()["spec"]["maxReplicas"] == 12
    assert http.get(HPA).json()["spec"]["minReplicas"] == 3


# ----- patch formats ----------------------------------------------------------------------


def test_merge_patch_follows_rfc_7386(api: FakeKubeApi, http: httpx.Client):
    patch = {
        "metadata": {"annotations": {"aiops.dev/slo-latency-p99": None}},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}},
    }
    stored = http.patch(DEPLOYMENT, json=patch, headers=MERGE).json()
    assert "aiops.dev/slo-latency-p99" not in stored["metadata"]["annotations"]  # null deletes
    assert stored["spec"]["template"]["spec"]["containers"] == [{"name": "app", "image": "app:2"}]


def test_strategic_merge_patch_merges_lists_by_their_key(http: httpx.Client):
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    stored = http.patch(DEPLOYMENT, json=patch, headers=STRATEGIC).json()
    (app,) = stored["spec"]["template"]["spec"]["containers"]
    assert app["image"] == "app:2" and app["env"][0]["name"] == "OTEL_SERVICE_NAME"  # kept
    delete = {
        "spec": {
            "template": {"spec": {"initContainers": [{"name": "migrate", "$patch": "delete"}]}}
        }
    }
    stored = http.patch(DEPLOYMENT, json=delete, headers=STRATEGIC).json()
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["initContainers"]] == [
        "log-shipper"
    ]


def test_strategic_merge_on_a_custom_resource_is_415(http: httpx.Client):
    path = "/apis/keda.sh/v1alpha1/namespaces/shop/scaledobjects/worker-scaler"
    answer = http.patch(path, json={"spec": {"maxReplicaCount": 9}}, headers=STRATEGIC)
    assert_status(answer, 415, "UnsupportedMediaType")
    merged = http.patch(path, json={"spec": {"maxReplicaCount": 9}}, headers=MERGE)
    assert merged.status_code == 200 and merged.json()["spec"]["maxReplicaCount"] == 9


def test_json_patch_applies_all_or_nothing(api: FakeKubeApi, http: httpx.Client):
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    assert http.patch(DEPLOYMENT, json=ops, headers=JSON_PATCH).json()["spec"]["replicas"] == 2
    failing = [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "test", "path": "/spec/paused", "value": True},
    ]
    assert_status(http.patch(DEPLOYMENT, json=failing, headers=JSON_PATCH), 422, "Invalid")
    assert api.get("deployments", "shop", "checkout")["spec"]["replicas"] == 2  # type: ignore[index]
    assert_status(http.patch(DEPLOYMENT, content=b"{nope", headers=MERGE), 400, "BadRequest")


# ----- the scale subresource --------------------------------------------------------------


def test_scale_subresource_reads_and_writes_the_parents_replicas(
    api: FakeKubeApi, http: httpx.Client
):
    scale = http.get(SCALE).json()
    assert (scale["kind"], scale["apiVersion"]) == ("Scale", "autoscaling/v1")
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"] == {"replicas": 4, "selector": "app=checkout"}
    assert scale["metadata"]["resourceVersion"] == version(api)

    patch = {"metadata": {"resourceVersion": version(api)}, "spec": {"replicas": 8}}
    answer = http.patch(SCALE, json=patch, headers=MERGE, params={"fieldManager": "me"})
    assert answer.status_code == 200 and answer.json()["kind"] == "Scale"
    assert api.get("deployments", "shop", "checkout")["spec"]["replicas"] == 8  # type: ignore[index]

    put = {**http.get(SCALE).json(), "spec": {"replicas": 3}}
    assert http.put(SCALE, json=put).status_code == 200
    assert_status(http.put(SCALE, json=put), 409, "Conflict")  # put's version is now stale
    negative = http.patch(SCALE, json={"spec": {"replicas": -2}}, headers=MERGE)
    body = assert_status(negative, 422, "Invalid")
    assert body["message"].startswith('Scale.autoscaling "checkout" is invalid: spec.replicas')


# ----- field management -------------------------------------------------------------------


def test_managed_fields_record_each_writer_and_move_ownership(api: FakeKubeApi, http: httpx.Client):
    first = {"fieldManager": "aiops-controller"}
    http.patch(DEPLOYMENT, json={"spec": {"replicas": 5}}, headers=MERGE, params=first)
    entries = http.get(DEPLOYMENT).json()["metadata"]["managedFields"]
    (entry,) = entries
    assert entry["manager"] == "aiops-controller" and entry["operation"] == "Update"
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert entry["time"].endswith("Z")

    second = {"spec": {"replicas": 6, "paused": True}}
    http.patch(DEPLOYMENT, json=second, headers=MERGE)  # no fieldManager: the User-Agent's
    owners = {
        e["manager"]: e["fieldsV1"]
        for e in http.get(DEPLOYMENT).json()["metadata"]["managedFields"]
    }
    assert "aiops-controller" not in owners  # its only field changed hands
    assert owners["python-httpx"] == {"f:spec": {"f:paused": {}, "f:replicas": {}}}

    http.patch(SCALE, json={"spec": {"replicas": 2}}, headers=MERGE, params={"fieldManager": "hpa"})
    last = http.get(DEPLOYMENT).json()["metadata"]["managedFields"][-1]
    assert (last["manager"], last["subresource"]) == ("hpa", "scale")


# ----- lists ------------------------------------------------------------------------------


def test_lists_filter_by_label_selector(http: httpx.Client):
    def names(selector: str) -> list[str]:
        answer = http.get(REPLICASETS, params={"labelSelector": selector})
        assert answer.status_code == 200, answer.text
        return [i["metadata"]["name"] for i in answer.json()["items"]]

    assert len(names("app=checkout")) == 3
    assert names("app in (cart)") == ["cart-7d6f5c4b3"]
    assert names("app!=checkout,pod-template-hash") == ["cart-7d6f5c4b3"]
    assert names("!app") == []
    assert_status(http.get(REPLICASETS, params={"labelSelector": "app in (x"}), 400, "BadRequest")


def test_lists_page_with_limit_and_continue(api: FakeKubeApi, http: httpx.Client):
    first = http.get(REPLICASETS, params={"limit": 3}).json()
    assert len(first["items"]) == 3 and first["metadata"]["remainingItemCount"] == 1
    token = first["metadata"]["continue"]
    api.put("replicasets", manifests.replicaset("checkout-99", 4, "1.4.0", "2026-03-11T00:00:00Z"))
    rest = http.get(REPLICASETS, params={"limit": 3, "continue": token}).json()
    # the snapshot of the first page: created later, checkout-99 is not in it
    assert [i["metadata"]["name"] for i in rest["items"]] == ["checkout-7f9c6d5b8"]
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert "continue" not in rest["metadata"]
    api.expire()
    stale = http.get(REPLICASETS, params={"limit": 3, "continue": token})
    assert "too old" in assert_status(stale, 410, "Expired")["message"]


# ----- faults -----------------------------------------------------------------------------


def test_429_carries_retry_after_and_then_passes(api: FakeKubeApi, http: httpx.Client):
    api.inject(Fault.too_many_requests(retry_after=3, times=1))
    throttled = http.get(DEPLOYMENT)
    body = assert_status(throttled, 429, "TooManyRequests")
    assert throttled.headers["retry-after"] == "3" and body["details"]["retryAfterSeconds"] == 3
    assert http.get(DEPLOYMENT).status_code == 200


def test_5xx_reset_and_slow_faults(api: FakeKubeApi, http: httpx.Client):
    api.inject(Fault.server_error(500, times=1))
    assert_status(http.get(DEPLOYMENT), 500, "InternalError")
    api.inject(Fault.server_error(503, retry_after=1, times=1))
    unavailable = http.get(DEPLOYMENT)
    assert_status(unavailable, 503, "ServiceUnavailable")
    assert unavailable.headers["retry-after"] == "1"
    api.inject(Fault.reset(times=1))
    with pytest.raises(httpx.TransportError):
        http.get(DEPLOYMENT)
    api.inject(Fault.slow(0.3, methods={"GET"}, times=1))
    started = time.monotonic()
    assert http.get(DEPLOYMENT).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_a_lost_response_still_stores_the_write(api: FakeKubeApi, http: httpx.Client):
    api.inject(Fault.lost_response(methods={"PATCH"}, times=1))
    with pytest.raises(httpx.TransportError):
        http.patch(DEPLOYMENT, json={"spec": {"replicas": 9}}, headers=MERGE)
    assert api.get("deployments", "shop", "checkout")["spec"]["replicas"] == 9  # type: ignore[index]


# ----- Leases (coordination.k8s.io/v1) ------------------------------------------------------

LEASES = "/apis/coordination.k8s.io/v1/namespaces/aiops/leases"


def test_leases_are_created_once_and_updated_only_at_the_read_version():
    """API concepts "Resource versions" and the Lease reference: POST creates (201) and a
    second create of the name is 409 AlreadyExists; a PUT carrying an outdated
    resourceVersion is 409 Conflict (what leader election's optimistic concurrency rests
    on); the spec is validated (duration > 0, transitions >= 0, MicroTimes)."""
    with FakeKubeApi(served={"leases"}) as fake, httpx.Client(base_url=fake.url) as http:
        spec = {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "leaseTransitions": 0,
                "renewTime": "2026-03-10T12:00:00.000001Z"}  # fmt: skip
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "aiops-controller"}, "spec": spec}  # fmt: skip
        created = http.post(LEASES, json=lease)
        assert created.status_code == 201, created.text
        stored = created.json()
        assert stored["metadata"]["namespace"] == "aiops" and stored["spec"] == spec
        assert stored["metadata"]["uid"] and stored["metadata"]["creationTimestamp"]
        again = assert_status(http.post(LEASES, json=lease), 409, "AlreadyExists")
        assert again["message"] == 'leases.coordination.k8s.io "aiops-controller" already exists'
        path = f"{LEASES}/aiops-controller"
        renewed = {**stored, "spec": {**spec, "renewTime": "2026-03-10T12:00:02.000001Z"}}
        answer = http.put(path, json=renewed)
        assert answer.status_code == 200
        assert int(answer.json()["metadata"]["resourceVersion"]) > int(
            stored["metadata"]["resourceVersion"]
        )
        taken = {**stored, "spec": {**spec, "holderIdentity": "pod-b", "leaseTransitions": 1}}
        assert_status(http.put(path, json=taken), 409, "Conflict")  # read before the renewal
        assert http.get(path).json()["spec"]["holderIdentity"] == "pod-a"
        zero = {**answer.json(), "spec": {**spec, "leaseDurationSeconds": 0}}
        invalid = assert_status(http.put(path, json=zero), 422, "Invalid")
        assert "must be greater than 0" in invalid["message"]
        garbled = {**answer.json(), "spec": {**spec, "renewTime": "yesterday"}}
        assert_status(http.put(path, json=garbled), 400, "BadRequest")
        assert_status(http.post(APPS, json={}), 404, "NotFound")  # not served here


# ----- custom resources served from a CRD (the chart's Remediation) ----------------------------

REMEDIATIONS = "/apis/aiops.dev/v1alpha1/namespaces/shop/remediations"


def _remediation(**spec: Any) -> dict[str, Any]:
    body = {
        "incidentId": "inc-1", "planHash": "a" * 64, "snapshotAt": "2026-03-10T12:00:00Z",
        "target": {"namespace": "shop", "name": "checkout"}, "action": "restart", **spec,
    }  # fmt: skip
    return {"apiVersion": "aiops.dev/v1alpha1", "kind": "Remediation",
            "metadata": {"name": "checkout-restart-aaaaaaaaaa"}, "spec": body}  # fmt: skip


def test_a_crd_is_served_only_once_installed_and_its_schema_prunes_defaults_and_422s():
    """CRD docs, "Specifying a structural schema", "Field pruning", "Defaulting", "Validation":
    unknown fields are dropped, defaults applied, violations are 422 Invalid with one cause
    per field; a create is 201, a second one 409 AlreadyExists; a type not installed is 404."""
    with FakeKubeApi(served=set(CORE_PLURALS)) as fake, httpx.Client(base_url=fake.url) as http:
        assert_status(http.post(REMEDIATIONS, json=_remediation()), 404, "NotFound")
        fake.install_crd(remediation_crd())
        created = http.post(REMEDIATIONS, json=_remediation(extra={"x": 1}))
        assert created.status_code == 201, created.text
        spec = created.json()["spec"]
        assert "extra" not in spec and spec["target"]["kind"] == "Deployment"
        again = assert_status(http.post(REMEDIATIONS, json=_remediation()), 409, "AlreadyExists")
        assert again["message"] == (
            'remediations.aiops.dev "checkout-restart-aaaaaaaaaa" already exists'
        )
        bad = _remediation(action="delete", planHash=7)
        bad["metadata"]["name"] = "other"
        body = assert_status(http.post(REMEDIATIONS, json=bad), 422, "Invalid")
        assert body["details"] == {
            "name": "other",
            "kind": "Remediation",
            "group": "aiops.dev",
            "causes": [
                {"reason": "FieldValueInvalid", "field": "spec.planHash",
                 "message": 'Invalid value: "integer": spec.planHash in body must be of type '
                 'string: "integer"'},
                {"reason": "FieldValueNotSupported", "field": "spec.action",
                 "message": 'Unsupported value: "delete": supported values: "scale", '
                 '"rollback", "restart", "pause_rollout", "adjust_hpa"'},
            ],
        }  # fmt: skip
        strategic = http.patch(f"{REMEDIATIONS}/checkout-restart-aaaaaaaaaa",
                               json={"spec": {"summary": "s"}}, headers=STRATEGIC)  # fmt: skip
        assert_status(strategic, 415, "UnsupportedMediaType")


def test_the_status_subresource_splits_spec_and_status_writes():
    """CRD docs, "Status subresource": PUT/POST/PATCH of the main resource ignore changes to
    status; PUT/PATCH of /status ignore everything but status (and validate it);
    ``metadata.generation`` moves with the spec only."""
    with FakeKubeApi(served=set(CORE_PLURALS)) as fake, httpx.Client(base_url=fake.url) as http:
        fake.install_crd(remediation_crd())
        body = {**_remediation(), "status": {"phase": "succeeded"}}
        created = http.post(REMEDIATIONS, json=body).json()
        assert "status" not in created and created["metadata"]["generation"] == 1
        path = f"{REMEDIATIONS}/checkout-restart-aaaaaaaaaa"
        status = {"spec": {"summary": "ignored"}, "status": {"phase": "proposed"}}
        written = http.patch(f"{path}/status", json=status, headers=MERGE).json()
        assert written["status"] == {"phase": "proposed"} and "summary" not in written["spec"]
        assert written["metadata"]["generation"] == 1
        main = {"spec": {"summary": "kept"}, "status": {"phase": "failed"}}
        written = http.patch(path, json=main, headers=MERGE).json()
        assert written["status"] == {"phase": "proposed"} and written["spec"]["summary"] == "kept"
        assert written["metadata"]["generation"] == 2
        wrong = http.patch(f"{path}/status", json={"status": {"phase": "done"}}, headers=MERGE)
        assert_status(wrong, 422, "Invalid")


def test_list_as_table_renders_the_printer_columns():
    """``kubectl get`` asks for ``as=Table;v=v1;g=meta.k8s.io``: the server renders the CRD's
    ``additionalPrinterColumns`` (Name first, then each column's JSONPath; priority 1 for
    ``-o wide``)."""
    with FakeKubeApi(served=set(CORE_PLURALS)) as fake, httpx.Client(base_url=fake.url) as http:
        fake.install_crd(remediation_crd())
        http.post(REMEDIATIONS, json=_remediation())
        accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
        table = http.get(REMEDIATIONS, headers=accept).json()
        assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
        assert [c["name"] for c in table["columnDefinitions"]][:6] == [
            "Name", "Target", "Action", "Phase", "Approver", "Age",
        ]  # fmt: skip
        assert table["rows"][0]["cells"][:5] == [
            "checkout-restart-aaaaaaaaaa", "checkout", "restart", None, None,
        ]  # fmt: skip
        assert http.get(REMEDIATIONS).json()["kind"] == "RemediationList"  # plain JSON still


def test_a_crd_the_fake_cannot_enforce_is_refused():
    """A non-structural schema (a node without ``type``) is refused by the API server; a CEL
    rule beyond the fake's two forms is refused by the fake rather than ignored."""
    loose = remediation_crd()
    version = loose["spec"]["versions"][0]
    version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["x"] = {}
    clever = remediation_crd()
    rules = clever["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    rules["x-kubernetes-validations"] = [{"rule": "self.action != 'restart'"}]
    with FakeKubeApi() as fake:
        with pytest.raises(InputError, match="spec.x: type is required"):
            fake.install_crd(loose)
        with pytest.raises(InputError, match="unsupported CEL rule"):
            fake.install_crd(clever)
        assert "remediations" not in fake.served


# ----- the request log and the server's bounds --------------------------------------------


def test_the_request_log_keeps_method_path_query_and_body(api: FakeKubeApi, http: httpx.Client):
    http.patch(DEPLOYMENT, params={"dryRun": "All", "fieldManager": "x"},
               json={"spec": {"replicas": 1}}, headers=MERGE)  # fmt: skip
    (entry,) = api.mutations()
    assert (entry.method, entry.path) == ("PATCH", DEPLOYMENT)
    assert entry.query == {"dryRun": "All", "fieldManager": "x"} and entry.dry_run
    assert entry.body == {"spec": {"replicas": 1}} and entry.status == 200
    assert entry.content_type == "application/merge-patch+json"
    assert api.mutations(dry_run=False) == []


def test_it_binds_to_loopback_and_stops_by_itself():
    fake = FakeKubeApi(max_lifetime=0.2).start()
    assert fake.url.startswith("http://127.0.0.1:")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            httpx.get(fake.url + "/api/v1/namespaces", timeout=0.5)
        except httpx.TransportError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the fake outlived its max_lifetime")
    fake.stop()  # idempotent


def test_events_are_created_and_listed():
    """The Event API: POST to a namespace's events creates one (201); the operator's
    Events for proposals, verdicts and actions are stored and listed like any object."""
    with FakeKubeApi() as fake, httpx.Client(base_url=fake.url) as http:
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "checkout.proposed.1"},
            "involvedObject": {"kind": "Deployment", "namespace": "shop", "name": "checkout"},
            "reason": "Proposed",
            "message": "rollback shop/checkout rev 8 -> 7",
            "type": "Normal",
        }
        created = http.post("/api/v1/namespaces/shop/events", json=event)
        assert created.status_code == 201, created.text
        listed = http.get("/api/v1/namespaces/shop/events").json()["items"]
        assert [e["reason"] for e in listed] == ["Proposed"]
