"""One view of an HTTP route: Istio VirtualService `spec.http[]` and HTTPRoute `spec.rules[]`.

Traffic rules (MG202–MG210) ask the same questions of both APIs — which paths does the route
match, which methods, what timeout, which retry block, which backends, is it an LLM route — but
the two APIs spell them differently. `routes_of(res)` answers them once, with a JSON Pointer for
every value so findings land on the right line. This module only reads: it never parses
durations or retryOn (that is `meshguard.semantics`), and it never raises on hostile input.

Normalisation (RULES.md P7, §5):
* path matches are `PathMatch(kind, value, pointer)` with `kind` one of `exact | prefix | regex`
  (HTTPRoute `Exact`/`PathPrefix`/`RegularExpression`; VS `uri.exact`/`uri.prefix`/`uri.regex`).
  An HTTPRoute match entry without `path`, or a rule without `matches`, gets the CRD default
  `PathPrefix /` (`gwapi apis/v1/httproute_types.go`), with the pointer of the entry (or rule).
  A VS match entry without `uri` has no path match.
* methods are `StringField(kind, value, pointer)` (VS `method.{exact,prefix,regex}`; HTTPRoute
  `method` is always exact).
* the route timeout is VS `timeout` / HTTPRoute `timeouts.request`; `backend_timeout` is
  HTTPRoute `timeouts.backendRequest` (Istio maps it to `perTryTimeout` when `retry` is set).
* the retry block is VS `retries` / HTTPRoute `retry`, exposed raw with its pointer.

Stable API (used read-only by MG202–MG210): `routes_of`, `Route`, `PathMatch`, `StringField`,
`Value`, `Backend`, `is_llm_route`, `is_inference_route`, `is_embeddings_route`, `covers_any`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol

from meshguard.model import JsonPointer, Resource, pointer
from meshguard.semantics.hosts import normalize_host, service_host
from meshguard.semantics.paths import covers, is_catch_all

ISTIO_NETWORKING = "networking.istio.io"
GATEWAY_API = "gateway.networking.k8s.io"
INFERENCE_POOL_GROUPS = ("inference.networking.k8s.io", "inference.networking.x-k8s.io")
ROUTE_CLASS_ANNOTATION = "meshguard.io/route-class"

Api = Literal["istio", "gateway"]
MatchKind = Literal["exact", "prefix", "regex"]

_VS_KINDS = ("exact", "prefix", "regex")
_GW_PATH_KINDS: dict[str, MatchKind] = {
    "Exact": "exact",
    "PathPrefix": "prefix",
    "RegularExpression": "regex",
}


class ParamSource(Protocol):
    """Anything with dotted `get` (meshguard.config.Params)."""

    def get(self, dotted: str) -> Any: ...


class Value(NamedTuple):
    """A field's raw value (any YAML type) and where it is."""

    value: Any
    pointer: JsonPointer


class PathMatch(NamedTuple):
    """One path condition, normalised across APIs (kind: exact | prefix | regex)."""

    kind: MatchKind
    value: str
    pointer: JsonPointer  # the value's pointer (the match entry's for an HTTPRoute default)


class StringField(NamedTuple):
    """A string match (VS StringMatch or HTTPRoute method): kind exact | prefix | regex."""

    kind: MatchKind
    value: str
    pointer: JsonPointer


class Backend(NamedTuple):
    """A VS `route[].destination` or an HTTPRoute `backendRefs[]` entry.

    `host` is the fully qualified service host (RULES.md P5) — VS: the normalised destination
    host; HTTPRoute: the Service host of a core `Service` backendRef — or "" when unknown
    (InferencePool, other kinds, a missing name). `kind` is "" for a VS destination.
    """

    pointer: JsonPointer  # the list item: /spec/http/0/route/1 or /spec/rules/0/backendRefs/1
    host: str
    name: str  # VS: destination.host as written; HTTPRoute: backendRef name
    group: str
    kind: str
    namespace: str
    port: Any
    subset: str
    weight: Value | None  # None when `weight` is not written
    body: Mapping[str, Any]

    @property
    def is_inference_pool(self) -> bool:
        return self.kind == "InferencePool"


