"""Pod-template metadata for the injection rules (MG401–MG405): where labels and annotations live,
which Istio annotations are pod-scoped, and the sidecar resource annotations.

Names and scopes come from ``istio-api annotation/annotations.yaml`` and ``label/labels.yaml``
(istio/api @ b8f8791); the injector behaviour from ``istio pkg/kube/inject/inject.go:
injectRequired`` and ``istio-discovery/files/injection-template.yaml``. Pod templates are the
inventory's own workloads; whether a pod is injected at all is ``semantics.injection``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from meshguard.body import dig
from meshguard.inventory import Inventory, Workload
from meshguard.meshconfig import MeshSource
from meshguard.model import Fix, JsonPointer, Resource, Safety, pointer
from meshguard.semantics.injection import INJECT, as_text
from meshguard.semantics.quantity import parse_quantity, quantity_error

PROXY_CPU = "sidecar.istio.io/proxyCPU"
PROXY_MEMORY = "sidecar.istio.io/proxyMemory"
PROXY_CPU_LIMIT = "sidecar.istio.io/proxyCPULimit"
PROXY_MEMORY_LIMIT = "sidecar.istio.io/proxyMemoryLimit"
# annotation -> (section, resource) of the proxy's `resources` (injection-template.yaml)
PROXY_RESOURCE_KEYS: dict[str, tuple[str, str]] = {
    PROXY_CPU: ("requests", "cpu"),
    PROXY_MEMORY: ("requests", "memory"),
    PROXY_CPU_LIMIT: ("limits", "cpu"),
    PROXY_MEMORY_LIMIT: ("limits", "memory"),
}

# annotations.yaml entries whose `resources` is [Pod] (istio/api @ b8f8791, hidden included).
POD_ONLY_ANNOTATIONS = frozenset(
    {
        "prometheus.istio.io/merge-metrics",
        "sidecar.istio.io/inject",
        "sidecar.istio.io/status",
        "sidecar.istio.io/rewriteAppHTTPProbers",
        "sidecar.istio.io/discoveryAddress",
        "sidecar.istio.io/proxyImage",
        "sidecar.istio.io/proxyImageType",
        PROXY_CPU,
        PROXY_CPU_LIMIT,
        PROXY_MEMORY,
        PROXY_MEMORY_LIMIT,
        "sidecar.istio.io/interceptionMode",
        "sidecar.istio.io/bootstrapOverride",
        "sidecar.istio.io/statsInclusionPrefixes",
        "sidecar.istio.io/statsInclusionSuffixes",
        "sidecar.istio.io/statsInclusionRegexps",
        "sidecar.istio.io/statsHistogramBuckets",
        "sidecar.istio.io/statsFlushInterval",
        "sidecar.istio.io/statsEvictionInterval",
        "sidecar.istio.io/statsHistogramBins",
        "sidecar.istio.io/statsCompression",
        "sidecar.istio.io/userVolume",
        "sidecar.istio.io/userVolumeMount",
        "sidecar.istio.io/logLevel",
        "sidecar.istio.io/componentLogLevel",
        "sidecar.istio.io/agentLogLevel",
        "sidecar.istio.io/nativeSidecar",
        "sidecar.istio.io/extraStatTags",
        "status.sidecar.istio.io/port",
        "readiness.status.sidecar.istio.io/initialDelaySeconds",
        "readiness.status.sidecar.istio.io/periodSeconds",
        "readiness.status.sidecar.istio.io/failureThreshold",
        "readiness.status.sidecar.istio.io/applicationPorts",
        "traffic.sidecar.istio.io/includeOutboundIPRanges",
        "traffic.sidecar.istio.io/excludeOutboundIPRanges",
        "traffic.sidecar.istio.io/includeInboundPorts",
        "traffic.sidecar.istio.io/excludeInboundPorts",
        "traffic.sidecar.istio.io/excludeInterfaces",
        "traffic.sidecar.istio.io/includeOutboundPorts",
        "traffic.sidecar.istio.io/excludeOutboundPorts",
        "traffic.sidecar.istio.io/kubevirtInterfaces",
        "proxy.istio.io/config",
        "proxy.istio.io/overrides",
        "istio.io/rev",
        "inject.istio.io/templates",
        "ambient.istio.io/redirection",
        "ambient.istio.io/bypass-inbound-capture",
        "ambient.istio.io/dns-capture",
        "istio.io/reroute-virtual-interfaces",
    }
)
# The injection template also reads undocumented keys (e.g. sidecar.istio.io/capNetBindService).
POD_SCOPED_PREFIXES = ("sidecar.istio.io/", "traffic.sidecar.istio.io/")

# RULES.md MG407 "Applies to": their opt-outs are MG407's fallback, not MG402(1).
BATCH_KINDS = frozenset(
    {"Job", "CronJob", "PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "TrainJob", "RayJob"}
)
# Kubernetes label value syntax (apimachinery validation.IsValidLabelValue).
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MI = Fraction(1 << 20)
_MESH_RESOURCES = ("global", "proxy", "resources")
BINARY_SUFFIXES = frozenset({"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"})
DECIMAL_BYTE_SUFFIXES = frozenset({"k", "M", "G", "T", "P", "E"})


def is_pod_scoped(key: object) -> bool:
    """An annotation the injector reads from the Pod only (annotations.yaml `resources: [Pod]`)."""
    return isinstance(key, str) and (
        key in POD_ONLY_ANNOTATIONS or key.startswith(POD_SCOPED_PREFIXES)
    )


class PodTemplate(NamedTuple):
    """The metadata the pods of a workload get, and where it is written in the resource."""

    workload: Workload
    meta_pointer: JsonPointer  # "/metadata" for a Pod or an InferenceService
    parent: Any  # the template mapping that holds `metadata` (None: the template is absent)
    meta: Any  # the raw `metadata` value (None when absent)
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]

    @property
    def resource(self) -> Resource:
        return self.workload.resource

    @property
    def ref(self) -> str:
        return self.workload.ref

    def label_pointer(self, key: str) -> JsonPointer:
        return self.meta_pointer + pointer("labels", key)

    def annotation_pointer(self, key: str) -> JsonPointer:
        return self.meta_pointer + pointer("annotations", key)

    def add_ops(
        self, field: str, entries: Mapping[str, Any], own: Iterable[str]
    ) -> list[dict[str, Any]] | None:
        """RFC 6902 ops adding `own` keys of `entries` to metadata.`field`, never overwriting.

        When the map is absent the whole of `entries` is added, so several findings whose fixes
        each create the same map agree whatever order they are applied in. None: cannot fix.
        """
        if self.meta is None:
            if not isinstance(self.parent, dict):
                return None
            return [{"op": "add", "path": self.meta_pointer, "value": {field: dict(entries)}}]
        if not isinstance(self.meta, dict):
            return None
        current = self.meta.get(field)
        if current is None:
            return [
                {"op": "add", "path": self.meta_pointer + pointer(field), "value": dict(entries)}
            ]
        if not isinstance(current, dict):
            return None
        return [
            {"op": "add", "path": self.meta_pointer + pointer(field, key), "value": entries[key]}
            for key in own
            if key not in current
        ]


def pod_templates(res: Resource, inv: Inventory) -> list[PodTemplate]:
    """Pod templates of a resource, built on the inventory's own workloads."""
    out = []
    for workload in inv.workloads_of_resource(res):
        if workload.resource.kind == "InferenceService":
            # KServe propagates the InferenceService's own metadata to the predictor pods.
            parent: Any = res.body
            labels, annotations = res.labels, res.annotations
        else:
            tokens = [t for t in workload.pointer.split("/") if t]
            parent = dig(res.body, *tokens) if tokens else res.body
            labels, annotations = workload.labels, workload.annotations
        meta = parent.get("metadata") if isinstance(parent, dict) else None
        out.append(
            PodTemplate(workload, workload.metadata_pointer, parent, meta, labels, annotations)
        )
    return out


