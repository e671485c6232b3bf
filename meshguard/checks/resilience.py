"""MG301, MG302, MG304, MG305: DestinationRule connection pools, h2 upgrade, load balancing and
the settings nested policies drop (MG303, outlier detection, is in `outliers.py`).

Validation-style conditions (empty policies, negative limits, deprecated fields) are checked on
every traffic-policy object, like `istio pkg/config/validation/validation.go`.
Best-practice conditions for inference hosts use the *effective* policy of each (subset, Service
port), resolved as istiod does (`_traffic_policy.py`: `MergeSubsetTrafficPolicy`, mesh
`defaultTrafficPolicy` from Istio 1.31), and are reported once at the level that decides them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.body import dig, integer
from meshguard.checks._traffic_policy import (
    BLOCKS,
    EXTRAS,
    HTTP_PROTOCOLS,
    Decision,
    Level,
    Policy,
    Target,
    block_subject,
    decisions,
    deep_merge,
    emit,
    is_set,
    location,
    lost_fields,
    mapping,
    mesh_default_block,
    policy_of,
    profile,
    set_op,
    target_of,
    write_block_ops,
)
from meshguard.model import Finding, JsonPointer, Resource, Safety, Severity
from meshguard.registry import RuleContext, check
from meshguard.semantics.protocols import SNIFFED

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
_POOL_LIMITS = (
    ("tcp", "maxConnections"),
    ("http", "http1MaxPendingRequests"),
    ("http", "http2MaxRequests"),
    ("http", "maxRequestsPerConnection"),
)
_NON_NEGATIVE = (*_POOL_LIMITS, ("http", "maxRetries"), ("http", "maxConcurrentStreams"))
_POLICY_FIELDS = (*BLOCKS, "portLevelSettings", *EXTRAS)  # validateTrafficPolicy: "at least one"
_UNBALANCED = frozenset({"ROUND_ROBIN", "RANDOM", "PASSTHROUGH"})


# -- MG301 -----------------------------------------------------------------------------------


def _pool_profile(ctx: RuleContext) -> dict[str, Any]:
    """The `connection_pool` profile without the h2 settings (MG302 decides those per port)."""
    out = copy.deepcopy(dict(profile(ctx, "connection_pool")))
    if isinstance(out.get("http"), dict):
        skip = ("h2UpgradePolicy", "useClientProtocol")
        out["http"] = {k: v for k, v in out["http"].items() if k not in skip}
    return out


def _filled_pool(ctx: RuleContext, block: Mapping[str, Any]) -> dict[str, Any]:
    """`block` with every unset (or 0 = unset, `applyConnectionPool`) profile limit filled in."""
    prof = _pool_profile(ctx)
    out = deep_merge(prof, block, ("connectionPool",))
    for section, key in _POOL_LIMITS:
        wanted, current = dig(prof, section, key), mapping(out.get(section))
        if wanted is not None and current is not None and integer(current.get(key)) == 0:
            out[section] = {**current, key: wanted}
    return out


@check("MG301")
def connection_pool_missing_or_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Empty policies and negative limits are rejected (`validation.go: validateTrafficPolicy,
    validateConnectionPool`); an inference host without limits gets Envoy's effectively unlimited
    defaults (2^32−1, `destination_rule.proto` ConnectionPoolSettings)."""
    policy = policy_of(res)
    flagged: set[str] = set()
    for level in policy.levels():
        yield from _empty_policy(level, ctx, flagged)
        yield from _negative_limits(level, ctx)
    target = target_of(res, ctx)
    if target is not None and target.inference:
        yield from _pool_limits(res, ctx, policy, target, flagged)


def _has_field(policy: Mapping[str, Any], name: str) -> bool:
    value = policy.get(name)
    return bool(value) if isinstance(value, list) else value is not None


