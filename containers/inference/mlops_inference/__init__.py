"""SageMaker inference server for the caller-risk model format (see ../MODEL_FORMAT.md)."""
