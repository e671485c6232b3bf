"""DestinationRule traffic-policy semantics shared by MG301–MG305.

Istio resolves the policy of one (subset, Service port) in two steps
(`istio pilot/pkg/networking/util/util.go: MergeSubsetTrafficPolicy`):

1. `GetPortLevelTrafficPolicy`: a `portLevelSettings[]` entry whose `port.number` equals the
   **Service port** replaces the whole policy with a shadow copy of its four blocks
   (`shadowCopyPortTrafficPolicy`: connectionPool, loadBalancer, outlierDetection, tls — nothing
   else, and nothing inherited);
2. `model.MergeTrafficPolicy(dr, subset, hasPortLevel)` (`pilot/pkg/model/destination_rule.go`):
   each block the subset sets replaces the DR block *wholesale*; with a subset port entry every one
   of the four blocks comes from that entry, set or not.

From Istio 1.31 `cluster_traffic_policy.go: applyDefaultTrafficPolicy` then fills an unset
`connectionPool` / `outlierDetection` block from `meshConfig.defaultTrafficPolicy` (istio
`79bca08e748`), block-wise. A `Decision` records the level that decided a block (where a fix must
write), so MG301/MG303/MG304 report each level once however many (subset, port) pairs it governs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from meshguard.body import as_list, dig, integer
from meshguard.checks._refs import service_entries
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext
from meshguard.semantics.hosts import is_wildcard, normalize_host
from meshguard.semantics.injection import sidecar_injected
from meshguard.semantics.protocols import KNOWN, SNIFFED, port_protocol
from meshguard.semantics.retryon import istio_version

BLOCKS = ("connectionPool", "outlierDetection", "loadBalancer", "tls")
EXTRAS = ("tunnel", "proxyProtocol", "retryBudget")  # dropped by shadowCopyPortTrafficPolicy
MESH_DEFAULT_SINCE = (1, 31)  # istio 79bca08e748, first tagged 1.31.0-alpha.0
# istio pkg/config/protocol/instance.go: IsHTTP (ports the mesh h2UpgradePolicy applies to)
HTTP_PROTOCOLS = frozenset({"http", "http2", "http_proxy", "grpc", "grpc-web"})
INFERENCE_POOL_LABEL = "istio.io/inferencepool-name"  # gateway/inferencepool_collection.go

# Fields of one message that cannot be combined (proto `oneof`s and pairs rejected together by
# validation.go / agent.ValidateTLS); a child that sets one member does not "lose" the others.
_EXCLUSIVE: dict[tuple[str, ...], tuple[frozenset[str], ...]] = {
    ("loadBalancer",): (
        frozenset({"simple", "consistentHash"}),
        frozenset({"localityLbSetting", "zoneAwareLbSetting"}),
        frozenset({"warmupDurationSecs", "warmup"}),
    ),
    ("loadBalancer", "consistentHash"): (
        frozenset({"httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"}),
        frozenset({"ringHash", "maglev", "minimumRingSize"}),
    ),
    ("connectionPool", "http"): (frozenset({"h2UpgradePolicy", "useClientProtocol"}),),
    ("tls",): (
        frozenset({"credentialName", "clientCertificate", "privateKey", "caCertificates", "caCrl"}),
    ),
}


def mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None


def is_set(policy: Mapping[str, Any] | None, key: str) -> bool:
    """Go sees a message field as set when it is present and not null (jsonpb)."""
    return policy is not None and policy.get(key) is not None


# -- levels ----------------------------------------------------------------------------------


class Level(NamedTuple):
    """One traffic-policy object of a DR: top level, a port entry, a subset, a subset port entry."""

    pointer: JsonPointer
    policy: Mapping[str, Any] | None  # None: absent (only the top level can be absent)
    label: str  # "top-level", "port 80", "subset v2", "subset v2 port 80"
    is_port: bool = False
    subset: str | None = None

    def block(self, name: str) -> Any:
        return self.policy.get(name) if self.policy is not None else None

    def at(self, *tokens: str | int) -> JsonPointer:
        return self.pointer + pointer(*tokens)


def _port_levels(parent: Level) -> list[tuple[int | None, Level]]:
    entries = parent.block("portLevelSettings")
    if not isinstance(entries, list):
        return []
    out = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict):
            number = integer(dig(entry, "port", "number"))
            prefix = "" if parent.subset is None else f"subset {parent.subset} "
            label = f"{prefix}port {number if number is not None else '?'}"
            level = Level(parent.at("portLevelSettings", i), entry, label, True, parent.subset)
            out.append((number, level))
    return out


class Policy(NamedTuple):
    """The levels of one DestinationRule, indexed for (subset, port) resolution."""

    top: Level
    top_ports: tuple[tuple[int | None, Level], ...]
    subsets: tuple[tuple[Level, tuple[tuple[int | None, Level], ...]], ...]  # subsets with a policy

    def levels(self) -> Iterator[Level]:
        """Every policy object present, for per-object (validation-style) checks."""
        if self.top.policy is not None:
            yield self.top
        for _, level in self.top_ports:
            yield level
        for sub, ports in self.subsets:
            yield sub
            for _, level in ports:
                yield level

    def port_numbers(self) -> set[int]:
        numbers = {n for n, _ in self.top_ports if n is not None}
        for _, ports in self.subsets:
            numbers.update(n for n, _ in ports if n is not None)
        return numbers


def policy_of(res: Resource) -> Policy:
    spec = res.spec
    # a non-mapping trafficPolicy (a schema error) is treated as absent
    top = Level("/spec/trafficPolicy", mapping(spec.get("trafficPolicy")), "top-level")
    subsets = []
    items = spec.get("subsets")
    for i, subset in enumerate(items if isinstance(items, list) else []):
        sub_policy = mapping(subset.get("trafficPolicy")) if isinstance(subset, dict) else None
        if sub_policy is None or not isinstance(subset, dict):
            continue
        name = str(subset.get("name", i))
        ptr = pointer("spec", "subsets", i, "trafficPolicy")
        level = Level(ptr, sub_policy, f"subset {name}", False, name)
        subsets.append((level, tuple(_port_levels(level))))
    return Policy(top, tuple(_port_levels(top)), tuple(subsets))


def _find(ports: tuple[tuple[int | None, Level], ...], port: int | None) -> Level | None:
    if port is None:
        return None
    return next((level for number, level in ports if number == port), None)


class Decision(NamedTuple):
    """The block in effect for some (subset, port) pairs, and the level that decided it."""

    level: Level  # where the block lives, or would be written
    value: Any  # the block (DR or mesh), None when unset everywhere
    from_mesh: bool = False
    name: str = ""  # the block's field name

    @property
    def block_pointer(self) -> JsonPointer | None:
        """Pointer of the DR block, when the DR sets it."""
        in_dr = not self.from_mesh and self.value is not None
        return self.level.pointer + "/" + self.name if in_dr else None


def decide(policy: Policy, block: str, subset: Level | None, port: int | None) -> Decision:
    """`MergeSubsetTrafficPolicy` for one block: the deciding level and its value."""
    orig = _find(policy.top_ports, port) or policy.top
    if subset is not None:
        sub_ports = next(ports for level, ports in policy.subsets if level is subset)
        sub_port = _find(sub_ports, port)
        chosen = sub_port or subset
        if sub_port is not None or is_set(chosen.policy, block):
            return Decision(chosen, chosen.block(block), name=block)
    return Decision(orig, orig.block(block), name=block)


def decisions(
    policy: Policy, block: str, ports: list[int | None], mesh_block: Any = None
) -> list[tuple[Decision, list[tuple[str | None, int | None]]]]:
    """Each distinct deciding level of `block` over all (subset, port) pairs, with the pairs."""
    out: dict[JsonPointer, tuple[Decision, list[tuple[str | None, int | None]]]] = {}
    for subset in (None, *(level for level, _ in policy.subsets)):
        for port in ports:
            found = decide(policy, block, subset, port)
            if found.value is None and mesh_block is not None:
                found = Decision(found.level, mesh_block, True, block)
            entry = out.setdefault(found.level.pointer, (found, []))
            entry[1].append((subset.subset if subset else None, port))
    return list(out.values())


def location(res: Resource, level: Level) -> JsonPointer:
    """Where to report something about a level: the level, or `spec.host` when it is absent."""
    if level.policy is not None:
        return level.pointer
    return "/spec/host" if "host" in res.spec else "/spec"


# -- fixes -----------------------------------------------------------------------------------


def diff_ops(
    ptr: JsonPointer, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Minimal RFC 6902 operations turning mapping `old` (at `ptr`) into `new`."""
    ops: list[dict[str, Any]] = []
    for key, value in new.items():
        path = ptr + pointer(key)
        if key not in old:
            ops.append({"op": "add", "path": path, "value": value})
        elif isinstance(old[key], dict) and isinstance(value, dict):
            ops.extend(diff_ops(path, old[key], value))
        elif old[key] != value:
            ops.append({"op": "replace", "path": path, "value": value})
    ops.extend({"op": "remove", "path": ptr + pointer(k)} for k in old if k not in new)
    return ops


