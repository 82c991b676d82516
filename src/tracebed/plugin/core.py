"""pytest plugin module (core)."""
