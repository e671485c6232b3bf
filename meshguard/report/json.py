"""`--format json`: a stable, documented object (README "JSON output")."""

from __future__ import annotations

import json
from typing import Any

from meshguard import __version__
from meshguard.engine import Result
from meshguard.model import Finding
from meshguard.report import ReportOptions, counts, is_fixable


def finding_dict(f: Finding, options: ReportOptions) -> dict[str, Any]:
    return {
        "rule": f.rule,
        "severity": f.severity.value,
        "message": f.message,
        "file": f.file,
        "line": f.position.line,
        "column": f.position.column,
        "path": f.pointer,
        "resource": f.resource_id(),
        "fixable": is_fixable(f, options.unsafe_fixes),
        "fix": f.fix.title if f.fix else None,
    }


def render_json(result: Result, options: ReportOptions) -> str:
    tally = counts(result)
    doc: dict[str, Any] = {
        "version": __version__,
        "findings": [finding_dict(f, options) for f in result.findings],
        "summary": {
            "files": result.files,
            "resources": result.resources,
            "errors": tally["error"],
            "warnings": tally["warning"],
            "infos": tally["info"],
            "fixable": sum(is_fixable(f, options.unsafe_fixes) for f in result.findings),
            "suppressed": len(result.suppressed),
        },
    }
    if options.show_suppressed:
        doc["suppressed"] = [
            {**finding_dict(f, options), "suppressed_by": how} for f, how in result.suppressed
        ]
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"
