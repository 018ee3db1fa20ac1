"""`mlops diff` output: a terminal report (rich), a pull-request comment (markdown), JSON.

All three open with the verdict; details follow per environment and stack. The JSON schema
is documented in mlops_cli.diff_report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from mlops_cli.diff_report import Blocking, Report, ResourceChange, Setting, StackReport, WeightRow

IAM_INLINE_LIMIT = 5  # more statements than this are collapsed in markdown


def verdict_line(report: Report) -> str:
    if report.blocking:
        count = len(report.blocking)
        return f"BLOCKED: {count} blocking change{'s' if count > 1 else ''} (stateful resources replaced or removed)"
    changed = sum(1 for s in report.stacks if s.status != "unchanged")
    if not changed:
        return "OK: no changes"
    allowed = f", {len(report.allowed)} allowed by --allow-replace" if report.allowed else ""
    return f"OK: no blocking change ({changed} stack{'s' if changed > 1 else ''} changed{allowed})"


def _side(side: dict[str, str | None]) -> str:
    if side.get("commit") is None:
        return "working tree"
    return f"{side.get('ref')} ({str(side.get('commit'))[:12]})"


def _counts(stack: StackReport) -> str:
    parts = []
    for label, changes in (
        ("added", ("added",)),
        ("removed", ("removed", "orphaned")),
        ("replaced", ("replaced", "may be replaced")),
        ("modified", ("modified",)),
    ):
        n = stack.count(*changes)
        if n:
            parts.append(f"{n} {label}")
    return ", ".join(parts) or "no resource changes"


def _detail(change: ResourceChange) -> str:
    words: list[str] = []
    if change.asset_only:
        words.append(f"code/image changed: {', '.join(change.assets) or 'asset'}")
        if change.change != "modified":
            words.append(change.change)
        return "; ".join(words)
    if change.replaced_by:
        words.append(f"{', '.join(change.replaced_by)} forces replacement")
    elif change.change == "replaced":
        words.append("resource type changes")
    if change.through:
        words.append(f"through new {', '.join(change.through)}")
    if change.change == "modified" and change.properties:
        words.append(", ".join(change.properties))
    if change.assets:
        words.append(f"code/image changed: {', '.join(change.assets)}")
    return "; ".join(words)


def _change_label(change: ResourceChange) -> str:
    return "code/image changed" if change.asset_only and change.change == "modified" else change.change


def _weight(value: float | None, share: float | None) -> str:
    if value is None:
        return "-"
    number = f"{value:g}"
    return f"{share:g}% ({number})" if share is not None else number


def _weights(w: WeightRow) -> str:
    return _pair(_weight(w.weight_before, w.share_before), _weight(w.weight_after, w.share_after))


def _pair(before: str | None, after: str | None) -> str:
    if before == after:
        return before or "-"
    return f"{before or '-'} -> {after or '-'}"


# --- markdown ----------------------------------------------------------------------------------


def _md(text: str | None) -> str:
    return (text or "-").replace("|", "\\|").replace("\n", " ")


def _code(text: str | None) -> str:
    return f"`{_md(text)}`" if text else "-"


def markdown(report: Report) -> str:
    icon = ":x:" if report.blocking else ":white_check_mark:"
    lines = [
        f"{icon} **mlops diff: {verdict_line(report)}**",
        "",
        f"base {_code(_side(report.base))} -> head {_code(_side(report.head))} · env {', '.join(report.envs)} · "
        f"engine {report.engine}",
        "",
    ]
    if report.notes:
        lines += [*(f"> {note}" for note in report.notes), ""]
    if report.blocking:
        lines += ["### Blocking", "", *_blocking_table(report.blocking), ""]
        lines += ["Merge only if intended: rerun with `--allow-replace <logical-id>` and say how the data moves.", ""]
    if report.allowed:
        lines += ["### Allowed by --allow-replace", "", *_blocking_table(report.allowed), ""]
    unchanged = [f"{s.env}/{s.stack}" for s in report.stacks if s.status == "unchanged"]
    for stack in report.stacks:
        if stack.status == "unchanged":
            continue
        lines += [f"### {stack.env} · {stack.stack} ({stack.status}: {_counts(stack)})", ""]
        lines += _md_stack(stack)
    if unchanged:
        lines += [f"Unchanged: {', '.join(unchanged)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _blocking_table(items: Sequence[Blocking]) -> list[str]:
    rows = ["| env | stack | resource | change | property | why it blocks |", "|---|---|---|---|---|---|"]
    for b in items:
        rows.append(
            f"| {b.env} | {b.stack} | `{b.logical_id}` ({b.type}) | {_md(b.change)} | {_code(b.property)} | {_md(b.reason)} |"
        )
    return rows


def _md_stack(stack: StackReport) -> list[str]:
    lines: list[str] = []
    if stack.weights:
        lines += [
            "**Traffic and models**",
            "",
            "| endpoint | variant | weight before -> after | model | instance type |",
            "|---|---|---|---|---|",
        ]
        for w in stack.weights:
            lines.append(
                f"| {w.endpoint} | {w.variant} | {_weights(w)} | {_md(_pair(w.model_before, w.model_after))} | "
                f"{_md(_pair(w.instance_type_before, w.instance_type_after))} |"
            )
        lines.append("")
    if stack.resources:
        lines += ["| change | resource | type | detail |", "|---|---|---|---|"]
        for r in stack.resources:
            lines.append(f"| {_change_label(r)} | `{r.logical_id}` | {r.type} | {_md(_detail(r))} |")
        lines.append("")
    for title, settings in (("Deployment guardrails", stack.guardrails), ("Autoscaling", stack.autoscaling)):
        if settings:
            lines += [f"**{title}**", "", "| resource | setting | before | after |", "|---|---|---|---|"]
            lines += [f"| {_md(s.resource)} | {_md(s.what)} | {_code(s.before)} | {_code(s.after)} |" for s in settings]
            lines.append("")
    if stack.iam:
        table = ["| | effect | principal | action | resource | condition |", "|---|---|---|---|---|---|"]
        table += [
            f"| {s.change} | {s.effect} | {_code(s.principal)} | {_code(s.action)} | {_code(s.resource)} | {_md(s.condition)} |"
            for s in stack.iam
        ]
        gained = sum(1 for s in stack.iam if s.change == "+")
        summary = f"IAM and key-policy changes: {gained} statement(s) granted, {len(stack.iam) - gained} removed"
        if len(stack.iam) > IAM_INLINE_LIMIT:
            lines += [f"<details><summary>{summary}</summary>", "", *table, "", "</details>", ""]
        else:
            lines += [f"**{summary}**", "", *table, ""]
    if stack.engine_text.strip():
        lines += ["<details><summary>cdk diff</summary>", "", "```", stack.engine_text.rstrip(), "```", "", "</details>", ""]
    return lines


# --- terminal ----------------------------------------------------------------------------------


def print_text(report: Report, console: Console) -> None:
    style = "bold red" if report.blocking else "bold green"
    console.print(Text(f"mlops diff: {verdict_line(report)}", style=style))
    console.print(
        f"base {_side(report.base)} -> head {_side(report.head)}; env {', '.join(report.envs)}; {report.engine}", markup=False
    )
    for note in report.notes:
        console.print(f"note: {note}", style="yellow", markup=False)
    if report.blocking:
        console.print(_blocking_rich("Blocking", report.blocking))
    if report.allowed:
        console.print(_blocking_rich("Allowed by --allow-replace", report.allowed))
    for stack in report.stacks:
        if stack.status != "unchanged":
            console.print()
            console.print(Group(*_rich_stack(stack)))
    unchanged = [f"{s.env}/{s.stack}" for s in report.stacks if s.status == "unchanged"]
    if unchanged:
        console.print(f"\nunchanged: {', '.join(unchanged)}", markup=False)


def _blocking_rich(title: str, items: Sequence[Blocking]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("env/stack", "resource", "change", "property", "why it blocks"):
        table.add_column(column, overflow="fold")
    for b in items:
        table.add_row(*_plain(f"{b.env}/{b.stack}", f"{b.logical_id}\n{b.type}", b.change, b.property or "-", b.reason))
    return table


def _rich_stack(stack: StackReport) -> Iterator[Table | Text]:
    yield Text(f"{stack.env} / {stack.stack}: {stack.status}, {_counts(stack)}", style="bold")
    if stack.weights:
        table = Table(title="traffic and models", title_justify="left")
        for column in ("endpoint", "variant", "weight before -> after", "model", "instance type"):
            table.add_column(column, overflow="fold")
        for w in stack.weights:
            table.add_row(*_plain(*_weight_cells(w)))
        yield table
    if stack.resources:
        table = Table(title="resources", title_justify="left")
        for column in ("change", "resource", "type", "detail"):
            table.add_column(column, overflow="fold")
        for r in stack.resources:
            colour = {"added": "green", "removed": "red", "orphaned": "red", "replaced": "yellow"}.get(r.change, "")
            table.add_row(Text(_change_label(r), style=colour), *_plain(r.logical_id, r.type, _detail(r)))
        yield table
    for title, settings in (("deployment guardrails", stack.guardrails), ("autoscaling", stack.autoscaling)):
        if settings:
            yield _settings_rich(title, settings)
    if stack.iam:
        table = Table(title="IAM and key-policy statements", title_justify="left")
        for column in ("", "effect", "principal", "action", "resource", "condition"):
            table.add_column(column, overflow="fold")
        for s in stack.iam:
            table.add_row(*_plain(s.change, s.effect, s.principal, s.action, s.resource, s.condition))
        yield table


def _plain(*cells: str) -> list[Text]:
    """Cells as plain text: rich would read `Variants[champion]` as markup."""
    return [Text(cell) for cell in cells]


def _weight_cells(w: WeightRow) -> tuple[str, str, str, str, str]:
    return (
        w.endpoint,
        w.variant,
        _weights(w),
        _pair(w.model_before, w.model_after),
        _pair(w.instance_type_before, w.instance_type_after),
    )


def _settings_rich(title: str, settings: Sequence[Setting]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("resource", "setting", "before", "after"):
        table.add_column(column, overflow="fold")
    for s in settings:
        table.add_row(*_plain(s.resource, s.what, s.before or "-", s.after or "-"))
    return table
