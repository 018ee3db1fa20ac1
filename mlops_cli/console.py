"""Terminal output shared by every command: rich consoles for people, plain text for pipes.

`out` writes results to standard output, `err` writes progress and problems to standard
error, so a command's stdout stays parseable (`--json`, `--format json|markdown`) while a
person still sees tables and spinners. Both resolve `sys.stdout`/`sys.stderr` at write
time, so pytest's capsys and shell redirections see everything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """JSON for programs: plain `print`, no colour or wrapping even on a terminal."""
    print(json.dumps(value, indent=2, default=str))


def report_table(report: Mapping[str, Any], *, title: str | None = None) -> Table:
    """A two-column table of a flat report; nested mappings become indented rows."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in report.items():
        if isinstance(value, Mapping):
            table.add_row(Text(f"{key}:"), Text(""))
            for inner, item in value.items():
                table.add_row(Text(f"  {inner}"), Text(str(item)))
        else:
            table.add_row(Text(key), Text(str(value)))  # plain: values like "[bold]" are data, not markup
    return table


def examples(*lines: str) -> str:
    """A click `epilog` that shows example command lines unwrapped (every command has one)."""
    body = "\n".join(f"  {line}" for line in lines)
    return f"\b\nExample{'s' if len(lines) > 1 else ''}:\n{body}"
