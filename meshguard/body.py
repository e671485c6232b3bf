"""Reading a resource body: plain data from a possibly hostile document.

A string may stand where a mapping belongs and a mapping where a list does, so every reader
type-checks each step and falls back to "absent" instead of raising. Bodies are always plain
`dict`s and `list`s (from YAML and from JSON alike), hence the concrete `isinstance` tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_EMPTY: Mapping[str, Any] = {}


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else _EMPTY


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []


def items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, item) of the mapping items of a list; anything else has none."""
    return [(i, v) for i, v in enumerate(as_list(value)) if isinstance(v, dict)]


def integer(value: Any) -> int | None:
    """A YAML integer (booleans are not integers here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def dig(data: Any, *tokens: str) -> Any:
    """`data[t0][t1]...`, None when a step is missing or not a mapping."""
    for token in tokens:
        if not isinstance(data, dict):
            return None
        data = data.get(token)
    return data
