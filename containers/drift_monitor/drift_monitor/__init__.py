"""Text-drift monitor for SageMaker Model Monitor (bring your own container).

`python -m drift_monitor` is the scheduled job: it reads the data-capture files SageMaker
puts under `dataset_source`, embeds the request texts with all-MiniLM-L6-v2 (shipped in the
image, loaded offline), compares each with its nearest baseline text by cosine similarity,
and writes Model Monitor's outputs. `python -m drift_monitor baseline` makes the baseline.
See ../README.md for the contract.
"""