def write_block_ops(level: Level, block: str, new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Operations that make `level`'s `block` equal to `new` (creating the level if absent)."""
    if level.policy is None:
        return [{"op": "add", "path": level.pointer, "value": {block: dict(new)}}]
    current = level.policy.get(block)
    if isinstance(current, dict):
        return diff_ops(level.pointer + "/" + block, current, new)
    op = "add" if block not in level.policy else "replace"
    return [{"op": op, "path": level.pointer + "/" + block, "value": dict(new)}]


def deep_merge(
    parent: Mapping[str, Any], child: Mapping[str, Any], path: tuple[str, ...]
) -> dict[str, Any]:
    """`child` with `parent`'s fields filled in (child wins), respecting exclusive fields."""
    out = dict(child)
    groups = _EXCLUSIVE.get(path, ())
    for key, value in parent.items():
        if value is None:
            continue
        if key in child and child[key] is not None:
            if isinstance(value, dict) and isinstance(child[key], dict):
                out[key] = deep_merge(value, child[key], (*path, key))
            continue
        if any(key in g and any(is_set(child, k) for k in g) for g in groups):
            continue
        out[key] = value
    return out


def lost_fields(
    parent: Mapping[str, Any], child: Mapping[str, Any], path: tuple[str, ...]
) -> list[str]:
    """Dotted leaf fields `parent` sets that a wholesale replacement by `child` drops."""
    if path == ("tls",) and is_set(child, "mode") and child.get("mode") != parent.get("mode"):
        return []  # another TLS mode: the parent's settings belong to the mode being replaced
    lost: list[str] = []
    groups = _EXCLUSIVE.get(path, ())
    for key, value in parent.items():
        if value is None:
            continue
        if is_set(child, key):
            if isinstance(value, dict) and isinstance(child[key], dict):
                lost.extend(
                    f"{key}.{leaf}" for leaf in lost_fields(value, child[key], (*path, key))
                )
            continue
        if any(key in g and any(is_set(child, k) for k in g) for g in groups):
            continue
        lost.extend(_leaves(value, key + ".") if isinstance(value, dict) else [key])
    return lost


def _leaves(value: Mapping[str, Any], prefix: str) -> list[str]:
    out: list[str] = []
    for key, sub in value.items():
        if isinstance(sub, dict) and sub:
            out.extend(_leaves(sub, f"{prefix}{key}."))
        elif sub is not None:
            out.append(prefix + key)
    return out


# -- findings ------------------------------------------------------------------------------


def emit(
    ctx: RuleContext,
    ptr: JsonPointer,
    message: str,
    severity: Severity,
    title: str = "",
    ops: Iterable[Mapping[str, Any]] = (),
    safety: Safety = Safety.UNSAFE,
) -> Finding:
    """A finding whose fix (when `title` is given) is the RFC 6902 `ops`."""
    fix = Fix(title, tuple(ops), safety=safety) if title else None
    return ctx.finding(ptr, message, severity=severity, fix=fix)


def set_op(ptr: JsonPointer, parent: Mapping[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set `key` of the mapping at `ptr` (`parent`); an empty key replaces `ptr` itself."""
    path = f"{ptr}/{key}" if key else ptr
    return {"op": "replace" if key in parent or not key else "add", "path": path, "value": value}


def block_subject(res: Resource, decision: Decision) -> tuple[str, str]:
    """(pointer, subject) of the block a decision is about."""
    block, label = decision.name, decision.level.label
    if decision.from_mesh:
        subject = f"mesh defaultTrafficPolicy.{block} inherited by {label}"
        return location(res, decision.level), subject
    if decision.block_pointer is not None:
        return decision.block_pointer, f"{label} {block}"
    return location(res, decision.level), f"{label} policy"


# -- parameters and mesh config --------------------------------------------------------------


def profile(ctx: RuleContext, name: str) -> Mapping[str, Any]:
    value = ctx.params.get(name)
    return value if isinstance(value, dict) else {}


def mesh_default_block(ctx: RuleContext, block: str) -> Mapping[str, Any] | None:
    """`meshConfig.defaultTrafficPolicy.<block>`, only where istiod applies it (Istio ≥ 1.31)."""
    if istio_version(ctx.params) < MESH_DEFAULT_SINCE:
        return None
    return mapping(ctx.inventory.mesh_value("defaultTrafficPolicy", block))


# -- the destination behind a DestinationRule ------------------------------------------------


class Port(NamedTuple):
    """A Service or ServiceEntry port; `protocol` as `semantics.protocols` computes it."""

    number: int | None
    name: str
    protocol: str


class Target(NamedTuple):
    """What a DR's `spec.host` resolves to in the run (RULES.md P5)."""

    host: str
    service: Resource | None
    entry: Resource | None  # ServiceEntry
    ports: tuple[Port, ...]
    outside_mesh: bool | None  # None: unknown
    inference: bool
    single_replica: bool

    @property
    def resolved(self) -> bool:
        return self.service is not None or self.entry is not None

    def port_list(self, policy: Policy) -> list[int | None]:
        """Ports to resolve policies for: the Service's, else every port entry plus "any other"."""
        numbers = [p.number for p in self.ports if p.number is not None]
        if numbers:
            return list(dict.fromkeys(numbers))
        return [*sorted(policy.port_numbers()), None]


def target_of(res: Resource, ctx: RuleContext) -> Target | None:
    """The destination of a DR's `spec.host`, resolved once per host per run."""
    raw = res.spec.get("host")
    if not isinstance(raw, str) or not raw:
        return None
    host = normalize_host(raw, res.namespace, str(ctx.params.get("mesh.domain_suffix")))
    cache: dict[str, Target] = ctx.inventory.memo("resilience:targets", dict)
    if host not in cache:
        cache[host] = _resolve(host, ctx)
    return cache[host]


def _resolve(host: str, ctx: RuleContext) -> Target:
    service = None if is_wildcard(host) else ctx.inventory.service_by_host(host)
    if service is not None:
        ports = _ports(service, "port", port_protocol)
        shadow = INFERENCE_POOL_LABEL in service.labels or _owned_by_pool(service)
        inference = not shadow and host in ctx.inventory.inference_hosts
        outside = _service_outside_mesh(ctx, service)
        return Target(host, service, None, ports, outside, inference, _single_replica(ctx, service))
    entries = service_entries(ctx.inventory).get(host)
    if not entries:
        return Target(host, None, None, (), None, False, False)
    found = entries[0]
    outside = True if found.spec.get("location", "MESH_EXTERNAL") != "MESH_INTERNAL" else None
    return Target(
        host, None, found, _ports(found, "number", _entry_protocol), outside, False, False
    )


def _ports(
    res: Resource, key: str, protocol: Callable[[Mapping[str, Any]], str]
) -> tuple[Port, ...]:
    items = [p for p in as_list(res.spec.get("ports")) if isinstance(p, dict)]
    return tuple(Port(integer(p.get(key)), str(p.get("name") or ""), protocol(p)) for p in items)


def _owned_by_pool(service: Resource) -> bool:
    """Istio's InferencePool shadow Service (`<pool>-ip-<hash>`, owned by the pool)."""
    owners = service.metadata.get("ownerReferences")
    return any(isinstance(o, dict) and o.get("kind") == "InferencePool" for o in as_list(owners))


def _entry_protocol(port: Mapping[str, Any]) -> str:
    """ServiceEntry ports name their protocol (`HTTP`, `GRPC`); `protocol.Parse` ignores case."""
    protocol = str(port.get("protocol") or "").lower()
    return protocol if protocol in KNOWN else SNIFFED


def _service_outside_mesh(ctx: RuleContext, service: Resource) -> bool | None:
    """True when no selected pod gets a sidecar (or the Service is ExternalName); None: unknown."""
    if service.spec.get("type") == "ExternalName":
        return True
    selector = mapping(service.spec.get("selector"))
    if not selector:
        return None
    inv = ctx.inventory
    states = {
        sidecar_injected(inv, w.namespace, w.labels, w.annotations, w.pod_spec)
        for w in inv.workloads_selected(service.namespace, selector)
    }
    if not states or (None in states and True not in states):
        return None
    return True not in states


_REPLICATED = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


def _single_replica(ctx: RuleContext, service: Resource) -> bool:
    """MG303(5): the selected pod templates run one replica in all, and no autoscaler adds more."""
    selector = mapping(service.spec.get("selector"))
    workloads = ctx.inventory.workloads_selected(service.namespace, selector) if selector else []
    if not workloads:
        return False
    scaled = ctx.inventory.memo("resilience:autoscaled", lambda: _autoscaled(ctx))
    total = 0
    for workload in workloads:
        res = workload.resource
        if res.kind == "Pod" and res.group == "":
            total += 1
            continue
        if res.kind not in _REPLICATED or (res.namespace, res.kind, res.name) in scaled:
            return False
        replicas = res.spec.get("replicas", 1)
        if integer(replicas) is None:
            return False
        total += int(replicas)
    return total <= 1


def _autoscaled(ctx: RuleContext) -> frozenset[tuple[str, str, str]]:
    """(namespace, kind, name) of controllers an HPA or KEDA ScaledObject can scale above 1."""
    out: set[tuple[str, str, str]] = set()
    hpas = ctx.inventory.of_kind("autoscaling", "HorizontalPodAutoscaler")
    sources: list[tuple[Resource, str, int | None]] = [(r, "maxReplicas", None) for r in hpas]
    sources += [
        (r, "maxReplicaCount", 100) for r in ctx.inventory.of_kind("keda.sh", "ScaledObject")
    ]
    for res, key, default in sources:
        ref = mapping(res.spec.get("scaleTargetRef")) or {}
        maximum = integer(res.spec.get(key, default))
        if maximum is not None and maximum <= 1:
            continue
        out.add((res.namespace, str(ref.get("kind", "Deployment")), str(ref.get("name", ""))))
    return frozenset(out)