def _empty_policy(level: Level, ctx: RuleContext, flagged: set[str]) -> Iterator[Finding]:
    policy = level.policy or {}
    if not any(_has_field(policy, f) for f in (BLOCKS if level.is_port else _POLICY_FIELDS)):
        flagged.add(level.pointer)
        ops = write_block_ops(level, "connectionPool", _filled_pool(ctx, {}))
        what = "port traffic policy" if level.is_port else "trafficPolicy"
        title = "add a connectionPool with the profile limits"
        yield emit(ctx, level.pointer, f"{level.label} {what} has no field", ERROR, title, ops)
        return
    pool = mapping(policy.get("connectionPool"))
    if pool is not None and not is_set(pool, "tcp") and not is_set(pool, "http"):
        flagged.add(level.at("connectionPool"))
        ops = write_block_ops(level, "connectionPool", _filled_pool(ctx, pool))
        message = f"{level.label} connectionPool has neither tcp nor http"
        title = "fill the connectionPool with the profile limits"
        yield emit(ctx, level.at("connectionPool"), message, ERROR, title, ops)


def _negative_limits(level: Level, ctx: RuleContext) -> Iterator[Finding]:
    pool = level.block("connectionPool")
    for section, key in _NON_NEGATIVE:
        value = integer(dig(pool, section, key))
        if value is None or value >= 0:
            continue
        ptr = level.at("connectionPool", section, key)
        wanted = dig(_pool_profile(ctx), section, key)
        message = f"{level.label} connectionPool.{section}.{key} is {value} (negative)"
        op = {"op": "remove", "path": ptr} if wanted is None else set_op(ptr, {}, "", wanted)
        title = f"remove {key} (istio default)" if wanted is None else f"set {key} to {wanted}"
        yield emit(ctx, ptr, message, ERROR, title, [op])


def _pool_limits(
    res: Resource, ctx: RuleContext, policy: Policy, target: Target, flagged: set[str]
) -> Iterator[Finding]:
    """(3) per deciding level; then (5) and (4) on the limits a DR block sets."""
    mesh = mesh_default_block(ctx, "connectionPool")
    for decision, _ in decisions(policy, "connectionPool", target.port_list(policy), mesh):
        if decision.level.pointer in flagged or decision.block_pointer in flagged:
            continue
        block = mapping(decision.value)
        if decision.value is not None and block is None:
            continue
        missing = [f"{s}.{k}" for s, k in _POOL_LIMITS if dig(block, s, k) in (None, 0)]
        ptr, where = block_subject(res, decision)
        if block is None:
            message = f"inference host {target.host} has no connectionPool ({where})"
        else:
            message = f"{where} for inference host {target.host} lacks {', '.join(missing)}"
        if missing:
            ops = write_block_ops(decision.level, "connectionPool", _filled_pool(ctx, block or {}))
            title = "fill the missing limits from the connection_pool profile"
            yield emit(ctx, ptr, message + "; istio default: unlimited", WARNING, title, ops)
        if block is not None and decision.block_pointer is not None:
            yield from _pool_values(ctx, decision.level.label, decision.block_pointer, block)


def _pool_values(
    ctx: RuleContext, label: str, base: JsonPointer, block: Mapping[str, Any]
) -> Iterator[Finding]:
    """(5) keep-alive disabled; (4) profile deviations (`enforce_profile_values`)."""
    prof = _pool_profile(ctx)
    enforce = ctx.params.get("enforce_profile_values")
    for section, key in _POOL_LIMITS:
        value, wanted = integer(dig(block, section, key)), dig(prof, section, key)
        ptr = f"{base}/{section}/{key}"
        fix_ops = [set_op(ptr, {}, "", wanted)]
        title = f"set {key} to {wanted}" if wanted not in (None, value) else ""
        if key == "maxRequestsPerConnection" and value == 1:
            message = f"{label} connectionPool.http.{key} is 1: keep-alive disabled, a new tcp+mtls"
            yield emit(ctx, ptr, message + " handshake per inference call", INFO, title, fix_ops)
        elif enforce and value is not None and value > 0 and title:
            message = f"{label} connectionPool.{section}.{key} is {value}, profile {wanted}"
            yield emit(ctx, ptr, message, INFO, title, fix_ops)


