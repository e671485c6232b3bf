"""MG603: AuthorizationPolicy rules that rely on an mTLS identity where mTLS is not enforced.

`source.principals`, `namespaces`, `serviceAccounts` (and the matching `when` keys) "require mTLS
enabled" (`istio-api security/v1beta1/authorization_policy.proto`): a plaintext request carries no
identity, so it never matches them. Which pods a policy reaches, and their effective mTLS mode
(P6, `semantics.mtls`), come from the per-run indexes of `_refs`; pods without a sidecar enforce
no AuthorizationPolicy at all (`semantics.injection`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from meshguard.body import items, mapping
from meshguard.checks._authz_shapes import (
    ALLOW,
    DENY,
    action_of,
    decoded_list,
    has_values,
    match_labels_of,
    operations_of,
    port_values,
    rules_of,
    sources_of,
    string_values,
    target_service_refs,
)
from meshguard.checks._refs import (
    Pods,
    all_workloads,
    decided_by,
    effective_mtls,
    pods_of,
    workload_ports,
)
from meshguard.checks.mtls import namespace_strict_fix
from meshguard.inventory import Inventory, selector_matches
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity
from meshguard.registry import RuleContext, check
from meshguard.semantics import mtls

ERROR, WARNING = Severity.ERROR, Severity.WARNING
UNSAFE = Safety.UNSAFE

# authorization_policy.proto: Source fields and condition keys that "require mTLS enabled".
_POSITIVE = ("principals", "namespaces", "serviceAccounts")
_NEGATIVE = ("notPrincipals", "notNamespaces", "notServiceAccounts")
_WHEN_KEYS = frozenset({"source.principal", "source.namespace", "source.serviceAccount"})
_PLAINTEXT_DENY_RULE = {"from": [{"source": {"notNamespaces": ["*"]}}]}


class _MtlsUse(NamedTuple):
    """One mTLS-only match of a rule, and whether plaintext can still match its source/rule."""

    rule: int
    pointer: JsonPointer
    field: str
    values: tuple[str, ...]
    positive: bool
    guarded: bool  # the same source (every source, for `when`) also needs an identity
    ports: tuple[int, ...]  # covered ports; () means every port


_Weak = tuple[Pods, int | None, mtls.EffectiveMtls]  # pods, port, their effective mTLS
_CONSEQUENCE = {
    (True, ERROR): "plaintext requests bypass the deny",
    (False, ERROR): "plaintext requests match it and are allowed",
    (True, WARNING): "plaintext callers are denied, not identified",
}


@check("MG603")
def authz_relies_on_mtls_identity(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """mTLS-only fields "will never match when the traffic is plain text" (ISTIO-SECURITY-2021-004):
    where the effective mode (P6) is not STRICT a DENY on them is bypassed, an ALLOW on a negative
    one lets plaintext in, and an ALLOW on a positive one turns plaintext callers away."""
    action = action_of(res.spec)
    if action not in (ALLOW, DENY) or (action == DENY and _denies_plaintext(res)):
        return
    uses = [(u, s) for u in _mtls_uses(res) if (s := _use_severity(action, u))]
    if not uses:
        return
    pods_list, missing = _policy_pods(ctx.inventory, res)
    for ptr, name in missing:
        yield ctx.unresolved(ptr, f"targetRef Service {res.namespace}/{name} does not resolve")
    fixed: set[object] = set()
    for use, severity in uses:
        weak = _first_weak(ctx.inventory, pods_list, use.ports)
        if weak is None:
            continue
        pods, port, effective = weak
        mode = effective.port_mode(port) if port is not None else effective.mode
        on = f"port {port}" if port is not None else "its ports"
        message = (
            f"{action} rule {use.rule} matches {use.field} [{', '.join(use.values)}], which needs "
            f"mTLS, but mTLS of {pods.ref} on {on} is {mode} ({decided_by(effective, port)})"
        )
        fix = _mtls_fix(ctx, res, use, severity, weak, fixed)
        message += f": {_CONSEQUENCE[use.positive, severity]}"
        yield ctx.finding(use.pointer, message, severity=severity, fix=fix)


def _mtls_fix(
    ctx: RuleContext,
    res: Resource,
    use: _MtlsUse,
    severity: Severity,
    weak: _Weak,
    fixed: set[object],
) -> Fix | None:
    """``mtls_fix``: a namespace-wide STRICT PeerAuthentication (MG101's fix) where the namespace
    or mesh default decides the mode (an existing namespace policy is MG102's to raise), once per
    namespace; or, with ``mtls_fix: policy``, the policy edit."""
    if ctx.params.get("mtls_fix") == "policy":
        return _policy_fix(res, use, severity, fixed)
    pods, port, effective = weak
    ns = pods.namespace
    from_mesh = effective.decided_by in (None, effective.mesh) and port not in effective.per_port
    if ns in fixed or not from_mesh or ns == ctx.inventory.root_namespace:
        return None
    fixed.add(ns)
    return namespace_strict_fix(ctx, ns, safety=UNSAFE)


def _policy_fix(res: Resource, use: _MtlsUse, severity: Severity, fixed: set[object]) -> Fix | None:
    """DENY: append one rule denying every plaintext request; ALLOW negative: add
    ``namespaces: ["*"]`` (requires an identity) to each source of the rule plaintext can match."""
    key = "deny" if use.positive else use.rule
    if severity is WARNING or key in fixed:
        return None
    fixed.add(key)
    if use.positive:
        op = {"op": "add", "path": "/spec/rules/-", "value": _PLAINTEXT_DENY_RULE}
        return Fix("append a DENY rule for every plaintext request", (op,), safety=UNSAFE)
    ops: list[Mapping[str, Any]] = []
    for i, rule, rule_ptr in rules_of(res):
        if i != use.rule:
            continue
        if decoded_list(rule.get("from")) is None:
            star = [{"source": {"namespaces": ["*"]}}]
            ops.append({"op": "add", "path": f"{rule_ptr}/from", "value": star})
        for src, src_ptr in sources_of(rule, rule_ptr):
            if not _requires_identity(src):
                verb = "replace" if "namespaces" in src else "add"
                ops.append({"op": verb, "path": f"{src_ptr}/namespaces", "value": ["*"]})
    title = 'require an mTLS identity: namespaces ["*"] in the rule\'s sources'
    return Fix(title, tuple(ops), safety=UNSAFE) if ops else None


# -- which rules need an identity, and where mTLS is not enforced ------------------------------


def _requires_identity(source: Mapping[str, Any]) -> bool:
    """A positive mTLS-only field never matches a plaintext request, so neither does the source."""
    return any(has_values(source, f) for f in _POSITIVE)


def _mtls_uses(res: Resource) -> Iterator[_MtlsUse]:
    for i, rule, rule_ptr in rules_of(res):
        sources = list(sources_of(rule, rule_ptr))
        ports = _covered_ports(rule, rule_ptr)
        every = bool(sources) and all(_requires_identity(s) for s, _ in sources)
        for src, src_ptr in sources:
            for field in (*_POSITIVE, *_NEGATIVE):
                if values := tuple(v for v, _ in string_values(src, field, src_ptr)):
                    ptr, positive = f"{src_ptr}/{field}", field in _POSITIVE
                    yield _MtlsUse(i, ptr, field, values, positive, _requires_identity(src), ports)
        for k, cond in items(rule.get("when")):
            for field, positive in (("values", True), ("notValues", False)):
                values = tuple(v for v, _ in string_values(cond, field, ""))
                if cond.get("key") in _WHEN_KEYS and values:
                    ptr, name = f"{rule_ptr}/when/{k}/{field}", f"{cond['key']} {field}"
                    yield _MtlsUse(i, ptr, name, values, positive, every, ports)


def _covered_ports(rule: Mapping[str, Any], rule_ptr: JsonPointer) -> tuple[int, ...]:
    """``to[].operation.ports`` when every operation lists ports; () means all ports."""
    ops = list(operations_of(rule, rule_ptr))
    if not ops or len(ops) != len(decoded_list(rule.get("to")) or []):
        return ()
    values = [port_values(op, "ports") for op, _ in ops]
    if not all(values):
        return ()
    return tuple(int(v) for vs in values for v in vs if v.isdigit())


def _use_severity(action: str, use: _MtlsUse) -> Severity | None:
    """DENY positive, or ALLOW negative plaintext can satisfy: error; ALLOW positive: warning,
    except values of only ``*`` (the explicit "require mTLS" idiom). None: no finding."""
    if action == "DENY":
        return Severity.ERROR if use.positive else None
    if not use.positive:
        return None if use.guarded else Severity.ERROR
    return None if set(use.values) == {"*"} else Severity.WARNING


def _denies_plaintext(res: Resource) -> bool:
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


def _policy_pods(inv: Inventory, res: Resource) -> tuple[list[Pods], list[tuple[JsonPointer, str]]]:
    """Pods an AuthorizationPolicy applies to (targetRef Services, selector, its namespace, or the
    mesh from the root namespace), and the targetRef Services absent from the run."""
    refs = target_service_refs(res)
    if refs is not None:
        pods: list[Pods] = []
        missing: list[tuple[JsonPointer, str]] = []
        for ptr, name in refs:
            svc = inv.get("", "Service", res.namespace, name)
            if svc is None:
                missing.append((ptr, name))
            elif selector := mapping(svc.spec.get("selector")):
                pods.extend(pods_of(inv, res.namespace, selector))
        return pods, missing
    labels = dict(match_labels_of(res.spec) or {})
    if res.namespace != inv.root_namespace or not all_workloads(inv):
        return pods_of(inv, res.namespace, labels), []
    mesh = [w for w in all_workloads(inv) if selector_matches(labels, w.labels)]
    return [Pods(w.namespace, w.labels, w.annotations, w) for w in mesh], []


def _first_weak(inv: Inventory, pods_list: list[Pods], ports: tuple[int, ...]) -> _Weak | None:
    """The first injected (pods, covered port) whose effective mode (P6) is not STRICT; pods
    without a sidecar enforce no AuthorizationPolicy at all and are skipped."""
    for pods in pods_list:
        if pods.injected(inv) is False:
            continue
        effective = effective_mtls(inv, pods)
        candidates: list[int | None] = [*(ports or workload_ports(inv, pods))]
        for port in candidates or [None, *sorted(effective.per_port)]:
            if (effective.port_mode(port) if port is not None else effective.mode) != mtls.STRICT:
                return pods, port, effective
    return None
