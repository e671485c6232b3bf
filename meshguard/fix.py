"""`meshguard fix`: the rules' repairs applied to the original text, minimally, checked, atomically.

A rule states its repair once, as a `Fix`: RFC 6902 operations on the resource plus documents to
add; the mutating webhook will send the same operations. Here they become text edits
(`meshguard.textedit`): only files with something to fix are composed again, every byte outside
the repaired fields stays as written, and before a file is written its new text is parsed and
compared with what a JSON Patch library (jsonpatch) makes of the original data and the same
operations. Runs are lint → fix passes until nothing changes (at most `MAX_PASSES`): a fix whose
operations overlap an earlier one's waits for the next pass, when the rules have seen the result;
a fix computed from a value another fix may change says so with an RFC 6902 `test` on it.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jsonpatch  # type: ignore[import-untyped]
import jsonpointer  # type: ignore[import-untyped]
import yaml

from meshguard.config import Config
from meshguard.engine import Result, run
from meshguard.loader import LoadedFile, compose_documents, load_text, node_data
from meshguard.model import CLUSTER_SCOPED_KINDS, Finding, Fix, Resource, Safety
from meshguard.registry import RuleMeta
from meshguard.textedit import (
    Edit,
    Unrepresentable,
    apply_edits,
    block_scalar_chomp_edit,
    last_node,
    shared_nodes,
    strip_final_break,
    with_final_break,
)
from meshguard.yamldiff import Differ, Path
from meshguard.yamlstyle import Style, detect_style, document_text, same

MAX_PASSES = 5
_LITERAL = re.compile(r"[|>][-+0-9]*(\r?\n|$)")  # a block scalar header in an edit
Op = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FixOptions:
    unsafe: bool = False  # also apply `unsafe` fixes (--unsafe-fixes); `none` never applies
    rules: frozenset[str] | None = None  # only these rules' fixes (--rule)
    new_docs: str | None = None  # the file that receives every added document (--new-docs)
    max_passes: int = MAX_PASSES

    def wants(self, finding: Finding) -> bool:
        fix = finding.fix
        if fix is None or finding.resource is None or not (fix.ops or fix.new_documents):
            return False
        if self.rules is not None and finding.rule not in self.rules:
            return False
        return fix.safety is Safety.SAFE or (self.unsafe and fix.safety is Safety.UNSAFE)


@dataclass(frozen=True, slots=True)
class Applied:
    """One fix as written: its rule, its resource's place in the file, its operations."""

    rule: str
    title: str
    line: int  # of the finding, in the text the pass started from
    pointer: str  # of the finding
    doc_index: int
    base: str  # JSON Pointer of the resource in its document: "" or /items/N for a List item
    ops: tuple[Op, ...]
    pass_number: int

    @classmethod
    def of(
        cls,
        finding: Finding,
        pass_number: int,
        doc_index: int = -1,  # -1, "", (): a fix that only adds documents
        base: str = "",
        ops: tuple[Op, ...] = (),
    ) -> Applied:
        assert finding.fix is not None
        line, ptr = finding.position.line, finding.pointer
        return cls(finding.rule, finding.fix.title, line, ptr, doc_index, base, ops, pass_number)


@dataclass(slots=True)
class FileFix:
    """One file of the run: its text as read, its text now, and what was done to it."""

    path: str
    original: str
    text: str
    exists: bool = True  # False for a --new-docs file that the run creates
    applied: list[Applied] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)  # documents appended
    unparsable: Finding | None = None  # MG000: the file is reported and left untouched
    error: str = ""  # an internal error: the file is left untouched

    @property
    def changed(self) -> bool:
        return not self.error and not self.unparsable and self.text != self.original


@dataclass(slots=True)
class FixReport:
    files: list[FileFix]
    result: Result  # the lint result after the last pass
    problems: list[str] = field(default_factory=list)  # fixes that could not be applied
    passes: int = 0

    def applied_by_rule(self) -> Counter[str]:
        return Counter(a.rule for f in self.files if f.changed for a in f.applied)


