"""Command line: `meshguard lint | fix | rules | explain`. Exit 2 is a usage, input or config error.

lint exits 0 clean, 1 findings; fix exits 0 nothing changed, 1 rewrote (or would rewrite) files.

Only this module and `report/` write to stdout. Start-up matters (pre-commit runs lint on every
commit), so nothing here imports flask, kubernetes or cryptography.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from meshguard import __version__
from meshguard.config import Config, find_config, load_config, parameter_doc
from meshguard.errors import MeshguardError
from meshguard.model import Resource, Safety, Severity
from meshguard.registry import RuleMeta, load_rules

if TYPE_CHECKING:
    from meshguard.fix import FileFix, FixOptions, FixReport
    from meshguard.loader import LoadedFile

log = logging.getLogger("meshguard")

EPILOG = """\
examples:
  meshguard lint manifests/                 lint every *.yaml/*.yml below a folder
  kustomize build overlays/prod | meshguard lint -
  meshguard lint --format sarif -o meshguard.sarif .
  meshguard fix manifests/                  apply the safe fixes in place (--diff: only show them)
  meshguard rules                           list the rules
  meshguard explain MG204                   what a rule checks, why, and how to fix it

exit status: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage, input or
configuration error. Configuration: .meshguard.yaml (searched upwards from the current
directory), [tool.meshguard] in pyproject.toml, or --config FILE.
"""


FIX_EPILOG = """\
examples:
  meshguard fix manifests/                  apply the safe fixes in place
  meshguard fix --diff --unsafe-fixes .     show every fix, safe and unsafe, as a diff
  meshguard fix --check .                   exit 1 when a safe fix would change a file (CI)
  meshguard fix --rule MG204 --rule MG205 --unsafe-fixes traffic.yaml
  kustomize build overlays/prod | meshguard fix - > fixed.yaml

Only safe fixes apply by default; --unsafe-fixes adds the ones that may change behaviour
(`meshguard explain RULE` says which). Each file is written atomically: a temporary file
beside it, then a rename, keeping its mode; a symlink's target is rewritten.

exit status: 0 nothing to change, 1 files rewritten (or, with --check or --diff, a fix would
change something), 2 usage, input or configuration error, a file that does not parse, or an
internal error (the file concerned is left untouched).
"""

SAFETY_TEXT = {
    Safety.SAFE: "safe: applied by `meshguard fix`",
    Safety.UNSAFE: "unsafe: applied with --unsafe-fixes",
    Safety.NONE: "none",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshguard",
        description="Check Kubernetes manifests against service-mesh best practice for ML serving "
        "(Istio, Gateway API, Inference Extension).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"meshguard {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    lint = sub.add_parser(
        "lint",
        help="report problems in manifests",
        description="Report problems in manifests (files, folders, or - for standard input).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lint.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="files or folders to check (default: .); - reads standard input",
    )
    lint.add_argument(
        "-f",
        "--format",
        default="auto",
        choices=["auto", "text", "parsable", "json", "sarif", "github"],
        help="output format (default: auto = github under GitHub Actions, else text)",
    )
    lint.add_argument(
        "-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout"
    )
    lint.add_argument(
        "--fail-on",
        choices=["error", "warning", "never"],
        help="lowest severity that makes the exit status 1 (default: warning; info never fails)",
    )
    lint.add_argument("--select", metavar="IDS", help="run only these rules (comma-separated ids)")
    lint.add_argument("--ignore", metavar="IDS", help="skip these rules (comma-separated ids)")
    lint.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="PATH",
        help="read resources for reference only (e.g. the cluster's Services from "
        "`kubectl get svc -A -o yaml`): they resolve references but are not reported on",
    )
    lint.add_argument(
        "--strict-refs",
        action="store_true",
        help="report a reference whose target is absent as an error, not as info (unresolved)",
    )
    lint.add_argument(
        "--istio-values",
        action="append",
        default=[],
        metavar="FILE",
        help="istiod Helm values file to check and to read mesh settings from (repeatable)",
    )
    lint.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="processes that parse and check (default 0: one per core, for large runs only)",
    )
    lint.add_argument(
        "--show-suppressed",
        action="store_true",
        help="also list findings silenced by annotations or comments",
    )
    lint.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour text output (default: auto = only on a terminal, and not with NO_COLOR)",
    )
    _common(lint)

    fix = sub.add_parser(
        "fix",
        help="repair manifests in place",
        description="Apply the rules' fixes to manifests in place, changing only the repaired "
        "fields: comments, quoting, key order and layout stay as written.",
        epilog=FIX_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fix.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="files or folders to fix (default: .); - reads standard input and "
        "writes the fixed stream to standard output",
    )
    fix.add_argument("--diff", action="store_true", help="print a unified diff and write nothing")
    fix.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a fix would change something",
    )
    fix.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="ID",
        help="apply only this rule's fixes (repeatable; other rules still run)",
    )
    fix.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="also apply unsafe fixes, which may change traffic or security behaviour",
    )
    fix.add_argument(
        "--new-docs",
        metavar="FILE",
        help="add new documents (such as a namespace's PeerAuthentication) to FILE "
        "instead of the file holding their Namespace",
    )
    fix.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="PATH",
        help="read resources for reference only; they are never changed",
    )
    _common(fix)

    rules = sub.add_parser(
        "rules", help="list the rules", description="List every rule with its severity and fix."
    )
    rules.add_argument(
        "--check",
        action="store_true",
        help="validate the rule files against schemas/rule.schema.json",
    )
    rules.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)

    explain = sub.add_parser(
        "explain",
        help="explain one rule",
        description="Print what a rule checks, why, how to fix it, and its examples.",
    )
    explain.add_argument("rule", metavar="RULE_ID", help="for example MG204")
    explain.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", metavar="FILE", help="configuration file (default: search upwards)"
    )
    parser.add_argument(
        "--no-config", action="store_true", help="ignore configuration files; use defaults"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="meshguard: %(message)s",
        stream=sys.stderr,
    )
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "lint":
            return _lint(args)
        if args.command == "fix":
            return _fix(args)
        if args.command == "rules":
            return _rules(args)
        return _explain(args)
    except MeshguardError as exc:
        print(f"meshguard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _resolve_config(args: argparse.Namespace, rules: dict[str, RuleMeta]) -> Config:
    if args.no_config:
        return Config()
    if args.config:
        path = Path(args.config)
        if path.is_dir():
            raise MeshguardError(f"{path}: is a directory; give the configuration file itself")
        if not path.is_file():
            raise MeshguardError(f"{path}: configuration file not found")
        return load_config(path, rules)
    return load_config(find_config(Path.cwd()), rules)


def _id_list(text: str | None, rules: dict[str, RuleMeta], flag: str) -> frozenset[str] | None:
    if text is None:
        return None
    ids = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    if not ids:
        raise MeshguardError(f"{flag}: give at least one rule id (e.g. {flag} MG204,MG205)")
    unknown = sorted(ids - set(rules) - {"MG000"})
    if unknown:
        raise MeshguardError(f"{flag}: unknown rule id {unknown[0]!r}; see `meshguard rules`")
    return ids


def _lint(args: argparse.Namespace) -> int:
    from dataclasses import replace

    # A lint run allocates hundreds of thousands of small, acyclic dicts and lists (documents
    # have no cycles: the loader refuses recursive aliases) and exits: the cyclic collector
    # only rescans them, 10-15 % of a large run. The webhook, a long-lived process, keeps it.
    gc.disable()

    from meshguard.config import with_parameters
    from meshguard.engine import run
    from meshguard.loader import iter_yaml_paths, load_files, load_values_file
    from meshguard.report import ReportOptions, render

    rules = load_rules()
    config = _resolve_config(args, rules)
    selected = _id_list(args.select, rules, "--select")
    ignored = _id_list(args.ignore, rules, "--ignore")
    if selected is not None:
        config = replace(config, selected=selected | {"MG000"})
    if ignored:
        config = replace(config, disabled=config.disabled | ignored)
    if args.paths.count("-") > 1:
        raise MeshguardError("- (standard input) may be given once")

    if args.strict_refs:
        config = with_parameters(config, {"strict_refs": True})
    jobs = _jobs(args.jobs)
    paths = list(iter_yaml_paths(args.paths, config.is_excluded))
    files = load_files(paths, jobs)
    values = [*config.params.get("istio.values_files"), *args.istio_values]
    files += [load_values_file(_existing(p, "--istio-values")) for p in dict.fromkeys(values)]
    context = _context(args.context)
    if not paths and not any(iter_yaml_paths(args.paths)):  # not merely excluded
        print(
            f"meshguard: warning: no *.yaml or *.yml files under {', '.join(args.paths)}",
            file=sys.stderr,
        )
    for loaded in files:
        log.info("read %s: %d resources", loaded.path, len(loaded.resources))
    result = run(files, config, rules, context, jobs=jobs)

    fmt = args.format
    if fmt == "auto":
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    color = args.color == "always" or (
        args.color == "auto"
        and args.output is None
        and sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
    )
    options = ReportOptions(rules=rules, color=color, show_suppressed=args.show_suppressed)
    text = render(fmt, result, options)
    if args.output:
        _write_report(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()

    fail_on = args.fail_on or config.fail_on or "warning"
    if fail_on == "never":
        return 0
    threshold = Severity(fail_on).rank
    return 1 if any(f.severity.rank >= threshold for f in result.findings) else 0


def _fix(args: argparse.Namespace) -> int:
    """Lint → fix passes, then write (or show) the result; see FIX_EPILOG for the exit status."""
    from meshguard.fix import FixOptions, fix_files
    from meshguard.loader import STDIN_NAME, iter_yaml_paths, load_files
    from meshguard.rewrite import unified_diff, write_files

    rules = load_rules()
    config = _resolve_config(args, rules)
    wanted = _id_list(",".join(args.rule), rules, "--rule") if args.rule else None
    if args.paths.count("-") > 1:
        raise MeshguardError("- (standard input) may be given once")
    paths = list(iter_yaml_paths(args.paths, config.is_excluded))
    files = load_files(paths)
    target, extra = _new_docs_target(args.new_docs, files) if args.new_docs else (None, None)
    if extra is not None:
        files.append(extra)
    context = _context(args.context)
    options = FixOptions(unsafe=args.unsafe_fixes, rules=wanted, new_docs=target)
    report = fix_files(files, config, rules, options, context)

    for outcome in report.files:
        if outcome.path == target and not os.path.lexists(outcome.path):
            outcome.exists = False
        if outcome.unparsable is not None:
            e = outcome.unparsable
            print(
                f"{outcome.path}:{e.position.line}:{e.position.column}: {e.rule} error: "
                f"{e.message} (file left untouched)",
                file=sys.stderr,
            )
        elif outcome.error:
            print(f"meshguard: error: {outcome.path}: {outcome.error}", file=sys.stderr)
    for problem in report.problems:
        log.warning("%s", problem)
    changed = [f for f in report.files if f.changed]
    if args.diff:
        sys.stdout.write("".join(unified_diff(f) for f in changed))
    elif not args.check:
        stdin = [f for f in report.files if f.path == STDIN_NAME]
        write_files([f for f in changed if f.path != STDIN_NAME])
        for outcome in stdin:
            sys.stdout.write(outcome.text)
    sys.stdout.flush()
    print(_fix_summary(report, changed, options, dry=args.diff or args.check), file=sys.stderr)
    if any(f.error or f.unparsable for f in report.files):
        return 2
    return 1 if changed else 0


def _new_docs_target(path: str, files: list[LoadedFile]) -> tuple[str, LoadedFile | None]:
    """The run's name for the --new-docs file, and the file to add when it is not an input."""
    from meshguard.loader import STDIN_NAME, LoadedFile, load_file

    if path == "-":
        raise MeshguardError("--new-docs needs a file name, not -")
    real = os.path.realpath(path)
    found = next(
        (f for f in files if f.path != STDIN_NAME and os.path.realpath(f.path) == real), None
    )
    if found is None and not os.path.exists(path):
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise MeshguardError(f"--new-docs {path}: no such folder")
        return path, LoadedFile(path, "")
    loaded = found or load_file(path)
    if loaded.errors:
        error = loaded.errors[0]
        raise MeshguardError(f"--new-docs {path}:{error.position.line}: {error.message}")
    return loaded.path, None if found else loaded


def _fix_summary(
    report: FixReport, changed: list[FileFix], options: FixOptions, *, dry: bool
) -> str:
    """One line: files changed, fixes applied per rule, findings left."""
    counts = report.applied_by_rule()
    if changed:
        per_rule = ", ".join(f"{rule} x{n}" for rule, n in sorted(counts.items()))
        total = sum(counts.values())
        files = f"{len(changed)} file{'s' if len(changed) != 1 else ''}"
        fixes = f"{total} fix{'es' if total != 1 else ''}"
        head = f"{'would fix' if dry else 'fixed'} {files} with {fixes} ({per_rule})"
    else:
        head = "nothing to fix"
    left = report.result.findings
    tail = f"{len(left)} finding{'s' if len(left) != 1 else ''} left"
    if not options.unsafe:
        unsafe = sum(
            1
            for f in left
            if f.fix is not None
            and f.fix.safety is Safety.UNSAFE
            and (f.fix.ops or f.fix.new_documents)
            and (options.rules is None or f.rule in options.rules)
        )
        if unsafe:
            tail += f" ({unsafe} fixable with --unsafe-fixes)"
    return f"meshguard: {head}; {tail}"


def _jobs(requested: int) -> int:
    if requested < 0:
        raise MeshguardError("--jobs must be 0 (one per core) or a positive number")
    if requested:
        return requested
    if hasattr(os, "sched_getaffinity"):  # the cores this process may run on (cpusets)
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _context(paths: Sequence[str]) -> list[Resource]:
    """`--context` resources; a context file that cannot be read is an error, not a silent gap."""
    from meshguard.loader import iter_yaml_paths, load_file

    out: list[Resource] = []
    for path in iter_yaml_paths(paths):
        loaded = load_file(path)
        for error in loaded.errors:
            raise MeshguardError(f"--context {error.file}:{error.position.line}: {error.message}")
        out.extend(loaded.resources)
    return out


def _existing(path: str, flag: str) -> str:
    if not Path(path).is_file():
        raise MeshguardError(f"{flag} {path}: no such file")
    return path


def _write_report(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise MeshguardError(f"{path}: cannot write the report: {exc.strerror}") from exc


def _rules(args: argparse.Namespace) -> int:
    rules = load_rules(validate=args.check)
    width = max(len(m.title) for m in rules.values()) if rules else 0
    for meta in rules.values():
        fix = meta.fix_safety.value if meta.fix_safety.value != "none" else "-"
        print(f"{meta.id}  {meta.severity.value:<7}  fix:{fix:<6}  {meta.title:<{width}}".rstrip())
    if args.check:
        print(f"{len(rules)} rule files valid")
    return 0


def _explain(args: argparse.Namespace) -> int:
    rules = load_rules()
    rule_id = args.rule.strip().upper()
    meta = rules.get(rule_id)
    if meta is None:
        raise MeshguardError(f"unknown rule id {args.rule!r}; `meshguard rules` lists them")
    sys.stdout.write(explain_text(meta))
    return 0


def explain_text(meta: RuleMeta) -> str:
    def wrap(text: str, indent: str = "  ") -> str:
        return textwrap.fill(
            " ".join(text.split()), width=96, initial_indent=indent, subsequent_indent=indent
        )

    kinds = ", ".join(f"{g or 'core'}/{k}" for g, k in meta.applies_to) or "(input files)"
    lines = [
        f"{meta.id}: {meta.title}",
        f"severity: {meta.severity.value}    applies to: {kinds}",
        "",
        "What it flags",
        wrap(meta.what),
        "",
        "Why it matters",
        wrap(meta.why),
        "",
        f"Fix ({SAFETY_TEXT[meta.fix_safety]})",
        wrap(meta.fix_summary),
    ]
    if meta.fix_note:
        lines.append(wrap(f"Note: {meta.fix_note}"))
    if meta.params:
        lines += ["", "Parameters (set under `parameters:` in .meshguard.yaml)"]
        for name in meta.params:
            doc, default = parameter_doc(name)
            lines.append(f"  {name}: {json.dumps(default, ensure_ascii=False)}")
            lines.append(wrap(doc, "      "))
    lines += ["", "References"] + [f"  - {r}" for r in meta.references]
    if meta.peers:
        lines += ["", "Also covered by: " + ", ".join(meta.peers)]
    for example in meta.examples:
        label = "Fails" if "fail" in example else "Passes"
        lines += [
            "",
            f"{label}:",
            textwrap.indent(str(example.get("fail", example.get("pass", ""))).rstrip(), "    "),
        ]
    lines += ["", f"Docs: {meta.docs_url}"]
    return "\n".join(lines) + "\n"
