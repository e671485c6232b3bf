"""The one engine behind lint, fix and the webhook: resources in, sorted findings out.

Dispatch is precomputed by (group, kind) once per run; every rule runs once over the
resources of its kinds; cross-resource rules read the `Inventory`. Suppression (an annotation
on the resource, or a `# meshguard: ignore[MGnnn]` comment) is applied here, so every face
treats it the same way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from meshguard import forks
from meshguard.config import Config
from meshguard.inventory import Inventory
from meshguard.loader import LoadedFile
from meshguard.model import Finding, Position, Resource, Severity
from meshguard.registry import CHECKS, CheckFn, RuleContext, RuleMeta, import_checks

IGNORE_ANNOTATION = "meshguard.io/ignore"
INTERNAL_ERROR_RULE = "MG000"
UNUSED_SUPPRESSION_RULE = "MG001"
_COMMENT = re.compile(r"#\s*meshguard:\s*ignore\[([A-Za-z0-9_,\s]+)\]")


@dataclass(slots=True)
class Result:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[tuple[Finding, str]] = field(default_factory=list)  # (finding, how)
    files: int = 0
    resources: int = 0


def build_dispatch(
    rules: Mapping[str, RuleMeta],
    config: Config,
    kinds: Iterable[tuple[str, str]] | None = None,
) -> dict[tuple[str, str], list[RuleMeta]]:
    """(group, kind) → enabled rules with a registered check, in rule id order.

    With `kinds` (the kinds present in the run) only the rules that can fire are kept, and only
    their check modules are imported.
    """
    wanted = None if kinds is None else set(kinds)
    active = [
        meta
        for meta in rules.values()
        if config.rule_enabled(meta.id) and (wanted is None or wanted.intersection(meta.applies_to))
    ]
    if kinds is None or any(not meta.check_module for meta in active if meta.applies_to):
        from meshguard.checks import register_all

        register_all()  # a rule that names no module: import them all
    else:
        import_checks(active)
    table: dict[tuple[str, str], list[RuleMeta]] = defaultdict(list)
    for meta in active:
        if meta.id in CHECKS:
            for key in meta.applies_to:
                table[key].append(meta)
    return dict(table)


def run(
    files: Sequence[LoadedFile],
    config: Config,
    rules: Mapping[str, RuleMeta],
    context: Iterable[Resource] = (),
    jobs: int = 1,
) -> Result:
    """Check every resource of `files`; `context` resources feed the inventory only.

    With `jobs` > 1 and enough resources, forked workers check contiguous shares of the
    resources against the same (inherited, copy-on-write) inventory; findings are the same
    as a serial run because they are sorted and de-duplicated afterwards.
    """
    result = Result(files=len(files))
    primary = [res for f in files for res in f.resources]
    result.resources = len(primary)
    inventory = Inventory([*primary, *context], config.params)
    dispatch = build_dispatch(rules, config, {(r.group, r.kind) for r in primary})
    contexts = {
        meta.id: RuleContext(meta, config.params, inventory)
        for metas in dispatch.values()
        for meta in metas
    }

    raw: list[Finding] = [e for f in files for e in f.errors if config.rule_enabled(e.rule)]
    plan = _Plan(primary, dispatch, contexts, inventory.resources)
    if jobs > 1 and len(primary) >= PARALLEL_MIN_RESOURCES and forks.can_fork():
        raw.extend(_check_in_parallel(plan, jobs))
    else:
        raw.extend(plan.check((0, len(primary))))

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
    if config.rule_enabled(UNUSED_SUPPRESSION_RULE):
        result.findings.extend(_unused_suppressions(comments, config, rules))
        result.findings.sort(key=lambda f: f.sort_key)
    return result


PARALLEL_MIN_RESOURCES = 2_000  # below this, forking costs more than it saves


class _Plan(NamedTuple):
    """What checking a share of the resources needs: all of it inherited by a forked child."""

    primary: list[Resource]
    dispatch: Mapping[tuple[str, str], list[RuleMeta]]
    contexts: Mapping[str, RuleContext]
    everything: list[Resource]

    def check(self, bounds: tuple[int, int]) -> list[Finding]:
        out: list[Finding] = []
        for res in self.primary[bounds[0] : bounds[1]]:
            for meta in self.dispatch.get((res.group, res.kind), ()):
                out.extend(_run_check(CHECKS[meta.id], res, self.contexts[meta.id]))
        return out

    def check_detached(self, bounds: tuple[int, int]) -> list[tuple[Finding, int]]:
        """Findings with their resource replaced by its index, so that a child sends back only
        the findings, never the documents."""
        index = {id(res): i for i, res in enumerate(self.everything)}
        return [
            (replace(f, resource=None), index.get(id(f.resource), -1)) for f in self.check(bounds)
        ]


def _check_in_parallel(plan: _Plan, jobs: int) -> list[Finding]:
    """Contiguous shares of the resources, checked in this process and forked children."""
    size = len(plan.primary)
    bounds = [(size * i // jobs, size * (i + 1) // jobs) for i in range(jobs)]
    return [
        replace(f, resource=plan.everything[index] if index >= 0 else None)
        for share in forks.fork_map(plan.check_detached, bounds)
        for f, index in share
    ]


def _run_check(fn: CheckFn, res: Resource, ctx: RuleContext) -> list[Finding]:
    """Run one check; a crash on a hostile document becomes a finding, not a traceback."""
    ctx.resource = res
    try:
        return list(fn(res, ctx))
    except Exception:  # noqa: BLE001  (boundary: one rule on one document)
        import logging  # only on this path: start-up time matters

        # the traceback only with --verbose: the finding below tells the user what to do
        logging.getLogger(__name__).info(
            "%s crashed on %s in %s", ctx.rule.id, res.ref, res.origin.file, exc_info=True
        )
        return [
            Finding(
                INTERNAL_ERROR_RULE,
                Severity.ERROR,
                f"internal error in {ctx.rule.id} on {res.ref}; please report it with this "
                "document and the traceback that --verbose prints",
                res.origin.file,
                res.origin.position_of(""),
                "",
                res,
            )
        ]
    finally:
        ctx.resource = None


@dataclass(slots=True)
class _Comment:
    """A `# meshguard: ignore[...]` comment: where it is, what it names, which lines it covers."""

    line: int
    ids: frozenset[str]
    targets: tuple[int, ...]
    used: set[str] = field(default_factory=set)


def _comment_suppressions(text: str) -> dict[int, list[_Comment]]:
    """Target line → the comments naming rules for it: the comment's own line, and the next
    line when the comment stands alone on its line."""
    if "meshguard:" not in text:
        return {}
    out: dict[int, list[_Comment]] = {}
    for index, line in enumerate(text.splitlines()):
        match = _COMMENT.search(line)
        if not match:
            continue
        ids = frozenset(part.strip().upper() for part in match.group(1).split(",") if part.strip())
        number = index + 1
        targets = (number, number + 1) if line.lstrip().startswith("#") else (number,)
        comment = _Comment(number, ids, targets)
        for target in targets:
            out.setdefault(target, []).append(comment)
    return out


def _suppressed_by(finding: Finding, comments: Mapping[int, list[_Comment]]) -> str:
    for comment in comments.get(finding.position.line, ()):
        if finding.rule in comment.ids:
            comment.used.add(finding.rule)
            return f"comment on line {comment.line}"
    res = finding.resource
    if res is not None:
        value = res.annotations.get(IGNORE_ANNOTATION)
        if isinstance(value, str) and finding.rule in {v.strip().upper() for v in value.split(",")}:
            return f"annotation {IGNORE_ANNOTATION} on {res.ref}"
    return ""


def _unused_suppressions(
    comments: Mapping[str, Mapping[int, list[_Comment]]],
    config: Config,
    rules: Mapping[str, RuleMeta],
) -> list[Finding]:
    """MG001: a suppression comment that silenced nothing, or names no rule (ruff's RUF100).

    Stale suppressions hide the next real finding on that line, so they are reported (as info)
    for rules that ran; a disabled rule's suppression is left alone.
    """
    out = []
    for path, by_line in comments.items():
        seen: set[int] = set()
        for comment in (c for line in sorted(by_line) for c in by_line[line]):
            if id(comment) in seen:
                continue
            seen.add(id(comment))
            for rule_id in sorted(comment.ids - comment.used):
                if rule_id not in rules:
                    message = f"suppression names unknown rule id {rule_id}"
                elif config.rule_enabled(rule_id):
                    lines = " or ".join(map(str, comment.targets))
                    message = f"unused suppression: no {rule_id} finding on line {lines}"
                else:
                    continue
                out.append(
                    Finding(
                        UNUSED_SUPPRESSION_RULE,
                        Severity.INFO,
                        message,
                        path,
                        Position(comment.line, 1),
                        "",
                    )
                )
    return out
