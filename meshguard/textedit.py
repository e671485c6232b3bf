"""Where things are in a YAML text, and edits of it applied without disturbing anything else.

PyYAML's marks give every node's start and end offsets; `Spans` turns them into the offsets an
edit needs (a block collection "ends" after its last child, not at the next token; an alias's
marks are its anchor's). Edits are collected against the original offsets and applied in
reverse order so earlier offsets stay valid (pyupgrade `_fix_plugins`); overlapping edits are
a bug, never silently merged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml


class Unrepresentable(Exception):
    """The desired data cannot be reached by a local edit (a shared anchor, a merged key)."""


@dataclass(frozen=True, slots=True)
class Edit:
    start: int
    end: int
    text: str
    order: int = 0  # among insertions at one offset, the lower comes first


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits, last offset first; overlapping edits are a bug (ValueError)."""
    ordered = sorted(edits, key=lambda e: (e.start, e.end, e.order))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.end > b.start:
            raise ValueError(f"overlapping edits at {a.start}-{a.end} and {b.start}-{b.end}")
    pieces: list[str] = []
    tail = len(text)
    for edit in reversed(ordered):
        pieces.append(text[edit.end : tail])
        pieces.append(edit.text)
        tail = edit.start
    pieces.append(text[:tail])
    return "".join(reversed(pieces))


@dataclass(slots=True)
class Spans:
    """Offsets in `text` of nodes composed from it; `shared` holds the ids of anchored nodes."""

    text: str
    shared: frozenset[int] = frozenset()
    item_ends_cache: dict[int, list[int]] = field(default_factory=dict)

    def line_start(self, index: int) -> int:
        return self.text.rfind("\n", 0, index) + 1

    def next_line(self, index: int) -> int:
        """Offset of the line after the one holding `index` (`index` itself at a line start)."""
        if index > 0 and self.text[index - 1] == "\n":
            return index
        found = self.text.find("\n", index)
        return len(self.text) if found < 0 else found + 1

    def dash_index(self, item: yaml.Node) -> int:
        i = item.start_mark.index - 1
        while i >= 0 and self.text[i] in " \t":
            i -= 1
        if i < 0 or self.text[i] != "-":
            raise Unrepresentable("cannot find a sequence item's dash")
        return i

    def end(self, node: yaml.Node) -> int:
        """Offset just after a node's own text (block collections end after their last child)."""
        if isinstance(node, yaml.ScalarNode):
            if node.style in ("|", ">"):
                header_end = self.text.find("\n", node.start_mark.index)
                if "+" in self.text[node.start_mark.index : header_end]:
                    return int(
                        node.end_mark.index
                    )  # keep chomping: trailing blank lines are content
                end = node.end_mark.index
                while end > node.start_mark.index and self.text[end - 1] in " \t\r\n":
                    end -= 1
                line_end = self.text.find("\n", end)
                line_end = len(self.text) if line_end < 0 else line_end
                return line_end - 1 if self.text[line_end - 1 : line_end] == "\r" else line_end
            return int(node.end_mark.index)
        if is_flow(node) or not node.value:
            return int(node.end_mark.index)
        if isinstance(node, yaml.MappingNode):
            return self.pair_end(node, len(node.value) - 1)
        if isinstance(node, yaml.SequenceNode):
            return self.item_end(node, len(node.value) - 1)
        raise AssertionError("unreachable")

    def pair_end(self, node: yaml.MappingNode, index: int) -> int:
        key, value = node.value[index]
        if value.start_mark.index < key.end_mark.index:  # an alias: `key: *name`
            return self.alias_end(key.end_mark.index)
        return max(int(key.end_mark.index), self.end(value))

    def item_end(self, node: yaml.SequenceNode, index: int) -> int:
        if not self.shared:  # no anchors: no aliases, every node's marks are its own
            return self.end(node.value[index])
        ends = self.item_ends_cache.get(id(node))
        if ends is None:
            ends = []
            boundary = node.start_mark.index
            for item in node.value:
                if id(item) in self.shared and item.start_mark.index < boundary:
                    boundary = self.alias_end(boundary)  # `- *name`: the marks are the anchor's
                else:
                    boundary = self.end(item)
                ends.append(boundary)
            self.item_ends_cache[id(node)] = ends
        return ends[index]

    def alias_end(self, after: int) -> int:
        star = self.text.find("*", after)
        if star < 0:
            raise Unrepresentable("cannot find an alias")
        end = star + 1
        while end < len(self.text) and self.text[end] not in " \t\r\n,[]{}":
            end += 1
        return end

    def flow_start(self, node: yaml.Node, index: int) -> int:
        entry = node.value[index]
        return int(
            entry[0].start_mark.index if isinstance(entry, tuple) else entry.start_mark.index
        )

    def flow_end(self, node: yaml.Node, index: int) -> int:
        entry = node.value[index]
        if isinstance(entry, tuple):
            key, value = entry
            if value.start_mark.index < key.end_mark.index:
                return self.alias_end(key.end_mark.index)
            return max(int(key.end_mark.index), self.end(value))
        return self.end(entry)


def with_final_break(text: str, nl: str) -> str:
    """The text with a line break at its end, so every line, the last too, ends alike."""
    return text if not text or text.endswith("\n") else text + nl


def strip_final_break(text: str) -> str:
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def block_scalar_chomp_edit(text: str, node: yaml.Node | None) -> Edit | None:
    """Strip chomping (`|-`) for a block scalar that ends a file lacking a final line break.

    Such a scalar reads without a trailing line break; text appended after it would give it one
    (YAML clip chomping keeps the last break), so its header says strip, which reads the same.
    """
    if text.endswith("\n") or not isinstance(node, yaml.ScalarNode) or node.style not in ("|", ">"):
        return None
    start = node.start_mark.index + props_length(text, node.start_mark.index) + 1
    end = start
    while end < len(text) and (text[end].isdigit() or text[end] in "+-"):
        end += 1
    indicators = text[start:end]
    if "-" in indicators:
        return None
    return Edit(start, end, indicators.replace("+", "") + "-")


def last_node(root: yaml.Node | None) -> yaml.Node | None:
    """The node written last in a block collection (the one that ends the document's text)."""
    node = root
    while (
        isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.value and not is_flow(node)
    ):
        last = node.value[-1]
        node = last[1] if isinstance(last, tuple) else last
    return node


def is_flow(node: yaml.Node) -> bool:
    return bool(getattr(node, "flow_style", False))


def props_length(text: str, start: int) -> int:
    """Length of `&anchor !tag ` before a node's first character (its start mark includes them)."""
    i = start
    while i < len(text) and text[i] in "&!":
        while i < len(text) and text[i] not in " \t\r\n":
            i += 1
        while i < len(text) and text[i] in " \t":
            i += 1
    return i - start


def runs(indexes: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs (first, last) of sorted, distinct indexes."""
    runs: list[tuple[int, int]] = []
    for i in sorted(set(indexes)):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def shared_nodes(roots: Iterable[yaml.Node | None]) -> frozenset[int]:
    """Ids of nodes reached more than once (an anchor and its aliases)."""
    seen: set[int] = set()
    twice: set[int] = set()
    stack = [r for r in roots if r is not None]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            twice.add(id(node))
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
    return frozenset(twice)
