"""Re-record ``examples/recorded/bad-deploy-llm.json``: one command, no network, no API key.

The recording is ``incidents/bad-deploy.json`` replayed with ``--planner llm`` through the
real Anthropic SDK against the loopback fake Messages API of ``chaos/faults/fake_llm.py``,
scripted to read the rollout history and the metrics and then submit the rollback from
revision 8 to 7. Run it whenever the prompt or the request shape changes (the request texts
in the recording are what the controller sends today only if it was recorded since)::

    python examples/record_llm.py

A script rather than a hand-edited file, so the recording always comes from the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from generate import to_json

from chaos.faults.fake_llm import FakeMessagesApi, SubmitPlan, ToolCall
from controller.models.incident_file import IncidentFile

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "incidents" / "bad-deploy.json"
TARGET = ROOT / "examples" / "recorded" / "bad-deploy-llm.json"

PLAN: dict[str, Any] = {
    "action": {
        "kind": "rollback",
        "target": {"namespace": "shop", "name": "checkout"},
        "from_revision": 8,
        "to_revision": 7,
        "to_image": "registry.example.com/shop/checkout:1.14.2",
    },
    "risk": "medium",
    "rationale": (
        "Checkout's error ratio rose from about 0.1% to 12% within a minute of revision 8 "
        "(checkout:1.15.0) replacing revision 7 (checkout:1.14.2) at 14:12; p50 and p99 "
        "doubled at the same time, request rate is flat and payments is healthy, so the "
        "regression follows the deploy, not load or a dependency. Revision 7 ran cleanly for "
        "days. Roll back to revision 7 and confirm the error ratio falls by at least half."
    ),
    "evidence": [
        {
            "name": "error_ratio",
            "value": 0.1209,
            "unit": "ratio",
            "threshold": 0.001,
            "window": "5m",
            "detail": "fraction of failed checkout requests, last 5 minutes",
        },
        {
            "name": "change: deploy",
            "detail": "revision 8 (checkout:1.15.0) at 14:12:00Z, 30s before onset",
        },
    ],
    "verification": {
        "signal": "error_ratio",
        "expect": "decrease",
        "min_improvement": 0.5,
        "bake": "5m",
    },
}

METADATA: dict[str, Any] = {
    "name": "bad-deploy-llm",
    "title": (
        "checkout 1.15.0 fails 12% of requests right after its deploy (with recorded LLM exchanges)"
    ),
    "extra": (
        " This copy of bad-deploy also carries the exchanges of one LLM-planned replay (two "
        "read-only tool calls, then submit_plan: roll checkout back to revision 7), recorded "
        "in the Messages API wire format against the loopback fake Messages API, so that "
        "--planner recorded replays it offline with no API key."
    ),
}


def record(target: Path = TARGET) -> Path:
    """Replay bad-deploy with the LLM planner against the scripted fake; write ``target``."""
    with FakeMessagesApi() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.script(
            ToolCall("get_rollout_history", {"workload": "shop/checkout"}),
            ToolCall("get_metrics", {"workload": "shop/checkout", "window_seconds": 900}),
            SubmitPlan(PLAN),
        )
        config = Path(tmp) / "aiops.yaml"
        config.write_text(f"llm:\n  base_url: {fake.base_url}\n", encoding="utf-8")
        raw = Path(tmp) / "recorded.json"
        env = {**os.environ, "ANTHROPIC_API_KEY": "recording-key-not-recorded"}
        command = [sys.executable, "-m", "controller", "replay", str(SOURCE)]
        command += ["--planner", "llm", "--config", str(config), "--record-to", str(raw)]
        command += ["-o", os.devnull]
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if run.returncode not in (0, 1) or not raw.exists():
            raise SystemExit(f"recording failed (exit {run.returncode}): {run.stderr.strip()}")
        recorded = json.loads(raw.read_text(encoding="utf-8"))
    metadata = recorded["metadata"]
    metadata["name"] = METADATA["name"]
    metadata["title"] = METADATA["title"]
    metadata["description"] = metadata["description"] + METADATA["extra"]
    target.write_text(to_json(IncidentFile.model_validate(recorded)), encoding="utf-8")
    return target


if __name__ == "__main__":
    sys.stdout.write(f"{record()}\n")
