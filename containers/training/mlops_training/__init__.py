"""The platform's one training implementation.

`mlops model build` (the CLI, in-process) and the training image (`python -m mlops_training`,
a SageMaker training job) both train through `trainer.train` and write through `artifact`,
so a model trained in a job is the `mlops-tabular-classifier` v1 artifact the inference
container serves (containers/inference/MODEL_FORMAT.md). This folder is the image's build
context; the CLI imports the same files (pyproject's package finder), never a copy.

Importing this package costs nothing: torch is imported by the modules that need it.
"""
