"""Write the bundled example incidents to examples/incidents/<name>.json.

Run from the repository root::

    python examples/generate.py                 # rewrite examples/incidents/
    python examples/generate.py --output-dir D  # write somewhere else

The output is deterministic: every example has its own seeded ``random.Random``, values are
rounded to 4 significant digits, and the files are built through the pydantic models
(``IncidentFile``), so they are valid by construction. tests/unit/examples/ fails when the
committed files differ from what this script writes.

Layout: 2-space indentation, except that arrays of plain numbers stay on one line (a series
is one line for its timestamps and one for its values), which keeps the day-long example
small and the diffs readable.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from incident_scenarios import EXAMPLES

from controller.models.incident_file import IncidentFile

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "incidents"
INDENT = "  "

log = logging.getLogger("examples.generate")


def build_all() -> dict[str, IncidentFile]:
    """Every example, keyed by its file name without ``.json``."""
    return {name: build() for name, build in EXAMPLES.items()}


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _scalar(value: object) -> str:
    """One JSON scalar; whole floats are written as integers (epoch seconds, counts)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def _render(value: object, level: int) -> str:
    """JSON text of ``value``: objects and lists of objects indented, scalar lists inline."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = INDENT * (level + 1)
        items = [f"{inner}{_scalar(k)}: {_render(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + INDENT * level + "}"
    if isinstance(value, list):
        if all(_is_scalar(v) for v in value):
            return "[" + ", ".join(_scalar(v) for v in value) + "]"
        inner = INDENT * (level + 1)
        rows = [f"{inner}{_render(v, level + 1)}" for v in value]
        return "[\n" + ",\n".join(rows) + "\n" + INDENT * level + "]"
    return _scalar(value)


def to_json(incident: IncidentFile) -> str:
    """The file text of one example (ends with a newline)."""
    data = incident.model_dump(mode="json", exclude_defaults=False)
    return _render(data, 0) + "\n"


def main(
    output_dir: Path | None = None,
    examples: dict[str, Callable[[], IncidentFile]] | None = None,
) -> list[Path]:
    """Write every example (or the given builders) into ``output_dir``; return the paths.

    ``output_dir`` defaults to examples/incidents next to this script; the tests pass a
    temporary directory to check that the committed files are up to date.
    """
    target = output_dir or DEFAULT_OUTPUT
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, build in (examples or EXAMPLES).items():
        path = target / f"{name}.json"
        text = to_json(build())
        path.write_text(text, encoding="utf-8")
        log.info("wrote %s (%d KiB)", path, len(text.encode("utf-8")) // 1024)
        written.append(path)
    return written


def _parse(argv: Sequence[str] | None) -> Path | None:
    parser = argparse.ArgumentParser(description="Write the bundled example incidents.")
    parser.add_argument("--output-dir", type=Path, default=None, help=f"default: {DEFAULT_OUTPUT}")
    output: Path | None = parser.parse_args(argv).output_dir
    return output


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(_parse(None))
