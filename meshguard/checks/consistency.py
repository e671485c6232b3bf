"""MG606–MG609: resources that each look fine but do not fit together (RULES.md §2 MG6xx).

Manifests-only runs do not see the cluster: a referent that is *absent* (no object of that kind
and name in the run, `--context` included) is reported with `ctx.unresolved`; one that is present
but does not match is a finding at the rule's severity (RULES.md MG6xx preamble).

* Pools and pool references read both GIE generations through `meshguard.inference_api`.
* Which ALLOW policies reach a pod follows `authorization_policy.proto`: a selector-less policy
  reaches its whole namespace (every namespace from the root namespace), a selector its matching
  pods, `targetRef(s)` the pods of the named Service; once any ALLOW policy reaches a pod, a
  request no ALLOW rule matches is denied. Fields of one operation (and of one source) are ANDed.
* DestinationRules come from the shared index of `_refs` (`dr_index`), pods behind a selector from
  `_refs.pods_of` (a virtual pod when the run has no pod template in that namespace).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from meshguard.checks import _refs
from meshguard.checks._authz_shapes import (
    _target_services,
    decoded_list,
    has_values,
    is_allow,
    match_labels_of,
    operations_of,
    port_values,
    rule_is_empty,
    rules_of,
    sources_of,
    string_values,
)
from meshguard.checks._pod_annotations import LWS_GROUP, pod_templates
from meshguard.checks.references import _vs_destinations
from meshguard.inference_api import POOL_GROUPS, POOL_KIND, PoolView, find_pool, pool_ref, pool_view
from meshguard.inventory import Inventory, Workload, selector_matches
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics.hosts import host_matches, is_wildcard, normalize_host
from meshguard.semantics.mtls import in_creation_order
from meshguard.semantics.paths import ap_path_matches, contains_path_template
from meshguard.semantics.protocols import SNIFFED, port_protocol
from meshguard.semantics.retryon import parse_istio_version

SECURITY = "security.istio.io"
AUTHORIZATION_POLICY = "AuthorizationPolicy"
# kserve grpc_predict_v2.proto: service inference.GRPCInferenceService (Open Inference Protocol)
GRPC_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
GRPC_ALLOW_PATH = "/inference.GRPCInferenceService/*"
# Undeclared (sniffed) Service ports whose target is a model server's default gRPC port:
# kserve python/kserve/kserve/model_server.py DEFAULT_GRPC_PORT; Triton --grpc-port default.
KNOWN_GRPC_TARGET_PORTS = frozenset({8081, 8001})
GRPC_PROTOCOLS = frozenset({"grpc", "grpc-web"})
TEMPLATES_SINCE = (1, 22)  # AuthorizationPolicy {*}/{**} path templates (istio 6f0f9139d77)


def _istio_version(ctx: RuleContext) -> tuple[int, int]:
    try:
        return parse_istio_version(str(ctx.params.get("istio_version")))
    except ValueError:
        return TEMPLATES_SINCE


def _shown(values: list[str], limit: int = 3) -> str:
    return "[" + ", ".join(values[:limit]) + (", …]" if len(values) > limit else "]")


# -- which ALLOW policies reach a pod ----------------------------------------------------------


def _allow_policies_for(inv: Inventory, pods: _refs.Pods) -> list[Resource]:
    """ALLOW policies reaching `pods`: its namespace's, plus the root namespace's (mesh-wide)."""
    out = []
    root = inv.root_namespace
    for namespace in dict.fromkeys((pods.namespace, root)):
        for ap in inv.in_namespace(namespace, SECURITY, AUTHORIZATION_POLICY):
            raw = ap.body.get("spec")
            if not isinstance(raw, (Mapping, type(None))) or not is_allow(ap.spec):
                continue
            services = _target_services(ap, inv)
            if services is not None:
                hits = namespace == pods.namespace and any(
                    bool(sel) and selector_matches(sel, pods.labels)
                    for sel in (_refs.mapping(s.spec.get("selector")) for s in services)
                )
            else:
                labels = match_labels_of(ap.spec)
                hits = labels is None or selector_matches(labels, pods.labels)
            if hits:
                out.append(ap)
    return out


def _ap_string_match(pattern: str, value: str) -> bool:
    """Istio's string matcher for principals/namespaces: `*`, `*suffix`, `prefix*` or exact."""
    if pattern == "*":
        return bool(value)
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return pattern == value


