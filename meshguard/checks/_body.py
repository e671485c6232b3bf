"""RFC 6902 operations that merge into a resource body without clobbering it (readers of a
body are in `meshguard.body`).

Fixes that add pod metadata (MG407) or mesh settings (MG406, MG409) must create only what is
missing: computed on the unmodified body, the operations never overlap, so they apply in any
order and together with other findings' fixes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meshguard.model import JsonPointer, pointer

Op = dict[str, Any]


def scalar_text(value: Any) -> str:
    """A scalar as the API server holds it in a string field (YAML booleans lower-cased; "" for
    null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def pointer_tokens(ptr: JsonPointer) -> tuple[str, ...]:
    """The tokens of a pointer this package built from plain keys (no `~` escapes)."""
    return tuple(ptr.split("/")[1:]) if ptr else ()


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token)
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return None


def nest(tokens: tuple[str, ...], value: Any) -> Any:
    """`value` under the nested keys `tokens` ({a: {b: value}})."""
    for token in reversed(tokens):
        value = {token: value}
    return value


def merge_ops(body: Any, tokens: tuple[str, ...], patch: Mapping[str, Any]) -> list[Op]:
    """Ops that deep-merge `patch` into the mapping at `tokens`, creating what is missing."""
    node = body
    for i, token in enumerate(tokens):
        child = _child(node, token)
        if not isinstance(child, dict) and not (isinstance(child, list) and i + 1 < len(tokens)):
            value = nest(tokens[i + 1 :], patch)
            return [{"op": "add", "path": pointer(*tokens[: i + 1]), "value": value}]
        node = child
    ops: list[Op] = []
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(_child(node, key), dict):
            ops.extend(merge_ops(body, (*tokens, key), value))
        else:
            ops.append({"op": "add", "path": pointer(*tokens, key), "value": value})
    return ops


def deep_merge(data: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with `patch` merged in (patch wins), for rewriting an embedded document whole."""
    out = dict(data)
    for key, value in patch.items():
        current = out.get(key)
        nested = current if isinstance(current, dict) else {}
        out[key] = deep_merge(nested, value) if isinstance(value, dict) else value
    return out
