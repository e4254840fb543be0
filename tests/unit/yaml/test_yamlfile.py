"""The one YAML loader, through every real loader that uses it: policies, runbook front-matter,
settings files and capture ground truth. Every bad file is one line naming file, place, reason."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.capture_engine import TRUTH_YAML, load_ground_truth
from controller.errors import ConfigError, InputError, PolicyError, RunbookError
from controller.guardrails.loader import MAX_POLICY_BYTES, load_policy
from controller.planner.runbook.catalog import MAX_RUNBOOK_BYTES, load_runbook
from controller.settings import SETTINGS_YAML, load_settings
from controller.yamlfile import MAX_DEPTH, YamlSpec, parse_yaml

REPO = Path(__file__).resolve().parents[3]
SPEC = YamlSpec(what="test document")
BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@dataclass(frozen=True)
class Kind:
    """One real loader: how to write a file for it and what it raises."""

    name: str
    load: Callable[[Path], object]
    error: type[InputError]
    limit: int
    first_line: int = 1  # file line of the YAML's first line
    fence: bool = False  # runbooks: the YAML is front-matter between '---' lines

    def write(self, directory: Path, text: str | bytes) -> Path:
        data = text.encode() if isinstance(text, str) else text
        if self.fence:
            data = b"---\n" + data + b"---\n# Body\n"
        path = directory / f"{self.name}.{'md' if self.fence else 'yaml'}"
        path.write_bytes(data)
        return path


KINDS = [
    Kind("policy", load_policy, PolicyError, MAX_POLICY_BYTES),
    Kind("runbook", load_runbook, RunbookError, MAX_RUNBOOK_BYTES, first_line=2, fence=True),
    Kind("settings", load_settings, ConfigError, SETTINGS_YAML.max_bytes),
    Kind("truth", load_ground_truth, InputError, TRUTH_YAML.max_bytes),
]


@pytest.fixture(params=KINDS, ids=[kind.name for kind in KINDS])
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param  # type: ignore[no-any-return]


def rejected(kind: Kind, path: Path) -> str:
    """The one-line message of the loader's error (never another exception type)."""
    with pytest.raises(kind.error) as caught:
        kind.load(path)
    assert type(caught.value) is kind.error
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


def test_duplicate_key(kind: Kind, tmp_path: Path) -> None:
    path = kind.write(tmp_path, "a: 1\nb: 2\na: 3\n")
    first, again = kind.first_line, kind.first_line + 2
    assert rejected(kind, path) == f"a (line {again}): duplicate key 'a' (first on line {first})"


def test_nested_duplicate_key_names_its_path(kind: Kind, tmp_path: Path) -> None:
    path = kind.write(tmp_path, "a:\n  - b: 1\n    b: 2\n")
    line = kind.first_line + 2
    assert (
        rejected(kind, path)
        == f"a[0].b (line {line}): duplicate key 'b' (first on line {line - 1})"
    )


@pytest.mark.parametrize(
    ("tag", "value"),
    [("!!python/object/apply:os.mkdir", "[{marker}]"), ("!foo", "bar"), ("!!str", "x")],
)
def test_any_explicit_tag_is_refused(kind: Kind, tmp_path: Path, tag: str, value: str) -> None:
    marker = tmp_path / "pwned"
    path = kind.write(tmp_path, f"a: {tag} {value.format(marker=marker)}\n")
    where = f"line {kind.first_line}, column 4"
    assert (
        rejected(kind, path)
        == f"{where}: invalid YAML: tag '{tag}' is not allowed (plain data only)"
    )
    assert not marker.exists()


def test_billion_laughs_is_refused_at_the_first_alias(kind: Kind, tmp_path: Path) -> None:
    path = kind.write(tmp_path, BILLION_LAUGHS)
    started = time.perf_counter()
    message = rejected(kind, path)
    assert time.perf_counter() - started < 5.0  # nothing was expanded (10**9 items would be)
    assert message == (
        f"b[0] (line {kind.first_line + 1}): aliases (*name) are not supported: write it out"
    )


def test_oversize_file_is_refused_before_parsing(kind: Kind, tmp_path: Path) -> None:
    path = kind.write(tmp_path, b"#" * kind.limit + b"\n[")
    assert rejected(kind, path).startswith(f"larger than {kind.limit} bytes")


