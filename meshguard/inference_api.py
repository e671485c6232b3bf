"""One reading of the Gateway API Inference Extension (GIE) kinds across their API generations.

InferencePool exists twice with different field names (RULES.md §6 item 4, MG505–MG509, MG606):

* `inference.networking.k8s.io/v1` (GA since GIE v1.0.0): `selector: {matchLabels: {...}}`,
  `targetPorts: [{number}]` (1–8 entries), `endpointPickerRef: {group, kind, name, port: {number},
  failureMode}`, `appProtocol` (from v1.4.0).
* `inference.networking.x-k8s.io/v1alpha2` (legacy, GIE ≤ v0.5): a flat label map `selector`,
  `targetPortNumber: N`, `extensionRef: {group, kind, name, portNumber, failureMode}`.

(`gie api/v1/inferencepool_types.go`; `gie v0.5.1:api/v1alpha2/inferencepool_types.go`; CRDs
`config/crd/bases/inference.networking.{k8s,x-k8s}.io_inferencepools.yaml`.) `pool_view()` reads
either shape *leniently* — a v1 object written with v1alpha2 fields still yields its labels and
ports — so MG606 can resolve pods, and `foreign_fields()` lists the fields of the other generation
for MG506.

InferenceModel (`inference.networking.x-k8s.io/v1alpha2`, GIE ≤ v0.5; `poolRef.group` defaults to
`inference.networking.x-k8s.io`) was replaced by InferenceObjective, served by GIE v1.0–v1.5 in
`inference.networking.x-k8s.io` and, after GIE commit `88fd4792` (2026-06-17), by llm-d-router
as `llm-d.ai/v1alpha2`; both default `poolRef.group` to `inference.networking.k8s.io` and
`poolRef.kind` to `InferencePool` (`gie v1.0.0` CRD `..._inferenceobjectives.yaml`,
`llm-d-router config/crd/bases/llm-d.ai_inferenceobjectives.yaml`). `pool_ref()` applies them.

Every reader guards types: a hostile document (a string where a mapping belongs) yields
`None` or an empty value, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from meshguard.model import JsonPointer, Resource, pointer

if TYPE_CHECKING:
    from meshguard.inventory import Inventory

POOL_GROUP_V1 = "inference.networking.k8s.io"
POOL_GROUP_V1ALPHA2 = "inference.networking.x-k8s.io"
POOL_GROUPS = (POOL_GROUP_V1, POOL_GROUP_V1ALPHA2)
POOL_KIND = "InferencePool"
LLM_D_GROUP = "llm-d.ai"
#: `gie_api_home` parameter value → group serving InferenceObjective / InferenceModelRewrite.
OBJECTIVE_HOMES: Mapping[str, str] = {"gie": POOL_GROUP_V1ALPHA2, "llm-d": LLM_D_GROUP}
OBJECTIVE_KINDS = ("InferenceObjective", "InferenceModelRewrite")
#: Every (group, kind) of the objective family, InferenceModel included (MG508 applies_to).
OBJECTIVE_FAMILY: tuple[tuple[str, str], ...] = (
    (POOL_GROUP_V1ALPHA2, "InferenceModel"),
    (POOL_GROUP_V1ALPHA2, "InferenceObjective"),
    (POOL_GROUP_V1ALPHA2, "InferenceModelRewrite"),
    (LLM_D_GROUP, "InferenceObjective"),
    (LLM_D_GROUP, "InferenceModelRewrite"),
)
#: "implementations SHOULD infer a default value of 9002 when the Kind is Service" (v1alpha2
#: `portNumber`); the GIE chart writes `port.number: 9002` for v1.
DEFAULT_EPP_PORT = 9002
#: CRD default of `failureMode` in both generations (the GIE Helm chart writes FailOpen instead).
DEFAULT_FAILURE_MODE = "FailClose"
FAILURE_MODES = ("FailOpen", "FailClose")
#: v1 `appProtocol` enum (field added in GIE v1.4.0; default `http`).
APP_PROTOCOLS = ("http", "kubernetes.io/h2c")
MAX_TARGET_PORTS = 8

Generation = Literal["v1", "v1alpha2"]
# Fields that exist in only one generation (spec-relative key → generation owning it).
_V1_ONLY = ("targetPorts", "endpointPickerRef", "appProtocol")
_V1ALPHA2_ONLY = ("targetPortNumber", "extensionRef")


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None


def _port_int(value: Any) -> int | None:
    """A TCP port number, or None (bools, strings and out-of-range numbers are not ports)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return None
    return value


