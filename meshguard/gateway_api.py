"""Gateway API parents and listeners as Istio resolves them (MG501–MG505, MG509, MG604).

* A `parentRefs[]` entry defaults to group `gateway.networking.k8s.io`, kind `Gateway` and the
  route's namespace (`gwapi apis/v1/shared_types.go: ParentReference`; the API server prunes a
  `null` and applies the CRD default).
* A Gateway's controller is its GatewayClass's `controllerName`: the GatewayClass in the run
  decides, else Istio's built-in class names (`istio gatewaycommon/classinfo.go:
  GetBuiltinGatewayClasses`). It is an *Istio parent* when that is `istio.io/gateway-controller`
  (RULES.md MG5xx preamble); a parent absent from the run is no parent here (MG604 reports it).
* A listener admits a route by namespace, kind and hostname (`istio conversion.go:
  referenceAllowed`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.body import items, mapping
from meshguard.config import Params
from meshguard.inventory import GATEWAY_API, Inventory, selector_matches
from meshguard.model import Resource

ISTIO_GATEWAY_CONTROLLER = "istio.io/gateway-controller"
MESH_CONTROLLERS = frozenset({"istio.io/mesh-controller", "istio.io/eastwest-controller"})
# Controllers whose listeners go through conversion.go listenerProtocolToIstio.
ISTIO_CONTROLLERS = frozenset({ISTIO_GATEWAY_CONTROLLER, *MESH_CONTROLLERS})
GKE_CONTROLLER = "networking.gke.io/gateway"
# istio pilot/pkg/config/kube/gatewaycommon/classinfo.go GetBuiltinGatewayClasses; constants.go
BUILTIN_CLASSES = {
    "istio": ISTIO_GATEWAY_CONTROLLER,
    "istio-waypoint": "istio.io/mesh-controller",
    "istio-east-west": "istio.io/eastwest-controller",
    "istio-remote": "istio.io/unmanaged-gateway",
}
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
_ByParent = dict[tuple[str, str], list[tuple[Resource, Mapping[str, Any]]]]


def gateway_api_version(params: Params) -> tuple[int, int, int]:
    """`gateway_api_version` ("v1.2.0") as a tuple; the schema enforces the pattern."""
    numbers = [int(p) for p in re.findall(r"\d+", str(params.get("gateway_api_version")))[:3]]
    numbers += [0, 0, 0]
    return numbers[0], numbers[1], numbers[2]


# -- parents -------------------------------------------------------------------------------------


def class_controller(gateway: Resource, inventory: Inventory) -> str | None:
    """controllerName of a Gateway's class: the GatewayClass in the run, else a built-in name."""
    name = gateway.spec.get("gatewayClassName")
    if not isinstance(name, str):
        return None
    gateway_class = inventory.get(GATEWAY_API, "GatewayClass", "", name)
    if gateway_class is not None:
        controller = gateway_class.spec.get("controllerName")
        return controller if isinstance(controller, str) else None
    if name.startswith("gke-l7-"):
        return GKE_CONTROLLER
    return BUILTIN_CLASSES.get(name)


def gateway_of_ref(route: Resource, ref: Mapping[str, Any]) -> tuple[str, str] | None:
    """(namespace, name) of the Gateway a parentRef names, with the CRD defaults; None when it
    names another kind (a Service for GAMMA) or is malformed."""
    group, kind = ref.get("group"), ref.get("kind")
    group = GATEWAY_API if group is None else group
    if (group, "Gateway" if kind is None else kind) != (GATEWAY_API, "Gateway"):
        return None
    name, namespace = ref.get("name"), ref.get("namespace") or route.namespace
    if not isinstance(name, str) or not name or not isinstance(namespace, str):
        return None
    return namespace, name


def gateway_refs(route: Resource) -> Iterator[tuple[int, Mapping[str, Any], str, str]]:
    """(index, parentRef, namespace, name) of the parentRefs naming a Gateway."""
    for i, ref in items(route.spec.get("parentRefs")):
        found = gateway_of_ref(route, ref)
        if found is not None:
            yield i, ref, *found


def parent_gateways(route: Resource, inventory: Inventory) -> list[tuple[int, Resource]]:
    """(parentRefs index, Gateway) for every parentRef that resolves to a Gateway in the run."""
    found = (
        (i, inventory.get(GATEWAY_API, "Gateway", ns, n)) for i, _, ns, n in gateway_refs(route)
    )
    return [(i, gateway) for i, gateway in found if gateway is not None]


def parent_controllers(route: Resource, inventory: Inventory) -> set[str]:
    return {
        c for _, g in parent_gateways(route, inventory) if (c := class_controller(g, inventory))
    }


def has_istio_parent(route: Resource, inventory: Inventory) -> bool:
    return ISTIO_GATEWAY_CONTROLLER in parent_controllers(route, inventory)


def istio_parent(inventory: Inventory, route: Resource, ref: Any) -> Resource | str:
    """The Istio Gateway a parentRef names, else "other", or "absent" when it is not in the run."""
    found = gateway_of_ref(route, ref) if isinstance(ref, dict) else None
    if found is None:
        return "other"
    gateway = inventory.get(GATEWAY_API, "Gateway", *found)
    if gateway is None:
        return "absent"
    return gateway if class_controller(gateway, inventory) == ISTIO_GATEWAY_CONTROLLER else "other"


