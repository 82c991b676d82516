"""The reference stack's backends, each runnable as ``python -m tracebed.reference.services.<name>``."""
