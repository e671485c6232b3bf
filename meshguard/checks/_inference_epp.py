"""MG509(2) internals: the endpoint picker's DestinationRule against its injection state.

The gateway reaches the endpoint picker (EPP) through the ordinary outbound cluster of the EPP
Service (`istio pilot/pkg/networking/core/route/route.go`: ext_proc `EnvoyGrpc` cluster), so the
DestinationRule seen from the gateway's namespace (P5: client ns → service ns → root ns, with
`exportTo`; the shared index `_refs.dr_index`) decides its TLS. Whether the EPP pods are injected
is `semantics.injection`, read as MG407 reads it. An EPP without a sidecar serves TLS itself
with a self-signed certificate: it needs the GIE chart's
`tls: {mode: SIMPLE, insecureSkipVerify: true}` (`gie v1.4.0
config/charts/inferencepool/templates/istio.yaml`). An injected EPP (RULES.md §3.6,
`--secure-serving=false`) needs Istio mTLS, `ISTIO_MUTUAL` — which auto mTLS already picks when
no DestinationRule sets `tls` (`pilot/pkg/networking/core/cluster_builder.go`:
`BestEffortInferServiceMTLSMode`), so a missing DestinationRule is only reported for an injected
EPP when auto mTLS is off (`Inventory.auto_mtls`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from meshguard.body import as_list, mapping
from meshguard.checks._inference_mesh import pool_routes
from meshguard.checks._refs import dr_index
from meshguard.inference_api import POOL_GROUPS, POOL_KIND, istio_pool_group, pool_view
from meshguard.inventory import NETWORKING
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext
from meshguard.semantics.hosts import host_matches, is_wildcard, normalize_host, service_host
from meshguard.semantics.injection import sidecar_injected
from meshguard.semantics.mtls import in_creation_order
from meshguard.semantics.retryon import istio_version

Op = Mapping[str, Any]


class _Tls(NamedTuple):
    """The tls block of the EPP port in one DestinationRule."""

    mode: str
    pointer: JsonPointer  # the tls mapping
    mode_written: bool


class _TlsProblem(NamedTuple):
    pool: Resource
    epp: str
    host: str
    client: str  # the gateway namespace the DestinationRule is looked up from
    injected: bool
    dr: Resource | None  # the effective DestinationRule (None: none at all)
    tls: _Tls | None  # its tls for the EPP port (None: no tls block, auto mTLS decides)

    @property
    def want(self) -> str:
        return "ISTIO_MUTUAL" if self.injected else "SIMPLE"

    def wanted_tls(self) -> dict[str, Any]:
        if self.injected:
            return {"mode": "ISTIO_MUTUAL"}
        return {"mode": "SIMPLE", "insecureSkipVerify": True}


def _problems(ctx: RuleContext, pool: Resource) -> list[_TlsProblem]:
    cache: dict[int, list[_TlsProblem]] = ctx.inventory.memo("inference:epp-problems", dict)
    if id(pool) not in cache:
        cache[id(pool)] = _evaluate(ctx, pool)
    return cache[id(pool)]


def _evaluate(ctx: RuleContext, pool: Resource) -> list[_TlsProblem]:
    """One problem per client namespace whose effective DestinationRule does not fit the EPP."""
    view = pool_view(pool)
    if view is None or istio_pool_group(istio_version(ctx.params)) != pool.group:
        return []  # Istio ignores this generation (MG505/MG506 report it)
    picker = view.endpoint_picker
    own = "endpointPickerRef" if view.generation == "v1" else "extensionRef"
    if picker is None or picker.field != own or picker.name is None or not picker.is_service:
        return []
    port = picker.effective_port()
    clients = pool_routes(ctx.inventory).clients.get((pool.namespace, pool.name))
    if port is None or (clients and not clients.gateway_namespaces and not clients.maybe_istio):
        return []  # only non-Istio gateways route to this pool
    injected = _epp_injected(ctx, pool.namespace, picker.name)
    if injected is None:
        return []
    host = service_host(picker.name, pool.namespace, ctx.params.get("mesh.domain_suffix"))
    namespaces = sorted(clients.gateway_namespaces) if clients else []
    out: list[_TlsProblem] = []
    seen: set[int] = set()
    for client in namespaces or [pool.namespace]:
        dr, tls = _effective_tls(ctx, host, client, pool.namespace, port)
        if tls is not None and tls.mode == ("ISTIO_MUTUAL" if injected else "SIMPLE"):
            continue
        if tls is None and injected and ctx.inventory.auto_mtls:
            continue
        if dr is not None and id(dr) in seen:
            continue
        if dr is not None:
            seen.add(id(dr))
        out.append(_TlsProblem(pool, picker.name, host, client, injected, dr, tls))
    return out


def _effective_tls(
    ctx: RuleContext, host: str, client: str, service_ns: str, port: int
) -> tuple[Resource | None, _Tls | None]:
    """P5: the DestinationRules a gateway in `client` uses for the EPP host (`_refs.dr_index`:
    client → service → root namespace, `exportTo`, the most specific host); of those merged
    rules the oldest with a tls block for the port wins, else the oldest decides (no tls)."""
    entries = dr_index(ctx.inventory).lookup(client, host, service_ns)
    rules = in_creation_order(entry.rule for entry in entries)
    for dr in rules:
        tls = _tls_for_port(dr, port)
        if tls is not None:
            return dr, tls
    return (rules[0], None) if rules else (None, None)


def _tls_for_port(dr: Resource, port: int) -> _Tls | None:
    """A matching `portLevelSettings[].tls` wins over `trafficPolicy.tls`."""
    policy = mapping(dr.spec.get("trafficPolicy"))
    for i, setting in enumerate(as_list(policy.get("portLevelSettings"))):
        setting = mapping(setting)
        tls = setting.get("tls")
        if mapping(setting.get("port")).get("number") == port and isinstance(tls, dict):
            ptr = pointer("spec", "trafficPolicy", "portLevelSettings", i, "tls")
            return _Tls(_mode(tls), ptr, "mode" in tls)
    tls = policy.get("tls")
    if isinstance(tls, dict):
        return _Tls(_mode(tls), "/spec/trafficPolicy/tls", "mode" in tls)
    return None


def _mode(tls: Mapping[str, Any]) -> str:
    mode = tls.get("mode")
    return mode if isinstance(mode, str) else "DISABLE"  # the proto enum's zero value


def pool_without_dr(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """No DestinationRule at all for the EPP host: reported on the pool, fixed by adding one."""
    missing = [p for p in _problems(ctx, res) if p.dr is None]
    if not missing:
        return
    first = missing[0]
    taken = ctx.inventory.get(NETWORKING, "DestinationRule", res.namespace, first.epp)
    name = first.epp if taken is None else f"{first.epp}-tls"
    document = {
        "apiVersion": f"{NETWORKING}/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name, "namespace": res.namespace},
        "spec": {"host": first.host, "trafficPolicy": {"tls": first.wanted_tls()}},
    }
    view = pool_view(res)
    picker = view.endpoint_picker if view is not None else None
    state = "injected" if first.injected else "not injected"
    yield ctx.finding(
        picker.pointer if picker is not None else "/spec",
        f"endpoint picker {res.namespace}/{first.epp} is {state} and no DestinationRule for "
        f"{first.host} (from namespace {', '.join(p.client for p in missing)}) "
        f"sets tls mode {first.want}",
        severity=Severity.WARNING,
        fix=Fix.add_document(
            document, f"add DestinationRule {name} with tls mode {first.want}", safety=Safety.UNSAFE
        ),
    )


def _epp_hosts(ctx: RuleContext) -> dict[str, list[Resource]]:
    """EPP Service host → the pools naming it. Built once per run."""

    def build() -> dict[str, list[Resource]]:
        out: dict[str, list[Resource]] = {}
        domain = ctx.params.get("mesh.domain_suffix")
        for group in POOL_GROUPS:
            for pool in ctx.inventory.of_kind(group, POOL_KIND):
                view = pool_view(pool)
                picker = view.endpoint_picker if view is not None else None
                if picker is not None and picker.name:
                    host = service_host(picker.name, pool.namespace, domain)
                    out.setdefault(host, []).append(pool)
        return out

    return ctx.inventory.memo("inference:epp-hosts", build)


def dr_tls_wrong(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """The effective DestinationRule's tls does not fit the EPP: reported on that rule."""
    host = res.spec.get("host")
    if not isinstance(host, str) or not host:
        return
    fqdn = normalize_host(host, res.namespace, ctx.params.get("mesh.domain_suffix"))
    index = _epp_hosts(ctx)
    if is_wildcard(fqdn):
        pools = [p for h, found in index.items() if host_matches(fqdn, h) for p in found]
    else:
        pools = index.get(fqdn, [])
    for pool in pools:
        problem = next((p for p in _problems(ctx, pool) if p.dr is res), None)
        if problem is not None:
            yield _dr_finding(res, ctx, problem)


