"""The resource graph behind MG601–MG605 (RULES.md §2 MG6xx): per-run indexes and semantics.

Every index is built once per run with ``Inventory.memo`` and answers one reference in O(1) (a
wildcard host costs one probe per DNS label):

* DestinationRules as istiod splits them (``istio pilot/pkg/model/push_context.go:
  setDestinationRules``): namespace-local (``exportTo`` empty, ``*``, ``.`` or the own namespace),
  exported per namespace, and the private rules of the root namespace. ``destinationRule`` walks
  client namespace → service namespace → root namespace and takes the most specific host
  (``MostSpecificHostMatch``); rules of one scope and host merge (``mergeDestinationRule``).
* ServiceEntries by host (``analyzers/util/service_lookup.go: InitServiceEntryHostMap``),
  ReferenceGrants by (target namespace, from group, kind, namespace), InferencePool endpoint
  pickers (``inference_api``), every workload of the run.

Nothing here raises on hostile input: every field is type-checked before use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from meshguard.checks._authz_shapes import (
    decoded_list,
    has_values,
    match_labels_of,
    operations_of,
    port_values,
    rules_of,
    sources_of,
    string_values,
)
from meshguard.inference_api import is_inference_pool, pool_view
from meshguard.inventory import Inventory, Workload, selector_matches
from meshguard.model import JsonPointer, Resource, Severity
from meshguard.semantics import mtls
from meshguard.semantics.hosts import is_wildcard, normalize_host

NETWORKING = "networking.istio.io"
GATEWAY_API = "gateway.networking.k8s.io"
INJECT = "sidecar.istio.io/inject"
REV_LABEL = "istio.io/rev"


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, item) of the mapping items of a list (anything else: none)."""
    listed = value if isinstance(value, list) else []
    return [(i, v) for i, v in enumerate(listed) if isinstance(v, Mapping)]


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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


def domain(inv: Inventory) -> str:
    return str(inv.params.get("mesh.domain_suffix"))


def semver(value: Any) -> tuple[int, int]:
    """``gateway_api_version`` ("v1.2.0") as (major, minor); unreadable: (1, 2), the default."""
    parts = str(value).lstrip("v").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 1, 2


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
    """The namespace of ``<name>.<namespace>.svc.<domain>`` (None for other hosts)."""
    suffix = f".svc.{domain(inv)}"
    parts = host[: -len(suffix)].split(".") if host.endswith(suffix) else []
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


@dataclass(frozen=True, slots=True)
class DrEntry:
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
    mode = tls.get("mode", "DISABLE") if isinstance(tls, Mapping) else None
    return mode if isinstance(mode, str) else "?"


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


def injection(
    inv: Inventory, namespace: str, labels: Mapping[str, Any], notes: Mapping[str, Any]
) -> bool | None:
    """Will pods with these labels get a sidecar (None: unknown)?

    Istio's webhooks (``istio-discovery/templates/mutatingwebhook.yaml``): the pod label
    ``sidecar.istio.io/inject`` (or the deprecated annotation) opts out with ``"false"``; a
    namespace labelled ``istio-injection: enabled`` or ``istio.io/rev`` injects; any other
    ``istio-injection`` value matches no webhook; otherwise a pod opt-in or
    ``enableNamespacesByDefault`` decides. A namespace absent from the run counts as injected when
    it is an ML namespace (MG407's rule: MG401 enforces its label), else unknown.
    """
    flag = labels.get(INJECT, notes.get(INJECT))
    flag = str(flag).lower() if isinstance(flag, (str, bool)) else ""
    if flag == "false":
        return False
    opt_in = flag == "true" or REV_LABEL in labels
    ns = inv.get("", "Namespace", "", namespace)
    if ns is None:
        return True if opt_in or inv.is_ml_namespace(namespace) else None
    if "istio-injection" in ns.labels:
        return ns.labels.get("istio-injection") == "enabled"
    if REV_LABEL in ns.labels:
        return True
    if ns.labels.get("istio.io/dataplane-mode") == "ambient":
        return False
    return opt_in or bool(inv.params.get("istio.enable_namespaces_by_default"))


@dataclass(frozen=True, slots=True)
class Pods:
    """A pod template behind a selector, or the selector itself when the run has no pod template
    in that namespace (``workload`` None: the pods are simply not in the input)."""

    namespace: str
    labels: Mapping[str, Any]
    annotations: Mapping[str, Any]
    workload: Workload | None

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


# -- AuthorizationPolicy and mTLS identity (MG603) ---------------------------------------------

# authorization_policy.proto: Source fields and condition keys that "require mTLS enabled".
POSITIVE = ("principals", "namespaces", "serviceAccounts")
NEGATIVE = ("notPrincipals", "notNamespaces", "notServiceAccounts")
WHEN_KEYS = frozenset({"source.principal", "source.namespace", "source.serviceAccount"})
PLAINTEXT_DENY_RULE = {"from": [{"source": {"notNamespaces": ["*"]}}]}


@dataclass(frozen=True, slots=True)
class MtlsUse:
    """One mTLS-only match of a rule, and whether plaintext can still match its source/rule."""

    rule: int
    pointer: JsonPointer
    field: str
    values: tuple[str, ...]
    positive: bool
    guarded: bool  # the same source (every source, for `when`) also needs an identity
    ports: tuple[int, ...]  # covered ports; () means every port


def requires_identity(source: Mapping[str, Any]) -> bool:
    """A positive mTLS-only field never matches a plaintext request, so neither does the source."""
    return any(has_values(source, f) for f in POSITIVE)


