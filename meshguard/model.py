"""Core types shared by every face: resources in, findings (with fixes) out.

`Resource.body` is plain dicts and lists, read-only by convention; a check never mutates it and
returns repairs as RFC 6902 operations (`Fix`), so `meshguard fix` and `/mutate` share one repair.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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
    positions: Mapping[JsonPointer, Position] = field(default_factory=dict, compare=False)

    def position_of(self, pointer: JsonPointer) -> Position:
        """Position of `pointer`, or of its nearest ancestor that exists in the document."""
        ptr = pointer
        while True:
            pos = self.positions.get(ptr)
            if pos is not None:
                return pos
            if not ptr:
                return Position(1, 1)
            ptr = ptr.rsplit("/", 1)[0]


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

    @property
    def group(self) -> str:
        """API group: "" for the core group (`v1`)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, Mapping) else {}

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.body.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

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
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class Fix:
    """A repair: RFC 6902 operations on the resource, plus whole documents to add beside it."""

    title: str
    ops: tuple[Mapping[str, Any], ...] = ()
    new_documents: tuple[Mapping[str, Any], ...] = ()
    safety: Safety = Safety.SAFE

    @classmethod
    def replace(cls, pointer: JsonPointer, value: Any, title: str, *, safety: Safety = Safety.SAFE) -> Fix:
        return cls(title, ({"op": "replace", "path": pointer, "value": value},), safety=safety)

    @classmethod
    def add(cls, pointer: JsonPointer, value: Any, title: str, *, safety: Safety = Safety.SAFE) -> Fix:
        return cls(title, ({"op": "add", "path": pointer, "value": value},), safety=safety)

    @classmethod
    def remove(cls, pointer: JsonPointer, title: str, *, safety: Safety = Safety.SAFE) -> Fix:
        return cls(title, ({"op": "remove", "path": pointer},), safety=safety)

    @classmethod
    def add_document(cls, document: Mapping[str, Any], title: str, *, safety: Safety = Safety.SAFE) -> Fix:
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
    return "".join("/" + escape_pointer_token(t) for t in tokens)
