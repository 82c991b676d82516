"""Test suites that ship with tracebed (run with `pytest --pyargs tracebed.suites.NAME`)."""