def _path_checker(ctx: RuleContext, path: str) -> Callable[[str], bool]:
    """AuthorizationPolicy `paths` semantics; before Istio 1.22 a template is a literal."""
    templates = _istio_version(ctx) >= TEMPLATES_SINCE

    def matches(pattern: str) -> bool:
        if not templates and contains_path_template(pattern):
            return pattern == path
        return ap_path_matches(pattern, path)

    return matches


def _operation_admits(
    op: Mapping[str, Any], method: str, port: int | None, path_ok: Callable[[str], bool]
) -> bool:
    """Every field of one operation matches (ANDed); `hosts` is not judged (Host header unknown)."""
    methods = [v for v, _ in string_values(op, "methods", "")]
    if has_values(op, "methods") and method not in methods:
        return False
    if method in [v for v, _ in string_values(op, "notMethods", "")]:
        return False
    if port is not None:
        ports = port_values(op, "ports")
        if (ports and str(port) not in ports) or str(port) in port_values(op, "notPorts"):
            return False
    paths = [v for v, _ in string_values(op, "paths", "")]
    if has_values(op, "paths") and not any(path_ok(p) for p in paths):
        return False
    return not any(path_ok(p) for p, _ in string_values(op, "notPaths", ""))


def _rule_operations_admit(
    rule: Mapping[str, Any], method: str, port: int | None, path_ok: Callable[[str], bool]
) -> bool:
    if decoded_list(rule.get("to")) is None:
        return True
    return any(_operation_admits(op, method, port, path_ok) for op, _ in operations_of(rule, ""))


# -- MG606 ----------------------------------------------------------------------------------------


def _pool_workloads(inv: Inventory, namespace: str) -> list[Workload]:
    """Pod templates of a namespace, LeaderWorkerSet templates included (multi-host vLLM)."""
    lws = [
        tpl.workload
        for res in inv.in_namespace(namespace, LWS_GROUP, "LeaderWorkerSet")
        for tpl in pod_templates(res, inv)
    ]
    return [*inv.workloads(namespace), *lws]


def _container_ports(workload: Workload) -> set[int]:
    out: set[int] = set()
    for key in ("initContainers", "containers"):
        for _, container in _refs.items(workload.pod_spec.get(key)):
            for _, port in _refs.items(container.get("ports")):
                number = _refs.integer(port.get("containerPort"))
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
        everything = _pool_workloads(ctx.inventory, res.namespace)
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
    for i, item in _refs.items(view.resource.spec.get("targetPorts")):
        value = _refs.integer(item.get("number"))
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
    entries = [e for _, e in _refs.items(svc.spec.get("ports"))]
    numbers = [n for e in entries if (n := _refs.integer(e.get("port"))) is not None]
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
    selector = _refs.mapping(svc.spec.get("selector")) if svc is not None else {}
    epp_pods = [
        w
        for w in inv.workloads(view.namespace)
        if selector and selector_matches(selector, w.labels)
    ]
    accounts: list[str | None] = [*sorted({_service_account(w) for w in epp_pods})] or [None]
    path = str(ctx.params.get("epp_metrics_path"))
    path_ok = _path_checker(ctx, path)
    blocked: list[str] = []
    unknown = False
    for workload in matched:
        pods = _refs.Pods(workload.namespace, workload.labels, workload.annotations, workload)
        policies = _allow_policies_for(inv, pods)
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
            f"{sa_text}) to {_shown(blocked)}, which deny by default",
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
    verdict: bool | None = False
    for ap in policies:
        for _, rule, rule_ptr in rules_of(ap):
            if rule_is_empty(rule):
                return True
            if not _rule_operations_admit(rule, "GET", port, path_ok):
                continue
            source = _rule_sources_admit(ctx, rule, rule_ptr, account, namespace)
            if source is True:
                return True
            if source is None:
                verdict = None
    return verdict


