"""MG501–MG505: Gateway listeners and HTTPRoute/GRPCRoute fields that Gateway API and Istio read
differently from what the author wrote.

Parents, class controllers and the routes of a Gateway are resolved by `meshguard.gateway_api`
(RULES.md MG5xx preamble), the same way MG509 and MG604 resolve them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.body import items
from meshguard.gateway_api import (
    GKE_CONTROLLER,
    ISTIO_CONTROLLERS,
    ISTIO_GATEWAY_CONTROLLER,
    MESH_CONTROLLERS,
    class_controller,
    gateway_api_version,
    has_istio_parent,
    parent_controllers,
    ref_selects_listener,
    routes_by_parent,
)
from meshguard.inference_api import POOL_GROUP_V1, POOL_GROUPS, POOL_KIND, find_pool
from meshguard.inference_api import istio_pool_group as _istio_pool_group
from meshguard.inventory import Inventory
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.routes import PathMatch, Route, is_inference_route, routes_of
from meshguard.semantics.durations import gateway_duration_ns
from meshguard.semantics.hosts import service_host
from meshguard.semantics.paths import exact_path_matches, gateway_prefix_matches, regex_full_match
from meshguard.semantics.protocols import port_protocol
from meshguard.semantics.retryon import istio_version

# gwapi apis/v1/gateway_types.go ProtocolType constants (core and extended).
_PROTOCOLS = ("HTTP", "HTTPS", "TLS", "TCP", "UDP")
# Spellings of "gRPC/HTTP2 over this port" that belong on an HTTP(S) listener (MG501 fix).
_H2_SPELLINGS = frozenset({"grpc", "grpcs", "grpc-web", "http2", "h2", "h2c"})
_KSERVE_V1_MODEL = re.compile(r"/v1/models/([^/:]+)/?")
_Items = list[tuple[int, Mapping[str, Any]]]  # (index, mapping) of a list field


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- MG501 -----------------------------------------------------------------------------------


@check("MG501")
def listener_protocol_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Gateway API has no `GRPC` listener protocol (`gwapi gateway_types.go` ProtocolType); Istio
    accepts HTTP/HTTPS/TLS/TCP, HBONE only for mesh/east-west controllers and never UDP
    (`istio conversion.go: listenerProtocolToIstio`); listener CEL rules on `tls`."""
    controller = class_controller(res, ctx.inventory)
    listeners = items(res.spec.get("listeners"))
    for i, listener in listeners:
        base = pointer("spec", "listeners", i)
        protocol = listener.get("protocol")
        if not isinstance(protocol, str):
            continue
        finding = _protocol_finding(listener, protocol, base, controller, ctx)
        if finding is not None:
            yield finding
            continue
        yield from _tls_findings(listener, protocol, base, ctx)
    yield from _shared_h2c_listeners(res, listeners, ctx)


def _protocol_finding(
    listener: Mapping[str, Any],
    protocol: str,
    base: JsonPointer,
    controller: str | None,
    ctx: RuleContext,
) -> Finding | None:
    name = listener.get("name", "")
    where = base + "/protocol"
    if protocol == "UDP" and controller in ISTIO_CONTROLLERS:
        return ctx.finding(
            where, f'listener "{name}" protocol "UDP" is unsupported by istio ({controller})'
        )
    if protocol in _PROTOCOLS or "/" in protocol:
        return None
    if protocol == "HBONE":
        if controller in MESH_CONTROLLERS:
            return None
        return ctx.finding(
            where,
            f'listener "{name}" protocol "HBONE" is only supported on istio waypoint and east-west '
            f"gateways (class controller {controller or 'unknown'})",
        )
    return ctx.finding(
        where,
        f'listener "{name}" protocol "{protocol}" is not a gateway api listener protocol '
        f"({', '.join(_PROTOCOLS)}): the controller marks it UnsupportedProtocol",
        fix=_protocol_fix(listener, protocol, where),
    )


def _protocol_fix(listener: Mapping[str, Any], protocol: str, where: JsonPointer) -> Fix | None:
    tls = listener.get("tls")
    if protocol.lower() in _H2_SPELLINGS and isinstance(tls, dict):
        target = "TLS" if tls.get("mode") == "Passthrough" else "HTTPS"
    elif protocol.lower() in _H2_SPELLINGS:
        target = "HTTP"
    elif protocol.upper() in _PROTOCOLS:
        target = protocol.upper()
    else:
        return None
    return Fix.replace(where, target, f"set protocol to {target}", safety=Safety.UNSAFE)