def _str(value: Any, default: str) -> str:
    return value if isinstance(value, str) else default


def is_inference_pool(res: Resource) -> bool:
    return res.kind == POOL_KIND and res.group in POOL_GROUPS


def pool_generation(group: str) -> Generation | None:
    """The InferencePool generation an API group serves (`None` for any other group)."""
    return "v1" if group == POOL_GROUP_V1 else "v1alpha2" if group == POOL_GROUP_V1ALPHA2 else None


class EndpointPicker(NamedTuple):
    """`endpointPickerRef` (v1) or `extensionRef` (v1alpha2), with the CRD defaults applied."""

    pointer: JsonPointer  # the ref itself
    field: str  # "endpointPickerRef" or "extensionRef"
    name: str | None
    kind: str  # default "Service"
    group: str  # default "" (core)
    port: int | None  # as written (v1 port.number / v1alpha2 portNumber); None when absent/invalid
    port_pointer: JsonPointer  # where the port is (or would be added)
    port_written: bool  # the port key is present, valid or not
    failure_mode: str | None  # as written; None when absent
    failure_mode_pointer: JsonPointer

    @property
    def is_service(self) -> bool:
        return self.kind == "Service" and self.group in ("", "core")

    @property
    def effective_failure_mode(self) -> str:
        return self.failure_mode if self.failure_mode in FAILURE_MODES else DEFAULT_FAILURE_MODE

    def effective_port(self) -> int | None:
        """The port the gateway dials: as written, else 9002 for a Service (v1alpha2 rule)."""
        if self.port is not None:
            return self.port
        return DEFAULT_EPP_PORT if self.is_service else None


class PoolView(NamedTuple):
    """An InferencePool read the same way whatever its generation."""

    resource: Resource
    generation: Generation  # from apiVersion, not from the fields used
    match_labels: Mapping[str, Any] | None  # None: no usable selector
    selector_pointer: JsonPointer  # of the label map actually read
    selector_shape: Literal["matchLabels", "flat", "missing"]
    target_ports: tuple[int, ...]  # valid port numbers, in order
    target_ports_pointer: (
        JsonPointer  # `/spec/targetPorts` or `/spec/targetPortNumber` (whichever was read)
    )
    endpoint_picker: EndpointPicker | None

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def namespace(self) -> str:
        return self.resource.namespace


def pool_view(res: Resource) -> PoolView | None:
    """Read an InferencePool of either generation; `None` if `res` is not one."""
    generation = pool_generation(res.group)
    if res.kind != POOL_KIND or generation is None:
        return None
    spec = res.spec
    labels, sel_ptr, shape = _selector(spec.get("selector"))
    ports, ports_ptr = _target_ports(spec, generation)
    return PoolView(
        res,
        generation,
        labels,
        sel_ptr,
        shape,
        ports,
        ports_ptr,
        _endpoint_picker(spec, generation),
    )


def _selector(
    selector: Any,
) -> tuple[Mapping[str, Any] | None, JsonPointer, Literal["matchLabels", "flat", "missing"]]:
    base = pointer("spec", "selector")
    sel = _mapping(selector)
    if sel is None:
        return None, base, "missing"
    if "matchLabels" in sel:
        inner = _mapping(sel.get("matchLabels"))
        return (
            (dict(inner) if inner else None),
            pointer("spec", "selector", "matchLabels"),
            "matchLabels",
        )
    flat = {k: v for k, v in sel.items() if isinstance(v, str)}
    return (flat or None), base, "flat"


def _target_ports(
    spec: Mapping[str, Any], generation: Generation
) -> tuple[tuple[int, ...], JsonPointer]:
    """v1 `targetPorts[].number` or v1alpha2 `targetPortNumber` (own generation first)."""
    order = (
        ("targetPorts", "targetPortNumber")
        if generation == "v1"
        else ("targetPortNumber", "targetPorts")
    )
    for key in order:
        if key not in spec:
            continue
        raw = spec.get(key)
        if key == "targetPortNumber":
            port = _port_int(raw)
            return ((port,) if port else ()), pointer("spec", key)
        items = raw if isinstance(raw, list) else []
        numbers = (_port_int(i.get("number")) for i in items if isinstance(i, dict))
        return tuple(n for n in numbers if n is not None), pointer("spec", key)
    return (), pointer("spec", order[0])