def _rule_sources_admit(
    ctx: RuleContext,
    rule: Mapping[str, Any],
    rule_ptr: JsonPointer,
    account: str | None,
    namespace: str,
) -> bool | None:
    if decoded_list(rule.get("from")) is None:
        return True
    verdicts = [
        _source_admits(ctx, src, account, namespace) for src, _ in sources_of(rule, rule_ptr)
    ]
    return True if True in verdicts else None if None in verdicts else False


def _source_admits(
    ctx: RuleContext, src: Mapping[str, Any], account: str | None, namespace: str
) -> bool | None:
    """One source, fields ANDed; IP blocks and `when` are not judged (assumed to match)."""
    domain = str(ctx.params.get("mesh.trust_domain"))

    def values(key: str) -> list[str]:
        return [v for v, _ in string_values(src, key, "")]

    def principal_ok(pattern: str) -> bool | None:
        if account is None:
            return None
        # any trust domain: aliases are legal (RULES.md MG107(4))
        tail = f"/ns/{namespace}/sa/{account}"
        return _ap_string_match(pattern, domain + tail) or (
            pattern.endswith(tail) and "/" not in pattern[: -len(tail)]
        )

    checks: list[bool | None] = []
    if has_values(src, "principals"):
        found = [principal_ok(p) for p in values("principals")]
        checks.append(True if True in found else None if None in found else False)
    if has_values(src, "notPrincipals"):
        found = [principal_ok(p) for p in values("notPrincipals")]
        checks.append(False if True in found else None if None in found else True)
    if has_values(src, "namespaces"):
        checks.append(any(_ap_string_match(p, namespace) for p in values("namespaces")))
    if has_values(src, "notNamespaces"):
        checks.append(not any(_ap_string_match(p, namespace) for p in values("notNamespaces")))
    if has_values(src, "serviceAccounts"):
        checks.append(
            None if account is None else f"{namespace}/{account}" in values("serviceAccounts")
        )
    if has_values(src, "notServiceAccounts") and account is not None:
        checks.append(f"{namespace}/{account}" not in values("notServiceAccounts"))
    if has_values(src, "requestPrincipals"):
        checks.append(False)  # the endpoint picker sends no JWT
    return False if False in checks else None if None in checks else True


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
            f"{_shown(elsewhere)}, not in {res.namespace}",
            severity=Severity.ERROR,
        )
        return
    yield ctx.unresolved(
        name_ptr,
        f"poolRef names InferencePool {res.namespace}/{ref.name} in group {ref.group}{shown}, "
        "which does not exist",
    )


# -- MG608 ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _GrpcGap:
    """A gRPC Service port whose inference pods deny every gRPC call."""

    service: Resource
    port_ptr: JsonPointer
    port: int | None  # Service port
    target: int | None  # pod port
    pods: _refs.Pods
    policies: tuple[Resource, ...]

    @property
    def label(self) -> str:
        return f"{self.service.namespace}/{self.service.name}:{self.port}"


def _is_grpc_port(entry: Mapping[str, Any], target: int | None) -> bool:
    """`appProtocol: grpc`, a `grpc*` name, or an undeclared port targeting a known gRPC port."""
    protocol = port_protocol(entry)
    if protocol in GRPC_PROTOCOLS:
        return True
    if entry.get("appProtocol") is not None:
        return False
    if str(entry.get("name") or "").lower().startswith("grpc"):
        return True
    return protocol == SNIFFED and target in KNOWN_GRPC_TARGET_PORTS


def _grpc_path_ok(ctx: RuleContext) -> Callable[[str], bool]:
    """A `paths` value admits gRPC inference: it matches ModelInfer, or names a `/pkg.Service/`."""
    matches = _path_checker(ctx, GRPC_INFER_PATH)
    return lambda p: matches(p) or "." in p.lstrip("/").split("/", 1)[0]


