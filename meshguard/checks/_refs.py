"""The resource graph behind MG6xx (RULES.md §2 MG6xx), also read by MG3xx and MG509: per-run
indexes and semantics.

Every index is built once per run with ``Inventory.memo`` and answers one reference in O(1) (a
wildcard host costs one probe per DNS label):

* DestinationRules as istiod splits them (``istio pilot/pkg/model/push_context.go:
  setDestinationRules``): namespace-local (``exportTo`` empty, ``*``, ``.`` or the own namespace),
  exported per namespace, and the private rules of the root namespace. ``destinationRule`` walks
  client namespace → service namespace → root namespace and takes the most specific host
  (``MostSpecificHostMatch``); rules of one scope and host merge (``mergeDestinationRule``).
  This is the one DestinationRule index (MG509 looks up the endpoint picker's rules with it).
* ServiceEntries by host (``analyzers/util/service_lookup.go: InitServiceEntryHostMap``),
  ReferenceGrants by (target namespace, from group, kind, namespace), InferencePool endpoint
  pickers (``inference_api``), every workload of the run.
* The destinations of VirtualService routes and mirrors; pods behind a selector and their
  effective mTLS (P6) and sidecar injection (``semantics.injection``).

Nothing here raises on hostile input: every field is type-checked before use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from meshguard.body import integer, items
from meshguard.inference_api import is_inference_pool, pool_view
from meshguard.inventory import GATEWAY_API, NETWORKING, Inventory, Workload, selector_matches
from meshguard.model import JsonPointer, Resource, pointer
from meshguard.semantics import mtls
from meshguard.semantics.hosts import is_wildcard, normalize_host
from meshguard.semantics.injection import sidecar_injected


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def numbers(ports: Any, key: str) -> tuple[int, ...]:
    """Port numbers of a ``ports`` list (Service ``port``, ServiceEntry ``number``)."""
    return tuple(n for _, p in items(ports) if (n := integer(p.get(key))) is not None)


def group_of(value: Any, default: str = "") -> str:
    """An API group as written (``core`` is the core group, like ``""``)."""
    if not isinstance(value, str):
        return default
    return "" if value == "core" else value


def ref(res: Resource) -> str:
    return f"{res.namespace}/{res.name}"


def shown(values: list[str], limit: int = 3) -> str:
    """A list in a message, cut after `limit` items: `[a, b, c, …]`."""
    return "[" + ", ".join(values[:limit]) + (", …]" if len(values) > limit else "]")


def domain(inv: Inventory) -> str:
    return str(inv.params.get("mesh.domain_suffix"))


def host_keys(host: str) -> Iterator[str]:
    """Index keys that match a concrete host, most specific first: the host, then ``*.b.c``,
    ``*.c``, ``*`` (``host.Name.Matches``)."""
    parts = host.split(".")
    yield host
    yield from ("*." + ".".join(parts[i:]) for i in range(1, len(parts)))
    yield "*"


def host_lookup(index: Mapping[str, list[Any]], host: str) -> tuple[str, list[Any]] | None:
    """``MostSpecificHostMatch`` for a concrete host: the exact key, else the longest wildcard."""
    return next(((k, index[k]) for k in host_keys(host) if index.get(k)), None)


def host_namespace(inv: Inventory, host: str) -> str | None:
    """The namespace of a Service host ``<name>.<namespace>.svc.<domain>`` (None for other hosts,
    wildcards included)."""
    suffix = f".svc.{domain(inv)}".lower()
    if is_wildcard(host) or not host.endswith(suffix):
        return None
    parts = host[: -len(suffix)].split(".")
    return parts[1] if len(parts) == 2 else None


# -- exportTo and DestinationRules -------------------------------------------------------------


def export_set(values: Any) -> frozenset[str]:
    return frozenset(v for v in (values if isinstance(values, list) else []) if isinstance(v, str))


def visible_from(export_to: frozenset[str], owner_ns: str, client_ns: str) -> bool:
    """Visibility of a namespaced config (empty exportTo: the mesh default ``*``)."""
    if not export_to or "*" in export_to or client_ns in export_to:
        return True
    return "." in export_to and owner_ns == client_ns


def service_visible(service: Resource, client_ns: str) -> bool:
    """``networking.istio.io/exportTo`` annotation of a Service (comma list; absent: everywhere)."""
    raw = service.annotations.get("networking.istio.io/exportTo")
    if not isinstance(raw, str) or not raw.strip():
        return True
    return visible_from(frozenset(p.strip() for p in raw.split(",")), service.namespace, client_ns)


class DrEntry(NamedTuple):
    rule: Resource
    host: str  # P5-normalised, relative to the rule's namespace
    export_to: frozenset[str]


@dataclass(slots=True)
class DrIndex:
    """istiod's three indexes (scope → host → merged rules), plus every rule by host."""

    local: dict[str, dict[str, list[DrEntry]]]
    exported: dict[str, dict[str, list[DrEntry]]]
    root_local: dict[str, list[DrEntry]]
    by_host: dict[str, list[DrEntry]]
    root: str

    def lookup(self, client_ns: str, host: str, service_ns: str | None) -> list[DrEntry]:
        """``PushContext.destinationRule``: the rules a proxy in ``client_ns`` uses for ``host``."""
        scope = self.root_local if client_ns == self.root else self.local.get(client_ns, {})
        found = host_lookup(scope, host)
        if found:
            return found[1]
        for owner in dict.fromkeys(n for n in (service_ns, self.root) if n):
            found = host_lookup(self.exported.get(owner, {}), host)
            seen = (
                [e for e in found[1] if visible_from(e.export_to, "", client_ns)] if found else []
            )
            if seen:
                return seen
        return []


