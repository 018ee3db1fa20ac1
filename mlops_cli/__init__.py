"""The `mlops` command line: `python -m mlops_cli <group> <command>`."""