def _grpc_gaps(ctx: RuleContext) -> list[_GrpcGap]:
    def build() -> list[_GrpcGap]:
        inv = ctx.inventory
        path_ok = _grpc_path_ok(ctx)
        gaps = []
        for svc in inv.of_kind("", "Service"):
            selector = _refs.mapping(svc.spec.get("selector"))
            ports = _refs.items(svc.spec.get("ports"))
            if not selector or not ports:
                continue
            for pods in _refs.pods_of(inv, svc.namespace, selector):
                inference = (
                    inv.is_inference_workload(pods.workload)
                    if pods.workload is not None
                    else inv.selector_matches_inference(svc.namespace, selector)
                )
                policies = _allow_policies_for(inv, pods) if inference else []
                for i, entry in ports if policies else ():
                    target = pods.target_port(entry)
                    if not _is_grpc_port(entry, target) or _grpc_covered(policies, target, path_ok):
                        continue
                    gaps.append(
                        _GrpcGap(
                            svc,
                            pointer("spec", "ports", i),
                            _refs.integer(entry.get("port")),
                            target,
                            pods,
                            tuple(policies),
                        )
                    )
        return gaps

    return ctx.inventory.memo("consistency:grpc-gaps", build)


def _grpc_covered(
    policies: list[Resource], target: int | None, path_ok: Callable[[str], bool]
) -> bool:
    """Some ALLOW rule's operations admit POST on the gRPC port to a gRPC path."""
    return any(
        rule_is_empty(rule) or _rule_operations_admit(rule, "POST", target, path_ok)
        for ap in policies
        for _, rule, _ in rules_of(ap)
    )


def _fixable_operations(
    ap: Resource, target: int | None
) -> list[tuple[JsonPointer, Mapping[str, Any]]]:
    """Per rule, the first operation that would admit gRPC once a gRPC path is added to `paths`."""
    out = []
    for _, rule, rule_ptr in rules_of(ap):
        for op, op_ptr in operations_of(rule, rule_ptr):
            if has_values(op, "paths") and _operation_admits(op, "POST", target, lambda _p: True):
                out.append((op_ptr, op))
                break
    return out


