"""One module per command group; `mlops_cli.app` registers each with one line."""
