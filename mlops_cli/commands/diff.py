"""`mlops diff`: what merging a change would do in the account, and whether to block it."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import click
from rich.console import Console

from mlops_cli.console import err, examples, out, print_json

EXAMPLES = (
    "mlops diff --base origin/main                                   # dev, terminal tables",
    "mlops diff --base origin/main --env all --format markdown > comment.md",
    "mlops diff --base v1.4 --head v1.5 --env prod --allow-replace StorageDataKeyE15BA43B",
)


@click.command(
    name="diff",
    short_help="What a merge would change in the account; exit 1 on stateful replacements.",
    epilog=examples(*EXAMPLES) + "\n\n\b\nExit codes: 0 no blocking change; 1 a blocking change (see mlops_cli/diff_rules.py);"
    "\n2 the tool could not run (e.g. the base does not synthesise).",
)
@click.option("--base", "base_ref", required=True, metavar="GIT-REF", help="What is deployed now, e.g. origin/main.")
@click.option("--head", "head_ref", metavar="GIT-REF", help="The change [default: the working tree, uncommitted files included].")
@click.option("--env", default="dev", show_default=True, metavar="ENV|all", help="config/<env>.yaml to compare, or all.")
@click.option("--format", "output_format", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option(
    "--allow-replace",
    "allow",
    multiple=True,
    metavar="LOGICAL-ID",
    help="A blocking change that is intended (repeatable; also <stack>/<logical-id>).",
)
@click.option(
    "--deps",
    type=click.Choice(["auto", "reuse", "install"]),
    default="auto",
    show_default=True,
    help="A ref whose synth pins differ from the checkout's: install them once into a cache (auto), "
    "or synthesise with the checkout's anyway (reuse).",
)
@click.option(
    "--synth-cache",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MLOPS_DIFF_SYNTH_CACHE",
    help="Keep synthesised assemblies of commits here and reuse them (keyed by tree, env and pins).",
)
def diff(
    base_ref: str,
    head_ref: str | None,
    env: str,
    output_format: str,
    allow: tuple[str, ...],
    deps: str,
    synth_cache: Path | None,
) -> int:
    """Synthesise --base and --head offline and compare them with the CDK's own diff engine.

    Per environment and stack: resources added, removed, modified and replaced (with the
    property that forces it), endpoint weights and models before -> after, deployment
    guardrails, autoscaling, and IAM and KMS key-policy statements. Blocks (exit 1) the
    replacement or removal of stateful resources and in-place instance-type changes of
    autoscaled variants.
    """
    from mlops_cli import diff as engine
    from mlops_cli.diff_render import markdown, print_text

    mode: engine.DepsMode = "reuse" if deps == "reuse" else "install" if deps == "install" else "auto"
    try:
        with err.status("mlops diff") as status:
            report = engine.compare(
                start=Path(os.getcwd()),
                base_ref=base_ref,
                head_ref=head_ref,
                env=env,
                allow=allow,
                deps=mode,
                synth_cache=synth_cache,
                text=output_format != "text",
                progress=lambda message: status.update(message),
            )
    except engine.DiffError:
        raise
    except Exception as error:  # a defect of the tool: exit 2, never 1 (which means "blocking")
        traceback.print_exc()
        raise engine.DiffError(f"internal error: {type(error).__name__}: {error}") from None
    if output_format == "json":
        print_json(report.to_json())
    elif output_format == "markdown":
        print(markdown(report), end="")
    else:
        # Piped (a CI log): wide tables rather than rich's 80-column default.
        print_text(report, out if out.is_terminal else Console(width=int(os.environ.get("COLUMNS", "160")), highlight=False))
    return report.exit_code
