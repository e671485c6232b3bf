"""AuthorizationPolicy checks (RULES.md MG105–MG108): what istiod really matches.

Istio evaluates CUSTOM, then DENY, then "no ALLOW policy ⇒ allow", then "any ALLOW matches ⇒
allow" (`istio-api security/v1beta1/authorization_policy.proto`). A value that never matches
therefore opens a hole under DENY and fails closed under ALLOW, and an ALLOW rule that leaves a
field unset allows everything for that field. Decoding (`from: []` is absent), scope and Service
port protocols live in `_authz_shapes.py`; path semantics in `meshguard.semantics.paths`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from meshguard.checks._authz_shapes import (
    ALLOW,
    AUDIT,
    CUSTOM,
    DENY,
    OPERATION_FIELDS,
    SOURCE_FIELDS,
    TEMPLATES_SINCE,
    action_of,
    add_ports_ops,
    decoded_list,
    from_only_principals,
    has_values,
    http_target_ports,
    is_allow,
    matches_inference,
    operations_of,
    port_values,
    principal_shape_ok,
    rule_is_empty,
    rules_of,
    selected_workloads,
    sources_of,
    star_repair,
    string_values,
    suggested_paths,
    target_port_protocols,
    tcp_only,
)
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity
from meshguard.registry import RuleContext, check
from meshguard.semantics.paths import ap_path_literal_star, ap_path_matches, ap_path_template_error
from meshguard.semantics.retryon import istio_version

SPIFFE_PREFIX = "spiffe://"  # istio pkg/spiffe: URIPrefix, prepended by generator.go
MODEL_MANAGEMENT_PATHS = ("/v2/repository/models/x/load", "/v2/repository/models/x/unload")
CATCH_ALL_PATHS = frozenset({"*", "/*", "/v2/*", "/v2/repository*", "/v2/repository/*"})
_NEGATIVE_SOURCE = (
    *("notPrincipals", "notRequestPrincipals", "notNamespaces", "notServiceAccounts"),
    *("notIpBlocks", "notRemoteIpBlocks", "notTrustDomains"),
)
_NEGATIVE_OPERATION = ("notHosts", "notPorts", "notMethods", "notPaths")
# ValidateAuthorizationPolicy: source fields that make a DENY rule reach TCP (tcpRulesInFrom).
_TCP_SOURCE = (
    *("principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks"),
    *("remoteIpBlocks", "notRemoteIpBlocks", "serviceAccounts", "notServiceAccounts"),
)


def _short(values: list[str], limit: int = 3) -> str:
    shown = ", ".join(values[:limit])
    return f"[{shown}, …]" if len(values) > limit else f"[{shown}]"


# -- MG105 ----------------------------------------------------------------------------------
@check("MG105")
def allow_policy_not_explicit(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """An ALLOW rule allows every value of each field it leaves unset (authorization_policy.proto).

    An empty rule `{}` is "always matched" (allow-all); for inference workloads each rule must
    name its callers (principals), methods and paths, the lesson's explicit shape.
    """
    if not is_allow(res.spec) or not ctx.inventory.is_ml_namespace(res.namespace):
        return
    suggestion = _expected_shape(ctx)
    inference: bool | None = None
    protocols: dict[str, set[str]] | None = None
    for i, rule, rule_ptr in rules_of(res):
        if rule_is_empty(rule):
            found = ", ".join(f"{k}: {rule[k]!r}" for k in rule) or "{}"
            yield ctx.finding(
                rule_ptr,
                f"rule {i} is empty ({found}): the allow policy matches every request",
                severity=Severity.ERROR,
                fix=suggestion,
            )
            continue
        if inference is None:
            inference = matches_inference(res, ctx.inventory)
        if not inference:
            continue
        if protocols is None:
            protocols = target_port_protocols(selected_workloads(res, ctx.inventory), ctx.inventory)
        yield from _explicit_source(ctx, i, rule, rule_ptr, suggestion)
        yield from _explicit_operation(ctx, i, rule, rule_ptr, protocols, suggestion)


def _expected_shape(ctx: RuleContext) -> Fix:
    """RULES.md MG105 'expected shape': a display-only suggestion (identities are site-specific)."""
    paths = suggested_paths(
        ctx.params.get("inference_paths"),
        [*ctx.params.get("llm_paths"), *ctx.params.get("embeddings_paths")],
    )
    domain = ctx.params.get("mesh.trust_domain")
    title = (
        f'allow only named callers: principals ["{domain}/ns/<caller-ns>/sa/<caller-sa>"], '
        f'methods ["GET", "POST"], paths {paths!r}'
    ).replace("'", '"')
    return Fix(title, safety=Safety.NONE)


def _explicit_source(
    ctx: RuleContext, i: int, rule: Mapping[str, Any], rule_ptr: JsonPointer, fix: Fix
) -> Iterator[Finding]:
    if decoded_list(rule.get("from")) is None:
        how = "from: [] (decoded as absent)" if rule.get("from") == [] else "no from"
        yield ctx.finding(
            rule_ptr,
            f"rule {i} has {how}: any caller may reach the inference workload",
            severity=Severity.WARNING,
            fix=fix,
        )
        return
    for src, src_ptr in sources_of(rule, rule_ptr):
        for value, ptr in string_values(src, "principals", src_ptr):
            if value == "*":
                yield ctx.finding(
                    ptr,
                    'principal "*" allows any caller with a mesh identity',
                    severity=Severity.WARNING,
                    fix=fix,
                )
        if has_values(src, "namespaces") and not (
            has_values(src, "principals") or has_values(src, "serviceAccounts")
        ):
            names = [v for v, _ in string_values(src, "namespaces", src_ptr)]
            yield ctx.finding(
                src_ptr,
                f"source identifies callers by namespaces only {_short(names)}",
                severity=Severity.INFO,
                fix=fix,
            )


def _explicit_operation(
    ctx: RuleContext,
    i: int,
    rule: Mapping[str, Any],
    rule_ptr: JsonPointer,
    protocols: Mapping[str, set[str]],
    fix: Fix,
) -> Iterator[Finding]:
    if decoded_list(rule.get("to")) is None:
        how = "to: [] (decoded as absent)" if rule.get("to") == [] else "no to"
        yield ctx.finding(
            rule_ptr,
            f"rule {i} has {how}: every method and path is allowed",
            severity=Severity.WARNING,
            fix=fix,
        )
        return
    for op, op_ptr in operations_of(rule, rule_ptr):
        if tcp_only(op, protocols):
            continue  # HTTP fields would make Istio drop the rule for these TCP ports
        ports = port_values(op, "ports")
        missing = [field for field in ("methods", "paths") if not has_values(op, field)]
        if missing:
            where = f" on port(s) {', '.join(ports)}" if ports else ""
            yield ctx.finding(
                op_ptr,
                f"operation sets no {' and no '.join(missing)}: any "
                f"{' and any '.join(m[:-1] for m in missing)} is allowed{where}",
                severity=Severity.WARNING,
                fix=fix,
            )


# -- MG106 ----------------------------------------------------------------------------------
@check("MG106")
def unsafe_authz_matching_pattern(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Shapes `ValidateAuthorizationPolicy` rejects or warns about, plus what jsonpb silently drops.

    istio pkg/config/validation/validation.go; `from: []` is decoded as absent
    (pkg/util/protomarshal/protomarshal.go → golang/protobuf jsonpb/decode.go).
    """
    action = action_of(res.spec)
    if action in (DENY, CUSTOM) and decoded_list(res.spec.get("rules")) is None:
        yield ctx.finding(
            "/spec/action",
            f"action {action} without rules never applies; istio rejects the policy",
            severity=Severity.ERROR,
        )
    for i, rule, rule_ptr in rules_of(res):
        yield from _empty_lists(ctx, i, rule, rule_ptr, action)
        yield from _empty_entries(ctx, rule, rule_ptr)
        if action == ALLOW:
            yield from _negative_fields(ctx, rule, rule_ptr)
        if action == DENY:
            yield from _http_only_deny(ctx, res, i, rule, rule_ptr)


