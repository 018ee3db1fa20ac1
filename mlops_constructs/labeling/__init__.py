"""Ground Truth labelling: the private workforce, the NER template, and labelling jobs from the stack."""
