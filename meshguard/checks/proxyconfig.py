"""MG406, MG408, MG409: mesh-wide proxy resources, Service port protocols of model servers, and
access logging / tracing.

Mesh config comes from `Inventory.mesh_sources` (istiod Helm values, IstioOperator, ConfigMaps
`istio` and `istio-sidecar-injector`, whose `data.values` JSON MG406 reads). Port protocols are
`semantics.protocols.port_protocol` (Istio `ConvertProtocol`); this module only decides what is
worth reporting. MG407 (batch pods with classic sidecars) is in `batch.py`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml

from meshguard.body import as_list, dig, mapping
from meshguard.checks._body import deep_merge, merge_ops, nest, pointer_tokens, scalar_text
from meshguard.checks._pod_annotations import quantity_of
from meshguard.inventory import Inventory, Workload
from meshguard.meshconfig import MeshSource
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics.hosts import service_host
from meshguard.semantics.protocols import GRPC_CAPABLE, SNIFFED, port_protocol

# -- MG406 -----------------------------------------------------------------------------------

_RESOURCES = ("global", "proxy", "resources")
_KEYS = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))
# istio manifests/charts/istio-control/istio-discovery/values.yaml global.proxy.resources
_ISTIO_DEFAULT = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "2000m", "memory": "1024Mi"},
}


def _values_target(
    res: Resource, inventory: Inventory
) -> tuple[Mapping[str, Any], tuple[str, ...], bool] | None:
    """(Helm values, their pointer tokens, whether they are a JSON string) of a mesh source."""
    source = inventory.mesh_source_of(res)
    if source is None or source.values_pointer is None:
        return None
    return source.values, pointer_tokens(source.values_pointer), source.values_is_string


def _deviations(
    values: Mapping[str, Any], profile: Mapping[str, Any]
) -> list[tuple[str, str, Any, Any]]:
    """(section, name, value found or None, profile value) for keys absent or not the profile;
    invalid values are MG404's (its Applies-to covers `global.proxy.resources`)."""
    resources = dig(values, *_RESOURCES)
    out = []
    for section, name in _KEYS:
        want, got = dig(profile, section, name), dig(resources, section, name)
        want_q = quantity_of(want)
        if want_q is None:
            continue
        if got is None:
            out.append((section, name, None, want))
        elif (got_q := quantity_of(got)) is not None and got_q != want_q:
            out.append((section, name, got, want))
    return out


