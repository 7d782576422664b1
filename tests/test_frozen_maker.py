"""Records made by optimizer.district.bulk.frozen_maker are the same records
the frozen dataclass makes: equal, hashed, printed, pickled and frozen alike,
and so is every student and service row of a district read from its files."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from optimizer.district.bulk import frozen_maker
from optimizer.district.model import ServiceNeed, Student
from optimizer.district.validate import load_district
from tests.conftest import ROOT


@dataclasses.dataclass(frozen=True, slots=True)
class _Row:
    name: str
    count: int = 0
    note: str | None = None


def test_a_made_record_is_the_frozen_class_in_every_way():
    make = frozen_maker(_Row)
    made, plain = make("a", 2), _Row("a", 2)
    assert type(made) is _Row
    assert made == plain and hash(made) == hash(plain) and repr(made) == repr(plain)
    assert make("a", count=2, note=None) == plain  # keywords and defaults as the class's
    assert made != _Row("a", 3) and make("b") != plain
    assert pickle.loads(pickle.dumps(made)) == plain
    assert copy.copy(made) == plain and copy.deepcopy(made) == plain
    assert dataclasses.replace(made, count=5) == _Row("a", 5)
    assert dataclasses.asdict(made) == {"name": "a", "count": 2, "note": None}
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.count = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        make()  # a field without a default is required, as by _Row(...)
    with pytest.raises(TypeError):
        make("a", nope=1)


def test_only_frozen_dataclasses_with_slots_and_plain_fields():
    @dataclasses.dataclass(slots=True)
    class Open:
        a: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    # What the twin's __init__ would skip or change: each refused, not made wrong.
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True, slots=True, init=False)
    class OwnInit:
        a: int

        def __init__(self, a: int) -> None:
            object.__setattr__(self, "a", 2 * a)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordsOnly:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class InitOnly:
        a: int
        scale: dataclasses.InitVar[int] = 1

    @dataclasses.dataclass(frozen=True, slots=True, weakref_slot=True)
    class Weak:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Derived(_Row):
        extra: int = 0

    for cls in (Open, NoSlots, Factory, int, Checked, OwnInit, KeywordsOnly, InitOnly, Weak,
                Derived):
        with pytest.raises(TypeError):
            frozen_maker(cls)


def test_a_wrong_call_names_the_class():
    with pytest.raises(TypeError, match="_Row"):
        frozen_maker(_Row)(nope=1)


def test_a_read_district_holds_the_records_the_classes_make(monkeypatch):
    # The same district read with the classes' own __init__: the same records,
    # field for field, in the same order.
    import optimizer.district.services_check as services_check
    import optimizer.district.validate as validate

    folder = ROOT / "data" / "sample-services"
    district = load_district(folder)
    monkeypatch.setattr(validate, "_make_student", Student)
    monkeypatch.setattr(services_check, "_make_need", ServiceNeed)
    plain = load_district(folder)
    assert list(district.students.items()) == list(plain.students.items())
    assert district.service_rows == plain.service_rows
    students = list(district.students.values())
    needs = list(district.service_rows or ())
    assert students and needs
    for record in [*students, *needs]:
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
        again = type(record)(**fields)  # the class's own __init__
        assert type(record) in (Student, ServiceNeed)
        assert record == again and hash(record) == hash(again)
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.row = 0  # type: ignore[misc]
