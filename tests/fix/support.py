"""Helpers for the fix tests: run fix in-process, and check that a rewrite only touched the
lines of the repaired fields.

The allowed lines are computed from the original text's node tree and the operations the
run applied, independently of how `meshguard.textedit` places its edits.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import jsonpointer
import yaml

from meshguard.config import Config, with_parameters
from meshguard.engine import Result, run
from meshguard.fix import Applied, FixOptions, FixReport, fix_files
from meshguard.loader import compose_documents, load_text, node_data
from meshguard.model import Severity
from tests.lintkit import RULES

UNSAFE = FixOptions(unsafe=True)


def config_for(params: Mapping[str, Any] | None = None) -> Config:
    return with_parameters(Config(), params) if params else Config()


def fix_text(
    text: str,
    name: str = "input.yaml",
    options: FixOptions = UNSAFE,
    params: Mapping[str, Any] | None = None,
) -> FixReport:
    return fix_files([load_text(text, name)], config_for(params), RULES, options)


def lint(text: str, name: str = "input.yaml", params: Mapping[str, Any] | None = None) -> Result:
    return run([load_text(text, name)], config_for(params), RULES)


# -- which lines a fix may change ---------------------------------------------------------------


def _child(node: yaml.Node, token: str) -> tuple[yaml.Node | None, yaml.Node | None, int]:
    """(value, key node or None for an item, index in the parent) of one pointer token."""
    if isinstance(node, yaml.MappingNode):
        found: tuple[yaml.Node | None, yaml.Node | None, int] = (None, None, -1)
        for index, (key, value) in enumerate(node.value):
            if isinstance(key, yaml.ScalarNode) and key.value == token:
                found = (value, key, index)  # the last duplicate wins, as in the loader
        return found
    if isinstance(node, yaml.SequenceNode) and token.isdigit() and int(token) < len(node.value):
        return node.value[int(token)], None, int(token)
    return None, None, -1


def _last_line(node: yaml.Node) -> int:
    if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False) or not node.value:
        mark = node.end_mark
        return int(
            mark.line - 1 if mark.column == 0 and mark.line > node.start_mark.line else mark.line
        )
    last = node.value[-1]
    if isinstance(last, tuple):
        key, value = last
        if value.start_mark.index < key.end_mark.index:  # an alias
            return int(key.end_mark.line)
        return max(int(key.end_mark.line), _last_line(value))
    return _last_line(last)


def allowed_lines(original: str, applied: Iterable[Applied]) -> set[int]:
    """0-based lines of `original` that the applied operations may change.

    For every path an operation names: the key (or item) line of each node on the path, all
    lines of the node at the path when it exists, the whole of its nearest existing ancestor
    when that is a flow collection or a scalar (an insertion there edits the line), and, when
    the first key of a `- key: value` item goes, the next key's line (it moves up to the dash).
    """
    docs = compose_documents(original)
    lines: set[int] = set()
    for fix in applied:
        if fix.doc_index < 0:
            continue
        base = jsonpointer.JsonPointer(fix.base).parts if fix.base else []
        for op in fix.ops:
            for ptr in (op.get("path"), op.get("from")):
                if isinstance(ptr, str):
                    tokens = [*base, *jsonpointer.JsonPointer(ptr).parts]
                    lines |= _path_lines(original, docs[fix.doc_index], tokens)
    return lines


def _path_lines(text: str, root: yaml.Node | None, tokens: list[str]) -> set[int]:
    out: set[int] = set()
    node = root
    start = root.start_mark.line if root is not None else 0
    for token in tokens:
        if node is None:
            return out
        child, key, index = _child(node, token)
        if child is None:
            if isinstance(node, yaml.ScalarNode) or getattr(node, "flow_style", False):
                out |= set(range(node.start_mark.line, _last_line(node) + 1))
            return out
        start = key.start_mark.line if key is not None else child.start_mark.line
        out.add(start)
        on_dash = text.splitlines()[start].lstrip().startswith("- ")
        if key is not None and on_dash and index + 1 < len(node.value):
            out.add(node.value[index + 1][0].start_mark.line)
        node = child
    if node is not None:
        out |= set(range(start, _last_line(node) + 1))
    return out


def changed_lines(original: str, new: str) -> set[int]:
    """0-based lines of `original` that a line diff replaces or deletes (insertions are free)."""
    a, b = original.splitlines(), new.splitlines()
    out: set[int] = set()
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            out.update(range(i1, i2))
    return out


def assert_only_repaired_lines_changed(original: str, new: str, applied: Iterable[Applied]) -> None:
    applied = list(applied)
    stray = sorted(changed_lines(original, new) - allowed_lines(original, applied))
    lines = original.splitlines()
    assert not stray, "lines outside the repaired fields changed:\n" + "\n".join(
        f"  {i + 1}: {lines[i]!r}" for i in stray
    )
    assert original.endswith("\n") == new.endswith("\n") or not original, "final line break changed"
    if "\r\n" in original and "\n" not in original.replace("\r\n", ""):
        assert "\n" not in new.replace("\r\n", ""), "a CRLF file got LF line breaks"
    if "\r\n" not in original:
        assert "\r\n" not in new, "an LF file got CRLF line breaks"


# -- convergence --------------------------------------------------------------------------------


def resource_keys(result: Result, *, severity: Severity | None = None) -> set[tuple[str, ...]]:
    """(rule, kind, namespace, name, pointer) of findings, optionally of one severity."""
    out = set()
    for f in result.findings:
        if severity is not None and f.severity is not severity:
            continue
        res = f.resource
        ident = (res.kind, res.namespace, res.name) if res is not None else ("", "", "")
        out.add((f.rule, *ident, f.pointer))
    return out


def assert_converged(
    before: Result, after: Result, report: FixReport, options: FixOptions = UNSAFE
) -> None:
    """Findings whose fix was applied no longer fire, and no new error appeared."""
    applied = {
        (a.rule, a.line, a.pointer) for f in report.files for a in f.applied if a.pass_number == 1
    }
    fixed = [
        f
        for f in before.findings
        if options.wants(f) and (f.rule, f.position.line, f.pointer) in applied
    ]
    still = resource_keys(Result(findings=fixed)) & resource_keys(after)
    assert not still, f"fixed findings still fire: {sorted(still)}"
    # per (rule, resource): a fix may move an existing error's pointer (a v1alpha2 selector
    # becomes matchLabels) without making it new
    errors_before = {k[:4] for k in resource_keys(before, severity=Severity.ERROR)}
    new_errors = {
        k for k in resource_keys(after, severity=Severity.ERROR) if k[:4] not in errors_before
    }
    assert not new_errors, f"new errors after fixing: {sorted(new_errors)}"


def data_of(text: str) -> list[Any]:
    return [node_data(n) for n in compose_documents(text)]
