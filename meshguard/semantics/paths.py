"""Path matching per API, and P7 *covers*, RULES.md §0.4 and §5.

Four APIs, four semantics:

* VirtualService ``uri.prefix`` is a plain string prefix (Envoy ``prefix``); ``uri.exact`` is
  compared with the query string removed (Envoy ``path``); ``uri.regex`` is RE2.
* Gateway API ``PathPrefix`` is element-wise: Istio trims one trailing ``/`` and renders Envoy
  ``path_separated_prefix`` (``istio pilot/pkg/config/kube/gateway/conversion.go:
  createURIMatch``, ``pilot/pkg/networking/core/route/route.go``), so ``/v1/models/iris`` does
  not match ``/v1/models/iris:predict`` (``gwapi apis/v1/httproute_types.go``).
* AuthorizationPolicy ``paths`` are exact, except ``*`` (any non-empty path), a leading ``*``
  (suffix) and a trailing ``*`` (prefix); any other ``*`` is a literal character
  (``istio pilot/pkg/security/authz/matcher/string.go: StringMatcherWithPrefix``). A value with
  ``{*}``/``{**}`` is an Envoy URI template (``matcher/template.go``), validated by
  ``pkg/config/security/security.go: CheckValidPathTemplate``.

Regexes are evaluated with Python :mod:`re` (``re.ASCII``), not RE2. They agree on the syntax
people write in routes; they differ in that Python also accepts backreferences, lookarounds and
repeat counts above 1000 (RE2, hence Istio/Envoy, rejects them), and Python backtracks. To keep
the webhook safe from catastrophic backtracking, a regex with a repeated group that itself repeats
or alternates (``(a+)+``, ``(a|b)*``) is not evaluated: :func:`regex_full_match` returns False.
"""

from __future__ import annotations

import re
from typing import Final

MATCH_ONE_TEMPLATE: Final = "{*}"
MATCH_ANY_TEMPLATE: Final = "{**}"
# security.go validLiteral (RFC 3986 pchar); Envoy's uri_template kLiteral lacks "=".
_VALID_LITERAL: Final = re.compile(r"[a-zA-Z0-9\-._~%!$&'()+,;:@=]+")
_ENVOY_LITERAL: Final = r"a-zA-Z0-9\-._~%!$&'()+,;:@"
_ENVOY_LITERAL_RE: Final = re.compile(f"[{_ENVOY_LITERAL}]+")
# gwapi httproute_types.go HTTPPathMatch CEL charset for Exact and PathPrefix.
_GATEWAY_PATH_CHARS: Final = re.compile(r"(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+")

_KINDS: Final = {
    "exact": "exact",
    "Exact": "exact",
    "prefix": "prefix",
    "PathPrefix": "prefix",
    "regex": "regex",
    "RegularExpression": "regex",
}


def _strip_query(path: str) -> str:
    """Envoy ``PathUtil::removeQueryAndFragment``: the path portion of ``:path``."""
    return re.split(r"[?#]", path, maxsplit=1)[0]


def _match_kind(match_kind: str | None) -> str | None:
    return _KINDS.get(match_kind) if match_kind is not None else None


_BRACES: Final = re.compile(r"\{([0-9]*)(,([0-9]*))?\}")


def _skip_class(pattern: str, i: int) -> int:
    """Index just past the character class starting at ``pattern[i] == "["``."""
    i += 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _repeats(pattern: str, i: int) -> tuple[bool, int]:
    """(is a quantifier allowing more than one repetition, its length) at ``pattern[i]``."""
    if pattern[i] in "*+":
        return True, 1
    m = _BRACES.match(pattern, i) if pattern[i] == "{" else None
    if m is None or (m.group(1) == "" and m.group(2) is None):
        return False, 0
    low, comma, high = m.group(1), m.group(2), m.group(3)
    many = _above_one(low) if comma is None else (not high or _above_one(high))
    return many, m.end() - i


def _above_one(digits: str) -> bool:
    return digits.lstrip("0") not in ("", "1")


def _risky_regex(pattern: str) -> bool:
    """A repeated group containing a repeat or an alternation (star height > 1, ``(a|b)*``).

    Such patterns can backtrack exponentially in Python :mod:`re`; RE2 would not.
    """
    stack = [False]  # per open group: contains a repeat or an alternation
    last_complex_group = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        many, width = _repeats(pattern, i)
        if width:
            if many and last_complex_group:
                return True
            stack[-1] = stack[-1] or many
            last_complex_group = False
            i += width
            continue
        last_complex_group = False
        if ch == "\\":
            i += 1
        elif ch == "[":
            i = _skip_class(pattern, i) - 1
        elif ch == "(":
            stack.append(False)
        elif ch == ")" and len(stack) > 1:
            last_complex_group = stack.pop()
            stack[-1] = stack[-1] or last_complex_group
        elif ch == "|":
            stack[-1] = True
        i += 1
    return False


