"""The district data contract: which files, which columns, what each means.

This table is the one source of truth: the reader checks required columns
from it, the validator checks blanks from it, and ``docs/data-contract.md``
is tested against it so the documentation cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Column", "FILES", "OPTIONAL_FILES", "CONTRACT", "LIST_SEPARATOR", "as_typed"]

LIST_SEPARATOR = ";"


def as_typed(value: str) -> str:
    """An id cell as typed: ids are matched exactly (codes are matched
    without regard to case). The validator's lookups of ids take this as
    their ``normalize`` and then skip the per-distinct-value path.

    Examples
    --------
    >>> as_typed("s001")
    's001'
    """
    return value


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    required: bool  # the column must exist and every cell must be filled
    meaning: str


CONTRACT: dict[str, tuple[Column, ...]] = {
    "schools": (
        Column("school_id", True, "unique id of the school"),
        Column("name", True, "school name"),
        Column("low_grade", True, "lowest grade served (PK, TK, K, 1-12, A)"),
        Column("high_grade", True, "highest grade served"),
        Column("feeds_into", False, "school_id students move to after high_grade"),
        Column("region", False, "region or area, for itinerant staff and hiring"),
    ),
    "educators": (
        Column("educator_id", True, "unique id of the educator"),
        Column("name", True, "educator's name"),
        Column("role", True, "RSP, SDC, SLP, DHH, VI, OM, APE, OT, PT, PSY or COORD"),
        Column("credentials", False, "credential codes held, ';'-separated"),
        Column("schools", True, "school_ids served, ';'-separated (several for itinerants)"),
        Column("fte", True, "full-time equivalent, 0 < fte <= 1"),
        Column("max_caseload", False,
               "absolute caseload cap replacing the role's cap x FTE, 0 to 1,000"),
        Column("other_load", False, "students served but not case-managed, 0 to 1,000 (default 0)"),
        Column("case_manager", False, "yes/no: override whether this person may case-manage"),
    ),
    "students": (
        Column("student_id", True, "unique id of the student"),
        Column("school_id", True, "school of attendance"),
        Column("grade", True, "grade code (PK, TK, K, 1-12, A)"),
        Column("primary_disability", True, "CALPADS code or abbreviation"),
        Column("secondary_disability", False, "CALPADS code or abbreviation"),
        Column("placement_basis", False,
               "primary (default) or secondary (low-incidence exception)"),
        Column("support_level", False, "mild_moderate or extensive (derived when blank)"),
        Column("services", True, "services on the IEP, ';'-separated names or CALPADS codes"),
        Column("sai_setting", False, "rsp or sdc; required when services include SAI"),
        Column("gen_ed_pct", False, "share of the day in general education, 0-100 (or 50%)"),
        Column("current_case_manager", False, "educator_id of this year's case manager"),
        Column("annual_review", False, "next annual IEP review, YYYY-MM-DD or M/D/YYYY"),
        Column("triennial_review", False, "next triennial review, YYYY-MM-DD or M/D/YYYY"),
        Column("weight", False, "caseload weight, above 0 and at most 100 (default 1)"),
        Column("birth_date", False, "YYYY-MM-DD or M/D/YYYY; moves preschoolers on and "
                                    "ends adult transition at 22 in rollover"),
        Column("adult_transition", False, "yes/no: the IEP continues after grade 12 in the "
                                          "adult transition program"),
        Column("name", False, "student's display name for people reading the plan (never "
                              "used by the rules; removed by --redact)"),
    ),
    "locks": (
        Column("student_id", True, "student the lock is about"),
        Column("educator_id", True, "educator the lock is about"),
        Column("kind", True, "pin (must be this case manager) or forbid (never this one)"),
        Column("reason", False, "why, shown in the plan's explanation"),
        Column("service", False, "blank: the lock is on the case manager; a service code "
                                 "(as in students.services): on that service's provider"),
    ),
    # Optional: one row per student and service on the IEP. When given it is
    # the single source of truth for the services (it must agree with
    # students.services); when absent the rows are derived from students.csv.
    "services": (
        Column("student_id", True, "student whose IEP lists the service"),
        Column("service", True, "service name or CALPADS code, as in students.services"),
        Column("minutes", False, "IEP minutes per week, 0 or more (blank: not given)"),
        Column("current_provider", False, "educator_id of this year's provider"),
    ),
}

FILES = ("schools", "educators", "students")
OPTIONAL_FILES = ("locks", "services")
