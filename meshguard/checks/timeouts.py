"""MG201, MG203, MG206: duration and retryOn literals, and route timeouts.

MG203 (retryOn tokens) sits here beside MG201 as the other literal-syntax rule, which keeps
retries.py (MG202, MG204, MG205: retry behaviour) under the module size limit.

Istio and Gateway API spell durations differently (RULES.md §6 item 1): Istio takes Go
`time.ParseDuration` strings of at least 1ms in whole milliseconds (P1), Gateway API takes
GEP-2257 strings without decimals (P2), where `0s` disables a timeout. Both grammars live in
`meshguard.semantics.durations`; this module only walks the fields and decides.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.routes import Route, Value, is_embeddings_route, is_llm_route, routes_of
from meshguard.semantics.durations import (
    NS_PER_MS,
    NS_PER_S,
    gateway_duration_error,
    gateway_duration_ns,
    istio_duration_error,
    istio_duration_ns,
    suggest_gateway_duration,
)
from meshguard.semantics.retryon import istio_version, retry_on_duplicates, retry_on_errors

# VirtualService spec.http[] duration fields (istio-api virtual_service.proto).
_VS_FIELDS: tuple[tuple[str, ...], ...] = (
    ("timeout",),
    ("retries", "perTryTimeout"),
    ("retries", "backoff"),
    ("fault", "delay", "fixedDelay"),
    ("fault", "delay", "exponentialDelay"),
    ("corsPolicy", "maxAge"),
)
# DestinationRule TrafficPolicy (and portLevelSettings[]) duration fields (destination_rule.proto).
_DR_FIELDS: tuple[tuple[str, ...], ...] = (
    ("connectionPool", "tcp", "connectTimeout"),
    ("connectionPool", "tcp", "maxConnectionDuration"),
    ("connectionPool", "tcp", "idleTimeout"),
    ("connectionPool", "tcp", "tcpKeepalive", "time"),
    ("connectionPool", "tcp", "tcpKeepalive", "interval"),
    ("connectionPool", "http", "idleTimeout"),
    ("connectionPool", "http", "http2KeepAlive", "interval"),
    ("connectionPool", "http", "http2KeepAlive", "timeout"),
    ("outlierDetection", "interval"),
    ("outlierDetection", "baseEjectionTime"),
    ("loadBalancer", "warmup", "duration"),
    ("loadBalancer", "warmupDurationSecs"),
)
# Blocks whose listed children `validation.go` requires once the block is present.
_DR_REQUIRED: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("connectionPool", "http", "http2KeepAlive"), ("interval", "timeout")),
    (("loadBalancer", "warmup"), ("duration",)),
)
_TCP_IDLE = ("connectionPool", "tcp", "idleTimeout")
# HTTPRoute spec.rules[] duration fields (gwapi apis/v1/httproute_types.go).
_GW_FIELDS: tuple[tuple[str, ...], ...] = (
    ("timeouts", "request"),
    ("timeouts", "backendRequest"),
    ("retry", "backoff"),
    ("sessionPersistence", "absoluteTimeout"),
    ("sessionPersistence", "idleTimeout"),
)


def _dig(data: Any, tokens: tuple[str, ...]) -> tuple[bool, Any]:
    for token in tokens:
        if not isinstance(data, dict) or token not in data:
            return False, None
        data = data[token]
    return True, data


# -- MG201 -----------------------------------------------------------------------------------


@check("MG201")
def duration_literal_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio: CRD `type: string` + CEL `duration(self) >= duration('1ms')` and
    `agent.ValidateDuration` (≥ 1ms, whole ms); Gateway API: GEP-2257 pattern
    (`gwapi apis/v1/shared_types.go: Duration`)."""
    if res.kind == "VirtualService":
        yield from _virtual_service_durations(res, ctx)
    elif res.kind == "DestinationRule":
        yield from _destination_rule_durations(res, ctx)
    elif res.kind == "HTTPRoute":
        yield from _httproute_durations(res, ctx)


def _istio_finding(
    value: Any, ptr: JsonPointer, name: str, ctx: RuleContext, *, idle: bool = False
) -> Finding | None:
    if value is None:
        return None  # the API server drops null fields
    reason = istio_duration_error(value, idle_timeout=idle)
    if reason is None and name == "maxAge":
        # validation.go validateCORSPolicy: "max_age duration is accurate only to seconds precision"
        ns = istio_duration_ns(value)
        if ns is not None and ns % NS_PER_S:
            reason = f"{value} is not a whole number of seconds"
    if reason is not None and name == "warmupDurationSecs":
        # Only the CRD's CEL (>= 1ms) guards this deprecated field; validation.go never calls
        # ValidateDuration on it, so sub-millisecond precision is accepted.
        ns = istio_duration_ns(value)
        reason = None if ns is not None and ns >= NS_PER_MS else reason
    if reason is None:
        return None
    return ctx.finding(
        ptr,
        f"{name} {_show(value)} is not a valid istio duration: {_reason(reason)}",
        severity=Severity.ERROR,
    )


