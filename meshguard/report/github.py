"""`--format github`: GitHub Actions workflow commands, one annotation per finding."""

from __future__ import annotations

from meshguard.engine import Result
from meshguard.model import Severity
from meshguard.report import ReportOptions

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: Result, options: ReportOptions) -> str:
    lines = []
    for f in result.findings:
        where = f"line={f.position.line},col={f.position.column}"
        props = f"file={_prop(f.file)},{where},title={_prop(f.rule)}"
        lines.append(f"::{_LEVEL[f.severity]} {props}::{_data(f'{f.rule} {f.message}')}")
    return "".join(line + "\n" for line in lines)
