"""Where mesh-wide settings come from: istiod Helm values, IstioOperator, ConfigMaps `istio` and
`istio-sidecar-injector`.

MG203, MG301(3), MG302, MG403, MG404, MG406, MG409, MG509 and MG602 read the same sources
(RULES.md MG409 "Applies to"), so they are found, and their embedded documents parsed, once
here. Helm values are only read from `--istio-values` / `istio.values_files`
(loader.load_values_file); the others are ordinary resources. istiod reads its ConfigMaps from
its own namespace, the root namespace: `istio` (`data.mesh`, YAML meshConfig) and the injector's
`istio-sidecar-injector` (`data.values`, the chart values rendered as JSON).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import yaml

from meshguard.body import mapping
from meshguard.loader import HELM_VALUES_API_VERSION, HELM_VALUES_KIND, parse_single_document
from meshguard.model import JsonPointer, Resource

_EMPTY: Mapping[str, Any] = {}
INJECTOR_CONFIGMAP = "istio-sidecar-injector"


class MeshSource(NamedTuple):
    """One place that configures the mesh, with JSON Pointers for findings and fixes."""

    resource: Resource
    mesh: Mapping[str, Any]  # meshConfig
    mesh_pointer: JsonPointer  # "/meshConfig", "/spec/meshConfig" or "/data/mesh" (a YAML string)
    values: Mapping[str, Any]  # Helm values (global, pilot, sidecarInjectorWebhook, ...)
    values_pointer: JsonPointer | None  # "" values file, "/spec/values", "/data/values" (JSON)
    mesh_is_string: bool = False  # ConfigMap data.mesh: positions inside it are not known
    values_is_string: bool = False  # injector ConfigMap data.values: likewise
    has_mesh: bool = True  # False for the injector ConfigMap, which holds no meshConfig

    @property
    def kind(self) -> str:
        return self.resource.kind


def mesh_sources(resources: Iterable[Resource], root_namespace: str) -> list[MeshSource]:
    out = []
    for res in resources:
        if res.api_version == HELM_VALUES_API_VERSION and res.kind == HELM_VALUES_KIND:
            mesh = mapping(res.body.get("meshConfig"))
            out.append(MeshSource(res, mesh, "/meshConfig", res.body, ""))
        elif res.kind == "IstioOperator" and res.group == "install.istio.io":
            spec = res.spec
            mesh, values = mapping(spec.get("meshConfig")), mapping(spec.get("values"))
            out.append(MeshSource(res, mesh, "/spec/meshConfig", values, "/spec/values"))
        elif res.kind == "ConfigMap" and res.group == "" and res.namespace == root_namespace:
            source = _configmap_source(res)
            if source is not None:
                out.append(source)
    return out


def _configmap_source(res: Resource) -> MeshSource | None:
    data = mapping(res.body.get("data"))
    mesh = data.get("mesh")
    if (res.name == "istio" or res.name.startswith("istio-")) and isinstance(mesh, str):
        return MeshSource(res, _parse_mesh(mesh), "/data/mesh", _EMPTY, None, True)
    if res.name.startswith(INJECTOR_CONFIGMAP):
        values = _parse_values(data.get("values"))
        if values is not None:
            return MeshSource(res, _EMPTY, "", values, "/data/values", False, True, False)
    return None


def _parse_mesh(text: str) -> Mapping[str, Any]:
    """`data.mesh` is YAML inside a string: parsed with the loader's bounds (depth, aliases)."""
    try:
        data, _ = parse_single_document(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return _EMPTY
    return mapping(data)


def _parse_values(text: Any) -> Mapping[str, Any] | None:
    """`data.values` is JSON inside a string; None when it is not a JSON object."""
    if not isinstance(text, str):
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # json.loads recurses per nesting level
        return None
    return data if isinstance(data, dict) else None


def mesh_value(sources: Iterable[MeshSource], *path: str) -> Any:
    """A meshConfig setting as the run configures it: the first source that sets it."""
    for source in sources:
        value: Any = source.mesh
        for token in path:
            value = value.get(token) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None
