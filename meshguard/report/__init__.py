"""Reporters: one module per output format, each a pure function from a `Result` to text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from meshguard.engine import Result
from meshguard.model import Finding, Safety, Severity
from meshguard.registry import RuleMeta

FORMATS = ("text", "parsable", "json", "sarif", "github")


class ReportOptions(NamedTuple):
    rules: Mapping[str, RuleMeta]
    color: bool = False
    show_suppressed: bool = False
    unsafe_fixes: bool = False


def is_fixable(finding: Finding, unsafe_fixes: bool = False) -> bool:
    """True when `meshguard fix` would repair it (unsafe fixes only with --unsafe-fixes)."""
    fix = finding.fix
    if fix is None or fix.safety is Safety.NONE:
        return False
    return fix.safety is Safety.SAFE or unsafe_fixes


def counts(result: Result) -> dict[str, int]:
    tally = {s.value: 0 for s in Severity}
    for finding in result.findings:
        tally[finding.severity.value] += 1
    return tally


def render(fmt: str, result: Result, options: ReportOptions) -> str:
    if fmt == "json":
        from meshguard.report.json import render_json as fn
    elif fmt == "sarif":
        from meshguard.report.sarif import render_sarif as fn
    elif fmt == "github":
        from meshguard.report.github import render_github as fn
    elif fmt == "parsable":
        from meshguard.report.text import render_parsable as fn
    else:
        from meshguard.report.text import render_text as fn
    return fn(result, options)
