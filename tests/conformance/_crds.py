"""Validators for custom resources, built from the official CRDs in the shared corpus.

A CRD's `spec.versions[].schema.openAPIV3Schema` is an OpenAPI v3 *structural* schema with
Kubernetes extensions; `to_json_schema` turns it into JSON Schema (draft 2020-12) that behaves
like the API server's validation of a create request:

- unknown fields are rejected (`additionalProperties: false` wherever `properties` are listed),
  as `kubectl apply` does with its default `--validate=strict` (server-side field validation);
  `x-kubernetes-preserve-unknown-fields: true` keeps them;
- `x-kubernetes-int-or-string` is `integer | string`;
- `nullable: true` admits null; a null *field* that is not nullable is pruned, and then
  `default`s are applied, before validation (`prepare`), as the API server does
  (apiextensions "Defaulting and Nullable"); a null list item is only admitted when nullable;
- `format: int32` / `int64` become the integer bounds (go-openapi `validate` range check);
  string formats (`date-time`, `ipv4`, ...) are not checked;
- `x-kubernetes-list-type: set` means unique items and `map` unique `x-kubernetes-list-map-keys`;
- `x-kubernetes-validations` (CEL) are NOT evaluated: a document that passes here can still be
  rejected by a CEL rule (e.g. PeerAuthentication "portLevelMtls requires selector", Istio's
  duration minimums, Gateway API's path/port cross-field rules).

The root always admits `apiVersion`, `kind` and `metadata` (ObjectMeta is validated by the API
server itself; here only `name`/`namespace` strings and string-valued `labels`/`annotations`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from jsonschema import validators

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# Where the official CRDs live in the corpus; (label, glob) in the order they are loaded.
# `label` separates releases that publish the same (group, version, kind) with different schemas:
# Gateway API standard vs experimental channel, GIE v0.5.1 vs v1.0.0 (both v1alpha2 InferencePool).
CRD_SOURCES: tuple[tuple[str, str], ...] = (
    ("istio", "crds/istio/manifests/charts/base/files/crd-all.gen.yaml"),
    ("gwapi-standard", "crds/gateway-api/config/crd/standard/*.yaml"),
    ("gwapi-experimental", "crds/gateway-api/config/crd/experimental/*.yaml"),
    ("gie-head", "crds/gateway-api-inference-extension/config/crd/bases/*.yaml"),
    ("gie-v1.0.0", "crds/gateway-api-inference-extension@v1.0.0/config/crd/bases/*.yaml"),
    ("gie-v0.5.1", "crds/gateway-api-inference-extension@v0.5.1/config/crd/bases/*.yaml"),
    ("llm-d-router", "real-world/llm-d-router/config/crd/bases/*.yaml"),
)

OBJECT_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
        "annotations": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    },
}

_JUNCTORS = ("allOf", "anyOf", "oneOf")
_DROP = frozenset(
    {
        "nullable",
        "format",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
        "x-kubernetes-map-type",
        "x-kubernetes-embedded-resource",
        "description",
        "default",
        "example",
    }
)


def to_json_schema(node: Any, *, root: bool = False) -> Any:
    """One OpenAPI v3 structural schema node → JSON Schema (see the module docstring)."""
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("additionalProperties", "items"):
            out[key] = to_json_schema(value)
        elif key in _JUNCTORS:
            out[key] = [_value_validation(v) for v in value]
        elif key == "not":
            out[key] = _value_validation(value)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    fmt = node.get("format")
    if fmt in ("int32", "int64") and _has_type(out, "integer"):
        low, high = INT32 if fmt == "int32" else INT64
        out["minimum"] = max(out.get("minimum", low), low)
        out["maximum"] = min(out.get("maximum", high), high)
    if root:
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = OBJECT_META
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if "type" in out and node.get("nullable"):
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"] if "null" not in types else types
    return out


def prepare(instance: Any, node: Any) -> Any:
    """A copy of `instance` as the API server validates it: non-nullable null fields pruned,
    then `default`s applied (structural defaulting: properties, map values, list items)."""
    if not isinstance(node, Mapping):
        return instance
    if isinstance(instance, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        out: dict[str, Any] = {}
        for key, value in instance.items():
            sub = props.get(key, extra if isinstance(extra, Mapping) else None)
            if value is None and isinstance(sub, Mapping) and not sub.get("nullable"):
                continue  # pruned
            out[key] = prepare(value, sub)
        for key, sub in props.items():
            if key not in out and isinstance(sub, Mapping) and "default" in sub:
                out[key] = prepare(copy.deepcopy(sub["default"]), sub)
        return out
    if isinstance(instance, list):
        return [prepare(item, node.get("items")) for item in instance]
    return instance


def _value_validation(node: Any) -> Any:
    """Inside allOf/anyOf/oneOf/not a structural schema only restricts values: no closing of
    objects there (the properties it names are declared, and closed, by the enclosing node)."""
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {name: _value_validation(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = _value_validation(value)
        elif key in _JUNCTORS:
            out[key] = [_value_validation(v) for v in value]
        else:
            out[key] = value
    return out


def _has_type(schema: Mapping[str, Any], name: str) -> bool:
    t = schema.get("type")
    return t == name or (isinstance(t, list) and name in t)


def _list_type(
    validator: Any, list_type: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    """x-kubernetes-list-type: `set` items are unique; `map` items are unique by their keys."""
    if not isinstance(instance, list):
        return
    if list_type == "set":
        seen: list[Any] = []
        for item in instance:
            if item in seen:
                yield jsonschema.ValidationError(f"duplicate item {item!r} in a list-type set")
                return
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or []
        seen_keys: set[tuple[Any, ...]] = set()
        for item in instance:
            if not isinstance(item, Mapping):
                continue
            key = tuple(repr(item.get(k)) for k in keys)
            if key in seen_keys:
                named = ", ".join(f"{k}={item.get(k)!r}" for k in keys)
                yield jsonschema.ValidationError(f"duplicate entry {named} in a list-type map")
                return
            seen_keys.add(key)


_Validator = validators.extend(
    jsonschema.Draft202012Validator, {"x-kubernetes-list-type": _list_type}
)


@dataclass(frozen=True, eq=False)
class CrdVersion:
    source: str  # CRD_SOURCES label
    path: str  # relative to the corpus
    group: str
    version: str
    kind: str
    served: bool
    openapi: Mapping[str, Any]  # spec.versions[].schema.openAPIV3Schema as published

    @functools.cached_property
    def schema(self) -> dict[str, Any]:
        return to_json_schema(self.openapi, root=True)  # type: ignore[no-any-return]

    @functools.cached_property
    def validator(self) -> Any:
        return _Validator(self.schema)

    def errors(self, body: Any) -> list[str]:
        """Schema errors of one document body, as `/json/pointer: message` lines."""
        found = self.validator.iter_errors(prepare(body, self.openapi))
        ordered = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
        return [
            f"/{'/'.join(str(p) for p in e.absolute_path)}: {_short(e.message)}" for e in ordered
        ]


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."


@functools.cache
def load_crds(corpus: Path) -> tuple[CrdVersion, ...]:
    """Every version of every CRD in CRD_SOURCES; validators are built on first use."""
    out: list[CrdVersion] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for source, pattern in CRD_SOURCES:
        for path in sorted(corpus.glob(pattern)):
            with open(path, encoding="utf-8") as handle:
                docs = list(yaml.load_all(handle, Loader=loader))
            for doc in docs:
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec["versions"]:
                    raw = (version.get("schema") or {}).get("openAPIV3Schema")
                    if raw is None:
                        continue
                    out.append(
                        CrdVersion(
                            source=source,
                            path=str(path.relative_to(corpus)),
                            group=spec["group"],
                            version=version["name"],
                            kind=spec["names"]["kind"],
                            served=bool(version.get("served", True)),
                            openapi=raw,
                        )
                    )
    return tuple(out)


def crd_groups(corpus: Path) -> frozenset[str]:
    return frozenset(c.group for c in load_crds(corpus))


def gateway_api_source(params: Mapping[str, Any] | None) -> str:
    """The Gateway API channel a pass example assumes (meshguard `gateway_api_channel`)."""
    channel = (params or {}).get("gateway_api_channel", "standard")
    return f"gwapi-{channel}"


def gie_source(group: str, params: Mapping[str, Any] | None) -> str:
    """The GIE release whose v1alpha2 CRDs an example assumes (meshguard `gie_version`)."""
    if group == "inference.networking.k8s.io":
        return "gie-head"
    return "gie-v0.5.1" if (params or {}).get("gie_version") == "v0.5.1" else "gie-v1.0.0"


def validator_for(
    corpus: Path, api_version: str, kind: str, params: Mapping[str, Any] | None = None
) -> CrdVersion | None:
    """The served CRD version for a document, or None when no loaded CRD has its group.

    Raises LookupError when the group is known but no CRD serves (version, kind): the API
    server would answer "no matches for kind".
    """
    group, _, version = api_version.rpartition("/")
    crds = load_crds(corpus)
    if group not in crd_groups(corpus):
        return None
    candidates = [
        c for c in crds if (c.group, c.version, c.kind) == (group, version, kind) and c.served
    ]
    if not candidates:
        raise LookupError(f"no CRD in the corpus serves {kind} {api_version}")
    wanted = {"gateway.networking.k8s.io": gateway_api_source(params)}.get(group)
    if group.startswith("inference.networking"):
        wanted = gie_source(group, params)
    for c in candidates:
        if c.source == wanted:
            return c
    return candidates[0]


def documents(text: str) -> list[dict[str, Any]]:
    """Kubernetes objects of a YAML stream, parsed like the API server's YAML (keys are strings)."""
    from meshguard.loader import load_text

    loaded = load_text(text, "example.yaml")
    return [dict(r.body) for r in loaded.resources]