def _tls_findings(
    listener: Mapping[str, Any], protocol: str, base: JsonPointer, ctx: RuleContext
) -> Iterator[Finding]:
    """CEL on `spec.listeners` and `ListenerTLSConfig` (gwapi v1.2.0+ gateway_types.go)."""
    if "tls" not in listener or listener.get("tls") is None:
        return
    tls = listener.get("tls")
    name = listener.get("name", "")
    if protocol in ("HTTP", "TCP", "UDP"):
        yield ctx.finding(base + "/tls", f'listener "{name}" sets tls on protocol {protocol}')
        return
    if not isinstance(tls, dict):
        return
    mode = tls.get("mode", "Terminate")
    if protocol == "HTTPS" and mode not in ("", "Terminate"):
        yield ctx.finding(base + "/tls/mode", f'listener "{name}" is HTTPS with tls.mode {mode}')
        return
    refs, options = tls.get("certificateRefs"), tls.get("options")
    if mode == "Terminate" and not refs and not options:
        yield ctx.finding(
            base + "/tls",
            f'listener "{name}" terminates tls ({protocol}) without certificateRefs or options',
        )


def _shared_h2c_listeners(
    gateway: Resource, listeners: _Items, ctx: RuleContext
) -> Iterator[Finding]:
    """(4) gRPC and REST inference routes on one plaintext HTTP port rely on h2c there, which
    Gateway API leaves implementation-specific ("MUST be clearly documented")."""
    attached = routes_by_parent(ctx.inventory).get((gateway.namespace, gateway.name), [])
    if not any(_route_is_inference(r, ctx) for r, _ in attached):
        return
    by_index = dict(listeners)
    rest_ports: set[Any] = set()
    grpc_targets: list[tuple[Resource, list[int]]] = []
    for route, ref in attached:
        targets = _target_listeners(gateway, route, ref, listeners)
        if _route_is_grpc(route, ctx.inventory):
            grpc_targets.append((route, targets))
        else:
            rest_ports.update(by_index[i].get("port") for i in targets)
    flagged: dict[int, Resource] = {}
    for route, targets in grpc_targets:
        if all(by_index[i].get("protocol") == "HTTP" for i in targets):
            for i in targets:
                if by_index[i].get("port") in rest_ports:
                    flagged.setdefault(i, route)
    for i, route in sorted(flagged.items()):
        listener = by_index[i]
        yield ctx.finding(
            pointer("spec", "listeners", i),
            f'listener "{listener.get("name", "")}" (HTTP, port {listener.get("port")}) carries '
            f"grpc ({route.ref}) and rest routes to inference backends on one plaintext port",
            severity=Severity.INFO,
        )


def _target_listeners(
    gateway: Resource, route: Resource, ref: Mapping[str, Any], listeners: _Items
) -> list[int]:
    """HTTP(S) listeners a parentRef can bind (sectionName, port, `allowedRoutes` from Same)."""
    out = []
    for i, listener in listeners:
        if listener.get("protocol") not in ("HTTP", "HTTPS"):
            continue
        if not ref_selects_listener(ref, listener):
            continue
        allowed = listener.get("allowedRoutes")
        namespaces = allowed.get("namespaces") if isinstance(allowed, dict) else None
        source = namespaces.get("from", "Same") if isinstance(namespaces, dict) else "Same"
        if source == "Same" and route.namespace != gateway.namespace:
            continue
        out.append(i)
    return out


def _route_is_grpc(route: Resource, inventory: Inventory) -> bool:
    """A GRPCRoute, or an HTTPRoute whose Service backend port is gRPC (`ConvertProtocol`)."""
    if route.kind == "GRPCRoute":
        return True
    for rule in routes_of(route):
        for backend in rule.backends:
            service = (
                inventory.get("", "Service", backend.namespace, backend.name)
                if backend.host
                else None
            )
            ports = items(service.spec.get("ports")) if service is not None else []
            if any(p.get("port") == backend.port and port_protocol(p) == "grpc" for _, p in ports):
                return True
    return False


