"""A line now and then while the service solver works, so a long solve shows it is alive.

A 100,000-student service plan solves for 8-20 s (more on a busy machine),
and a planner's trial found the terminal silent all that time. The line is
said from the solver's own loops (after each part, each candidate plan), not
by a timer thread: a second thread would stop the solver forking the process
that solves parts on the other core (``services_ahead.can_fork``). Only the
process that started the heartbeat says anything; a forked child inherits
it and stays quiet. Nothing here changes what the solver does.
"""

from __future__ import annotations

import contextlib
import contextvars
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["EVERY", "beat", "heartbeat"]

#: Seconds between two lines, at least (as the weighted solver, lp.PROGRESS_EVERY).
EVERY = 5.0


@dataclass
class _Beat:
    say: Callable[[str], None]
    what: str
    started: float
    last: float
    pid: int | None


_CURRENT: contextvars.ContextVar[_Beat | None] = contextvars.ContextVar("heartbeat",
                                                                         default=None)


@contextlib.contextmanager
def heartbeat(say: Callable[[str], None] | None, what: str) -> Iterator[None]:
    """Within the block, :func:`beat` says ``"<what>: still working (N s)"``
    through ``say`` when :data:`EVERY` seconds have passed since the block
    began or since the last line (``say`` None: nothing is said).

    Examples
    --------
    >>> lines = []
    >>> with heartbeat(lines.append, "solving"):
    ...     beat()            # too soon: nothing
    >>> lines
    []
    """
    now = time.perf_counter()
    # (None silences an outer heartbeat within the block too.)
    token = _CURRENT.set(None if say is None else _Beat(say, what, now, now, _pid()))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _pid() -> int | None:
    # This process's id (the planning stage does not import os: the
    # architecture contract keeps files to the reader and the outputs).
    return multiprocessing.current_process().ident


def beat() -> None:
    """Say that the work is still going on, if it is time to (see :func:`heartbeat`).

    Cheap enough to call after every step: one clock read when it is not time.

    Examples
    --------
    >>> beat()   # outside a heartbeat: nothing
    """
    b = _CURRENT.get()
    if b is None or b.pid != _pid():  # (a forked child: its parent speaks)
        return
    now = time.perf_counter()
    if now - b.last >= EVERY:
        b.last = now
        b.say(f"{b.what}: still working ({now - b.started:.0f} s)")
