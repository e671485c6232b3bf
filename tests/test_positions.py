"""The fast loader path (flat positions rebuilt lazily) agrees with the direct pointer map, and
values used through an alias are placed where the alias is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshguard.loader import _Converter, load_text
from meshguard.model import LazyPositions, Position
from tests.lintkit import lint_text


def _eager(text: str) -> list[dict[str, tuple[int, int]]]:
    maps = []
    for node in yaml.compose_all(text, Loader=yaml.CSafeLoader):
        if isinstance(node, yaml.MappingNode):
            positions: dict[str, tuple[int, int]] = {
                "": (node.start_mark.line + 1, node.start_mark.column + 1)
            }
            _Converter(positions, 1).convert(node, "", 0)
            maps.append(positions)
    return maps


def test_lazy_positions_match_on_the_corpus(corpus: Path) -> None:
    checked = 0
    for path in sorted(corpus.joinpath("real-world").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        loaded = load_text(text, str(path))
        if loaded.errors or "&" in text or any("List" in r.kind for r in loaded.resources):
            continue
        eager = {m.get("/metadata/name", (0, 0)): m for m in _eager(text) if "/kind" in m}
        for res in loaded.resources:
            if isinstance(res.origin.positions, LazyPositions):
                lazy = dict(res.origin.positions)
                match = next((m for m in eager.values() if m[""] == lazy[""]), None)
                assert match == lazy, path
                checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: A\nmetadata: {name: x}\nspec: {a: 1, a: 2}\n",  # duplicate key
        "apiVersion: v1\nkind: A\nmetadata: {name: x}\nspec:\n  <<: {a: 1}\n  b: 2\n",  # merge key
        "apiVersion: v1\nkind: A\nmetadata: {name: x}\nspec: {? [1, 2] : x}\n",  # complex key
    ],
)
def test_documents_whose_order_differs_fall_back_to_a_map(text: str) -> None:
    res = load_text(text, "x.yaml").resources[0]
    assert not isinstance(res.origin.positions, LazyPositions)
    assert res.origin.position_of("/spec").line == 4


def _tree(node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return (node.tag, node.value)
    if isinstance(node, yaml.SequenceNode):
        return (node.tag, [_tree(item) for item in node.value])
    return (node.tag, [(_tree(k), _tree(v)) for k, v in node.value])


def test_memoised_resolver_gives_pyyaml_tags(corpus: Path) -> None:
    """loader._Loader remembers implicit tags; they must be exactly PyYAML's (YAML 1.1)."""
    from meshguard.loader import _Loader

    tricky = (
        "a: [yes, No, on, ~, null, 0x1F, 0o17, 017, 1_000, .inf, -.Inf, .NaN, 1e3, 2001-12-14,"
        " '', =, <<]\n"
    )
    texts = [tricky] + [p.read_text(encoding="utf-8") for p in sorted(corpus.rglob("*.yaml"))[:400]]
    for text in texts:
        try:
            want = [_tree(n) for n in yaml.compose_all(text, Loader=yaml.CSafeLoader)]
        except yaml.YAMLError:
            continue
        assert [_tree(n) for n in yaml.compose_all(text, Loader=_Loader)] == want


ALIASES = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat, namespace: web}
spec:
  hosts: [chat]
  http:
  - timeout: 30s
    retries: &r {attempts: 3, perTryTimeout: 10s}
    route: &dest
    - destination: {host: chat}
  - timeout: 30s
    retries: *r
    route: *dest
  - <<: {timeout: 30s}
    retries:
      <<: *r
      retryOn: reset
    route:
    - *dest
"""


def test_values_used_through_an_alias_are_placed_where_the_alias_is() -> None:
    """The anchor keeps its own positions; an alias's value (and everything in it) is at the key
    that uses it, a merged key at the `<<` entry, a `- *alias` item at its list."""
    (res,) = load_text(ALIASES, "x.yaml").resources
    at = res.origin.position_of
    assert (at("/spec/http/0/retries/attempts").line, at("/spec/http/0/route/0").line) == (8, 10)
    assert at("/spec/http/1/retries/attempts") == Position(12, 5)
    assert at("/spec/http/1/route/0/destination/host") == Position(13, 5)
    assert at("/spec/http/2/timeout") == Position(14, 10)  # merged from a mapping, not an alias
    assert at("/spec/http/2/retries/attempts") == Position(16, 7)
    assert at("/spec/http/2/retries/retryOn") == Position(17, 7)
    assert at("/spec/http/2/route/0/0/destination") == Position(18, 5)


def test_a_finding_inside_an_alias_is_reported_and_suppressed_at_the_alias() -> None:
    text = ALIASES.replace("    retries: *r\n", "    retries: *r  # meshguard: ignore[MG204]\n")
    findings = [f for f in lint_text(text).findings if f.rule == "MG204"]
    assert [(f.position.line, f.pointer) for f in findings] == [
        (8, "/spec/http/0/retries/attempts"),
        (16, "/spec/http/2/retries/attempts"),
    ]


MERGES = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: m, namespace: web}
data: &base {a: "1", b: "2"}
x: &other {b: "3", c: "4"}
one:
  b: own
  <<: *base
two:
  <<: [*other, *base]
  d: own
"""


def test_merged_keys_keep_the_mapping_own_keys_and_the_first_source() -> None:
    """A key written in the mapping (before or after `<<`) keeps its own position; merged keys
    from aliases are at the `<<`; with several sources the first wins, as in the data."""
    (res,) = load_text(MERGES, "x.yaml").resources
    assert res.body["one"] == {"b": "own", "a": "1"}
    assert res.body["two"] == {"b": "3", "c": "4", "a": "1", "d": "own"}
    at = res.origin.position_of
    assert at("/one/b") == Position(7, 3)
    assert at("/one/a") == Position(8, 3)
    assert [at(f"/two/{k}") for k in "bcad"] == [Position(10, 3)] * 3 + [Position(11, 3)]


def test_a_scalar_alias_in_a_list_is_placed_at_the_list_and_suppressible() -> None:
    text = """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: p, namespace: ml-serving, annotations: {any: &star "*"}}
spec:
  selector: {matchLabels: {component: predictor}}
  rules:
  - from: [{source: {principals: [*star]}}]  # meshguard: ignore[MG105]
    to: [{operation: {methods: ["POST"], paths: ["/v1/models/x"]}}]
"""
    (res,) = load_text(text, "x.yaml").resources
    assert res.origin.position_of("/spec/rules/0/from/0/source/principals/0").line == 7
    result = lint_text(text)
    assert [f.rule for f in result.findings if f.rule in ("MG105", "MG001")] == []
    assert [f.rule for f, _ in result.suppressed] == ["MG105"]


def test_a_chain_of_merges_is_bounded_like_an_alias_bomb() -> None:
    """`<<: *previous` copies every earlier key again at each level: copies count against the
    node budget, so a 30 kB file cannot make the loader copy millions of keys."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "defs:"]
    lines.append("  a0: &a0 {k0: 0}")
    lines += [f"  a{i}: &a{i} {{<<: *a{i - 1}, k{i}: {i}}}" for i in range(1, 200)]
    lines.append("uses: [" + ", ".join(["*a199"] * 400) + "]")
    loaded = load_text("\n".join(lines) + "\n", "bomb.yaml")
    assert loaded.resources == []
    assert [e.message for e in loaded.errors] == [
        "document expands to more than 500000 nodes (alias bomb?)"
    ]