@dataclass(frozen=True, slots=True)
class Route:
    """One VS `spec.http[i]` or HTTPRoute `spec.rules[i]` (see the module docstring)."""

    api: Api
    resource: Resource
    index: int
    pointer: JsonPointer  # /spec/http/i or /spec/rules/i
    body: Mapping[str, Any]
    match_entries: tuple[
        Value, ...
    ]  # raw VS match[j] / HTTPRoute matches[j] (value may be non-mapping)
    paths: tuple[PathMatch, ...]
    methods: tuple[StringField | None, ...]  # one per match entry; None: that entry has no method
    timeout: Value | None  # VS timeout / HTTPRoute timeouts.request
    backend_timeout: Value | None  # HTTPRoute timeouts.backendRequest (always None for VS)
    retry: Value | None  # VS retries / HTTPRoute retry (raw; may be a non-mapping)
    backends: tuple[Backend, ...]

    @property
    def retry_block(self) -> Mapping[str, Any] | None:
        """The retry block when it is a mapping, else None."""
        if self.retry is not None and isinstance(self.retry.value, dict):
            return self.retry.value
        return None

    def retry_field(self, key: str) -> Value | None:
        """A retry block field (`attempts`, `perTryTimeout`, `retryOn`, `backoff`, `codes`)."""
        block = self.retry_block
        if block is None or key not in block or self.retry is None:
            return None
        return Value(block[key], self.retry.pointer + pointer(key))

    def field(self, *tokens: str) -> Value | None:
        """A nested field of the route body: `route.field("fault", "delay", "fixedDelay")`."""
        data: Any = self.body
        for token in tokens:
            if not isinstance(data, dict) or token not in data:
                return None
            data = data[token]
        return Value(data, self.pointer + pointer(*tokens))

    def restricted_to_methods(self, allowed: Iterable[str]) -> bool:
        """True when every match entry requires an exact method in `allowed` (matches are ORed)."""
        wanted = {m.upper() for m in allowed}
        if not self.methods:
            return False
        return all(m is not None and m.kind == "exact" and m.value in wanted for m in self.methods)

    def has_exact_method(self, method: str) -> bool:
        return any(m is not None and m.kind == "exact" and m.value == method for m in self.methods)


# -- building routes ---------------------------------------------------------------------------


_CACHE_SIZE = 64
_cache: OrderedDict[tuple[int, str], tuple[Resource, tuple[Route, ...]]] = OrderedDict()


def routes_of(res: Resource, domain_suffix: str = "cluster.local") -> tuple[Route, ...]:
    """The HTTP routes of a VirtualService or HTTPRoute (any served version); [] otherwise.

    A dozen rules read the routes of the same resource one after another (the engine runs all
    rules of a resource together), so the last few results are kept; the entry holds the
    resource itself, so a reused id() can never return another resource's routes.
    """
    key = (id(res), domain_suffix)
    hit = _cache.get(key)
    if hit is not None and hit[0] is res:
        return hit[1]
    routes = tuple(_build_routes(res, domain_suffix))
    _cache[key] = (res, routes)
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return routes


def _build_routes(res: Resource, domain_suffix: str) -> list[Route]:
    if res.group == ISTIO_NETWORKING and res.kind == "VirtualService":
        return _items(res, "http", lambda i, item: _vs_route(res, i, item, domain_suffix))
    if res.group == GATEWAY_API and res.kind == "HTTPRoute":
        return _items(res, "rules", lambda i, item: _gw_route(res, i, item, domain_suffix))
    return []