def _empty_lists(
    ctx: RuleContext, i: int, rule: Mapping[str, Any], rule_ptr: JsonPointer, action: str
) -> Iterator[Finding]:
    """(4a) `from: []`/`to: []` (or null) reach istiod as absent: the rule matches anything."""
    effect = {
        ALLOW: "allows any",
        DENY: "denies any",
        CUSTOM: "sends any",
        AUDIT: "audits any",
    }.get(action, "matches any")
    for key, what in (("from", "source"), ("to", "operation")):
        if key in rule and rule[key] in ([], None):
            shown = "[]" if rule[key] == [] else "null"
            yield ctx.finding(
                f"{rule_ptr}/{key}",
                f"{key}: {shown} in rule {i} is decoded as absent, "
                f"so the {action.lower()} rule {effect} {what}",
                severity=Severity.ERROR,
            )


def _empty_entries(
    ctx: RuleContext, rule: Mapping[str, Any], rule_ptr: JsonPointer
) -> Iterator[Finding]:
    """(4b) IV: "`from.source` must not be nil/empty", "`to.operation` must not be nil/empty"."""
    for key, inner, fields in (
        ("from", "source", SOURCE_FIELDS),
        ("to", "operation", OPERATION_FIELDS),
    ):
        for j, item in enumerate(decoded_list(rule.get(key)) or ()):
            item_ptr = f"{rule_ptr}/{key}/{j}"
            value = item.get(inner) if isinstance(item, dict) else None
            if not isinstance(value, dict):
                at = f"{item_ptr}/{inner}" if isinstance(item, dict) and inner in item else item_ptr
                yield ctx.finding(
                    at,
                    f"{key}[{j}] has no {inner}; istio rejects the policy",
                    severity=Severity.ERROR,
                )
            elif not any(has_values(value, f) for f in fields):
                shown = ", ".join(value) or "no fields"
                yield ctx.finding(
                    f"{item_ptr}/{inner}",
                    f"{key}[{j}].{inner} is empty ({shown}); istio rejects the policy",
                    severity=Severity.ERROR,
                )