def _route_is_inference(route: Resource, ctx: RuleContext) -> bool:
    hosts = ctx.inventory.inference_hosts
    if route.kind == "HTTPRoute":
        return any(is_inference_route(r, ctx.params, hosts) for r in routes_of(route, _domain(ctx)))
    for _, rule in items(route.spec.get("rules")):
        for _, ref in items(rule.get("backendRefs")):
            if ref.get("kind", "Service") == POOL_KIND:
                return True
            name, ns = ref.get("name"), ref.get("namespace") or route.namespace
            if (
                isinstance(name, str)
                and isinstance(ns, str)
                and service_host(name, ns, _domain(ctx)) in hosts
            ):
                return True
    return False


def _domain(ctx: RuleContext) -> str:
    return str(ctx.params.get("mesh.domain_suffix"))


# -- MG502 -----------------------------------------------------------------------------------


@check("MG502")
def path_prefix_misses_kserve_verb(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Gateway API PathPrefix matches whole path elements (`gwapi httproute_types.go`; Istio
    renders `path_separated_prefix`), and KServe V1 verbs are part of the last element
    (`POST /v1/models/{name}:predict`, `kserve v1_endpoints.py`)."""
    for route in routes_of(res, _domain(ctx)):
        for match in route.paths:
            model = _KSERVE_V1_MODEL.fullmatch(match.value) if match.kind == "prefix" else None
            if model is None:
                continue
            predict = f"/v1/models/{model.group(1)}:predict"
            if any(_covers(other, predict) for other in route.paths if other is not match):
                continue
            yield ctx.finding(
                match.pointer,
                f"PathPrefix {match.value} does not match {predict}: gateway api prefixes match "
                "whole path elements",
                fix=_verb_matches_fix(route, match, model.group(1)),
            )


def _covers(match: PathMatch, path: str) -> bool:
    """Does a Gateway API path match accept `path` (element-wise prefix, exact, RE2 full match)?"""
    if match.kind == "exact":
        return exact_path_matches(match.value, path)
    if match.kind == "prefix":
        return gateway_prefix_matches(match.value, path)
    return regex_full_match(match.value, path)


def _verb_matches_fix(route: Route, match: PathMatch, model: str) -> Fix | None:
    """Add Exact `:predict`/`:explain` matches that keep the entry's method/header conditions."""
    entry = next(
        (e for e in route.match_entries if match.pointer.startswith(e.pointer + "/")), None
    )
    if entry is None or not isinstance(entry.value, dict):
        return None
    ops, paths = [], []
    for verb in ("predict", "explain"):
        path = f"/v1/models/{model}:{verb}"
        if verb == "explain" and any(_covers(m, path) for m in route.paths):
            continue
        added = copy.deepcopy(dict(entry.value))
        added["path"] = {"type": "Exact", "value": path}
        ops.append({"op": "add", "path": route.pointer + "/matches/-", "value": added})
        paths.append(path)
    return Fix(
        f"add Exact matches for {' and '.join(paths)}",
        tuple(ops),
        safety=Safety.UNSAFE,
    )


# -- MG503 -----------------------------------------------------------------------------------


@check("MG503")
def route_timeouts_invalid_or_mismapped(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """CEL "backendRequest timeout cannot be longer than request timeout" (`gwapi
    httproute_types.go` HTTPRouteTimeouts); `timeouts` is standard only from v1.2.0 (experimental
    from v1.0.0); Istio makes a non-zero `backendRequest` the whole route timeout when the rule has
    no `retry` (`istio conversion.go`); GKE classes do not support `timeouts`."""
    controllers = parent_controllers(res, ctx.inventory)
    version = gateway_api_version(ctx.params)
    channel = ctx.params.get("gateway_api_channel")
    for route in routes_of(res, _domain(ctx)):
        timeouts = route.field("timeouts")
        if timeouts is None or not isinstance(timeouts.value, dict):
            continue
        if version < (1, 2, 0) and not (channel == "experimental" and version >= (1, 0, 0)):
            yield ctx.finding(
                timeouts.pointer,
                f"timeouts is not in the gateway api {channel} httproute crd "
                f"v{'.'.join(map(str, version))}: pruned or rejected",
                severity=Severity.WARNING,
            )
        if controllers & {GKE_CONTROLLER}:
            yield ctx.finding(
                timeouts.pointer,
                "timeouts is not supported by gke gateway classes",
                severity=Severity.WARNING,
            )
        yield from _timeout_values(route, ISTIO_GATEWAY_CONTROLLER in controllers, ctx)


def _timeout_values(route: Route, istio: bool, ctx: RuleContext) -> Iterator[Finding]:
    request, backend = route.timeout, route.backend_timeout
    backend_ns = gateway_duration_ns(backend.value) if backend else None
    request_ns = gateway_duration_ns(request.value) if request else None
    if backend is None or not backend_ns:
        return
    if request is not None and request_ns and backend_ns > request_ns:
        yield ctx.finding(
            backend.pointer,
            f"backendRequest {backend.value} is longer than request {request.value}",
            severity=Severity.ERROR,
            fix=Fix.replace(
                backend.pointer, request.value, f"set backendRequest to {request.value}"
            ),
        )
        return
    if not istio or route.retry is not None or request is None or request_ns is None:
        return
    if backend_ns != request_ns:
        shown = "0s (disabled)" if request_ns == 0 else request.value
        yield ctx.finding(
            backend.pointer,
            f"istio applies backendRequest {backend.value} as the whole route timeout (no retry), "
            f"overriding request {shown}",
            severity=Severity.WARNING,
            fix=Fix.remove(backend.pointer, "remove backendRequest", safety=Safety.UNSAFE),
        )


# -- MG504 -----------------------------------------------------------------------------------

# Experimental-channel HTTPRoute/GRPCRoute rule fields and the release that added them (gwapi tags).
_EXPERIMENTAL_FIELDS = {"retry": (1, 2, 0), "sessionPersistence": (1, 1, 0)}


@check("MG504")
def experimental_route_field_or_bad_retry(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """`retry` and `sessionPersistence` are `<gateway:experimental>` (`gwapi httproute_types.go`);
    codes are 400–599 and, from v1.6.0, attempts ≥ 1; Istio defaults attempts to 2 and clears
    retryOn for 0 (`istio conversion.go`)."""
    version = gateway_api_version(ctx.params)
    channel = ctx.params.get("gateway_api_channel")
    istio = has_istio_parent(res, ctx.inventory)
    for i, rule in items(res.spec.get("rules")):
        base = pointer("spec", "rules", i)
        for field, since in _EXPERIMENTAL_FIELDS.items():
            if field not in rule or (field == "retry" and res.kind != "HTTPRoute"):
                continue
            if channel != "experimental" or version < since:
                yield ctx.finding(
                    base + pointer(field),
                    f"{field} is not in the gateway api {channel} {res.kind.lower()} crd "
                    f"v{'.'.join(map(str, version))}: pruned or rejected",
                    severity=Severity.WARNING,
                )
        retry = rule.get("retry") if res.kind == "HTTPRoute" else None
        if isinstance(retry, dict):
            yield from _retry_values(retry, base + "/retry", version, istio, ctx)


def _retry_values(
    retry: Mapping[str, Any],
    base: JsonPointer,
    version: tuple[int, int, int],
    istio: bool,
    ctx: RuleContext,
) -> Iterator[Finding]:
    codes = retry.get("codes")
    seen: set[int] = set()
    for j, code in enumerate(codes if isinstance(codes, list) else []):
        number, where = _int(code), base + pointer("codes", j)
        if number is None or not 400 <= number <= 599 or number in seen:
            problem = "is duplicated" if number in seen else "is not an integer in 400-599"
            yield ctx.finding(where, f"retry code {code!r} {problem}", severity=Severity.ERROR)
        elif number < 500:
            yield ctx.finding(where, f"retry code {number} is a 4xx status", severity=Severity.INFO)
        if number is not None:
            seen.add(number)
    if "attempts" not in retry or retry.get("attempts") is None:
        if istio:
            yield ctx.finding(base, "retry.attempts is unset: istio uses 2", severity=Severity.INFO)
        return
    attempts, where = _int(retry.get("attempts")), base + "/attempts"
    if attempts is None or attempts < 0 or (attempts == 0 and version >= (1, 6, 0)):
        minimum = 1 if version >= (1, 6, 0) else 0
        yield ctx.finding(
            where,
            f"retry.attempts {retry.get('attempts')!r} is not an integer >= {minimum}",
            severity=Severity.ERROR,
        )
    elif attempts == 0:
        yield ctx.finding(
            where,
            "retry.attempts 0 disables retries (istio clears retryOn)",
            severity=Severity.INFO,
        )


# -- MG505 -----------------------------------------------------------------------------------


@check("MG505")
def backend_ref_to_pool_or_service_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """BackendObjectReference defaults group to "" and kind to Service, with CEL "Must have port
    for Service reference" (`gwapi object_reference_types.go`); Istio resolves one InferencePool
    group per release (`istio gvk/resources.gen.go`: none < 1.27, x-k8s.io 1.27, k8s.io ≥ 1.28) and
    rejects a dotted pool name (`istio conversion.go: buildDestination`)."""
    istio = has_istio_parent(res, ctx.inventory)
    version = istio_version(ctx.params)
    for i, rule in items(res.spec.get("rules")):
        for j, ref in items(rule.get("backendRefs")):
            base = pointer("spec", "rules", i, "backendRefs", j)
            kind = ref.get("kind", "Service")
            if kind == POOL_KIND:
                yield from _pool_ref_findings(res, ref, base, istio, version, ctx)
            elif kind == "Service" and ref.get("group") in (None, "") and ref.get("port") is None:
                yield ctx.finding(
                    base,
                    f"backendRef to Service {ref.get('name')} has no port",
                    severity=Severity.ERROR,
                    fix=_service_port_fix(res, ref, base, ctx.inventory),
                )


def _pool_ref_findings(
    res: Resource,
    ref: Mapping[str, Any],
    base: JsonPointer,
    istio: bool,
    version: tuple[int, int],
    ctx: RuleContext,
) -> Iterator[Finding]:
    group, name = ref.get("group", ""), ref.get("name")
    namespace = ref.get("namespace") or res.namespace
    name = name if isinstance(name, str) else ""
    namespace = namespace if isinstance(namespace, str) else res.namespace
    supported = _istio_pool_group(version) if istio else POOL_GROUP_V1
    shown = ".".join(map(str, version))
    if group in ("", None):
        existing = find_pool(ctx.inventory, namespace, name)
        target = existing.group if existing is not None else supported or POOL_GROUP_V1
        where = base + "/group" if "group" in ref else base
        op = "replace" if "group" in ref else "add"
        yield ctx.finding(
            where,
            f'backendRef to InferencePool {name} has group "" (core): no such kind',
            severity=Severity.ERROR,
            fix=Fix(
                f"set group to {target}", ({"op": op, "path": base + "/group", "value": target},)
            ),
        )
    elif istio and group != supported:
        wanted = supported or "none"
        yield ctx.finding(
            base + "/group",
            f"istio {shown} does not resolve InferencePool group {group} (supported: {wanted})",
            severity=Severity.ERROR,
            fix=_group_fix(ctx.inventory, namespace, name, supported, base),
        )
    elif not istio and group != POOL_GROUP_V1 and group in POOL_GROUPS:
        yield ctx.finding(
            base + "/group",
            f"backendRef to InferencePool {name} uses the v1alpha2 group {group}",
            severity=Severity.WARNING,
            fix=_group_fix(ctx.inventory, namespace, name, POOL_GROUP_V1, base),
        )
    if istio and "." in name:
        yield ctx.finding(
            base + "/name",
            f"InferencePool name {name} contains '.': istio rejects a pool hostname",
            severity=Severity.ERROR,
        )


def _group_fix(
    inventory: Inventory, namespace: str, name: str, group: str | None, base: JsonPointer
) -> Fix | None:
    """Rewrite the group only when a pool of the wanted group and name exists in the run."""
    if group is None or find_pool(inventory, namespace, name, group) is None:
        return None
    return Fix.replace(base + "/group", group, f"set group to {group}", safety=Safety.UNSAFE)


def _service_port_fix(
    res: Resource, ref: Mapping[str, Any], base: JsonPointer, inventory: Inventory
) -> Fix | None:
    """Add the port when the Service in the run has exactly one."""
    name, namespace = ref.get("name"), ref.get("namespace") or res.namespace
    service = (
        inventory.get("", "Service", namespace, name)
        if isinstance(name, str) and isinstance(namespace, str)
        else None
    )
    ports = items(service.spec.get("ports")) if service is not None else []
    number = _int(ports[0][1].get("port")) if len(ports) == 1 else None
    if number is None:
        return None
    op = "replace" if "port" in ref else "add"
    return Fix(f"set port to {number}", ({"op": op, "path": base + "/port", "value": number},))
