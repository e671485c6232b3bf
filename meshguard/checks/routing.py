"""MG207, MG208, MG210: how routes are laid out — version routing, rule order, path globs.

VirtualService rules are evaluated in list order and the first match wins; the `match` entries
of one rule are ORed and the fields inside an entry are ANDed (`istio-api virtual_service.proto`
HTTPRoute.match). Gateway API HTTPRoute orders rules by specificity instead
(`gwapi apis/v1/httproute_types.go`), so the ordering rules (MG207(3), MG208) are VS-only.
Split weights (MG209) are in `weights.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from meshguard.body import as_list
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity, pointer
from meshguard.registry import RuleContext, check
from meshguard.routes import routes_of
from meshguard.semantics.paths import is_catch_all, vs_prefix_matches

# HTTPMatchRequest fields that do not restrict matching (`name`, `statPrefix`); every other set
# field does (RULES.md MG208). istio validation.go asJSON also drops `name` before comparing.
_NON_RESTRICTING = frozenset({"name", "statPrefix"})


# -- shared helpers ------------------------------------------------------------------------------


def _unset(value: Any) -> bool:
    """proto3 JSON: null, false, 0, "" and empty lists/maps decode as the field's absence."""
    if value is None or value is False:
        return True
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value == 0
    if isinstance(value, (str, list, Mapping)):
        return len(value) == 0
    return False


def _set_fields(
    entry: Mapping[str, Any], ignore: frozenset[str] = _NON_RESTRICTING
) -> dict[str, Any]:
    """The fields that restrict matching (set, and not in `ignore`)."""
    return {k: v for k, v in entry.items() if k not in ignore and not _unset(v)}


def _label(section: str, index: int, rule: Any) -> str:
    """`http rule 1` or `http rule 1 ("v2")`, as istio routeName names a rule."""
    name = rule.get("name") if isinstance(rule, dict) else None
    named = f' ("{name}")' if isinstance(name, str) and name else ""
    return f"{section} rule {index}{named}"


def _catch_all_entry(entry: Any, section: str) -> str | None:
    """Why one match entry matches every request, or None.

    HTTP: no restricting field, or only `uri` that is empty, `prefix: "/"` or `regex: ".*"`
    (paths.is_catch_all). TCP and TLS: no field set (a TLS match needs `sniHosts` anyway).
    """
    if not isinstance(entry, dict):
        return None
    fields = _set_fields(entry) if section == "http" else _set_fields(entry, frozenset())
    if not fields:
        return "an empty match entry"
    if section != "http" or set(fields) != {"uri"} or not isinstance(fields["uri"], dict):
        return None
    uri = _set_fields(fields["uri"], frozenset())
    if not uri:
        return "an empty uri match"
    if len(uri) == 1:
        kind, value = next(iter(uri.items()))
        if kind in ("prefix", "regex") and isinstance(value, str) and is_catch_all(kind, value):
            return f'uri {kind} "{value}"'
    return None


def _catch_all(rule: Any, section: str = "http") -> str | None:
    """Why a VS rule matches every request: no `match`, or any entry that restricts nothing
    (entries are ORed, virtual_service.proto: "matched if any one of the match blocks succeed")."""
    if not isinstance(rule, dict):
        return None
    match = rule.get("match")
    if match is None or match == []:
        return "no match"
    for entry in as_list(match):
        reason = _catch_all_entry(entry, section)
        if reason is not None:
            return reason
    return None


# -- MG207 ---------------------------------------------------------------------------------------


class _HeaderHit(NamedTuple):
    rule: int
    headers_ptr: JsonPointer
    headers: Mapping[str, Any]
    key: str


def _version_header_hits(http: Sequence[Any], header: str) -> list[_HeaderHit]:
    hits: list[_HeaderHit] = []
    for i, rule in enumerate(http):
        if not isinstance(rule, dict):
            continue
        for j, entry in enumerate(as_list(rule.get("match"))):
            headers = entry.get("headers") if isinstance(entry, dict) else None
            if not isinstance(headers, dict):
                continue
            base = pointer("spec", "http", i, "match", j, "headers")
            hits.extend(
                _HeaderHit(i, base, headers, key)
                for key in headers
                if isinstance(key, str) and key.lower() == header
            )
    return hits


