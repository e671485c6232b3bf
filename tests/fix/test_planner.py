"""How fixes are accepted into one pass (meshguard.fix), below the command line."""

from __future__ import annotations

from meshguard.fix import FixOptions, _ResourcePlanner
from meshguard.loader import compose_documents
from meshguard.model import Fix
from meshguard.yamlstyle import detect_style
from tests.fix.support import fix_text

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {}\n"


def planner_for(text: str) -> _ResourcePlanner:
    docs = compose_documents(text)
    return _ResourcePlanner(text, detect_style(text, docs), frozenset(), docs[0], (0, ""))


def test_operations_are_not_changed_by_applying_them() -> None:
    """jsonpatch puts an op's value into the document as is; a later op of the same fix must
    not alter the operation (verification applies the operations again)."""
    fix = Fix(
        "t",
        (
            {"op": "add", "path": "/data/list", "value": ["x"]},
            {"op": "add", "path": "/data/list/-", "value": "y"},
        ),
    )
    planner = planner_for(CONFIG_MAP)
    assert planner.offer(fix) == fix.ops
    assert fix.ops[0]["value"] == ["x"]
    assert planner.desired["data"] == {"list": ["x", "y"]}


def test_overlapping_fixes_wait_for_the_next_pass() -> None:
    planner = planner_for(CONFIG_MAP)
    first = Fix("a", ({"op": "add", "path": "/data/k", "value": "1"},))
    inside = Fix("b", ({"op": "add", "path": "/data/k/x", "value": "2"},))
    apart = Fix("c", ({"op": "add", "path": "/data/j", "value": "3"},))
    assert planner.offer(first) == first.ops
    assert planner.offer(inside) is None  # waits
    assert planner.offer(apart) == apart.ops


def test_unappliable_and_empty_operations_are_reported() -> None:
    planner = planner_for(CONFIG_MAP)
    missing = Fix("m", ({"op": "replace", "path": "/data/nope", "value": 1},))
    same = Fix("s", ({"op": "replace", "path": "/metadata/name", "value": "a"},))
    assert str(planner.offer(missing)).startswith("its operations do not apply")
    assert planner.offer(same) == "its operations change nothing"


def test_a_file_that_does_not_parse_is_left_alone() -> None:
    report = fix_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: web\n")
    outcome = report.files[0]
    assert outcome.unparsable is not None and outcome.unparsable.rule == "MG000"
    assert not outcome.changed and report.passes == 1
    assert FixOptions().max_passes == 5
