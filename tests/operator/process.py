"""``aiops run`` as a subprocess: started with a bounded wait, its JSON logs read, stopped.

Every wait is bounded; the process is killed at teardown if a test left it running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REPO

START_WITHIN = 60.0
"""Seconds a child interpreter may take to import the stack and start (a loaded CI box)."""


@dataclass
class Running:
    """One operator process and what it logged so far (stderr, one JSON object a line)."""

    process: subprocess.Popen[bytes]
    lines: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    port: int = 0
    reader: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def read(self) -> None:
        """Reader thread body: keep every line (parsed when it is JSON)."""
        assert self.process.stderr is not None
        for data in self.process.stderr:
            text = data.decode("utf-8", errors="replace").rstrip("\n")
            with self._lock:
                self.raw.append(text)
                try:
                    parsed = json.loads(text)
                except ValueError:
                    continue
                if isinstance(parsed, dict):
                    self.lines.append(parsed)

    def logged(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [line for line in self.lines if line.get("event") == event]

    def stderr(self) -> str:
        with self._lock:
            return "\n".join(self.raw[-60:])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        """GET a path of the operator's server: (status, body)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8")

    def post(self, path: str, body: bytes, content_type: str, timeout: float = 5.0) -> int:
        """POST to the operator's server: the status."""
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Content-Type": content_type}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def terminate(self, within: float) -> tuple[int, float]:
        """SIGTERM, then wait at most ``within`` seconds: (exit status, seconds taken)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=within)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """Kill if still running; then release the pipe (bounded waits)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.reader is not None:
            self.reader.join(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()


def start(args: Sequence[str], env: dict[str, str], cwd: Path) -> Running:
    """``python -m controller run ARGS``; returns once it logged ``operator started``."""
    environ = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    environ.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "run", *args],
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    running = Running(process)
    running.reader = threading.Thread(target=running.read, daemon=True)
    running.reader.start()
    deadline = time.monotonic() + START_WITHIN
    while time.monotonic() < deadline:
        started = running.logged("operator started")
        if started:
            running.port = int(started[0]["port"])
            return running
        if process.poll() is not None:
            break
        time.sleep(0.05)
    running.kill()
    raise AssertionError(f"aiops run did not start:\n{running.stderr()}")


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` for at most ``timeout`` seconds; its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(step)
    return True


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (None when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        if metric != name:
            continue
        got = ",".join(sorted(p for p in rest.rstrip("}").split(",") if p))
        if got == want:
            return float(value)
    return None
