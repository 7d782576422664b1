"""Keeping typed text from becoming a spreadsheet formula (CSV/formula injection)."""

from __future__ import annotations

import re

__all__ = ["FORMULA_START", "neutralize_formula", "restore_formula_text"]

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
