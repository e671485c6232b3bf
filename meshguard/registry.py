"""Rules: metadata from `rules/MGnnn.yaml`, logic registered with `@check("MGnnn")`.

One rule, one place: everything a person reads about a rule is in its YAML file (the
examples run as tests), and the Python function only decides. The registry is the one piece
of global state, filled at import of `meshguard.checks` from an explicit module list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

from meshguard.errors import RuleFileError
from meshguard.model import Finding, Fix, JsonPointer, Resource, Safety, Severity
from meshguard.resources import data_dir

if TYPE_CHECKING:
    from meshguard.config import Params
    from meshguard.inventory import Inventory

CheckFn = Callable[[Resource, "RuleContext"], Iterator[Finding]]
CHECKS: dict[str, CheckFn] = {}
CORE_GROUP_ALIASES = frozenset({"", "core", "v1"})
MAX_MESSAGE = 300  # characters; a finding message quotes the values it found


def check(rule_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check under its rule id; a second registration of an id is a bug."""

    def register(fn: CheckFn) -> CheckFn:
        if rule_id in CHECKS:
            raise AssertionError(
                f"{rule_id} registered twice ({CHECKS[rule_id].__name__}, {fn.__name__})"
            )
        CHECKS[rule_id] = fn
        return fn

    return register


@dataclass(frozen=True, slots=True)
class RuleMeta:
    """What running a rule needs, read at start-up; what people read, on first use.

    A rule file is `id`, `title`, `severity`, `check`, `applies_to`, `params`, then the prose
    (`what`, `why`, `fix`, `references`, `peers`) and `examples`, in that order (checked by
    `meshguard rules --check` and the tests). A lint run parses only the part before `what:`:
    the prose and examples are nine tenths of each file, and start-up matters for pre-commit.
    """

    id: str
    title: str
    severity: Severity
    applies_to: tuple[tuple[str, str], ...]  # (group, kind); group "" is the core group
    params: tuple[str, ...]
    source: str
    check_module: str = ""  # meshguard.checks.<module> registers the check ("" for MG000)

    @property
    def docs_url(self) -> str:
        return f"{DOCS_BASE_URL}/{self.id}.yaml"

    @property
    def what(self) -> str:
        return _prose_of(self.source).what

    @property
    def why(self) -> str:
        return _prose_of(self.source).why

    @property
    def fix_summary(self) -> str:
        return _prose_of(self.source).fix_summary

    @property
    def fix_safety(self) -> Safety:
        return _prose_of(self.source).fix_safety

    @property
    def fix_note(self) -> str:
        return _prose_of(self.source).fix_note

    @property
    def references(self) -> tuple[str, ...]:
        return _prose_of(self.source).references

    @property
    def peers(self) -> tuple[str, ...]:
        return _prose_of(self.source).peers

    @property
    def examples(self) -> tuple[Mapping[str, Any], ...]:
        """The rule file's examples, read on first use (lint does not need them)."""
        return _examples_of(self.source)


@cache
def _examples_of(source: str) -> tuple[Mapping[str, Any], ...]:
    data = _read_yaml(Path(source), _read_text(Path(source)))
    return tuple(data.get("examples") or ()) if isinstance(data, dict) else ()


class _Prose(NamedTuple):
    what: str
    why: str
    fix_summary: str
    fix_safety: Safety
    fix_note: str
    references: tuple[str, ...]
    peers: tuple[str, ...]


@cache
def _prose_of(source: str) -> _Prose:
    path = Path(source)
    text = _read_text(path)
    data = _read_yaml(path, text.split(_EXAMPLES, 1)[0])
    if not isinstance(data, dict) or "what" not in data or "why" not in data:
        raise RuleFileError(f"{path}: the rule file has no what/why")
    fix = data.get("fix") or {}
    return _Prose(
        what=data["what"],
        why=data["why"],
        fix_summary=fix.get("summary", ""),
        fix_safety=Safety(fix.get("safety", "none")),
        fix_note=fix.get("note", ""),
        references=tuple(data.get("references") or ()),
        peers=tuple(data.get("peers") or ()),
    )


_PROSE = "\nwhat:"
_EXAMPLES = "\nexamples:"
# Keys in file order: those before `what` are all a lint run reads.
_HEAD_KEYS = ("id", "title", "severity", "check", "applies_to", "params")
_TAIL_KEYS = ("what", "why", "fix", "references", "peers", "examples")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"{path}: cannot read rule file: {exc.strerror}") from exc


def _read_yaml(path: Path, text: str) -> Any:
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise RuleFileError(f"{path}: cannot read rule file: {exc}".splitlines()[0]) from exc


