"""The fast loader path (flat positions rebuilt lazily) agrees with the direct pointer map."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshguard.loader import _Converter, load_text
from meshguard.model import LazyPositions


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
