"""`--format sarif`: SARIF 2.1.0 for code scanning, with rule metadata and help text."""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from meshguard import __version__
from meshguard.engine import Result
from meshguard.model import Finding, Severity
from meshguard.registry import RuleMeta
from meshguard.report import ReportOptions, is_fixable

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
INFORMATION_URI = "https://github.com/meshguard/meshguard"


def _rule_descriptor(meta: RuleMeta) -> dict[str, Any]:
    help_text = (
        f"{meta.what}\n\nWhy: {meta.why}\n\nFix ({meta.fix_safety.value}): {meta.fix_summary}"
    )
    return {
        "id": meta.id,
        "name": "".join(word.capitalize() for word in meta.title.replace("`", "").split()[:8]),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.what},
        "help": {"text": help_text, "markdown": help_text.replace("\n\nWhy:", "\n\n**Why:**")},
        "helpUri": meta.docs_url,
        "defaultConfiguration": {"level": _LEVEL[meta.severity]},
        "properties": {"tags": ["service-mesh", "kubernetes"]},
    }


def _uri(path: str) -> str:
    """A URI reference (RFC 3986): spaces, `#`, `%` and the like percent-encoded."""
    if path == "<stdin>":
        return "stdin"
    pure = PurePath(path)
    return (
        pure.as_uri() if pure.is_absolute() else quote(pure.as_posix())
    )  # file:///... if absolute


def _result(f: Finding, index: dict[str, int], options: ReportOptions) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(f.file)},
            "region": {"startLine": f.position.line, "startColumn": f.position.column},
        }
    }
    if f.resource is not None:
        location["logicalLocations"] = [{"fullyQualifiedName": f.resource.ref, "kind": "resource"}]
    out: dict[str, Any] = {
        "ruleId": f.rule,
        "level": _LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [location],
        "properties": {"jsonPointer": f.pointer, "fixable": is_fixable(f, options.unsafe_fixes)},
    }
    if f.rule in index:
        out["ruleIndex"] = index[f.rule]
    return out


def render_sarif(result: Result, options: ReportOptions) -> str:

    metas = [options.rules[r] for r in sorted(options.rules)]
    index = {meta.id: i for i, meta in enumerate(metas)}
    results = [_result(f, index, options) for f in result.findings]
    if options.show_suppressed:
        for f, how in result.suppressed:
            entry = _result(f, index, options)
            entry["suppressions"] = [{"kind": "inSource", "justification": how}]
            results.append(entry)

    doc = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "meshguard",
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule_descriptor(m) for m in metas],
                    }
                },
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
