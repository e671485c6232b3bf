"""Byte preservation over a corpus: every real-world file of ../shared/corpus and the crafted cases.

For each file, `fix --unsafe-fixes` (each file is its own run) may only change the lines of the
repaired fields; a second run changes nothing; the fixed findings no longer fire and no new
error appears. The real-world files are read where they are (the `corpus` fixture), never
copied into the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from meshguard.fix import FixReport
from meshguard.loader import load_text
from tests.fix.support import (
    assert_converged,
    assert_only_repaired_lines_changed,
    fix_text,
    lint,
)

CASES = Path(__file__).parent / "cases"
CASE_FILES = sorted(CASES.glob("*.yaml"))
# Fixes that the fixer refuses to write, by design: the field is shared through a YAML anchor.
EXPECTED_PROBLEMS = {"anchors.yaml": 2}


def check_file(text: str, name: str) -> FixReport:
    """Fix one file and assert the four properties; returns the report."""
    loaded = load_text(text, name)
    report = fix_text(text, name)
    outcome = report.files[0]
    if loaded.errors:
        assert outcome.unparsable and outcome.text == text and not outcome.changed
        return report
    assert not outcome.error, outcome.error
    assert_only_repaired_lines_changed(text, outcome.text, outcome.applied)
    again = fix_text(outcome.text, name)
    assert again.files[0].text == outcome.text, "a second run changed the file again"
    assert_converged(lint(text, name), report.result, report)
    return report


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig")


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_crafted_case_keeps_every_other_byte(path: Path) -> None:
    report = check_file(read(path), path.name)
    assert report.files[0].changed, "each crafted case exercises at least one fix"
    assert len(report.problems) == EXPECTED_PROBLEMS.get(path.name, 0), report.problems


def test_crafted_cases_cover_the_layouts() -> None:
    texts = {p.name: p.read_bytes() for p in CASE_FILES}
    assert any(b"\r\n" in t for t in texts.values())
    assert any(not t.endswith(b"\n") for t in texts.values())
    assert any(b"\n...\n" in t for t in texts.values())
    assert any(b"&" in t and b"*" in t for t in texts.values())
    assert any(b"\n  - " in t for t in texts.values()) and any(b"\n- " in t for t in texts.values())


def test_real_world_corpus_keeps_every_other_byte(corpus: Path) -> None:
    files = sorted(p for p in (corpus / "real-world").rglob("*") if p.suffix in (".yaml", ".yml"))
    assert len(files) + len(CASE_FILES) >= 30
    failures: list[str] = []
    fixed = 0
    for path in files:
        try:
            report = check_file(read(path), str(path))
        except AssertionError as exc:
            failures.append(f"{path.relative_to(corpus)}: {str(exc).splitlines()[0]}")
            continue
        fixed += sum(len(f.applied) for f in report.files)
        failures.extend(f"{path.relative_to(corpus)}: {p}" for p in report.problems)
    assert not failures, f"{len(failures)} of {len(files)} files:\n" + "\n".join(failures[:30])
    assert fixed > 0


def test_the_line_check_catches_a_stray_edit() -> None:
    """The corpus check itself: a comment changed away from any repaired field is caught."""
    text = read(CASES / "comments.yaml")
    outcome = fix_text(text).files[0]
    tampered = outcome.text.replace("# the LLM route", "# the llm route")
    with pytest.raises(AssertionError, match="outside the repaired fields"):
        assert_only_repaired_lines_changed(text, tampered, outcome.applied)
    assert_only_repaired_lines_changed(text, outcome.text, outcome.applied)