@check("MG608")
def allow_policy_blocks_grpc_inference(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """gRPC paths are `/package.service/method` and gRPC methods are always POST
    (authorization_policy.proto `Operation`): an ALLOW rule listing only REST paths denies every
    gRPC inference call (kserve grpc_predict_v2.proto `inference.GRPCInferenceService`)."""
    by_policy, by_service = _grpc_gap_index(ctx)
    if res.kind == "Service":
        yield from _service_gaps(ctx, res, by_service.get(id(res), []))
        return
    by_op: dict[JsonPointer, tuple[Mapping[str, Any], list[_GrpcGap]]] = {}
    for gap in by_policy.get(id(res), []):
        for op_ptr, op in _fixable_operations(res, gap.target):
            by_op.setdefault(op_ptr, (op, []))[1].append(gap)
    for op_ptr, (op, found) in by_op.items():
        paths = [v for v, _ in string_values(op, "paths", "")]
        ports = sorted({f"{g.label} (pod port {g.target})" for g in found})
        raw = op.get("paths")
        yield ctx.finding(
            op_ptr + "/paths",
            f"operation allows only http paths {_shown(paths)}: grpc inference on "
            f"{_shown(ports, 2)} is denied",
            severity=Severity.WARNING,
            fix=Fix.add(
                f"{op_ptr}/paths/{len(raw) if isinstance(raw, list) else 0}",
                GRPC_ALLOW_PATH,
                f'append "{GRPC_ALLOW_PATH}" to the paths',
                safety=Safety.UNSAFE,
            ),
        )


def _grpc_gap_index(
    ctx: RuleContext,
) -> tuple[dict[int, list[_GrpcGap]], dict[int, list[_GrpcGap]]]:
    """Gaps by policy and by Service (id of the resource), so each check reads only its own."""

    def build() -> tuple[dict[int, list[_GrpcGap]], dict[int, list[_GrpcGap]]]:
        by_policy: dict[int, list[_GrpcGap]] = {}
        by_service: dict[int, list[_GrpcGap]] = {}
        for gap in _grpc_gaps(ctx):
            by_service.setdefault(id(gap.service), []).append(gap)
            for policy in {id(p): p for p in gap.policies}:
                by_policy.setdefault(policy, []).append(gap)
        return by_policy, by_service

    return ctx.inventory.memo("consistency:grpc-gaps-by-resource", build)


def _service_gaps(ctx: RuleContext, res: Resource, gaps: list[_GrpcGap]) -> Iterator[Finding]:
    """Gaps no policy can fix by a path: report them on the Service port."""
    seen: set[JsonPointer] = set()
    for gap in gaps:
        if gap.service is not res or gap.port_ptr in seen:
            continue
        if any(_fixable_operations(ap, gap.target) for ap in gap.policies):
            continue
        seen.add(gap.port_ptr)
        names = [f"{ap.namespace}/{ap.name}" for ap in gap.policies]
        yield ctx.finding(
            gap.port_ptr,
            f"grpc port {gap.port} (pod port {gap.target}) reaches {gap.pods.ref}, where allow "
            f"policies {_shown(names)} admit no grpc call",
            severity=Severity.WARNING,
        )


# -- MG609 ----------------------------------------------------------------------------------------


def _selector_key(rule: Resource) -> frozenset[tuple[str, str]] | None:
    selector = rule.spec.get("workloadSelector")
    if selector is None:
        return None
    return frozenset(
        (str(k), str(v))
        for k, v in _refs.mapping(_refs.mapping(selector).get("matchLabels")).items()
    )


def _export_key(rule: Resource) -> frozenset[str]:
    """`exportTo`; empty means the mesh default `*` (push_context.go: exportToDefaults)."""
    return _refs.export_set(rule.spec.get("exportTo")) or frozenset({"*"})


def _vs_subset_hosts(inv: Inventory) -> dict[str, list[str]]:
    """Subset name → normalised hosts that some VirtualService route or mirror sends to."""

    def build() -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for vs in inv.of_kind(_refs.NETWORKING, "VirtualService"):
            for _, dest in _vs_destinations(vs):
                host, subset = _refs.text(dest.get("host")), _refs.text(dest.get("subset"))
                if host is not None and subset is not None:
                    index.setdefault(subset, []).append(
                        normalize_host(host, vs.namespace, _refs.domain(inv))
                    )
        return index

    return inv.memo("consistency:vs-subset-hosts", build)


@check("MG609")
def destination_rules_conflict(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """istio pilot/pkg/model/destination_rule.go mergeDestinationRule: rules of one namespace,
    host, exportTo and selector are merged: subsets concatenated (the first definition wins), the
    top-level trafficPolicy taken from the oldest rule that has one; namespaces never merge."""
    raw = _refs.text(res.spec.get("host"))
    if raw is None:
        return
    host = normalize_host(raw, res.namespace, _refs.domain(ctx.inventory))
    entries = _refs.dr_index(ctx.inventory).by_host.get(host, [])
    rules = in_creation_order(e.rule for e in entries)
    yield from _merged_rules(ctx, res, host, rules)
    yield from _client_override(ctx, res, host, rules)
    yield from _inactive_subset_policies(ctx, res, host)


def _merged_rules(
    ctx: RuleContext, res: Resource, host: str, rules: list[Resource]
) -> Iterator[Finding]:
    peers = [
        r
        for r in rules
        if r.namespace == res.namespace
        and _export_key(r) == _export_key(res)
        and _selector_key(r) == _selector_key(res)
    ]
    ids = [(r.namespace, r.name) for r in peers]
    me = (res.namespace, res.name)
    if len(peers) < 2 or me not in ids or ids.index(me) == 0:
        return
    earlier = peers[: ids.index(me)]
    lost = list(_lost_settings(ctx, res, host, earlier))
    yield from lost
    if not lost:
        yield ctx.finding(
            "/spec/host",
            f"{len(peers)} DestinationRules for host {host} in namespace {res.namespace} are "
            f"merged into {earlier[0].namespace}/{earlier[0].name}: subsets concatenated, only "
            "the oldest top-level trafficPolicy applies",
            severity=Severity.WARNING,
        )


def _lost_settings(
    ctx: RuleContext, res: Resource, host: str, earlier: list[Resource]
) -> Iterator[Finding]:
    """What the merge drops from `res`: its top-level policy, and subsets defined earlier."""
    owner = next((r for r in earlier if r.spec.get("trafficPolicy") is not None), None)
    if res.spec.get("trafficPolicy") is not None and owner is not None:
        yield ctx.finding(
            "/spec/trafficPolicy",
            f"top-level trafficPolicy is ignored for host {host}: DestinationRule "
            f"{owner.namespace}/{owner.name} is older and has one (no field merge)",
            severity=Severity.WARNING,
        )
    defined = {
        name: r
        for r in reversed(earlier)
        for _, s in _refs.items(r.spec.get("subsets"))
        if (name := _refs.text(s.get("name"))) is not None
    }
    for i, subset in _refs.items(res.spec.get("subsets")):
        name = _refs.text(subset.get("name"))
        if name is not None and name in defined:
            yield ctx.finding(
                pointer("spec", "subsets", i, "name"),
                f"subset {name} is ignored for host {host}: DestinationRule "
                f"{defined[name].namespace}/{defined[name].name} defines it first "
                "(no merging of subset content)",
                severity=Severity.WARNING,
            )


def _service_namespace(host: str, domain: str) -> str | None:
    suffix = f".svc.{domain}".lower()
    if is_wildcard(host) or not host.endswith(suffix):
        return None
    labels = host[: -len(suffix)].split(".")
    return labels[1] if len(labels) == 2 else None


def _client_override(
    ctx: RuleContext, res: Resource, host: str, rules: list[Resource]
) -> Iterator[Finding]:
    """Lookup is client ns → service ns → root ns; the first namespace with a rule wins (P5)."""
    service_ns = _service_namespace(host, _refs.domain(ctx.inventory))
    if (
        service_ns is None
        or res.namespace in (service_ns, ctx.inventory.root_namespace)
        or res.spec.get("workloadSelector") is not None
    ):
        return
    if not _refs.visible_from(
        _refs.export_set(res.spec.get("exportTo")), res.namespace, res.namespace
    ):
        return
    shadowed = [
        r
        for r in rules
        if r.namespace == service_ns
        and r.spec.get("workloadSelector") is None
        and _refs.visible_from(_refs.export_set(r.spec.get("exportTo")), service_ns, res.namespace)
    ]
    if shadowed:
        names = [f"{r.namespace}/{r.name}" for r in shadowed]
        yield ctx.finding(
            "/spec/host",
            f"client-namespace override: clients in {res.namespace} use this rule for {host}; "
            f"service-namespace DestinationRule {_shown(names)} does not apply to them",
            severity=Severity.INFO,
        )


def _inactive_subset_policies(ctx: RuleContext, res: Resource, host: str) -> Iterator[Finding]:
    """A subset's policy applies only to traffic a route sends to that subset
    (istio.io network-issues "Destination rule policy not activated")."""
    routed = _vs_subset_hosts(ctx.inventory)
    for i, subset in _refs.items(res.spec.get("subsets")):
        name = _refs.text(subset.get("name"))
        policy = subset.get("trafficPolicy")
        if name is None or not isinstance(policy, Mapping) or not policy:
            continue
        if any(host_matches(host, target) for target in routed.get(name, [])):
            continue
        yield ctx.finding(
            pointer("spec", "subsets", i, "trafficPolicy"),
            f"subset {name} of host {host} has a trafficPolicy, but no VirtualService route or "
            "mirror sends traffic to that subset",
            severity=Severity.INFO,
        )