def test_non_utf8_bytes(kind: Kind, tmp_path: Path) -> None:
    path = kind.write(tmp_path, b"a: 1\nb: caf\xe9\n")
    offset = path.read_bytes().index(b"\xe9")
    assert rejected(kind, path) == f"line {kind.first_line + 1} (byte {offset}): not UTF-8 text"


def test_top_level_list_where_a_mapping_is_expected(kind: Kind, tmp_path: Path) -> None:
    path = kind.write(tmp_path, "- a\n- b\n")
    assert rejected(kind, path).startswith("(root): must be a mapping of fields (the ")
    assert rejected(kind, path).endswith("), not a list")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_document(kind: Kind, tmp_path: Path, text: str) -> None:
    path = kind.write(tmp_path, text)
    if kind.name == "settings":  # an empty settings file means the defaults
        assert load_settings(path) == load_settings(None)
        return
    assert rejected(kind, path).startswith("(root): the document is empty")


def test_syntax_error_names_line_and_column(kind: Kind, tmp_path: Path) -> None:
    path = kind.write(tmp_path, "a: 1\nb: [1, 2\nc: 3\n")
    message = rejected(kind, path)
    assert message.startswith(f"line {kind.first_line + 2}, column ")
    assert "invalid YAML: while parsing a flow sequence" in message


def test_missing_file(kind: Kind, tmp_path: Path) -> None:
    assert rejected(kind, tmp_path / "absent.yaml") == "cannot read: No such file or directory"


# --- YAML 1.2 values, through the schemas that read them -----------------------------------


def test_yaml_11_words_stay_strings_in_a_policy() -> None:
    from controller.guardrails.loader import load_policy_text

    text = (REPO / "policies" / "default.yaml").read_text(encoding="utf-8")
    assert "    deny: []" in text
    text = text.replace("    deny: []", "    deny: [on, off, yes, no, y, n]", 1)
    spec = load_policy_text(text, "p.yaml").policy.spec
    assert spec.namespaces.deny == ("on", "off", "yes", "no", "y", "n")


def test_runbook_bools_from_true_and_words_as_strings(tmp_path: Path) -> None:
    front = (REPO / "runbooks" / "saturation-scale-out.md").read_text(encoding="utf-8")
    assert "  hpa_aware: true\n" in front
    path = tmp_path / "r.md"
    path.write_text(front.replace("title: Scale out", "title: yes  # Scale out", 1))
    runbook = load_runbook(path)
    assert runbook.title == "yes"
    assert runbook.action.kind == "scale" and runbook.action.hpa_aware is True
    path.write_text(front.replace("  hpa_aware: true\n", "  hpa_aware: false\n", 1))
    loaded = load_runbook(path)
    assert loaded.action.kind == "scale" and loaded.action.hpa_aware is False


def test_settings_bools_from_true_false_and_words_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "aiops.yaml"
    path.write_text(
        "prometheus: {verify_tls: false}\nllm: {enabled: true, model: on}\nkube: {context: no}\n"
    )
    settings = load_settings(path)
    assert settings.prometheus.verify_tls is False and settings.llm.enabled is True
    assert (settings.llm.model, settings.kube.context) == ("on", "no")


def test_truth_timestamps_and_words(tmp_path: Path) -> None:
    path = tmp_path / "truth.yaml"
    path.write_text("fault: bad_deploy\nonset: 2026-03-01T12:00:00Z\nnotes: yes\n")
    truth = load_ground_truth(path)
    assert truth.notes == "yes" and truth.onset is not None and truth.onset.hour == 12
    path.write_text("fault: bad_deploy\nonset: 2026-03-01T12:00:00Z\nnotes: x\nfault: none\n")
    assert rejected(KINDS[3], path) == "fault (line 4): duplicate key 'fault' (first on line 1)"
    path.write_text("onset: 2026-03-01T12:00:00Z\nfault: oops\n")
    assert rejected(KINDS[3], path).startswith("fault (line 2): Input should be 'bad_deploy'")


@pytest.mark.parametrize(
    ("plain", "value"),
    [
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("Y", "Y"),
        ("true", True),
        ("False", False),
        ("010", 10),
        ("0o10", 8),
        ("0x1F", 31),
        ("-7", -7),
        ("1_000", "1_000"),
        ("23:59", "23:59"),
        ("2026-03-01", "2026-03-01"),
        ("1e3", 1000.0),
        ("0.5", 0.5),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("~", None),
        ("null", None),
        ("", None),
        ("'true'", "true"),
        ('"010"', "010"),
        ("|\n  text", "text\n"),
    ],
)
def test_yaml_12_core_schema(plain: str, value: object) -> None:
    assert parse_yaml(f"v: {plain}\n", "t.yaml", SPEC).data == {"v": value}


