"""Helpers for tests: lint YAML text in-process with chosen parameters."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from meshguard.config import Config, with_parameters
from meshguard.engine import Result, run
from meshguard.loader import load_text
from meshguard.model import Finding
from meshguard.registry import RuleMeta, load_rules

RULES: dict[str, RuleMeta] = load_rules()


def lint_text(
    text: str, params: Mapping[str, Any] | None = None, name: str = "input.yaml"
) -> Result:
    config = with_parameters(Config(), params) if params else Config()
    return run([load_text(textwrap.dedent(text), name)], config, RULES)


def findings_of(text: str, rule: str, params: Mapping[str, Any] | None = None) -> list[Finding]:
    return [f for f in lint_text(text, params).findings if f.rule == rule]


def lines_of(
    text: str, rule: str, params: Mapping[str, Any] | None = None
) -> list[tuple[int, str]]:
    """(line, severity) of a rule's findings: the compact table rule tests assert against."""
    return [(f.position.line, f.severity.value) for f in findings_of(text, rule, params)]
