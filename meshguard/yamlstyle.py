"""YAML as a file already writes it: its line break, indentation and dash style, and values in it.

`meshguard fix` adds keys, items and whole documents to files written by people; new text takes
the file's own layout (detected from its node tree) and quotes a string only when YAML would
read it as something else ("true", "1.0", "0755", a 1.2 number such as 1e3, text with ": ").
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
import yaml.emitter
import yaml.resolver

_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:str"})
_KEY_TAGS = frozenset({"tag:yaml.org,2002:str", "tag:yaml.org,2002:int"})
_RESOLVER = yaml.resolver.Resolver()
_EMITTER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)
# YAML 1.2 numbers that YAML 1.1 (PyYAML) reads as strings: quoted so that other tools agree.
_YAML12_NUMBER = re.compile(
    r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)
_PRINTABLE = re.compile(
    "[\x09\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*"
)
_ESCAPES = {"\0": "\\0", "\x07": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\x0b": "\\v",
            "\x0c": "\\f", "\r": "\\r", "\x1b": "\\e", '"': '\\"', "\\": "\\\\"}  # fmt: skip


# -- style ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Style:
    """How a file writes new lines: its line break, indentation step and sequence indentation."""

    nl: str = "\n"
    step: int = 2
    seq_indent: int = 0  # columns from a key to the dashes of its block sequence (0: flush)
    literals: bool = True  # multi-line strings as `|` blocks (else double-quoted, always exact)


def detect_style(text: str, roots: Iterable[yaml.Node | None]) -> Style:
    """The file's dominant line break, mapping indentation step and dash offset."""
    nl = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"
    steps: Counter[int] = Counter()
    dashes: Counter[int] = Counter()
    stack = [r for r in roots if r is not None]
    seen: set[int] = set()
    while stack and len(steps) + len(dashes) < 200:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(value)
                if node.flow_style or getattr(value, "flow_style", True) or not value.value:
                    continue
                if value.start_mark.index < key.end_mark.index:
                    continue  # an alias: its marks are the anchor's
                if isinstance(value, yaml.MappingNode):
                    steps[value.start_mark.column - key.start_mark.column] += 1
                elif isinstance(value, yaml.SequenceNode):
                    dash = dash_column(text, value.value[0])
                    if dash is not None:
                        dashes[dash - key.start_mark.column] += 1
    step = next((s for s, _ in steps.most_common() if s > 0), 2)
    seq_indent = next((d for d, _ in dashes.most_common() if d >= 0), 0)
    return Style(nl, step, seq_indent)


def dash_column(text: str, item: yaml.Node) -> int | None:
    i = item.start_mark.index - 1
    while i >= 0 and text[i] in " \t":
        i -= 1
    if i < 0 or text[i] != "-":
        return None
    return i - (text.rfind("\n", 0, i) + 1)


# -- rendering --------------------------------------------------------------------------------


def _plain_ok(s: str, *, flow: bool, tags: frozenset[str] = _PLAIN_TAGS) -> bool:
    if not s or s != s.strip() or "\n" in s or _YAML12_NUMBER.fullmatch(s):
        return False
    if _RESOLVER.resolve(yaml.ScalarNode, s, (True, False)) not in tags:  # type: ignore[no-untyped-call]
        return False
    analysis = _EMITTER.analyze_scalar(s)
    return bool(analysis.allow_flow_plain if flow else analysis.allow_block_plain)