DOCS_BASE_URL = "https://github.com/meshguard/meshguard/blob/main/rules"


def rule_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or data_dir("rules")).glob("MG[0-9][0-9][0-9].yaml"))


def load_rule(path: Path, *, validate: bool = False) -> RuleMeta:
    """Read one rule file; `validate` checks it against schemas/rule.schema.json and checks
    its key order first (see RuleMeta)."""
    text = _read_text(path)
    if validate:
        data = _read_yaml(path, text)
        _validate(path, data)
        _check_key_order(path, data)
    data = _read_yaml(path, text.split(_PROSE, 1)[0])
    if not isinstance(data, dict) or data.get("id") != path.stem:
        raise RuleFileError(f"{path}: the file name must be the rule id")
    try:
        return RuleMeta(
            id=data["id"],
            title=data["title"],
            severity=Severity(data["severity"]),
            applies_to=tuple(
                ("" if group in CORE_GROUP_ALIASES else group, kind)
                for group, kinds in (data.get("applies_to") or {}).items()
                for kind in kinds
            ),
            params=tuple(data.get("params") or ()),
            source=str(path),
            check_module=str(data.get("check") or ""),
        )
    except (KeyError, ValueError) as exc:
        problem = f"{exc} is missing or invalid before `what:`"
        raise RuleFileError(f"{path}: {problem}; see RuleMeta for the key order") from exc


def _check_key_order(path: Path, data: Any) -> None:
    keys = list(data) if isinstance(data, dict) else []
    order = [k for k in (*_HEAD_KEYS, *_TAIL_KEYS) if k in keys]
    if keys != order:
        raise RuleFileError(f"{path}: keys must come in this order: {', '.join(order)}")


def _validate(path: Path, data: Any) -> None:
    import jsonschema  # noqa: PLC0415  (only `meshguard rules --check` and tests pay for it)

    from meshguard.resources import schema

    errors = sorted(
        jsonschema.Draft202012Validator(schema("rule")).iter_errors(data),
        key=lambda e: list(e.path),
    )
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top)"
        raise RuleFileError(f"{path}: {where}: {errors[0].message}")


def load_rules(directory: Path | None = None, *, validate: bool = False) -> dict[str, RuleMeta]:
    """All rules of a directory (the built-in pack by default), by id, in id order."""
    return {
        meta.id: meta for meta in (load_rule(p, validate=validate) for p in rule_files(directory))
    }


def import_checks(rules: Iterable[RuleMeta]) -> None:
    """Register the checks of these rules, importing only their modules.

    Importing every check module costs more than the rest of a one-file lint run together, and
    pre-commit lints a few files on every commit; a rule file names its module (`check:`).
    """
    import importlib

    for module in sorted({meta.check_module for meta in rules if meta.check_module}):
        importlib.import_module(f"meshguard.checks.{module}")


class RuleContext:
    """What a check may read: its rule, the run's parameters and inventory, the current resource."""

    __slots__ = ("rule", "params", "inventory", "resource")

    def __init__(self, rule: RuleMeta, params: Params, inventory: Inventory) -> None:
        self.rule = rule
        self.params = params
        self.inventory = inventory
        self.resource: Resource | None = None

    def finding(
        self,
        pointer: JsonPointer,
        message: str,
        *,
        severity: Severity | None = None,
        fix: Fix | None = None,
        resource: Resource | None = None,
    ) -> Finding:
        """A finding about `resource` (default: the one being checked) at `pointer`."""
        res = resource or self.resource
        if res is None:
            raise AssertionError("finding() outside a check")
        if len(message) > MAX_MESSAGE:  # values are quoted in messages; keep a CI log readable
            message = message[: MAX_MESSAGE - 1] + "…"
        return Finding(
            rule=self.rule.id,
            severity=severity or self.rule.severity,
            message=message,
            file=res.origin.file,
            position=res.origin.position_of(pointer),
            pointer=pointer,
            resource=res,
            fix=fix,
        )

    def unresolved(self, pointer: JsonPointer, message: str) -> Finding:
        """A reference whose target is absent from the run: info, or error with --strict-refs.

        Manifests-only runs do not see the cluster (DESIGN.md), so absence is not proof of a
        dangling reference; `--context` adds cluster objects, `--strict-refs` makes it an error.
        """
        strict = bool(self.params.get("strict_refs"))
        return self.finding(
            pointer,
            f"{message} (unresolved: not in the input)",
            severity=Severity.ERROR if strict else Severity.INFO,
        )
