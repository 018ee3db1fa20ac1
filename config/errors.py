"""The config error type shared by config/schema.py and the feature modules beside it.

Its own module so that a feature's config (config/monitoring.py, ...) can raise it while
schema.py imports that feature's models.
"""

from __future__ import annotations


class CrossFieldError(ValueError):
    """Problems that involve several fields, each with a key path relative to the model."""

    def __init__(self, issues: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.issues = issues
        super().__init__("; ".join(message for _, message in issues))


def raise_if(issues: list[tuple[tuple[str | int, ...], str]]) -> None:
    if issues:
        raise CrossFieldError(issues)
