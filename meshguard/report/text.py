"""Human output: findings grouped by file (colour on a terminal only), then one summary line."""

from __future__ import annotations

from itertools import groupby

from meshguard.engine import Result
from meshguard.model import Severity
from meshguard.report import ReportOptions, counts, is_fixable

_COLORS = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}


def _paint(text: str, code: str, on: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if on else text


def render_text(result: Result, options: ReportOptions) -> str:
    out: list[str] = []
    for path, group in groupby(result.findings, key=lambda f: f.file):
        out.append(_paint(path, "1;4", options.color))
        for f in group:
            where = f"{f.position.line}:{f.position.column}".ljust(8)
            level = _paint(f.severity.value.ljust(7), _COLORS[f.severity], options.color)
            mark = " [*]" if is_fixable(f, options.unsafe_fixes) else ""
            out.append(f"  {where}{level}  {f.rule}  {f.message}{mark}")
        out.append("")
    if options.show_suppressed and result.suppressed:
        out.append(_paint("suppressed", "2", options.color))
        for f, how in result.suppressed:
            out.append(
                f"  {f.file}:{f.position.line}:{f.position.column}  {f.rule}  {f.message}  ({how})"
            )
        out.append("")
    out.append(_summary(result, options))
    return "\n".join(out) + "\n"


def _plural(count: int, severity: Severity) -> str:
    return "s" if count != 1 and severity is not Severity.INFO else ""


def _summary(result: Result, options: ReportOptions) -> str:
    tally = counts(result)
    scanned = f"{_count(result.resources, 'resource')} in {_count(result.files, 'file')}"
    if not result.findings:
        line = f"no problems in {scanned}"
    else:
        total = len(result.findings)
        parts = ", ".join(
            f"{tally[s.value]} {s.value}{_plural(tally[s.value], s)}" for s in Severity
        )
        line = f"{total} problem{'s' if total != 1 else ''} ({parts}) in {scanned}"
        fixable = sum(is_fixable(f, options.unsafe_fixes) for f in result.findings)
        if fixable:
            line += f"; {fixable} fixable with `meshguard fix` [*]"
    if result.suppressed and not options.show_suppressed:
        line += f"; {len(result.suppressed)} suppressed (--show-suppressed)"
    return line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def render_parsable(result: Result, options: ReportOptions) -> str:
    """`path:line:col: MG204 warning: message`, one per line (editors, grep)."""
    lines = [
        f"{f.file}:{f.position.line}:{f.position.column}: {f.rule} {f.severity.value}: {f.message}"
        for f in result.findings
    ]
    return "".join(line + "\n" for line in lines)