def _negative_fields(
    ctx: RuleContext, rule: Mapping[str, Any], rule_ptr: JsonPointer
) -> Iterator[Finding]:
    """(2) ALLOW + negative match: anything not listed, including tomorrow's paths, is allowed."""
    places: list[tuple[Mapping[str, Any], JsonPointer, tuple[str, ...]]] = [
        *((src, ptr, _NEGATIVE_SOURCE) for src, ptr in sources_of(rule, rule_ptr)),
        *((op, ptr, _NEGATIVE_OPERATION) for op, ptr in operations_of(rule, rule_ptr)),
    ]
    for j, cond in enumerate(decoded_list(rule.get("when")) or ()):
        if isinstance(cond, dict):
            places.append((cond, f"{rule_ptr}/when/{j}", ("notValues",)))
    for mapping, base, fields in places:
        for field in fields:
            if has_values(mapping, field):
                values = [str(v) for v in mapping[field]]
                yield ctx.finding(
                    f"{base}/{field}",
                    f"allow rule matches by exclusion: {field} {_short(values)}",
                    severity=Severity.WARNING,
                )


def _http_only_deny(
    ctx: RuleContext, res: Resource, i: int, rule: Mapping[str, Any], rule_ptr: JsonPointer
) -> Iterator[Finding]:
    """(3) Mirrors ValidateAuthorizationPolicy's warning (tcpRulesInFrom / tcpRulesInTo)."""
    sources = list(sources_of(rule, rule_ptr))
    operations = list(operations_of(rule, rule_ptr))
    tcp_from = any(has_values(src, f) for src, _ in sources for f in _TCP_SOURCE)
    tcp_to = any(has_values(op, "ports") or has_values(op, "notPorts") for op, _ in operations)
    if not ((sources and not operations and not tcp_from) or (operations and not tcp_to)):
        return
    protocols = target_port_protocols(selected_workloads(res, ctx.inventory), ctx.inventory)
    ports = http_target_ports(protocols)
    fix = None
    if ports:
        title = f"restrict the deny rule to http ports {', '.join(ports)}"
        ops = add_ports_ops(rule_ptr, [ptr for _, ptr in operations], ports)
        fix = Fix(title, ops, safety=Safety.UNSAFE)
    what = "http-only operations (no ports)" if operations else "http-only sources and no to"
    yield ctx.finding(
        rule_ptr,
        f"deny rule {i} uses {what}: it denies all traffic to tcp ports in its scope",
        severity=Severity.WARNING,
        fix=fix,
    )


