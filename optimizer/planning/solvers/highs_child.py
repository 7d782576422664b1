"""HiGHS in a child process, shared by every solver that needs an LP.

OR-Tools bundles its own HiGHS, and its symbols clash with highspy's when
both libraries are loaded in one process; so highspy runs in a child Python
process that never imports OR-Tools. The child is started once (about a
second) and kept for later solves; each request names a function
(``"package.module:function"``, run in the child, where it may import
highspy) and its arguments, pickled through the child's pipes.

Used by :mod:`optimizer.planning.solvers.services` (the service LPs) and
:mod:`optimizer.planning.solvers.lp` (weighted case-manager plans).
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import struct
import subprocess
import sys
from typing import Any

import numpy as np

__all__ = ["call", "forget", "one_thread_solver", "pass_columnwise", "start"]

_CHILD: subprocess.Popen[bytes] | None = None
_ANSWERED = False  # whether the child has answered since it was started

#: Added to a call's timeout when it starts the child: Python, NumPy and the
#: target's modules are imported before the answer (about a second).
_START_SECONDS = 2.0

#: The longest wait ``select`` is given (an infinite time limit would overflow it).
_LONGEST_WAIT = 1e7


def start() -> subprocess.Popen[bytes]:
    """Start the child process now, unless it runs already (its start-up then
    overlaps the caller's own work before the first :func:`call`).

    Examples
    --------
    >>> start().poll() is None                              # doctest: +SKIP
    True
    """
    global _CHILD, _ANSWERED
    child = _CHILD
    if child is None or child.poll() is not None:
        child = _CHILD = subprocess.Popen(
            [sys.executable, "-c",
             "from optimizer.planning.solvers.highs_child import _serve; _serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _ANSWERED = False
    return child


def call(target: str, *args: Any, timeout: float | None = None) -> Any:
    """Run ``target(*args)`` in the HiGHS child process and return its answer.

    Parameters
    ----------
    target
        ``"package.module:function"``; the function runs in the child (it may
        import highspy, never OR-Tools).
    *args
        Picklable arguments (NumPy arrays are fine).
    timeout
        Seconds to wait for the answer (None: as long as it takes; 2 s more
        when this call starts the child). Past them the child is stopped
        (the next call starts another) and RuntimeError raised: HiGHS's own
        time limit is not always kept (its MIP overran one by 4 s at 100,000
        students), and ``--time-limit`` is wall clock for the whole solve.
        Not on Windows, whose ``select`` takes only sockets: there the
        answer is awaited however long it takes.

    Raises
    ------
    RuntimeError
        The function raised in the child (its message is kept), the child
        ended without an answer, or it gave none within ``timeout``.

    Examples
    --------
    >>> call("math:hypot", 3.0, 4.0)                       # doctest: +SKIP
    5.0
    """
    global _CHILD, _ANSWERED
    if timeout is not None and (_CHILD is None or _CHILD.poll() is not None
                                or not _ANSWERED):
        # (A new child, or one start() began that has not answered yet,
        # imports its modules first.)
        timeout += _START_SECONDS
    child = start()
    assert child.stdin is not None and child.stdout is not None  # both are PIPE
    data = pickle.dumps((target, args), protocol=pickle.HIGHEST_PROTOCOL)
    child.stdin.write(struct.pack("<Q", len(data)) + data)
    child.stdin.flush()
    # (The reader's buffer is empty between answers, each read to its end:
    # select on its descriptor sees the next one's first byte. Windows
    # selects only sockets: there the answer is awaited as before.)
    if timeout is not None and os.name == "posix":
        wait = min(max(timeout, 0.0), _LONGEST_WAIT)
        if not select.select([child.stdout], [], [], wait)[0]:
            child.kill()
            child.wait()
            child.stdin.close()
            child.stdout.close()
            _CHILD = None
            raise RuntimeError(f"HiGHS gave no answer within {wait:.1f} s "
                               "(stopped at the time limit)")
    head = child.stdout.read(8)
    if len(head) < 8:
        _CHILD = None
        raise RuntimeError("the HiGHS process ended without an answer")
    ok, answer = pickle.loads(child.stdout.read(struct.unpack("<Q", head)[0]))
    _ANSWERED = True
    if not ok:
        raise RuntimeError(answer)
    return answer


def pass_columnwise(h: Any, highspy: Any, cost: Any, col_hi: Any, row_hi: Any, start: Any,
                    index: Any, value: Any, integrality: Any = None) -> None:
    """(In the child.) Give ``h`` the LP min cost.x, 0 <= x <= col_hi,
    A x <= row_hi, with A given by columns (``start``, ``index``, ``value``):
    the shape of every LP the solvers send here; ``integrality`` (1 for a
    whole-number column, per column) makes it a MIP.

    The arrays go to HiGHS as they are (``Highs.passModel``'s array form):
    filling a ``HighsLp``'s fields instead copied them value by value, 0.48 s
    of the 121 service LPs at 100,000 students against 0.06 s, for the same
    model (the same solves, iteration for iteration). HiGHS reads an
    integrality array even for an LP, so an LP gets one of zeros
    (continuous)."""
    n_col, n_row = len(cost), len(row_hi)
    kinds = np.zeros(n_col, dtype=np.int32) if integrality is None else integrality
    status = h.passModel(
        n_col, n_row, len(index), int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), 0.0, np.asarray(cost, dtype=np.float64),
        np.zeros(n_col), np.asarray(col_hi, dtype=np.float64),
        np.full(n_row, -highspy.kHighsInf), np.asarray(row_hi, dtype=np.float64),
        np.asarray(start, dtype=np.int32), np.asarray(index, dtype=np.int32),
        np.asarray(value, dtype=np.float64), np.asarray(kinds, dtype=np.int32))
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS refused the model")


def one_thread_solver(highspy: Any) -> Any:
    """(In the child.) A silent ``highspy.Highs`` on one thread: the same
    answer every time, and the same thread count for every solve, as HiGHS
    starts its thread scheduler once per process and a solve asking for
    another count fails ("scheduler already initialized";
    tests/test_highs_threads.py)."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    return h


def forget() -> None:
    """In a forked child process: never use the parent's HiGHS process (its
    pipes are the parent's); :func:`call` starts another when needed."""
    global _CHILD
    _CHILD = None


def _serve() -> None:
    """(The child process.) Answer pickled requests until stdin closes."""

    # The answers go through a private copy of stdout; anything a library
    # prints there (HiGHS prints a banner before its output flag is read) is
    # dropped instead of corrupting the answers or reaching the planner's
    # terminal. Errors still reach stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    inp = sys.stdin.buffer
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        target, args = pickle.loads(inp.read(struct.unpack("<Q", head)[0]))
        # (ok, the answer) or (not ok, the error message).
        answer: tuple[bool, Any]
        try:
            module, name = target.split(":")
            answer = (True, getattr(importlib.import_module(module), name)(*args))
        except Exception as exc:  # reported to the parent, which raises it
            answer = (False, f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(struct.pack("<Q", len(data)) + data)
        out.flush()