def fix_files(
    files: Sequence[LoadedFile],
    config: Config,
    rules: Mapping[str, RuleMeta],
    options: FixOptions,
    context: Iterable[Resource] = (),
) -> FixReport:
    """Lint → fix passes over in-memory files until nothing changes; nothing is written here."""
    context = list(context)
    loaded = {f.path: f for f in files}
    states = {
        f.path: FileFix(f.path, f.text, f.text, unparsable=next(iter(f.errors), None))
        for f in files
    }
    report = FixReport(list(states.values()), Result())
    problems: dict[str, None] = {}
    for number in range(1, options.max_passes + 1):
        report.result = run(list(loaded.values()), config, rules, context)
        wanted = [f for f in report.result.findings if options.wants(f) and f.file in states]
        report.passes = number
        if not wanted:
            break
        changed = _one_pass(wanted, states, loaded, context, options, number, problems)
        if not changed:
            break
        for path in changed:
            loaded[path] = load_text(states[path].text, path)
    else:
        report.result = run(list(loaded.values()), config, rules, context)
    report.problems = list(problems)
    return report


# -- one pass ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _FilePlan:
    work: str = ""  # the text the edits apply to: the file's, with a final line break
    edits: list[Edit] = field(default_factory=list)
    patches: list[tuple[int, str, list[Op]]] = field(default_factory=list)
    applied: list[Applied] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)


def _one_pass(
    findings: list[Finding],
    states: dict[str, FileFix],
    loaded: dict[str, LoadedFile],
    context: list[Resource],
    options: FixOptions,
    number: int,
    problems: dict[str, None],
) -> list[str]:
    """Plan and apply one pass; returns the paths whose text changed."""
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        if not (states[finding.file].error or states[finding.file].unparsable):
            by_file.setdefault(finding.file, []).append(finding)
    plans: dict[str, _FilePlan] = {}
    documents: list[tuple[Finding, list[dict[str, Any]]]] = []
    for path, file_findings in by_file.items():
        plan = plans.setdefault(path, _FilePlan())
        documents.extend(_plan_file(states[path], file_findings, plan, number, problems))
    _route_documents(documents, states, loaded, context, options, plans, number)
    for path, plan in plans.items():
        if plan.edits or plan.documents:
            _apply_plan(states[path], plan)
    return [path for path in plans if states[path].text != loaded[path].text]


def _plan_file(
    state: FileFix,
    findings: list[Finding],
    plan: _FilePlan,
    number: int,
    problems: dict[str, None],
) -> list[tuple[Finding, list[dict[str, Any]]]]:
    """Edits for the fixes of one file; returns the accepted fixes' documents to add."""
    try:
        docs = compose_documents(state.text)
    except (yaml.YAMLError, ValueError) as exc:  # loaded once already: cannot happen
        state.error = f"internal error: the file no longer parses ({exc})".splitlines()[0]
        return []
    nodes = _resource_nodes(docs)
    style = detect_style(state.text, docs)
    shared = shared_nodes(docs) if "&" in state.text else frozenset()
    plan.work = with_final_break(state.text, style.nl)
    accepted: list[tuple[Finding, list[dict[str, Any]]]] = []
    for key, res_findings in _by_resource(findings).items():
        located = nodes.get(key)
        if located is None:
            _problem(problems, res_findings[0], "cannot find the resource in the file")
            continue
        node, base = located
        planner = _ResourcePlanner(plan.work, style, shared, node, (key[0], base))
        for finding in sorted(res_findings, key=_reads_values):  # writers first, then readers
            fix = finding.fix
            assert fix is not None
            outcome = planner.offer(fix)
            if outcome is None:
                continue  # waits for the next pass
            if isinstance(outcome, str):
                _problem(problems, finding, outcome)
                continue
            if fix.ops:
                plan.applied.append(Applied.of(finding, number, key[0], base, outcome))
                plan.patches.append((key[0], base, list(outcome)))
            if fix.new_documents:
                accepted.append((finding, [_plain(d) for d in fix.new_documents]))
        plan.edits.extend(planner.edits)
    return accepted


