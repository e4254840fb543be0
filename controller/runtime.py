"""Process-wide runtime tuning, applied once by the composition root before the loop starts.

Why the cyclic garbage collector is tuned: a live tick at 10,000 workloads allocates a few
hundred thousand container objects (the decoded answers, one ``SignalWindow`` and one
``SeriesData`` per window), most of which live until the next tick. With CPython's default
thresholds (700, 10, 10) that is hundreds of young collections and several full ones per
tick, and every full one walks everything alive: the imported modules, the settings, the
store and the previous tick's windows (~500,000 objects). Measured at 10,000 workloads:
1.7 s of a 6.3 s warm tick was the collector, finding almost nothing (the controller's data
holds no reference cycles; the collector exists for the rare cycle some library makes).

So, once start-up is done:

- ``gc.freeze()`` moves everything built so far (modules, classes, schemas, settings) to a
  permanent generation that no collection walks again. It is never garbage, and freezing it
  also keeps its memory pages unshared-write-free in a forked child.
- A higher young-generation threshold (``GEN0``) collects every ~50,000 new containers
  instead of every 700; objects that die within a tick (decoded JSON, query texts) are freed
  by reference counting before a collection ever sees them. Older generations keep their
  ratios, so a cycle still goes within a few ticks; memory held by cycles is bounded by the
  allocation rate times the thresholds, which is small against a tick's own data.

``aiops run`` calls ``tune_collector()`` once its long-lived objects exist; the Prometheus
benchmark's child does exactly the same, so its figures are the operator's.
"""

from __future__ import annotations

import gc

GEN0 = 50_000
"""New container objects between young collections (CPython's default: 700)."""
GEN1 = 10
"""Young collections between middle ones (the default)."""
GEN2 = 10
"""Middle collections between full ones (the default; CPython also waits until a quarter of
the old generation is new since the last full collection)."""


def tune_collector(*, freeze: bool = True) -> tuple[int, int, int]:
    """Collect once, freeze what start-up built (unless ``freeze`` is False), raise the
    young-generation threshold; returns the thresholds it replaced (for tests and undo)."""
    previous = gc.get_threshold()
    gc.collect()
    if freeze:
        gc.freeze()
    gc.set_threshold(GEN0, GEN1, GEN2)
    return previous


def untune_collector(previous: tuple[int, int, int]) -> None:
    """Undo ``tune_collector``: the old thresholds, and frozen objects collectable again."""
    gc.unfreeze()
    gc.set_threshold(*previous)