class InjectSetting(NamedTuple):
    value: str | None  # the text the injector compares ("false" for a YAML false)
    where: str  # "label" | "annotation" | "" (unset)
    pointer: JsonPointer


def effective_inject(tpl: PodTemplate) -> InjectSetting:
    """The `sidecar.istio.io/inject` value the injector uses: the label wins over the annotation
    (inject.go injectRequired: "if both are present we prefer the label")."""
    if INJECT in tpl.labels:
        return InjectSetting(as_text(tpl.labels[INJECT]), "label", tpl.label_pointer(INJECT))
    if INJECT in tpl.annotations:
        return InjectSetting(
            as_text(tpl.annotations[INJECT]), "annotation", tpl.annotation_pointer(INJECT)
        )
    return InjectSetting(None, "", "")


def is_label_value(text: str) -> bool:
    return len(text) <= 63 and _LABEL_VALUE.match(text) is not None


def pod_labels(workload: Workload) -> Mapping[str, Any]:
    """Labels the pods carry; an InferenceService also propagates its own metadata labels."""
    if workload.resource.kind == "InferenceService":
        return {**workload.resource.labels, **workload.labels}
    return workload.labels


# -- quantities ---------------------------------------------------------------------------------


def quantity_text(value: Any) -> str | None:
    """The text of a valid quantity (a JSON number counts, as in pod specs and Helm values)."""
    if quantity_error(value) is not None:
        return None
    if isinstance(value, str):
        return value.strip()
    return as_text(value)