@check("MG406")
def mesh_proxy_resources_not_profile(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The injector uses `global.proxy.resources` for every pod without `sidecar.istio.io/proxy*`
    annotations (istio injection-template.yaml `define "resources"`); the chart defaults are
    requests 100m/128Mi, limits 2000m/1024Mi (istio-discovery values.yaml), not the ML profile."""
    target = _values_target(res, ctx.inventory)
    if target is None:
        return
    values, base, is_string = target
    deviations = _deviations(values, mapping(ctx.params.get("sidecar_resources")))
    if not deviations:
        return
    shown: list[str] = []
    patch: dict[str, dict[str, Any]] = {}
    for section, name, got, want in deviations:
        found = f"absent (istio default {_ISTIO_DEFAULT[section][name]})" if got is None else got
        shown.append(f"{section}.{name} {found}, profile {want}")
        patch.setdefault(section, {})[name] = want
    title = "set global.proxy.resources to the sidecar_resources profile"
    if is_string:
        text = json.dumps(deep_merge(values, nest(_RESOURCES, patch)), indent=2)
        ptr, where = pointer(*base), "data.values global.proxy.resources"
        fix = Fix.replace(ptr, text, f"{title} (rewrites data.values)", safety=Safety.UNSAFE)
    else:
        ptr, where = pointer(*base, *_RESOURCES), ".".join((*base, *_RESOURCES))
        fix = Fix(
            title, tuple(merge_ops(res.body, (*base, *_RESOURCES), patch)), safety=Safety.UNSAFE
        )
    yield ctx.finding(ptr, f"{where} is not the ml sidecar profile: {'; '.join(shown)}", fix=fix)


# -- MG408 -----------------------------------------------------------------------------------

_GRPC_PORTS = {8081: "kserve grpc port", 8001: "triton grpc port"}
_REST_PORTS = frozenset({8080, 8000, 8501})  # KServe; Triton and vLLM; TF Serving


def _container_ports(workloads: list[Workload]) -> tuple[dict[int, str], dict[str, int]]:
    by_number: dict[int, str] = {}
    by_name: dict[str, int] = {}
    for w in workloads:
        for container in as_list(w.pod_spec.get("containers")) + as_list(
            w.pod_spec.get("initContainers")
        ):
            for port in as_list(mapping(container).get("ports")):
                number, name = (
                    mapping(port).get("containerPort"),
                    scalar_text(mapping(port).get("name")),
                )
                if isinstance(number, int) and not isinstance(number, bool):
                    by_number.setdefault(number, name)
                    by_name.setdefault(name, number)
    return by_number, by_name


def _target(
    port: Mapping[str, Any], by_number: dict[int, str], by_name: dict[str, int]
) -> tuple[int | None, str]:
    """(container port number, container port name) a Service port targets, as far as known;
    targetPort defaults to port, and a name is resolved against the selected containers."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    if isinstance(target, int) and not isinstance(target, bool):
        return target, by_number.get(target, "")
    if isinstance(target, str) and target:
        return by_name.get(target), target
    return None, ""


def _declared(port: Mapping[str, Any]) -> str:
    if port.get("appProtocol") is not None:
        return f"appProtocol {scalar_text(port['appProtocol'])!r}"
    return (
        f"name {scalar_text(port.get('name'))!r}" if port.get("name") else "no name, no appProtocol"
    )


@check("MG408")
def model_port_protocol_undeclared(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio takes a port's protocol from `appProtocol`, else the name prefix, and sniffs the rest
    (istio pkg/config/kube/conversion.go ConvertProtocol); undeclared gRPC loses HTTP/2 handling,
    gRPC retry codes and gRPC AuthorizationPolicy paths."""
    selector, ports = res.spec.get("selector"), res.spec.get("ports")
    if not isinstance(selector, dict) or not selector or not isinstance(ports, list):
        return
    host = service_host(res.name, res.namespace, ctx.params.get("mesh.domain_suffix"))
    if host not in ctx.inventory.inference_hosts:
        return
    targets = _container_ports(ctx.inventory.workloads_selected(res.namespace, selector))
    for index, port in enumerate(ports):
        finding = _port_finding(ctx, index, port, targets) if isinstance(port, dict) else None
        if finding is not None:
            yield finding


def _port_finding(
    ctx: RuleContext,
    index: int,
    port: Mapping[str, Any],
    ports: tuple[dict[int, str], dict[str, int]],
) -> Finding | None:
    protocol = port_protocol(port)
    number, name = _target(port, *ports)
    cname = name.lower()  # port names are lower-case IANA_SVC_NAMEs; compare case-insensitively
    ptr, shown = pointer("spec", "ports", index), "sniffed" if protocol == SNIFFED else protocol
    name_text, port_text = scalar_text(port.get("name")) or "unnamed", scalar_text(port.get("port"))
    label = f"service port {name_text} ({port_text})"
    grpc = _GRPC_PORTS.get(number or 0) or (
        "grpc container port" if cname.startswith("grpc") else ""
    )
    if grpc and protocol not in GRPC_CAPABLE:
        target = f"{cname} ({number})" if cname and number else cname or str(number)
        # a container port named otherwise (http-management, metrics) says it is not gRPC: no fix
        value: str | None = "grpc" if not cname or cname.startswith(("grpc", "h2c")) else None
        message = f"{label} targets {grpc} {target} but its protocol is {shown} ({_declared(port)})"
    elif protocol == SNIFFED:
        value = _http_protocol(number, cname)
        message = f"{label} declares no istio protocol ({_declared(port)}): sniffed"
    else:
        return None
    fix = Fix.add(ptr + "/appProtocol", value, f"set appProtocol: {value}", safety=Safety.UNSAFE)
    return ctx.finding(ptr, message, fix=fix if value else None)


def _http_protocol(number: int | None, cname: str) -> str | None:
    """appProtocol for a sniffed port, only when the container port says HTTP or the port is a
    known REST port of a model server: a wrong `http` breaks a TCP protocol."""
    lowered = cname.lower()
    if lowered.startswith("http2") or lowered == "h2c":
        return "http2"
    if lowered.startswith("http") or (not cname and number in _REST_PORTS):
        return "http"
    return None


# -- MG409 -----------------------------------------------------------------------------------

_TELEMETRY = "telemetry.istio.io"
_SAMPLING = ("defaultConfig", "tracing", "sampling")
Fixer = Callable[[Any], Fix | None]


def _mesh_configs(inventory: Inventory) -> list[MeshSource]:
    """The sources that carry a meshConfig (the injector's ConfigMap does not)."""
    return [s for s in inventory.mesh_sources if s.has_mesh]


def _logs_on(mesh: Mapping[str, Any]) -> bool:
    path, providers = mesh.get("accessLogFile"), dig(mesh, "defaultProviders", "accessLogging")
    return (isinstance(path, str) and path != "") or any(
        isinstance(p, str) and p for p in as_list(providers)
    )


def _telemetry_logs(telemetry: Resource) -> bool:
    """A mesh-wide Telemetry entry that logs: not `disabled`, with a provider (an entry without
    providers uses defaultProviders.accessLogging: pilot/pkg/model/telemetry.go mergeLogs)."""
    spec = telemetry.spec
    if spec.get("selector") or spec.get("targetRef") or spec.get("targetRefs"):
        return False
    return any(
        scalar_text(mapping(e).get("disabled")) != "true"
        and any(scalar_text(mapping(p).get("name")) for p in as_list(mapping(e).get("providers")))
        for e in as_list(spec.get("accessLogging"))
    )


def _access_logging_state(inventory: Inventory) -> tuple[bool, frozenset[int]]:
    """(logging is on somewhere, the sources to report on: those declaring a meshConfig, or all)."""
    sources, root = _mesh_configs(inventory), inventory.root_namespace
    on = any(_logs_on(s.mesh) for s in sources) or any(
        _telemetry_logs(t) for t in inventory.in_namespace(root, _TELEMETRY, "Telemetry")
    )
    declaring = [
        s
        for s in sources
        if s.mesh_is_string or dig(s.resource.body, *pointer_tokens(s.mesh_pointer)) is not None
    ]
    return on, frozenset(id(s.resource) for s in (declaring or sources))


def _mesh_fix(
    source: MeshSource, patch: Mapping[str, Any], title: str, safety: Safety
) -> Fix | None:
    if not source.mesh_is_string:
        return Fix(
            title,
            tuple(merge_ops(source.resource.body, pointer_tokens(source.mesh_pointer), patch)),
            safety=safety,
        )
    try:  # data.mesh is a YAML string: rewrite it whole (its comments are lost, hence unsafe)
        parsed = yaml.safe_load(str(dig(source.resource.body, "data", "mesh")))
    except (yaml.YAMLError, RecursionError):
        return None
    if parsed is not None and not isinstance(parsed, dict):
        return None
    text = yaml.safe_dump(deep_merge(mapping(parsed), patch), sort_keys=False)
    return Fix.replace(
        source.mesh_pointer, text, f"{title} (rewrites data.mesh)", safety=Safety.UNSAFE
    )


def _mesh_ptr(source: MeshSource, *tokens: str) -> JsonPointer:
    if source.mesh_is_string or dig(source.mesh, *tokens) is None:
        return source.mesh_pointer
    return source.mesh_pointer + pointer(*tokens)


@check("MG409")
def telemetry_not_configured(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Access logs are off by default (`accessLogFile: ""`, mesh/v1alpha1/config.proto), and every
    sampling knob is a percent 0–100 whose default is 1.0 (proxy.proto, telemetry.proto)."""
    if res.kind == "Telemetry":
        for i, entry in enumerate(as_list(res.spec.get("tracing"))):
            ptr = pointer("spec", "tracing", i, "randomSamplingPercentage")
            value = dig(entry, "randomSamplingPercentage")
            name, effect = "tracing randomSamplingPercentage", "istio validation rejects it"
            yield from _sampling(ctx, value, ptr, name, _replace(ptr), effect)
        return
    source = ctx.inventory.mesh_source_of(res)
    if source is None or not source.has_mesh:
        return
    yield from _access_logging_off(source, ctx)
    if (
        ctx.params.get("require_tracing")
        and scalar_text(source.mesh.get("enableTracing")) == "false"
    ):
        message = "meshConfig.enableTracing is false: proxies report no trace spans"
        yield ctx.finding(_mesh_ptr(source, "enableTracing"), message, severity=Severity.WARNING)
    yield from _mesh_sampling(source, ctx)


def _access_logging_off(source: MeshSource, ctx: RuleContext) -> Iterator[Finding]:
    inventory = ctx.inventory
    on, targets = inventory.memo("proxyconfig:logs", lambda: _access_logging_state(inventory))
    if on or id(source.resource) not in targets:
        return
    found = source.mesh.get("accessLogFile")
    message = (
        f"access logging is off: meshConfig.accessLogFile "
        f"{'absent' if found is None else json.dumps(found)}, no defaultProviders.accessLogging, "
        f"no telemetry in {inventory.root_namespace} with an enabled accessLogging provider"
    )
    title = "set meshConfig.accessLogFile: /dev/stdout"
    fix = _mesh_fix(source, {"accessLogFile": "/dev/stdout"}, title, Safety.SAFE)
    yield ctx.finding(
        _mesh_ptr(source, "accessLogFile"), message, severity=Severity.WARNING, fix=fix
    )


def _replace(ptr: JsonPointer) -> Fixer:
    return lambda value: Fix.replace(ptr, value, f"clamp to {value}", safety=Safety.UNSAFE)


def _mesh_sampling(source: MeshSource, ctx: RuleContext) -> Iterator[Finding]:
    """defaultConfig.tracing.sampling (> 100 becomes 1.0: pilot/pkg/networking/core/tracing.go
    proxyConfigSamplingValue) and istiod `traceSampling` (PILOT_TRACE_SAMPLING: out of range
    becomes 1.0, pilot/pkg/features/telemetry.go). The istiod chart reads a top-level
    `traceSampling`; IstioOperator uses `values.pilot.traceSampling`."""

    def mesh_fix(value: Any) -> Fix | None:
        return _mesh_fix(
            source, nest(_SAMPLING, value), f"clamp sampling to {value}", Safety.UNSAFE
        )

    name = "meshConfig.defaultConfig.tracing.sampling"
    value = dig(source.mesh, *_SAMPLING)
    yield from _sampling(
        ctx,
        value,
        _mesh_ptr(source, *_SAMPLING),
        name,
        mesh_fix,
        ">istiod samples 1 percent instead",
    )
    if source.values_pointer is None:
        return
    helm = source.values_pointer == ""
    for path in (
        [("traceSampling",), ("pilot", "traceSampling")] if helm else [("pilot", "traceSampling")]
    ):
        ptr = source.values_pointer + pointer(*path)
        value = dig(source.values, *path)
        yield from _sampling(
            ctx, value, ptr, ".".join(path), _replace(ptr), "istiod samples 1 percent instead"
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _sampling(
    ctx: RuleContext, value: Any, ptr: JsonPointer, name: str, fixer: Fixer, effect: str = ""
) -> Iterator[Finding]:
    """(3) outside [0, 100] -> error, clamped by the fix; (4) in (0, 1] -> info: a percent.
    `effect` is what Istio does with it, prefixed by `>` when only values above 100 get it."""
    number = _number(value)
    if number is None:
        return
    if math.isnan(number) or not 0 <= number <= 100:
        effect = f"; {effect.lstrip('>')}" if effect and (number > 100 or effect[0] != ">") else ""
        clamped: Any = None if math.isnan(number) else (0 if number < 0 else 100)
        if clamped is not None and not isinstance(value, int):
            clamped = str(clamped) if isinstance(value, str) else float(clamped)
        fix = fixer(clamped) if clamped is not None else None
        yield ctx.finding(
            ptr,
            f"{name} {value} is outside 0-100 percent{effect}",
            severity=Severity.ERROR,
            fix=fix,
        )
    elif number <= 1 and number > 0:
        share = f"{number:g} percent of requests (1 in {round(100 / number)})"
        yield ctx.finding(
            ptr, f"{name} {value} samples {share}, not a fraction", severity=Severity.INFO
        )
