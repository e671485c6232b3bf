"""MG608–MG609: policies and DestinationRules that each look fine but do not fit together
(RULES.md §2 MG6xx); InferencePools and their references (MG606, MG607) are in `pools.py`.

* Which ALLOW policies reach a pod follows `authorization_policy.proto` (`_authz_shapes`): a
  selector-less policy reaches its whole namespace (every namespace from the root namespace), a
  selector its matching pods, `targetRef(s)` the pods of the named Service; once any ALLOW policy
  reaches a pod, a request no ALLOW rule matches is denied. Fields of one operation are ANDed.
* DestinationRules come from the shared index of `_refs` (`dr_index`), pods behind a selector from
  `_refs.pods_of` (a virtual pod when the run has no pod template in that namespace).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

from meshguard.body import integer, items, mapping
from meshguard.checks import _refs
from meshguard.checks._authz_shapes import (
    allow_policies_for,
    ap_path_matcher,
    has_values,
    operation_admits,
    operations_of,
    rule_is_empty,
    rule_operations_admit,
    rules_of,
    string_values,
)
from meshguard.inventory import NETWORKING, Inventory
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.semantics.hosts import host_matches, normalize_host
from meshguard.semantics.mtls import in_creation_order
from meshguard.semantics.protocols import SNIFFED, port_protocol
from meshguard.semantics.retryon import istio_version

# kserve grpc_predict_v2.proto: service inference.GRPCInferenceService (Open Inference Protocol)
GRPC_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
GRPC_ALLOW_PATH = "/inference.GRPCInferenceService/*"
# Undeclared (sniffed) Service ports whose target is a model server's default gRPC port:
# kserve python/kserve/kserve/model_server.py DEFAULT_GRPC_PORT; Triton --grpc-port default.
KNOWN_GRPC_TARGET_PORTS = frozenset({8081, 8001})
GRPC_PROTOCOLS = frozenset({"grpc", "grpc-web"})


# -- MG608 ----------------------------------------------------------------------------------------


class _GrpcGap(NamedTuple):
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
    matches = ap_path_matcher(GRPC_INFER_PATH, istio_version(ctx.params))
    return lambda p: matches(p) or "." in p.lstrip("/").split("/", 1)[0]


def _grpc_gaps(ctx: RuleContext) -> list[_GrpcGap]:
    def build() -> list[_GrpcGap]:
        inv = ctx.inventory
        path_ok = _grpc_path_ok(ctx)
        gaps = []
        for svc in inv.of_kind("", "Service"):
            selector = mapping(svc.spec.get("selector"))
            ports = items(svc.spec.get("ports"))
            if not selector or not ports:
                continue
            for pods in _refs.pods_of(inv, svc.namespace, selector):
                inference = (
                    inv.is_inference_workload(pods.workload)
                    if pods.workload is not None
                    else inv.selector_matches_inference(svc.namespace, selector)
                )
                policies = allow_policies_for(inv, pods.namespace, pods.labels) if inference else []
                for i, entry in ports if policies else ():
                    target = pods.target_port(entry)
                    if not _is_grpc_port(entry, target) or _grpc_covered(policies, target, path_ok):
                        continue
                    gaps.append(
                        _GrpcGap(
                            svc,
                            pointer("spec", "ports", i),
                            integer(entry.get("port")),
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
        rule_is_empty(rule) or rule_operations_admit(rule, "POST", target, path_ok)
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
            if has_values(op, "paths") and operation_admits(op, "POST", target, lambda _p: True):
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
            f"operation allows only http paths {_refs.shown(paths)}: grpc inference on "
            f"{_refs.shown(ports, 2)} is denied",
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
            f"policies {_refs.shown(names)} admit no grpc call",
            severity=Severity.WARNING,
        )


# -- MG609 ----------------------------------------------------------------------------------------


def _selector_key(rule: Resource) -> frozenset[tuple[str, str]] | None:
    selector = rule.spec.get("workloadSelector")
    if selector is None:
        return None
    return frozenset(
        (str(k), str(v)) for k, v in mapping(mapping(selector).get("matchLabels")).items()
    )


def _export_key(rule: Resource) -> frozenset[str]:
    """`exportTo`; empty means the mesh default `*` (push_context.go: exportToDefaults)."""
    return _refs.export_set(rule.spec.get("exportTo")) or frozenset({"*"})


def _vs_subset_hosts(inv: Inventory) -> dict[str, list[str]]:
    """Subset name → normalised hosts that some VirtualService route or mirror sends to."""

    def build() -> dict[str, list[str]]:
        index: dict[str, list[str]] = {}
        for vs in inv.of_kind(NETWORKING, "VirtualService"):
            for _, dest in _refs.vs_destinations(vs):
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
        for _, s in items(r.spec.get("subsets"))
        if (name := _refs.text(s.get("name"))) is not None
    }
    for i, subset in items(res.spec.get("subsets")):
        name = _refs.text(subset.get("name"))
        if name is not None and name in defined:
            yield ctx.finding(
                pointer("spec", "subsets", i, "name"),
                f"subset {name} is ignored for host {host}: DestinationRule "
                f"{defined[name].namespace}/{defined[name].name} defines it first "
                "(no merging of subset content)",
                severity=Severity.WARNING,
            )


def _client_override(
    ctx: RuleContext, res: Resource, host: str, rules: list[Resource]
) -> Iterator[Finding]:
    """Lookup is client ns → service ns → root ns; the first namespace with a rule wins (P5)."""
    service_ns = _refs.host_namespace(ctx.inventory, host)
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
            f"service-namespace DestinationRule {_refs.shown(names)} does not apply to them",
            severity=Severity.INFO,
        )


def _inactive_subset_policies(ctx: RuleContext, res: Resource, host: str) -> Iterator[Finding]:
    """A subset's policy applies only to traffic a route sends to that subset
    (istio.io network-issues "Destination rule policy not activated")."""
    routed = _vs_subset_hosts(ctx.inventory)
    for i, subset in items(res.spec.get("subsets")):
        name = _refs.text(subset.get("name"))
        policy = subset.get("trafficPolicy")
        if name is None or not isinstance(policy, dict) or not policy:
            continue
        if any(host_matches(host, target) for target in routed.get(name, [])):
            continue
        yield ctx.finding(
            pointer("spec", "subsets", i, "trafficPolicy"),
            f"subset {name} of host {host} has a trafficPolicy, but no VirtualService route or "
            "mirror sends traffic to that subset",
            severity=Severity.INFO,
        )
