"""The rule pack and the checks agree: a file per check, a check per file, valid files."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshguard.checks import MODULES, register_all
from meshguard.config import parameter_names
from meshguard.errors import RuleFileError
from meshguard.registry import CHECKS, check, load_rule, load_rules, rule_files

LOADER_RULES = {"MG000", "MG001"}  # reported by the loader and engine, not by a check
register_all()


def test_every_rule_file_has_a_check_and_every_check_a_file() -> None:
    files = {p.stem for p in rule_files()}
    assert files - LOADER_RULES == set(CHECKS)


def test_rule_files_validate_against_the_schema() -> None:
    rules = load_rules(validate=True)
    assert "MG000" in rules


def test_rule_params_name_real_parameters() -> None:
    known = set(parameter_names()) | {n.split(".")[0] for n in parameter_names()}
    for meta in load_rules().values():
        assert set(meta.params) <= known, meta.id


def test_registering_an_id_twice_is_refused() -> None:
    some_id = next(iter(CHECKS))
    with pytest.raises(AssertionError, match="registered twice"):
        check(some_id)(lambda res, ctx: iter(()))


def test_each_rule_file_names_the_module_that_registers_it() -> None:
    for meta in load_rules().values():
        if meta.id in LOADER_RULES:
            assert meta.check_module == ""
            continue
        assert meta.check_module in MODULES, meta.id
        assert CHECKS[meta.id].__module__ == f"meshguard.checks.{meta.check_module}", meta.id


def _rule_text(order: list[str]) -> str:
    parts = {
        "id": "id: MG999",
        "title": "title: A rule",
        "severity": "severity: warning",
        "check": "check: mtls",
        "applies_to": "applies_to:\n  security.istio.io: [PeerAuthentication]",
        "what": "what: >-\n  It checks.",
        "why": "why: >-\n  Because.",
    }
    return "\n".join(parts[key] for key in order) + "\n"


def test_lint_reads_only_the_head_and_the_prose_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "MG999.yaml"
    path.write_text(
        _rule_text(["id", "title", "severity", "check", "applies_to", "what", "why"]),
        encoding="utf-8",
    )
    meta = load_rule(path)
    assert (meta.id, meta.severity.value, meta.check_module) == ("MG999", "warning", "mtls")
    assert meta.applies_to == (("security.istio.io", "PeerAuthentication"),)
    assert (meta.what, meta.why, meta.fix_safety.value) == ("It checks.", "Because.", "none")


def test_a_head_key_after_the_prose_is_refused_with_the_order(tmp_path: Path) -> None:
    text = next(p for p in rule_files() if p.stem == "MG204").read_text(encoding="utf-8")
    assert "\nseverity: warning\n" in text
    moved = text.replace("\nseverity: warning\n", "\n").replace(
        "\nreferences:", "\nseverity: warning\nreferences:"
    )
    path = tmp_path / "MG204.yaml"
    path.write_text(moved, encoding="utf-8")
    with pytest.raises(RuleFileError, match="'severity' is missing or invalid before `what:`"):
        load_rule(path)
    with pytest.raises(RuleFileError, match="keys must come in this order: id, title, severity"):
        load_rule(path, validate=True)
