"""Parsing and checking in forked children give exactly the serial result, in the same order,
and a child that cannot run or dies costs time, never findings."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from benchmarks.generate import generate
from meshguard import engine, forks, loader
from meshguard.config import Config
from meshguard.registry import load_rules

pytestmark = pytest.mark.skipif(not forks.can_fork(), reason="this platform has no fork")


def _snapshot(files: list[loader.LoadedFile], jobs: int) -> list[tuple[object, ...]]:
    result = engine.run(files, Config(), load_rules(), jobs=jobs)
    return [
        (
            f.rule,
            f.severity,
            f.message,
            f.file,
            f.position,
            f.pointer,
            f.resource.ref if f.resource else None,
        )
        for f in result.findings
    ]


@pytest.fixture
def repository(tmp_path: Path) -> list[str]:
    generate(tmp_path, 600)
    (tmp_path / "broken.yaml").write_text("a: [\n", encoding="utf-8")
    return list(loader.iter_yaml_paths([str(tmp_path)]))


def test_parallel_checking_equals_serial(
    repository: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PARALLEL_MIN_RESOURCES", 2)
    files = loader.load_files(repository)
    serial = _snapshot(files, 1)
    assert serial, "the generated repository has findings (MG204 on routes, MG000 on broken.yaml)"
    assert _snapshot(files, 2) == serial
    assert _snapshot(files, 3) == serial


def _files_snapshot(files: list[loader.LoadedFile]) -> list[tuple[object, ...]]:
    return [
        (
            f.path,
            f.text,
            f.errors,
            [(r, r.origin.doc_index, dict(r.origin.positions)) for r in f.resources],
        )
        for f in files
    ]


@pytest.mark.parametrize("jobs", [2, 3])
def test_parallel_parsing_equals_serial(
    repository: list[str], monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    monkeypatch.setattr(loader, "PARALLEL_MIN_BYTES", 1)
    serial = loader.load_files(repository)
    parallel = loader.load_files(repository, jobs)
    assert [f.path for f in parallel] == repository
    assert _files_snapshot(parallel) == _files_snapshot(serial)
    broken = next(f for f in parallel if f.path.endswith("broken.yaml"))
    assert broken.errors and broken.errors[0].rule == "MG000"


def test_split_keeps_order_and_weights() -> None:
    items = [f"f{i}" for i in range(10)]
    shares = loader._split(items, [10] * 10, [1.5, 1.0])
    assert [x for share in shares for x in share] == items
    assert [len(s) for s in shares] == [6, 4]
    assert loader._split(["a"], [5], [1.0, 1.0]) == [["a"], []]


def _square_unless_child(parent: int, n: int) -> int:
    if os.getpid() != parent:
        raise RuntimeError("children fail in this test")
    return n * n


def test_failed_child_share_is_redone_here() -> None:
    parent = os.getpid()
    assert forks.fork_map(lambda n: _square_unless_child(parent, n), [1, 2, 3]) == [1, 4, 9]


def test_unpicklable_result_is_redone_here() -> None:
    results = forks.fork_map(lambda n: (n, lambda: n), [1, 2])
    assert [n for n, _ in results] == [1, 2]


def test_fork_failure_runs_everything_here(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert forks.fork_map(lambda n: n + 1, [1, 2, 3]) == [2, 3, 4]


def test_results_arrive_in_share_order() -> None:
    assert forks.fork_map(lambda n: [n] * n, [3, 1, 2]) == [[3, 3, 3], [1], [2, 2]]


def test_whole_corpus_parallel_equals_serial(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real-world files (anchors, Lists, broken YAML, every kind) through forked parsing and
    checking give the serial run's findings, in the same order."""
    monkeypatch.setattr(loader, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(engine, "PARALLEL_MIN_RESOURCES", 2)
    paths = sorted(
        str(p) for p in corpus.rglob("*") if p.suffix in loader.YAML_SUFFIXES and p.is_file()
    )
    serial = loader.load_files(paths)
    parallel = loader.load_files(paths, 2)
    assert _files_snapshot(parallel) == _files_snapshot(serial)
    assert _snapshot(parallel, 2) == _snapshot(serial, 1)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count fds")
def test_fork_failure_leaks_no_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fork() -> int:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(os, "fork", no_fork)
    before = _open_fds()
    for _ in range(20):
        assert forks.fork_map(lambda n: n, [1, 2, 3]) == [1, 2, 3]
    assert _open_fds() == before


def test_a_child_that_fails_early_never_returns_into_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever fails in a child (here its first step), it exits; it never goes on running
    the caller's code as a second copy of the program."""
    parent = os.getpid()
    real = signal.pthread_sigmask

    def failing(how: int, mask: set[signal.Signals]) -> set[signal.Signals]:
        if os.getpid() != parent:
            raise OSError(24, "Too many open files")
        return real(how, mask)

    monkeypatch.setattr(signal, "pthread_sigmask", failing)
    results = forks.fork_map(lambda n: n * 2, [1, 2, 3])
    if os.getpid() != parent:  # only an escaped child gets here
        (tmp_path / "escaped").write_text("a child ran the caller's code", encoding="utf-8")
        os._exit(0)
    assert results == [2, 4, 6]
    assert not (tmp_path / "escaped").exists()


def _big_unless_parent(parent: int, n: int) -> bytes:
    if os.getpid() == parent:
        raise KeyboardInterrupt  # this process's own share is interrupted
    return b"x" * 1_000_000  # more than a pipe holds: the child blocks until read


def test_an_interrupted_parent_leaves_no_child_behind() -> None:
    parent = os.getpid()
    with pytest.raises(KeyboardInterrupt):
        forks.fork_map(lambda n: _big_unless_parent(parent, n), [1, 2, 3])
    with pytest.raises(ChildProcessError):  # every child was reaped
        os.waitpid(-1, os.WNOHANG)


def test_children_work_when_sigchld_is_ignored() -> None:
    """With SIGCHLD ignored (inherited from some supervisors) children reap themselves and
    waitpid fails; what they sent is used all the same."""
    previous = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        assert forks.fork_map(lambda n: [n] * 3, [1, 2, 3]) == [[1, 1, 1], [2, 2, 2], [3, 3, 3]]
    finally:
        signal.signal(signal.SIGCHLD, previous)
