"""Read manifests into `Resource`s with the position of every field.

PyYAML's C composer gives nodes with marks; each document is turned at once into plain data
plus a JSON Pointer → position map, and the nodes are dropped (keeping every file's node tree
alive makes the garbage collector's work grow with the run). Safe loading only: no Python tags,
a bound on alias expansion (billion laughs), on nesting depth and on file size.
"""

from __future__ import annotations

import os
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshguard import forks
from meshguard.errors import InputError
from meshguard.model import (
    CLUSTER_SCOPED_KINDS,
    Finding,
    LazyPositions,
    Origin,
    Position,
    Resource,
    Severity,
    escape_pointer_token,
)

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_NODES_PER_DOCUMENT = 500_000  # after alias expansion
MAX_DEPTH = 200
# libyaml's C composer recurses once per level and overflows the C stack near 30,000 levels
# (a 60 kB file of "- - - ..."). Nesting is at most 2 * (brackets + longest line) + 2 levels,
# so only a text over these bounds gets its depth checked on the event stream first; beyond
# _COMPOSE_MAX_DEPTH the file is MG000 (below it, MAX_DEPTH applies to Kubernetes objects).
_SCAN_BRACKETS = 1000
_SCAN_LINE = 1000
_COMPOSE_MAX_DEPTH = 5000
_START_EVENTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_END_EVENTS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
STDIN_NAME = "<stdin>"
YAML_SUFFIXES = (".yaml", ".yml")
PARSE_ERROR_RULE = "MG000"

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The C safe loader with a memo of implicit tag resolution.

    libyaml composes in C but asks the Python resolver for the tag of every plain scalar, which
    runs a list of regular expressions (YAML 1.1: ints, floats, bools, nulls, timestamps).
    Manifests repeat the same few hundred scalars (`name`, `spec`, `http`, `80`), and the answer
    depends only on the text when there are no path resolvers (safe loading has none), so it is
    remembered; the path-resolver hooks are no-ops for the same reason. Same tags as PyYAML,
    about 20 % less composing time.
    """

    _tags: dict[str, str] = {}
    _MAX_TAGS = 100_000

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = self._tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(self._tags) < self._MAX_TAGS:
                    self._tags[value] = tag
            return tag
        return super().resolve(kind, value, implicit)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


_constructor = yaml.constructor.SafeConstructor()
_SCALARS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    "tag:yaml.org,2002:int": _constructor.construct_yaml_int,
    "tag:yaml.org,2002:float": _constructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": _constructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": _constructor.construct_yaml_null,
}
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _DocumentTooLarge(Exception):
    """Raised inside the conversion; becomes an MG000 finding at the document's line."""


@dataclass(slots=True)
class LoadedFile:
    """One input file: its text (for suppression comments and fixes), resources and errors."""

    path: str
    text: str
    resources: list[Resource] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)


def iter_yaml_paths(
    paths: Iterable[str], is_ignored: Callable[[str], bool] = lambda _: False
) -> Iterator[str]:
    """Expand files and directories (recursively, `*.yaml`/`*.yml`, sorted); `-` is stdin.

    A file named twice (`lint . k8s/a.yaml`) is read once: its resources would otherwise be
    duplicates of themselves for the cross-resource rules.
    """
    seen: set[str] = set()

    def first_time(p: str) -> bool:
        key = os.path.realpath(p)
        if key in seen:
            return False
        seen.add(key)
        return True

    for raw in paths:
        if raw == "-":
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            found: list[str] = []
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                found.extend(
                    os.path.normpath(os.path.join(dirpath, f))
                    for f in filenames
                    if f.endswith(YAML_SUFFIXES) and not f.startswith(".")  # .meshguard.yaml
                )
            yield from (p for p in sorted(found) if not is_ignored(p) and first_time(p))
        elif path.is_file():
            if not is_ignored(raw) and first_time(raw):
                yield raw
        else:
            raise InputError(f"{raw}: no such file or directory")


