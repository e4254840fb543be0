"""The composition root's collector tuning (controller.runtime): applied, and undone."""

from __future__ import annotations

import gc

from controller import runtime


def test_tune_collector_freezes_start_up_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    previous = runtime.tune_collector()
    try:
        assert previous == before
        assert gc.get_threshold() == (runtime.GEN0, runtime.GEN1, runtime.GEN2)
        assert gc.get_freeze_count() > 0
        assert runtime.GEN0 > before[0]
    finally:
        runtime.untune_collector(previous)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_tune_collector_can_leave_start_up_unfrozen() -> None:
    previous = runtime.tune_collector(freeze=False)
    try:
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold()[0] == runtime.GEN0
    finally:
        runtime.untune_collector(previous)
