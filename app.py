#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth --all -c env=prod` (default env: dev)."""

import sys

from config.loader import ConfigError
from stacks.mlops_app import create_app


def main() -> None:
    try:
        stacks = create_app()
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    stacks.app.synth()


if __name__ == "__main__":
    main()
