"""MG101–MG104: mTLS mode (PeerAuthentication) and default deny (AuthorizationPolicy).

Every effective mode comes from ``meshguard.semantics.mtls`` (RULES.md P6, a port of
``istio pilot/pkg/security/authn/policy_applier.go: ComposePeerAuthentication``); nothing here
re-derives which PeerAuthentication wins.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.body import mapping
from meshguard.checks._authz_shapes import rule_is_empty
from meshguard.inventory import Inventory, Workload, containers, selector_matches
from meshguard.model import Finding, Fix, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics import mtls
from meshguard.semantics.retryon import istio_version

NAME_PTR = "/metadata/name"
AUTHORIZATION_POLICY = "AuthorizationPolicy"


def _same(a: Resource | None, b: Resource | None) -> bool:
    """Same object (namespace/name): the inventory may hold an input and a cluster copy."""
    return a is not None and b is not None and (a.namespace, a.name) == (b.namespace, b.name)


def _ref(res: Resource) -> str:
    return f"{res.namespace}/{res.name}"


def _security_api_version(ctx: RuleContext) -> str:
    """``security.istio.io/v1`` is served from Istio 1.22 (istio.io blog "Istio v1 APIs")."""
    v1 = istio_version(ctx.params) >= (1, 22)
    return "security.istio.io/v1" if v1 else "security.istio.io/v1beta1"


def _free_name(taken: set[str], *names: str) -> str | None:
    return next((n for n in names if n not in taken), None)


def _peer_authentications(inv: Inventory, namespace: str) -> list[Resource]:
    return inv.in_namespace(namespace, mtls.SECURITY_GROUP, mtls.PEER_AUTHENTICATION)


# -- MG101 -------------------------------------------------------------------------------------


@check("MG101")
def ml_namespace_mtls_not_strict(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio proxies are PERMISSIVE unless a policy says otherwise (istio.io security best
    practices); the namespace mode is P6 steps 1–2 over the selector-less policies."""
    inv = ctx.inventory
    namespace = res.name
    if res.group != "" or not namespace or not inv.is_ml_namespace(namespace):
        return
    effective = mtls.namespace_mtls(inv, namespace)
    source = effective.decided_by
    if effective.mode != mtls.STRICT:
        if source is None:
            message = (
                f"effective mTLS mode of ML namespace {namespace} is {effective.mode}: "
                "no namespace-wide or mesh-wide PeerAuthentication sets a mode"
            )
        else:
            scope = "mesh-wide" if _same(source, effective.mesh) else "namespace-wide"
            message = (
                f"effective mTLS mode of ML namespace {namespace} is {effective.mode}, "
                f"set by {scope} PeerAuthentication {_ref(source)}"
            )
        fix = namespace_strict_fix(ctx, namespace, safety=Safety.UNSAFE)
        yield ctx.finding(NAME_PTR, message, severity=Severity.ERROR, fix=fix)
    elif (
        _same(source, effective.mesh)
        and source is not None
        and ctx.params.get("require_namespace_pa")
    ):
        message = (
            f"STRICT relies on the mesh-wide policy only: ML namespace {namespace} takes its mode "
            f"from PeerAuthentication {_ref(source)}"
        )
        # The namespace is STRICT already, so an explicit namespace policy changes no traffic.
        fix = namespace_strict_fix(ctx, namespace, safety=Safety.SAFE)
        yield ctx.finding(NAME_PTR, message, severity=Severity.INFO, fix=fix)


def namespace_strict_fix(ctx: RuleContext, namespace: str, *, safety: Safety) -> Fix | None:
    """A namespace-wide STRICT policy, unless one selector-less policy exists already.

    A second selector-less policy would be ignored when younger (policy_applier.go: oldest
    wins), so an existing one is repaired instead (MG102 sets its mode, MG103 its shape).
    """
    existing = _peer_authentications(ctx.inventory, namespace)
    if any(not mtls.has_selector(pa) for pa in existing):
        return None
    name = _free_name({pa.name for pa in existing}, "default", "namespace-strict")
    if name is None:
        return None
    document = {
        "apiVersion": _security_api_version(ctx),
        "kind": mtls.PEER_AUTHENTICATION,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"mtls": {"mode": mtls.STRICT}},
    }
    title = f"add PeerAuthentication {namespace}/{name} with mtls mode STRICT"
    if safety is Safety.UNSAFE:
        title += " (callers without a mesh identity are then rejected)"
    return Fix.add_document(document, title, safety=safety)


# -- MG102 -------------------------------------------------------------------------------------


def _exceptions(ctx: RuleContext) -> tuple[set[str], set[str]]:
    """``mtls_exceptions``: whole policies (``ns/name``) and single ports (``ns/name:port``)."""
    whole: set[str] = set()
    ports: set[str] = set()
    raw = ctx.params.get("mtls_exceptions")
    for entry in raw if isinstance(raw, list) else ():
        if not isinstance(entry, str):
            continue
        (ports if ":" in entry else whole).add(entry.strip())
    return whole, ports


