"""Construct-time validation that reports every problem at once, with the construct's path.

The library is usable without our YAML, so constructs check their props again; a user
who gets one error, fixes it and then meets the next wastes a synth each time. Values
that are unresolved CDK tokens (known only at deploy) are skipped, not guessed at.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct


class PropsError(ValueError):
    """Invalid construct props: every problem found, each on its own line."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: invalid props:\n" + "\n".join(f"  - {p}" for p in problems))


class Problems:
    """Collect problems for one construct, then raise them together."""

    def __init__(self, scope: Construct) -> None:
        self._scope = scope  # its path is read only when there is something to report
        self._problems: list[str] = []

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self._problems.append(message)

    def add(self, message: str) -> None:
        self._problems.append(message)

    def raise_if_any(self) -> None:
        if self._problems:
            raise PropsError(self._scope.node.path, self._problems)


def is_token(value: object) -> bool:
    """True for a value CloudFormation fills in at deploy time (skip it in checks).

    Plain values are answered here, since each `cdk.Token.is_unresolved` is a round trip to
    Node.js: CDK encodes a token in a string as `${Token[...]}` (`#{Token[...]}` in a string
    list) and in a number as a double near -1.9e289 (`int()` of one stays a token), so a
    string without those markers and a number of ordinary size are never tokens.
    """
    if isinstance(value, str) and "${Token[" not in value and "#{Token[" not in value:
        return False
    if isinstance(value, int | float) and abs(value) < 1e280:
        return False
    return cdk.Token.is_unresolved(value)
