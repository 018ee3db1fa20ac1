"""`python -m mlops_cli`: the same command as the `mlops` console script (see mlops_cli.app)."""

from __future__ import annotations

import sys

from mlops_cli.app import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
