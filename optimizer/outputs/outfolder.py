"""Where the tool may write a folder, and how: never over a planner's own files.

Every folder the tool writes (plan, transfer files, a generated or rolled-over
district) holds a small marker file, :data:`MARKER`. A command replaces a folder
at its target only when that folder carries the marker, is empty, or the planner
said ``--force``; it never replaces the folder it reads from (the district, the
plan) or a folder holding it, nor the working folder, the file-system root or
a home folder, whatever the flags. A file or a symbolic link at the target is
never replaced by a folder.

Folders are built in a private (0700) temporary folder beside the target,
named ``.<target>.caseload-tmp-<pid>-<random>``, and renamed into place when
complete. A temporary folder left by a run that was killed (SIGKILL) is
removed by the next run to the same target, once its process is gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["MARKER", "OutputError", "atomic_folder", "check_target", "remove_stale",
           "source_date"]

#: The marker file in every folder the tool writes; its text says what wrote it.
MARKER = ".caseload-output"

_TMP = re.compile(r"\.caseload-tmp-(\d+)-")
_OLD = re.compile(r"\.caseload-old-(\d+)$")


class OutputError(ValueError):
    """The target of a write is not one the tool may replace; the message says why."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success.

    An exception (or an interrupted run) leaves ``target`` as it was and
    removes the temporary file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)  # a temporary file left by a run that was killed (SIGKILL)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.caseload-tmp-{os.getpid()}-",
                               suffix=target.suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)  # private (0600, from mkstemp) while being written
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _is_tool_folder(path: Path) -> bool:
    return (path / MARKER).is_file()


def _describe(path: Path) -> str:
    if path.is_symlink():
        return f"a symbolic link (to {os.readlink(path)})"
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return f"a folder the tool did not write, holding {shown}"
    if path.is_file():
        return "a file"
    return "something that is not a folder"


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_target(target: str | Path, *, inputs: Iterable[str | Path] = (),
                 force: bool = False) -> Path:
    """Check that a folder may be written at ``target``; raise :class:`OutputError` if not.

    Parameters
    ----------
    target
        The folder to write (``--out``).
    inputs
        Files or folders the command reads: the target may not be one of them
        nor hold one of them.
    force
        Allow replacing a folder the tool did not write (never an input, the
        working folder, the root or a home folder).

    Returns
    -------
    Path
        The target, as a path.
    """
    if str(target).strip() == "":
        raise OutputError("--out is empty: give the folder to write")
    path = Path(target)
    if path.name in ("", ".", ".."):
        raise OutputError(f"{target}: give a new folder's name, not '{target}' "
                          "(the tool replaces the whole folder)")
    resolved = path.resolve()
    protected = {Path("/"), Path.home().resolve(), Path.cwd().resolve()}
    for p in protected:
        if _within(p, resolved):
            raise OutputError(f"{target}: this folder holds the working folder, your home "
                              "folder or is the root; give a new folder's name")
    for item in inputs:
        if item is None or str(item) == "":
            continue
        src = Path(item).resolve()
        if _within(src, resolved):
            raise OutputError(f"{target}: this is (or holds) the input {item}; "
                              "write to a new folder")
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise OutputError(f"{target}: there is {_describe(path)} here; the tool writes a "
                          "folder and replaces only folders it wrote. Move it or choose "
                          "another --out")
    if path.is_dir() and not _is_tool_folder(path) and any(path.iterdir()) and not force:
        raise OutputError(f"{target}: there is {_describe(path)}; the tool replaces only "
                          "folders it wrote. Choose another --out, or add --force to "
                          "replace this folder and everything in it")
    return path


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(target: Path) -> list[Path]:
    """Remove temporary folders (and files) beside ``target`` left by runs that were killed.

    Only folders named for this target, made by a process that no longer
    exists, are removed. Returns what was removed.
    """
    removed: list[Path] = []
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        return removed
    prefix = f".{target.name}."
    for p in parent.iterdir():
        if not p.name.startswith(prefix):
            continue
        rest = p.name[len(prefix) - 1:]
        m = _TMP.match(rest) or _OLD.match(rest)
        if m and not _alive(int(m.group(1))) and not p.is_symlink():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)  # a single file's (atomic_file) temporary
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_folder(target: str | Path, *, kind: str = "output",
                  inputs: Iterable[str | Path] = (), force: bool = False) -> Iterator[Path]:
    """Yield a new private folder beside ``target``; it replaces ``target`` on success.

    The target is checked first (:func:`check_target`). An exception, SIGINT or
    SIGTERM (see :func:`optimizer.outputs.outfolder` module notes) leaves ``target`` as
    it was and removes the half-written folder. The finished folder holds
    :data:`MARKER` naming ``kind``.
    """
    target = check_target(target, inputs=inputs, force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.caseload-tmp-{os.getpid()}-",
                                dir=target.parent))  # mkdtemp: private, 0700
    try:
        yield tmp
        (tmp / MARKER).write_text(f"written by caseload ({kind}); the tool may replace "
                                  "this folder\n", encoding="utf-8")
        tmp.chmod(0o777 & ~_umask())  # the finished folder gets the usual rights
        _replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_folder(tmp: Path, target: Path) -> None:
    # Move the old folder aside first so the target is never half-written;
    # the swap is two renames on the same file system.
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.caseload-old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class Terminated(BaseException):
    """Raised in the main thread when the process gets SIGTERM, so that the
    temporary folders of an unfinished write are removed like on Ctrl-C."""


@contextlib.contextmanager
def cleanup_on_sigterm() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` instead of ending the
    process at once (the default), so ``finally`` blocks and the clean-up in
    :func:`atomic_folder` run. Outside the main thread this does nothing."""

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):  # noqa: ARG001 - the signal handler signature
        raise Terminated

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def source_date() -> dt.datetime | None:
    """The time to write into files: ``SOURCE_DATE_EPOCH`` as UTC, or None.

    Plans carry no clock time unless asked (the reproducible-builds
    convention), so the same input gives the same bytes. A value that is not
    a whole number of seconds since 1970 is an :class:`OutputError`.
    """

    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > 253_402_300_799:  # up to 9999-12-31
        raise OutputError(f"SOURCE_DATE_EPOCH={text!r}: expected a whole number of "
                          "seconds since 1970-01-01 (UTC)")
    return dt.datetime.fromtimestamp(int(text), dt.UTC)


def check_file_target(target: str | Path, *, inputs: Iterable[str | Path] = ()) -> Path:
    """Check that a single file (``--html``, ``--xlsx``) may be written at ``target``.

    It may not be a folder, nor one of the files the command reads, nor a
    file inside a folder it reads that the tool did not write there (a plan's
    ``report.html`` may be replaced; its ``assignments.csv`` may not).
    """
    if str(target).strip() == "":
        raise OutputError("the output file name is empty")
    path = Path(target)
    if path.is_dir():
        raise OutputError(f"{target}: this is a folder; give a file name")
    resolved = path.resolve()
    for item in inputs:
        if item is None or str(item) == "":
            continue
        src = Path(item).resolve()
        if resolved == src:
            raise OutputError(f"{target}: this is the input {item}; write to a new file")
        if src.is_dir() and resolved.parent == src and resolved.suffix.lower() in (
                ".csv", ".json", ".toml") and path.exists():
            raise OutputError(f"{target}: this is one of the input files in {item}; "
                              "write to a new file")
    return path
