"""pytest plugin module (tracetest)."""