# -- MG302 -----------------------------------------------------------------------------------


def _upgrade_with_client_protocol(http: Any) -> bool:
    return dig(http, "h2UpgradePolicy") == "UPGRADE" and dig(http, "useClientProtocol") is True


def _unresolved_upgrade(target: Target, http: Any) -> bool:
    """A DR UPGRADE for a concrete host whose Service (or ServiceEntry) is not in the run."""
    unresolved = not target.resolved and not target.host.startswith("*")
    return unresolved and dig(http, "h2UpgradePolicy") == "UPGRADE"


def _effective_upgrade(http: Mapping[str, Any], protocol: str, mesh_h2: Any) -> tuple[bool, str]:
    """`cluster_traffic_policy.go: shouldH2Upgrade` → (upgrade, who decided: "dr" or "mesh")."""
    dr_h2 = http.get("h2UpgradePolicy")
    if http.get("useClientProtocol") is True:
        return False, "dr"
    if dr_h2 in ("UPGRADE", "DO_NOT_UPGRADE"):
        return dr_h2 == "UPGRADE", "dr"
    return protocol in HTTP_PROTOCOLS and mesh_h2 == "UPGRADE", "mesh"


@check("MG302")
def h2_upgrade_policy_misuse(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """`useClientProtocol` makes UPGRADE ineffective and is rejected with it
    (`validateConnectionPool`); a DR-level UPGRADE applies even to sniffed ports, whose server
    sidecar then forwards HTTP/2 to an HTTP/1.1-only model server (`shouldH2Upgrade`,
    `cluster_builder.go: setUseDownstreamProtocol`)."""
    policy = policy_of(res)
    target = target_of(res, ctx)
    for level in policy.levels():
        http = dig(level.block("connectionPool"), "http")
        if _upgrade_with_client_protocol(http):
            ptr = level.at("connectionPool", "http", "useClientProtocol")
            message = f"{level.label} connectionPool.http sets h2UpgradePolicy UPGRADE and"
            ops = [{"op": "remove", "path": ptr}]
            yield emit(ctx, ptr, message + " useClientProtocol true", ERROR, "remove it", ops)
        elif target is not None and _unresolved_upgrade(target, http):
            ptr = level.at("connectionPool", "http", "h2UpgradePolicy")
            message = f"h2UpgradePolicy UPGRADE for {target.host}: port protocols unknown"
            yield ctx.unresolved(ptr, message)
    if target is not None and target.resolved:
        yield from _h2_ports(res, ctx, policy, target)


def _h2_ports(res: Resource, ctx: RuleContext, policy: Policy, target: Target) -> Iterator[Finding]:
    """(2) and (3) per Service port, grouped by the level whose connectionPool governs the port."""
    mesh_h2 = ctx.inventory.mesh_value("h2UpgradePolicy")
    wants = dig(profile(ctx, "connection_pool"), "http", "h2UpgradePolicy") == "UPGRADE"
    ports = {p.number: p for p in target.ports if p.number is not None}
    mesh_pool = mesh_default_block(ctx, "connectionPool")
    for decision, pairs in decisions(policy, "connectionPool", list(ports), mesh_pool):
        http = mapping(dig(decision.value, "http")) or {}
        found: dict[str, list[str]] = {}
        fine = False
        for number in sorted({p for _, p in pairs if p is not None}):
            port = ports[number]
            upgrade, who = _effective_upgrade(http, port.protocol, mesh_h2)
            if upgrade and who == "dr" and port.protocol == SNIFFED:
                kind = "sniffed"
            elif upgrade and target.outside_mesh:
                kind = who
            elif upgrade or not (target.inference and wants and port.protocol in HTTP_PROTOCOLS):
                fine = fine or upgrade
                continue
            elif http.get("useClientProtocol") is True or target.outside_mesh:
                continue
            else:
                kind = "info"
            found.setdefault(kind, []).append(
                f"{number} ({port.name})" if port.name else str(number)
            )
        for kind, names in found.items():
            yield _h2_finding(res, ctx, decision, target, kind, ", ".join(names), fine, mesh_h2)


def _h2_finding(
    res: Resource,
    ctx: RuleContext,
    decision: Decision,
    target: Target,
    kind: str,
    ports: str,
    fine: bool,
    mesh_h2: Any,
) -> Finding:
    http = mapping(dig(decision.value, "http"))
    ptr = location(res, decision.level)
    if decision.block_pointer is not None:
        ptr = decision.block_pointer + ("" if http is None else "/http")
        ptr += "/h2UpgradePolicy" if http is not None and "h2UpgradePolicy" in http else ""
    where = f"{target.host} port {ports}"
    wanted = "UPGRADE" if kind == "info" else "DO_NOT_UPGRADE"
    if kind == "info":
        value = (http or {}).get("h2UpgradePolicy") or f"meshConfig {mesh_h2 or 'DO_NOT_UPGRADE'}"
        message = f"h2UpgradePolicy for inference host {where} is {value}, profile UPGRADE"
    elif kind == "sniffed":
        message = f"h2UpgradePolicy UPGRADE sends http/2 to {where}, protocol sniffed"
    else:
        source = "h2UpgradePolicy" if kind == "dr" else "meshConfig.h2UpgradePolicy"
        backend = target.entry or target.service
        ref = backend.ref + ("" if target.entry else ", no sidecar") if backend else target.host
        message = f"{source} UPGRADE sends http/2 to {where}, a backend outside the mesh ({ref})"
    block = copy.deepcopy(dict(mapping(decision.value) or {}))
    block["http"] = {**(http or {}), "h2UpgradePolicy": wanted}
    ops = write_block_ops(decision.level, "connectionPool", block)
    title = f"set h2UpgradePolicy to {wanted}" if kind == "info" or not fine else ""
    return emit(ctx, ptr, message, INFO if kind == "info" else WARNING, title, ops)


# -- MG304 -----------------------------------------------------------------------------------


@check("MG304")
def load_balancer_not_least_request(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio's default is LEAST_REQUEST (`cluster_traffic_policy.go: defaultLBAlgorithm`, also for
    `UNSPECIFIED`); ROUND_ROBIN/RANDOM ignore how busy a replica is, which matters when inference
    latency varies by orders of magnitude; LEAST_CONN is a deprecated alias of LEAST_REQUEST;
    PASSTHROUGH switches to ORIGINAL_DST (no load balancing) (`applyLoadBalancer`)."""
    policy = policy_of(res)
    for level in policy.levels():
        if dig(level.block("loadBalancer"), "simple") == "LEAST_CONN":
            ptr = level.at("loadBalancer", "simple")
            message = f"{level.label} loadBalancer.simple LEAST_CONN is deprecated (istio maps it"
            ops = [{"op": "replace", "path": ptr, "value": "LEAST_REQUEST"}]
            title = "set simple to LEAST_REQUEST"
            yield emit(ctx, ptr, message + " to LEAST_REQUEST)", WARNING, title, ops, Safety.SAFE)
    target = target_of(res, ctx)
    if target is None or not target.inference:
        return
    for decision, _ in decisions(policy, "loadBalancer", target.port_list(policy)):
        if decision.value is None or mapping(decision.value) is not None:
            finding = _balancer(res, ctx, decision, target.host)
            if finding is not None:
                yield finding


def _balancer(res: Resource, ctx: RuleContext, decision: Decision, host: str) -> Finding | None:
    """(1), (3), (4), (5) for the block a level decides."""
    lb, label = mapping(decision.value) or {}, decision.level.label
    wanted, simple = str(ctx.params.get("load_balancer")), lb.get("simple")
    base = decision.block_pointer or location(res, decision.level)
    if is_set(lb, "consistentHash"):
        message = f"{label} loadBalancer uses consistentHash for inference host {host}"
        return emit(ctx, f"{base}/consistentHash", message + ": affinity lost on scaling", INFO)
    if isinstance(simple, str) and simple in _UNBALANCED and simple != wanted:
        why = "bypasses load balancing" if simple == "PASSTHROUGH" else "ignores replica load"
        message = f"{label} loadBalancer.simple {simple} for inference host {host} {why}"
        ops = [{"op": "replace", "path": f"{base}/simple", "value": wanted}]
        return emit(ctx, f"{base}/simple", message, WARNING, f"set simple to {wanted}", ops)
    if simple not in (None, "UNSPECIFIED"):
        return None
    ops = write_block_ops(decision.level, "loadBalancer", {**lb, "simple": wanted})
    safety = Safety.SAFE if wanted == "LEAST_REQUEST" else Safety.UNSAFE
    message = f"{label} sets no loadBalancer.simple for inference host {host} (istio default"
    ptr = f"{base}/simple" if "simple" in lb else base
    return emit(ctx, ptr, message + " LEAST_REQUEST)", INFO, f"set simple to {wanted}", ops, safety)


# -- MG305 -----------------------------------------------------------------------------------


@check("MG305")
def nested_policy_drops_parent_settings(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """A subset block replaces the DR block wholesale and a port entry replaces all four blocks,
    inheriting nothing (`model.MergeTrafficPolicy`, `util.GetPortLevelTrafficPolicy`; a port entry
    keeps only the four blocks, `shadowCopyPortTrafficPolicy`)."""
    policy = policy_of(res)
    top = policy.top.policy or {}
    top_blocks = {b: (top.get(b), "top-level") for b in BLOCKS}
    for _, entry in policy.top_ports:
        yield from _port_entry(ctx, entry, top_blocks, top)
    for sub, ports in policy.subsets:
        yield from _replaced_blocks(ctx, sub, top_blocks)
        own = sub.policy or {}
        parents = {b: (own[b], sub.label) if is_set(own, b) else top_blocks[b] for b in BLOCKS}
        for _, entry in ports:
            yield from _port_entry(ctx, entry, parents, own)


def _replaced_blocks(
    ctx: RuleContext, child: Level, parents: Mapping[str, tuple[Any, str]]
) -> Iterator[Finding]:
    """Blocks both levels set: the parent's fields the child does not repeat are lost."""
    for block in BLOCKS:
        parent, parent_label = parents[block]
        mine = mapping(child.block(block))
        lost = (
            lost_fields(parent, mine, (block,))
            if isinstance(parent, dict) and mine is not None
            else []
        )
        if mine is None or not lost:
            continue
        ops = write_block_ops(child, block, deep_merge(parent, mine, (block,)))
        message = f"{child.label} {block} replaces the {parent_label} block: {', '.join(lost)}"
        title = f"merge the {parent_label} {block} into this block"
        yield emit(ctx, child.at(block), message + " not inherited", WARNING, title, ops)


def _port_entry(
    ctx: RuleContext,
    entry: Level,
    parents: Mapping[str, tuple[Any, str]],
    extras_from: Mapping[str, Any],
) -> Iterator[Finding]:
    """A port entry inherits no block, nor `tunnel`/`proxyProtocol`/`retryBudget` for its port."""
    yield from _replaced_blocks(ctx, entry, parents)
    omitted = [b for b in BLOCKS if mapping(parents[b][0]) and not is_set(entry.policy, b)]
    if omitted:
        sources = " and ".join(sorted({parents[b][1] for b in omitted}))
        ops = [op for b in omitted for op in write_block_ops(entry, b, parents[b][0])]
        message = f"{entry.label} entry omits {', '.join(omitted)} set at {sources}"
        title = f"copy {', '.join(omitted)} into the port entry"
        yield emit(
            ctx, entry.pointer, message + ": port entries inherit nothing", WARNING, title, ops
        )
    dropped = [x for x in EXTRAS if is_set(extras_from, x)]
    if dropped:
        message = f"{entry.label} entry drops {', '.join(dropped)} for that port"
        yield emit(
            ctx, entry.pointer, message + " (a port entry carries only four blocks)", WARNING
        )