def regex_full_match(pattern: str, text: str) -> bool:
    """RE2-style full match; False for an invalid regex or one :func:`_risky_regex` refuses."""
    if _risky_regex(pattern):
        return False
    try:
        return re.fullmatch(pattern, text, flags=re.ASCII) is not None
    except (re.error, RecursionError, OverflowError):
        return False


def is_catch_all(match_kind: str | None, value: str | None) -> bool:
    """A match entry that matches every path: no uri/path at all, prefix ``/``, regex ``.*``.

    ``value`` None with a prefix kind is the HTTPRoute default (``PathPrefix /``).
    """
    kind = _match_kind(match_kind)
    if match_kind is None:
        return True
    if kind == "prefix":
        return value is None or value == "/"
    return kind == "regex" and value == ".*"


def covers(match_kind: str, value: str, path: str) -> bool:
    """P7: does a route match on ``value`` *cover* the listed ``path``?

    ``path`` without a leading ``/`` is a substring marker (``generate_stream``): covered when
    ``value`` (for a regex, its source) contains it. Otherwise exact: equal, or under a listed
    path that ends in ``/``; prefix: either is a string prefix of the other; regex: full match of
    ``path``. A catch-all entry covers nothing.

    A listed path ending in ``/`` names a family (the default ``inference_paths``:
    ``/v1/models/``), so ``exact: /v1/models/iris:predict`` covers it. RULES.md P7 says "exact ==
    p", which would leave the most specific inference route unclassified.
    ``match_kind`` is ``exact``/``prefix``/``regex`` or the Gateway API ``Exact``/``PathPrefix``/
    ``RegularExpression``; unknown kinds cover nothing.
    """
    kind = _match_kind(match_kind)
    if kind is None or is_catch_all(match_kind, value):
        return False
    if not path.startswith("/"):
        return path in value
    if kind == "exact":
        return value == path or (path.endswith("/") and value.startswith(path))
    if kind == "prefix":
        return path.startswith(value) or value.startswith(path)
    return regex_full_match(value, path)


def vs_prefix_matches(prefix: str, path: str) -> bool:
    """VirtualService ``uri.prefix``: plain string prefix of ``:path`` (Envoy ``prefix``)."""
    return path.startswith(prefix)


def exact_path_matches(value: str, path: str) -> bool:
    """VirtualService ``uri.exact`` / HTTPRoute ``Exact``: equal to the path without its query."""
    return _strip_query(path) == value


def gateway_prefix_matches(prefix: str, path: str) -> bool:
    """Gateway API ``PathPrefix``: element-wise (Envoy ``path_separated_prefix``).

    One trailing ``/`` of the prefix is ignored; the request path matches when it equals the
    prefix or continues with ``/``. ``/v1/models/iris`` does not match ``/v1/models/iris:predict``.
    """
    if prefix == "/":
        return True
    prefix = prefix.removesuffix("/")
    path = _strip_query(path)
    return path == prefix or path.startswith(prefix + "/")


def gateway_path_error(match_type: str, value: str) -> str | None:
    """HTTPRoute ``matches[].path`` CEL rules (``gwapi httproute_types.go: HTTPPathMatch``).

    Returns the API server's message for the first failing rule, None when admitted.
    """
    if match_type not in ("Exact", "PathPrefix", "RegularExpression"):
        return "type must be one of ['Exact', 'PathPrefix', 'RegularExpression']"
    if len(value) > 1024:
        return "value may not be longer than 1024 characters"
    if match_type == "RegularExpression":
        return None
    checks = (
        (not value.startswith("/"), "value must be an absolute path and start with '/'"),
        ("//" in value, "must not contain '//'"),
        ("/./" in value, "must not contain '/./'"),
        ("/../" in value, "must not contain '/../'"),
        ("%2f" in value, "must not contain '%2f'"),
        ("%2F" in value, "must not contain '%2F'"),
        ("#" in value, "must not contain '#'"),
        (value.endswith("/.."), "must not end with '/..'"),
        (value.endswith("/."), "must not end with '/.'"),
    )
    for failed, message in checks:
        if failed:
            return f"{message} when type one of ['Exact', 'PathPrefix']"
    if not _GATEWAY_PATH_CHARS.fullmatch(value):
        return (
            "must only contain valid characters (matching "
            f"^{_GATEWAY_PATH_CHARS.pattern}$) for types ['Exact', 'PathPrefix']"
        )
    return None


