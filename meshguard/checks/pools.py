"""MG606–MG607: InferencePools that select nothing, point at the wrong ports or an endpoint
picker that cannot work, and pool references that do not resolve (RULES.md §2 MG6xx).

Manifests-only runs do not see the cluster: a referent that is *absent* (no object of that kind
and name in the run, `--context` included) is reported with `ctx.unresolved`; one that is present
but does not match is a finding at the rule's severity (RULES.md MG6xx preamble). Pools and pool
references read both GIE generations through `meshguard.inference_api`; a pool selects the
inventory's pod templates (LeaderWorkerSet templates included); whether the endpoint picker may
scrape the model servers follows the ALLOW policies of `_authz_shapes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from meshguard.body import integer, items, mapping
from meshguard.checks import _refs
from meshguard.checks._authz_shapes import (
    allow_policies_for,
    ap_path_matcher,
    rule_is_empty,
    rule_operations_admit,
    rule_sources_admit,
    rules_of,
)
from meshguard.inference_api import POOL_GROUPS, POOL_KIND, PoolView, find_pool, pool_ref, pool_view
from meshguard.inventory import Inventory, Workload, selector_matches
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity
from meshguard.registry import RuleContext, check
from meshguard.semantics.retryon import istio_version

# -- MG606 ----------------------------------------------------------------------------------------


def _container_ports(workload: Workload) -> set[int]:
    out: set[int] = set()
    for key in ("initContainers", "containers"):
        for _, container in items(workload.pod_spec.get(key)):
            for _, port in items(container.get("ports")):
                number = integer(port.get("containerPort"))
                if number is not None:
                    out.add(number)
    return out


@check("MG606")
def inference_pool_selects_nothing(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """A pool "matches Pods by their labels only within the same namespace" and its EPP port is
    "the service port number, not the target port"; "Implementations MUST NOT support
    ExternalName Services" (gie api/v1/inferencepool_types.go)."""
    view = pool_view(res)
    if view is None:
        return
    matched: list[Workload] = []
    if view.match_labels is not None:
        everything = ctx.inventory.workloads(res.namespace)
        matched = [w for w in everything if selector_matches(view.match_labels, w.labels)]
        yield from _selector_findings(ctx, view, everything, matched)
        yield from _target_port_findings(ctx, view, matched)
    yield from _endpoint_picker_findings(ctx, view)
    if matched:
        yield from _metrics_scrape_findings(ctx, view, matched)


def _selector_findings(
    ctx: RuleContext, view: PoolView, everything: list[Workload], matched: list[Workload]
) -> Iterator[Finding]:
    if matched:
        return
    labels = ", ".join(f"{k}={v}" for k, v in (view.match_labels or {}).items())
    if everything:
        yield ctx.finding(
            view.selector_pointer,
            f"selector {{{labels}}} matches none of the {len(everything)} pod template(s) in "
            f"namespace {view.namespace}",
            severity=Severity.ERROR,
        )
        return
    yield ctx.unresolved(
        view.selector_pointer,
        f"selector {{{labels}}}: no pod template in namespace {view.namespace}",
    )


def _target_port_findings(
    ctx: RuleContext, view: PoolView, matched: list[Workload]
) -> Iterator[Finding]:
    declared = set().union(*(_container_ports(w) for w in matched)) if matched else set()
    if not declared:
        return  # containerPort declarations are optional: nothing to compare with
    for number, ptr in _target_port_pointers(view):
        if number not in declared:
            yield ctx.finding(
                ptr,
                f"target port {number} is not a containerPort of the selected pods "
                f"(declared: {', '.join(map(str, sorted(declared)))})",
                severity=Severity.WARNING,
            )


def _target_port_pointers(view: PoolView) -> Iterator[tuple[int, JsonPointer]]:
    ptr = view.target_ports_pointer
    if ptr.endswith("/targetPortNumber"):
        for number in view.target_ports:
            yield number, ptr
        return
    for i, item in items(view.resource.spec.get("targetPorts")):
        value = integer(item.get("number"))
        if value is not None and value in view.target_ports:
            yield value, f"{ptr}/{i}/number"


def _endpoint_picker_findings(ctx: RuleContext, view: PoolView) -> Iterator[Finding]:
    picker = view.endpoint_picker
    if picker is None or not picker.is_service or picker.name is None:
        return
    name_ptr = picker.pointer + "/name"
    svc = ctx.inventory.get("", "Service", view.namespace, picker.name)
    if svc is None:
        yield ctx.unresolved(
            name_ptr, f"endpoint picker Service {view.namespace}/{picker.name} does not exist"
        )
        return
    if svc.spec.get("type") == "ExternalName":
        yield ctx.finding(
            name_ptr,
            f"endpoint picker Service {view.namespace}/{picker.name} is of type ExternalName, "
            "which InferencePool implementations must not support",
            severity=Severity.ERROR,
        )
        return
    port = picker.port
    port_ptr = picker.port_pointer + ("/number" if picker.field == "endpointPickerRef" else "")
    if port is None and picker.field == "extensionRef" and not picker.port_written:
        port, port_ptr = picker.effective_port(), picker.pointer
    if port is None:
        return  # absent (MG507) or not a port number (MG506/CRD)
    entries = [e for _, e in items(svc.spec.get("ports"))]
    numbers = [n for e in entries if (n := integer(e.get("port"))) is not None]
    if port in numbers:
        return
    targets = {str(e.get("targetPort")) for e in entries}
    hint = " (it is a targetPort; the ref takes the service port)" if str(port) in targets else ""
    implied = "" if picker.port_written else " (implied default)"
    yield ctx.finding(
        port_ptr,
        f"endpoint picker port {port}{implied} is not a port of Service "
        f"{view.namespace}/{picker.name} (ports: {', '.join(map(str, numbers)) or 'none'}){hint}",
        severity=Severity.ERROR,
    )


