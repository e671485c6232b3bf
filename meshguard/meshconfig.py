"""Where mesh-wide settings come from: istiod Helm values, IstioOperator, ConfigMap `istio`.

MG301(3), MG302, MG406, MG409 and MG509 read the same three sources (RULES.md MG409 "Applies
to"), so they are found once here. Helm values are only read from `--istio-values` /
`istio.values_files` (loader.load_values_file); the other two are ordinary resources.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from meshguard.loader import HELM_VALUES_API_VERSION, HELM_VALUES_KIND, parse_single_document
from meshguard.model import Resource

_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class MeshSource:
    """One place that configures the mesh, with JSON Pointers for findings and fixes."""

    resource: Resource
    mesh: Mapping[str, Any]  # meshConfig
    mesh_pointer: str  # "/meshConfig", "/spec/meshConfig" or "/data/mesh" (a YAML string)
    values: Mapping[str, Any]  # Helm values (global, pilot, sidecarInjectorWebhook, ...)
    values_pointer: str | None  # "" for a values file, "/spec/values" for IstioOperator
    mesh_is_string: bool = False  # ConfigMap data.mesh: positions inside it are not known

    @property
    def kind(self) -> str:
        return self.resource.kind


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def mesh_sources(resources: Iterable[Resource], root_namespace: str) -> list[MeshSource]:
    out = []
    for res in resources:
        if res.api_version == HELM_VALUES_API_VERSION and res.kind == HELM_VALUES_KIND:
            out.append(MeshSource(res, _mapping(res.body.get("meshConfig")), "/meshConfig", res.body, ""))
        elif res.kind == "IstioOperator" and res.group == "install.istio.io":
            spec = res.spec
            out.append(
                MeshSource(res, _mapping(spec.get("meshConfig")), "/spec/meshConfig",
                           _mapping(spec.get("values")), "/spec/values")
            )
        elif (
            res.kind == "ConfigMap"
            and res.group == ""
            and res.namespace == root_namespace
            and (res.name == "istio" or res.name.startswith("istio-"))
            and isinstance(_mapping(res.body.get("data")).get("mesh"), str)
        ):
            out.append(MeshSource(res, _parse_mesh(res.body["data"]["mesh"]), "/data/mesh", _EMPTY, None, True))
    return out


def _parse_mesh(text: str) -> Mapping[str, Any]:
    """`data.mesh` is YAML inside a string: parsed with the loader's bounds (depth, aliases)."""
    try:
        data, _ = parse_single_document(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return _EMPTY
    return _mapping(data)