def _dr_finding(res: Resource, ctx: RuleContext, problem: _TlsProblem) -> Finding:
    tls, wanted = problem.tls, problem.wanted_tls()
    ops: tuple[Op, ...]
    if tls is not None:
        ops = ({"op": "replace", "path": tls.pointer, "value": wanted},)
        ptr = tls.pointer + "/mode" if tls.mode_written else tls.pointer
    elif isinstance(res.spec.get("trafficPolicy"), dict):
        ops = ({"op": "add", "path": "/spec/trafficPolicy/tls", "value": wanted},)
        ptr = "/spec/trafficPolicy"
    else:
        ops = ({"op": "add", "path": "/spec/trafficPolicy", "value": {"tls": wanted}},)
        ptr = "/spec/host"
    found = f"tls mode {tls.mode}" if tls is not None else "no tls mode"
    state = "injected" if problem.injected else "not injected"
    return ctx.finding(
        ptr,
        f"DestinationRule {res.namespace}/{res.name} sets {found} for endpoint picker "
        f"{problem.pool.namespace}/{problem.epp}, which is {state} "
        f"(from namespace {problem.client}, expected {problem.want})",
        severity=Severity.WARNING,
        fix=Fix(f"set tls mode {problem.want} for the endpoint picker", ops, safety=Safety.UNSAFE),
    )


# -- "will be injected" (RULES.md MG407's test, applied to the EPP pods) -------------------------


def _epp_injected(ctx: RuleContext, namespace: str, name: str) -> bool | None:
    """The EPP Service's pods decide, else the namespace label; None when neither is in the run.

    MG407's reading of `semantics.injection.sidecar_injected`: with the pods present, an absent
    namespace counts as injected only when it is an ML namespace (MG401 enforces its label).
    """
    inv = ctx.inventory
    service = inv.get("", "Service", namespace, name)
    selector = mapping(service.spec.get("selector")) if service is not None else {}
    pods = inv.workloads_selected(namespace, selector) if selector else []
    if not pods:
        if inv.get("", "Namespace", "", namespace) is None:
            return None
        return sidecar_injected(inv, namespace, {}, {}, {})
    states = {
        sidecar_injected(inv, namespace, pod.labels, pod.annotations, pod.pod_spec) is True
        for pod in pods
    }
    return states.pop() if len(states) == 1 else None
