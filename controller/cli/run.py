"""``aiops run``: the live operator. Its flags here; the work imported when it runs.

Settings come from the defaults, ``--config``/``AIOPS_CONFIG`` and ``AIOPS_*``; the flags
override them. Secrets come from the environment, read once here: ``AIOPS_LEDGER_KEY`` (the
ledger's HMAC key) and ``ANTHROPIC_API_KEY``. SIGTERM and SIGINT start the graceful
shutdown (``operator.grace_period``); a second signal, or a shutdown that overruns the
grace period by more than ``WATCHDOG_SLACK`` seconds, exits at once (the ledger is then
sealed with a recovery record on the next start). Exit status: 0 after a clean stop, 2 for
a bad flag, settings, policy or runbook, 3 when a dependency cannot be used at start-up
(the port is taken, the ledger is locked or broken, the state folder is unusable).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from controller.cli.common import fail, guard
from controller.cli.flags import ModeFlag, RunFlags

if TYPE_CHECKING:
    from collections.abc import Callable

    from controller.ports import KillSwitch
    from controller.settings import Settings

WATCHDOG_SLACK = 3.0
"""Seconds past the grace period after which the process exits whatever is still running."""
EXIT_SIGNALLED_TWICE = 130


def run(
    mode: Annotated[
        ModeFlag,
        typer.Option(
            help="shadow: decide and record, write nothing; propose: every action "
            "needs approval; auto: act within policy."
        ),
    ] = ModeFlag.SHADOW,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="kubeconfig file; default: in-cluster service account.")
    ] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context.")] = None,
    config: Annotated[
        Path | None, typer.Option(envvar="AIOPS_CONFIG", help="Settings YAML file.")
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Policy file (hot-reloaded); default: bundled.")
    ] = None,
    runbooks: Annotated[
        Path | None, typer.Option(help="Runbook folder (hot-reloaded); default: bundled.")
    ] = None,
    prometheus: Annotated[str | None, typer.Option(help="Prometheus base URL.")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="State store, checkpoints and ledger folder.")
    ] = None,
    incident_dir: Annotated[
        Path | None, typer.Option(help="Where incident files for replay are written.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="HTTP listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (probes, metrics, OTLP).")] = None,
    tick: Annotated[str | None, typer.Option(help="Tick interval, e.g. 15s.")] = None,
    namespace: Annotated[
        str | None, typer.Option(envvar="POD_NAMESPACE", help="Namespace of the operator's Events.")
    ] = None,
    pod: Annotated[
        str | None, typer.Option(envvar="POD_NAME", help="The operator's pod (Events name it).")
    ] = None,
) -> None:
    """Run the operator against a cluster: observe, decide, and act as the mode allows."""
    flags = RunFlags(
        mode=mode, kubeconfig=kubeconfig, context=context, config=config, policy=policy,
        runbooks=runbooks, prometheus=prometheus, state_dir=state_dir,
        incident_dir=incident_dir, host=host, port=port, tick=tick, namespace=namespace,
        pod=pod,
    )  # fmt: skip
    guard(lambda: _run(flags))


def _settings(flags: RunFlags) -> Settings:
    """Settings with the flags applied on top (a bad ``--tick`` is a one-line error)."""
    from controller.errors import InputError
    from controller.models.base import parse_duration
    from controller.settings import load_settings

    settings = load_settings(flags.config)
    op: dict[str, Any] = {}
    for name in ("state_dir", "incident_dir", "host", "port", "namespace"):
        value = getattr(flags, name)
        if value is not None:
            op[name] = value
    if flags.tick is not None:
        try:
            interval = parse_duration(flags.tick)
        except ValueError as exc:
            raise InputError("--tick", flags.tick, str(exc)) from exc
        if interval.total_seconds() < 1:
            raise InputError("--tick", flags.tick, "must be at least 1s")
        op["tick_interval"] = interval
    kube: dict[str, Any] = {}
    if flags.kubeconfig is not None:
        kube["kubeconfig"] = str(flags.kubeconfig)
    if flags.context is not None:
        kube["context"] = flags.context
    update: dict[str, Any] = {
        "operator": settings.operator.model_copy(update=op),
        "kube": settings.kube.model_copy(update=kube),
    }
    if flags.prometheus is not None:
        update["prometheus"] = settings.prometheus.model_copy(update={"url": flags.prometheus})
    if settings.log.format == "console" and not os.isatty(2):
        update["log"] = settings.log.model_copy(update={"format": "json"})  # in a pod: JSON
    return settings.model_copy(update=update)


def _run(flags: RunFlags) -> None:
    """Build the operator, wire the signals, run until stopped."""
    from controller.bundled import default_policy, default_runbooks
    from controller.errors import LedgerIntegrityError, PermanentError
    from controller.ledger import ledger_key
    from controller.operator.logs import configure_operator_logging
    from controller.operator.modes import OperatorMode
    from controller.telemetry import configure_tracing, shutdown_tracing

    settings = _settings(flags)
    policy = flags.policy or settings.operator.policy or default_policy()
    runbooks = flags.runbooks or settings.operator.runbooks or default_runbooks()
    _check_files(policy, runbooks)
    from controller.operator.ports import PlugIns
    from controller.operator.root import Operator, RunOptions, instance_name  # heavy: now

    configure_operator_logging(settings.log)
    options = RunOptions(
        mode=OperatorMode(flags.mode.value),
        settings=settings,
        policy=policy,
        runbooks=runbooks,
        ledger_key=ledger_key(os.environ),
        anthropic_key=os.environ.get("ANTHROPIC_API_KEY") or None,
        pod=flags.pod,
        instance=instance_name(flags.pod),
    )
    # loads policy and runbooks: a bad one exits 2 here
    operator = Operator(options, PlugIns(kill_switch=kill_switch_factory(settings)))
    provider = _tracing(settings, configure_tracing)
    stop = threading.Event()
    _install_signals(stop, settings.operator.grace_period.total_seconds())
    try:
        code = operator.run(stop)
    except (PermanentError, LedgerIntegrityError) as exc:
        fail(f"cannot run: {exc}", code=3)
    finally:
        shutdown_tracing(provider)
    raise typer.Exit(code)


def kill_switch_factory(settings: Settings) -> Callable[[Any], KillSwitch]:
    """The cluster kill switch behind the one freeze gate (``aiops freeze`` stops this
    operator's writes, and the loop's mode turns FROZEN), built on the operator's API client."""
    from controller.guardrails.freeze import FreezeGate
    from controller.kube.killswitch import ClusterKillSwitch
    from controller.operator.wiring import WallClock

    def build(api: Any) -> KillSwitch:
        return FreezeGate(ClusterKillSwitch(api, settings.kill_switch), clock=WallClock())

    return build


def _check_files(policy: Path, runbooks: Path) -> None:
    """Refuse a bad policy or runbook folder (exit 2) before the operator's stack loads."""
    from controller.guardrails.loader import load_policy
    from controller.operator.wiring import load_runbook_folder

    load_policy(policy)
    load_runbook_folder(runbooks)


def _tracing(settings: Settings, configure: Any) -> Any:
    """The operator's spans go to ``operator.tracing_endpoint`` when set and the CLI's
    ``main`` did not already install a provider from ``OTEL_EXPORTER_OTLP_*``."""
    from opentelemetry import trace

    endpoint = settings.operator.tracing_endpoint
    if endpoint is None or not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None
    return configure(endpoint)


def _install_signals(stop: threading.Event, grace: float) -> None:
    """First SIGTERM/SIGINT: graceful stop, with a watchdog; second: exit at once."""

    def watchdog() -> None:
        os._exit(1)  # the grace period is over: the kubelet would SIGKILL us now anyway

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            os._exit(EXIT_SIGNALLED_TWICE)
        stop.set()
        timer = threading.Timer(grace + WATCHDOG_SLACK, watchdog)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
