"""The pytest plugin: options, fixtures, markers, Tracetest collection, reports."""
