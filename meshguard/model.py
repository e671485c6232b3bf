"""Core types shared by every face: resources in, findings (with fixes) out.

`Resource.body` is plain dicts and lists, read-only by convention; a check never mutates it and
returns repairs as RFC 6902 operations (`Fix`), so `meshguard fix` and `/mutate` share one repair.
Because bodies are always plain `dict`s (from YAML and from JSON alike), checks test
`isinstance(x, dict)`: the abstract-class test `isinstance(x, Mapping)` costs six times as much,
and checks make close to a million such tests in a large run.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

JsonPointer = str


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; `--fail-on` compares ranks."""
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class Safety(enum.StrEnum):
    """Fix applicability (ruff's levels): safe applies by default, unsafe needs opt-in."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a resource came from: the file (`-` for stdin), its document index and positions."""

    file: str
    doc_index: int
    positions: Mapping[JsonPointer, tuple[int, int]] = field(default_factory=dict, compare=False)

    def __reduce__(self) -> tuple[Any, ...]:
        return Origin, (self.file, self.doc_index, self.positions)  # see Resource.__reduce__

    def position_of(self, pointer: JsonPointer) -> Position:
        """Position of `pointer`, or of its nearest ancestor that exists in the document."""
        ptr = pointer
        while True:
            pos = self.positions.get(ptr)
            if pos is not None:
                return Position(*pos)
            if not ptr:
                return Position(1, 1)
            ptr = ptr.rsplit("/", 1)[0]


class LazyPositions(Mapping[JsonPointer, tuple[int, int]]):
    """Positions kept as a flat array (line, column, ...) in document order; a map on first use.

    The loader records a position for every key and list item, but findings (which need them)
    are rare: the pointer map is rebuilt from the body, whose dicts and lists iterate in the
    same order the positions were recorded, only for resources that have a finding.
    """

    __slots__ = ("_flat", "_body", "_start", "_map")

    def __init__(
        self, flat: Sequence[int], body: Mapping[str, Any], start: tuple[int, int]
    ) -> None:
        self._flat = flat
        self._body = body
        self._start = start
        self._map: dict[JsonPointer, tuple[int, int]] | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return LazyPositions, (self._flat, self._body, self._start)  # the map is rebuilt

    def _built(self) -> dict[JsonPointer, tuple[int, int]]:
        if self._map is None:
            out: dict[JsonPointer, tuple[int, int]] = {"": self._start}
            numbers = iter(self._flat)
            # depth-first, pre-order, children in iteration order: the loader's recording order
            stack: list[tuple[str, Iterator[tuple[Any, Any]]]] = [("", iter(self._body.items()))]
            while stack:
                ptr, children = stack[-1]
                entry = next(children, None)
                if entry is None:
                    stack.pop()
                    continue
                key, value = entry
                if type(key) is not str:
                    key = str(key)
                elif "/" in key or "~" in key:
                    key = escape_pointer_token(key)
                child = f"{ptr}/{key}"
                out[child] = (next(numbers), next(numbers))
                if isinstance(value, dict):
                    stack.append((child, iter(value.items())))
                elif isinstance(value, list):
                    stack.append((child, enumerate(value)))
            self._map = out
        return self._map

    def __getitem__(self, key: JsonPointer) -> tuple[int, int]:
        return self._built()[key]

    def __iter__(self) -> Iterator[JsonPointer]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


# Kinds without a namespace: their `namespace` is "" rather than "default".
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PriorityClass",
        "GatewayClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "IngressClass",
        "RuntimeClass",
        "ClusterIssuer",
        "ClusterServingRuntime",
        "ClusterStorageContainer",
        "ClusterTrainingRuntime",
    }
)


@dataclass(frozen=True, slots=True)
class Resource:
    """One Kubernetes object: identity, body as plain data, and where it came from."""

    api_version: str
    kind: str
    namespace: str  # "" for cluster-scoped kinds, "default" when a namespaced object omits it
    name: str
    body: Mapping[str, Any]
    origin: Origin
    # Derived once here, not in properties: checks read them several hundred thousand times in
    # a large run (a property call each time was about 5 % of checking).
    group: str = field(init=False, repr=False, compare=False)  # "" for the core group (`v1`)
    version: str = field(init=False, repr=False, compare=False)
    spec: Mapping[str, Any] = field(init=False, repr=False, compare=False)  # {} when absent
    metadata: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        group, _, version = self.api_version.rpartition("/")
        spec = self.body.get("spec")
        meta = self.body.get("metadata")
        object.__setattr__(self, "group", group)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "spec", spec if isinstance(spec, Mapping) else {})
        object.__setattr__(self, "metadata", meta if isinstance(meta, Mapping) else {})

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a constructor call: resources parsed in a forked child (loader.load_files)
        cross a pipe, and the dataclass default for frozen slotted classes (one Python-level
        `object.__setattr__` per field) costs several times as much."""
        fields = (self.api_version, self.kind, self.namespace, self.name, self.body, self.origin)
        return Resource, fields

    @property
    def labels(self) -> Mapping[str, Any]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, Mapping) else {}

    @property
    def annotations(self) -> Mapping[str, Any]:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, Mapping) else {}

    @property
    def ref(self) -> str:
        """`Kind namespace/name`, as shown in messages."""
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )


@dataclass(frozen=True, slots=True)
class Fix:
    """A repair: RFC 6902 operations on the resource, plus whole documents to add beside it."""

    title: str
    ops: tuple[Mapping[str, Any], ...] = ()
    new_documents: tuple[Mapping[str, Any], ...] = ()
    safety: Safety = Safety.SAFE

    @classmethod
    def replace(
        cls, pointer: JsonPointer, value: Any, title: str, *, safety: Safety = Safety.SAFE
    ) -> Fix:
        return cls(title, ({"op": "replace", "path": pointer, "value": value},), safety=safety)

    @classmethod
    def add(
        cls, pointer: JsonPointer, value: Any, title: str, *, safety: Safety = Safety.SAFE
    ) -> Fix:
        return cls(title, ({"op": "add", "path": pointer, "value": value},), safety=safety)

    @classmethod
    def remove(cls, pointer: JsonPointer, title: str, *, safety: Safety = Safety.SAFE) -> Fix:
        return cls(title, ({"op": "remove", "path": pointer},), safety=safety)

    @classmethod
    def add_document(
        cls, document: Mapping[str, Any], title: str, *, safety: Safety = Safety.SAFE
    ) -> Fix:
        return cls(title, new_documents=(document,), safety=safety)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    file: str
    position: Position
    pointer: JsonPointer
    resource: Resource | None = None
    fix: Fix | None = None

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.position.line, self.position.column, self.rule, self.message)

    def resource_id(self) -> dict[str, str]:
        res = self.resource
        if res is None:
            return {"apiVersion": "", "kind": "", "namespace": "", "name": ""}
        return {
            "apiVersion": res.api_version,
            "kind": res.kind,
            "namespace": res.namespace,
            "name": res.name,
        }


def escape_pointer_token(token: str | int) -> str:
    """RFC 6901: `~` becomes `~0` and `/` becomes `~1` (annotation keys contain `/`)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> JsonPointer:
    """Build a JSON Pointer from raw tokens: pointer("metadata", "annotations", "a/b")."""
    if not tokens:
        return ""
    text = "/".join(map(str, tokens))
    # a token holds "/" exactly when there are more slashes than separators (checks build a
    # pointer for every field they read, so the common case stays in C)
    if "~" in text or text.count("/") != len(tokens) - 1:
        text = "/".join(escape_pointer_token(t) for t in tokens)
    return "/" + text
