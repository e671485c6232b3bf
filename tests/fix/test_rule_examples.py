"""Every rule example with `fixed` values, through the real `meshguard fix --unsafe-fixes`.

The example is written to a file and fixed in place with `--rule` set to the example's rule (the
`fixed` values describe that rule's repair): the `fixed` pointers hold their values in the
rewritten file, every line outside the repaired fields is byte-identical, and a second run
changes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpointer
import pytest
import yaml

import meshguard.fix
from meshguard.cli import main
from meshguard.fix import FixReport
from meshguard.loader import compose_documents
from tests.fix.support import assert_only_repaired_lines_changed, data_of, lint
from tests.lintkit import RULES

FIXED = [
    pytest.param(meta.id, example, id=f"{meta.id}-fail-{i}")
    for meta in RULES.values()
    for i, example in enumerate(meta.examples)
    if "fail" in example and "fixed" in example
]


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[FixReport]:
    """The report of every `fix_files` call the CLI makes (the ops it applied, per file)."""
    captured: list[FixReport] = []
    real = meshguard.fix.fix_files

    def spy(*args: Any, **kwargs: Any) -> FixReport:
        captured.append(real(*args, **kwargs))
        return captured[-1]

    monkeypatch.setattr(meshguard.fix, "fix_files", spy)
    return captured


def _fix(tmp_path: Path, rule: str, params: dict[str, Any] | None, target: Path) -> int:
    config = tmp_path / ".meshguard.yaml"
    config.write_text(yaml.safe_dump({"parameters": params or {}}), encoding="utf-8")
    return main(["fix", "--unsafe-fixes", "--rule", rule, "--config", str(config), str(target)])


@pytest.mark.parametrize(("rule", "example"), FIXED)
def test_fix_writes_the_fixed_values_and_nothing_else(
    rule: str,
    example: dict[str, Any],
    tmp_path: Path,
    reports: list[FixReport],
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = example["fail"]
    params = example.get("params")
    target = tmp_path / "example.yaml"
    target.write_text(text, encoding="utf-8")

    assert _fix(tmp_path, rule, params, target) == 1, capsys.readouterr().err
    new = target.read_text(encoding="utf-8")
    err = capsys.readouterr().err
    assert "not applied" not in err and "error" not in err, err
    outcome = reports[-1].files[0]
    assert_only_repaired_lines_changed(text, new, outcome.applied)

    first = next(f for f in lint(text, params=params).findings if f.rule == rule and f.fix)
    assert first.resource is not None
    before = len(compose_documents(text))
    after = data_of(new)
    body = _resource_data(
        text, after, first.resource.origin.doc_index, first.resource.origin.position_of("")
    )
    for key, value in example["fixed"].items():
        if key.startswith("new:"):
            assert jsonpointer.resolve_pointer(after[before:], key[4:]) == value, key
        else:
            assert jsonpointer.resolve_pointer(body, key, default="<absent>") == value, key

    assert _fix(tmp_path, rule, params, target) == 0, "a second run changed the file"
    assert target.read_text(encoding="utf-8") == new


def _resource_data(original: str, after: list[Any], doc_index: int, start: Any) -> Any:
    """The fixed data of the resource that starts at `start` in the original text."""
    root = compose_documents(original)[doc_index]
    data = after[doc_index]
    if isinstance(root, yaml.MappingNode) and (
        root.start_mark.line + 1,
        root.start_mark.column + 1,
    ) != (
        start.line,
        start.column,
    ):
        items = next(v for k, v in root.value if getattr(k, "value", None) == "items")
        index = next(
            i
            for i, item in enumerate(items.value)
            if (item.start_mark.line + 1, item.start_mark.column + 1) == (start.line, start.column)
        )
        return data["items"][index]
    return data


def test_every_fixable_rule_has_an_example_with_fixed_values() -> None:
    """A rule whose fix `meshguard fix` applies shows what it writes."""
    fixable = {m.id for m in RULES.values() if m.fix_safety.value != "none"}
    assert fixable <= {rule for rule, *_ in (p.values for p in FIXED)}