def _endpoint_picker(spec: Mapping[str, Any], generation: Generation) -> EndpointPicker | None:
    order = (
        ("endpointPickerRef", "extensionRef")
        if generation == "v1"
        else ("extensionRef", "endpointPickerRef")
    )
    key = next((k for k in order if _mapping(spec.get(k)) is not None), None)
    if key is None:
        return None
    ref = spec[key]
    base = pointer("spec", key)
    if key == "endpointPickerRef":
        port_obj = _mapping(ref.get("port"))
        port = _port_int(port_obj.get("number")) if port_obj else None
        port_ptr, written = pointer("spec", key, "port"), "port" in ref
    else:
        port = _port_int(ref.get("portNumber"))
        port_ptr, written = pointer("spec", key, "portNumber"), "portNumber" in ref
    name = ref.get("name")
    mode = ref.get("failureMode")
    return EndpointPicker(
        pointer=base,
        field=key,
        name=name if isinstance(name, str) and name else None,
        kind=_str(ref.get("kind"), "Service") or "Service",
        group=_str(ref.get("group"), ""),
        port=port,
        port_pointer=port_ptr,
        port_written=written,
        failure_mode=mode if isinstance(mode, str) else None,
        failure_mode_pointer=pointer("spec", key, "failureMode"),
    )


def foreign_fields(res: Resource) -> list[tuple[JsonPointer, str]]:
    """Fields of the *other* generation present on an InferencePool: [(pointer, description)].

    v1 with `targetPortNumber`/`extensionRef`/flat selector; v1alpha2 with
    `targetPorts`/`endpointPickerRef`/`appProtocol`/`selector.matchLabels` (MG506(1),(2)).
    """
    generation = pool_generation(res.group)
    if res.kind != POOL_KIND or generation is None:
        return []
    spec = res.spec
    foreign = _V1ALPHA2_ONLY if generation == "v1" else _V1_ONLY
    out = [(pointer("spec", key), key) for key in foreign if key in spec]
    sel = _mapping(spec.get("selector"))
    if sel is not None:
        if generation == "v1" and sel and "matchLabels" not in sel:
            out.append((pointer("spec", "selector"), "flat selector"))
        elif generation == "v1alpha2" and "matchLabels" in sel:
            out.append((pointer("spec", "selector", "matchLabels"), "selector.matchLabels"))
    return out


# -- references to pools ---------------------------------------------------------------------------
class PoolRef(NamedTuple):
    """`poolRef` of an InferenceObjective/InferenceModel with the CRD defaults applied."""

    pointer: JsonPointer
    name: str | None
    group: str  # after defaulting
    kind: str  # after defaulting
    group_written: bool


def default_pool_ref_group(res: Resource) -> str:
    """CRD default of `poolRef.group`: InferenceModel → x-k8s.io; InferenceObjective → k8s.io."""
    return POOL_GROUP_V1ALPHA2 if res.kind == "InferenceModel" else POOL_GROUP_V1


def is_objective_family(res: Resource) -> bool:
    return (res.group, res.kind) in OBJECTIVE_FAMILY


def pool_ref(res: Resource) -> PoolRef | None:
    """The `spec.poolRef` of an objective-family resource (None when absent or not a mapping)."""
    ref = _mapping(res.spec.get("poolRef"))
    if ref is None or not is_objective_family(res):
        return None
    group = ref.get("group")
    name = ref.get("name")
    return PoolRef(
        pointer=pointer("spec", "poolRef"),
        name=name if isinstance(name, str) and name else None,
        group=group if isinstance(group, str) else default_pool_ref_group(res),
        kind=_str(ref.get("kind"), POOL_KIND) or POOL_KIND,
        group_written="group" in ref,
    )


def find_pool(
    inventory: Inventory, namespace: str, name: str, group: str | None = None
) -> Resource | None:
    """An InferencePool by name: in `group` only, or (group None) v1 first, then v1alpha2. O(1)."""
    for candidate in (group,) if group is not None else POOL_GROUPS:
        found = inventory.get(candidate, POOL_KIND, namespace, name)
        if found is not None:
            return found
    return None


def istio_pool_group(istio_version: tuple[int, int]) -> str | None:
    """The one InferencePool group an Istio release resolves in backendRefs (None: unsupported).

    `istio pkg/config/schema/gvk/resources.gen.go` at tags: none in 1.25/1.26,
    `inference.networking.x-k8s.io/v1alpha2` in 1.27, `inference.networking.k8s.io/v1` from 1.28
    (RULES.md MG505(2)).
    """
    if istio_version >= (1, 28):
        return POOL_GROUP_V1
    if istio_version >= (1, 27):
        return POOL_GROUP_V1ALPHA2
    return None
