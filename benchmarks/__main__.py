"""`python -m benchmarks`: meshguard's speed beside measured floors, as ratios from one run.

These machines are noisy, so every figure is the best of several runs and every target is a
ratio to something measured in the same run (issue 4: lint ≤ 2.0 × the PyYAML C-composer
floor, 20,000 docs ≤ 25 × the time of 800, start-up ≤ 3 × `python -c pass`, ≥ 15 × faster
than checkov with `--checkov`).

`python -c 'import yaml'` is printed for reference: the start-up target depends on what the
interpreter loads before any program runs. On this project's machines `site` already imports
much of the standard library (python -c pass: ~34 ms); in a clean virtual environment
`python -c pass` takes ~10 ms and importing PyYAML alone takes 3 times that, so no linter that
parses YAML with PyYAML meets 3 × there (meshguard: ~90 ms).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.generate import generate

FLOOR = """\
import os, sys, yaml
for root, _, files in os.walk(sys.argv[1]):
    for name in sorted(files):
        with open(os.path.join(root, name), encoding="utf-8") as handle:
            text = handle.read()
        for node in yaml.compose_all(text, Loader=yaml.CSafeLoader):
            pass  # nodes dropped after each document, as a linter does
"""
CHECKOV_VENV = Path(__file__).resolve().parent / ".checkov-venv"


def best_of(runs: int, commands: dict[str, list[str]]) -> dict[str, float]:
    """Wall time of the fastest of `runs` runs of each whole process (exit status 0 or 1).

    The commands take turns (a, b, c, a, b, c, ...) rather than running a, a, a, b, b, b: load
    from elsewhere on a shared machine then falls on every figure alike, and the ratios, which
    are what the targets are about, stay steady between runs.
    """
    best = dict.fromkeys(commands, float("inf"))
    for _ in range(runs):
        for name, argv in commands.items():
            start = time.perf_counter()
            proc = subprocess.run(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
            )
            elapsed = time.perf_counter() - start
            if proc.returncode not in (0, 1):
                raise SystemExit(
                    f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}"
                )
            best[name] = min(best[name], elapsed)
    return best


def lint_argv(path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "meshguard",
        "lint",
        "--no-config",
        "--format",
        "json",
        *extra,
        str(path),
    ]


def checkov_binary() -> Path | None:
    """checkov in its own virtual environment (it pins many packages), installed on first use."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    if binary.exists():
        return binary
    print("installing checkov into benchmarks/.checkov-venv (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
    pip = [str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "checkov"]
    if subprocess.run(pip, check=False).returncode != 0:
        print("checkov could not be installed; skipping that comparison")
        return None
    return binary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--docs", type=int, default=20_000, help="documents in the large run (default 20000)"
    )
    parser.add_argument(
        "--small", type=int, default=800, help="documents in the scaling baseline (default 800)"
    )
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per figure; the best counts (default 5)"
    )
    parser.add_argument(
        "--checkov", action="store_true", help="also compare with checkov on 4,000 documents"
    )
    args = parser.parse_args(argv)

    # An installed meshguard has bytecode (pip compiles it); a source tree may not, for example
    # with PYTHONDONTWRITEBYTECODE set, and compiling on every start would be measured instead.
    import compileall

    import meshguard

    compileall.compile_dir(str(Path(meshguard.__file__).parent), quiet=1)

    rows: list[tuple[str, float, str, float, float]] = []  # name, seconds, base name, ratio, target
    work = Path(tempfile.mkdtemp(prefix="meshguard-bench-"))
    try:
        big, small, one = work / "big", work / "small", work / "one"
        n_big = generate(big, args.docs)
        n_small = generate(small, args.small)
        generate(one, 4, docs_per_file=4)
        one_file = next(one.glob("team-*.yaml"))  # a Namespace, its PeerAuthentication and policy
        print(f"generated {n_big} and {n_small} documents in {work}", flush=True)

        timed = best_of(
            args.runs,
            {
                "floor": [sys.executable, "-c", FLOOR, str(big)],
                "big": lint_argv(big),
                "small": lint_argv(small),
            },
        )
        floor, lint_big, lint_small = timed["floor"], timed["big"], timed["small"]
        timed = best_of(
            args.runs * 3,
            {
                "python": [sys.executable, "-c", "pass"],
                "yaml": [sys.executable, "-c", "import yaml"],
                "one": lint_argv(one_file),
            },
        )
        python, import_yaml, lint_one = timed["python"], timed["yaml"], timed["one"]
        rows += [
            (f"lint {n_big} docs", lint_big, "compose floor", lint_big / floor, 2.0),
            (f"lint {n_big} docs", lint_big, f"lint {n_small} docs", lint_big / lint_small, 25.0),
            ("lint one small file", lint_one, "python -c pass", lint_one / python, 3.0),
        ]
        figures = [
            ("compose floor (PyYAML C loader)", floor, n_big),
            (f"lint {n_big} docs", lint_big, n_big),
            (f"lint {n_small} docs", lint_small, n_small),
            ("python -c pass", python, 0),
            ("python -c 'import yaml' (reference)", import_yaml, 0),
            ("lint one small file", lint_one, 3),
        ]
        if args.checkov:
            mid = work / "mid"
            n_mid = generate(mid, 4_000)
            binary = checkov_binary()
            if binary is not None:
                checkov_argv = [
                    *(str(binary), "-d", str(mid), "--framework", "kubernetes"),
                    *("--quiet", "--compact"),
                ]
                # checkov takes ~10 s a run: fewer runs, but the best of several all the same,
                # so that a slow run of checkov does not flatter meshguard
                rounds = max(2, args.runs // 2)
                timed = best_of(rounds, {"lint": lint_argv(mid), "checkov": checkov_argv})
                if args.runs > rounds:  # meshguard gets as many runs as every other figure
                    more = best_of(args.runs - rounds, {"lint": lint_argv(mid)})
                    timed["lint"] = min(timed["lint"], more["lint"])
                checkov, lint_mid = timed["checkov"], timed["lint"]
                figures += [
                    (f"checkov {n_mid} docs", checkov, n_mid),
                    (f"lint {n_mid} docs", lint_mid, n_mid),
                ]
                rows.append(
                    (
                        f"checkov {n_mid} docs",
                        checkov,
                        f"lint {n_mid} docs",
                        checkov / lint_mid,
                        -15.0,
                    )
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'figure':<36}{'seconds':>9}{'ms/doc':>9}")
    for name, seconds, docs in figures:
        per_doc = f"{seconds * 1000 / docs:.3f}" if docs else "-"
        print(f"{name:<36}{seconds:>9.3f}{per_doc:>9}")
    print(f"\n{'ratio':<56}{'value':>7}{'target':>10}  ok")
    failed = 0
    for name, _, base, ratio, target in rows:
        ok = ratio >= -target if target < 0 else ratio <= target
        failed += not ok
        bound = f">= {-target:g}" if target < 0 else f"<= {target:g}"
        print(f"{name + ' / ' + base:<56}{ratio:>7.2f}{bound:>10}  {'yes' if ok else 'NO'}")
    print(f"\n{os.cpu_count()} cores; best of {args.runs} runs per figure")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
