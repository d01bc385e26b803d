"""Cron expressions as the spec's schedules write them, checked without loading Dagster.

Five fields (minute hour day-of-month month day-of-week); each a `*`, a number, a range `a-b` or a
comma list of those, any of them with a `/step`; months and weekdays also by name (`jan`, `mon`).
Dagster's own `@daily`-style shortcuts are accepted too. ml_assets_tests/test_spec.py pins that
this agrees with Dagster's parser on the forms a spec uses.
"""

from __future__ import annotations

import re

SHORTCUTS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (low, high, names) of each field
_FIELDS = [
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {name: i for i, name in enumerate(_MONTHS, start=1)}),
    (0, 7, {name: i for i, name in enumerate(_DAYS)}),
]
_ITEM = re.compile(r"^(?P<range>\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(?P<step>\d+))?$")


def _value(token: str, low: int, high: int, names: dict[str, int]) -> int | None:
    number = names.get(token) if token in names else (int(token) if token.isdigit() else None)
    return number if number is not None and low <= number <= high else None


def _valid_item(item: str, low: int, high: int, names: dict[str, int]) -> bool:
    match = _ITEM.match(item)
    if not match or (match.group("step") is not None and int(match.group("step")) == 0):
        return False
    if match.group("range") == "*":
        return True
    bounds = [_value(t, low, high, names) for t in match.group("range").split("-")]
    return None not in bounds  # a-b with a > b wraps around, as in croniter


def is_valid_cron(expression: str) -> bool:
    text = expression.strip().lower()
    if text in SHORTCUTS:
        return True
    fields = text.split()
    if len(fields) != 5:
        return False
    return all(
        all(_valid_item(item, low, high, names) for item in field.split(","))
        for field, (low, high, names) in zip(fields, _FIELDS, strict=True)
    )
