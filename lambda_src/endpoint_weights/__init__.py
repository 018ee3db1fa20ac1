"""Live variant weights of a SageMaker endpoint: shared by the custom resource and `mlops weights`."""
