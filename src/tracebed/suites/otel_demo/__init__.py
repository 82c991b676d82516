"""The bundled suite for any demo-shaped stack: `pytest --pyargs tracebed.suites.otel_demo`.

What it checks: every service became ready after its dependencies, tier by tier; each shop
flow's call chain (expected chains are data, in fixtures/chains/); each service's spans;
each service's traces, metrics and logs (the signal matrix, in fixtures/signals/); given the
release's telemetry registry, each flow's telemetry against it (fixtures/conformance/ holds
the demo's own known non-conformances).
"""
