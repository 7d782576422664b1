"""Reading a what-if scenario file (``scenario.toml``): input, checked key by key.

A scenario file names a what-if and lists its changes in order, one
``[[changes]]`` table each with a ``kind``::

    name = "Hire an Education Specialist at Park Elementary 1"
    description = "49 students are unplaced there; one more RSP teacher."

    [[changes]]
    kind = "hire"
    role = "RSP"
    credentials = ["ES-MMSN"]
    schools = ["SCH0002"]
    name = "New RSP teacher"      # optional; educator_id optional too

    [[changes]]
    kind = "leave"
    educator_id = "E00012"

The kinds and their keys are :data:`KINDS` (docs/next-year.md). This module
only reads and checks the file's shape (types, required and unknown keys);
whether an id exists in the district is checked when the scenario is applied
(:mod:`optimizer.nextyear.scenario_spec`). Every problem is listed at once,
named by file and key (``changes[2].schools``), as an
:class:`~optimizer.district.model.InputIssue`.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.district.model import InputIssue

__all__ = ["KINDS", "ChangeSpec", "ScenarioFileError", "ScenarioSpec", "parse_scenario",
           "read_scenario_file"]

_TEXT, _TEXTS, _NUMBER, _WHOLE, _ANY = "text", "list of text", "number", "whole number", "any"

#: Each change kind: its keys -> (type, required). The meaning of each kind is
#: the Scenario API's change of the same purpose (optimizer.nextyear.scenario).
KINDS: dict[str, dict[str, tuple[str, bool]]] = {
    "hire": {"role": (_TEXT, True), "schools": (_TEXTS, True),
             "credentials": (_TEXTS, False), "fte": (_NUMBER, False),
             "name": (_TEXT, False), "educator_id": (_TEXT, False),
             "max_caseload": (_NUMBER, False)},
    "leave": {"educator_id": (_TEXT, True)},
    "move_educator": {"educator_id": (_TEXT, True), "schools": (_TEXTS, True)},
    "fte": {"educator_id": (_TEXT, True), "fte": (_NUMBER, True)},
    "role_cap": {"role": (_TEXT, True), "cap": (_WHOLE, True)},
    "educator_cap": {"educator_id": (_TEXT, True), "max_caseload": (_NUMBER, True)},
    "add_students": {"school_id": (_TEXT, True), "count": (_WHOLE, True),
                     "grade": (_ANY, True), "primary_disability": (_ANY, True),
                     "services": (_ANY, True), "sai_setting": (_ANY, False),
                     "gen_ed_pct": (_ANY, False), "support_level": (_ANY, False),
                     "seed": (_WHOLE, False)},
    "remove_students": {"student_ids": (_TEXTS, True)},
    "move_students": {"student_ids": (_TEXTS, True), "to_school": (_TEXT, True)},
    "pin": {"student_id": (_TEXT, True), "educator_id": (_TEXT, True),
            "reason": (_TEXT, False)},
    "forbid": {"student_id": (_TEXT, True), "educator_id": (_TEXT, True),
               "reason": (_TEXT, False)},
    "objective": {"term": (_TEXT, True), "weight": (_NUMBER, True)},
}


@dataclass(frozen=True)
class ChangeSpec:
    """One ``[[changes]]`` table as read: its kind, its values and where it is.

    ``key`` is how problems name it (``changes[2]``, counted from 1).
    """

    kind: str
    values: tuple[tuple[str, Any], ...]
    key: str

    def get(self, name: str, default: Any = None) -> Any:
        """The value of one key, or ``default`` when not given."""
        return dict(self.values).get(name, default)


@dataclass(frozen=True)
class ScenarioSpec:
    """A scenario file as read: name, description, the changes in order."""

    name: str
    description: str
    changes: tuple[ChangeSpec, ...]
    file: str = "scenario.toml"


class ScenarioFileError(ValueError):
    """A scenario file that cannot be used; ``problems`` lists every problem."""

    def __init__(self, problems: list[InputIssue]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the scenario file")


def _type_ok(kind: str, value: Any) -> bool:
    if kind == _TEXT:
        return isinstance(value, str) and value.strip() != ""
    if kind == _TEXTS:
        return isinstance(value, list) and bool(value) and all(
            isinstance(v, str) and v.strip() for v in value)
    if kind == _NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value)
    if kind == _WHOLE:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return isinstance(value, str | int | float | list) and not isinstance(value, bool)


_EXPECTED = {_TEXT: "text (not blank)", _TEXTS: 'a list of text, e.g. ["SCH0002"]',
             _NUMBER: "a number", _WHOLE: "a whole number, 0 or more",
             _ANY: "text, a number, or a list to draw from"}


def parse_scenario(text: str, file: str = "scenario.toml") -> ScenarioSpec:
    """Check a scenario file's text and return what it says.

    Raises
    ------
    ScenarioFileError
        Every problem at once, each named by file and key.

    Examples
    --------
    >>> s = parse_scenario('name = "waiver"\\n[[changes]]\\nkind = "role_cap"\\n'
    ...                    'role = "RSP"\\ncap = 32\\n')
    >>> s.name, s.changes[0].kind, s.changes[0].get("cap")
    ('waiver', 'role_cap', 32)
    """
    problems: list[InputIssue] = []

    def bad(key: str | None, value: object, expected: str) -> None:
        problems.append(InputIssue(file, None, key, None if value is None else str(value),
                                   expected))

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioFileError([InputIssue(file, None, None, None,
                                            f"a TOML file ({exc})")]) from None
    for key in sorted(set(data) - {"name", "description", "changes"}):
        bad(key, None, "one of the keys name, description, changes")
    name = data.get("name")
    if not (isinstance(name, str) and name.strip()):
        bad("name", name, "the scenario's name, as text")
    description = data.get("description", "")
    if not isinstance(description, str):
        bad("description", description, "text")
        description = ""
    raw_changes = data.get("changes")
    changes: list[ChangeSpec] = []
    if not isinstance(raw_changes, list) or not raw_changes:
        bad("changes", None, "at least one [[changes]] table with a kind "
                             f"({', '.join(KINDS)})")
        raw_changes = []
    for i, change in enumerate(raw_changes, 1):
        where = f"changes[{i}]"
        if not isinstance(change, dict):
            bad(where, change, "a [[changes]] table")
            continue
        kind = change.get("kind")
        if kind not in KINDS:
            near = difflib.get_close_matches(str(kind), KINDS, n=1)
            bad(f"{where}.kind", kind, f"one of {', '.join(KINDS)}"
                + (f" (did you mean '{near[0]}'?)" if near else ""))
            continue
        spec = KINDS[kind]
        for key in sorted(set(change) - set(spec) - {"kind"}):
            bad(f"{where}.{key}", None, f"a key of a {kind} change: {', '.join(spec)}")
        for key, (typ, required) in spec.items():
            if key not in change:
                if required:
                    bad(f"{where}.{key}", None, f"{_EXPECTED[typ]} (a {kind} change needs "
                                                f"{key})")
                continue
            if not _type_ok(typ, change[key]):
                bad(f"{where}.{key}", change[key], _EXPECTED[typ])
        values = tuple(sorted((k, v) for k, v in change.items() if k != "kind"))
        changes.append(ChangeSpec(kind, values, where))
    if problems:
        raise ScenarioFileError(problems)
    return ScenarioSpec(str(name).strip(), description.strip(), tuple(changes), file)


def read_scenario_file(path: str | Path) -> ScenarioSpec:
    """Read and check ``scenario.toml`` (see :func:`parse_scenario`).

    Raises
    ------
    ScenarioFileError
        The file is missing or unreadable, or its contents have problems.

    Examples
    --------
    >>> read_scenario_file("hire-rsp.toml").name              # doctest: +SKIP
    'Hire an Education Specialist at Park Elementary 1'
    """
    p = Path(path)
    if not p.is_file():
        raise ScenarioFileError([InputIssue(p.name, None, None, str(p),
                                            "a scenario file (TOML); nothing readable is there")])
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError([InputIssue(p.name, None, None, str(p),
                                            f"a readable UTF-8 file ({exc})")]) from None
    return parse_scenario(text, p.name)