def routes_by_parent(inventory: Inventory) -> _ByParent:
    """HTTPRoutes and GRPCRoutes by the (namespace, name) of the Gateway they name, per run."""

    def build() -> _ByParent:
        index: _ByParent = defaultdict(list)
        for kind in ROUTE_KINDS:
            for route in inventory.of_kind(GATEWAY_API, kind):
                for _, ref, namespace, name in gateway_refs(route):
                    index[(namespace, name)].append((route, ref))
        return dict(index)

    return inventory.memo("gateway:routes-by-parent", build)


# -- listeners -----------------------------------------------------------------------------------


def ref_selects_listener(ref: Mapping[str, Any], listener: Mapping[str, Any]) -> bool:
    """A parentRef's `sectionName` and `port`, when set, must name the listener."""
    return all(
        key not in ref or ref.get(key) == listener.get(field)
        for key, field in (("sectionName", "name"), ("port", "port"))
    )


def label_selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool | None:
    """``metav1.LabelSelectorAsSelector(...).Matches``; None when the selector is invalid."""
    match_labels = mapping(selector).get("matchLabels")
    expressions = mapping(selector).get("matchExpressions")
    if not isinstance(selector, dict) or not isinstance(match_labels or {}, dict):
        return None
    if not isinstance(expressions or [], list):
        return None
    if match_labels and not selector_matches(match_labels, labels):
        return False
    for expr in expressions or []:
        op = mapping(expr).get("operator")
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return None
        key, raw = str(expr.get("key")), expr.get("values")
        values = (
            {str(v) for v in raw if isinstance(v, (str, int))} if isinstance(raw, list) else set()
        )
        value = str(labels[key]) if key in labels else None
        if op == "Exists" and value is None or op == "DoesNotExist" and value is not None:
            return False
        if op == "In" and value not in values or op == "NotIn" and value in values:
            return False
    return True


def listener_route_kinds(listener: Mapping[str, Any]) -> frozenset[str] | None:
    """Route kinds a listener carries (``gatewaycommon/conversion.go:
    GenerateGatewaySupportedKinds``); None for a protocol Istio does not map (not judged)."""
    protocol = listener.get("protocol")
    supported = {
        "HTTP": {"HTTPRoute", "GRPCRoute"},
        "HTTPS": {"HTTPRoute", "GRPCRoute"},
        "TCP": {"TCPRoute"},
        "UDP": {"UDPRoute"},
        "TLS": {"TLSRoute"}
        | ({"TCPRoute"} if mapping(listener.get("tls")).get("mode") == "Terminate" else set()),
    }.get(protocol if isinstance(protocol, str) else "")
    if supported is None:
        return None
    kinds = mapping(listener.get("allowedRoutes")).get("kinds")
    if isinstance(kinds, list) and kinds:
        supported &= {
            str(k.get("kind")) for _, k in items(kinds) if _group(k.get("group")) == GATEWAY_API
        }
    return frozenset(supported)


def _group(value: Any) -> str:
    """A RouteGroupKind group (absent: Gateway API; `core` spells the core group)."""
    if not isinstance(value, str):
        return GATEWAY_API
    return "" if value == "core" else value


def hostnames_overlap(a: str, b: str) -> bool:
    """``host.Name.Matches`` (Istio's parent/route hostname test): equal, or a wildcard covers the
    other (``*.example.com`` overlaps ``a.example.com`` and ``*.a.example.com``)."""
    a, b = a.lower(), b.lower()
    if a == b or "*" in (a, b):
        return True
    return any(
        x.startswith("*") and (y[1:] if y.startswith("*") else y).endswith(x[1:])
        for x, y in ((a, b), (b, a))
    )


def listener_admits(
    inv: Inventory, route: Resource, gateway: Resource, listener: Mapping[str, Any]
) -> tuple[bool | None, str]:
    """(3) namespaces, (4) kinds and protocol, (5) hostnames (``conversion.go: referenceAllowed``;
    ``namespacesFromSelector`` adds ``kubernetes.io/metadata.name``). None: the Namespace a
    selector needs is not in the run."""
    name = f"listener {listener.get('name')}"
    namespaces = mapping(mapping(listener.get("allowedRoutes")).get("namespaces"))
    source = namespaces.get("from", "Same")
    if source == "Same" and route.namespace != gateway.namespace:
        return (
            False,
            f"{name}: allowedRoutes.namespaces.from Same excludes namespace {route.namespace}",
        )
    if source == "Selector" and namespaces.get("selector") is not None:
        ns = inv.get("", "Namespace", "", route.namespace)
        if ns is None:
            return None, f"{name}: Namespace {route.namespace} is not in the input for the selector"
        labels = {**ns.labels, "kubernetes.io/metadata.name": ns.name}
        if label_selector_matches(namespaces["selector"], labels) is not True:
            return (
                False,
                f"{name}: allowedRoutes selector does not select namespace {route.namespace}",
            )
    kinds = listener_route_kinds(listener)
    if kinds is not None and route.kind not in kinds:
        carried = ", ".join(sorted(kinds)) or "no route kind"
        return (
            False,
            f"{name}: protocol {listener.get('protocol')} carries {carried}, not {route.kind}",
        )
    host = listener.get("hostname")
    host = host if isinstance(host, str) and host else None
    raw = route.spec.get("hostnames")
    hostnames = [h for h in raw if isinstance(h, str)] if isinstance(raw, list) else []
    if host and hostnames and not any(hostnames_overlap(host, h) for h in hostnames):
        return False, f"{name}: hostname {host} matches none of {', '.join(hostnames)}"
    return True, ""
