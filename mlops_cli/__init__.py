"""The `mlops` command line: `mlops <group> <command>` or `python -m mlops_cli <group> <command>`.

Commands live in mlops_cli/commands/ (one module per group, registered in mlops_cli/app.py);
the logic they call (qa, batch, model_artifact) is plain functions, tested directly.
"""