def quantity_of(value: Any) -> Fraction | None:
    text = quantity_text(value)
    return parse_quantity(text) if text is not None else None


def format_mi(amount: Fraction) -> str:
    """Bytes as Mi with one decimal (512M = 488.3Mi)."""
    return f"{float(amount / MI):.1f}".rstrip("0").rstrip(".") + "Mi"


# -- mesh-wide proxy resources (MG403(3) reads what MG406 checks) -------------------------------


def mesh_proxy_resources(inv: Inventory) -> list[Any]:
    """`global.proxy.resources` of every Helm values file, IstioOperator and injector ConfigMap.

    An entry is the raw value (None when the source does not set it: the chart default applies).
    An empty list means no mesh-wide input in the run.
    """
    sources = inv.mesh_sources
    return [dig(s.values, *_MESH_RESOURCES) for s in sources if s.values_pointer is not None]


def is_profile(resources: Any, profile: Mapping[str, Any]) -> bool:
    """All four of requests/limits cpu/memory set and equal (as quantities) to the profile."""
    for section in ("requests", "limits"):
        for name in ("cpu", "memory"):
            want = quantity_of(dig(profile, section, name))
            got = quantity_of(dig(resources, section, name))
            if want is None or got is None or want != got:
                return False
    return True


def profile_value(profile: Mapping[str, Any], key: str) -> str | None:
    section, name = PROXY_RESOURCE_KEYS[key]
    return as_text(dig(profile, section, name))


def get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def shown(value: Any) -> str:
    """A label/annotation value as written: `"true"` for a string, `true` for a YAML boolean."""
    text = as_text(value)
    if text is None:
        return yaml_type(value) if value is None or isinstance(value, Mapping | list) else "…"
    return f'"{text}"' if isinstance(value, str) else text


def yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "mapping" if isinstance(value, dict) else "list" if isinstance(value, list) else "null"


# -- profile fixes (MG403) ----------------------------------------------------------------------


def profile_fix(tpl: PodTemplate, profile: Mapping[str, Any], keys: list[str]) -> Fix | None:
    """Add `keys` with the `sidecar_resources` profile values."""
    return _annotations_fix(tpl, {key: profile_value(profile, key) for key in keys})


def pair_fix(tpl: PodTemplate, profile: Mapping[str, Any], only: str) -> Fix | None:
    """Complete a requests-only (limits-only) set without creating request > limit (MG404(4))."""
    entries: dict[str, str | None] = {}
    for request, limit in ((PROXY_CPU, PROXY_CPU_LIMIT), (PROXY_MEMORY, PROXY_MEMORY_LIMIT)):
        have, add = (request, limit) if only == "requests" else (limit, request)
        text = tpl.annotations.get(have)
        wanted = profile_value(profile, add)
        current, target = quantity_of(text), quantity_of(wanted)
        if current is None or target is None or not isinstance(text, str):
            return None
        keep_current = target < current if only == "requests" else target > current
        entries[add] = text if keep_current else wanted
    return _annotations_fix(tpl, entries)


def _annotations_fix(tpl: PodTemplate, entries: Mapping[str, str | None]) -> Fix | None:
    if any(v is None for v in entries.values()):
        return None
    ops = tpl.add_ops("annotations", entries, list(entries))
    if not ops:
        return None
    title = "add " + ", ".join(f'{k}: "{v}"' for k, v in entries.items())
    return Fix(title, tuple(ops), safety=Safety.UNSAFE)


# -- sidecar resource values (MG404) ------------------------------------------------------------


class ResourceValue(NamedTuple):
    pointer: JsonPointer
    name: str  # as shown in messages
    section: str  # requests | limits
    resource: str  # cpu | memory
    raw: Any
    annotation: bool  # annotations must be YAML strings; Helm values may be numbers


class ParsedValue(NamedTuple):
    value: ResourceValue
    text: str
    amount: Fraction


def annotation_values(tpl: PodTemplate) -> list[ResourceValue]:
    return [
        ResourceValue(tpl.annotation_pointer(key), key, *PROXY_RESOURCE_KEYS[key], raw, True)
        for key, raw in tpl.annotations.items()
        if key in PROXY_RESOURCE_KEYS
    ]


def helm_values(source: MeshSource) -> list[ResourceValue]:
    """`global.proxy.resources` of a Helm values file or an IstioOperator's `spec.values`."""
    resources = dig(source.values, "global", "proxy", "resources")
    out = []
    for section in ("requests", "limits"):
        amounts = get(resources, section)
        for name in ("cpu", "memory"):
            if isinstance(amounts, dict) and name in amounts:
                tokens = ("global", "proxy", "resources", section, name)
                ptr = f"{source.values_pointer}{pointer(*tokens)}"
                out.append(
                    ResourceValue(ptr, ".".join(tokens), section, name, amounts[name], False)
                )
    return out