def _double_quoted(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _PRINTABLE.fullmatch(ch) and ch not in "\x85\u2028\u2029\ufeff":
            out.append(ch)
        elif ord(ch) <= 0xFF:
            out.append(f"\\x{ord(ch):02X}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(f"\\U{ord(ch):08X}")
    out.append('"')
    return "".join(out)


def _single_ok(s: str) -> bool:
    return "\n" not in s and s == s.strip() and bool(_PRINTABLE.fullmatch(s))


def _float_text(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)  # PyYAML reads 1e+20 as a string, 1.0e+20 as a float
    return text


def scalar_text(value: Any, *, flow: bool = False, quote: str | None = None) -> str:
    """One scalar on one line; a string keeps the original quote style when it can."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    text = str(value)
    if quote == "'" and _single_ok(text):
        return "'" + text.replace("'", "''") + "'"
    if quote != '"' and _plain_ok(text, flow=flow):
        return text
    return _double_quoted(text)


def key_text(key: str, *, flow: bool = False, quote: str | None = None) -> str:
    """A mapping key: plain when it reads back as the same text (port numbers stay plain)."""
    if quote == "'" and _single_ok(key):
        return "'" + key.replace("'", "''") + "'"
    if quote != '"' and (_port_like(key) or _plain_ok(key, flow=flow, tags=_KEY_TAGS)):
        return key
    return _double_quoted(key)


def _port_like(key: str) -> bool:
    """Decimal digits without a leading zero read back as the same number in YAML 1.1 and 1.2."""
    return key.isdigit() and key.isascii() and (key == "0" or not key.startswith("0"))


def flow_text(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{key_text(str(k), flow=True)}: {flow_text(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(flow_text(v) for v in value) + "]"
    return scalar_text(value, flow=True)


def literal_ok(value: Any, style: Style) -> bool:
    """A multi-line string that a `|` block round-trips (no indentation indicator needed)."""
    if not style.literals or not isinstance(value, str) or "\n" not in value.rstrip("\n"):
        return False
    if "\r" in value:
        return False
    first = next((line for line in value.split("\n") if line), "")
    return (
        bool(first)
        and not first.startswith((" ", "\t"))
        and bool(_PRINTABLE.fullmatch(value.replace("\n", "")))
    )


def literal_lines(value: str, col: int) -> tuple[str, list[str]]:
    """`|` header and body lines at `col`; the chomping indicator keeps trailing line breaks."""
    if value.endswith("\n\n"):
        chomp, body = "+", value[:-1]
    elif value.endswith("\n"):
        chomp, body = "", value[:-1]
    else:
        chomp, body = "-", value
    return "|" + chomp, [(" " * col + line) if line else "" for line in body.split("\n")]


def inline_text(value: Any, style: Style) -> str | None:
    """The value on the key's line, or None when it needs lines of its own."""
    if isinstance(value, dict):
        return "{}" if not value else None
    if isinstance(value, list):
        return "[]" if not value else None
    if literal_ok(value, style):
        return None
    return scalar_text(value)


def entry_lines(key: str, value: Any, col: int, style: Style) -> list[str]:
    """`key: value` at column `col`, nested values as block YAML below it."""
    head = " " * col + key_text(key) + ":"
    return head_lines(head, value, col, style)


def head_lines(head: str, value: Any, col: int, style: Style) -> list[str]:
    inline = inline_text(value, style)
    if inline is not None:
        return [f"{head} {inline}"]
    if isinstance(value, dict):
        return [head, *block_lines(value, col + style.step, style)]
    if isinstance(value, list):
        return [head, *block_lines(value, col + style.seq_indent, style)]
    header, body = literal_lines(value, col + style.step)
    return [f"{head} {header}", *body]


def item_lines(item: Any, col: int, style: Style) -> list[str]:
    """One block sequence item with its dash at column `col`."""
    inline = inline_text(item, style)
    if inline is not None:
        return [" " * col + "- " + inline]
    if isinstance(item, dict | list):
        lines = block_lines(item, col + 2, style)
        return [" " * col + "- " + lines[0][col + 2 :], *lines[1:]]
    header, body = literal_lines(item, col + 2)
    return [" " * col + "- " + header, *body]


def block_lines(value: Any, col: int, style: Style) -> list[str]:
    """A non-empty mapping or sequence as block YAML lines at column `col`."""
    lines: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            lines.extend(entry_lines(str(key), child, col, style))
    else:
        for item in value:
            lines.extend(item_lines(item, col, style))
    return lines


def document_text(document: Mapping[str, Any], style: Style) -> str:
    """A new document in block style, key order as given, without a final line break."""
    return style.nl.join(block_lines(dict(document), 0, style))


# -- equality ---------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal as JSON data: True is not 1 and 1 is not 1.0, as they are for Python's `==`."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and a != a:
        return bool(b != b)
    return bool(a == b)


def identity(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
