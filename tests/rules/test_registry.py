"""The rule pack and the checks agree: a file per check, a check per file, valid files."""

from __future__ import annotations

import pytest

from meshguard.checks import MODULES, register_all
from meshguard.config import parameter_names
from meshguard.registry import CHECKS, check, load_rules, rule_files

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