def dr_index(inv: Inventory) -> DrIndex:
    def build() -> DrIndex:
        root = inv.root_namespace
        index = DrIndex(defaultdict(dict), defaultdict(dict), {}, defaultdict(list), root)
        for rule in inv.of_kind(NETWORKING, "DestinationRule"):
            raw, ns = text(rule.spec.get("host")), rule.namespace
            if raw is None:
                continue
            # a rule with workloadSelector is never exported (push_context.go)
            private = rule.spec.get("workloadSelector") is not None
            export = frozenset({"."}) if private else export_set(rule.spec.get("exportTo"))
            entry = DrEntry(rule, normalize_host(raw, ns, domain(inv)), export)
            index.by_host[entry.host].append(entry)
            if not export or export & {"*", ".", ns}:
                index.local[ns].setdefault(entry.host, []).append(entry)
            if not (len(export) == 1 and export & {".", ns}):
                index.exported[ns].setdefault(entry.host, []).append(entry)
            elif ns == root:
                index.root_local.setdefault(entry.host, []).append(entry)
        return index

    return inv.memo("references:dr-index", build)


def subsets_of(entries: Iterable[DrEntry]) -> dict[str, tuple[DrEntry, Mapping[str, Any]]]:
    """Subset name → (rule, subset) over merged rules; the first definition wins (merge order)."""
    out: dict[str, tuple[DrEntry, Mapping[str, Any]]] = {}
    for entry in entries:
        for _, subset in items(entry.rule.spec.get("subsets")):
            name = text(subset.get("name"))
            if name is not None:
                out.setdefault(name, (entry, subset))
    return out


def tls_mode(tls: Any) -> str | None:
    """A DR ``tls`` block's mode: None when unset; a block without mode is DISABLE (the
    ``ClientTLSSettings.mode`` proto default), so it sends plaintext too."""
    if tls is None:
        return None
    mode = tls.get("mode", "DISABLE") if isinstance(tls, dict) else None
    return mode if isinstance(mode, str) else "?"


# -- VirtualService destinations --------------------------------------------------------------