@check("MG102")
def peer_authentication_weakens_mtls(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """PERMISSIVE accepts plaintext and DISABLE requires it; portLevelMtls overrides the
    workload mode per port (peer_authentication.proto, policy_applier.go)."""
    inv = ctx.inventory
    root = inv.root_namespace
    whole, ports = _exceptions(ctx)
    if _ref(res) in whole:
        return
    if res.namespace == root:
        yield from _mesh_policy_weakens(res, ctx)
        return
    if not inv.is_ml_namespace(res.namespace):
        return
    mode = mtls.mode_of(res)
    if mode in mtls.WEAK_MODES:
        scope = "workload" if mtls.has_selector(res) else "namespace-wide"
        yield _weak_mode_finding(
            ctx,
            pointer("spec", "mtls", "mode"),
            mode,
            f"{scope} mtls mode {mode} in ML namespace {res.namespace}",
        )
    if not mtls.has_selector(res):
        return  # portLevelMtls without a selector is rejected and ignored: MG103(1)
    entries = mapping(res.spec.get("portLevelMtls"))
    for key, entry in entries.items():
        port_mode = mapping(entry).get("mode")
        if not isinstance(port_mode, str) or port_mode not in mtls.WEAK_MODES:
            continue
        if f"{_ref(res)}:{key}" in ports:
            continue
        yield _weak_mode_finding(
            ctx,
            pointer("spec", "portLevelMtls", key, "mode"),
            str(port_mode),
            f"portLevelMtls sets mode {port_mode} on workload port {key} "
            f"in ML namespace {res.namespace}",
        )


def _weak_mode_finding(ctx: RuleContext, ptr: str, mode: str, message: str) -> Finding:
    severity = Severity.ERROR if mode == mtls.DISABLE else Severity.WARNING
    fix = Fix.replace(ptr, mtls.STRICT, "set mode to STRICT", safety=Safety.UNSAFE)
    return ctx.finding(ptr, message, severity=severity, fix=fix)


def _mesh_policy_weakens(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """A root policy matters only where it decides an ML namespace's P6 mode (RULES.md 1.9)."""
    mode = mtls.mode_of(res)
    if mtls.has_selector(res) or mode not in mtls.WEAK_MODES:
        return  # selector policies in the root namespace are MG103(2)
    inv = ctx.inventory
    decided = []
    for ns in sorted({n.name for n in inv.of_kind("", "Namespace") if inv.is_ml_namespace(n.name)}):
        if ns == inv.root_namespace:
            continue
        effective = mtls.namespace_mtls(inv, ns)
        if _same(effective.mesh, res) and _same(effective.decided_by, res):
            decided.append(ns)
    if not decided:
        return
    severity = Severity.ERROR if mode == mtls.DISABLE else Severity.WARNING
    # No auto-fix: mesh-wide STRICT also reaches admission webhooks in every namespace
    # (RULES.md §3.1 makes it opt-in); MG101's namespace policy is the repair.
    yield ctx.finding(
        pointer("spec", "mtls", "mode"),
        f"mesh-wide mtls mode {mode} decides ML namespace(s) {', '.join(decided)}",
        severity=severity,
    )


# -- MG103 -------------------------------------------------------------------------------------


@check("MG103")
def peer_authentication_pitfalls(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Shapes that istiod rejects or silently ignores (peer_authentication.proto, CRD CEL,
    validation.go: ValidatePeerAuthentication, policy_applier.go: oldest wins)."""
    root = ctx.inventory.root_namespace
    ports = res.spec.get("portLevelMtls")
    if ports is not None and not mtls.has_selector(res):
        yield ctx.finding(
            pointer("spec", "portLevelMtls"),
            "portLevelMtls without a workload selector: rejected (portLevelMtls requires selector) "
            "and never applied to namespace-wide or mesh-wide policies",
            severity=Severity.ERROR,
        )
    if res.namespace == root and mtls.has_selector(res):
        yield ctx.finding(
            pointer("spec", "selector"),
            f"selector on a PeerAuthentication in root namespace {root}: istiod ignores the policy",
            severity=Severity.WARNING,
        )
        return
    if mtls.peer_authentication_error(res) is not None:
        return
    shadow = _shadowed_by(res, ctx.inventory)
    if shadow is not None:
        yield ctx.finding(NAME_PTR, shadow, severity=Severity.WARNING)
    if mtls.has_selector(res):
        yield from _service_port_keys(res, ctx)


def _valid_pas(inv: Inventory, namespace: str) -> list[Resource]:
    return [
        pa
        for pa in _peer_authentications(inv, namespace)
        if mtls.peer_authentication_error(pa) is None
    ]


def _why_first(winner: Resource, loser: Resource) -> str:
    won, lost = mtls.creation_timestamp(winner), mtls.creation_timestamp(loser)
    if won is not None and (
        lost is None or won.replace(microsecond=0) < lost.replace(microsecond=0)
    ):
        return "older"
    return "same creation time, earlier name"


def _shadowed_by(res: Resource, inv: Inventory) -> str | None:
    """MG103(3): a message when an older policy of the same scope makes this one ignored."""
    pas = _valid_pas(inv, res.namespace)
    if not mtls.has_selector(res):
        winner = mtls.oldest(pa for pa in pas if not mtls.has_selector(pa))
        if winner is None or _same(winner, res):
            return None
        scope = "mesh-wide" if res.namespace == inv.root_namespace else "namespace-wide"
        return (
            f"ignored: {scope} PeerAuthentication {_ref(winner)} applies instead "
            f"({_why_first(winner, res)})"
        )
    labels = mtls.match_labels(res)
    workload_pas = [pa for pa in pas if mtls.has_selector(pa)]
    selected = inv.workloads_selected(res.namespace, labels)
    for workload in selected:
        rivals = [
            pa for pa in workload_pas if selector_matches(mtls.match_labels(pa), workload.labels)
        ]
        winner = mtls.oldest(rivals)
        if winner is not None and not _same(winner, res):
            return (
                f"ignored for {workload.ref}: PeerAuthentication {_ref(winner)} selects it too "
                f"and applies ({_why_first(winner, res)})"
            )
    if selected:
        return None
    # No pod template in the run: a policy whose labels are a subset of ours selects our pods too.
    rivals = [pa for pa in workload_pas if selector_matches(mtls.match_labels(pa), labels)]
    winner = mtls.oldest(rivals)
    if winner is not None and not _same(winner, res):
        return (
            f"ignored: PeerAuthentication {_ref(winner)} selects the same pods and applies "
            f"({_why_first(winner, res)})"
        )
    return None


def _service_port_keys(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """MG103(4): portLevelMtls keys are workload ports ("refers to the port of the workload, not
    the port of the Kubernetes service", peer_authentication.proto)."""
    inv = ctx.inventory
    labels = mtls.match_labels(res)
    workloads = inv.workloads_selected(res.namespace, labels)
    services = _services_for(inv, res.namespace, labels, workloads)
    if not services:
        return
    named = _named_container_ports(workloads)
    workload_ports = set(named.values()) | _numbered_container_ports(workloads)
    targets_by_port: dict[int, set[int]] = {}
    svc_by_port: dict[int, Resource] = {}
    for svc in services:
        for port, target in _service_ports(svc, named):
            if target is None:
                return  # a named targetPort we cannot resolve: the workload ports are unknown
            workload_ports.add(target)
            targets_by_port.setdefault(port, set()).add(target)
            svc_by_port.setdefault(port, svc)
    entries = mapping(res.spec.get("portLevelMtls"))
    for key, entry in entries.items():
        key_port = mtls.port_key(key)
        if key_port is None or key_port in workload_ports or key_port not in targets_by_port:
            continue
        targets = targets_by_port[key_port]
        ptr = pointer("spec", "portLevelMtls", key)
        shown = ", ".join(str(t) for t in sorted(targets))
        yield ctx.finding(
            ptr,
            f"portLevelMtls key {key_port} is a port of Service {_ref(svc_by_port[key_port])} "
            f"(targetPort {shown}), not a workload port: it never applies",
            severity=Severity.WARNING,
            fix=_port_key_fix(entries, ptr, entry, targets),
        )


def _port_key_fix(
    entries: Mapping[str, Any], ptr: str, entry: Any, targets: set[int]
) -> Fix | None:
    """Move the entry to the Service's targetPort when that is unique and not a key already."""
    if len(targets) != 1:
        return None
    (target,) = targets
    if any(mtls.port_key(k) == target for k in entries):
        return None
    new = {
        "op": "add",
        "path": pointer("spec", "portLevelMtls", str(target)),
        "value": copy.deepcopy(entry),
    }
    return Fix(
        f"use the workload port {target} as the key",
        (new, {"op": "remove", "path": ptr}),
        safety=Safety.UNSAFE,
    )


def _services_for(
    inv: Inventory, namespace: str, labels: Mapping[str, Any], workloads: list[Workload]
) -> list[Resource]:
    """Services selecting the policy's pods; without pods, Services whose selector is implied."""
    found: dict[str, Resource] = {}
    for workload in workloads:
        for svc in inv.services_selecting(workload):
            found.setdefault(svc.name, svc)
    if workloads:
        return list(found.values())
    for svc in inv.in_namespace(namespace, "", "Service"):
        selector = svc.spec.get("selector")
        if isinstance(selector, dict) and selector and selector_matches(selector, labels):
            found.setdefault(svc.name, svc)
    return list(found.values())


def _container_ports(workloads: list[Workload]) -> Iterator[Mapping[str, Any]]:
    for workload in workloads:
        for container in containers(workload.pod_spec):
            ports = container.get("ports")
            for port in ports if isinstance(ports, list) else ():
                if isinstance(port, dict) and mtls.port_key(port.get("containerPort")) is not None:
                    yield port


def _named_container_ports(workloads: list[Workload]) -> dict[str, int]:
    out: dict[str, int] = {}
    for port in _container_ports(workloads):
        name = port.get("name")
        number = mtls.port_key(port.get("containerPort"))
        if isinstance(name, str) and number is not None:
            out.setdefault(name, number)
    return out


def _numbered_container_ports(workloads: list[Workload]) -> set[int]:
    return {n for p in _container_ports(workloads) if (n := mtls.port_key(p.get("containerPort")))}


def _service_ports(svc: Resource, named: Mapping[str, int]) -> Iterator[tuple[int, int | None]]:
    """(port, targetPort) pairs; targetPort None when it names a port no selected pod declares."""
    ports = svc.spec.get("ports")
    for entry in ports if isinstance(ports, list) else ():
        if not isinstance(entry, dict):
            continue
        port = mtls.port_key(entry.get("port"))
        if port is None:
            continue
        target = entry.get("targetPort")
        if target is None:
            yield port, port
        elif mtls.port_key(target) is not None:
            yield port, mtls.port_key(target)
        else:
            yield port, named.get(target) if isinstance(target, str) else None


# -- MG104 -------------------------------------------------------------------------------------


def is_default_deny(ap: Resource) -> bool:
    """An ALLOW policy for a whole namespace that cannot match everything.

    authorization_policy.proto: with any ALLOW policy on a workload, requests no ALLOW policy
    matches are denied; a policy without rules matches nothing (``allow-nothing``).
    """
    spec = ap.body.get("spec")
    if spec is not None and not isinstance(spec, dict):
        return False
    spec = spec or {}
    if spec.get("action") not in (None, "ALLOW"):
        return False
    if spec.get("targetRef") or spec.get("targetRefs"):
        return False
    selector = spec.get("selector")
    if selector is not None:
        if not isinstance(selector, dict):
            return False
        labels = selector.get("matchLabels")
        if labels is not None and (not isinstance(labels, dict) or labels):
            return False
    rules = spec.get("rules")
    if rules is None:
        return True
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        return False
    return not any(rule_is_empty(r) for r in rules)


@check("MG104")
def ml_namespace_without_default_deny(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio allows a request when "there are no ALLOW policies for the workload"
    (authorization_policy.proto); a namespace-wide ALLOW policy turns that into deny-by-default."""
    inv = ctx.inventory
    namespace = res.name
    if res.group != "" or not namespace or not inv.is_ml_namespace(namespace):
        return
    sec = mtls.SECURITY_GROUP
    if any(is_default_deny(ap) for ap in inv.in_namespace(namespace, sec, AUTHORIZATION_POLICY)):
        return
    root = inv.root_namespace
    mesh_deny = [
        ap for ap in inv.in_namespace(root, sec, AUTHORIZATION_POLICY) if is_default_deny(ap)
    ]
    if mesh_deny:
        yield ctx.finding(
            NAME_PTR,
            f"default deny for ML namespace {namespace} comes only from root-namespace "
            f"AuthorizationPolicy {_ref(mesh_deny[0])}",
            severity=Severity.INFO,
            # Every workload already has an ALLOW policy, so allow-nothing changes no decision.
            fix=_allow_nothing_fix(ctx, namespace, safety=Safety.SAFE),
        )
        return
    yield ctx.finding(
        NAME_PTR,
        f"no default-deny AuthorizationPolicy for ML namespace {namespace} in it or in root "
        f"namespace {root}: a workload no ALLOW policy selects accepts every request",
        severity=Severity.WARNING,
        fix=_allow_nothing_fix(ctx, namespace, safety=Safety.UNSAFE),
    )


def _allow_nothing_fix(ctx: RuleContext, namespace: str, *, safety: Safety) -> Fix | None:
    existing = ctx.inventory.in_namespace(namespace, mtls.SECURITY_GROUP, AUTHORIZATION_POLICY)
    name = _free_name({ap.name for ap in existing}, "allow-nothing", "default-deny")
    if name is None:
        return None
    document = {
        "apiVersion": _security_api_version(ctx),
        "kind": AUTHORIZATION_POLICY,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {},
    }
    title = f"add AuthorizationPolicy {namespace}/{name} with an empty spec (allow nothing)"
    if safety is Safety.UNSAFE:
        title += "; every legitimate caller then needs an explicit ALLOW policy"
    return Fix.add_document(document, title, safety=safety)
