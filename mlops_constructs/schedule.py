"""Application Auto Scaling cron expressions, validated before they reach AWS.

PutScheduledAction takes `cron(fields)` with six fields:
`[Minutes] [Hours] [Day_of_Month] [Month] [Day_of_Week] [Year]`, where one of
day-of-month and day-of-week must be `?`. A mistake here otherwise surfaces only as a
failed CloudFormation update, minutes into a deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTHS = {m: i for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]
    extra: str  # special characters allowed beyond , - * /


_FIELDS = (
    _Field("minutes", 0, 59, {}, ""),
    _Field("hours", 0, 23, {}, ""),
    _Field("day-of-month", 1, 31, {}, "?LW"),
    _Field("month", 1, 12, _MONTHS, ""),
    _Field("day-of-week", 1, 7, _DAYS, "?L#"),
    _Field("year", 1970, 2199, {}, ""),
)

_WRAPPED = re.compile(r"^cron\((?P<body>.*)\)$")


class CronError(ValueError):
    """A cron expression Application Auto Scaling would reject."""


def _value(field: _Field, token: str) -> int:
    if token.upper() in field.names:
        return field.names[token.upper()]
    if not token.isdigit():
        allowed = f" or {'/'.join(field.names)}" if field.names else ""
        raise CronError(f"{field.name} '{token}' is not a number{allowed}")
    number = int(token)
    if not field.low <= number <= field.high:
        raise CronError(f"{field.name} {number} is outside {field.low}-{field.high}")
    return number


def _check_item(field: _Field, item: str) -> None:
    if item in ("*", "?"):
        if item == "?" and "?" not in field.extra:
            raise CronError(f"'?' is allowed only in day-of-month or day-of-week, not {field.name}")
        return
    if "L" in field.extra and item == "L":
        return
    if "W" in field.extra and (item == "LW" or (item.endswith("W") and item[:-1].isdigit())):
        if item != "LW":
            _value(field, item[:-1])
        return
    if "#" in field.extra and "#" in item:
        day, _, nth = item.partition("#")
        _value(field, day)
        if nth not in {"1", "2", "3", "4", "5"}:
            raise CronError(f"{field.name} '{item}': the number after # must be 1-5")
        return
    if "L" in field.extra and item.endswith("L") and item[:-1]:
        _value(field, item[:-1])
        return
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit() or int(step) == 0:
            raise CronError(f"{field.name} '{item}': the step after / must be a positive number")
        if base == "*":
            return
    start, dash, end = base.partition("-")
    low = _value(field, start)
    if dash and _value(field, end) < low and field.name != "day-of-week":
        raise CronError(f"{field.name} range '{base}' runs backwards")


def validate_cron(expression: str) -> str:
    """Return the six cron fields of `expression` (bare or wrapped in cron(...)).

    Raises CronError naming the field at fault and what it allows.
    """
    wrapped = _WRAPPED.match(expression.strip())
    body = wrapped["body"] if wrapped else expression
    fields = body.split()
    if len(fields) != 6:
        raise CronError(
            f"'{expression}' has {len(fields)} fields; Application Auto Scaling cron needs 6: "
            "minutes hours day-of-month month day-of-week year (e.g. '0 7 ? * MON-FRI *')"
        )
    for spec, text in zip(_FIELDS, fields, strict=True):
        for item in text.split(","):
            if not item:
                raise CronError(f"{spec.name} '{text}' has an empty list item")
            _check_item(spec, item)
    day_of_month, day_of_week = fields[2], fields[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise CronError(
            f"'{expression}': exactly one of day-of-month ('{day_of_month}') and day-of-week ('{day_of_week}') must be '?'"
        )
    return " ".join(fields)
