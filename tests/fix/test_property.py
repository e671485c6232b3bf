"""Property tests: fix is idempotent and convergent over generated manifests, and its text
edits read back as jsonpatch says over random operations on real layouts.

Manifests come from the benchmark generator's templates (a namespace with its policies and a
KServe model with Service, VirtualService, DestinationRule and AuthorizationPolicy), with
hypothesis drawing the values the rules care about (attempts, timeouts, retryOn, mTLS mode,
load balancer) and the layout (CRLF, final line break, flow or block retries, indented or
flush sequences). Bounded so the default suite stays fast.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonpatch
import jsonpointer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import _KSERVE, _NAMESPACE
from meshguard.fix import _candidates, _ResourcePlanner
from meshguard.loader import compose_documents, node_data
from meshguard.model import Fix, escape_pointer_token
from meshguard.textedit import shared_nodes, with_final_break
from meshguard.yamlstyle import detect_style, same
from tests.conftest import REPO
from tests.fix.support import (
    assert_converged,
    assert_only_repaired_lines_changed,
    fix_text,
    lint,
)

RETRY_ON = st.lists(
    st.sampled_from(
        [
            "5xx",
            "reset",
            "connect-failure",
            "refused-stream",
            "unavailable",
            "gateway-error",
            "retriable-4xx",
            "cancelled",
            "bogus-token",
            " 5xx",
        ]  # fmt: skip
    ),
    min_size=1,
    max_size=4,
    unique=True,
)


_ALLOW_NOTHING = (
    r"---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
    r"  name: allow-nothing\n.*?spec: \{\}\n"
)


@st.composite
def manifests(draw: st.DrawFn) -> str:
    ns = draw(st.sampled_from(["ml-serving", "ml-team-1", "web"]))
    text = (
        _NAMESPACE.format(ns=ns)
        + "---\n"
        + _KSERVE.format(
            name="model-a",
            ns=ns,
            runtime=draw(st.sampled_from(["sklearn", "triton", "pytorch"])),
            replicas=2,
            version=draw(st.integers(1, 9)),
            timeout=draw(st.sampled_from([5, 30, 60, 120, 600])),
            attempts=draw(st.integers(0, 6)),
            per_try=draw(st.sampled_from([1, 10, 20, 60])),
        )
    )
    text = text.replace(
        "retryOn: connect-failure,refused-stream,unavailable",
        f"retryOn: {','.join(draw(RETRY_ON))}",
        1,
    )
    text = text.replace(
        "mode: STRICT", f"mode: {draw(st.sampled_from(['STRICT', 'PERMISSIVE', 'DISABLE']))}"
    )
    text = text.replace(
        "simple: LEAST_REQUEST",
        f"simple: {draw(st.sampled_from(['LEAST_REQUEST', 'ROUND_ROBIN']))}",
    )
    if draw(st.booleans()):  # drop the default-deny policy (MG104 adds it back)
        text = re.sub(_ALLOW_NOTHING, "", text, count=1, flags=re.S)
    if draw(st.booleans()):  # retries in flow style
        text = re.sub(
            r"retries:\n      attempts: (\d+)\n      perTryTimeout: (\w+)\n      retryOn: (.*)\n",
            lambda m: f'retries: {{attempts: {m[1]}, perTryTimeout: {m[2]}, retryOn: "{m[3]}"}}\n',
            text,
            count=1,
        )
    if draw(st.booleans()):  # indented sequences under spec keys
        text = re.sub(
            r"(?m)^(  )(hosts|http|ports):\n((?:  - .*\n|    .*\n)+)", _indent_sequence, text
        )
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text


def _indent_sequence(match: re.Match[str]) -> str:
    body = "".join("  " + line for line in match[3].splitlines(keepends=True))
    return f"{match[1]}{match[2]}:\n{body}"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifests())
def test_fix_is_idempotent_and_convergent(text: str) -> None:
    report = fix_text(text)
    outcome = report.files[0]
    assert not outcome.error, outcome.error
    assert not report.problems
    assert_only_repaired_lines_changed(text, outcome.text, outcome.applied)
    assert fix_text(outcome.text).files[0].text == outcome.text
    assert_converged(lint(text), report.result, report)


# -- random operations on real layouts: text edits read back as jsonpatch says --------------

LAYOUTS = sorted(Path(__file__).parent.joinpath("cases").glob("*.yaml")) + sorted(
    (REPO / "examples").rglob("*.yaml")
)
VALUES = st.one_of(
    st.sampled_from(["x", "true", "1.0", "0755", "a: b", "two\nlines\n", "é", "", "- x", "#"]),
    st.integers(-5, 9000),
    st.booleans(),
    st.none(),
    st.dictionaries(st.sampled_from(["k", "n", "8080"]), st.sampled_from(["v", 1]), max_size=2),
    st.lists(st.sampled_from(["a", 2]), max_size=2),
)


def _pointers(data: Any, base: str = "") -> list[tuple[str, Any]]:
    out = [(base, data)]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _pointers(value, f"{base}/{escape_pointer_token(key)}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _pointers(value, f"{base}/{index}")
    return out


@st.composite
def edits_of_a_document(draw: st.DrawFn) -> tuple[str, int, list[dict[str, Any]]]:
    path = draw(st.sampled_from(LAYOUTS))
    text = path.read_bytes().decode()
    docs = compose_documents(text)
    index = draw(
        st.sampled_from([i for i, d in enumerate(docs) if isinstance(d, yaml.MappingNode)])
    )
    targets = _pointers(node_data(docs[index]))[1:]
    ops = []
    for _ in range(draw(st.integers(1, 3))):
        ptr, value = draw(st.sampled_from(targets))
        kind = draw(st.sampled_from(["replace", "remove", "add", "move"]))
        if kind == "add" and isinstance(value, dict):
            key = draw(st.sampled_from(["new", "a~1b", "80"]))  # a/b, escaped
            ops.append({"op": "add", "path": f"{ptr}/{key}", "value": draw(VALUES)})
        elif kind == "add" and isinstance(value, list):
            ops.append({"op": "add", "path": f"{ptr}/-", "value": draw(VALUES)})
        elif kind == "move":
            ops.append({"op": "move", "from": ptr, "path": ptr.rsplit("/", 1)[0] + "/renamed"})
        elif kind == "remove":
            ops.append({"op": "remove", "path": ptr})
        else:
            ops.append({"op": "replace", "path": ptr, "value": draw(VALUES)})
    return text, index, ops


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits_of_a_document())
def test_text_edits_read_back_as_json_patch_says(
    case: tuple[str, int, list[dict[str, Any]]],
) -> None:
    text, index, ops = case
    docs = compose_documents(text)
    try:
        expected = jsonpatch.apply_patch(node_data(docs[index]), copy.deepcopy(ops))
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        return  # operations that do not apply (a path removed by an earlier one)
    style = detect_style(text, docs)
    work = with_final_break(text, style.nl)
    shared = shared_nodes(docs) if "&" in text else frozenset()
    planner = _ResourcePlanner(work, style, shared, docs[index], (index, ""))
    if isinstance(planner.offer(Fix("t", tuple(ops))), str):
        return  # refused (a shared anchor, a merged key): reported, never written
    before = [node_data(d) for d in docs]
    before[index] = expected
    readings = []
    for candidate in _candidates(text, work, planner.edits):
        readings.append([node_data(d) for d in compose_documents(candidate)])
    assert any(same(r, before) for r in readings)
