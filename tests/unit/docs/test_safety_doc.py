"""docs/safety.md cannot rot silently.

The page maps every safety rule (R1-R17), invariant (I1-I8) and chaos scenario (CH-01-CH-24)
onto the code and the tests that prove it. These checks fail when an entry goes missing, a
status in the summary disagrees with its section, or a referenced file, test or symbol no
longer exists (a rename, a move, a deleted test).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "safety.md"

RULES = [f"R{n}" for n in range(1, 18)]
INVARIANTS = [f"I{n}" for n in range(1, 9)]
SCENARIOS = [f"CH-{n:02d}" for n in range(1, 25)]
EXPECTED = RULES + INVARIANTS + SCENARIOS
RULE_STATUSES = frozenset({"implemented", "partial", "not yet"})
SCENARIO_STATUSES = frozenset({"proven", "partial", "not yet"})

HEADING = re.compile(r"^#{1,6} ", re.M)
ENTRY_HEADING = re.compile(r"^### (R\d+|I\d+|CH-\d+):", re.M)
STATUS = re.compile(r"^\*\*Status:\*\* (.+?)\s*$", re.M)
SUMMARY_ROW = re.compile(r"^\| (R\d+|I\d+|CH-\d+) \| ([a-z ]+?) \|", re.M)
TEST_REF = re.compile(r"\b(tests/[\w/]+\.py)::(\w+)(?:::(\w+))?")
CODE_REF = re.compile(r"`((?:controller|chaos)/[\w/]+\.py)(?::\s+([^`]+))?`")
PY_PATH = re.compile(r"\b((?:controller|tests|chaos)/[\w/]*\w\.py)\b")


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _sections() -> dict[str, str]:
    """Body of each ``### <ID>: ...`` entry, up to the next heading of any level."""
    text = _text()
    starts = [m.start() for m in HEADING.finditer(text)] + [len(text)]
    sections: dict[str, str] = {}
    for match in ENTRY_HEADING.finditer(text):
        end = min(s for s in starts if s > match.start())
        assert match.group(1) not in sections, f"{match.group(1)} has two sections"
        sections[match.group(1)] = text[match.end() : end]
    return sections


def _statuses() -> dict[str, str]:
    statuses: dict[str, str] = {}
    for entry, body in _sections().items():
        found = STATUS.findall(body)
        assert len(found) == 1, f"{entry}: expected one **Status:** line, found {found}"
        statuses[entry] = found[0]
    return statuses


@functools.cache
def _module(path: str) -> ast.Module:
    return ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=path)


def _names(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """Functions, classes and assigned names defined directly in ``body``."""
    names: dict[str, ast.stmt] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            names.update((t.id, node) for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
    return names


def _defines(path: str, dotted: str) -> bool:
    """Whether ``path`` defines ``dotted`` (``name`` or ``Class.member``) at top level."""
    scope: list[ast.stmt] = _module(path).body
    for part in dotted.split("."):
        node = _names(scope).get(part)
        if node is None:
            return False
        scope = node.body if isinstance(node, ast.ClassDef) else []
    return True


def test_every_rule_invariant_and_scenario_has_one_section_in_order() -> None:
    assert list(_sections()) == EXPECTED


def test_every_section_states_a_known_status() -> None:
    statuses = _statuses()
    wrong = {
        entry: status
        for entry, status in statuses.items()
        if status not in (SCENARIO_STATUSES if entry.startswith("CH-") else RULE_STATUSES)
    }
    assert not wrong, f"unknown statuses: {wrong}"


def test_summary_table_agrees_with_the_sections() -> None:
    rows = SUMMARY_ROW.findall(_text())
    summary = dict(rows)
    assert len(summary) == len(rows), "an entry appears twice in the summary table"
    assert summary == _statuses()


def test_every_test_reference_names_an_existing_test() -> None:
    refs = set(TEST_REF.findall(_text()))
    assert refs, "the page references no tests"
    missing = []
    for path, name, member in sorted(refs):
        dotted = f"{name}.{member}" if member else name
        if not (ROOT / path).is_file() or not _defines(path, dotted):
            missing.append(f"{path}::{dotted.replace('.', '::')}")
    assert not missing, f"tests referenced by docs/safety.md do not exist: {missing}"


def test_every_code_reference_names_an_existing_module_and_symbol() -> None:
    refs = CODE_REF.findall(_text())
    assert refs, "the page references no code"
    missing = []
    for path, symbols in refs:
        if not (ROOT / path).is_file():
            missing.append(path)
            continue
        for symbol in filter(None, (s.strip() for s in symbols.split(","))):
            if not _defines(path, symbol):
                missing.append(f"{path}: {symbol}")
    assert not missing, f"code referenced by docs/safety.md does not exist: {missing}"


def test_every_python_path_mentioned_exists() -> None:
    paths = set(PY_PATH.findall(_text()))
    missing = sorted(p for p in paths if not (ROOT / p).is_file())
    assert not missing, f"files named in docs/safety.md do not exist: {missing}"