def _reads_values(finding: Finding) -> bool:
    """A fix computed from another field's value tests it (RFC 6902 `test`): it is offered after
    the fixes that only write, so when one of them changes that value it waits for the next pass
    (its paths overlap) and the rule sees the new value."""
    return finding.fix is not None and any(op.get("op") == "test" for op in finding.fix.ops)


def _by_resource(findings: list[Finding]) -> dict[tuple[int, int, int], list[Finding]]:
    """Findings by their resource's (document index, line, column), in finding order."""
    out: dict[tuple[int, int, int], list[Finding]] = {}
    for finding in findings:
        res = finding.resource
        assert res is not None  # FixOptions.wants
        start = res.origin.position_of("")
        out.setdefault((res.origin.doc_index, start.line, start.column), []).append(finding)
    return out


class _ResourcePlanner:
    """Accepts the fixes of one resource in order while their operations stay apart."""

    def __init__(
        self,
        text: str,
        style: Style,
        shared: frozenset[int],
        node: yaml.Node,
        where: tuple[int, str],
    ) -> None:
        self.text, self.style, self.shared, self.node = text, style, shared, node
        self.doc_index, self.base = where
        self.original: Any = node_data(node)
        self.desired: Any = self.original
        self.touched: list[Path] = []
        self.ops: list[Op] = []
        self.edits: list[Edit] = []

    def offer(self, fix: Fix) -> tuple[Op, ...] | str | None:
        """The operations taken, a reason they cannot be, or None: wait for the next pass."""
        ops = [_plain(dict(op)) for op in fix.ops]
        if not ops:
            return ()
        paths = _touched(ops)
        if any(_related(p, q) for p in paths for q in self.touched):
            return None
        try:
            candidate = _apply_patch(self.desired, ops)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            if self.ops:
                return None
            return f"its operations do not apply: {exc}"
        if same(candidate, self.desired):
            return () if fix.new_documents else "its operations change nothing"
        renames = _renames([*self.ops, *ops])
        try:
            edits = Differ(self.text, self.style, renames, self.shared).diff(
                self.node, self.original, candidate
            )
            if any(_LITERAL.search(e.text) for e in edits) and not self._reads_back(
                edits, candidate
            ):
                # a `|` block can take in the lines after it (deeper comments): quote instead
                plain = replace(self.style, literals=False)
                edits = Differ(self.text, plain, renames, self.shared).diff(
                    self.node, self.original, candidate
                )
        except Unrepresentable as exc:
            return f"cannot be written in place: {exc}"
        self.desired, self.edits = candidate, edits
        self.touched.extend(paths)
        self.ops.extend(ops)
        return tuple(ops)

    def _reads_back(self, edits: list[Edit], candidate: Any) -> bool:
        try:
            data = node_data(compose_documents(apply_edits(self.text, edits))[self.doc_index])
            return same(jsonpointer.resolve_pointer(data, self.base), candidate)
        except (yaml.YAMLError, ValueError, IndexError, jsonpointer.JsonPointerException):
            return False


def _apply_plan(state: FileFix, plan: _FilePlan) -> None:
    """Apply one pass's edits to a file and verify them; an error leaves the file untouched."""
    old_text = state.text
    work = plan.work or with_final_break(old_text, detect_style(old_text, []).nl)
    edits = list(plan.edits)
    if plan.documents:
        edits.append(_append_documents(work, plan.documents))
    try:
        candidates = _candidates(old_text, work, edits)
    except ValueError as exc:
        _fail(state, f"edits overlap ({exc})")
        return
    reason = ""
    for new_text in candidates:
        reason = _verify(old_text, new_text, state.path, plan)
        if not reason:
            state.text = new_text
            state.applied.extend(plan.applied)
            state.added.extend(plan.documents)
            return
    _fail(state, reason)


