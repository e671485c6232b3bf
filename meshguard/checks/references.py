"""MG601, MG602, MG604, MG605: references between resources that do not resolve, or resolve to
a contradiction.

Manifests-only runs do not see the cluster (RULES.md §2 MG6xx preamble): a referent that is
*absent* — no object of that kind and name in the run, `--context` included — is reported with
`ctx.unresolved` (info; error with `--strict-refs`); a referent that is present but does not
match is a finding at the rule's severity. Lookups go through the per-run indexes of `_refs`
(O(1) per reference); parents and listeners are resolved by `meshguard.gateway_api`. MG603
(AuthorizationPolicy rules relying on mTLS identity) is in `identity.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from meshguard.body import integer, items, mapping
from meshguard.checks import _refs
from meshguard.checks._refs import (
    group_of,
    ref,
    text,
)
from meshguard.checks._traffic_policy import (
    Decision,
    Policy,
    decisions,
    location,
    policy_of,
    write_block_ops,
)
from meshguard.gateway_api import (
    gateway_api_version,
    gateway_of_ref,
    listener_admits,
    ref_selects_listener,
)
from meshguard.inference_api import POOL_GROUPS, POOL_KIND, find_pool
from meshguard.inventory import GATEWAY_API
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics import mtls
from meshguard.semantics.hosts import is_wildcard, normalize_host, service_host

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
UNSAFE = Safety.UNSAFE

# -- MG601 -------------------------------------------------------------------------------------


class _Target(NamedTuple):
    """What a destination host resolves to: a Service or a ServiceEntry, with its port numbers."""

    resource: Resource
    ports: tuple[int, ...]


@check("MG601")
def virtual_service_destination_unresolved(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio sends traffic for an unknown host, subset or port to no cluster (503 NR); analyzers
    ``virtualservice/destinationhosts.go`` (host, host:port, IST0112) and
    ``virtualservice/destinationrules.go`` (host+subset)."""
    gateways = res.spec.get("gateways")
    bound = isinstance(gateways, list) and any(isinstance(g, str) and g != "mesh" for g in gateways)
    # the VS serves the clients of its exportTo namespaces (GetDestinationHost in service_lookup.go)
    exports = _refs.export_set(res.spec.get("exportTo"))
    clients = sorted({res.namespace if e == "." else e for e in exports}) or [res.namespace]
    for ptr, dest in _refs.vs_destinations(res):
        raw = text(dest.get("host"))
        if raw is None or is_wildcard(raw):
            continue
        host = normalize_host(raw, res.namespace, _refs.domain(ctx.inventory))
        target, problem = _resolve_destination(ctx, clients, host)
        subset = text(dest.get("subset"))
        if target is not None:
            yield from _port_findings(ctx, ptr, dest, host, target, bound)
        elif problem:
            yield ctx.finding(ptr + "/host", problem, severity=ERROR)
        else:
            message = f"destination host {host} matches no Service or ServiceEntry"
            yield ctx.unresolved(ptr + "/host", message)
        if subset is not None:
            yield from _subset_findings(ctx, res, ptr + "/subset", host, subset, target)


def _resolve_destination(
    ctx: RuleContext, clients: list[str], host: str
) -> tuple[_Target | None, str | None]:
    """The Service or ServiceEntry visible to the clients, else why an object with exactly this
    host does not match (a wildcard ServiceEntry that is not visible simply does not match)."""
    inv = ctx.inventory
    hidden: Resource | None = None
    svc = inv.service_by_host(host)
    if svc is not None:
        if any(_refs.service_visible(svc, c) for c in clients):
            return _Target(svc, _refs.numbers(svc.spec.get("ports"), "port")), None
        hidden = svc
    index = _refs.service_entries(inv)
    for key in _refs.host_keys(host):
        for entry in index.get(key, []):
            export = _refs.export_set(entry.spec.get("exportTo"))
            if any(_refs.visible_from(export, entry.namespace, c) for c in clients):
                return _Target(entry, _refs.numbers(entry.spec.get("ports"), "number")), None
            hidden = hidden or (entry if key == host else None)
    if hidden is not None:
        where = ", ".join(clients)
        message = f"destination host {host} resolves to {hidden.kind} {ref(hidden)}"
        return None, f"{message}, which is not exported to namespace {where}"
    return None, _dotted_short_name(ctx, host)


