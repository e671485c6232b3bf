"""Command line: `meshguard lint | rules | explain`. Exit 0 clean, 1 findings, 2 usage/input/config.

Only this module and `report/` write to stdout. Start-up matters (pre-commit runs lint on every
commit), so nothing here imports flask, kubernetes or cryptography.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from meshguard import __version__
from meshguard.config import Config, find_config, load_config, parameter_doc
from meshguard.errors import MeshguardError
from meshguard.model import Severity
from meshguard.registry import RuleMeta, load_rules

log = logging.getLogger("meshguard")

EPILOG = """\
examples:
  meshguard lint manifests/                 lint every *.yaml/*.yml below a folder
  kustomize build overlays/prod | meshguard lint -
  meshguard lint --format sarif -o meshguard.sarif .
  meshguard rules                           list the rules
  meshguard explain MG204                   what a rule checks, why, and how to fix it

exit status: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage, input or
configuration error. Configuration: .meshguard.yaml (searched upwards from the current
directory), [tool.meshguard] in pyproject.toml, or --config FILE.
"""


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
    lint.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                      help="files or folders to check (default: .); - reads standard input")
    lint.add_argument("-f", "--format", default="auto",
                      choices=["auto", "text", "parsable", "json", "sarif", "github"],
                      help="output format (default: auto = github under GitHub Actions, else text)")
    lint.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    lint.add_argument("--fail-on", choices=["error", "warning", "never"],
                      help="lowest severity that makes the exit status 1 (default: warning; info never fails)")
    lint.add_argument("--select", metavar="IDS", help="run only these rules (comma-separated ids)")
    lint.add_argument("--ignore", metavar="IDS", help="skip these rules (comma-separated ids)")
    lint.add_argument("--context", action="append", default=[], metavar="PATH",
                      help="read resources for reference only (e.g. the cluster's Services from "
                      "`kubectl get svc -A -o yaml`): they resolve references but are not reported on")
    lint.add_argument("--strict-refs", action="store_true",
                      help="report a reference whose target is absent as an error, not as info (unresolved)")
    lint.add_argument("--istio-values", action="append", default=[], metavar="FILE",
                      help="istiod Helm values file to check and to read mesh settings from (repeatable)")
    lint.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                      help="processes that parse and check (default 0: one per core, for large runs only)")
    lint.add_argument("--show-suppressed", action="store_true",
                      help="also list findings silenced by annotations or comments")
    lint.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                      help="colour text output (default: auto = only on a terminal, and not with NO_COLOR)")
    _common(lint)

    rules = sub.add_parser("rules", help="list the rules", description="List every rule with its severity and fix.")
    rules.add_argument("--check", action="store_true", help="validate the rule files against schemas/rule.schema.json")
    rules.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)

    explain = sub.add_parser("explain", help="explain one rule", description="Print what a rule checks, why, how to fix it, and its examples.")
    explain.add_argument("rule", metavar="RULE_ID", help="for example MG204")
    explain.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", help="configuration file (default: search upwards)")
    parser.add_argument("--no-config", action="store_true", help="ignore configuration files; use defaults")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="meshguard: %(message)s", stream=sys.stderr)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "lint":
            return _lint(args)
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
        if not path.is_file():
            raise MeshguardError(f"{path}: configuration file not found")
        return load_config(path, rules)
    return load_config(find_config(Path.cwd()), rules)


def _id_list(text: str | None, rules: dict[str, RuleMeta], flag: str) -> frozenset[str] | None:
    if text is None:
        return None
    ids = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = sorted(ids - set(rules) - {"MG000"})
    if unknown:
        raise MeshguardError(f"{flag}: unknown rule id {unknown[0]!r}; see `meshguard rules`")
    return ids


def _lint(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from meshguard.engine import run
    from meshguard.config import with_parameters
    from meshguard.loader import iter_yaml_paths, load_file, load_files, load_values_file
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
    context = [res for p in iter_yaml_paths(args.context) for res in load_file(p).resources]
    for loaded in files:
        log.info("read %s: %d resources", loaded.path, len(loaded.resources))
    result = run(files, config, rules, context, jobs=jobs)

    fmt = args.format
    if fmt == "auto":
        fmt = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    color = args.color == "always" or (
        args.color == "auto" and args.output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
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


def _jobs(requested: int) -> int:
    if requested < 0:
        raise MeshguardError("--jobs must be 0 (one per core) or a positive number")
    return requested or (os.cpu_count() or 1)


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
        return textwrap.fill(" ".join(text.split()), width=96, initial_indent=indent, subsequent_indent=indent)

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
        f"Fix ({meta.fix_safety.value})",
        wrap(meta.fix_summary),
    ]
    if meta.fix_note:
        lines.append(wrap(f"Note: {meta.fix_note}"))
    if meta.params:
        lines += ["", "Parameters (set under `parameters:` in .meshguard.yaml)"]
        for name in meta.params:
            doc, default = parameter_doc(name)
            lines.append(f"  {name} = {default!r}")
            lines.append(wrap(doc, "      "))
    lines += ["", "References"] + [f"  - {r}" for r in meta.references]
    if meta.peers:
        lines += ["", "Also covered by: " + ", ".join(meta.peers)]
    for example in meta.examples:
        label = "Fails" if "fail" in example else "Passes"
        lines += ["", f"{label}:", textwrap.indent(str(example.get("fail", example.get("pass", ""))).rstrip(), "    ")]
    lines += ["", f"Docs: {meta.docs_url}"]
    return "\n".join(lines) + "\n"