def mtls_uses(res: Resource) -> Iterator[MtlsUse]:
    for i, rule, rule_ptr in rules_of(res):
        sources = list(sources_of(rule, rule_ptr))
        ports = _covered_ports(rule, rule_ptr)
        every = bool(sources) and all(requires_identity(s) for s, _ in sources)
        for src, src_ptr in sources:
            for field in (*POSITIVE, *NEGATIVE):
                if values := tuple(v for v, _ in string_values(src, field, src_ptr)):
                    ptr, positive = f"{src_ptr}/{field}", field in POSITIVE
                    yield MtlsUse(i, ptr, field, values, positive, requires_identity(src), ports)
        for k, cond in items(rule.get("when")):
            for field, positive in (("values", True), ("notValues", False)):
                values = tuple(v for v, _ in string_values(cond, field, ""))
                if cond.get("key") in WHEN_KEYS and values:
                    ptr, name = f"{rule_ptr}/when/{k}/{field}", f"{cond['key']} {field}"
                    yield MtlsUse(i, ptr, name, values, positive, every, ports)


def _covered_ports(rule: Mapping[str, Any], rule_ptr: JsonPointer) -> tuple[int, ...]:
    """``to[].operation.ports`` when every operation lists ports; () means all ports."""
    ops = list(operations_of(rule, rule_ptr))
    if not ops or len(ops) != len(decoded_list(rule.get("to")) or []):
        return ()
    values = [port_values(op, "ports") for op, _ in ops]
    if not all(values):
        return ()
    return tuple(int(v) for vs in values for v in vs if v.isdigit())


def use_severity(action: str, use: MtlsUse) -> Severity | None:
    """DENY positive, or ALLOW negative plaintext can satisfy: error; ALLOW positive: warning,
    except values of only ``*`` (the explicit "require mTLS" idiom). None: no finding."""
    if action == "DENY":
        return Severity.ERROR if use.positive else None
    if not use.positive:
        return None if use.guarded else Severity.ERROR
    return None if set(use.values) == {"*"} else Severity.WARNING


def denies_plaintext(res: Resource) -> bool:
    """A rule ``from: [{source: {notNamespaces|notPrincipals: ["*"]}}]`` without ``to``/``when``
    denies every plaintext request, so none can bypass the DENY policy's other rules."""
    for _, rule, rule_ptr in rules_of(res):
        if rule.get("to") or rule.get("when"):
            continue
        for src, _ in sources_of(rule, rule_ptr):
            keys = {k for k in src if has_values(src, k)}
            negatives = keys and keys <= {"notNamespaces", "notPrincipals"}
            if negatives and any("*" in src[k] for k in keys):
                return True
    return False


def policy_pods(inv: Inventory, res: Resource) -> tuple[list[Pods], list[tuple[JsonPointer, str]]]:
    """Pods an AuthorizationPolicy applies to (targetRef Services, selector, its namespace, or the
    mesh from the root namespace), and the targetRef Services absent from the run."""
    labels = dict(match_labels_of(res.spec) or {})
    refs = (
        [("/spec/targetRef", res.spec["targetRef"])]
        if isinstance(res.spec.get("targetRef"), Mapping)
        else []
    )
    refs += [(f"/spec/targetRefs/{i}", r) for i, r in items(res.spec.get("targetRefs"))]
    if refs:
        pods: list[Pods] = []
        missing: list[tuple[JsonPointer, str]] = []
        for ptr, target in refs:
            name = text(target.get("name"))
            if target.get("kind") != "Service" or group_of(target.get("group")) != "" or not name:
                continue
            svc = inv.get("", "Service", res.namespace, name)
            if svc is None:
                missing.append((ptr, name))
            elif selector := mapping(svc.spec.get("selector")):
                pods.extend(pods_of(inv, res.namespace, selector))
        return pods, missing
    if res.namespace != inv.root_namespace or not all_workloads(inv):
        return pods_of(inv, res.namespace, labels), []
    mesh = [w for w in all_workloads(inv) if selector_matches(labels, w.labels)]
    return [Pods(w.namespace, w.labels, w.annotations, w) for w in mesh], []


Weak = tuple[Pods, int | None, mtls.EffectiveMtls]


def first_weak(inv: Inventory, pods_list: list[Pods], ports: tuple[int, ...]) -> Weak | None:
    """The first injected (pods, covered port) whose effective mode (P6) is not STRICT; pods
    without a sidecar enforce no AuthorizationPolicy at all and are skipped."""
    for pods in pods_list:
        if injection(inv, pods.namespace, pods.labels, pods.annotations) is False:
            continue
        effective = effective_mtls(inv, pods)
        candidates: list[int | None] = [*(ports or workload_ports(inv, pods))]
        for port in candidates or [None, *sorted(effective.per_port)]:
            if (effective.port_mode(port) if port is not None else effective.mode) != mtls.STRICT:
                return pods, port, effective
    return None


# -- Gateway API listeners (MG604) -------------------------------------------------------------


def label_selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool | None:
    """``metav1.LabelSelectorAsSelector(...).Matches``; None when the selector is invalid."""
    match_labels = mapping(selector).get("matchLabels")
    expressions = mapping(selector).get("matchExpressions")
    if not isinstance(selector, Mapping) or not isinstance(match_labels or {}, Mapping):
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
            str(k.get("kind"))
            for _, k in items(kinds)
            if group_of(k.get("group"), GATEWAY_API) == GATEWAY_API
        }
    return frozenset(supported)


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
    host = text(listener.get("hostname"))
    raw = route.spec.get("hostnames")
    hostnames = [h for h in raw if isinstance(h, str)] if isinstance(raw, list) else []
    if host and hostnames and not any(hostnames_overlap(host, h) for h in hostnames):
        return False, f"{name}: hostname {host} matches none of {', '.join(hostnames)}"
    return True, ""
