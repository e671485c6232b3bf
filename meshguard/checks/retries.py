"""MG202, MG204, MG205: retry blocks on VirtualService routes and HTTPRoute rules.

Two upstream facts drive every rule here (RULES.md §6 item 2): Istio `attempts` counts *retries*,
so a request makes `attempts + 1` tries (`istio-api virtual_service.proto` HTTPRetry, "The maximum
possible number of requests made will be 1 + attempts"; `istio retry.go: out.NumRetries =
in.Attempts`), and all tries share the route timeout. The fixes of MG202 and MG204 therefore write
values that satisfy MG204's budget (RULES.md §7 errata 1.1–1.4), and the retryOn they write
satisfies MG205. Durations, retryOn tokens and route shapes come from `meshguard.semantics` and
`meshguard.routes`; nothing is re-parsed here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.routes import Route, Value, is_inference_route, is_llm_route, routes_of
from meshguard.semantics.durations import (
    NS_PER_MS,
    format_duration,
    gateway_duration_error,
    gateway_duration_ns,
    istio_duration_ns,
    suggest_gateway_duration,
)
from meshguard.semantics.retryon import go_atoi, istio_version, retry_on_tokens

SAFE_RETRY_ON = ("connect-failure", "refused-stream", "reset-before-request")
RESET_BEFORE_REQUEST_SINCE = (1, 23)  # istio commit e01b3b28aa4, first tagged in 1.23.0
GATEWAY_DEFAULT_ATTEMPTS = 2  # istio pilot/pkg/config/kube/gateway/conversion.go
_DISABLED_RETRY_FIELDS = ("perTryTimeout", "retryOn", "retryRemoteLocalities")


# -- shared helpers --------------------------------------------------------------------------


def _attempts(value: Any) -> int | None:
    """An integer attempts value (YAML bools are not integers here)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def safe_retry_on(ctx: RuleContext) -> str:
    """MG205's replacement retryOn; `reset-before-request` needs Istio ≥ 1.23 (RULES.md P4)."""
    if istio_version(ctx.params) >= RESET_BEFORE_REQUEST_SINCE:
        return ",".join(SAFE_RETRY_ON)
    return ",".join(SAFE_RETRY_ON[:2])


def _domain(ctx: RuleContext) -> str:
    return str(ctx.params.get("mesh.domain_suffix"))


def _routes(res: Resource, ctx: RuleContext) -> tuple[Route, ...]:
    return routes_of(res, _domain(ctx))


