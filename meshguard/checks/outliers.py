"""MG303: DestinationRules for inference hosts without outlier detection, or with outlier
detection that can eject the only replica; invalid outlierDetection fields everywhere.

The effective block of each (subset, Service port) is resolved as istiod does
(`_traffic_policy.py`), and reported once at the level that decides it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.body import dig, integer
from meshguard.checks._traffic_policy import (
    Decision,
    Level,
    Target,
    block_subject,
    decisions,
    emit,
    is_set,
    mapping,
    mesh_default_block,
    policy_of,
    profile,
    set_op,
    target_of,
    write_block_ops,
)
from meshguard.model import Finding, JsonPointer, Resource, Severity
from meshguard.registry import RuleContext, check
from meshguard.semantics.durations import istio_duration_ns

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
# destination_rule.proto OutlierDetection defaults, compared with the profile when unset
_OUTLIER_DEFAULTS = {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"}
_OUTLIER_DEFAULTS["maxEjectionPercent"] = 10


@check("MG303")
def outlier_detection_missing_or_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """`validation.go: validateOutlierDetection` (deprecated `consecutiveErrors`, local-origin
    split, percents); Envoy ejects at least one host whatever `max_ejection_percent` says and
    Istio sets `HealthyPanicThreshold = minHealthPercent` (`applyOutlierDetection`), so a pool can
    be fully ejected; without outlier detection a failing GPU replica keeps receiving requests."""
    policy = policy_of(res)
    for level in policy.levels():
        block = mapping(level.block("outlierDetection"))
        if block is not None:
            yield from _outlier_fields(level, block, ctx)
    target = target_of(res, ctx)
    if target is None or not target.inference:
        return
    mesh = mesh_default_block(ctx, "outlierDetection")
    for decision, _ in decisions(policy, "outlierDetection", target.port_list(policy), mesh):
        block = mapping(decision.value)
        ptr, where = block_subject(res, decision)
        if decision.value is None and not target.single_replica:
            prof = profile(ctx, "outlier_detection")
            ops = write_block_ops(decision.level, "outlierDetection", prof)
            message = f"inference host {target.host} has no outlierDetection ({where})"
            yield emit(ctx, ptr, message, WARNING, "add the outlier_detection profile", ops)
        elif _ejects_only_replica(decision, target):
            message = f"{where} can eject the only replica of inference host {target.host}"
            yield emit(ctx, ptr, message + " (minHealthPercent unset)", WARNING)
        if (
            block is not None
            and decision.block_pointer
            and ctx.params.get("enforce_profile_values")
        ):
            yield from _outlier_profile(ctx, decision.level.label, decision.block_pointer, block)


def _panic_off(block: Mapping[str, Any]) -> bool:
    """Istio sets Envoy's healthy panic threshold to `minHealthPercent`; unset or 0 disables it."""
    return (integer(block.get("minHealthPercent")) or 0) <= 0


def _ejects_only_replica(decision: Decision, target: Target) -> bool:
    """(5) for a single-replica host; a DR block with maxEjectionPercent 100 is already reported."""
    block = mapping(decision.value)
    if block is None or not target.single_replica or not _panic_off(block):
        return False
    return integer(block.get("maxEjectionPercent")) != 100 or decision.from_mesh


def _outlier_fields(level: Level, block: Mapping[str, Any], ctx: RuleContext) -> Iterator[Finding]:
    """Per-block conditions (2), (3), (4), (5: maxEjectionPercent 100) and (6)."""
    at, base = f"{level.label} outlierDetection", level.at("outlierDetection")
    deprecated = block.get("consecutiveErrors")
    if deprecated is not None and deprecated != 0:
        ops: list[Mapping[str, Any]] = [{"op": "remove", "path": f"{base}/consecutiveErrors"}]
        if not is_set(block, "consecutiveGatewayErrors"):
            ops.append(
                {"op": "add", "path": f"{base}/consecutiveGatewayErrors", "value": deprecated}
            )
        message = f"{at}.consecutiveErrors {deprecated} is deprecated and ignored by istiod"
        title = "rename consecutiveErrors to consecutiveGatewayErrors"
        yield emit(ctx, f"{base}/consecutiveErrors", message, WARNING, title, ops)
    local = integer(block.get("consecutiveLocalOriginFailures"))
    if local and local > 0 and block.get("splitExternalLocalOriginErrors") is not True:
        message = (
            f"{at}.consecutiveLocalOriginFailures is {local} without splitExternalLocalOriginErrors"
        )
        ops = [set_op(base, block, "splitExternalLocalOriginErrors", True)]
        ptr = f"{base}/consecutiveLocalOriginFailures"
        yield emit(ctx, ptr, message, ERROR, "set splitExternalLocalOriginErrors to true", ops)
    for key in ("maxEjectionPercent", "minHealthPercent"):
        value = integer(block.get(key))
        if value is not None and not 0 <= value <= 100:
            yield emit(ctx, f"{base}/{key}", f"{at}.{key} {value} is outside 0..100", ERROR)
    if integer(block.get("maxEjectionPercent")) == 100 and _panic_off(block):
        wanted = integer(dig(profile(ctx, "outlier_detection"), "maxEjectionPercent"))
        title = (
            f"set maxEjectionPercent to {wanted}" if wanted is not None and 0 < wanted < 100 else ""
        )
        ops = [{"op": "replace", "path": f"{base}/maxEjectionPercent", "value": wanted}]
        message = f"{at}.maxEjectionPercent 100 with minHealthPercent unset can eject every host"
        yield emit(ctx, f"{base}/maxEjectionPercent", message, WARNING, title, ops)
    gateway, server = (
        integer(block.get("consecutiveGatewayErrors")),
        integer(block.get("consecutive5xxErrors")),
    )
    if gateway and server and gateway >= server:
        message = (
            f"{at}.consecutiveGatewayErrors {gateway} >= consecutive5xxErrors {server}: no effect"
        )
        yield emit(ctx, f"{base}/consecutiveGatewayErrors", message, INFO)


def _same(key: str, value: Any, wanted: Any) -> bool:
    if key in ("interval", "baseEjectionTime") and value != wanted:
        ns = istio_duration_ns(value)
        return ns is not None and ns == istio_duration_ns(wanted)
    return bool(value == wanted)


def _outlier_profile(
    ctx: RuleContext, label: str, base: JsonPointer, block: Mapping[str, Any]
) -> Iterator[Finding]:
    """(7): each profile field whose value (or Istio default when unset) is not the profile's."""
    for key, wanted in profile(ctx, "outlier_detection").items():
        value = block.get(key)
        shown = value if value is not None else _OUTLIER_DEFAULTS.get(key)
        if (
            shown is None
            or _same(key, shown, wanted)
            or (key, value) == ("maxEjectionPercent", 100)
        ):
            continue  # maxEjectionPercent 100 is reported by (5)
        origin = "" if value is not None else " (istio default)"
        message = f"{label} outlierDetection.{key} is {shown}{origin}, profile {wanted}"
        ptr = f"{base}/{key}" if key in block else base
        yield emit(
            ctx, ptr, message, INFO, f"set {key} to {wanted}", [set_op(base, block, key, wanted)]
        )
