"""The smallest text edits that turn a composed YAML document into desired data.

`meshguard fix` never re-serialises a document. The data a resource should have after its fix
operations is compared with the original node tree, and each difference becomes an edit of the
original text: a scalar's span, a key's text, the lines of one entry or item, or new lines in
the indentation and dash style around them (`meshguard.yamlstyle`). Everything else, comments
and blank lines included, stays byte for byte. A field shared through an anchor, or a key that
comes from a merge (`<<`), is refused (`Unrepresentable`) rather than edited for every user.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from meshguard.textedit import Edit, Spans, Unrepresentable, is_flow, props_length, runs
from meshguard.yamlstyle import (
    Style,
    block_lines,
    dash_column,
    entry_lines,
    flow_text,
    head_lines,
    identity,
    inline_text,
    item_lines,
    key_text,
    literal_lines,
    literal_ok,
    same,
    scalar_text,
)

_MERGE_TAG = "tag:yaml.org,2002:merge"

Path = tuple[str, ...]
Renames = Mapping[Path, Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class _Site:
    """Where a value sits: a mapping entry (its key), a sequence item, or a document root."""

    kind: str  # "entry" | "item" | "root"
    flow: bool = False
    key: yaml.Node | None = None


class Differ(Spans):
    """Edits that turn `node` (whose data is `old`) into `new`, for one resource.

    `text` must end with a line break: for a file without one, give the text with a break added
    (`textedit.with_final_break`) and take it off the result (`strip_final_break`).
    """

    def __init__(
        self,
        text: str,
        style: Style,
        renames: Renames | None = None,
        shared: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(text, shared)
        self.style = style
        self.renames: Renames = renames or {}
        self.edits: list[Edit] = []

    def diff(self, node: yaml.Node, old: Any, new: Any) -> list[Edit]:
        self.edits = []
        self.item_ends_cache = {}
        self._value(node, old, new, _Site("root"), (), inside_shared=False)
        return self.edits

    # dispatch

    def _value(
        self, node: yaml.Node, old: Any, new: Any, site: _Site, path: Path, *, inside_shared: bool
    ) -> None:
        if same(old, new):
            return
        if inside_shared or id(node) in self.shared:
            raise Unrepresentable(
                f"/{'/'.join(path)} is shared with other places through a YAML anchor"
            )
        if isinstance(node, yaml.MappingNode) and isinstance(old, dict) and isinstance(new, dict):
            self._mapping(node, old, new, site, path)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(old, list) and isinstance(new, list)
        ):
            self._sequence(node, old, new, site, path)
        else:
            self._replace(node, new, site)

    # mappings

    def _mapping(
        self,
        node: yaml.MappingNode,
        old: dict[str, Any],
        new: dict[str, Any],
        site: _Site,
        path: Path,
    ) -> None:
        own, duplicates, merged = _entries(node)
        renames = {
            a: b
            for a, b in self.renames.get(path, {}).items()
            if a in own and a not in new and b in new
        }
        removed: list[int] = []
        for key, (index, key_node, value_node) in own.items():
            target = renames.get(key, key)
            if target not in new or (target == key and key in renames.values()):
                if key in duplicates:
                    raise Unrepresentable(f"/{'/'.join((*path, key))} is a duplicate key")
                removed.append(index)
                continue
            if target != key:
                self._rename(key_node, target, node.flow_style)
            child = _Site("entry", bool(node.flow_style), key_node)
            self._value(
                value_node, old[key], new[target], child, (*path, target), inside_shared=False
            )
        handled = {renames.get(k, k) for k in own}
        inserted = [
            (k, v)
            for k, v in new.items()
            if k not in handled and not (k in old and same(old[k], v))
        ]
        if merged and any(k not in own and k not in new for k in old):
            raise Unrepresentable(f"/{'/'.join(path)}: a key merged in with `<<` cannot be removed")
        if removed and len(removed) == len(own) and not merged:
            self._replace(node, new, site)  # nothing of the old mapping survives
        elif node.flow_style:
            self._flow_removals(node, removed)
            entries = [f"{key_text(k, flow=True)}: {flow_text(v)}" for k, v in inserted]
            self._flow_insert(node, len(node.value), entries)
        else:
            self._block_removals(node, removed)
            if inserted:
                col = node.value[0][0].start_mark.column
                lines = [line for k, v in inserted for line in entry_lines(k, v, col, self.style)]
                self._insert_after(self.pair_end(node, len(node.value) - 1), lines)

    def _rename(self, key_node: yaml.Node, target: str, flow: bool | None) -> None:
        quote = key_node.style if isinstance(key_node, yaml.ScalarNode) else None
        text = key_text(target, flow=bool(flow), quote=quote or None)
        self.edits.append(Edit(key_node.start_mark.index, key_node.end_mark.index, text))

    # sequences

    def _sequence(
        self, node: yaml.SequenceNode, old: list[Any], new: list[Any], site: _Site, path: Path
    ) -> None:
        items = node.value
        flow = bool(node.flow_style)
        if len(old) == len(new):
            for i, item in enumerate(items):
                self._value(
                    item, old[i], new[i], _Site("item", flow), (*path, str(i)), inside_shared=False
                )
            return
        matcher = difflib.SequenceMatcher(
            None, [identity(x) for x in old], [identity(x) for x in new], autojunk=False
        )
        removed: list[int] = []
        inserts: list[tuple[int, list[Any]]] = []
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            # changed items pair up in order (an edited item keeps its comments); the rest
            # of a longer side is removed or inserted
            paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
            for k in range(paired):
                here = (*path, str(i1 + k))
                site_k = _Site("item", flow)
                self._value(
                    items[i1 + k], old[i1 + k], new[j1 + k], site_k, here, inside_shared=False
                )
            removed.extend(range(i1 + paired, i2))
            if j2 > j1 + paired:
                inserts.append((i2, new[j1 + paired : j2]))
        if len(removed) == len(items):
            self._replace(node, new, site)
            return
        if flow:
            self._flow_removals(node, removed)
            for position, values in inserts:
                self._flow_insert(node, position, [flow_text(v) for v in values])
            return
        self._block_item_removals(node, removed)
        dash = dash_column(self.text, items[0]) if items else None
        if dash is None:
            raise Unrepresentable(f"/{'/'.join(path)}: cannot find the sequence's dashes")
        for position, values in inserts:
            lines = [line for v in values for line in item_lines(v, dash, self.style)]
            if position == 0:
                first_dash = self.dash_index(items[0])
                start = self.line_start(first_dash)
                if self.text[start:first_dash].strip():
                    raise Unrepresentable(f"/{'/'.join(path)}: the first item shares its line")
                self.edits.append(Edit(start, start, self.style.nl.join(lines) + self.style.nl, -1))
            else:
                self._insert_after(self.item_end(node, position - 1), lines)

    # removals

    def _block_removals(self, node: yaml.MappingNode, removed: list[int]) -> None:
        for first, last in runs(removed):
            key_node = node.value[first][0]
            start = key_node.start_mark.index
            line_start = self.line_start(start)
            if self.text[line_start:start].strip() == "":
                self._delete_lines(line_start, self.pair_end(node, last))
            elif last + 1 < len(node.value):  # the first entry of a `- key: value` item
                self.edits.append(Edit(start, node.value[last + 1][0].start_mark.index, ""))
            else:
                raise Unrepresentable("cannot remove the only entries of an item mapping in place")

    def _block_item_removals(self, node: yaml.SequenceNode, removed: list[int]) -> None:
        for first, last in runs(removed):
            dash = self.dash_index(node.value[first])
            line_start = self.line_start(dash)
            if self.text[line_start:dash].strip() != "":
                raise Unrepresentable("cannot remove an item that shares its line with another")
            self._delete_lines(line_start, self.item_end(node, last))

    def _flow_removals(self, node: yaml.Node, removed: list[int]) -> None:
        count = len(node.value)
        for first, last in runs(removed):
            if last + 1 < count:
                self.edits.append(
                    Edit(self.flow_start(node, first), self.flow_start(node, last + 1), "")
                )
            elif first > 0:
                self.edits.append(
                    Edit(self.flow_end(node, first - 1), self.flow_end(node, last), "")
                )
            else:
                self.edits.append(Edit(self.flow_start(node, 0), self.flow_end(node, last), ""))

    def _delete_lines(self, line_start: int, end: int) -> None:
        self.edits.append(Edit(line_start, self.next_line(end), ""))

    # insertions

    def _insert_after(self, end: int, lines: list[str], order: int = 0) -> None:
        """New lines after the line holding offset `end` (the text ends with a line break)."""
        at = self.next_line(end)
        self.edits.append(Edit(at, at, "".join(line + self.style.nl for line in lines), order))

    def _flow_insert(self, node: yaml.Node, position: int, texts: list[str]) -> None:
        if not texts:
            return
        joined = ", ".join(texts)
        if not node.value:
            at = node.start_mark.index + 1 + props_length(self.text, node.start_mark.index)
            self.edits.append(Edit(at, at, joined))
        elif position >= len(node.value):
            at = self.flow_end(node, len(node.value) - 1)
            self.edits.append(Edit(at, at, ", " + joined, order=1))
        else:
            at = self.flow_start(node, position)
            self.edits.append(Edit(at, at, joined + ", ", order=-1))

    # replacing a whole value

    def _replace(self, node: yaml.Node, new: Any, site: _Site) -> None:
        start = node.start_mark.index
        end = self.end(node)
        if site.flow:
            text = self._scalar_or_flow(node, new, flow=True)
            if start == end and site.key is not None:  # `{key}` or `{key: }`: an empty value
                between = self.text[site.key.end_mark.index : start]
                text = ("" if between.endswith(" ") else " " if ":" in between else ": ") + text
            self.edits.append(Edit(start, end, text))
        elif isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
            self._replace_block_scalar(node, new, site)
        elif isinstance(node, yaml.ScalarNode) or is_flow(node) or site.kind == "item":
            self._replace_inline(node, new, site)
        elif site.kind == "entry" and site.key is not None:
            self._replace_block_value(node, new, site.key)
        else:
            raise Unrepresentable("cannot replace a whole document")

    def _scalar_or_flow(self, node: yaml.Node, new: Any, *, flow: bool) -> str:
        if isinstance(new, dict | list):
            return flow_text(new)
        quote = (
            node.style if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else None
        )
        return scalar_text(new, flow=flow, quote=quote)

    def _replace_inline(self, node: yaml.Node, new: Any, site: _Site) -> None:
        """A value that starts on its key's or dash's line becomes `new`."""
        start, end = node.start_mark.index, self.end(node)
        pad = " " if start == end else ""  # `key:` with nothing after the colon
        if not isinstance(new, dict | list) and not literal_ok(new, self.style):
            self.edits.append(Edit(start, end, pad + self._scalar_or_flow(node, new, flow=False)))
            return
        inline = inline_text(new, self.style)
        if inline is None and getattr(node, "flow_style", False):
            inline = flow_text(new)  # a flow collection stays a flow collection
        if inline is not None:
            self.edits.append(Edit(start, end, pad + inline))
            return
        nl = self.style.nl
        if site.kind == "item":
            col = start - self.line_start(start)
            if isinstance(new, dict | list):
                lines = block_lines(new, col, self.style)
                self.edits.append(Edit(start, end, nl.join([lines[0][col:], *lines[1:]])))
            else:
                header, body = literal_lines(new, col)
                self.edits.append(Edit(start, end, pad + header))
                self._insert_after(end, body)
            return
        if site.key is None:
            raise Unrepresentable("cannot replace a whole document")
        # `key: value  # comment` becomes `key:  # comment` with the new lines below it
        cut = start
        while cut > 0 and self.text[cut - 1] in " \t":
            cut -= 1
        lines = head_lines("", new, site.key.start_mark.column, self.style)
        self.edits.append(Edit(cut, end, lines[0]))
        self._insert_after(end, lines[1:])

    def _replace_block_scalar(self, node: yaml.ScalarNode, new: Any, site: _Site) -> None:
        start, end = node.start_mark.index, self.end(node)
        at_line_start = self.text[end - 1 : end] == "\n"
        tail = self.style.nl if at_line_start else ""
        if literal_ok(new, self.style):
            line_start = self.line_start(start)
            base = site.key.start_mark.column if site.key is not None else start - line_start
            header, body = literal_lines(new, base + self.style.step)
            self.edits.append(Edit(start, end, self.style.nl.join([header, *body]) + tail))
        elif not isinstance(new, dict | list) or not new:
            text = inline_text(new, self.style) or scalar_text(new)
            self.edits.append(Edit(start, end, text + tail))
        else:
            raise Unrepresentable("cannot replace a block scalar with a collection in place")

    def _replace_block_value(self, node: yaml.Node, new: Any, key: yaml.Node) -> None:
        """A block mapping or sequence under `key:` becomes `new`: its lines are rewritten."""
        colon = self.text.find(":", key.end_mark.index)
        first_line = self.line_start(node.start_mark.index)
        if colon < 0 or first_line <= colon:
            raise Unrepresentable("cannot find the lines of a block value")
        inline = inline_text(new, self.style)
        if inline is not None:
            self.edits.append(Edit(colon + 1, colon + 1, " " + inline))
            self._delete_lines(first_line, self.end(node))
            return
        if isinstance(new, list):
            dash = (
                dash_column(self.text, node.value[0])
                if isinstance(node, yaml.SequenceNode)
                else None
            )
            col = dash if dash is not None else key.start_mark.column + self.style.seq_indent
            lines = block_lines(new, col, self.style)
        elif isinstance(new, dict):
            col = (
                node.value[0][0].start_mark.column
                if isinstance(node, yaml.MappingNode)
                else key.start_mark.column + self.style.step
            )
            lines = block_lines(new, col, self.style)
        else:
            header, lines = literal_lines(new, key.start_mark.column + self.style.step)
            self.edits.append(Edit(colon + 1, colon + 1, " " + header))
        stop = self.next_line(self.end(node))
        self.edits.append(Edit(first_line, stop, "".join(line + self.style.nl for line in lines)))


def _entries(
    node: yaml.MappingNode,
) -> tuple[dict[str, tuple[int, yaml.Node, yaml.Node]], set[str], bool]:
    """Own entries by key (index, key, value; the last duplicate wins, as in the loader), the
    duplicated keys, and whether the mapping merges others in (`<<`)."""
    own: dict[str, tuple[int, yaml.Node, yaml.Node]] = {}
    duplicates: set[str] = set()
    merged = False
    for index, (key_node, value_node) in enumerate(node.value):
        if key_node.tag == _MERGE_TAG:
            merged = True
            continue
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
        if key in own:
            duplicates.add(key)
        own[key] = (index, key_node, value_node)
    return own, duplicates, merged