def _dotted_short_name(ctx: RuleContext, host: str) -> str | None:
    """``name.namespace`` (or ``name.namespace.svc``) is taken as fully qualified and never expanded
    (``pilot/pkg/model/config.go: ResolveShortnameToFQDN``), so it misses the Service it names."""
    parts = host.split(".")
    if len(parts) not in (2, 3) or parts[2:] not in ([], ["svc"]):
        return None
    svc = ctx.inventory.get("", "Service", parts[1], parts[0])
    if svc is None:
        return None
    full = service_host(svc.name, svc.namespace, _refs.domain(ctx.inventory))
    return f"destination host {host} is not expanded by istio and matches nothing; use {full}"


def _port_findings(
    ctx: RuleContext, ptr: JsonPointer, dest: Any, host: str, target: _Target, bound: bool
) -> Iterator[Finding]:
    """(3) a multi-port destination without ``port``; a ``port`` the destination does not expose."""
    shown = ", ".join(map(str, target.ports))
    if dest.get("port") is None:
        if len(target.ports) > 1:
            where = "a gateway-bound" if bound else "a mesh-only"
            message = f"destination {host} exposes ports {shown} and {where} route names none"
            yield ctx.finding(ptr, message, severity=ERROR if bound else INFO)
        return
    number = integer(mapping(dest.get("port")).get("number"))
    if number is not None and target.ports and number not in target.ports:
        where = f"{target.resource.kind} {ref(target.resource)}"
        message = f"destination port {number} is not a port of {where} (ports {shown})"
        yield ctx.finding(ptr + "/port/number", message, severity=ERROR)


def _subset_findings(
    ctx: RuleContext, res: Resource, ptr: JsonPointer, host: str, subset: str, target: Any
) -> Iterator[Finding]:
    """(2) the subset on the DR lookup path (VS ns, service ns, root ns; ``exportTo``); (4) pods.
    With the host unresolved (``target`` None) only a DR present for it is judged."""
    index = _refs.dr_index(ctx.inventory)
    service_ns = target.resource.namespace if target else _refs.host_namespace(ctx.inventory, host)
    entries = index.lookup(res.namespace, host, service_ns)
    if not entries:
        anywhere = _refs.host_lookup(index.by_host, host)
        if anywhere is None:
            if target is not None:
                message = f"subset {subset} of {host}: no DestinationRule for the host"
                yield ctx.unresolved(ptr, message)
            return
        rule = ref(anywhere[1][0].rule)
        message = f"subset {subset}: DestinationRule {rule} for {host} is not visible from"
        yield ctx.finding(ptr, f"{message} namespace {res.namespace} (exportTo)", severity=ERROR)
        return
    defined = _refs.subsets_of(entries)
    if subset not in defined:
        names = ", ".join(defined) or "none"
        rule = f"DestinationRule {ref(entries[0].rule)} for {host}"
        message = f"subset {subset} is not defined by {rule} (subsets: {names})"
        yield ctx.finding(ptr, message, severity=ERROR)
        return
    if target is None:
        return
    labels = mapping(defined[subset][1].get("labels"))
    svc = target.resource
    selector = mapping(svc.spec.get("selector")) if svc.kind == "Service" else {}
    if labels and selector and not _refs.pods_of(ctx.inventory, svc.namespace, selector, labels):
        shown = ", ".join(f"{k}={v}" for k, v in labels.items())
        message = f"subset {subset} labels {{{shown}}} select no pod template behind Service"
        yield ctx.finding(ptr, f"{message} {ref(svc)}", severity=WARNING)


# -- MG602 -------------------------------------------------------------------------------------