def test_nan_keys_as_strings_and_json() -> None:
    nan = parse_yaml("v: .nan\n", "t.yaml", SPEC).data
    assert isinstance(nan, dict) and math.isnan(nan["v"])
    assert parse_yaml("1: a\ntrue: b\nnull: c\n", "t.yaml", SPEC).data == {
        "1": "a",
        "true": "b",
        "null": "c",
    }
    assert parse_yaml('{"a": "x\\/y", "b": [1, 2.5, null]}', "t.json", SPEC).data == {
        "a": "x/y",
        "b": [1, 2.5, None],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "%YAML 1.1\n---\na: yes\n",
            "t.yaml: line 2, column 1: invalid YAML: %YAML 1.1 is not supported: documents are "
            "YAML 1.2",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "t.yaml: line 2, column 1: invalid YAML: expected a single document in the stream "
            "(line 1, column 1), but found another document",
        ),
        (
            "a:\n  <<: {b: 1}\n",
            "t.yaml: a (line 2): keys must be plain names (no merge keys, no lists)",
        ),
        (
            "? [a]\n: 1\n",
            "t.yaml: (root) (line 1): keys must be plain names (no merge keys, no lists)",
        ),
        ("a: *nowhere\n", "t.yaml: a (line 1): aliases (*name) are not supported: write it out"),
        (
            "a: " + "9" * 5000 + "\n",
            "t.yaml: a (line 1): invalid YAML value: integer of 5000 digits is too large",
        ),
        (
            "a: 1\nb: x\x07\n",
            "t.yaml: line 2, column 5: invalid YAML: unacceptable character #x0007: special "
            "characters are not allowed",
        ),
    ],
)
def test_refusals_are_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml(text, "t.yaml", SPEC)
    assert str(caught.value) == message


@pytest.mark.parametrize("version", ["1.3", "2.0"])
def test_other_yaml_versions_are_refused(version: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml(f"%YAML {version}\n---\na: 1\n", "t.yaml", SPEC)
    assert caught.value.reason.startswith("invalid YAML: ")
    assert "\n" not in str(caught.value)


def test_nesting_limit_is_quick_even_for_a_megabyte_of_brackets() -> None:
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        parse_yaml("a: " + "[" * 10**6, "t.yaml", YamlSpec(what="t", max_bytes=2 * 10**6))
    assert time.perf_counter() - started < 5.0  # the scanner looks at most 1024 characters ahead
    assert caught.value.location == f"line 1, column {MAX_DEPTH + 3}"
    assert caught.value.reason == f"invalid YAML: nesting deeper than {MAX_DEPTH} levels"


def test_an_anchor_without_alias_and_a_bom_are_harmless(tmp_path: Path) -> None:
    assert parse_yaml("a: &x 1\nb: &x 2\n", "t.yaml", SPEC).data == {"a": 1, "b": 2}
    path = tmp_path / "aiops.yaml"
    path.write_bytes(b"\xef\xbb\xbfllm: {enabled: false}\n")
    assert load_settings(path).llm.enabled is False


def test_lines_are_file_lines_for_front_matter() -> None:
    document = parse_yaml("a:\n  b: [x, y]\n", "r.md", SPEC, first_line=2)
    assert document.where(("a", "b", 1)) == "a.b[1] (line 3)"
    assert document.where(("a", "zzz")) == "a.zzz (line 2)"
    assert document.where(()) == "(root)"


def test_text_over_the_limit_is_refused_in_bytes_not_characters() -> None:
    small = YamlSpec(what="tiny thing", max_bytes=2048)
    with pytest.raises(InputError) as caught:
        parse_yaml("a: " + "é" * 1024, "t.yaml", small)
    assert caught.value.reason == "larger than 2048 bytes (2 KiB): not a tiny thing"


def test_the_settings_example_in_the_docs_loads(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert len(blocks) == 1
    path = tmp_path / "aiops.yaml"
    path.write_text(blocks[0], encoding="utf-8")
    settings = load_settings(path)
    assert settings.llm.enabled is False and settings.prometheus.verify_tls is True
    assert settings.kube.namespaces == ("shop",)
