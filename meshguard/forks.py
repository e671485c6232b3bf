"""Run shares of one job on several cores: this process takes the first, forked children the rest.

A lint run is parsing plus checking, both per document, so a second core halves both (parsing
is most of a run; see benchmarks/). Why `os.fork` and a pipe per child rather than
`multiprocessing.Pool`:

- children inherit what this process already holds (the rules, the parsed inventory) by
  copy-on-write, so only each share's *result* is pickled, once, in one direction;
- a Pool gathers results in a helper thread whose unpickling fights this process's own share
  for the GIL (measured: parallel parsing through a Pool saved nothing; through pipes it takes
  a 20,000-document parse from 1.7 s to 1.0 s on 2 cores);
- importing `multiprocessing` alone costs more than a small run.

Nothing is lost when a child cannot run: where fork is unavailable (Windows), fails, or a child
dies or sends something unreadable, its share runs in this process instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from typing import TypeVar

log = logging.getLogger(__name__)

ShareT = TypeVar("ShareT")
ResultT = TypeVar("ResultT")


def can_fork() -> bool:
    return hasattr(os, "fork")


def fork_map(work: Callable[[ShareT], ResultT], shares: Sequence[ShareT]) -> list[ResultT]:
    """`[work(share) for share in shares]`, the shares after the first in forked children.

    `work` must not depend on state that changes after the fork, and its results must pickle.
    The caller's process must have no other threads (fork copies only the calling thread).
    """
    if len(shares) <= 1 or not can_fork():
        return [work(share) for share in shares]
    children: list[_Child | None] = []
    try:
        for share in shares[1:]:
            children.append(_start(work, share, [c.read_end for c in children if c]))
        results = [work(shares[0])]
        for share, child in zip(shares[1:], children, strict=True):
            results.append(_gather(child, work, share))
    finally:  # this process's own share failed (or was interrupted): leave no child behind
        for child in children:
            if child is not None and not child.reaped:
                child.abandon()
    return results


class _Child:
    """A forked child: its pid and the read end of the pipe its result comes through."""

    __slots__ = ("pid", "read_end", "reaped")

    def __init__(self, pid: int, read_end: int) -> None:
        self.pid, self.read_end, self.reaped = pid, read_end, False

    def collect(self) -> tuple[bytes, int]:
        """Everything the child wrote, and its exit status (0 when it cannot be known)."""
        with os.fdopen(self.read_end, "rb") as pipe:
            data = pipe.read()
        self.reaped = True
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:  # SIGCHLD ignored by whoever started us: already reaped
            status = 0
        return data, status

    def abandon(self) -> None:
        self.reaped = True
        with contextlib.suppress(OSError):
            os.close(self.read_end)
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _start(work: Callable[[ShareT], ResultT], share: ShareT, siblings: list[int]) -> _Child | None:
    """Fork a child that runs `work(share)` and writes the pickled result to a pipe.

    SIGINT is blocked across the fork, so that Ctrl-C cannot land in the child before it is
    inside the block that always ends in `os._exit`: it must never return into the caller.
    """
    try:
        read_end, write_end = os.pipe()
    except OSError as exc:  # out of file descriptors: this process does the share
        log.debug("no pipe (%s); running the share here", exc)
        return None
    blocked = {signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        pid = os.fork()
    except OSError as exc:  # out of processes or memory
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
        os.close(read_end)
        os.close(write_end)
        log.debug("fork failed (%s); running the share here", exc)
        return None
    if pid == 0:  # the child: never returns
        status = 1
        try:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
            for fd in (read_end, *siblings):
                os.close(fd)
            import pickle  # here and in _gather, not at the top: a one-file run never forks

            data = pickle.dumps(work(share), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        except BaseException:  # noqa: BLE001,S110  (the parent redoes the share)
            pass
        finally:
            os._exit(status)  # no atexit handlers, no flushing the parent's stdio buffers twice
    signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    os.close(write_end)
    return _Child(pid, read_end)


def _gather(child: _Child | None, work: Callable[[ShareT], ResultT], share: ShareT) -> ResultT:
    if child is None:
        return work(share)
    import pickle

    data, status = child.collect()
    if status == 0 and data:
        try:
            result: ResultT = pickle.loads(data)  # noqa: S301  (our own child's bytes)
        except Exception as exc:  # noqa: BLE001
            log.debug("a child's result did not unpickle (%s); running the share here", exc)
        else:
            return result
    log.debug("a child failed (status %s); running its share here", status)
    return work(share)