def read_text(path: str) -> str:
    """Read a file or stdin as UTF-8 text; raise InputError naming the file otherwise."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from exc


def load_file(path: str) -> LoadedFile:
    """Read and parse one file; unreadable or unparsable input becomes one MG000 finding."""
    name = STDIN_NAME if path == "-" else path
    try:
        text = read_text(path)
    except InputError as exc:
        loaded = LoadedFile(name, "")
        loaded.errors.append(_parse_error(name, 1, 1, str(exc).split(": ", 1)[-1]))
        return loaded
    return load_text(text, name)


def load_text(text: str, name: str) -> LoadedFile:
    """Parse a multi-document YAML stream; the whole file is skipped when any part is broken."""
    loaded = LoadedFile(name, text)
    doc_index = -1
    try:
        _check_nesting(text)
        track = "&" in text  # no anchor, no alias: the alias bounds can be skipped
        for doc_index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
            if node is not None:
                budget = [MAX_NODES_PER_DOCUMENT]  # shared by the items of a `List`
                loaded.resources.extend(_resources_of(node, name, doc_index, budget, (), track))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        loaded.resources.clear()
        loaded.errors.append(_parse_error(name, line, col, f"YAML does not parse: {problem}"))
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        loaded.resources.clear()
        line, col = _reader_position(text, exc)
        reason = str(exc).splitlines()[0]
        loaded.errors.append(_parse_error(name, line, col, f"YAML does not parse: {reason}"))
    except _DocumentTooLarge as exc:
        loaded.resources.clear()
        line = exc.args[1] if len(exc.args) > 1 else 1
        loaded.errors.append(_parse_error(name, line, 1, str(exc.args[0])))
    return loaded


HELM_VALUES_API_VERSION = "meshguard.io/v1"
HELM_VALUES_KIND = "IstioHelmValues"


def load_values_file(path: str) -> LoadedFile:
    """Read istiod Helm values (`--istio-values`, `istio.values_files`) as one pseudo-resource.

    Values files have no apiVersion/kind, so the manifest loader skips them; read explicitly,
    they become `meshguard.io/v1 IstioHelmValues` whose body is the values as written, so mesh
    rules get positions in the file like any other finding.
    """
    loaded = load_file(path)
    if loaded.errors:
        return loaded
    if loaded.resources:  # a manifest, not Helm values: lint it as one instead
        raise InputError(f"{loaded.path}: has apiVersion/kind: a manifest, not Helm values")
    try:
        data, positions = parse_single_document(loaded.text)
    except (yaml.YAMLError, ValueError) as exc:  # already reported by load_file; belt and braces
        loaded.errors.append(_parse_error(loaded.path, 1, 1, f"YAML does not parse: {exc}"))
        return loaded
    loaded.resources.clear()
    if isinstance(data, dict):
        loaded.resources.append(
            Resource(
                api_version=HELM_VALUES_API_VERSION,
                kind=HELM_VALUES_KIND,
                namespace="",
                name=os.path.basename(loaded.path),
                body=data,
                origin=Origin(loaded.path, 0, positions),
            )
        )
    return loaded


def _reader_position(text: str, exc: yaml.YAMLError) -> tuple[int, int]:
    """1-based line and column of a ReaderError's character offset (1:1 when unknown)."""
    offset = getattr(exc, "position", None)
    if not isinstance(offset, int) or offset < 0:
        return 1, 1
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _parse_error(name: str, line: int, col: int, message: str) -> Finding:
    return Finding(PARSE_ERROR_RULE, Severity.ERROR, message, name, Position(line, col), "")


def _check_nesting(text: str) -> None:
    """Refuse a text nested deeper than _COMPOSE_MAX_DEPTH before the recursive composer sees it."""
    if text.count("[") + text.count("{") <= _SCAN_BRACKETS and (
        max(map(len, text.split("\n"))) < _SCAN_LINE
    ):
        return
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _START_EVENTS):
            depth += 1
            if depth > _COMPOSE_MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise _DocumentTooLarge(f"document is nested deeper than {MAX_DEPTH} levels", line)
        elif isinstance(event, _END_EVENTS):
            depth -= 1


def _resources_of(
    node: yaml.Node,
    name: str,
    doc_index: int,
    budget: list[int],
    lists: tuple[int, ...] = (),
    track_aliases: bool = True,
) -> Iterator[Resource]:
    """Kubernetes objects in one document: the object itself, or the items of a `List`.

    `budget` bounds the nodes converted for the whole document (List items may be aliases of
    one another); `lists` holds the enclosing `List` nodes, so a List that contains itself
    through an alias is an error rather than endless recursion.
    """
    if not isinstance(node, yaml.MappingNode):
        return
    kind = _scalar_child(node, "kind")
    api_version = _scalar_child(node, "apiVersion")
    if not kind or not api_version:
        return  # not a Kubernetes object (Helm values, kustomization fragments, ...)
    items = _child(node, "items") if kind.endswith("List") else None
    if isinstance(items, yaml.SequenceNode):
        line = node.start_mark.line + 1
        if id(node) in lists:
            raise _DocumentTooLarge("document is a List that contains itself (an alias)", line)
        if len(lists) >= MAX_DEPTH:
            raise _DocumentTooLarge(f"document nests Lists deeper than {MAX_DEPTH} levels", line)
        budget[0] -= len(items.value)
        if budget[0] < 0:
            raise _DocumentTooLarge(
                f"document expands to more than {MAX_NODES_PER_DOCUMENT} nodes (alias bomb?)", line
            )
        for item in items.value:
            if isinstance(item, yaml.MappingNode):
                yield from _resources_of(
                    item, name, doc_index, budget, (*lists, id(node)), track_aliases
                )
        return
    # the object itself is where its mapping starts (not line 1: later documents, List items)
    start = (node.start_mark.line + 1, node.start_mark.column + 1)
    body, positions = _convert_document(node, start, budget, track_aliases)
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if not isinstance(namespace, str) or not namespace:
        namespace = "" if kind in CLUSTER_SCOPED_KINDS else "default"
    res_name = meta.get("name") if isinstance(meta, dict) else None
    yield Resource(
        api_version=api_version,
        kind=kind,
        namespace=namespace,
        name=str(res_name) if res_name is not None else "",
        body=body,
        origin=Origin(name, doc_index, positions),
    )


