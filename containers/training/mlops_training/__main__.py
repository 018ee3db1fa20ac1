"""`python -m mlops_training [train]`: the training image's entrypoint.

SageMaker starts a training image as `<entrypoint> train`. With more than one process in
the job (several hosts, several GPUs, or `processes_per_host` > 1), this re-launches itself
under torchrun, one worker per process; otherwise the worker runs in this process.
Any failure is written to /opt/ml/output/failure (the job's FailureReason) and exits 1.
"""

from __future__ import annotations

import sys

from mlops_training.entrypoint import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
