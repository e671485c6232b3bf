"""The one engine behind lint, fix and the webhook: resources in, sorted findings out.

Dispatch is precomputed by (group, kind) once per run; every rule runs once over the
resources of its kinds; cross-resource rules read the `Inventory`. Suppression (an annotation
on the resource, or a `# meshguard: ignore[MGnnn]` comment) is applied here, so every face
treats it the same way.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from meshguard.config import Config
from meshguard.inventory import Inventory
from meshguard.loader import LoadedFile
from meshguard.model import Finding, Position, Resource, Severity
from meshguard.registry import CHECKS, CheckFn, RuleContext, RuleMeta

log = logging.getLogger(__name__)

IGNORE_ANNOTATION = "meshguard.io/ignore"
INTERNAL_ERROR_RULE = "MG000"
_COMMENT = re.compile(r"#\s*meshguard:\s*ignore\[([A-Za-z0-9_,\s]+)\]")


@dataclass(slots=True)
class Result:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[tuple[Finding, str]] = field(default_factory=list)  # (finding, how)
    files: int = 0
    resources: int = 0


def build_dispatch(rules: Mapping[str, RuleMeta], config: Config) -> dict[tuple[str, str], list[RuleMeta]]:
    """(group, kind) → enabled rules that have a registered check, in rule id order."""
    import meshguard.checks  # noqa: F401  (fills the registry)

    table: dict[tuple[str, str], list[RuleMeta]] = defaultdict(list)
    for meta in rules.values():
        if meta.id in CHECKS and config.rule_enabled(meta.id):
            for key in meta.applies_to:
                table[key].append(meta)
    return dict(table)


def run(
    files: Sequence[LoadedFile],
    config: Config,
    rules: Mapping[str, RuleMeta],
    context: Iterable[Resource] = (),
) -> Result:
    """Check every resource of `files`; `context` resources feed the inventory only."""
    result = Result(files=len(files))
    primary = [res for f in files for res in f.resources]
    result.resources = len(primary)
    inventory = Inventory([*primary, *context], config.params)
    dispatch = build_dispatch(rules, config)
    contexts = {meta.id: RuleContext(meta, config.params, inventory) for metas in dispatch.values() for meta in metas}

    raw: list[Finding] = [e for f in files for e in f.errors if config.rule_enabled(e.rule)]
    for res in primary:
        for meta in dispatch.get((res.group, res.kind), ()):
            raw.extend(_run_check(CHECKS[meta.id], res, contexts[meta.id]))

    comments = {f.path: _comment_suppressions(f.text) for f in files}
    seen: set[tuple[object, ...]] = set()
    for finding in sorted(raw, key=lambda f: f.sort_key):
        key = (*finding.sort_key, finding.pointer)
        if key in seen:
            continue
        seen.add(key)
        override = config.severity.get(finding.rule)
        if override is not None and override != finding.severity:
            finding = replace(finding, severity=override)
        how = _suppressed_by(finding, comments.get(finding.file, {}))
        if how:
            result.suppressed.append((finding, how))
        else:
            result.findings.append(finding)
    return result


def _run_check(fn: CheckFn, res: Resource, ctx: RuleContext) -> list[Finding]:
    """Run one check; a crash on a hostile document becomes a finding, not a traceback."""
    ctx.resource = res
    try:
        return list(fn(res, ctx))
    except Exception:  # noqa: BLE001  (boundary: one rule on one document)
        log.exception("%s crashed on %s in %s", ctx.rule.id, res.ref, res.origin.file)
        return [
            Finding(
                INTERNAL_ERROR_RULE,
                Severity.ERROR,
                f"internal error in {ctx.rule.id} on {res.ref}; please report it with this document",
                res.origin.file,
                res.origin.position_of(""),
                "",
                res,
            )
        ]
    finally:
        ctx.resource = None


def _comment_suppressions(text: str) -> dict[int, frozenset[str]]:
    """Line → rule ids named by `# meshguard: ignore[...]` on that line or on a comment line just above."""
    if "meshguard:" not in text:
        return {}
    out: dict[int, frozenset[str]] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = _COMMENT.search(line)
        if not match:
            continue
        ids = frozenset(part.strip().upper() for part in match.group(1).split(",") if part.strip())
        out[index + 1] = out.get(index + 1, frozenset()) | ids
        if line.lstrip().startswith("#"):
            out[index + 2] = out.get(index + 2, frozenset()) | ids
    return out


def _suppressed_by(finding: Finding, comments: Mapping[int, frozenset[str]]) -> str:
    if finding.rule in comments.get(finding.position.line, ()):
        return f"comment on line {finding.position.line}"
    res = finding.resource
    if res is not None:
        value = res.annotations.get(IGNORE_ANNOTATION)
        if isinstance(value, str) and finding.rule in {v.strip().upper() for v in value.split(",")}:
            return f"annotation {IGNORE_ANNOTATION} on {res.ref}"
    return ""


def worst(findings: Iterable[Finding]) -> Severity | None:
    ranked = max((f.severity for f in findings), key=lambda s: s.rank, default=None)
    return ranked


def position_key(position: Position) -> tuple[int, int]:
    return (position.line, position.column)
