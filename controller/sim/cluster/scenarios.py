"""Built-in scenarios: a small shop (frontend -> checkout -> payments) and one fault each.

They are YAML text in the scenario format (docs/simulator.md), so they double as its
examples; ``aiops demo`` and the e2e tests pick one by name. Every fault starts 45 s after
the start, after 2 min of fast-forwarded healthy history, so detectors have a baseline.
"""

from __future__ import annotations

from controller.sim.cluster.spec import Scenario, parse_scenario

SHOP = """\
history: 2m
namespaces:
  shop: {aiops.dev/remediate: enabled}
workloads:
  - namespace: shop
    name: frontend
    image: registry.example.com/shop/frontend:2.3.1
    replicas: 2
    load_rps: 60
    capacity_rps: 60
    calls: [checkout]
  - namespace: shop
    name: checkout
    image: registry.example.com/shop/checkout:1.4.2
    replicas: 3
    load_rps: 45
    capacity_rps: 30
    calls: [payments]
  - namespace: shop
    name: payments
    image: registry.example.com/shop/payments:0.9.0
    replicas: 2
    load_rps: 20
    capacity_rps: 25
    hpa: {min_replicas: 2, max_replicas: 3, target_cpu_utilization: 90}
"""

FAULTS: dict[str, str] = {
    "healthy": "faults: []\n",
    "bad-deploy": """\
faults:
  - kind: bad_deploy
    at: 45s
    workload: shop/checkout
    image: registry.example.com/shop/checkout:1.5.0
    error_ratio: 0.25
""",
    "traffic-surge": """\
faults:
  - {kind: traffic_surge, at: 45s, workload: shop/payments, factor: 4}
""",
    "memory-leak": """\
faults:
  - {kind: memory_leak, at: 45s, workload: shop/checkout, bytes_per_second: 2097152}
""",
    "cpu-saturation": """\
faults:
  - {kind: cpu_saturation, at: 45s, workload: shop/frontend, cores: 0.6}
""",
}
"""The fault part of each built-in scenario, by name."""


def builtin_yaml(name: str) -> str:
    """The YAML text of the built-in scenario ``name`` (KeyError naming the known ones)."""
    if name not in FAULTS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(FAULTS))}")
    return f"name: {name}\n{SHOP}{FAULTS[name]}"


def builtin(name: str) -> Scenario:
    """The built-in scenario ``name``, parsed and validated like a file."""
    return parse_scenario(builtin_yaml(name), f"<builtin scenario {name}>")