def _convert_document(
    node: yaml.MappingNode, start: tuple[int, int], budget: list[int], track_aliases: bool
) -> tuple[dict[str, Any], Mapping[str, tuple[int, int]]]:
    """Body and positions of one object: flat (fast) when the document allows it, else a map."""
    if not track_aliases:
        flat: list[int] = []
        try:
            body = _FlatConverter(flat).mapping(node, 0)
        except _NotFlat:
            pass
        else:
            return body, LazyPositions(array("i", flat), body, start)
    positions: dict[str, tuple[int, int]] = {"": start}
    converter = _Converter(positions, start[0], budget[0], track_aliases=track_aliases)
    body = converter.convert(node, "", 0)
    budget[0] = converter.budget
    return body, positions


class _NotFlat(Exception):
    """A merge key or a duplicate key: positions no longer follow the body's order."""


class _FlatConverter:
    """The common case (no anchors): positions appended in document order, no pointer strings.

    Building a JSON Pointer string for every node is most of the cost of conversion, and only
    the few resources with findings ever need one; `LazyPositions` rebuilds the map from the
    body's (identical) iteration order on first lookup.
    """

    __slots__ = ("flat",)

    def __init__(self, flat: list[int]) -> None:
        self.flat = flat

    def mapping(self, node: yaml.MappingNode, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _DocumentTooLarge(
                f"document is nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1
            )
        out: dict[str, Any] = {}
        append = self.flat.append
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or key_node.__class__ is not _ScalarNode:
                raise _NotFlat
            mark = key_node.start_mark
            append(mark.line + 1)
            append(mark.column + 1)
            cls = value_node.__class__
            if cls is _ScalarNode:
                out[key_node.value] = _scalar(value_node)
            elif cls is _MappingNode:
                out[key_node.value] = self.mapping(value_node, depth + 1)
            else:
                out[key_node.value] = self.sequence(value_node, depth + 1)
        if len(out) != len(node.value):
            raise _NotFlat
        return out

    def sequence(self, node: yaml.SequenceNode, depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise _DocumentTooLarge(
                f"document is nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1
            )
        out: list[Any] = []
        append = self.flat.append
        for item in node.value:
            mark = item.start_mark
            append(mark.line + 1)
            append(mark.column + 1)
            cls = item.__class__
            if cls is _ScalarNode:
                out.append(_scalar(item))
            elif cls is _MappingNode:
                out.append(self.mapping(item, depth + 1))
            else:
                out.append(self.sequence(item, depth + 1))
        return out


def _child(node: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def _scalar_child(node: yaml.MappingNode, key: str) -> str | None:
    child = _child(node, key)
    if isinstance(child, yaml.ScalarNode) and child.tag == "tag:yaml.org,2002:str":
        return str(child.value)
    return None


_STR_TAG = "tag:yaml.org,2002:str"
_ScalarNode = yaml.ScalarNode
_SequenceNode = yaml.SequenceNode
_MappingNode = yaml.MappingNode


class _Converter:
    """Node tree → plain data, recording the 1-based (line, column) of every key and item.

    The hot loop of a lint run: leaves are converted inline and positions are tuples. Alias
    bookkeeping (a node budget against billion laughs, the set of nodes on the current path
    against recursive aliases) only runs when the text has an anchor (`&`): without one the
    composer cannot share nodes, so the tree is no larger than the text.

    The composer hands back the anchored node itself for an alias, marks and all, so a value
    used through `*alias` would be reported at the anchor, as often as it is used. Instead, a
    value used through an alias is placed where the alias is: nothing inside it is recorded, so
    `Origin.position_of` falls back to the key that holds it (or the list, for `- *alias`, or
    the `<<` for merged keys). Each finding gets its own line, a suppression comment there
    applies to it, and aliased values cost no positions at all.
    """

    __slots__ = ("positions", "budget", "start_line", "active", "track", "seen", "quiet")

    def __init__(
        self,
        positions: dict[str, tuple[int, int]],
        start_line: int,
        budget: int = MAX_NODES_PER_DOCUMENT,
        *,
        track_aliases: bool = True,
    ) -> None:
        self.positions = positions
        self.budget = budget
        self.start_line = start_line
        self.active: set[int] = set()
        self.track = track_aliases
        self.seen: set[int] = set()  # nodes converted so far: a second visit is an alias
        self.quiet = False  # inside an aliased value: record no positions

    def convert(self, node: Any, ptr: str, depth: int) -> Any:
        cls = node.__class__
        if cls is _ScalarNode:
            return _scalar(node)
        if depth > MAX_DEPTH:
            raise _DocumentTooLarge(
                f"document is nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1
            )
        if not self.track:
            return (
                self._sequence(node, ptr, depth)
                if cls is _SequenceNode
                else self._mapping(node, ptr, depth)
            )
        self.budget -= len(node.value) + 1
        if self.budget < 0:
            raise _DocumentTooLarge(
                f"document expands to more than {MAX_NODES_PER_DOCUMENT} nodes (alias bomb?)",
                self.start_line,
            )
        key = id(node)
        if key in self.active:
            raise _DocumentTooLarge("document is recursive alias", node.start_mark.line + 1)
        outer = self.quiet
        self.quiet = outer or key in self.seen
        self.seen.add(key)
        self.active.add(key)
        try:
            return (
                self._sequence(node, ptr, depth)
                if cls is _SequenceNode
                else self._mapping(node, ptr, depth)
            )
        finally:
            self.active.discard(key)
            self.quiet = outer

    def _sequence(self, node: yaml.SequenceNode, ptr: str, depth: int) -> list[Any]:
        out = []
        positions = self.positions
        convert = self.convert
        for index, item in enumerate(node.value):
            child = f"{ptr}/{index}"
            if self.quiet:
                pass
            elif self.track and id(item) in self.seen:  # `- *alias`: placed at the list
                positions[child] = positions.get(ptr, (self.start_line, 1))
            else:
                mark = item.start_mark
                positions[child] = (mark.line + 1, mark.column + 1)
            if item.__class__ is _ScalarNode:
                if self.track:
                    self.seen.add(id(item))
                out.append(_scalar(item))
            else:
                out.append(convert(item, child, depth + 1))
        return out

    def _mapping(self, node: yaml.MappingNode, ptr: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        positions = self.positions
        convert = self.convert
        merges: list[dict[str, tuple[int, int]]] = []
        written: set[str] = set()  # this mapping's own keys (as pointers)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._merge(out, self._merged(key_node, value_node, ptr, depth, merges))
                continue
            key = key_node.value if key_node.__class__ is _ScalarNode else str(key_node.start_mark)
            child = (
                f"{ptr}/{escape_pointer_token(key)}"
                if ("/" in key or "~" in key)
                else f"{ptr}/{key}"
            )
            if not self.quiet:
                mark = key_node.start_mark
                positions[child] = (mark.line + 1, mark.column + 1)
                written.add(child)
            if value_node.__class__ is _ScalarNode:
                if self.track:
                    self.seen.add(id(value_node))
                out[key] = _scalar(value_node)
            else:
                out[key] = convert(value_node, child, depth + 1)
        if merges:
            self._place_merged(ptr, merges, written)
        return out

    def _merged(
        self,
        key_node: yaml.Node,
        value_node: yaml.Node,
        ptr: str,
        depth: int,
        merges: list[dict[str, tuple[int, int]]],
    ) -> Any:
        """A `<<` value. Its positions are kept aside (in `merges`) so that keys the mapping
        writes itself keep theirs; an aliased source (`<<: *a`, `<<: [*a, *b]`) records none:
        its keys are placed at the `<<`."""
        if self.quiet:
            return self.convert(value_node, ptr, depth + 1)
        aliased = value_node.__class__ is _SequenceNode or id(value_node) in self.seen
        positions, outer = self.positions, self.quiet
        self.positions, self.quiet = {}, aliased
        try:
            merged = self.convert(value_node, ptr, depth + 1)
        finally:
            aside, self.positions, self.quiet = self.positions, positions, outer
        if aliased:
            use = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            sources = merged if isinstance(merged, list) else [merged]
            keys = dict.fromkeys(k for src in sources if isinstance(src, dict) for k in src)
            aside = {f"{ptr}/{escape_pointer_token(k)}": use for k in keys}
        merges.append(aside)
        return merged

    def _place_merged(
        self, ptr: str, merges: list[dict[str, tuple[int, int]]], written: set[str]
    ) -> None:
        """Positions of merged keys: a key the mapping writes wins, then the first source."""
        for merged in merges:
            tops = set()
            for child, where in merged.items():
                cut = child.find("/", len(ptr) + 1)
                top = child if cut < 0 else child[:cut]
                if top not in written:
                    tops.add(top)
                    self.positions[child] = where
            written |= tops

    def _merge(self, out: dict[str, Any], merged: Any) -> None:
        """YAML merge key `<<`: keys written in the mapping win over merged ones.

        Copied keys count against the node budget: a chain of `<<: *previous` copies every
        earlier key again at each level, a quadratic blow-up the node count alone misses."""
        for source in merged if isinstance(merged, list) else [merged]:
            if isinstance(source, dict):
                self.budget -= len(source)
                if self.budget < 0:
                    raise _DocumentTooLarge(
                        f"document expands to more than {MAX_NODES_PER_DOCUMENT} nodes "
                        "(alias bomb?)",
                        self.start_line,
                    )
                for key, value in source.items():
                    out.setdefault(key, value)


def _scalar(node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag == _STR_TAG:
        return node.value
    construct = _SCALARS.get(tag)
    return construct(node) if construct is not None else node.value


def parse_single_document(text: str) -> tuple[Any, dict[str, tuple[int, int]]]:
    """Parse one YAML document (a config file) into data and its position map."""
    try:
        _check_nesting(text)
    except _DocumentTooLarge as exc:
        raise ValueError(str(exc.args[0])) from exc
    node = yaml.compose(text, Loader=_Loader)
    positions: dict[str, tuple[int, int]] = {}
    if node is None:
        return None, positions
    try:
        return _Converter(positions, node.start_mark.line + 1).convert(node, "", 0), positions
    except _DocumentTooLarge as exc:
        raise ValueError(str(exc.args[0])) from exc


def compose_documents(text: str) -> list[yaml.Node | None]:
    """The node tree of every document, with marks (`meshguard fix` edits the text by them).

    Raises yaml.YAMLError or ValueError on input that `load_text` reports as MG000.
    """
    try:
        _check_nesting(text)
    except _DocumentTooLarge as exc:
        raise ValueError(str(exc.args[0])) from exc
    return list(yaml.compose_all(text, Loader=_Loader))


def node_data(node: yaml.Node | None) -> Any:
    """Plain data of a composed node, read exactly as `load_text` reads resource bodies."""
    if node is None:
        return None
    try:
        return _Converter({}, node.start_mark.line + 1).convert(node, "", 0)
    except _DocumentTooLarge as exc:
        raise ValueError(str(exc.args[0])) from exc


PARALLEL_MIN_BYTES = 1_000_000  # below this, forking costs more than it saves
# This process's share against a child's (best measured with 2 cores): it also unpickles theirs.
OWN_SHARE = 1.2


def load_files(paths: list[str], jobs: int = 1) -> list[LoadedFile]:
    """Load files in order; with `jobs` > 1 and enough bytes, forked children parse shares.

    Children send back their files pickled (see `Resource.__reduce__`): a tenth of the cost
    of parsing them.
    """
    if jobs <= 1 or "-" in paths or not forks.can_fork():
        return [load_file(p) for p in paths]
    sizes = [_size(p) for p in paths]
    if sum(sizes) < PARALLEL_MIN_BYTES:
        return [load_file(p) for p in paths]
    shares = [s for s in _split(paths, sizes, [OWN_SHARE] + [1.0] * (jobs - 1)) if s]
    return [loaded for share in forks.fork_map(_load_share, shares) for loaded in share]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0  # load_file reports it


def _split(items: list[str], sizes: list[int], weights: list[float]) -> list[list[str]]:
    """Contiguous slices (so results concatenate in order) of about `weights`-proportional bytes."""
    total, scale = sum(sizes), sum(weights)
    bounds, acc = [], 0.0
    for weight in weights[:-1]:
        acc += weight
        bounds.append(total * acc / scale)
    shares: list[list[str]] = [[] for _ in weights]
    done, index = 0, 0
    for item, size in zip(items, sizes, strict=True):
        while index < len(bounds) and done >= bounds[index]:
            index += 1
        shares[index].append(item)
        done += size
    return shares


def _load_share(paths: list[str]) -> list[LoadedFile]:
    return [load_file(p) for p in paths]
