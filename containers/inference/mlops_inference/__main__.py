"""Entry point: `serve` (HTTP on :8080) or `serve stdin` (JSON Lines on stdin/stdout)."""

from __future__ import annotations

import logging
import sys

from mlops_inference.model import Model, ModelFormatError
from mlops_inference.settings import Settings, SettingsError

USAGE = "usage: serve [stdin]   (HTTP on port 8080 by default; 'stdin' scores JSON Lines from standard input)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # Logs go to stderr so that stdout carries only data (stdin mode) and EMF lines (HTTP mode).
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args not in ([], ["serve"], ["stdin"]):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        if args == ["stdin"]:
            from mlops_inference import stdin_mode

            model = Model(settings.model_dir, device=settings.device, threads=settings.inference_threads)
            return stdin_mode.main(model, chunk_size=max(settings.max_batch_size, 256))
        from mlops_inference import server

        server.run(settings)
        return 0
    except (ModelFormatError, SettingsError) as error:
        print(f"serve: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