def _items(res: Resource, key: str, build: Any) -> list[Route]:
    items = res.spec.get(key)
    if not isinstance(items, list):
        return []
    return [build(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _value(body: Mapping[str, Any], base: JsonPointer, *tokens: str) -> Value | None:
    data: Any = body
    for token in tokens:
        if not isinstance(data, dict) or token not in data:
            return None
        data = data[token]
    return Value(data, base + pointer(*tokens))


def _string_match(value: Any, ptr: JsonPointer) -> StringField | None:
    """VS StringMatch `{exact|prefix|regex: str}`: the first kind present with a string value."""
    if not isinstance(value, dict):
        return None
    for kind in _VS_KINDS:
        text = value.get(kind)
        if isinstance(text, str):
            return StringField(kind, text, ptr + pointer(kind))  # type: ignore[arg-type]
    return None


def _vs_route(res: Resource, index: int, body: Mapping[str, Any], domain: str) -> Route:
    base = pointer("spec", "http", index)
    entries: list[Value] = []
    paths: list[PathMatch] = []
    methods: list[StringField | None] = []
    raw = body.get("match")
    for j, entry in enumerate(raw if isinstance(raw, list) else []):
        ptr = base + pointer("match", j)
        entries.append(Value(entry, ptr))
        if not isinstance(entry, dict):
            methods.append(None)
            continue
        uri = _string_match(entry.get("uri"), ptr + "/uri")
        if uri is not None:
            paths.append(PathMatch(uri.kind, uri.value, uri.pointer))
        methods.append(_string_match(entry.get("method"), ptr + "/method"))
    backends = []
    dests = body.get("route")
    for j, item in enumerate(dests if isinstance(dests, list) else []):
        if isinstance(item, dict):
            backends.append(_vs_backend(res, base + pointer("route", j), item, domain))
    return Route(
        "istio",
        res,
        index,
        base,
        body,
        tuple(entries),
        tuple(paths),
        tuple(methods),
        _value(body, base, "timeout"),
        None,
        _value(body, base, "retries"),
        tuple(backends),
    )


def _vs_backend(res: Resource, ptr: JsonPointer, item: Mapping[str, Any], domain: str) -> Backend:
    dest = item.get("destination")
    dest = dest if isinstance(dest, dict) else {}
    host = dest.get("host")
    name = host if isinstance(host, str) else ""
    subset = dest.get("subset")
    port = dest.get("port")
    port = port.get("number") if isinstance(port, dict) else None
    return Backend(
        pointer=ptr,
        host=normalize_host(name, res.namespace, domain) if name else "",
        name=name,
        group="",
        kind="",
        namespace=res.namespace,
        port=port,
        subset=subset if isinstance(subset, str) else "",
        weight=_value(item, ptr, "weight"),
        body=item,
    )


def _gw_route(res: Resource, index: int, body: Mapping[str, Any], domain: str) -> Route:
    base = pointer("spec", "rules", index)
    entries: list[Value] = []
    paths: list[PathMatch] = []
    methods: list[StringField | None] = []
    raw = body.get("matches")
    if not isinstance(raw, list) or not raw:
        # CRD default: matches: [{path: {type: PathPrefix, value: /}}]
        paths.append(PathMatch("prefix", "/", base))
    for j, entry in enumerate(raw if isinstance(raw, list) else []):
        ptr = base + pointer("matches", j)
        entries.append(Value(entry, ptr))
        if not isinstance(entry, dict):
            methods.append(None)
            continue
        path = _gw_path(entry.get("path"), ptr)
        if path is not None:
            paths.append(path)
        method = entry.get("method")
        methods.append(
            StringField("exact", method, ptr + "/method") if isinstance(method, str) else None
        )
    backends = []
    refs = body.get("backendRefs")
    for j, item in enumerate(refs if isinstance(refs, list) else []):
        if isinstance(item, dict):
            backends.append(_gw_backend(res, base + pointer("backendRefs", j), item, domain))
    return Route(
        "gateway",
        res,
        index,
        base,
        body,
        tuple(entries),
        tuple(paths),
        tuple(methods),
        _value(body, base, "timeouts", "request"),
        _value(body, base, "timeouts", "backendRequest"),
        _value(body, base, "retry"),
        tuple(backends),
    )


def _gw_path(path: Any, entry_ptr: JsonPointer) -> PathMatch | None:
    """HTTPPathMatch with CRD defaults (type PathPrefix, value /); None for an unknown type."""
    if path is None:
        return PathMatch("prefix", "/", entry_ptr)
    if not isinstance(path, dict):
        return None
    kind_name = path.get("type", "PathPrefix")
    kind = _GW_PATH_KINDS.get(kind_name) if isinstance(kind_name, str) else None
    value = path.get("value", "/")
    if kind is None or not isinstance(value, str):
        return None
    ptr = entry_ptr + ("/path/value" if "value" in path else "/path")
    return PathMatch(kind, value, ptr)


def _gw_backend(res: Resource, ptr: JsonPointer, item: Mapping[str, Any], domain: str) -> Backend:
    group = item.get("group", "")
    kind = item.get("kind", "Service")
    name = item.get("name")
    namespace = item.get("namespace", res.namespace)
    group = group if isinstance(group, str) else ""
    kind = kind if isinstance(kind, str) else ""
    name = name if isinstance(name, str) else ""
    namespace = namespace if isinstance(namespace, str) else res.namespace
    is_service = group in ("", "core") and kind == "Service"
    return Backend(
        pointer=ptr,
        host=service_host(name, namespace, domain) if is_service and name else "",
        name=name,
        group=group,
        kind=kind,
        namespace=namespace,
        port=item.get("port"),
        subset="",
        weight=_value(item, ptr, "weight"),
        body=item,
    )


# -- route classes (RULES.md P7, §0.3) ---------------------------------------------------------


def covers_any(route: Route, listed: Iterable[str]) -> bool:
    """P7 *covers*: some non-catch-all path match covers some listed path."""
    wanted = [p for p in listed if isinstance(p, str)]
    for match in route.paths:
        if is_catch_all(match.kind, match.value):
            continue
        if any(covers(match.kind, match.value, p) for p in wanted):
            return True
    return False


def is_llm_route(
    route: Route, params: ParamSource, annotations: Mapping[str, Any] | None = None
) -> bool:
    """P7: a match covers an `llm_paths` entry, a backendRef is an InferencePool, or the resource
    carries `meshguard.io/route-class: llm` (`annotations` defaults to the route's resource's)."""
    notes = route.resource.annotations if annotations is None else annotations
    if str(notes.get(ROUTE_CLASS_ANNOTATION, "")).strip().lower() == "llm":
        return True
    if any(b.is_inference_pool for b in route.backends):
        return True
    return covers_any(route, params.get("llm_paths"))


def is_embeddings_route(route: Route, params: ParamSource) -> bool:
    """MG206(4): a match covers an `embeddings_paths` entry."""
    return covers_any(route, params.get("embeddings_paths"))


def is_inference_route(
    route: Route,
    params: ParamSource,
    inference_hosts: Iterable[str] = (),
    annotations: Mapping[str, Any] | None = None,
) -> bool:
    """MG202(3)/MG205: a destination is an inference host (§0.3, `Inventory.inference_hosts`) or an
    InferencePool, or a match covers `inference_paths`/`llm_paths`/`embeddings_paths`, or the
    route is an LLM route by P7."""
    hosts = (
        inference_hosts if isinstance(inference_hosts, (set, frozenset)) else set(inference_hosts)
    )
    if any(b.host and b.host in hosts for b in route.backends):
        return True
    if is_llm_route(route, params, annotations):
        return True
    listed = [*params.get("inference_paths"), *params.get("embeddings_paths")]
    return covers_any(route, listed)
