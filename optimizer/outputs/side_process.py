"""One piece of writing done in a second process while this one writes the rest.

A 100,000-student plan's workbook takes longer to write than all its CSV
files together, and both only read the finished plan: ``caseload plan``
writes ``plan.xlsx`` in a forked child while the parent writes the CSVs, so
the two cores of a planner's laptop share the work (benchmarks/bench_plan.py).

The child is a ``fork`` of this process: it starts with the plan already in
its memory (nothing is copied or pickled to hand it over) and writes into the
same temporary plan folder (:func:`optimizer.outputs.outfolder.atomic_folder`),
which is renamed into place only after the child has finished without error.

* An error in the child comes back to the parent through a pipe and is
  raised there when the parent is done: a file that cannot be written
  (``OSError``, :class:`~optimizer.outputs.outfolder.OutputError`) or Ctrl-C
  as the same exception, so the CLI reports it as it does today; any other
  error (a bug), or a child that ends without saying why (killed by a signal,
  out of memory), as :class:`SideProcessError` naming the file not written.
* An error, Ctrl-C or SIGTERM in the parent kills the child and waits for it
  before the temporary folder is removed: no zombie, no child writing into a
  folder being deleted. Ctrl-C in a terminal reaches the child too; it dies
  quietly (the default action), and the parent reports the interruption.
* Where ``fork`` is not safe or not useful — not Linux (macOS and Windows
  start processes by ``spawn``), one usable core, or other threads running
  in this process (a fork copies only the calling thread) — the work runs in
  this process after the rest, as before.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar, cast

from optimizer.outputs.outfolder import OutputError

__all__ = ["SideProcessError", "beside", "can_fork", "computed_beside"]

T = TypeVar("T")


class SideProcessError(RuntimeError):
    """The work done in the second process failed; the message says what was
    not written and why (``detail``: the child's traceback, for a bug report)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def can_fork() -> bool:
    """Whether :func:`beside` runs its work in a forked child here.

    Linux only (where ``fork`` is the usual way to start a process), with at
    least two usable cores, and only while this process runs a single thread.

    Examples
    --------
    >>> isinstance(can_fork(), bool)
    True
    """
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores >= 2 and threading.active_count() == 1


@dataclass
class _Child:
    pid: int
    read_fd: int
    what: str
    done: str  # "written", "computed": what was not done, in messages
    reaped: bool = False


#: Errors the parent raises as the child raised them, so the CLI reports them
#: as it does when the file is written in one process: a file that cannot be
#: written (exit code 2), an interruption. Any other error is a bug in the
#: child's work: it comes back as :class:`SideProcessError` (exit code 1).
_AS_THEY_ARE = (OSError, OutputError, KeyboardInterrupt)


def _error_payload(exc: BaseException, what: str, doing: str) -> bytes:
    if isinstance(exc, _AS_THEY_ARE):
        try:
            payload = pickle.dumps((False, exc))
            pickle.loads(payload)  # noqa: S301 - our own bytes; do they come back?
            return payload
        except Exception:  # noqa: BLE001 - not picklable: said in words below
            pass
    return pickle.dumps((False, SideProcessError(
        f"{doing} {what} failed: {type(exc).__name__}: {exc}",
        "".join(traceback.format_exception(exc)))))


def _run_child(work: Callable[[], object], what: str, doing: str, returns: bool,
               write_fd: int) -> None:
    """(In the child.) Run ``work``; send its value (when ``returns``) or its
    error to the parent, pickled as (True, value) or (False, error). Never returns."""
    code = 0
    try:
        try:
            # Default actions: Ctrl-C or SIGTERM ends the child without a traceback
            # (the parent's handlers would raise into code that is not its own).
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            value = work()
            payload = pickle.dumps((True, value)) if returns else b""
        except BaseException as exc:  # noqa: BLE001 - every error goes to the parent
            code = 1
            payload = _error_payload(exc, what, doing)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
    except BaseException:  # noqa: BLE001 - the parent reports a silent exit
        code = 70
    finally:
        # Not sys.exit: the parent's atexit handlers, buffers and temporary
        # files are the parent's, not this copy's.
        os._exit(code)


def _start(work: Callable[[], object], what: str, doing: str = "writing",
           done: str = "written", returns: bool = False) -> _Child:
    read_fd, write_fd = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # or the child would print them again
        with contextlib.suppress(Exception):
            stream.flush()
    # Frozen objects are not scanned by the child's garbage collector, so it
    # does not copy the pages of the plan it only reads.
    gc.freeze()
    try:
        pid = os.fork()
    except BaseException:
        gc.unfreeze()
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:  # the child
        os.close(read_fd)
        _run_child(work, what, doing, returns, write_fd)
    gc.unfreeze()
    os.close(write_fd)
    return _Child(pid, read_fd, what, done)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _finish(child: _Child) -> object:
    """Wait for the child; return its value, or raise its error or
    :class:`SideProcessError`."""
    payload = _read_all(child.read_fd)  # until the child exits (the pipe closes)
    _, status = os.waitpid(child.pid, 0)
    child.reaped = True
    if payload:
        ok, value = pickle.loads(payload)  # noqa: S301 - from our own child
        if not ok:
            raise value
        return value
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.valid_signals() else str(sig)
        raise SideProcessError(f"{child.what} was not {child.done}: its process was stopped by "
                               f"signal {name} (out of memory, or killed)")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SideProcessError(f"{child.what} was not {child.done}: its process ended with "
                               f"code {code}")
    return None


def _stop(child: _Child) -> None:
    """Kill the child if it still runs, and reap it (no zombie)."""
    with contextlib.suppress(OSError):
        os.close(child.read_fd)
    if child.reaped:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)
    while True:
        try:
            os.waitpid(child.pid, 0)
            break
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    child.reaped = True


