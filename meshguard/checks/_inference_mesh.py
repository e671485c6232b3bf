"""Shared GIE helpers, and MG509(1): istiod's InferencePool flag and the routes that need it.

istiod ignores InferencePool backendRefs unless `ENABLE_GATEWAY_API_INFERENCE_EXTENSION` is true
(`istio pilot/pkg/features/experimental.go`, default false, from Istio 1.27; `conversion.go`:
"InferencePool is not enabled"). The flag is read from istiod Helm values (`env`, and legacy
`pilot.env`, which `istio-discovery/templates/zzy_descope_legacy.yaml` merges over it), from
IstioOperator `spec.values.pilot.env` / `spec.components.pilot.k8s.env`, and from an istiod
Deployment's env; istiod parses it with Go `strconv.ParseBool` (`pkg/env/var.go`). The index of
HTTPRoutes to InferencePools behind Istio gateways (parents resolved by `meshguard.gateway_api`)
is shared with MG509(2) (`_inference_epp`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from meshguard.body import as_list, mapping
from meshguard.gateway_api import istio_parent
from meshguard.inference_api import POOL_KIND
from meshguard.inventory import GATEWAY_API, Inventory
from meshguard.loader import HELM_VALUES_API_VERSION, HELM_VALUES_KIND
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext
from meshguard.semantics.retryon import istio_version

Op = Mapping[str, Any]
_SEMVER = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")
FLAG = "ENABLE_GATEWAY_API_INFERENCE_EXTENSION"
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})  # Go strconv.ParseBool
_UNSET = object()


def gie_version(ctx: RuleContext) -> tuple[int, int, int]:
    """`gie_version` as a tuple; the schema pattern guarantees the shape (oldest GA if not)."""
    match = _SEMVER.fullmatch(str(ctx.params.get("gie_version")).strip())
    if match is None:
        return (1, 0, 0)
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


# -- HTTPRoutes to InferencePools behind Istio gateways -----------------------------------------


class PoolRoute(NamedTuple):
    route: Resource
    pointer: JsonPointer  # the backendRef
    pool_namespace: str
    pool_name: str
    gateway: Resource


@dataclass(slots=True)
class Clients:
    gateway_namespaces: set[str] = field(default_factory=set)
    maybe_istio: bool = False  # a parent that is absent from the run (or no parentRefs)


class PoolRoutes(NamedTuple):
    routes: list[PoolRoute]
    clients: dict[tuple[str, str], Clients]
    first_of_route: dict[int, PoolRoute]  # id(HTTPRoute) → its first entry in `routes`


def pool_routes(inv: Inventory) -> PoolRoutes:
    return inv.memo("inference:pool-routes", lambda: _build_pool_routes(inv))


def _build_pool_routes(inv: Inventory) -> PoolRoutes:
    """Every InferencePool backendRef of every HTTPRoute, with its Istio parents. O(routes)."""
    out = PoolRoutes([], {}, {})
    for route in inv.of_kind(GATEWAY_API, "HTTPRoute"):
        parents = [istio_parent(inv, route, ref) for ref in as_list(route.spec.get("parentRefs"))]
        for ptr, ns, name in _pool_backends(route):
            clients = out.clients.setdefault((ns, name), Clients())
            clients.maybe_istio |= not parents or "absent" in parents
            for gateway in parents:
                if isinstance(gateway, Resource):
                    entry = PoolRoute(route, ptr, ns, name, gateway)
                    out.routes.append(entry)
                    out.first_of_route.setdefault(id(route), entry)
                    clients.gateway_namespaces.add(gateway.namespace)
    return out


def _pool_backends(route: Resource) -> Iterator[tuple[JsonPointer, str, str]]:
    """(pointer, namespace, name) of each `kind: InferencePool` backendRef of an HTTPRoute."""
    for i, rule in enumerate(as_list(route.spec.get("rules"))):
        for j, ref in enumerate(as_list(mapping(rule).get("backendRefs"))):
            if not isinstance(ref, dict) or ref.get("kind") != POOL_KIND:
                continue
            name, ns = ref.get("name"), ref.get("namespace") or route.namespace
            if isinstance(name, str) and isinstance(ns, str):
                yield pointer("spec", "rules", i, "backendRefs", j), ns, name


# -- (1) the istiod feature flag ----------------------------------------------------------------


class EnvSource(NamedTuple):
    """Where one istiod configuration sets (or would set) the flag."""

    resource: Resource
    value: Any  # _UNSET when not written
    pointer: JsonPointer  # the value, or the deepest existing place it belongs
    ops: tuple[Op, ...]  # RFC 6902: set it to "true"


def flag_on(value: Any) -> bool:
    if value is True:
        return True
    if isinstance(value, int) and not isinstance(value, bool):
        return value == 1  # Helm renders it as "1"
    return isinstance(value, str) and value in _TRUE


def _set_ops(
    body: Mapping[str, Any], tokens: tuple[str, ...], value: Any
) -> tuple[list[Op], JsonPointer]:
    """Ops setting a nested key (creating missing mappings) and the deepest existing pointer."""
    node: Any = body
    for i, token in enumerate(tokens):
        here = pointer(*tokens[: i + 1])
        nested: Any = value
        for inner in reversed(tokens[i + 1 :]):
            nested = {inner: nested}
        if token not in node:
            return [{"op": "add", "path": here, "value": nested}], pointer(*tokens[:i])
        if i == len(tokens) - 1 or not isinstance(node[token], dict):
            return [{"op": "replace", "path": here, "value": nested}], here
        node = node[token]
    return [], ""


def env_source(res: Resource) -> EnvSource | None:
    """The flag in Helm values, an IstioOperator or an istiod Deployment (None: not istiod)."""
    if res.api_version == HELM_VALUES_API_VERSION and res.kind == HELM_VALUES_KIND:
        body = res.body
        legacy = mapping(mapping(body.get("pilot")).get("env"))
        env = body.get("env")
        if FLAG in legacy or (not isinstance(env, dict) and "env" in mapping(body.get("pilot"))):
            tokens: tuple[str, ...] = ("pilot", "env", FLAG)
        else:
            tokens = ("env", FLAG)
        value = _dig(body, tokens)
        ops, where = _set_ops(body, tokens, "true")
        return EnvSource(res, value, where, tuple(ops))
    if res.kind == "IstioOperator" and res.group == "install.istio.io":
        return _operator_source(res)
    if res.kind == "Deployment" and res.group == "apps":
        return _deployment_source(res)
    return None


def _dig(body: Mapping[str, Any], tokens: tuple[str, ...]) -> Any:
    node: Any = body
    for token in tokens:
        if not isinstance(node, dict) or token not in node:
            return _UNSET
        node = node[token]
    return node


def _operator_source(res: Resource) -> EnvSource | None:
    """`spec.components.pilot.k8s.env` patches the Deployment, so it wins over `values`.

    An IstioOperator that installs no istiod (`components.pilot.enabled: false`, or the `empty`
    profile without it, `manifests/profiles/empty.yaml`) is not an istiod configuration.
    """
    enabled = _dig(res.body, ("spec", "components", "pilot", "enabled"))
    if enabled is False or (enabled is not True and res.spec.get("profile") == "empty"):
        return None
    k8s_env = ("spec", "components", "pilot", "k8s", "env")
    found = _env_entry(_dig(res.body, k8s_env), pointer(*k8s_env))
    if found is not None:
        return EnvSource(res, *found)
    tokens = ("spec", "values", "pilot", "env", FLAG)
    ops, where = _set_ops(res.body, tokens, "true")
    return EnvSource(res, _dig(res.body, tokens), where, tuple(ops))


def _env_entry(env: Any, base: JsonPointer) -> tuple[Any, JsonPointer, tuple[Op, ...]] | None:
    """A container-style env list entry for the flag: (value, pointer, ops) or None."""
    for i, entry in enumerate(as_list(env)):
        if isinstance(entry, dict) and entry.get("name") == FLAG:
            if "valueFrom" in entry:
                return True, f"{base}/{i}", ()  # unknowable offline: assume it is set
            ptr = f"{base}/{i}/value"
            op = "replace" if "value" in entry else "add"
            return (
                entry.get("value", _UNSET),
                ptr if op == "replace" else f"{base}/{i}",
                ({"op": op, "path": ptr, "value": "true"},),
            )
    return None


def _deployment_source(res: Resource) -> EnvSource | None:
    """An istiod Deployment: container `discovery` (istio-discovery templates/deployment.yaml)."""
    template = mapping(res.spec.get("template"))
    containers = as_list(mapping(template.get("spec")).get("containers"))
    for i, container in enumerate(containers):
        if not isinstance(container, dict) or container.get("name") != "discovery":
            continue
        if res.labels.get("app") != "istiod" and "pilot" not in str(container.get("image", "")):
            continue
        base = pointer("spec", "template", "spec", "containers", i)
        env = container.get("env")
        found = _env_entry(env, f"{base}/env")
        if found is not None:
            return EnvSource(res, *found)
        entry = {"name": FLAG, "value": "true"}
        if isinstance(env, list):
            return EnvSource(
                res,
                _UNSET,
                f"{base}/env",
                ({"op": "add", "path": f"{base}/env/-", "value": entry},),
            )
        return EnvSource(
            res, _UNSET, base, ({"op": "add", "path": f"{base}/env", "value": [entry]},)
        )
    return None


def _env_sources(inv: Inventory) -> list[EnvSource]:
    def build() -> list[EnvSource]:
        candidates = [s.resource for s in inv.mesh_sources if s.values_pointer is not None]
        candidates += inv.of_kind("apps", "Deployment")
        return [s for s in map(env_source, candidates) if s is not None]

    return inv.memo("inference:istiod-env", build)


def flag_missing(source: EnvSource, ctx: RuleContext) -> Iterator[Finding]:
    """MG509(1) on the istiod configuration, which is where the fix goes."""
    if istio_version(ctx.params) < (1, 27) or flag_on(source.value):
        return
    routes = pool_routes(ctx.inventory).routes
    if not routes:
        return
    first = routes[0]
    others = len({id(r.route) for r in routes}) - 1
    more = f" (and {others} more HTTPRoutes)" if others else ""
    shown = "unset" if source.value is _UNSET else repr(source.value)
    yield ctx.finding(
        source.pointer,
        f"istiod {FLAG} is {shown} (default false) but HTTPRoute {first.route.namespace}/"
        f"{first.route.name} sends traffic to InferencePool {first.pool_namespace}/"
        f"{first.pool_name} through Istio gateway {first.gateway.namespace}/{first.gateway.name}"
        f"{more}",
        severity=Severity.ERROR,
        fix=Fix(f'set {FLAG}: "true" in istiod', source.ops, safety=Safety.UNSAFE)
        if source.ops
        else None,
    )


def route_unresolved(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """MG509(1) without istiod configuration in the run: info (error with --strict-refs)."""
    if istio_version(ctx.params) < (1, 27) or _env_sources(ctx.inventory):
        return
    entry = pool_routes(ctx.inventory).first_of_route.get(id(res))
    if entry is not None:
        yield ctx.unresolved(
            entry.pointer,
            f"InferencePool {entry.pool_name} behind Istio gateway {entry.gateway.namespace}/"
            f"{entry.gateway.name} needs istiod {FLAG}=true; no istiod configuration",
        )