@check("MG602")
def destination_rule_tls_contradicts_mtls(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The DR says what the client sends, the PeerAuthentication what the server accepts (istio.io
    TLS configuration guide); plaintext or foreign TLS to a STRICT port fails with 503s, and auto
    mTLS applies only without a DR ``tls`` (``core/cluster_tls.go: buildUpstreamTLSSettings``)."""
    raw = text(res.spec.get("host"))
    if raw is None:
        return
    policy = policy_of(res)
    auto = ctx.inventory.auto_mtls
    if auto and all(level.block("tls") is None for level in policy.levels()):
        return
    host = normalize_host(raw, res.namespace, _refs.domain(ctx.inventory))
    services = _dr_services(ctx, res, host)
    if services is None:
        message = f"DestinationRule host {host} matches no Service or ServiceEntry"
        yield ctx.unresolved("/spec/host", message)
        return
    found: dict[JsonPointer, Finding] = {}
    for svc in services:
        for finding in _tls_findings(ctx, res, policy, svc, auto):
            found.setdefault(finding.pointer, finding)
    yield from found.values()


def _dr_services(ctx: RuleContext, res: Resource, host: str) -> list[Resource] | None:
    """Services whose clients (the DR's namespace, or one it exports to) use this DR; None when
    the host is absent from the run."""
    inv = ctx.inventory
    candidates = _refs.services_matching(inv, host)
    if not candidates and not is_wildcard(host):
        return [] if _refs.host_lookup(_refs.service_entries(inv), host) else None
    index = _refs.dr_index(inv)
    exports = _refs.export_set(res.spec.get("exportTo")) - {"*", ".", "~"}
    clients = [res.namespace, *sorted(exports)]
    out = []
    for svc in candidates:
        svc_host = service_host(svc.name, svc.namespace, _refs.domain(inv))
        if any(e.rule is res for c in clients for e in index.lookup(c, svc_host, svc.namespace)):
            out.append(svc)
    return out


def _tls_findings(
    ctx: RuleContext, res: Resource, policy: Policy, svc: Resource, auto: bool
) -> Iterator[Finding]:
    """One finding per deciding ``tls`` level (``MergeSubsetTrafficPolicy``) over (subset, port)."""
    inv = ctx.inventory
    selector = mapping(svc.spec.get("selector"))
    ports = {n: p for _, p in items(svc.spec.get("ports")) if (n := integer(p.get("port")))}
    if not selector or not ports:
        return
    epp = (svc.namespace, svc.name) in _refs.epp_services(inv)
    subsets = {
        text(s.get("name")): mapping(s.get("labels")) for _, s in items(res.spec.get("subsets"))
    }
    for decision, pairs in decisions(policy, "tls", list(ports)):
        mode = _refs.tls_mode(decision.value)
        verdicts = (
            _tls_verdict(ctx, mode, pods, ports[port or 0], where, auto, epp)
            for subset, port in pairs
            for where in [f"{ref(svc)} port {port}" + (f" subset {subset}" if subset else "")]
            for pods in _refs.pods_of(inv, svc.namespace, selector, subsets.get(subset) or {})
        )
        verdict = next((v for v in verdicts if v is not None), None)
        if verdict is not None:
            yield _tls_finding(ctx, res, decision, verdict, auto)


def _tls_verdict(
    ctx: RuleContext,
    mode: str | None,
    pods: _refs.Pods,
    port: Any,
    where: str,
    auto: bool,
    epp: bool,
) -> tuple[Severity, str] | None:
    """(1) DISABLE to STRICT pods not known un-injected; (2) SIMPLE/MUTUAL to injected STRICT pods
    (not for an endpoint picker: MG509(2)); (3) no ``tls`` without auto mTLS to injected pods."""
    inv = ctx.inventory
    injected = pods.injected(inv)
    if mode is None:
        if auto or injected is not True:
            return None
        return (
            WARNING,
            f"auto mTLS is off and no tls applies to {where}: plaintext reaches {pods.ref}",
        )
    effective = _refs.effective_mtls(inv, pods)
    target = pods.target_port(port)
    if (effective.port_mode(target) if target is not None else effective.mode) != mtls.STRICT:
        return None
    shown = f"port {target}" if target is not None else "its ports"
    strict = f"{pods.ref} accepts only mTLS on {shown} ({_refs.decided_by(effective, target)})"
    if mode == "DISABLE" and injected is not False:
        return ERROR, f"tls mode DISABLE sends plaintext to {where}, but {strict}"
    if mode in ("SIMPLE", "MUTUAL") and injected is True and not epp:
        return WARNING, f"tls mode {mode} sends non-Istio TLS to {where}, but {strict}"
    return None


def _tls_finding(
    ctx: RuleContext, res: Resource, decision: Decision, verdict: tuple[Severity, str], auto: bool
) -> Finding:
    block = decision.block_pointer
    severity, message = verdict
    if block is None:  # (3): write ISTIO_MUTUAL at the level that decides the block
        ops = tuple(write_block_ops(decision.level, "tls", {"mode": "ISTIO_MUTUAL"}))
        fix = Fix(f"set tls mode ISTIO_MUTUAL at {decision.level.label}", ops, safety=UNSAFE)
        return ctx.finding(location(res, decision.level), message, severity=severity, fix=fix)
    has_mode = isinstance(decision.value, dict) and "mode" in decision.value
    if auto:
        fix = Fix.remove(block, "remove the tls block so auto mTLS sends Istio mTLS", safety=UNSAFE)
    else:
        fix = Fix.replace(
            block, {"mode": "ISTIO_MUTUAL"}, "set tls mode ISTIO_MUTUAL", safety=UNSAFE
        )
    return ctx.finding(block + "/mode" if has_mode else block, message, severity=severity, fix=fix)


# -- MG604 -------------------------------------------------------------------------------------


@check("MG604")
def route_parent_not_admitted(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """A route binds only where a listener admits it (``gwapi shared_types.go`` ParentReference
    defaults; ``gateway_types.go`` AllowedRoutes default ``{namespaces: {from: Same}}``; istio
    ``conversion.go: referenceAllowed``); else Istio sets ``Accepted=False`` and serves nothing."""
    for i, parent in items(res.spec.get("parentRefs")):
        yield from _parent_findings(ctx, res, pointer("spec", "parentRefs", i), parent)


def _parent_findings(
    ctx: RuleContext, res: Resource, ptr: JsonPointer, parent: Mapping[str, Any]
) -> Iterator[Finding]:
    inv = ctx.inventory
    found = gateway_of_ref(res, parent)
    if found is None:
        yield from _service_parent(ctx, res, ptr, parent)
        return
    namespace, name = found
    gateway = inv.get(GATEWAY_API, "Gateway", namespace, name)
    if gateway is None:
        yield ctx.unresolved(ptr, f"parentRef Gateway {namespace}/{name} does not resolve")
        return
    listeners = items(gateway.spec.get("listeners"))
    targeted = [body for _, body in listeners if ref_selects_listener(parent, body)]
    if not targeted:
        field = "sectionName" if "sectionName" in parent else "port"
        names = ", ".join(f"{b.get('name')}:{b.get('port')}" for _, b in listeners) or "none"
        message = f"parentRef {field} {parent.get(field)} matches no listener of Gateway"
        yield ctx.finding(ptr + "/" + field, f"{message} {ref(gateway)} ({names})", severity=ERROR)
        return
    verdicts = [listener_admits(inv, res, gateway, body) for body in targeted]
    if any(ok is True for ok, _ in verdicts):
        return
    reasons = "; ".join(why for _, why in verdicts)
    message = f"Gateway {ref(gateway)} admits {res.kind} {ref(res)} on no listener: {reasons}"
    if any(ok is None for ok, _ in verdicts):
        yield ctx.unresolved(ptr, message)
    else:
        yield ctx.finding(ptr, message, severity=ERROR)


def _service_parent(
    ctx: RuleContext, res: Resource, ptr: JsonPointer, parent: Mapping[str, Any]
) -> Iterator[Finding]:
    """GAMMA: a route attaches to a Service (group "", kind Service)."""
    name, namespace = text(parent.get("name")), parent.get("namespace") or res.namespace
    kind = parent.get("kind")
    if group_of(parent.get("group"), GATEWAY_API) != "" or kind != "Service" or name is None:
        return
    if isinstance(namespace, str) and ctx.inventory.get("", "Service", namespace, name) is None:
        yield ctx.unresolved(ptr, f"parentRef Service {namespace}/{name} does not resolve")


# -- MG605 -------------------------------------------------------------------------------------


class _Backend(NamedTuple):
    pointer: JsonPointer
    group: str
    kind: str
    name: str
    namespace: str


@check("MG605")
def backend_ref_unresolved(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio drops a backend it cannot find ("backend(%s) not found") or may not reach ("backendRef
    %v/%v not accessible to a %s in namespace %q (missing a ReferenceGrant?)", ``conversion.go:
    buildDestination``); every cross-namespace reference needs a ReferenceGrant (``gwapi
    referencegrant_types.go``)."""
    granted: set[str] = set()
    for i, rule in items(res.spec.get("rules")):
        for j, raw in items(rule.get("backendRefs")):
            name, namespace = text(raw.get("name")), raw.get("namespace", res.namespace)
            kind = raw.get("kind", "Service")
            if name is None or not isinstance(namespace, str) or not isinstance(kind, str):
                continue
            ptr = pointer("spec", "rules", i, "backendRefs", j)
            backend = _Backend(ptr, group_of(raw.get("group")), kind, name, namespace)
            yield from _backend_findings(ctx, res, backend, raw, granted)


def _backend_findings(
    ctx: RuleContext, res: Resource, ref_: _Backend, raw: Mapping[str, Any], granted: set[str]
) -> Iterator[Finding]:
    inv, ptr, where = ctx.inventory, ref_.pointer, f"{ref_.namespace}/{ref_.name}"
    present: Resource | None
    if (ref_.group, ref_.kind) == ("", "Service") and "." in ref_.name:
        return  # a hostname, not a Service name: MG505 / Istio "service name invalid"
    if (ref_.group, ref_.kind) == ("", "Service"):
        present = inv.get("", "Service", ref_.namespace, ref_.name)
        port = integer(raw.get("port"))
        ports = _refs.numbers(present.spec.get("ports"), "port") if present else ()
        if present is None:
            yield ctx.unresolved(ptr + "/name", f"backendRef Service {where} does not resolve")
        elif port is not None and ports and port not in ports:
            shown = ", ".join(map(str, ports))
            message = f"backendRef port {port} is not a port of Service {where} (ports {shown})"
            yield ctx.finding(ptr + "/port", message, severity=ERROR)
    elif ref_.kind == POOL_KIND and ref_.group in POOL_GROUPS:
        present = find_pool(inv, ref_.namespace, ref_.name, ref_.group)
        other = find_pool(inv, ref_.namespace, ref_.name) if present is None else None
        if other is not None:
            message = (
                f"no InferencePool {where} in group {ref_.group}; that pool is {other.api_version}"
            )
            yield ctx.finding(ptr + "/group", message, severity=ERROR)
        elif present is None:
            message = f"backendRef InferencePool {where} ({ref_.group}) does not resolve"
            yield ctx.unresolved(ptr + "/name", message)
    else:  # other kinds (ServiceImport, Backend, ...) still need a grant across namespaces
        present = inv.get(ref_.group, ref_.kind, ref_.namespace, ref_.name)
    if ref_.namespace != res.namespace and not _refs.grant_allows(
        inv, res, ref_.namespace, ref_.group, ref_.kind, ref_.name
    ):
        yield _missing_grant(ctx, res, ref_, present, granted)


def _missing_grant(
    ctx: RuleContext, res: Resource, ref_: _Backend, present: Resource | None, granted: set[str]
) -> Finding:
    """(3) error when the referent is in the run; with the referent absent too, unresolved."""
    message = (
        f"backendRef {ref_.kind} {ref_.namespace}/{ref_.name} is not accessible to {res.kind} in "
        f"namespace {res.namespace}: no ReferenceGrant in {ref_.namespace} allows it"
    )
    fix = None
    if ref_.namespace not in granted:
        granted.add(ref_.namespace)
        fix = _grant_fix(ctx, res, ref_.namespace)
    if present is None:
        return replace(ctx.unresolved(ref_.pointer + "/namespace", message), fix=fix)
    return ctx.finding(ref_.pointer + "/namespace", message, severity=ERROR, fix=fix)


def _grant_fix(ctx: RuleContext, res: Resource, namespace: str) -> Fix:
    """One ReferenceGrant per (route, target namespace) naming every backend the route has there:
    ``v1`` from Gateway API v1.5.0, else ``v1beta1`` (``gwapi apis/v1/referencegrant_types.go``)."""
    targets: list[dict[str, str]] = []
    for _, rule in items(res.spec.get("rules")):
        for _, raw in items(rule.get("backendRefs")):
            name = text(raw.get("name"))
            if raw.get("namespace") == namespace and name is not None:
                entry = {
                    "group": group_of(raw.get("group")),
                    "kind": str(raw.get("kind", "Service")),
                }
                if (entry := {**entry, "name": name}) not in targets:
                    targets.append(entry)
    taken = {g.name for g in ctx.inventory.in_namespace(namespace, GATEWAY_API, "ReferenceGrant")}
    base = f"{res.kind.lower()}-{res.namespace}-{res.name}"[:240]
    name = next(n for k in range(1, 1000) if (n := base if k == 1 else f"{base}-{k}") not in taken)
    version = "v1" if gateway_api_version(ctx.params) >= (1, 5, 0) else "v1beta1"
    source = {"group": GATEWAY_API, "kind": res.kind, "namespace": res.namespace}
    document = {
        "apiVersion": f"{GATEWAY_API}/{version}",
        "kind": "ReferenceGrant",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"from": [source], "to": targets},
    }
    title = f"add ReferenceGrant {namespace}/{name} for the backends of {res.kind} {ref(res)}"
    return Fix.add_document(document, title, safety=UNSAFE)
