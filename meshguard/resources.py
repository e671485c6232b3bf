"""Where the built-in rule pack and schemas live: inside the wheel, or beside a source checkout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`rules` or `schemas`: `meshguard/_data/<name>` in a wheel, `<repo>/<name>` in a checkout."""
    installed = _PACKAGE / "_data" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema from schemas/, e.g. schema("config")."""
    with open(data_dir("schemas") / f"{name}.schema.json", encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded
