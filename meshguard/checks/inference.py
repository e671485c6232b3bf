"""MG506–MG509: Gateway API Inference Extension objects, and Istio's readiness for them.

GIE renamed every InferencePool field between `inference.networking.x-k8s.io/v1alpha2` and the GA
`inference.networking.k8s.io/v1` (RULES.md §6 item 4), removed InferenceModel in v1.0 and moved
InferenceObjective to llm-d-router (`llm-d.ai`) in 2026. `meshguard.inference_api` reads both
generations; this module decides. Helpers beside it: `_inference_objectives` (MG508),
`_inference_mesh` (shared helpers, MG509(1) istiod flag) and `_inference_epp` (MG509(2) EPP
DestinationRule); this module registers every check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.body import mapping
from meshguard.checks import _inference_epp, _inference_mesh
from meshguard.checks import _inference_objectives as _objectives
from meshguard.checks._inference_mesh import gie_version
from meshguard.inference_api import (
    APP_PROTOCOLS,
    DEFAULT_EPP_PORT,
    DEFAULT_FAILURE_MODE,
    LLM_D_GROUP,
    MAX_TARGET_PORTS,
    POOL_GROUP_V1,
    POOL_GROUPS,
    POOL_KIND,
    EndpointPicker,
    foreign_fields,
    is_objective_family,
    istio_pool_group,
    pool_view,
)
from meshguard.inventory import GATEWAY_API, NETWORKING
from meshguard.model import Finding, Fix, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics.retryon import istio_version

Op = Mapping[str, Any]
_V1_API_VERSION = f"{POOL_GROUP_V1}/v1"


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# -- MG506 -----------------------------------------------------------------------------------


@check("MG506")
def inference_pool_schema_mismatch(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Field names of the other InferencePool generation are unknown fields to the API server.

    `gie api/v1/inferencepool_types.go` vs `gie v0.5.1:api/v1alpha2/inferencepool_types.go`:
    strict field validation rejects them, lenient clients prune them and then the required v1
    fields are missing. The x-k8s.io CRD is not shipped after GIE v1.5, and Istio ≥ 1.28 resolves
    only v1 pools (`istio pkg/config/schema/gvk/resources.gen.go`).
    """
    view = pool_view(res)
    if view is None:
        return
    if view.generation == "v1":
        yield from _v1_uses_alpha_fields(res, ctx)
        yield from _target_ports_invalid(res, ctx)
        yield from _app_protocol_invalid(res, ctx)
        return
    for ptr, field in foreign_fields(res):
        yield ctx.finding(
            ptr,
            f"v1alpha2 InferencePool {res.namespace}/{res.name} uses v1 field {field}",
            severity=Severity.ERROR,
        )
    yield _alpha_pool(res, ctx)


def _v1_uses_alpha_fields(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    spec = res.spec
    for ptr, field in foreign_fields(res):
        key = "selector" if field == "flat selector" else field
        ops = _field_to_v1(spec, key)
        fix = (
            Fix(f"rewrite {field} in the v1 shape", tuple(ops), safety=Safety.SAFE)
            if ops is not None
            else None
        )
        yield ctx.finding(
            ptr,
            f"v1 InferencePool {res.namespace}/{res.name} uses v1alpha2 field {field}",
            severity=Severity.ERROR,
            fix=fix,
        )


def _field_to_v1(spec: Mapping[str, Any], key: str) -> list[Op] | None:
    """RFC 6902 ops turning one v1alpha2 field into its v1 spelling (None: value unusable).

    `targetPortNumber: N` → `targetPorts: [{number: N}]`; flat `selector: M` → `{matchLabels: M}`;
    `extensionRef` → `endpointPickerRef` with `port: {number: portNumber or 9002}` (RULES.md MG506
    auto-fix; erratum 2.20). A v1 field already present wins: the v1alpha2 one is only removed.
    """
    value = spec.get(key)
    if key == "targetPortNumber":
        if not _is_port(value):
            return None
        ops: list[Op] = [{"op": "remove", "path": pointer("spec", key)}]
        if "targetPorts" not in spec:
            ops.append({"op": "add", "path": "/spec/targetPorts", "value": [{"number": value}]})
        return ops
    if key == "selector":
        if not isinstance(value, dict) or not value:
            return None
        if not all(isinstance(v, str) for v in value.values()):
            return None
        return [{"op": "replace", "path": "/spec/selector", "value": {"matchLabels": dict(value)}}]
    if key == "extensionRef":
        if not isinstance(value, dict):
            return None
        ops = [{"op": "remove", "path": "/spec/extensionRef"}]
        if "endpointPickerRef" not in spec:
            ops.append({"op": "add", "path": "/spec/endpointPickerRef", "value": _picker_of(value)})
        return ops
    return None


def _picker_of(ref: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: ref[k] for k in ("group", "kind", "name") if k in ref}
    port = ref.get("portNumber")
    if _is_port(port):
        out["port"] = {"number": port}
    elif ref.get("kind", "Service") == "Service":
        out["port"] = {"number": DEFAULT_EPP_PORT}
    if "failureMode" in ref:
        out["failureMode"] = ref["failureMode"]
    return out


def _alpha_pool(res: Resource, ctx: RuleContext) -> Finding:
    """MG506(3): every v1alpha2 pool, with the whole conversion as an unsafe fix."""
    istio = istio_version(ctx.params)
    fix = None
    if istio_pool_group(istio) != res.group:  # Istio 1.27 resolves only v1alpha2 pools
        ops = _pool_to_v1(res.spec)
        if ops is not None:
            fix = Fix(
                "convert the InferencePool to inference.networking.k8s.io/v1",
                ({"op": "replace", "path": "/apiVersion", "value": _V1_API_VERSION}, *ops),
                safety=Safety.UNSAFE,
            )
    return ctx.finding(
        "/apiVersion",
        f"InferencePool {res.namespace}/{res.name} uses {res.api_version}; "
        f"InferencePool is GA as {_V1_API_VERSION} since GIE v1.0.0 "
        f"(istio_version {istio[0]}.{istio[1]})",
        severity=Severity.WARNING,
        fix=fix,
    )


def _pool_to_v1(spec: Mapping[str, Any]) -> list[Op] | None:
    ops: list[Op] = []
    for key in ("targetPortNumber", "extensionRef"):
        if key in spec:
            field_ops = _field_to_v1(spec, key)
            if field_ops is None:
                return None
            ops.extend(field_ops)
    selector = spec.get("selector")
    if isinstance(selector, dict) and "matchLabels" not in selector:
        field_ops = _field_to_v1(spec, "selector")
        if field_ops is None:
            return None
        ops.extend(field_ops)
    return ops


def _target_ports_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """MG506(4): the v1 CRD's MinItems=1, MaxItems=8 (1 in GIE v1.0.x) and unique-number CEL."""
    spec = res.spec
    ptr = pointer("spec", "targetPorts")
    where = f"InferencePool {res.namespace}/{res.name}"
    if "targetPorts" not in spec:
        if "targetPortNumber" not in spec:  # otherwise MG506(1) reports the v1alpha2 field
            yield ctx.finding("/spec", f"{where} has no targetPorts", severity=Severity.ERROR)
        return
    ports = spec["targetPorts"]
    if not isinstance(ports, list):
        yield ctx.finding(ptr, f"{where} targetPorts is a {_type_name(ports)}, not a list")
        return
    version = gie_version(ctx)
    limit = 1 if version[:2] == (1, 0) else MAX_TARGET_PORTS
    if not ports:
        yield ctx.finding(ptr, f"{where} targetPorts is empty", severity=Severity.ERROR)
    elif len(ports) > limit:
        shown = "v{}.{}.{}".format(*version)
        yield ctx.finding(
            ptr,
            f"{where} has {len(ports)} targetPorts; gie_version {shown} allows at most {limit}",
            severity=Severity.ERROR,
        )
    yield from _target_port_entries(res, ctx, ports, where)


def _target_port_entries(
    res: Resource, ctx: RuleContext, ports: list[Any], where: str
) -> Iterator[Finding]:
    """Entries without a valid `number`, and repeated numbers (CEL "port number must be unique")."""
    seen: set[int] = set()
    duplicates: list[int] = []
    for index, item in enumerate(ports):
        raw = item.get("number") if isinstance(item, dict) else None
        if not isinstance(raw, int) or not _is_port(raw):
            yield ctx.finding(
                pointer("spec", "targetPorts", index),
                f"{where} targetPorts[{index}].number {raw!r} is not a port number 1-65535",
                severity=Severity.ERROR,
            )
        elif raw in seen:
            duplicates.append(index)
        else:
            seen.add(raw)
    if duplicates:
        numbers = sorted({ports[i]["number"] for i in duplicates})
        ops = tuple(
            {"op": "remove", "path": pointer("spec", "targetPorts", i)}
            for i in reversed(duplicates)
        )
        yield ctx.finding(
            pointer("spec", "targetPorts", duplicates[0]),
            f"{where} targetPorts repeats port {', '.join(map(str, numbers))}",
            severity=Severity.ERROR,
            fix=Fix("remove the repeated targetPorts entries", ops, safety=Safety.SAFE),
        )


def _app_protocol_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """MG506(5): `appProtocol` enum `http | kubernetes.io/h2c` (GIE v1.4.0 `AppProtocol`)."""
    if "appProtocol" not in res.spec:
        return
    value = res.spec["appProtocol"]
    if isinstance(value, str) and value in APP_PROTOCOLS:
        return
    fix = None
    if isinstance(value, str):
        lowered = value.strip().lower()
        fixed = "kubernetes.io/h2c" if lowered in ("h2c", "kubernetes.io/h2c") else lowered
        if fixed in APP_PROTOCOLS:
            fix = Fix.replace("/spec/appProtocol", fixed, f"set appProtocol to {fixed}")
    yield ctx.finding(
        "/spec/appProtocol",
        f"InferencePool {res.namespace}/{res.name} appProtocol {value!r} is not one of "
        f"{', '.join(APP_PROTOCOLS)}",
        severity=Severity.ERROR,
        fix=fix,
    )


# -- MG507 -----------------------------------------------------------------------------------


@check("MG507")
def endpoint_picker_ref_incomplete(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The EPP reference decides where ext_proc goes and what happens when it is down.

    `gie api/v1/inferencepool_types.go`: CEL `self.kind != 'Service' || has(self.port)`;
    `endpointPickerRef` required up to v1.5 (optional from v1.6, where implementations report
    `Accepted=False`, reason `EndpointPickerRefMissing`); `failureMode` defaults to FailClose
    while the GIE chart writes FailOpen
    (`v1.4.0 config/charts/inferencepool/templates/inferencepool.yaml`).
    """
    view = pool_view(res)
    if view is None:
        return
    own = "endpointPickerRef" if view.generation == "v1" else "extensionRef"
    picker = view.endpoint_picker
    where = f"InferencePool {res.namespace}/{res.name}"
    if picker is None:
        other = "extensionRef" if own == "endpointPickerRef" else "endpointPickerRef"
        if other not in res.spec:  # the other generation's field is MG506's
            yield _picker_missing(res, ctx, own, where)
        return
    if picker.field != own:
        return
    yield from _picker_port(ctx, view.generation, picker, where)
    if picker.failure_mode is None and "failureMode" not in mapping(res.spec.get(own)):
        yield ctx.finding(
            picker.pointer,
            f"{where} {own} has no failureMode (API default {DEFAULT_FAILURE_MODE}, "
            "GIE chart default FailOpen)",
            severity=Severity.INFO,
            fix=Fix.add(
                picker.failure_mode_pointer,
                DEFAULT_FAILURE_MODE,
                f"write failureMode: {DEFAULT_FAILURE_MODE}",
            ),
        )


def _picker_port(
    ctx: RuleContext, generation: str, picker: EndpointPicker, where: str
) -> Iterator[Finding]:
    """MG507(1): v1 CEL `self.kind != 'Service' || has(self.port)`; v1alpha2 infers 9002."""
    own = picker.field
    name = picker.name or "(unnamed)"
    if picker.port_written:
        if picker.port is None:
            yield ctx.finding(
                picker.port_pointer,
                f"{where} {own} port is not a port number 1-65535",
                severity=Severity.ERROR,
            )
        return
    if picker.kind != "Service":
        return
    if generation == "v1":
        yield ctx.finding(
            picker.pointer,
            f"{where} {own} {name} has kind Service and no port",
            severity=Severity.ERROR,
            fix=Fix.add(
                picker.port_pointer,
                {"number": DEFAULT_EPP_PORT},
                f"set {own}.port.number to {DEFAULT_EPP_PORT}",
                safety=Safety.UNSAFE,
            ),
        )
    else:
        yield ctx.finding(
            picker.pointer,
            f"{where} {own} {name} has no portNumber (implementations infer {DEFAULT_EPP_PORT})",
            severity=Severity.INFO,
        )


def _picker_missing(res: Resource, ctx: RuleContext, own: str, where: str) -> Finding:
    version = gie_version(ctx)
    shown = "v{}.{}.{}".format(*version)
    present = own in res.spec
    state = f"is a {_type_name(res.spec[own])}" if present else "is missing"
    optional = own == "endpointPickerRef" and version >= (1, 6, 0) and not present
    return ctx.finding(
        pointer("spec", own) if present else "/spec",
        f"{where} {own} {state} (gie_version {shown})",
        severity=Severity.WARNING if optional else Severity.ERROR,
    )


# -- MG508 -----------------------------------------------------------------------------------


@check("MG508")
def inference_objective_api_misuse(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """InferenceModel is gone, InferenceObjective takes an integer priority and moved home.

    `gie v0.5.1 api/v1alpha2/inferencemodel_types.go` (criticality enum); `gie v1.5.0
    apix/v1alpha2/inferenceobjective_types.go` (integer priority, unset = 0);
    `llm-d-router config/crd/bases/llm-d.ai_inferenceobjectives.yaml` (group `llm-d.ai`,
    `poolRef.group` default `inference.networking.k8s.io`); GIE commit `88fd4792` (APIs removed).
    """
    if not is_objective_family(res):
        return
    if res.kind == "InferenceModel":
        if gie_version(ctx) >= (1, 0, 0):
            yield _objectives.inference_model_removed(res, ctx)
        return
    yield from _objectives.pool_ref_group(res, ctx)
    if res.kind == "InferenceObjective":
        yield from _objectives.priority_invalid(res, ctx)
    home = str(ctx.params.get("gie_api_home"))
    if home == "llm-d" and res.group != LLM_D_GROUP:
        target = f"{LLM_D_GROUP}/v1alpha2"
        yield ctx.finding(
            "/apiVersion",
            f"{res.kind} {res.namespace}/{res.name} uses {res.api_version} "
            "while gie_api_home is llm-d",
            severity=Severity.WARNING,
            fix=Fix.replace(
                "/apiVersion", target, f"set apiVersion to {target}", safety=Safety.UNSAFE
            ),
        )


# -- MG509 -----------------------------------------------------------------------------------


@check("MG509")
def istio_not_prepared_for_inference_pool(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio ignores InferencePool routes without its feature flag, and the EPP's TLS must fit.

    `istio pilot/pkg/features/experimental.go` (`ENABLE_GATEWAY_API_INFERENCE_EXTENSION`, default
    false); `conversion.go` ("InferencePool is not enabled"); `gie v1.4.0
    config/charts/inferencepool/templates/istio.yaml` (the SIMPLE DestinationRule). Details in
    `_inference_mesh` (1) and `_inference_epp` (2).
    """
    if res.group == GATEWAY_API and res.kind == "HTTPRoute":
        yield from _inference_mesh.route_unresolved(res, ctx)
    elif res.group == NETWORKING and res.kind == "DestinationRule":
        yield from _inference_epp.dr_tls_wrong(res, ctx)
    elif res.group in POOL_GROUPS and res.kind == POOL_KIND:
        yield from _inference_epp.pool_without_dr(res, ctx)
    else:
        source = _inference_mesh.env_source(res)
        if source is not None:
            yield from _inference_mesh.flag_missing(source, ctx)
