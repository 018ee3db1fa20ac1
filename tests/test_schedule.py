"""Application Auto Scaling cron validation."""

from __future__ import annotations

import pytest

from mlops_constructs.schedule import CronError, validate_cron


@pytest.mark.parametrize(
    ("expression", "fields"),
    [
        ("0 7 ? * MON-FRI *", "0 7 ? * MON-FRI *"),
        ("cron(30 6 ? * MON-FRI *)", "30 6 ? * MON-FRI *"),
        ("0/15 * * * ? *", "0/15 * * * ? *"),
        ("0 8 1,15 * ? 2027", "0 8 1,15 * ? 2027"),
        ("0 9 L * ? *", "0 9 L * ? *"),
        ("0 9 15W * ? *", "0 9 15W * ? *"),
        ("0 9 ? * 6#3 *", "0 9 ? * 6#3 *"),
        ("0 9 ? JAN-MAR FRI-MON *", "0 9 ? JAN-MAR FRI-MON *"),
    ],
)
def test_valid(expression: str, fields: str) -> None:
    assert validate_cron(expression) == fields


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 7 * * *", "has 5 fields"),
        ("60 7 ? * MON *", "minutes 60 is outside 0-59"),
        ("0 7 32 * ? *", "day-of-month 32 is outside 1-31"),
        ("0 7 ? 13 MON *", "month 13 is outside 1-12"),
        ("0 7 ? * FUNDAY *", "day-of-week 'FUNDAY' is not a number or SUN/MON"),
        ("0 7 ? * MON 1969", "year 1969 is outside 1970-2199"),
        ("? 7 ? * MON *", "'?' is allowed only in day-of-month or day-of-week"),
        ("0 7 ? * ? *", "exactly one of day-of-month"),
        ("0 7 1 * MON *", "exactly one of day-of-month"),
        ("0 7 ? * MON#6 *", "the number after # must be 1-5"),
        ("0/0 7 ? * MON *", "the step after / must be a positive number"),
        ("0 9-5 ? * MON *", "range '9-5' runs backwards"),
        ("0 7,,8 ? * MON *", "empty list item"),
    ],
)
def test_invalid(expression: str, message: str) -> None:
    with pytest.raises(CronError, match=message.replace("(", r"\(").replace("?", r"\?")):
        validate_cron(expression)
