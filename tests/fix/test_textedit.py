"""RFC 6902 operations become minimal text edits: exact outputs for each layout, no rules involved.

Each case is (original, operations, expected text); every case also checks that the expected
text parses to what jsonpatch makes of the original data (pyupgrade's paired tables).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest

from meshguard.fix import _renames
from meshguard.loader import compose_documents, node_data
from meshguard.textedit import (
    Edit,
    Unrepresentable,
    apply_edits,
    shared_nodes,
    strip_final_break,
    with_final_break,
)
from meshguard.yamldiff import Differ
from meshguard.yamlstyle import detect_style, scalar_text


def fixed(text: str, ops: list[dict[str, Any]]) -> str:
    """Edits computed on the text with a final line break, taken off again when it had none."""
    docs = compose_documents(text)
    old = node_data(docs[0])
    new = jsonpatch.apply_patch(old, copy.deepcopy(ops))
    style = detect_style(text, docs)
    work = with_final_break(text, style.nl)
    differ = Differ(work, style, _renames(ops), shared_nodes(docs))
    out = apply_edits(work, differ.diff(docs[0], old, new))
    out = out if work == text else strip_final_break(out)
    assert node_data(compose_documents(out)[0]) == new
    return out


CASES = [
    pytest.param(
        "a: 1  # keep\nb: 2\n",
        [{"op": "replace", "path": "/a", "value": 3}],
        "a: 3  # keep\nb: 2\n",
        id="replace-scalar-keeps-trailing-comment",
    ),
    pytest.param(
        "a: '5xx'\nb: \"x\"\n",
        [
            {"op": "replace", "path": "/a", "value": "reset"},
            {"op": "replace", "path": "/b", "value": "y"},
        ],
        "a: 'reset'\nb: \"y\"\n",
        id="replace-keeps-quote-style",
    ),
    pytest.param(
        "inject: false\nport: '80'\n",
        [
            {"op": "replace", "path": "/inject", "value": "false"},
            {"op": "replace", "path": "/port", "value": 80},
        ],
        'inject: "false"\nport: 80\n',
        id="replace-quotes-or-unquotes-when-the-type-changes",
    ),
    pytest.param(
        "m:\n  a: 1\n  # comment\nn: 2\n",
        [{"op": "add", "path": "/m/b", "value": {"c": [1, "two"]}}],
        "m:\n  a: 1\n  b:\n    c:\n    - 1\n    - two\n  # comment\nn: 2\n",
        id="add-nested-block-value-after-last-entry",
    ),
    pytest.param(
        "m:\n    a: 1\nl:\n    - x\n",
        [
            {"op": "add", "path": "/m/b", "value": {"c": ["y"]}},
            {"op": "add", "path": "/l/-", "value": "z"},
        ],
        "m:\n    a: 1\n    b:\n        c:\n            - y\nl:\n    - x\n    - z\n",
        id="add-uses-the-files-indentation-and-indented-dashes",
    ),
    pytest.param(
        "m: {a: 1}\nl: [x]\ne: {}\n",
        [
            {"op": "add", "path": "/m/b", "value": {"c": "d"}},
            {"op": "add", "path": "/l/-", "value": "y"},
            {"op": "add", "path": "/e/k", "value": True},
        ],
        "m: {a: 1, b: {c: d}}\nl: [x, y]\ne: {k: true}\n",
        id="add-into-flow-collections",
    ),
    pytest.param(
        "v: {id} # c\nw: {a: , b: 1}\n",
        [
            {"op": "replace", "path": "/v/id", "value": ["x"]},
            {"op": "replace", "path": "/w/a", "value": 2},
        ],
        "v: {id: [x]} # c\nw: {a: 2, b: 1}\n",
        id="flow-mapping-empty-values",
    ),
    pytest.param(
        "m: {a: 1, b: 2, c: 3}\nl: [x, y]\n",
        [
            {"op": "remove", "path": "/m/b"},
            {"op": "remove", "path": "/m/c"},
            {"op": "remove", "path": "/l/0"},
        ],
        "m: {a: 1}\nl: [y]\n",
        id="remove-from-flow-collections-with-their-commas",
    ),
    pytest.param(
        "l:\n- name: a   # first\n  port: 1\n- name: b\n",
        [{"op": "remove", "path": "/l/0/name"}],
        "l:\n- port: 1\n- name: b\n",
        id="remove-first-key-of-an-item-moves-the-next-up",
    ),
    pytest.param(
        "l:\n- a\n# between\n- b\n- c\nk: v\n",
        [{"op": "remove", "path": "/l/1"}],
        "l:\n- a\n# between\n- c\nk: v\n",
        id="remove-item-deletes-exactly-its-lines",
    ),
    pytest.param(
        "s:\n  only: 1\nt:\n- x\n",
        [{"op": "remove", "path": "/s/only"}, {"op": "remove", "path": "/t/0"}],
        "s: {}\nt: []\n",
        id="removing-the-last-entry-leaves-an-empty-collection",
    ),
    pytest.param(
        "l:\n- b\n",
        [{"op": "add", "path": "/l/0", "value": {"k": "a", "v": 1}}],
        "l:\n- k: a\n  v: 1\n- b\n",
        id="insert-before-the-first-item",
    ),
    pytest.param(
        "h:\n  X-Model: {exact: v1}  # keep\n",
        [{"op": "move", "from": "/h/X-Model", "path": "/h/x-model"}],
        "h:\n  x-model: {exact: v1}  # keep\n",
        id="move-renames-the-key-in-place",
    ),
    pytest.param(
        "m:\n  exact: /v1/*\n",
        [
            {"op": "move", "from": "/m/exact", "path": "/m/prefix"},
            {"op": "replace", "path": "/m/prefix", "value": "/v1/"},
        ],
        "m:\n  prefix: /v1/\n",
        id="move-then-replace",
    ),
    pytest.param(
        "t: 30s  # short\n",
        [{"op": "replace", "path": "/t", "value": {"request": "300s"}}],
        "t:  # short\n  request: 300s\n",
        id="scalar-becomes-a-block-mapping",
    ),
    pytest.param(
        "s:\n  a: 1\n  b: 2\nz: 0\n",
        [{"op": "replace", "path": "/s", "value": "none"}],
        "s: none\nz: 0\n",
        id="block-mapping-becomes-a-scalar",
    ),
    pytest.param(
        "a: 1\r\nb:\r\n  c: 2\r\n",
        [{"op": "add", "path": "/b/d", "value": [1]}, {"op": "remove", "path": "/a"}],
        "b:\r\n  c: 2\r\n  d:\r\n  - 1\r\n",
        id="crlf-line-breaks",
    ),
    pytest.param(
        "a: 1\nb: 2",
        [{"op": "add", "path": "/c", "value": 3}],
        "a: 1\nb: 2\nc: 3",
        id="append-at-eof-without-final-newline",
    ),
    pytest.param(
        "a: 1\nb: 2",
        [{"op": "remove", "path": "/b"}],
        "a: 1",
        id="remove-last-line-without-final-newline",
    ),
    pytest.param(
        "m:\n  a: 1\n  b: 2",
        [{"op": "remove", "path": "/m/b"}, {"op": "add", "path": "/m/c", "value": 3}],
        "m:\n  a: 1\n  c: 3",
        id="replace-last-line-without-final-newline",
    ),
    pytest.param(
        "d: |\n  one\n  two\n\ne: 1\n",
        [
            {"op": "replace", "path": "/d", "value": "uno\ndos\n"},
            {"op": "add", "path": "/f", "value": "x\ny"},
        ],
        "d: |\n  uno\n  dos\n\ne: 1\nf: |-\n  x\n  y\n",
        id="literal-blocks",
    ),
    pytest.param(
        "m:\n  <<: {a: 1, b: 2}\n  c: 3\n",
        [{"op": "replace", "path": "/m/a", "value": 9}],
        "m:\n  <<: {a: 1, b: 2}\n  c: 3\n  a: 9\n",
        id="merged-key-is-overridden-explicitly",
    ),
]


@pytest.mark.parametrize(("original", "ops", "expected"), CASES)
def test_operations_become_minimal_edits(
    original: str, ops: list[dict[str, Any]], expected: str
) -> None:
    assert fixed(original, ops) == expected


def test_a_shared_anchor_is_not_edited_through_one_of_its_aliases() -> None:
    text = "a: &x {k: 1}\nb: *x\n"
    with pytest.raises(Unrepresentable, match="shared"):
        fixed(text, [{"op": "replace", "path": "/b/k", "value": 2}])


def test_removing_a_merged_key_is_refused() -> None:
    with pytest.raises(Unrepresentable, match="merge"):
        fixed("m:\n  <<: {a: 1}\n  c: 3\n", [{"op": "remove", "path": "/m/a"}])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("true", '"true"'),  # bool in YAML
        ("on", '"on"'),  # bool in YAML 1.1
        ("1.0", '"1.0"'),  # float
        ("0755", '"0755"'),  # octal int in YAML 1.1
        ("1e3", '"1e3"'),  # a float in YAML 1.2 (kubectl), a string in PyYAML: quoted for both
        ("null", '"null"'),
        ("a: b", '"a: b"'),
        ("x #y", '"x #y"'),
        ("", '""'),
        ("tab\there", '"tab\\there"'),
        ("connect-failure,refused-stream", "connect-failure,refused-stream"),
        (True, "true"),
        (None, "null"),
        (3, "3"),
        (0.5, "0.5"),
        (1e20, "1.0e+20"),
    ],
)
def test_scalars_are_quoted_only_when_yaml_would_mistype_them(value: Any, expected: str) -> None:
    assert scalar_text(value) == expected


def test_edits_apply_in_reverse_offset_order_and_must_not_overlap() -> None:
    text = "0123456789"
    assert (
        apply_edits(text, [Edit(2, 4, "ab"), Edit(6, 6, "X"), Edit(6, 6, "Y", order=1)])
        == "01ab45XY6789"
    )
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(text, [Edit(1, 5, ""), Edit(3, 7, "")])
