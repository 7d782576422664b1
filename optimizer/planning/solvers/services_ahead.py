"""A flow solved ahead, on the second core, while the solver goes on.

At 100,000 students the service solve of the one large part is two big
min-cost flows in a row, each about five CPU seconds: the first priced flow
(the cost bound, services_flows._lagrangian_bound) and the joint flow nudged
by that flow's discounts (the plan that is usually kept). The second needs
only the discounts, which are known before the first flow is solved, so it
can run in a forked child process meanwhile. The child computes exactly what
the caller would compute itself, so the plan is the same, byte for byte;
only the wall clock changes. The result is read when the caller would have
computed it; a child that is not needed is stopped.

Where ``fork`` is not available (Windows), or the child fails or dies, the
caller computes the same thing itself, in-process: never another answer.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from optimizer.planning.solvers import highs_child

__all__ = ["Ahead", "Turns", "can_fork"]


def can_fork() -> bool:
    """Whether a child process can be forked here (Linux: yes; macOS and
    Windows start children differently, so the work stays in-process; a
    child never forks again, the work then stays in it; and not while other
    threads run: a fork copies only the calling thread, and a lock one of the
    others held would stay locked in the child)."""
    return (sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon
            and threading.active_count() == 1)


def _child(send: Connection, work: Callable[[], Any]) -> None:
    # Default actions: Ctrl-C or SIGTERM ends the child without a traceback
    # (the parent's handlers would raise into its work; the parent computes
    # what the child did not answer), as outputs/side_process.py's children.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The parent's HiGHS process answers the parent only: were both to write
    # to its pipes, the requests would interleave. Here a new one starts
    # when needed (and ends with this process, its pipe closed).
    highs_child.forget()
    try:
        send.send(("ok", work()))
    except BaseException as exc:  # reported to the parent, which computes it itself
        # (Not at all when the parent stopped listening: a broken pipe, no traceback.)
        with contextlib.suppress(OSError):
            send.send(("error", repr(exc)))
    finally:
        send.close()


class Ahead:
    """``work()`` started now in a forked child; :meth:`result` returns its value.

    Parameters
    ----------
    work
        A function without arguments whose result pickles (NumPy arrays do).
    fork
        Run it in a child process (only where :func:`can_fork`); otherwise
        :meth:`result` calls ``work()`` itself.

    Examples
    --------
    >>> ahead = Ahead(lambda: 6 * 7, fork=False)
    >>> ahead.result()
    42
    """

    def __init__(self, work: Callable[[], Any], fork: bool = True) -> None:
        self._work = work
        self._process: Any = None
        self._receive: Connection | None = None
        if fork and can_fork():
            context = multiprocessing.get_context("fork")
            receive, send = context.Pipe(duplex=False)
            self._process = context.Process(target=_child, args=(send, work), daemon=True)
            self._process.start()
            send.close()  # the child holds its end; EOF here when it dies
            self._receive = receive

    @property
    def forked(self) -> bool:
        """Whether the work runs in a child process."""
        return self._process is not None

    def result(self) -> Any:
        """The work's value: the child's, or computed here when there is no
        child or it failed (the same function, so the same value)."""
        if self._receive is not None:
            try:
                status, value = self._receive.recv()
            except (EOFError, OSError):
                status, value = "error", "the child process ended without a result"
            finally:
                self.cancel()
            if status == "ok":
                return value
        return self._work()

    def cancel(self) -> None:
        """Stop the child (if any) and release it; safe to call twice."""
        if self._receive is not None:
            self._receive.close()
            self._receive = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._process.close()
            self._process = None


class Turns:
    """Indexes ``start..n-1``, each handed out once, in order, to whichever
    process asks next: this one or a child forked after it was made.

    Work shared this way ends on both cores at about the same time, where a
    split fixed in advance (by pairs, say) leaves one core idle at the end
    whenever the other's parts take longer than their size says: at 100,000
    students the two halves of the service parts ended 0.5-1.6 s apart. Each
    index's work must give the same answer in either process (as Ahead's).

    The counter is shared (:attr:`shared`) where a child can be forked and
    the system gives semaphores; otherwise it is this process's own, and a
    child must not be forked for the work (``Ahead(..., fork=turns.shared)``).
    A child that fails leaves the indexes it took unanswered: the caller does
    them itself. One that dies holding the counter's lock (killed in the few
    microseconds it holds it) ends the turns for both: :meth:`take` gives
    None after :data:`LOCK_WAIT` seconds, and the caller does the rest itself.

    Examples
    --------
    >>> turns = Turns(3, start=1)
    >>> list(turns)
    [1, 2]
    >>> list(turns)
    []
    """

    #: Seconds :meth:`take` waits for the counter's lock (held for a few
    #: microseconds at a time: a longer wait means its holder died).
    LOCK_WAIT = 10.0

    def __init__(self, n: int, start: int = 0) -> None:
        self._n = n
        self._next: Any = _Cell(start)
        if can_fork():
            # (A shared integer and its lock, made before the fork.)
            with contextlib.suppress(OSError):  # (no semaphores here: not shared)
                self._next = multiprocessing.get_context("fork").Value("q", start)

    @property
    def shared(self) -> bool:
        """Whether a forked child takes its turns from the same counter."""
        return not isinstance(self._next, _Cell)

    def take(self) -> int | None:
        """The next index not yet taken, or None when all are (or the lock's
        holder died)."""
        lock = self._next.get_lock()
        if not lock.acquire(timeout=self.LOCK_WAIT):
            return None
        try:
            k = int(self._next.value)
            if k >= self._n:
                return None
            self._next.value = k + 1
        finally:
            lock.release()
        return k

    def __iter__(self) -> Iterator[int]:
        return iter(self.take, None)


class _Cell:
    """An integer with a lock's interface, for :class:`Turns` without fork."""

    def __init__(self, value: int) -> None:
        self.value = value

    def get_lock(self) -> _Cell:
        return self

    def acquire(self, timeout: float | None = None) -> bool:
        return True

    def release(self) -> None:
        pass
