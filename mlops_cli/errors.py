"""The one error type the `mlops` command reports as a message (exit code 2), not a traceback."""


class CliError(ValueError):
    """Input the command cannot use; the message names the file, line, key or option at fault."""
