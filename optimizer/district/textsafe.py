"""Keeping typed text from becoming a spreadsheet formula (CSV/formula injection)."""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np

__all__ = ["FIRST_CHARACTER", "FORMULA_START", "LAST_CHARACTER", "TerminalText", "end_codes",
           "escape_controls", "neutralize_formula", "neutralize_texts", "restore_formula_rows",
           "restore_formula_text"]

#: A cell starting with one of these may be run as a formula by spreadsheet programs.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(value: str) -> str:
    """Make a text cell safe to open in a spreadsheet.

    A cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return
    is prefixed with an apostrophe so spreadsheet programs show it as text
    instead of running it as a formula.

    Examples
    --------
    >>> neutralize_formula("=HYPERLINK(\\"x\\")")
    '\\'=HYPERLINK("x")'
    >>> neutralize_formula("Ana Lopez")
    'Ana Lopez'
    """
    return "'" + value if value.startswith(FORMULA_START) else value


#: A text's first or last character ("" for an empty text), for :func:`end_codes`.
FIRST_CHARACTER = operator.itemgetter(slice(0, 1))
LAST_CHARACTER = operator.itemgetter(slice(-1, None))

#: What :func:`neutralize_formula` guards, as code points.
_FORMULA_CODES = tuple(ord(c) for c in FORMULA_START)


def end_codes(texts: list[str], end: Callable[[str], str]) -> np.ndarray:
    """The code point at one end (``FIRST_CHARACTER`` or ``LAST_CHARACTER``)
    of each text, 0 for an empty text: one array, without a Python call per text.

    >>> end_codes(["ab", ""], FIRST_CHARACTER).tolist()
    [97, 0]
    """
    ends = list(map(end, texts))  # one character, or "" for an empty text
    if not all(ends):
        ends = [e or "\x00" for e in ends]
    units = "".join(ends).encode("utf-32-le", "surrogatepass")  # one unit a character
    return np.frombuffer(units, dtype=np.uint32)


def neutralize_texts(texts: list[str]) -> list[str]:
    """:func:`neutralize_formula` of each text (every one a ``str``), without
    a Python call per text: a 100,000-student column has ~100,000 distinct
    names or ids, and a few start with a formula character (the workbook's
    cells and the CSV files alike).

    >>> neutralize_texts(["=1+1", "", "Ana"])
    ["'=1+1", '', 'Ana']
    """
    if not texts:
        return []
    first = end_codes(texts, FIRST_CHARACTER)
    hit = np.zeros(len(texts), dtype=bool)
    for code in _FORMULA_CODES:
        hit |= first == code
    out = list(texts)
    for i in np.flatnonzero(hit).tolist():
        out[i] = "'" + texts[i]
    return out


#: The apostrophe that :func:`neutralize_formula` adds, where it added one.
GUARD = re.compile("^'(?=[" + re.escape("".join(FORMULA_START)) + "])")


def restore_formula_text(value: str) -> str:
    """Undo :func:`neutralize_formula`, so a value read back from an export
    is the value that was written.

    Examples
    --------
    >>> restore_formula_text(neutralize_formula("=1+1"))
    '=1+1'
    """
    return GUARD.sub("", value)


def restore_formula_rows(rows: list[list[str]]) -> list[list[str]]:
    """:func:`restore_formula_text` of every cell of ``rows``, looking into a
    row only when a cell of it starts with an apostrophe (its cells' first
    characters joined: one join a row, not a call a cell; a plan's
    assignments.csv has 1.8 million cells at 100,000 students, and most of
    its rows hold an apostrophe inside a reason, "This year's case manager").

    >>> restore_formula_rows([["'=1+1", "a"], ["b's", "c"]])
    [['=1+1', 'a'], ["b's", 'c']]
    """
    return [[restore_formula_text(c) if c.startswith("'") else c for c in r]
            if "'" in "".join(map(FIRST_CHARACTER, r)) else r for r in rows]


#: Characters that can act on a terminal: C0 and C1 controls, and the format
#: characters (zero-width, bidirectional, BOM) and separators of Unicode. A fast
#: first look; the escaping itself goes by Unicode category.
_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f"
                      "\u0890\u0891\u08e2\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
                      "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
                      "\U0001d173-\U0001d17a\U000e0001-\U000e007f]")
_KEEP: dict[str, dict[int, None]] = {}


def _keep_table(keep: str) -> dict[int, None]:
    return _KEEP.setdefault(keep, {ord(ch): None for ch in keep})


def escape_controls(text: str, keep: str = "\n\t") -> str:
    r"""``text`` with control and format characters (escape sequences, carriage
    returns, bidirectional overrides) written as escapes, so that a value from
    a planner's file cannot act on the terminal it is echoed to.

    Examples
    --------
    >>> print(escape_controls("Ana\x1b[2J\rB\n"), end="")
    Ana\x1b[2J\rB
    """

    if text.isprintable() or not _SUSPECT.search(text.translate(_KEEP.get(keep) or
                                                               _keep_table(keep))):
        return text
    return "".join(ch if ch in keep or ch == " " or unicodedata.category(ch)
                   not in ("Cc", "Cf", "Zl", "Zp") else
                   (repr(ch)[1:-1] if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
                   for ch in text)


class TerminalText:
    """A text stream that escapes control characters (see :func:`escape_controls`)
    before passing text on: what the CLI prints cannot act on the terminal."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(escape_controls(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