def vs_destinations(res: Resource) -> Iterator[tuple[JsonPointer, Mapping[str, Any]]]:
    """(pointer, destination) of every route, mirror and mirrors destination (analyzers
    ``virtualservice/util.go``: getRouteDestinations, getHTTPMirrorDestinations)."""
    for section in ("http", "tcp", "tls"):
        for i, route in items(res.spec.get(section)):
            dests = [(pointer("route", j, "destination"), d) for j, d in items(route.get("route"))]
            if section == "http":
                dests.append(("/mirror", {"destination": route.get("mirror")}))
                mirrors = items(route.get("mirrors"))
                dests += [(pointer("mirrors", j, "destination"), d) for j, d in mirrors]
            for tail, item in dests:
                if isinstance(item.get("destination"), dict):
                    yield pointer("spec", section, i) + tail, item["destination"]


# -- ServiceEntries, Services, ReferenceGrants, endpoint pickers -------------------------------


def service_entries(inv: Inventory) -> dict[str, list[Resource]]:
    """Normalised ServiceEntry host (wildcards kept) → entries."""

    def build() -> dict[str, list[Resource]]:
        index: dict[str, list[Resource]] = defaultdict(list)
        for entry in inv.of_kind(NETWORKING, "ServiceEntry"):
            hosts = entry.spec.get("hosts")
            for host in hosts if isinstance(hosts, list) else []:
                if isinstance(host, str) and host:
                    index[normalize_host(host, entry.namespace, domain(inv))].append(entry)
        return dict(index)

    return inv.memo("references:service-entries", build)


def services_matching(inv: Inventory, pattern: str) -> list[Resource]:
    """Services a (possibly wildcard) DR host covers; ``*.<ns>.svc.<domain>`` is one namespace."""
    if not is_wildcard(pattern):
        svc = inv.service_by_host(pattern)
        return [svc] if svc is not None else []
    suffix = f".svc.{domain(inv)}".lower()
    inner = pattern[2:] if pattern.startswith("*.") else ""
    if inner.endswith(suffix) and "." not in inner[: -len(suffix)]:
        candidates = inv.in_namespace(inner[: -len(suffix)], "", "Service")
    else:
        candidates = inv.of_kind("", "Service")
    tail = pattern[1:]
    return [s for s in candidates if f"{s.name}.{s.namespace}{suffix}".lower().endswith(tail)]


GrantKey = tuple[str, str, str, str]  # (target ns, from group, from kind, from ns)


def grant_index(inv: Inventory) -> dict[GrantKey, list[tuple[str, str, str | None]]]:
    """(target ns, from group, from kind, from ns) → allowed ``to`` entries (group, kind, name)."""

    def build() -> dict[GrantKey, list[tuple[str, str, str | None]]]:
        index: dict[GrantKey, list[tuple[str, str, str | None]]] = defaultdict(list)
        for grant in inv.of_kind(GATEWAY_API, "ReferenceGrant"):
            targets = [
                (group_of(t.get("group")), str(t.get("kind", "")), text(t.get("name")))
                for _, t in items(grant.spec.get("to"))
            ]
            for _, src in items(grant.spec.get("from")):
                if (ns := text(src.get("namespace"))) is not None:
                    kind = str(src.get("kind", ""))
                    index[(grant.namespace, group_of(src.get("group")), kind, ns)].extend(targets)
        return dict(index)

    return inv.memo("references:grants", build)


def grant_allows(
    inv: Inventory, route: Resource, ns: str, group: str, kind: str, name: str
) -> bool:
    """ReferenceGrant semantics: ``from`` holds the route, ``to`` the referent (name optional)."""
    allowed = grant_index(inv).get((ns, route.group, route.kind, route.namespace), [])
    return any(g == group and k == kind and n in (None, name) for g, k, n in allowed)


