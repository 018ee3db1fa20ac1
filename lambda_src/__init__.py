"""Lambda handlers (each folder is one function's code); see each module's docstring."""