# -- MG107 ----------------------------------------------------------------------------------
@check("MG107")
def authz_value_never_matches(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Values Istio accepts (or rejects) that can never match what the author wrote.

    Paths: `matcher/string.go: StringMatcherWithPrefix` (exact unless a leading/trailing `*`),
    `pkg/config/security/security.go: CheckValidPathTemplate`; principals: `generator.go`
    prepends `spiffe://`; methods: `matcher/header.go: HeaderMatcher` (exact, case-sensitive).
    """
    action = action_of(res.spec)
    version = istio_version(ctx.params)
    for _i, rule, rule_ptr in rules_of(res):
        for src, src_ptr in sources_of(rule, rule_ptr):
            yield from _principal_findings(ctx, src, src_ptr)
            yield from _service_account_mix(ctx, src, src_ptr)
        for op, op_ptr in operations_of(rule, rule_ptr):
            for field in ("paths", "notPaths"):
                severity = _never_matches_severity(action, field)
                for value, ptr in string_values(op, field, op_ptr):
                    yield from _path_findings(ctx, value, ptr, field, severity, version)
            for field in ("methods", "notMethods"):
                severity = _never_matches_severity(action, field)
                for value, ptr in string_values(op, field, op_ptr):
                    if value != value.upper():
                        yield ctx.finding(
                            ptr,
                            f'{field} value "{value}" is not upper-case and never matches '
                            "(http methods match exactly)",
                            severity=severity,
                            fix=Fix.replace(
                                ptr, value.upper(), f'write "{value.upper()}"', safety=Safety.UNSAFE
                            ),
                        )


def _never_matches_severity(action: str, field: str) -> Severity:
    """Error when the dead value opens a hole, warning when it fails closed (RULES.md MG107).

    A dead `paths`/`methods` value makes a DENY/CUSTOM rule never apply (hole); a dead
    `notPaths`/`notMethods` value excludes nothing, so it is the ALLOW rule that then matches
    more than meant (hole) while a DENY/CUSTOM one only denies more (fails closed).
    """
    negative = field.startswith("not")
    hole = action in (DENY, CUSTOM) if not negative else action == ALLOW
    return Severity.ERROR if hole else Severity.WARNING


def _path_findings(
    ctx: RuleContext,
    value: str,
    ptr: JsonPointer,
    field: str,
    severity: Severity,
    version: tuple[int, int],
) -> Iterator[Finding]:
    templated = "{*}" in value or "{**}" in value
    if version < TEMPLATES_SINCE and ("{" in value or "}" in value):
        what = "uses a path template, which" if templated else "has braces, which"
        yield ctx.finding(
            ptr,
            f'{field} value "{value}" {what} istio {version[0]}.{version[1]} matches '
            "literally (templates need 1.22)",
            severity=Severity.ERROR,
        )
        return
    error = ap_path_template_error(value)
    if error is not None:
        yield ctx.finding(
            ptr, f'{field} value "{value}" is rejected by istio: {error}', severity=Severity.ERROR
        )
        return
    if templated or not ap_path_literal_star(value):
        return
    kind = (
        "a suffix" if value.startswith("*") else ("a prefix" if value.endswith("*") else "an exact")
    )
    yield ctx.finding(
        ptr,
        f'{field} value "{value}" is {kind} match on a literal "*" and never matches',
        severity=severity,
        fix=_star_fix(value, ptr, version),
    )


def _star_fix(value: str, ptr: JsonPointer, version: tuple[int, int]) -> Fix | None:
    """RULES.md MG107 fix (1): `*` segments become `{*}` (≥ 1.22), else widen to the prefix."""
    repair = star_repair(value, templates=version >= TEMPLATES_SINCE)
    if repair is None:
        return None
    fixed, templated = repair
    title = (
        f'use the path template "{fixed}"'
        if templated
        else f'widen to the prefix "{fixed}" (it also matches other paths)'
    )
    return Fix.replace(ptr, fixed, title, safety=Safety.UNSAFE)


def _principal_findings(
    ctx: RuleContext, src: Mapping[str, Any], src_ptr: JsonPointer
) -> Iterator[Finding]:
    for field in ("principals", "notPrincipals"):
        for value, ptr in string_values(src, field, src_ptr):
            if value.startswith(SPIFFE_PREFIX):
                stripped = value[len(SPIFFE_PREFIX) :]
                yield ctx.finding(
                    ptr,
                    f'{field[:-1]} "{value}" becomes "spiffe://{value}" in istio and never matches',
                    severity=Severity.ERROR,
                    fix=Fix.replace(
                        ptr,
                        stripped,
                        f'drop the spiffe:// prefix: "{stripped}"',
                        safety=Safety.UNSAFE,
                    ),
                )
            elif not principal_shape_ok(value):
                yield ctx.finding(
                    ptr,
                    f'{field[:-1]} "{value}" is not of the form <trust-domain>/ns/<ns>/sa/<sa>',
                    severity=Severity.WARNING,
                )


def _service_account_mix(
    ctx: RuleContext, src: Mapping[str, Any], src_ptr: JsonPointer
) -> Iterator[Finding]:
    """(6) CRD CEL (`has()`, so even an empty list counts) and IV reject the combination."""
    others = [
        f
        for f in ("principals", "notPrincipals", "namespaces", "notNamespaces")
        if src.get(f) is not None
    ]
    if not others:
        return
    for field in ("serviceAccounts", "notServiceAccounts"):
        if src.get(field) is not None:
            yield ctx.finding(
                f"{src_ptr}/{field}",
                f"{field} is combined with {', '.join(others)} in one source; "
                "istio rejects the policy",
                severity=Severity.ERROR,
            )


# -- MG108 ----------------------------------------------------------------------------------
@check("MG108")
def allow_policy_exposes_model_management(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """KServe/Triton serve POST /v2/repository/models/{name}/load and /unload next to inference
    (kserve protocol/rest/v2_endpoints.py): a catch-all path lets any allowed caller (un)load them.
    """
    if not is_allow(res.spec) or not ctx.inventory.is_ml_namespace(res.namespace):
        return
    if not any(True for _ in rules_of(res)) or not matches_inference(res, ctx.inventory):
        return
    admins = {str(p) for p in ctx.params.get("admin_principals")}
    protocols: dict[str, set[str]] | None = None
    for i, rule, rule_ptr in rules_of(res):
        if from_only_principals(rule, rule_ptr, admins):
            continue
        if decoded_list(rule.get("to")) is None:
            yield ctx.finding(
                rule_ptr,
                f"rule {i} has no to: every path is allowed, including model load/unload",
                severity=Severity.WARNING,
            )
            continue
        if protocols is None:
            protocols = target_port_protocols(selected_workloads(res, ctx.inventory), ctx.inventory)
        yield from _exposed_paths(ctx, rule, rule_ptr, protocols)


def _exposed_paths(
    ctx: RuleContext,
    rule: Mapping[str, Any],
    rule_ptr: JsonPointer,
    protocols: Mapping[str, set[str]],
) -> Iterator[Finding]:
    for op, op_ptr in operations_of(rule, rule_ptr):
        if tcp_only(op, protocols):
            continue  # no HTTP path is served on these ports (same exemption as MG105)
        if not has_values(op, "paths"):
            yield ctx.finding(
                op_ptr,
                "operation sets no paths: every path is allowed, including model load/unload",
                severity=Severity.WARNING,
            )
            continue
        for value, ptr in string_values(op, "paths", op_ptr):
            covered = [p for p in MODEL_MANAGEMENT_PATHS if ap_path_matches(value, p)]
            if value in CATCH_ALL_PATHS or covered:
                shown = covered[0] if covered else MODEL_MANAGEMENT_PATHS[0]
                yield ctx.finding(
                    ptr,
                    f'path "{value}" covers the model management endpoint {shown}',
                    severity=Severity.WARNING,
                )