@check("MG207")
def model_version_routing_shape(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """Header-based version routing needs a final default route: VS rules are first-match and a
    request that matches none gets 404 `NR` (istio.io network-issues)."""
    http = as_list(res.spec.get("http"))
    header = str(ctx.params.get("version_header")).lower()
    hits = _version_header_hits(http, header)
    if not hits:
        return
    for hit in hits:
        yield from _version_header_value(hit, ctx)
    yield from _default_route(res, http, hits, ctx)


def _version_header_value(hit: _HeaderHit, ctx: RuleContext) -> Iterator[Finding]:
    """(1) upper-case key, (2) prefix/regex value."""
    key_ptr = hit.headers_ptr + pointer(hit.key)
    if hit.key != hit.key.lower():
        lower = hit.key.lower()
        fix = None
        if lower not in hit.headers:
            op = {"op": "move", "from": key_ptr, "path": hit.headers_ptr + pointer(lower)}
            fix = Fix(f"rename header key {hit.key} to {lower}", (op,), safety=Safety.SAFE)
        yield ctx.finding(
            key_ptr,
            f"header key {hit.key} is not lower-case (virtual_service.proto: keys are lowercase)",
            severity=Severity.INFO,
            fix=fix,
        )
    match = hit.headers[hit.key]
    if not isinstance(match, dict):
        return
    for kind in ("prefix", "regex"):
        value = match.get(kind)
        if isinstance(value, str):
            also = f', which also matches "{value}0"' if kind == "prefix" else ""
            yield ctx.finding(
                key_ptr + pointer(kind),
                f'model version header {hit.key} is matched by {kind} "{value}"{also}',
                severity=Severity.INFO,
            )


def _default_route(
    res: Resource, http: Sequence[Any], hits: Sequence[_HeaderHit], ctx: RuleContext
) -> Iterator[Finding]:
    """(3) the last rule is not a catch-all; (4) the catch-all has one destination."""
    last = len(http) - 1
    if any(_catch_all(rule) is not None for rule in http[:last]):
        return  # an earlier catch-all already takes every request: MG208 reports the layout
    last_ptr = pointer("spec", "http", last)
    if _catch_all(http[last]) is None:
        if not as_list(res.spec.get("hosts")):
            return  # delegate VS: unmatched requests fall through to the root's later rules
        host = _header_route_host(http, hits)
        fix = None
        if host is not None:
            fix = Fix.add(
                pointer("spec", "http", "-"),
                {"route": [{"destination": {"host": host}}]},
                f"append a default route to {host}",
                safety=Safety.UNSAFE,
            )
        yield ctx.finding(
            last_ptr,
            f"{_label('http', last, http[last])} is the last rule and matches only some requests: "
            f"requests without {hits[0].key} match no route and get 404 (NR)",
            severity=Severity.WARNING,
            fix=fix,
        )
        return
    split = ctx.params.get("canary_split")
    route = http[last].get("route") if isinstance(http[last], dict) else None
    if isinstance(route, list) and len(route) == 1 and isinstance(split, list) and split:
        yield ctx.finding(
            last_ptr + "/route",
            f"default route {_label('http', last, http[last])} sends every request without "
            f"{hits[0].key} to a single destination (canary_split {split_text(split)})",
            severity=Severity.INFO,
        )


def _header_route_host(http: Sequence[Any], hits: Sequence[_HeaderHit]) -> str | None:
    for hit in hits:
        for dest in as_list(http[hit.rule].get("route")):
            target = dest.get("destination") if isinstance(dest, dict) else None
            host = target.get("host") if isinstance(target, dict) else None
            if isinstance(host, str) and host:
                return host
    return None


def split_text(split: Sequence[Any]) -> str:
    """`canary_split` as written in messages: `90/10`."""
    return "/".join(str(s) for s in split)


# -- MG208 ---------------------------------------------------------------------------------------


@check("MG208")
def unreachable_virtualservice_rule(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """First match wins (istio validation.go analyzeUnreachableHTTPRules): rules after a
    catch-all never run, and a match already taken by an earlier rule never applies."""
    for section in ("http", "tcp", "tls"):  # validation.go: analyzeUnreachable{HTTP,TCP,TLS}Rules
        yield from _unreachable_rules(as_list(res.spec.get(section)), section, ctx)


def _unreachable_rules(rules: Sequence[Any], section: str, ctx: RuleContext) -> Iterator[Finding]:
    seen: dict[str, int] = {}  # canonical match entry -> first rule index
    prefixes: list[_Prefix] = []  # earlier entries with a case-sensitive uri.prefix
    catch_all: tuple[int, str] | None = None
    for i, rule in enumerate(rules):
        if catch_all is not None:
            first, reason = catch_all
            yield ctx.finding(
                pointer("spec", section, i),
                f"{_label(section, i, rule)} is unreachable: "
                f"{_label(section, first, rules[first])} matches every request ({reason})",
                severity=Severity.ERROR,
            )
            continue
        why = _catch_all(rule, section)
        if why is not None:
            catch_all = (i, why)
            continue
        for j, entry in enumerate(as_list(rule.get("match")) if isinstance(rule, dict) else []):
            if not isinstance(entry, dict):
                continue
            where = (section, i, rule, j)
            yield from _shadowed_entry(entry, where, rules, seen, prefixes, ctx)
            seen.setdefault(_canonical(entry), i)
            prefix = _prefix_entry(entry, i) if section == "http" else None
            if prefix is not None:
                prefixes.append(prefix)


def _shadowed_entry(
    entry: Mapping[str, Any],
    where: tuple[str, int, Any, int],
    rules: Sequence[Any],
    seen: Mapping[str, int],
    prefixes: Sequence[_Prefix],
    ctx: RuleContext,
) -> Iterator[Finding]:
    section, i, rule, j = where
    ptr = pointer("spec", section, i, "match", j)
    first = seen.get(_canonical(entry))
    if first is not None and first < i:
        yield ctx.finding(
            ptr,
            f"match {j} of {_label(section, i, rule)} is identical to a match of "
            f"{_label(section, first, rules[first])}, which takes those requests first",
            severity=Severity.WARNING,
        )
        return
    path = _uri_path(entry) if section == "http" else None
    if path is None:
        return
    conditions = _set_fields(entry)
    for earlier in prefixes:
        k = earlier.rule
        if k < i and vs_prefix_matches(earlier.prefix, path[1]) and earlier.covers(conditions):
            also = (
                f" with the same {', '.join(sorted(earlier.conditions))}"
                if earlier.conditions
                else ""
            )
            yield ctx.finding(
                ptr,
                f'match {j} of {_label(section, i, rule)} (uri {path[0]} "{path[1]}") is shadowed '
                f"by {_label(section, k, rules[k])}, which takes every path under "
                f'"{earlier.prefix}"{also}',
                severity=Severity.WARNING,
            )
            return


def _canonical(entry: Mapping[str, Any]) -> str:
    return json.dumps(_set_fields(entry), sort_keys=True, default=str)


class _Prefix(NamedTuple):
    """An earlier match entry with a case-sensitive `uri.prefix`, and its other conditions.

    The fields of an entry are ANDed, so it takes every request of a later entry whose path is
    under its prefix and which repeats each of its other conditions (the later entry may add
    more: that only narrows it). istio's own check (validation.go coveredValidation) compares
    the same way, but counts a missing `method` as GET; meshguard does not (no method = any).
    """

    prefix: str
    conditions: Mapping[str, str]  # field -> canonical JSON of its value
    rule: int

    def covers(self, later: Mapping[str, Any]) -> bool:
        return all(
            key in later and _canonical_value(later[key]) == value
            for key, value in self.conditions.items()
        )


def _prefix_entry(entry: Mapping[str, Any], rule: int) -> _Prefix | None:
    fields = _set_fields(entry)
    uri = fields.pop("uri", None)
    if not isinstance(uri, dict):
        return None
    uri_fields = _set_fields(uri, frozenset())
    prefix = uri_fields.get("prefix")
    if set(uri_fields) != {"prefix"} or not isinstance(prefix, str):
        return None
    return _Prefix(prefix, {k: _canonical_value(v) for k, v in fields.items()}, rule)


def _canonical_value(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _uri_path(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, value) of a case-sensitive `uri.prefix`/`uri.exact`; `ignoreUriCase` matches paths
    an earlier case-sensitive prefix does not, so such entries are never shadowed."""
    uri = entry.get("uri")
    if not isinstance(uri, dict) or not _unset(entry.get("ignoreUriCase")):
        return None
    for kind in ("prefix", "exact"):
        value = uri.get(kind)
        if isinstance(value, str):
            return kind, value
    return None


# -- MG210 ---------------------------------------------------------------------------------------

_TRAILING_GLOB = re.compile(r"(?:\{\*\*\}|\{\*\}|\*)+$")


def _strip_trailing_glob(value: str) -> str | None:
    """`/v1/models/*` → `/v1/models/`; None when a glob remains (mid-path: no mechanical fix)."""
    text = _TRAILING_GLOB.sub("", value)
    return text if text and not any(c in text for c in "*{}") else None


@check("MG210")
def glob_in_route_path(res: Resource, ctx: RuleContext) -> Iterator[Finding]:
    """VS StringMatch is exact/prefix/RE2 only (virtual_service.proto) and the Gateway API path
    charset allows `*` only as a literal and no `{`/`}` (gwapi httproute_types.go CEL):
    AuthorizationPolicy-style globs in a route match nothing."""
    for rt in routes_of(res, str(ctx.params.get("mesh.domain_suffix"))):
        for path in rt.paths:
            if path.kind == "regex":
                continue
            if rt.api == "istio":
                yield from _vs_glob(path.kind, path.value, path.pointer, ctx)
            else:
                yield from _gateway_glob(path.kind, path.value, path.pointer, ctx)


def _vs_glob(kind: str, value: str, ptr: JsonPointer, ctx: RuleContext) -> Iterator[Finding]:
    if "*" not in value:
        return
    stripped = _strip_trailing_glob(value)
    fix = None
    if stripped is not None:
        title = f'match uri prefix "{stripped}"'
        if kind == "prefix":
            fix = Fix.replace(ptr, stripped, title, safety=Safety.UNSAFE)
        else:
            prefix = ptr.rsplit("/", 1)[0] + "/prefix"  # rename the key in place, then set it
            move = {"op": "move", "from": ptr, "path": prefix}
            set_value = {"op": "replace", "path": prefix, "value": stripped}
            fix = Fix(title, (move, set_value), safety=Safety.UNSAFE)
    yield ctx.finding(
        ptr,
        f'uri {kind} "{value}" contains "*", a literal character in virtualservice matching',
        severity=Severity.WARNING,
        fix=fix,
    )


def _gateway_glob(kind: str, value: str, ptr: JsonPointer, ctx: RuleContext) -> Iterator[Finding]:
    braces = "{" in value or "}" in value
    if not braces and "*" not in value:
        return
    stripped = _strip_trailing_glob(value)
    fix = None
    if stripped is not None:
        prefix = stripped.rstrip("/") or "/"  # PathPrefix is element-wise: a trailing / is ignored
        ops: list[dict[str, Any]] = [{"op": "replace", "path": ptr, "value": prefix}]
        if kind == "exact":
            type_ptr = ptr.rsplit("/", 1)[0] + "/type"
            ops.append({"op": "replace", "path": type_ptr, "value": "PathPrefix"})
        fix = Fix(f'match PathPrefix "{prefix}"', tuple(ops), safety=Safety.UNSAFE)
    api_kind = "Exact" if kind == "exact" else "PathPrefix"
    if braces:
        found, severity = 'contains "{" or "}", rejected by the HTTPRoute CRD', Severity.ERROR
    else:
        found, severity = (
            'contains "*", a literal character in HTTPRoute matching',
            Severity.WARNING,
        )
    yield ctx.finding(ptr, f'path {api_kind} "{value}" {found}', severity=severity, fix=fix)