def contains_path_template(pattern: str) -> bool:
    """security.go ContainsPathTemplate: ``{*}`` or ``{**}`` anywhere in the value."""
    return MATCH_ONE_TEMPLATE in pattern or MATCH_ANY_TEMPLATE in pattern


def ap_path_template_error(pattern: str) -> str | None:
    """``CheckValidPathTemplate`` for one ``paths``/``notPaths`` value; None when Istio accepts it.

    Istio (≥ 1.22) checks every value: segments (after trimming leading/trailing ``/``) may be
    ``{*}``, ``{**}`` (no template after ``{**}``) or, in a templated value, a pchar literal; a
    ``{`` or ``}`` elsewhere is rejected even in a value without templates. ``/v1/{**}/infer`` is
    accepted: only another *template* after ``{**}`` fails.
    """
    templated = contains_path_template(pattern)
    found_any = False
    for glob in pattern.strip("/").split("/"):
        if glob in (MATCH_ONE_TEMPLATE, MATCH_ANY_TEMPLATE):
            if found_any:
                return "{**} is not the last operator"
            found_any = glob == MATCH_ANY_TEMPLATE
            continue
        if "{" in glob or "}" in glob:
            return "contains '{' or '}' beyond a supported path template"
        if templated and not _VALID_LITERAL.fullmatch(glob):
            return f"contains segment {glob!r} with invalid string literal"
    return None


def _template_regex(pattern: str) -> re.Pattern[str] | None:
    """Envoy uri_template ``parseURLPatternSyntax`` + ``toRegexPattern``; None if Envoy rejects."""
    text = re.sub(r"\{\*\*\}|\{\*\}", lambda m: "**" if m.group() == "{**}" else "*", pattern)
    if not re.fullmatch(r"/[!-~]*", text):
        return None
    rest, parts, suffix, seen_text_glob = text[1:], [], "", False
    while rest:
        if rest[0] == "*":
            op = "**" if rest.startswith("**") else "*"
            if seen_text_glob:
                return None  # "Glob after text glob."
            seen_text_glob = op == "**"
            parts.append(f"[{_ENVOY_LITERAL}]+" if op == "*" else f"[{_ENVOY_LITERAL}/]*")
            rest = rest[len(op) :]
        else:
            literal = rest.split("/", 1)[0]
            if not _ENVOY_LITERAL_RE.fullmatch(literal):
                return None
            parts.append(re.escape(literal))
            rest = rest[len(literal) :]
        if rest == "/":
            parts.append("")
            break
        if rest.startswith("/"):
            rest = rest[1:]
        elif rest:
            if not _ENVOY_LITERAL_RE.fullmatch(rest):
                return None  # a suffix must be one literal ("Prefix match not supported.")
            suffix, rest = rest, ""
    return re.compile("/" + "/".join(parts) + re.escape(suffix))


def ap_path_matches(pattern: str, path: str) -> bool:
    """Does AuthorizationPolicy ``paths`` value ``pattern`` match request ``path``?

    ``*`` matches any non-empty path (regex ``.+``), ``*x`` is a suffix match, ``x*`` a prefix
    match, anything else exact; ``{*}`` is one non-empty segment and ``{**}`` any run of
    segments (Envoy ``[pchar]+`` / ``[pchar/]*``). The query string is ignored. An invalid
    template matches nothing. Callers on Istio < 1.22 must treat templates as literals.
    """
    path = _strip_query(path)
    if contains_path_template(pattern):
        if ap_path_template_error(pattern) is not None:
            return False
        regex = _template_regex(pattern)
        return regex is not None and regex.fullmatch(path) is not None
    if pattern == "*":
        return path != ""
    if pattern.startswith("*"):
        return path.endswith(pattern[1:])
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def ap_path_literal_star(pattern: str) -> bool:
    """True when Istio matches a ``*`` of ``pattern`` as a literal character (MG107(1)).

    ``/v2/models/*/infer`` (exact match on the text), ``*/models/*`` and ``*foo*`` (a leading
    ``*`` wins: suffix match on text that still holds ``*``), ``/a/**`` (prefix ``/a/*``).
    Templated values are judged by :func:`ap_path_template_error` instead.
    """
    if pattern == "*" or contains_path_template(pattern):
        return False
    if pattern.startswith("*"):
        return "*" in pattern[1:]
    if pattern.endswith("*"):
        return "*" in pattern[:-1]
    return "*" in pattern
