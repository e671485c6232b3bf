"""Every example of every rule file runs: exact findings for `fail`, quiet for `pass`, `fixed`."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer
import pytest

from tests.lintkit import RULES, lint_text

CASES = [
    pytest.param(meta, example, id=f"{meta.id}-{'fail' if 'fail' in example else 'pass'}-{i}")
    for meta in RULES.values()
    for i, example in enumerate(meta.examples)
]


# RULES.md §2: namespace-level and cross-resource rules need only be quiet in another rule's
# pass example when it includes the documents they need.
NEEDS_MORE_DOCUMENTS = {"MG101", "MG104"}


def _needs_more_documents(rule_id: str) -> bool:
    return rule_id in NEEDS_MORE_DOCUMENTS or rule_id.startswith("MG6")


@pytest.mark.parametrize(("meta", "example"), CASES)
def test_rule_example(meta: Any, example: dict[str, Any]) -> None:
    params = example.get("params")
    if "pass" in example:
        result = lint_text(example["pass"], params)
        loud = [
            f
            for f in result.findings
            if f.severity.value != "info"
            and (f.rule == meta.id or not _needs_more_documents(f.rule))
        ]
        assert loud == [], "a pass example must raise no error or warning"
        return
    result = lint_text(example["fail"], params)
    got = sorted(
        (f.pointer, f.position.line, f.severity.value) for f in result.findings if f.rule == meta.id
    )
    want = sorted(
        (e["pointer"], e["line"], e.get("severity", got[0][2] if got else meta.severity.value))
        for e in example["findings"]
    )
    if all("severity" not in e for e in example["findings"]):
        got = [(p, line, "-") for p, line, _ in got]
        want = [(p, line, "-") for p, line, _ in want]
    assert got == want
    if "fixed" in example:
        _check_fixed(meta.id, result, example["fixed"])


def _check_fixed(rule_id: str, result: Any, fixed: dict[str, Any]) -> None:
    findings = [f for f in result.findings if f.rule == rule_id and f.fix is not None]
    assert findings, "`fixed` given but no finding carries a fix"
    bodies: dict[int, Any] = {}
    new_docs: list[Any] = []
    for f in findings:
        body = bodies.setdefault(id(f.resource), copy.deepcopy(dict(f.resource.body)))
        bodies[id(f.resource)] = jsonpatch.apply_patch(body, list(f.fix.ops))
        new_docs.extend(f.fix.new_documents)
    first = bodies[id(findings[0].resource)]
    for key, value in fixed.items():
        if key.startswith("new:"):
            assert jsonpointer.resolve_pointer(new_docs, key[4:]) == value, key
        else:
            assert jsonpointer.resolve_pointer(first, key, default="<absent>") == value, key