class Budget(NamedTuple):
    """RULES.md MG204: `(A + 1)·P + A·B` must fit in `T` (all nanoseconds)."""

    attempts: int
    per_try: int
    backoff: int
    timeout: int

    @property
    def total(self) -> int:
        return (self.attempts + 1) * self.per_try + self.attempts * self.backoff

    @property
    def exceeds(self) -> bool:
        return self.total > self.timeout

    def retries_that_fit(self) -> int:
        """k = max(0, floor((T + B) / (P + B)) − 1): retries that can actually complete."""
        return max(0, (self.timeout + self.backoff) // (self.per_try + self.backoff) - 1)

    def per_try_that_fits(self) -> int:
        """floor_to_ms((T − A·B) / (A + 1)); ≤ 0 when the backoffs alone use up the timeout."""
        raw = (self.timeout - self.attempts * self.backoff) // (self.attempts + 1)
        return raw - raw % NS_PER_MS

    def describe(self) -> str:
        backoff = f" + {self.attempts} × {format_duration(self.backoff)}" if self.backoff else ""
        return (
            f"({self.attempts}+1) × {format_duration(self.per_try)}{backoff} = "
            f"{format_duration(self.total)}"
        )


def retry_profile(ctx: RuleContext, llm: bool) -> tuple[int, str]:
    """(attempts, perTryTimeout) of `retry_profile.llm` or `.default` (the config schema
    validates both)."""
    value = ctx.params.get(f"retry_profile.{'llm' if llm else 'default'}")
    return _attempts(value.get("attempts")) or 0, str(value.get("perTryTimeout", ""))


def _strategy(ctx: RuleContext) -> str:
    return str(ctx.params.get("budget_fix"))


def _vs_retry_ops(
    retries_ptr: JsonPointer, block: Mapping[str, Any], attempts: int, per_try: str | None
) -> tuple[list[dict[str, Any]], str]:
    """RFC 6902 ops that give a VS retry block `attempts` (and `perTryTimeout`), plus a title.

    `attempts: 0` drops perTryTimeout/retryOn/retryRemoteLocalities: `ValidateHTTPRetry` rejects
    them beside a disabled policy, and deleting the block would bring back Istio's default 2 retries
    (RULES.md §7 erratum 1.3).
    """
    op = "replace" if "attempts" in block else "add"
    ops: list[dict[str, Any]] = [{"op": op, "path": retries_ptr + "/attempts", "value": attempts}]
    if attempts == 0:
        dropped = [k for k in _DISABLED_RETRY_FIELDS if k in block]
        ops.extend({"op": "remove", "path": retries_ptr + pointer(k)} for k in dropped)
        tail = f" and remove {', '.join(dropped)}" if dropped else ""
        return ops, f"set attempts to 0{tail}"
    title = f"set attempts to {attempts}"
    if per_try is not None:
        op = "replace" if "perTryTimeout" in block else "add"
        ops.append({"op": op, "path": retries_ptr + "/perTryTimeout", "value": per_try})
        title += f" and perTryTimeout to {per_try}"
    return ops, title


def _fit(budget: Budget, strategy: str) -> tuple[int, int | None]:
    """(attempts, new per-try ns or None) that satisfy MG204 under `budget_fix`."""
    if not budget.exceeds:
        return budget.attempts, None
    if strategy == "shrink_per_try":
        per_try = budget.per_try_that_fits()
        if per_try >= NS_PER_MS:
            return budget.attempts, per_try
    return budget.retries_that_fit(), None


# -- MG202 -----------------------------------------------------------------------------------


@check("MG202")
def retry_block_invalid_or_missing(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """`attempts` 0/absent disables retries, so the other fields are rejected (`agent/validation.go:
    ValidateHTTPRetry`); a missing block on an inference route silently gets Istio's default 2
    retries (`route/retry/retry.go: defaultNumRetries`, `defaultRetryOn`)."""
    hosts = ctx.inventory.inference_hosts
    for route in _routes(res, ctx):
        if route.api != "istio":
            continue
        if route.retry is None:
            if is_inference_route(route, ctx.params, hosts):
                yield _missing_retries(route, ctx)
            continue
        block = route.retry_block
        if block is None:
            continue
        attempts_field = route.retry_field("attempts")
        attempts = _attempts(attempts_field.value) if attempts_field else None
        if attempts is not None and attempts < 0 and attempts_field is not None:
            yield ctx.finding(
                attempts_field.pointer,
                f"retries.attempts is {attempts}; it must be >= 0",
                severity=Severity.ERROR,
            )
            continue
        if attempts_field is not None and attempts_field.value is not None and attempts is None:
            continue  # a non-integer attempts is a schema error, not this rule's
        configured = _configured_fields(block)
        if not attempts and configured:
            yield _disabled_but_configured(route, block, attempts_field, configured, ctx)


def _configured_fields(block: Mapping[str, Any]) -> list[str]:
    """Fields Go sees as set: perTryTimeout/retryRemoteLocalities non-nil, retryOn non-empty."""
    out = [k for k in ("perTryTimeout", "retryRemoteLocalities") if block.get(k) is not None]
    retry_on = block.get("retryOn")
    if retry_on is not None and retry_on != "":
        out.insert(1 if "perTryTimeout" in out else 0, "retryOn")
    return out


def _disabled_but_configured(
    route: Route,
    block: Mapping[str, Any],
    attempts_field: Value | None,
    configured: list[str],
    ctx: RuleContext,
) -> Finding:
    assert route.retry is not None
    attempts, _ = retry_profile(ctx, is_llm_route(route, ctx.params))
    per_try_ns = istio_duration_ns(block.get("perTryTimeout"))
    timeout_ns = istio_duration_ns(route.timeout.value) if route.timeout else None
    backoff_ns = istio_duration_ns(block.get("backoff")) or 0
    new_per_try: str | None = None
    if attempts > 0 and per_try_ns and timeout_ns and per_try_ns > 0 and backoff_ns >= 0:
        fitted, shrunk = _fit(Budget(attempts, per_try_ns, backoff_ns, timeout_ns), _strategy(ctx))
        attempts = fitted
        new_per_try = format_duration(shrunk) if shrunk is not None else None
    ops, title = _vs_retry_ops(route.retry.pointer, block, attempts, new_per_try)
    present = attempts_field is not None and attempts_field.value is not None
    where = attempts_field.pointer if attempts_field is not None else route.retry.pointer
    shown = "0" if present else "absent"
    return ctx.finding(
        where,
        f"retries.attempts is {shown} (retries disabled) but {', '.join(configured)} "
        f"{'is' if len(configured) == 1 else 'are'} set",
        severity=Severity.ERROR,
        fix=Fix(title, tuple(ops), safety=Safety.UNSAFE),
    )


def _streams(route: Route, ctx: RuleContext) -> bool:
    """An LLM route by P7, or one whose timeout is already an LLM's (≥ llm_min_timeout).

    A catch-all route covers no path (P7), yet a 120s timeout says it carries streams; the
    default profile's short perTryTimeout would end each of them early (a try is cut at it).
    """
    if is_llm_route(route, ctx.params):
        return True
    timeout_ns = istio_duration_ns(route.timeout.value) if route.timeout else None
    floor_ns = istio_duration_ns(ctx.params.get("llm_min_timeout"))
    return timeout_ns is not None and floor_ns is not None and timeout_ns >= floor_ns


def _missing_retries(route: Route, ctx: RuleContext) -> Finding:
    llm = _streams(route, ctx)
    attempts, per_try = retry_profile(ctx, llm)
    block: dict[str, Any] = {
        "attempts": attempts,
        "perTryTimeout": per_try,
        "retryOn": safe_retry_on(ctx),
    }
    per_try_ns = istio_duration_ns(block["perTryTimeout"])
    timeout_ns = istio_duration_ns(route.timeout.value) if route.timeout else None
    if block["attempts"] > 0 and per_try_ns and timeout_ns and per_try_ns > 0:
        fitted, shrunk = _fit(Budget(block["attempts"], per_try_ns, 0, timeout_ns), _strategy(ctx))
        block["attempts"] = fitted
        if shrunk is not None:
            block["perTryTimeout"] = format_duration(shrunk)
    if block["attempts"] <= 0:
        block = {"attempts": 0}
    kind = "llm" if llm else "inference"
    return ctx.finding(
        route.pointer,
        f"{kind} route has no retries; istio applies its default 2 retries on "
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
        severity=Severity.INFO,
        fix=Fix.add(
            route.pointer + "/retries",
            block,
            f"add retries from retry_profile.{'llm' if llm else 'default'}",
            safety=Safety.UNSAFE,
        ),
    )


# -- MG204 -----------------------------------------------------------------------------------


@check("MG204")
def retry_budget_exceeds_timeout(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """All tries share the route timeout and Istio makes attempts + 1 of them
    (`virtual_service.proto` HTTPRetry; gwapi `httproute_types.go`: retries "MUST not exceed the
    Request timeout")."""
    for route in _routes(res, ctx):
        finding = _vs_budget(route, ctx) if route.api == "istio" else _gateway_budget(route, ctx)
        if finding is not None:
            yield finding


def _vs_budget(route: Route, ctx: RuleContext) -> Finding | None:
    block, retries = route.retry_block, route.retry
    if block is None or retries is None or route.timeout is None:
        return None
    attempts = _attempts(block.get("attempts"))
    timeout = istio_duration_ns(route.timeout.value)
    per_try = istio_duration_ns(block.get("perTryTimeout"))
    backoff = istio_duration_ns(block.get("backoff")) if "backoff" in block else 0
    if not attempts or attempts < 0 or not timeout or timeout <= 0 or not per_try or per_try <= 0:
        return None
    if backoff is None or backoff < 0:
        return None
    if per_try >= timeout:
        return ctx.finding(
            retries.pointer + "/perTryTimeout",
            f"perTryTimeout {block.get('perTryTimeout')} never fires before the route timeout "
            f"{route.timeout.value}",
            severity=Severity.INFO,
        )
    budget = Budget(attempts, per_try, backoff, timeout)
    if not budget.exceeds:
        return None
    fitted, shrunk = _fit(budget, _strategy(ctx))
    new_per_try = format_duration(shrunk) if shrunk is not None else None
    ops, title = _vs_retry_ops(retries.pointer, block, fitted, new_per_try)
    if new_per_try is not None:
        ops, title = [ops[-1]], f"set perTryTimeout to {new_per_try}"
    return ctx.finding(
        retries.pointer + "/attempts",
        f"retry budget {budget.describe()} exceeds route timeout {route.timeout.value}; "
        f"{budget.retries_that_fit()} of {attempts} retries can complete",
        severity=Severity.WARNING,
        fix=Fix(title, (_timeout_test(route.timeout), *ops), safety=Safety.UNSAFE),
    )


def _timeout_test(timeout: Value) -> Mapping[str, Any]:
    """The budget fix was computed for this timeout: an RFC 6902 `test` makes `meshguard fix`
    wait while another fix (MG206 raising an LLM timeout) changes it, instead of cutting retries
    that the new timeout would have fitted."""
    return {"op": "test", "path": timeout.pointer, "value": timeout.value}


def _gateway_budget(route: Route, ctx: RuleContext) -> Finding | None:
    """HTTPRoute: Istio maps backendRequest to perTryTimeout when `retry` is set (conversion.go)."""
    block, retry = route.retry_block, route.retry
    if block is None or retry is None or route.timeout is None or route.backend_timeout is None:
        return None
    raw_attempts = block.get("attempts", GATEWAY_DEFAULT_ATTEMPTS)
    attempts = _attempts(raw_attempts)
    timeout = gateway_duration_ns(route.timeout.value)
    per_try = gateway_duration_ns(route.backend_timeout.value)
    backoff = gateway_duration_ns(block.get("backoff")) if "backoff" in block else 0
    if not attempts or attempts < 0 or not timeout or not per_try or backoff is None:
        return None
    if per_try > timeout:
        return None  # rejected by the CRD: MG503(1)
    budget = Budget(attempts, per_try, backoff, timeout)
    if not budget.exceeds:
        return None
    where = retry.pointer + ("/attempts" if "attempts" in block else "")
    shown = "" if "attempts" in block else f" (attempts defaults to {GATEWAY_DEFAULT_ATTEMPTS})"
    return ctx.finding(
        where,
        f"retry budget {budget.describe()}{shown} exceeds request timeout {route.timeout.value}; "
        f"{budget.retries_that_fit()} of {attempts} retries can complete",
        severity=Severity.WARNING,
        fix=_gateway_budget_fix(route, block, budget, ctx),
    )


def _gateway_budget_fix(
    route: Route, block: Mapping[str, Any], budget: Budget, ctx: RuleContext
) -> Fix | None:
    """reduce_attempts while a retry still fits; otherwise (or with shrink_per_try) shrink
    backendRequest, since `attempts: 0` is a CRD error from Gateway API v1.6.0 (MG504(2))."""
    assert route.retry is not None and route.backend_timeout is not None
    fits = budget.retries_that_fit()
    tests = (_timeout_test(route.timeout),) if route.timeout is not None else ()
    if _strategy(ctx) == "reduce_attempts" and fits > 0:
        op = "replace" if "attempts" in block else "add"
        attempts = {"op": op, "path": route.retry.pointer + "/attempts", "value": fits}
        return Fix(f"set retry.attempts to {fits}", (*tests, attempts), safety=Safety.UNSAFE)
    per_try = budget.per_try_that_fits()
    if per_try < NS_PER_MS:
        return None
    text = format_duration(per_try)
    if gateway_duration_error(text) is not None:
        text = suggest_gateway_duration(text) or ""
    if not text:
        return None
    replace = {"op": "replace", "path": route.backend_timeout.pointer, "value": text}
    title = f"set timeouts.backendRequest to {text}"
    return Fix(title, (*tests, replace), safety=Safety.UNSAFE)


# -- MG205 -----------------------------------------------------------------------------------


def _unsafe_token(token: str, unsafe: frozenset[str]) -> bool:
    """RULES.md MG205: in `unsafe_retry_on`, a 5xx status other than 503, or 409 (retriable-4xx)."""
    token = token.strip()
    if token in unsafe:
        return True
    code = go_atoi(token)
    return code is not None and (code == 409 or (500 <= code <= 599 and code != 503))


def _is_post_inference(route: Route, ctx: RuleContext) -> bool:
    if route.restricted_to_methods(("GET", "HEAD")):
        return False
    if route.has_exact_method("POST"):
        return True
    return is_inference_route(route, ctx.params, ctx.inventory.inference_hosts)


@check("MG205")
def unsafe_retry_on_post_inference(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Envoy `5xx`/`reset` also fire on a per-try (read) timeout, so a generation that already ran
    is replayed on another replica (Envoy router `x-envoy-retry-on`)."""
    unsafe = frozenset(str(t) for t in ctx.params.get("unsafe_retry_on"))
    for route in _routes(res, ctx):
        block = route.retry_block
        if block is None or not _is_post_inference(route, ctx):
            continue
        if route.api == "istio":
            finding = _vs_unsafe(route, block, unsafe, ctx)
        else:
            finding = _gateway_unsafe(route, block, unsafe, ctx)
        if finding is not None:
            yield finding


def _vs_unsafe(
    route: Route, block: Mapping[str, Any], unsafe: frozenset[str], ctx: RuleContext
) -> Finding | None:
    attempts = _attempts(block.get("attempts"))
    retry_on = route.retry_field("retryOn")
    if not attempts or attempts <= 0 or retry_on is None or not isinstance(retry_on.value, str):
        return None
    bad = [t.strip() for t in retry_on_tokens(retry_on.value) if _unsafe_token(t, unsafe)]
    if not bad:
        return None
    safe = safe_retry_on(ctx)
    return ctx.finding(
        retry_on.pointer,
        f'retryOn "{retry_on.value}" replays non-idempotent inference requests on {", ".join(bad)}',
        severity=Severity.WARNING,
        fix=Fix.replace(retry_on.pointer, safe, f'set retryOn to "{safe}"', safety=Safety.UNSAFE),
    )


def _gateway_unsafe(
    route: Route, block: Mapping[str, Any], unsafe: frozenset[str], ctx: RuleContext
) -> Finding | None:
    """Istio adds connect-failure,refused-stream,unavailable,cancelled itself (`conversion.go`);
    `attempts: 0` clears retryOn there, so such a rule never retries."""
    codes = route.retry_field("codes")
    if _attempts(block.get("attempts")) == 0 or codes is None or not isinstance(codes.value, list):
        return None
    bad = [c for c in codes.value if not isinstance(c, bool) and _unsafe_token(str(c), unsafe)]
    if not bad:
        return None
    kept = [c for c in codes.value if c not in bad]
    shown = ", ".join(str(c) for c in bad)
    if kept:
        fix = Fix.replace(
            codes.pointer, kept, f"remove {shown} from retry.codes", safety=Safety.UNSAFE
        )
    else:
        fix = Fix.remove(codes.pointer, f"remove retry.codes ({shown})", safety=Safety.UNSAFE)
    return ctx.finding(
        codes.pointer,
        f"retry.codes {codes.value} replays non-idempotent inference requests on {shown}",
        severity=Severity.WARNING,
        fix=fix,
    )