def _reason(reason: str) -> str:
    """The semantics reason without its cure (`; write "30s"`): cures belong in fix.summary."""
    return reason.split("; ", 1)[0]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (dict, list)):
        return f"({type(value).__name__})"
    return str(value)


def _virtual_service_durations(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    for route in routes_of(res, str(ctx.params.get("mesh.domain_suffix"))):
        for tokens in _VS_FIELDS:
            field = route.field(*tokens)
            if field is not None:
                finding = _istio_finding(field.value, field.pointer, tokens[-1], ctx)
                if finding is not None:
                    yield finding


def _traffic_policies(spec: Mapping[str, Any]) -> Iterator[tuple[JsonPointer, Mapping[str, Any]]]:
    """Top-level and subset traffic policies, each followed by its portLevelSettings[]."""
    policies: list[tuple[JsonPointer, Any]] = [("/spec/trafficPolicy", spec.get("trafficPolicy"))]
    subsets = spec.get("subsets")
    for i, subset in enumerate(subsets if isinstance(subsets, list) else []):
        if isinstance(subset, dict):
            policies.append(
                (pointer("spec", "subsets", i, "trafficPolicy"), subset.get("trafficPolicy"))
            )
    for ptr, policy in policies:
        if not isinstance(policy, dict):
            continue
        yield ptr, policy
        ports = policy.get("portLevelSettings")
        for j, port in enumerate(ports if isinstance(ports, list) else []):
            if isinstance(port, dict):
                yield ptr + pointer("portLevelSettings", j), port


def _destination_rule_durations(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    for base, policy in _traffic_policies(res.spec):
        for tokens in _DR_FIELDS:
            present, value = _dig(policy, tokens)
            if present:
                finding = _istio_finding(
                    value, base + pointer(*tokens), tokens[-1], ctx, idle=tokens == _TCP_IDLE
                )
                if finding is not None:
                    yield finding
        for block_tokens, required in _DR_REQUIRED:
            present, block = _dig(policy, block_tokens)
            if not present or not isinstance(block, dict):
                continue
            missing = [k for k in required if block.get(k) is None]
            if missing:
                yield ctx.finding(
                    base + pointer(*block_tokens),
                    f"{block_tokens[-1]} is set without {' and '.join(missing)}",
                    severity=Severity.ERROR,
                )


def _httproute_durations(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    unit = ctx.params.get("assume_bare_int_unit")
    for route in routes_of(res, str(ctx.params.get("mesh.domain_suffix"))):
        for tokens in _GW_FIELDS:
            field = route.field(*tokens)
            if field is None or field.value is None:
                continue
            reason = gateway_duration_error(field.value)
            if reason is None:
                continue
            yield ctx.finding(
                field.pointer,
                f"{tokens[-1]} {_show(field.value)} is not a valid gateway api duration: "
                f"{_reason(reason)}",
                severity=Severity.ERROR,
                fix=_gateway_fix(field.value, field.pointer, unit),
            )


def _gateway_fix(value: Any, ptr: JsonPointer, unit: Any) -> Fix | None:
    """Canonical GEP-2257 for a valid Go duration (`1.5s` → `1500ms`); a bare integer only with
    `assume_bare_int_unit` (RULES.md MG201 auto-fix). Same duration, so safe."""
    text: str | None = None
    if isinstance(value, str) and istio_duration_ns(value) is not None:
        text = suggest_gateway_duration(value)
    elif (
        isinstance(value, int)
        and not isinstance(value, bool)
        and isinstance(unit, str)
        and value >= 0
    ):
        candidate = f"{value}{unit}"
        text = (
            candidate
            if gateway_duration_error(candidate) is None
            else suggest_gateway_duration(candidate)
        )
    if text is None or gateway_duration_error(text) is not None:
        return None
    return Fix.replace(ptr, text, f"write {text}")


# -- MG203 -----------------------------------------------------------------------------------


@check("MG203")
def retry_on_tokens_invalid(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Istio splits retryOn on `,` without trimming and accepts only its policy names or HTTP
    status integers (`agent/validation.go: supportedRetryOnPolicies`, `strconv.Atoi`)."""
    for field, fixable in _retry_on_fields(res, ctx):
        finding = _check_retry_on(field, fixable, ctx)
        if finding is not None:
            yield finding


def _retry_on_fields(res: Resource, ctx: RuleContext) -> list[tuple[Value, bool]]:
    """(retryOn value, fixable) of VS routes or a mesh config source (Helm values, IstioOperator,
    the `istio` ConfigMap; `meshguard.meshconfig`)."""
    if res.kind == "VirtualService":
        fields = [
            r.retry_field("retryOn")
            for r in routes_of(res, str(ctx.params.get("mesh.domain_suffix")))
            if r.api == "istio"
        ]
        return [(f, True) for f in fields if f is not None]
    source = ctx.inventory.mesh_source_of(res)
    policy = source.mesh.get("defaultHttpRetryPolicy") if source is not None else None
    value = policy.get("retryOn") if isinstance(policy, dict) else None
    if source is None or value is None:
        return []
    if source.mesh_is_string:  # inside the `mesh` string: reported there, never patched
        return [(Value(value, source.mesh_pointer), False)]
    return [(Value(value, source.mesh_pointer + "/defaultHttpRetryPolicy/retryOn"), True)]


def _check_retry_on(field: Value, fixable: bool, ctx: RuleContext) -> Finding | None:
    value = field.value
    version = istio_version(ctx.params)
    if not isinstance(value, str):
        return _non_string_retry_on(field, fixable, version, ctx)
    if value == "":
        return None  # Go skips validation of an empty retryOn; Istio applies its default
    errors = retry_on_errors(value, version)
    normalised = _normalise_retry_on(value, version) if fixable else None
    if errors:
        listed = "; ".join(reason for _, reason in errors)
        fix = None
        if normalised is not None:
            fix = Fix.replace(field.pointer, normalised, f'set retryOn to "{normalised}"')
        return ctx.finding(
            field.pointer,
            f'retryOn "{value}" is rejected: {listed}',
            severity=Severity.ERROR,
            fix=fix,
        )
    duplicates = retry_on_duplicates(value)
    if duplicates:
        fix = (
            None
            if normalised is None
            else Fix.replace(field.pointer, normalised, f'set retryOn to "{normalised}"')
        )
        return ctx.finding(
            field.pointer,
            f'retryOn "{value}" repeats {", ".join(duplicates)}',
            severity=Severity.INFO,
            fix=fix,
        )
    return None


def _non_string_retry_on(
    field: Value, fixable: bool, version: tuple[int, int], ctx: RuleContext
) -> Finding:
    """The CRD declares retryOn `type: string`: an unquoted `503` is rejected by the API server."""
    value = field.value
    if isinstance(value, bool) or not isinstance(value, int):
        shown = type(value).__name__ if isinstance(value, (dict, list)) else repr(value)
        return ctx.finding(
            field.pointer, f"retryOn {shown} is not a string", severity=Severity.ERROR
        )
    fixed = str(value)
    fix = None
    if fixable and not retry_on_errors(fixed, version):
        fix = Fix.replace(field.pointer, fixed, f'quote retryOn as "{fixed}"')
    return ctx.finding(
        field.pointer, f"retryOn {value} is not a string", severity=Severity.ERROR, fix=fix
    )


def _normalise_retry_on(value: str, version: tuple[int, int]) -> str | None:
    """Trim, lower-case, `_`→`-`, drop empty and duplicate tokens; None if a token stays invalid."""
    out: list[str] = []
    for raw in value.split(","):
        token = raw.strip()
        if not token:
            continue
        if retry_on_errors(token, version):
            token = token.lower().replace("_", "-")
            if retry_on_errors(token, version):
                return None
        if token not in out:
            out.append(token)
    return ",".join(out) if out else None


# -- MG206 -----------------------------------------------------------------------------------


def _ns(route: Route, value: Any) -> int | None:
    return istio_duration_ns(value) if route.api == "istio" else gateway_duration_ns(value)


def _param_ns(ctx: RuleContext, name: str) -> int | None:
    value = ctx.params.get(name)
    ns = gateway_duration_ns(value)
    return ns if ns is not None else istio_duration_ns(value)


@check("MG206")
def llm_route_timeout_too_short(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Envoy's route timeout covers the whole (streamed) response (`envoy` timeouts FAQ), so a
    short timeout cuts token streams mid-generation; GIE's chart ships `request: 300s`."""
    minimum = _param_ns(ctx, "llm_min_timeout")
    embeddings = _param_ns(ctx, "embeddings_timeout")
    for route in routes_of(res, str(ctx.params.get("mesh.domain_suffix"))):
        llm = is_llm_route(route, ctx.params)
        finding = None
        if llm and minimum is not None:
            finding = (
                _vs_too_short(route, minimum, ctx)
                if route.api == "istio"
                else _gw_too_short(route, minimum, ctx)
            )
        if (
            finding is None
            and route.api == "gateway"
            and any(b.is_inference_pool for b in route.backends)
        ):
            finding = _pool_without_timeouts(route, ctx)
        if finding is None and embeddings is not None and is_embeddings_route(route, ctx.params):
            finding = _embeddings_too_short(route, embeddings // 3, ctx)
        if finding is not None:
            yield finding


def _vs_too_short(route: Route, minimum: int, ctx: RuleContext) -> Finding | None:
    """(1) VS LLM route with a timeout below `llm_min_timeout`; omitting `timeout` disables it."""
    timeout = route.timeout
    ns = _ns(route, timeout.value) if timeout is not None else None
    if timeout is None or not ns or ns <= 0 or ns >= minimum:
        return None
    target = str(ctx.params.get("llm_min_timeout"))
    return ctx.finding(
        timeout.pointer,
        f"llm route timeout {timeout.value} is shorter than llm_min_timeout {target}",
        severity=Severity.WARNING,
        fix=Fix.replace(timeout.pointer, target, f"set timeout to {target}", safety=Safety.UNSAFE),
    )


def _gw_too_short(route: Route, minimum: int, ctx: RuleContext) -> Finding | None:
    """(2) HTTPRoute LLM rule with `request` or `backendRequest` set, ≠ 0s and below the minimum."""
    short = []
    for field in (route.timeout, route.backend_timeout):
        ns = _ns(route, field.value) if field is not None else None
        if field is not None and ns and 0 < ns < minimum:
            short.append(field)
    if not short:
        return None
    shown = " and ".join(f"timeouts.{f.pointer.rsplit('/', 1)[-1]} {f.value}" for f in short)
    verb = "is" if len(short) == 1 else "are"
    return ctx.finding(
        short[0].pointer,
        f"llm rule {shown} {verb} shorter than llm_min_timeout {ctx.params.get('llm_min_timeout')}",
        severity=Severity.WARNING,
        fix=_gw_timeout_fix(route, minimum, ctx),
    )


def _gw_timeout_fix(route: Route, minimum: int, ctx: RuleContext) -> Fix:
    """Raise a short `timeouts.request` (or add one) to `httproute_inferencepool_timeout` and drop a
    short `backendRequest`, which Istio would otherwise apply per try or to the whole route
    (`conversion.go`). A disabling `request: 0s` and a long enough request are kept."""
    target = str(ctx.params.get("httproute_inferencepool_timeout"))
    ops: list[dict[str, Any]] = []
    titles: list[str] = []
    request = route.timeout
    request_ns = _ns(route, request.value) if request is not None else None
    if request is None:
        ops.append({"op": "add", "path": route.pointer + "/timeouts/request", "value": target})
    elif request_ns and 0 < request_ns < minimum:
        ops.append({"op": "replace", "path": request.pointer, "value": target})
    if ops:
        titles.append(f"set timeouts.request to {target}")
    backend = route.backend_timeout
    backend_ns = _ns(route, backend.value) if backend is not None else None
    if backend is not None and backend_ns and 0 < backend_ns < minimum:
        ops.append({"op": "remove", "path": backend.pointer})
        titles.append("remove timeouts.backendRequest")
    return Fix(" and ".join(titles), tuple(ops), safety=Safety.UNSAFE)


def _pool_without_timeouts(route: Route, ctx: RuleContext) -> Finding | None:
    """(3) InferencePool rule without `timeouts`: the implementation's default applies."""
    timeouts = route.body.get("timeouts")
    if isinstance(timeouts, dict) and timeouts:
        return None
    target = str(ctx.params.get("httproute_inferencepool_timeout"))
    op = "replace" if "timeouts" in route.body else "add"
    return ctx.finding(
        route.pointer,
        "inferencepool rule has no timeouts; the implementation default applies",
        severity=Severity.INFO,
        fix=Fix(
            f"set timeouts.request to {target}",
            ({"op": op, "path": route.pointer + "/timeouts", "value": {"request": target}},),
            safety=Safety.UNSAFE,
        ),
    )


def _embeddings_too_short(route: Route, floor: int, ctx: RuleContext) -> Finding | None:
    """(4) embeddings route: VS timeout / HTTPRoute request set, ≠ 0s, < embeddings_timeout/3."""
    timeout = route.timeout
    ns = _ns(route, timeout.value) if timeout is not None else None
    if timeout is None or not ns or ns <= 0 or ns >= floor:
        return None
    target = str(ctx.params.get("embeddings_timeout"))
    return ctx.finding(
        timeout.pointer,
        f"embeddings route timeout {timeout.value} is shorter than a third of "
        f"embeddings_timeout {target}",
        severity=Severity.INFO,
        fix=Fix.replace(
            timeout.pointer, target, f"set the timeout to {target}", safety=Safety.UNSAFE
        ),
    )
