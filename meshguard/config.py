"""Configuration: `.meshguard.yaml`, `[tool.meshguard]` in pyproject.toml, or `--config FILE`.

One schema (schemas/config.schema.json) validates all three and holds every parameter's
default, so a default is written once. Errors are one line naming the file, the line (YAML)
and the key, and are raised before any manifest is read.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshguard.errors import ConfigError
from meshguard.model import Severity
from meshguard.resources import schema

CONFIG_NAMES = (".meshguard.yaml", ".meshguard.yml")


class Params:
    """Parameter values (RULES.md 0.3) with defaults filled in; `get("mesh.root_namespace")`."""

    __slots__ = ("_values", "_cache")

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values
        self._cache: dict[str, Any] = {}  # checks read the same few parameters per resource

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def get(self, dotted: str) -> Any:
        try:
            return self._cache[dotted]
        except KeyError:
            value = self._cache[dotted] = self._lookup(dotted)
            return value

    def _lookup(self, dotted: str) -> Any:
        value: Any = self._values
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(f"unknown parameter {dotted!r}")
            value = value[part]
        return value

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


def parameter_defaults() -> dict[str, Any]:
    """Defaults of every parameter, read from the config schema."""
    props = schema("config")["properties"]["parameters"]["properties"]
    return {name: _default_of(sub) for name, sub in props.items()}


def parameter_names() -> list[str]:
    """Every parameter name, dotted for nested ones (`mesh.root_namespace`)."""
    names: list[str] = []
    for name, sub in schema("config")["properties"]["parameters"]["properties"].items():
        if "properties" in sub:
            names.extend(f"{name}.{child}" for child in sub["properties"])
        else:
            names.append(name)
    return names


def parameter_doc(dotted: str) -> tuple[str, Any]:
    """(description, default) of one parameter."""
    node = schema("config")["properties"]["parameters"]
    for part in dotted.split("."):
        node = node["properties"][part]
    return node.get("description", ""), _default_of(node)


def _default_of(sub: Mapping[str, Any]) -> Any:
    """A parameter's default: its own `default`, overlaid by its properties' defaults."""
    if "properties" not in sub:
        return sub.get("default")
    base = dict(sub.get("default") or {})
    for name, child in sub["properties"].items():
        value = _default_of(child)
        if value is not None or name not in base:
            base[name] = value
    return base


def _merge(
    defaults: Mapping[str, Any], values: Mapping[str, Any], node: Mapping[str, Any]
) -> dict[str, Any]:
    """Overlay user values on defaults: structured objects (schema `properties`) merge key by
    key (`retry_profile.llm.attempts` alone keeps the default perTryTimeout); other values,
    lists and free-form maps included, replace the default whole."""
    merged = dict(defaults)
    props = node.get("properties", {})
    for key, value in values.items():
        base = merged.get(key)
        child = props.get(key, {})
        if isinstance(base, dict) and isinstance(value, Mapping) and "properties" in child:
            merged[key] = _merge(base, value, child)
        else:
            merged[key] = value
    return merged


def _parameters_schema() -> Mapping[str, Any]:
    params: Mapping[str, Any] = schema("config")["properties"]["parameters"]
    return params


@dataclass(frozen=True)
class Config:
    source: str = "(defaults)"
    params: Params = field(default_factory=lambda: Params(parameter_defaults()))
    disabled: frozenset[str] = frozenset()
    selected: frozenset[str] | None = None
    severity: Mapping[str, Severity] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    fail_on: str | None = None
    namespaces: tuple[str, ...] = ()
    base_dir: str = "."

    def rule_enabled(self, rule_id: str) -> bool:
        if rule_id in self.disabled:
            return False
        return self.selected is None or rule_id in self.selected

    def is_excluded(self, path: str) -> bool:
        """True when a path matches an `exclude` glob, whole or by any of its parts."""
        if not self.exclude:
            return False
        # relative to the configuration's folder, whatever the current folder (`./x` included)
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(self.base_dir))
        candidates = [path, os.path.normpath(path), rel, *Path(path).parts, *Path(rel).parts]
        return any(fnmatch.fnmatch(c, pattern) for c in candidates for pattern in self.exclude)


def find_config(start: Path) -> Path | None:
    """Walk up from `start` to the nearest `.meshguard.yaml` or pyproject with [tool.meshguard]."""
    for directory in (start, *start.parents):
        for name in CONFIG_NAMES:
            if (directory / name).is_file():
                return directory / name
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def _has_tool_table(pyproject: Path) -> bool:
    try:
        return "meshguard" in _read_toml(pyproject).get("tool", {})
    except ConfigError:
        # Someone else's broken pyproject.toml is not ours to report; one meant for us is.
        try:
            text = pyproject.read_text(encoding="utf-8", errors="replace")
            meant_for_us = "[tool.meshguard" in text
        except OSError:
            return False
        if meant_for_us:
            raise
        return False


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when a pyproject.toml is on the way up

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path}: {exc}") from exc


def load_config(path: Path | None, known_rules: Iterable[str]) -> Config:
    """Read and validate a configuration file; `None` gives the defaults."""
    if path is None:
        return Config()
    positions: Mapping[str, Any] = {}
    if path.name == "pyproject.toml":
        data = _read_toml(path).get("tool", {}).get("meshguard", {})
    else:
        data, positions = _read_yaml(path)
    _validate(path, data, positions)
    known = set(known_rules)
    for key in ("rules", "select", "ignore"):
        for rule_id in data.get(key) or ():
            if rule_id not in known:
                raise ConfigError(f"{_where(path, positions, [key])}: unknown rule id {rule_id!r}")
    return _build(path, data)


def _read_yaml(path: Path) -> tuple[dict[str, Any], Mapping[str, Any]]:
    from meshguard.loader import parse_single_document

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    try:
        data, positions = parse_single_document(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise ConfigError(f"{path}:{line}: YAML does not parse: {exc.problem}") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}".splitlines()[0]) from exc
    if data is None:
        return {}, positions
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the configuration must be a mapping")
    return data, positions


def _where(path: Path, positions: Mapping[str, Any], parts: list[Any]) -> str:
    pointer = "".join(f"/{p}" for p in parts)
    while pointer and pointer not in positions:
        pointer = pointer.rsplit("/", 1)[0]
    pos = positions.get(pointer)
    return f"{path}:{pos[0]}" if pos is not None else str(path)


def _validate(path: Path, data: Any, positions: Mapping[str, Any]) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema("config"))
    errors = sorted(
        validator.iter_errors(data), key=lambda e: (len(e.absolute_path), str(e.absolute_path))
    )
    if not errors:
        return
    error = errors[0]
    parts = list(error.absolute_path)
    key = ".".join(str(p) for p in parts)
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        name = ".".join([*map(str, parts), extra[0]]) if extra else key
        message = f"unknown key {name!r}"
        parts = [*parts, *(extra[:1])]
    else:
        message = f"{key or '(top level)'}: {_explain(error)}"
    raise ConfigError(f"{_where(path, positions, parts)}: {message}")


def _explain(error: Any) -> str:
    """A jsonschema error in the user's terms: the value found and what is expected."""
    found = error.instance
    if error.validator == "pattern":
        if "ns|us" in error.validator_value:
            return f"{found!r} is not a duration like 30s, 1m30s or 1.5s"
        if "h|m|s|ms" in error.validator_value:
            return f"{found!r} is not a Gateway API duration like 300s or 1m30s (no decimals)"
        return f'{found!r} does not have the expected form (e.g. "1.28", "v1.2.0")'
    if error.validator == "type":
        hint = " (quote it)" if error.validator_value == "string" else ""
        return f"{found!r} is not a {error.validator_value}{hint}"
    if error.validator == "enum":
        return f"{found!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "oneOf" and isinstance(found, dict) and "severity" in found:
        return f"severity {found['severity']!r} is not one of error, warning, info"
    return str(error.message)