@contextlib.contextmanager
def beside(work: Callable[[], object], what: str, *, fork: bool | None = None
           ) -> Iterator[bool]:
    """Run ``work()`` in a second process while the ``with`` block runs.

    On leaving the block, wait for the child and raise its error if it had
    one. If the block raises (or is interrupted), the child is killed and
    reaped first. Without a fork (:func:`can_fork` false, or ``fork=False``)
    ``work()`` runs here after the block. The value bound by ``as`` says
    whether a child was started.

    Parameters
    ----------
    work
        What the child does (it sees this process's memory as it was at the
        start of the block; what it changes there stays in the child).
    what
        What it writes, for messages (``"plan.xlsx"``).
    fork
        Force (True, where ``os.fork`` exists) or forbid (False) the second
        process; None: :func:`can_fork`.

    Examples
    --------
    >>> with beside(lambda: write_workbook(tables, tmp / "plan.xlsx"),
    ...             "plan.xlsx"):                              # doctest: +SKIP
    ...     write_csvs(tables, tmp)
    """
    use = can_fork() if fork is None else (fork and hasattr(os, "fork"))
    if not use:
        yield False
        work()
        return
    child = _start(work, what)
    try:
        yield True
        _finish(child)
    finally:
        _stop(child)


@contextlib.contextmanager
def computed_beside(work: Callable[[], T], what: str, *, fork: bool | None = None
                    ) -> Iterator[Callable[[], T]]:
    """Compute ``work()`` in a second process while the ``with`` block runs;
    the block gets a function that returns the value (waiting for it).

    The value comes back pickled through a pipe, read when it is asked for
    (the child waits on the pipe meanwhile): a table of a few thousand rows,
    or the workbook's sheets made apart (about 22 MB of deflated XML at
    100,000 students). Its error is raised where the value is asked for, as
    by :func:`beside`. Leaving the block without asking (or by an exception)
    kills and reaps the child. Without a fork the function computes
    ``work()`` here, once, when first called.

    Examples
    --------
    >>> with computed_beside(lambda: 6 * 7, "the answer", fork=False) as answer:
    ...     answer()
    42
    """
    use = can_fork() if fork is None else (fork and hasattr(os, "fork"))
    if not use:
        cache: list[T] = []

        def here() -> T:
            if not cache:
                cache.append(work())
            return cache[0]

        yield here
        return
    child = _start(work, what, doing="computing", done="computed", returns=True)
    got: list[T] = []

    def value() -> T:
        if not got:
            got.append(cast(T, _finish(child)))
        return got[0]

    try:
        yield value
    finally:
        _stop(child)