def epp_services(inv: Inventory) -> frozenset[tuple[str, str]]:
    """(namespace, name) of every Service an InferencePool names as its endpoint picker."""

    def build() -> frozenset[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for res in inv.resources:
            view = pool_view(res) if is_inference_pool(res) else None
            picker = view.endpoint_picker if view is not None else None
            if picker is not None and picker.is_service and picker.name:
                out.add((res.namespace, picker.name))
        return frozenset(out)

    return inv.memo("references:epp-services", build)


def all_workloads(inv: Inventory) -> list[Workload]:
    """Every pod template of the run (a root-namespace AuthorizationPolicy reaches the mesh)."""

    def build() -> list[Workload]:
        return [w for ns in sorted({r.namespace for r in inv.resources}) for w in inv.workloads(ns)]

    return inv.memo("references:all-workloads", build)


# -- pods, sidecars and mTLS -------------------------------------------------------------------


class Pods(NamedTuple):
    """A pod template behind a selector, or the selector itself when the run has no pod template
    in that namespace (``workload`` None: the pods are simply not in the input)."""

    namespace: str
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]
    workload: Workload | None

    @property
    def pod_spec(self) -> Mapping[str, Any]:
        return self.workload.pod_spec if self.workload is not None else {}

    def injected(self, inv: Inventory) -> bool | None:
        """``semantics.injection.sidecar_injected`` for these pods (None: unknown)."""
        return sidecar_injected(inv, self.namespace, self.labels, self.annotations, self.pod_spec)

    @property
    def ref(self) -> str:
        if self.workload is not None:
            return self.workload.ref
        shown = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        return f"pods of {self.namespace}" + (f" matching {{{shown}}}" if shown else "")

    def target_port(self, service_port: Mapping[str, Any]) -> int | None:
        if self.workload is not None:
            return self.workload.target_port(service_port)
        target = service_port.get("targetPort", service_port.get("port"))
        return int(target) if isinstance(target, str) and target.isdigit() else integer(target)


def pods_of(
    inv: Inventory,
    namespace: str,
    selector: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> list[Pods]:
    """Pod templates matching ``selector`` and ``extra`` (subset labels); [] when the namespace
    has pod templates but none matches; one virtual ``Pods`` when it has none at all."""
    extra = extra or {}
    if any(k in selector and str(selector[k]) != str(v) for k, v in extra.items()):
        return []
    wanted = {**selector, **extra}
    found = [w for w in inv.workloads(namespace) if selector_matches(wanted, w.labels)]
    if found or inv.workloads(namespace):
        return [Pods(namespace, w.labels, w.annotations, w) for w in found]
    return [Pods(namespace, wanted, {}, None)]


def effective_mtls(inv: Inventory, pods: Pods) -> mtls.EffectiveMtls:
    """P6 for one pod template (``semantics.mtls.workload_mtls``), memoised per run."""
    cache: dict[tuple[Any, ...], mtls.EffectiveMtls] = inv.memo("references:mtls", dict)
    key = (pods.namespace, *sorted((str(k), str(v)) for k, v in pods.labels.items()))
    if key not in cache:
        cache[key] = mtls.workload_mtls(inv, pods.namespace, pods.labels)
    return cache[key]


def decided_by(effective: mtls.EffectiveMtls, port: int | None) -> str:
    """Which policy set the mode on a port, for messages."""
    workload = effective.workload
    if port is not None and port in effective.per_port and workload is not None:
        return f"portLevelMtls of PeerAuthentication {ref(workload)}"
    source = effective.decided_by
    if source is None:
        return "no PeerAuthentication: Istio's default"
    return f"PeerAuthentication {ref(source)}"


def workload_ports(inv: Inventory, pods: Pods) -> list[int]:
    """Container ports a pod template serves (Service target ports, declared container ports),
    memoised per workload: Services are found by scanning the namespace."""
    workload = pods.workload
    if workload is None:
        return []
    cache: dict[int, list[int]] = inv.memo("references:workload-ports", dict)
    if id(workload) not in cache:
        found = {
            t
            for svc in inv.services_selecting(workload)
            for _, port in items(svc.spec.get("ports"))
            if (t := workload.target_port(port)) is not None
        }
        for key in ("initContainers", "containers"):
            for _, container in items(workload.pod_spec.get(key)):
                found.update(numbers(container.get("ports"), "containerPort"))
        cache[id(workload)] = sorted(found)
    return cache[id(workload)]