def _metrics_scrape_findings(
    ctx: RuleContext, view: PoolView, matched: list[Workload]
) -> Iterator[Finding]:
    """(4) Under deny-by-default the EPP must be allowed to GET the model servers' metrics."""
    picker = view.endpoint_picker
    if picker is None or picker.name is None or not view.target_ports:
        return
    inv = ctx.inventory
    svc = inv.get("", "Service", view.namespace, picker.name) if picker.is_service else None
    selector = mapping(svc.spec.get("selector")) if svc is not None else {}
    epp_pods = [
        w
        for w in inv.workloads(view.namespace)
        if selector and selector_matches(selector, w.labels)
    ]
    accounts: list[str | None] = [*sorted({_service_account(w) for w in epp_pods})] or [None]
    path = str(ctx.params.get("epp_metrics_path"))
    path_ok = ap_path_matcher(path, istio_version(ctx.params))
    blocked: list[str] = []
    unknown = False
    for workload in matched:
        pods = _refs.Pods(workload.namespace, workload.labels, workload.annotations, workload)
        policies = allow_policies_for(inv, pods.namespace, pods.labels)
        if not policies:
            continue  # no ALLOW policy reaches these pods: every request is allowed
        for port in view.target_ports:
            verdicts = [
                _scrape_admitted(ctx, policies, sa, view.namespace, port, path_ok)
                for sa in accounts
            ]
            if False in verdicts:
                blocked.append(f"{workload.ref} port {port}")
            elif None in verdicts:
                unknown = True
    sa_text = ", ".join(f"{view.namespace}/{sa}" for sa in accounts if sa) or "unknown"
    if blocked:
        yield ctx.finding(
            picker.pointer,
            f"no allow policy admits GET {path} from the endpoint picker (service account "
            f"{sa_text}) to {_refs.shown(blocked)}, which deny by default",
            severity=Severity.WARNING,
        )
    elif unknown and svc is not None:
        yield ctx.unresolved(
            picker.pointer,
            f"pods of endpoint picker Service {view.namespace}/{picker.name} are not in the input: "
            f"cannot tell whether their service account may GET {path} on the pool's pods",
        )


def _service_account(workload: Workload) -> str:
    spec = workload.pod_spec
    name = _refs.text(spec.get("serviceAccountName")) or _refs.text(spec.get("serviceAccount"))
    return name or "default"


def _scrape_admitted(
    ctx: RuleContext,
    policies: list[Resource],
    account: str | None,
    namespace: str,
    port: int,
    path_ok: Callable[[str], bool],
) -> bool | None:
    """True: some ALLOW rule matches the scrape; None: only with an unknown service account."""
    trust_domain = str(ctx.params.get("mesh.trust_domain"))
    verdict: bool | None = False
    for ap in policies:
        for _, rule, rule_ptr in rules_of(ap):
            if rule_is_empty(rule):
                return True
            if not rule_operations_admit(rule, "GET", port, path_ok):
                continue
            source = rule_sources_admit(rule, rule_ptr, account, namespace, trust_domain)
            if source is True:
                return True
            if source is None:
                verdict = None
    return verdict


# -- MG607 ----------------------------------------------------------------------------------------


def _pools_by_name(inv: Inventory) -> dict[str, list[Resource]]:
    def build() -> dict[str, list[Resource]]:
        index: dict[str, list[Resource]] = {}
        for group in POOL_GROUPS:
            for pool in inv.of_kind(group, POOL_KIND):
                index.setdefault(pool.name, []).append(pool)
        return index

    return inv.memo("consistency:pools-by-name", build)


@check("MG607")
def pool_ref_unresolved(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """ "The pool must exist in the same namespace", in the group `poolRef.group` names after the
    CRD default (gie v1.5.0 apix/v1alpha2/inferenceobjective_types.go, shared_types.go)."""
    ref = pool_ref(res)
    if ref is None or ref.name is None or ref.kind != POOL_KIND or ref.group not in POOL_GROUPS:
        return  # a group without InferencePool is MG508(2)'s error
    inv = ctx.inventory
    if find_pool(inv, res.namespace, ref.name, ref.group) is not None:
        return
    group_ptr = ref.pointer + "/group"
    shown = "" if ref.group_written else " (default)"
    other = next(g for g in POOL_GROUPS if g != ref.group)
    if find_pool(inv, res.namespace, ref.name, other) is not None:
        op = "replace" if ref.group_written else "add"
        yield ctx.finding(
            group_ptr if ref.group_written else ref.pointer,
            f"poolRef names InferencePool {ref.name} in group {ref.group}{shown}, but namespace "
            f"{res.namespace} has it only in group {other}",
            severity=Severity.ERROR,
            fix=Fix(
                f"set poolRef.group to {other}",
                ({"op": op, "path": group_ptr, "value": other},),
                safety=Safety.UNSAFE,
            ),
        )
        return
    elsewhere = sorted(
        p.namespace for p in _pools_by_name(inv).get(ref.name, []) if p.namespace != res.namespace
    )
    name_ptr = ref.pointer + "/name"
    if elsewhere:
        yield ctx.finding(
            name_ptr,
            f"poolRef names InferencePool {ref.name}, which exists only in namespace(s) "
            f"{_refs.shown(elsewhere)}, not in {res.namespace}",
            severity=Severity.ERROR,
        )
        return
    yield ctx.unresolved(
        name_ptr,
        f"poolRef names InferencePool {res.namespace}/{ref.name} in group {ref.group}{shown}, "
        "which does not exist",
    )
