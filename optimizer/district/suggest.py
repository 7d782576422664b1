"""What a mistyped id, code or command was most likely meant to be: the one
rule behind every "did you mean" of the tool's messages (an id in a
scenario file, an educator typed in the plan workbook, a command)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence

__all__ = ["nearest"]


def nearest(typed: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.6,
            alike: Sequence[Callable[[str], str]] = ()) -> list[str]:
    """The known names ``typed`` most likely meant, best first.

    Those equal to it but for case; else those equal to it under each of
    ``alike`` in turn (applied to both: letters typed for the digits they
    look like, say); else up to ``n`` spellings at least ``cutoff`` alike
    (difflib's ratio). Empty when nothing is near: each caller words it.

    Examples
    --------
    >>> nearest("s000042", ["S000042", "S000043"])
    ['S000042']
    >>> nearest("pln", ["plan", "export", "graph"])
    ['plan']
    >>> nearest("E0O1", ["E001", "E002"], alike=[lambda x: x.upper().replace("O", "0")])
    ['E001']
    """
    known = list(known)
    for key in (str.casefold, *alike):
        want = key(typed)
        hits = [name for name in known if key(name) == want]
        if hits:
            return hits
    return difflib.get_close_matches(typed, known, n=n, cutoff=cutoff)