def _build(path: Path, data: Mapping[str, Any]) -> Config:
    disabled = set(data.get("ignore") or ())
    severity: dict[str, Severity] = {}
    for rule_id, entry in (data.get("rules") or {}).items():
        if entry is False or (isinstance(entry, dict) and entry.get("enabled") is False):
            disabled.add(rule_id)
        if isinstance(entry, dict) and "severity" in entry:
            severity[rule_id] = Severity(entry["severity"])
    selected = data.get("select")
    return Config(
        source=str(path),
        params=Params(
            _merge(parameter_defaults(), data.get("parameters") or {}, _parameters_schema())
        ),
        disabled=frozenset(disabled),
        # as with --select, a file that does not parse is still reported (MG000)
        selected=frozenset(selected) | {"MG000"} if selected is not None else None,
        severity=severity,
        exclude=tuple(data.get("exclude") or ()),
        fail_on=data.get("fail_on"),
        namespaces=tuple(data.get("namespaces") or ()),
        base_dir=str(path.parent),
    )


def with_parameters(config: Config, overrides: Mapping[str, Any]) -> Config:
    """A copy of `config` with some parameters replaced (rule examples, webhook settings)."""
    from dataclasses import replace

    return replace(
        config, params=Params(_merge(config.params.as_dict(), overrides, _parameters_schema()))
    )