def _candidates(old_text: str, work: str, edits: list[Edit]) -> list[str]:
    """The new text; for a file without a final line break, first without one again, then with a
    block scalar that ended the file marked strip (`|-`: it reads the same when followed by more
    lines), and last with the line break kept."""
    new_work = apply_edits(work, edits)
    if work == old_text:
        return [new_work]
    out = [strip_final_break(new_work)]
    docs = compose_documents(old_text)
    chomp = block_scalar_chomp_edit(old_text, last_node(docs[-1])) if docs else None
    if chomp is not None:
        with contextlib.suppress(ValueError):  # the scalar itself was edited: no such candidate
            out.append(strip_final_break(apply_edits(work, [*edits, chomp])))
    out.append(new_work)
    return out


def _fail(state: FileFix, reason: str) -> None:
    state.error = f"internal error: {reason}; file left untouched (please report it)"
    state.text = state.original
    state.applied.clear()
    state.added.clear()


def _verify(old_text: str, new_text: str, name: str, plan: _FilePlan) -> str:
    """Empty when the new text parses to the old data patched by jsonpatch, documents appended."""
    try:
        expected = [node_data(n) for n in compose_documents(old_text)]
        for doc_index, base, ops in plan.patches:
            rebased = [_rebase(op, base) for op in ops]
            expected[doc_index] = _apply_patch(expected[doc_index], rebased)
    except (
        yaml.YAMLError,
        ValueError,
        jsonpatch.JsonPatchException,
        jsonpointer.JsonPointerException,
    ) as exc:
        return f"the fix operations do not apply to the parsed file ({exc})".splitlines()[0]
    expected.extend(plan.documents)
    try:
        actual = [node_data(n) for n in compose_documents(new_text)]
    except (yaml.YAMLError, ValueError) as exc:
        return f"the rewritten text does not parse ({exc})".splitlines()[0]
    if not same(expected, actual):
        return "the rewritten text does not match the fix operations (jsonpatch)"
    if load_text(new_text, name).errors:
        return "the rewritten text does not load"
    return ""


# -- added documents --------------------------------------------------------------------------


def _route_documents(
    documents: list[tuple[Finding, list[dict[str, Any]]]],
    states: dict[str, FileFix],
    loaded: dict[str, LoadedFile],
    context: list[Resource],
    options: FixOptions,
    plans: dict[str, _FilePlan],
    number: int,
) -> None:
    """Each new document goes to --new-docs, else its Namespace's file, else its finding's file.

    A document is added once per (group, kind, namespace, name), and not at all when the input
    (or --context) already has an object of that identity.
    """
    if not documents:
        return
    resources = [r for f in loaded.values() for r in f.resources]
    present = {
        _identity_of(r.api_version, r.kind, r.namespace, r.name) for r in [*resources, *context]
    }
    namespace_files: dict[str, str] = {}
    for res in (r for r in resources if r.kind == "Namespace" and r.group == ""):
        namespace_files.setdefault(res.name, res.origin.file)
    for finding, docs in documents:
        fix = finding.fix
        assert fix is not None
        counted = bool(fix.ops)  # a fix with operations is counted where they are written
        for document in docs:
            if (key := _document_identity(document)) in present:
                continue
            present.add(key)
            target = options.new_docs or namespace_files.get(key[2]) or finding.file
            if target not in states or states[target].error:
                target = finding.file
            plan = plans.setdefault(target, _FilePlan())
            plan.documents.append(document)
            if not counted:
                counted = True
                plan.applied.append(Applied.of(finding, number))


