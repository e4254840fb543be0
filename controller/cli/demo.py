"""``aiops demo``: watch the operator detect, plan, ask, act and verify, without a cluster.

The work is in ``controller.operator.demo`` (imported when the command runs, so ``aiops
--help`` stays light). On a terminal each request for approval is a ``approve? [y/N]``
prompt; without one, ``--approve-all`` or ``--reject-all`` answers for you. Exit status: 0
when the action was verified (or rejected as asked), 1 when the scenario did not finish in
time, 2 for a bad flag.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from controller.cli.common import fail, guard

SCENARIOS = ("bad-deploy", "traffic-surge", "memory-leak", "cpu-saturation", "healthy")


def demo(
    scenario: Annotated[
        str, typer.Option(help=f"Built-in scenario: {', '.join(SCENARIOS)}.")
    ] = "bad-deploy",
    approve_all: Annotated[
        bool, typer.Option("--approve-all", help="Approve every request (no prompt).")
    ] = False,
    reject_all: Annotated[
        bool, typer.Option("--reject-all", help="Reject every request (no prompt).")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 150.0,
) -> None:
    """Run the operator against a simulated cluster with a scripted fault (about a minute)."""
    if approve_all and reject_all:
        fail("--approve-all and --reject-all: pick one")
    if scenario not in SCENARIOS:
        fail(f"--scenario: unknown scenario {scenario!r} (one of {', '.join(SCENARIOS)})")
    if not (approve_all or reject_all) and not sys.stdin.isatty():
        fail("stdin is not a terminal: pass --approve-all or --reject-all")
    answer = "approve" if approve_all else "reject" if reject_all else "ask"
    guard(lambda: _run(scenario, answer, timeout))


def _run(scenario: str, answer: str, timeout: float) -> None:
    from rich.console import Console

    from controller.operator.demo import Demo

    console = Console()
    result = Demo(scenario, answer=answer, console=console, timeout=timeout).run()
    if result.outcome == "timeout":
        console.print(f"[red]the scenario did not finish within {timeout:g}s[/red]")
        raise typer.Exit(1)
    console.print(f"[bold]done:[/bold] {result.outcome} {result.verification}".rstrip())
