"""Scripts that print measured figures (see each module's docstring); a package so peers import as benchmarks.*."""
