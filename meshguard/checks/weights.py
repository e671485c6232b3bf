"""MG209: traffic split weights that are relative, out of range, or not the canary split.

Weights are relative shares: `weight/(sum of all weights)` (`istio-api virtual_service.proto`,
Istio ≥ 1.15) and `gwapi shared_types.go BackendRef.Weight`; an unset weight is 0 in a
VirtualService and 1 in an HTTPRoute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from meshguard.body import as_list
from meshguard.checks.routing import split_text
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.routes import Backend, routes_of
from meshguard.semantics.hosts import normalize_host

_GW_WEIGHT_MAX = 1_000_000  # gwapi shared_types.go BackendRef.Weight Maximum


class _Dest(NamedTuple):
    pointer: JsonPointer  # the list item
    weight: int  # effective weight (VS unset 0, HTTPRoute unset 1)
    explicit: bool
    canary_key: str | None  # VS: host, HTTPRoute: "service"; None when not a canary candidate
    variant: str  # VS subset / HTTPRoute backend name


@check("MG209")
def traffic_split_weights(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Weights are relative (virtual_service.proto "weight/(sum of all weights)", Istio ≥ 1.15
    commit ac641d08093; gwapi shared_types.go BackendRef.Weight), unset means 0 in a VS and 1 in
    an HTTPRoute; istio validation.go rejects negatives and a zero total across several."""
    if res.kind == "VirtualService":
        domain = str(ctx.params.get("mesh.domain_suffix"))
        for section in ("http", "tcp"):
            for i, rule in enumerate(as_list(res.spec.get(section))):
                route = rule.get("route") if isinstance(rule, dict) else None
                if isinstance(route, list) and route:
                    base = pointer("spec", section, i, "route")
                    yield from _vs_weights(res, base, route, domain, ctx)
    else:
        for rt in routes_of(res, str(ctx.params.get("mesh.domain_suffix"))):
            refs = rt.body.get("backendRefs")
            if isinstance(refs, list) and rt.backends and len(rt.backends) == len(refs):
                yield from _gateway_weights(rt.pointer + "/backendRefs", rt.backends, ctx)


def _vs_weights(
    res: Resource, base: JsonPointer, route: list[Any], domain: str, ctx: RuleContext
) -> Iterator[Finding]:
    dests: list[_Dest] = []
    for k, item in enumerate(route):
        if not isinstance(item, dict):
            return
        weight = item.get("weight")
        if weight is not None and (not isinstance(weight, int) or isinstance(weight, bool)):
            return  # not an int32: the API server rejects it, the sums mean nothing
        if weight is not None and weight < 0:
            ptr, message = base + pointer(k, "weight"), f"destination weight {weight} is negative"
            yield ctx.finding(ptr, message, severity=Severity.ERROR)
        dest = item.get("destination")
        dest = dest if isinstance(dest, dict) else {}
        host, subset = dest.get("host"), dest.get("subset")
        key = normalize_host(host, res.namespace, domain) if isinstance(host, str) else None
        variant = subset if isinstance(subset, str) else ""
        dests.append(
            _Dest(base + pointer(k), weight or 0, weight is not None, key or None, variant)
        )
    if any(d.weight < 0 for d in dests):
        return
    if len(dests) > 1 and sum(d.weight for d in dests) == 0:
        yield ctx.finding(
            base,
            f"{len(dests)} destinations with total weight 0 (an unset weight is 0)",
            severity=Severity.ERROR,
            fix=_canary_weights_fix(dests, ctx),
        )
        return
    yield from _relative_weights(base, dests, ctx)