def _document_identity(document: Mapping[str, Any]) -> tuple[str, str, str, str]:
    meta = document.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    kind = str(document.get("kind", ""))
    namespace = meta.get("namespace") or ("" if kind in CLUSTER_SCOPED_KINDS else "default")
    return _identity_of(
        str(document.get("apiVersion", "")), kind, str(namespace), str(meta.get("name", ""))
    )


def _identity_of(
    api_version: str, kind: str, namespace: str, name: str
) -> tuple[str, str, str, str]:
    return (api_version.rpartition("/")[0], kind, namespace, name)


def _append_documents(work: str, documents: list[dict[str, Any]]) -> Edit:
    """`---` and the documents at the end of a text that ends with a line break (or is empty)."""
    style = detect_style(work, compose_documents(work) if work.strip() else [])
    nl = style.nl
    body = "".join(f"---{nl}{document_text(d, style)}{nl}" for d in documents)
    return Edit(len(work), len(work), body if work else body[len("---" + nl) :], order=10)


# -- operations -------------------------------------------------------------------------------


def _parts(ptr: str) -> Path:
    return tuple(jsonpointer.JsonPointer(ptr).parts)


def _touched(ops: list[Op]) -> list[Path]:
    """Paths an operation set changes; adding or removing a list item changes the whole list."""
    out = []
    for op in ops:
        for ptr in (op.get("path"), op.get("from")):
            if not isinstance(ptr, str):
                continue
            parts = _parts(ptr)
            structural = op.get("op") in ("add", "remove", "move", "copy")
            if structural and parts and (parts[-1] == "-" or parts[-1].isdigit()):
                parts = parts[:-1]
            out.append(parts)
    return out


def _related(a: Path, b: Path) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _renames(ops: list[Op]) -> dict[Path, dict[str, str]]:
    """`move` between two keys of one mapping is a rename: the key's text is edited in place."""
    out: dict[Path, dict[str, str]] = {}
    for op in ops:
        if op.get("op") == "move" and isinstance(op.get("from"), str):
            source, target = _parts(op["from"]), _parts(op["path"])
            if source and target and source[:-1] == target[:-1]:
                out.setdefault(source[:-1], {})[source[-1]] = target[-1]
    return out


def _apply_patch(document: Any, ops: list[Op]) -> Any:
    """jsonpatch on copies: it puts an operation's value into the document as is, so a later
    operation (`add /x/-` after `add /x`) would change the operation itself."""
    return jsonpatch.apply_patch(document, copy.deepcopy(ops))


def _rebase(op: Op, base: str) -> Op:
    if not base:
        return op
    out = dict(op)
    for name in ("path", "from"):
        if isinstance(out.get(name), str):
            out[name] = base + out[name]
    return out


def _plain(value: Any) -> Any:
    """Plain JSON data (dicts, lists), as the renderer and jsonpatch expect."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return copy.copy(value)


def _resource_nodes(
    docs: list[yaml.Node | None],
) -> dict[tuple[int, int, int], tuple[yaml.Node, str]]:
    """(document index, line, column) of every object's mapping, as the loader records them,
    with its JSON Pointer in the document ("" or /items/N for the items of a `List`)."""
    out: dict[tuple[int, int, int], tuple[yaml.Node, str]] = {}
    for doc_index, root in enumerate(docs):
        stack: list[tuple[yaml.Node | None, str]] = [(root, "")]
        while stack:
            node, base = stack.pop()
            if not isinstance(node, yaml.MappingNode):
                continue
            out.setdefault(
                (doc_index, node.start_mark.line + 1, node.start_mark.column + 1), (node, base)
            )
            for key, value in node.value:
                if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                    stack.extend((item, f"{base}/items/{i}") for i, item in enumerate(value.value))
    return out


def _problem(problems: dict[str, None], finding: Finding, reason: str) -> None:
    problems.setdefault(
        f"{finding.file}:{finding.position.line}: {finding.rule} fix not applied: {reason}"
    )
