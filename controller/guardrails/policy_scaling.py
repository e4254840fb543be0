"""``spec.scaling`` of a Policy: through which other controllers' objects scaling may go.

A workload whose replicas KEDA or Argo Rollouts owns is never scaled by writing the
Deployment (R16): that controller would undo it. Naming an adapter in
``spec.scaling.adapters`` lets a ``scale`` or ``adjust_hpa`` that names the same adapter
change that controller's own object instead (the KEDA ScaledObject's
minReplicaCount/maxReplicaCount; the Argo Rollout's replicas, or the bounds of the HPA that
targets the Rollout), under the same replica caps as every scale. The default (the key
absent, or ``adapters: []``) refuses them all, as before the key existed.

A separate module only to keep ``policy.py`` readable; it follows the same conventions:
camelCase keys, closed and frozen, every error a sentence naming what exists.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from controller.models.actions import ScalingAdapter
from controller.models.base import FrozenModel

ADAPTER_NAMES = tuple(adapter.value for adapter in ScalingAdapter)


def _scaling_adapter(value: object) -> object:
    """Only the adapters the writer has; a near miss (``KEDA``, ``argo_rollouts``) is named."""
    if value in ADAPTER_NAMES:
        return value
    allowed = ", ".join(ADAPTER_NAMES)
    hint = ""
    spelled = value.strip().lower().replace("_", "-") if isinstance(value, str) else None
    if spelled in ADAPTER_NAMES:
        hint = f" (write it as {spelled!r})"
    elif spelled in ("argo", "argo-rollout", "rollouts", "argorollouts"):
        hint = " (Argo Rollouts is written 'argo-rollouts')"
    elif spelled in ("hpa", "deployment"):
        hint = f" ({spelled} needs no adapter: scale and adjust_hpa write it directly)"
    raise ValueError(f"unknown scaling adapter {value!r}{hint}; the adapters are {allowed}")


def _adapter_list(value: object) -> object:
    """``adapters: keda`` (a string, not a list) would read as "some adapters": say so."""
    if isinstance(value, str):
        raise ValueError(
            f"adapters is a list: write adapters: [{value}] (got the string {value!r})"
        )
    return value


def _unique_adapters(values: tuple[ScalingAdapter, ...]) -> tuple[ScalingAdapter, ...]:
    """An adapter listed twice is a typo or a bad merge: say which."""
    for index, value in enumerate(values):
        if value in values[:index]:
            raise ValueError(f"{value.value} is listed twice")
    return values


AdapterName = Annotated[
    ScalingAdapter,
    BeforeValidator(_scaling_adapter),
    WithJsonSchema({"type": "string", "enum": list(ADAPTER_NAMES)}),
]
"""A scaling adapter name (``keda``, ``argo-rollouts``); anything else is rejected by name."""


class ScalingRules(FrozenModel):
    """Scaling adapters the policy allows (R16). Empty: none, scaling stays refused."""

    model_config = ConfigDict(alias_generator=to_camel)

    adapters: Annotated[
        tuple[AdapterName, ...],
        Field(json_schema_extra={"uniqueItems": True}),
        BeforeValidator(_adapter_list),
        AfterValidator(_unique_adapters),
    ] = Field(
        default=(), description="Scaling adapters allowed: keda, argo-rollouts (default none)."
    )

    def allows(self, adapter: ScalingAdapter) -> bool:
        """Whether scaling through ``adapter`` may be proposed and written."""
        return adapter in self.adapters