def _gateway_weights(
    base: JsonPointer, refs: Sequence[Backend], ctx: RuleContext
) -> Iterator[Finding]:
    dests: list[_Dest] = []
    for b in refs:
        raw = 1 if b.weight is None else b.weight.value
        if not isinstance(raw, int) or isinstance(raw, bool):
            return
        if not 0 <= raw <= _GW_WEIGHT_MAX:
            yield ctx.finding(
                b.pointer + "/weight",
                f"backendRef weight {raw} is outside 0–{_GW_WEIGHT_MAX} (rejected by the CRD)",
                severity=Severity.ERROR,
            )
            return
        service = "service" if b.group in ("", "core") and b.kind == "Service" else None
        dests.append(_Dest(b.pointer, raw, b.weight is not None, service, b.name))
    if all(d.weight == 0 for d in dests):
        yield ctx.finding(
            base,
            f"all {len(dests)} backendRefs have weight 0: requests matching the rule get HTTP 500",
            severity=Severity.WARNING,
        )
        return
    yield from _relative_weights(base, dests, ctx)


def _relative_weights(
    base: JsonPointer, dests: Sequence[_Dest], ctx: RuleContext
) -> Iterator[Finding]:
    """Σ ≠ 100 info (≥ 2 destinations, one weight written) and the canary_split ratio info."""
    total = sum(d.weight for d in dests)
    if len(dests) >= 2 and any(d.explicit for d in dests) and total != 100:
        weights = ", ".join(str(d.weight) for d in dests)
        shares = ", ".join(f"{_percent(d.weight, total)}%" for d in dests)
        fix = _normalize_fix(dests) if ctx.params.get("normalize_weights") is True else None
        yield ctx.finding(
            base,
            f"weights {weights} sum to {total}, not 100: they are relative, each destination gets "
            f"weight/{total} ({shares})",
            severity=Severity.INFO,
            fix=fix,
        )
    split = ctx.params.get("canary_split")
    if len(dests) != 2 or not isinstance(split, list) or len(split) != 2:
        return
    a, b = dests
    one_host = a.canary_key is not None and a.canary_key == b.canary_key and a.variant != b.variant
    if one_host and a.weight > 0 and b.weight > 0 and a.weight * split[1] != b.weight * split[0]:
        yield ctx.finding(
            base,
            f"split {a.weight}/{b.weight} between {a.variant or '?'} and {b.variant or '?'} "
            f"differs from canary_split {split_text(split)}",
            severity=Severity.INFO,
        )


def _percent(weight: int, total: int) -> str:
    return f"{round(weight * 100 / total, 1):g}"


def _rescale(weights: Sequence[int], total: int = 100) -> tuple[list[int], bool]:
    """Largest-remainder rescale to integers summing to `total`; a non-zero weight stays ≥ 1.
    Returns (weights, exact) where exact means every ratio is kept."""
    whole = sum(weights)
    parts = [divmod(w * total, whole) for w in weights]
    shares = [q for q, _ in parts]
    order = sorted(range(len(weights)), key=lambda i: (-parts[i][1], i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    for i, w in enumerate(weights):
        if w > 0 and shares[i] == 0:
            shares[i] = 1
            shares[max(range(len(shares)), key=lambda n: shares[n])] -= 1
    return shares, all(r == 0 for _, r in parts)


def _weight_ops(dests: Sequence[_Dest], values: Sequence[int]) -> tuple[dict[str, Any], ...]:
    ops = []
    for dest, value in zip(dests, values, strict=True):
        if value != (dest.weight if dest.explicit else 0):
            op = "replace" if dest.explicit else "add"
            ops.append({"op": op, "path": dest.pointer + "/weight", "value": value})
    return tuple(ops)


def _normalize_fix(dests: Sequence[_Dest]) -> Fix:
    values, exact = _rescale([d.weight for d in dests])
    title = f"rescale weights to {'/'.join(map(str, values))}"
    return Fix(title, _weight_ops(dests, values), safety=Safety.SAFE if exact else Safety.UNSAFE)


def _canary_weights_fix(dests: Sequence[_Dest], ctx: RuleContext) -> Fix | None:
    """Weights from canary_split, only when every weight is missing and the counts agree."""
    split = ctx.params.get("canary_split")
    if any(d.explicit for d in dests) or not isinstance(split, list) or len(split) != len(dests):
        return None
    if not all(isinstance(s, int) and s >= 0 for s in split) or sum(split) == 0:
        return None
    ops = _weight_ops(dests, split)
    return Fix(f"set weights {split_text(split)} (canary_split)", ops, safety=Safety.UNSAFE)
