"""The README is what a platform engineer acts on: its commands and rule index must be current."""

from __future__ import annotations

from meshguard.docs import update_readme
from meshguard.registry import load_rules
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_rule_table_is_current() -> None:
    assert update_readme(README) == README, "run `python -m meshguard.docs` to refresh the README"


def test_every_rule_is_linked_to_its_docs() -> None:
    for rule_id in load_rules():
        assert f"[{rule_id}](rules/{rule_id}.yaml)" in README


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install '.[test]' && python -m pytest" in README
    assert "python -m pip install --quiet '.[test]'" in ci and "python -m pytest" in ci
