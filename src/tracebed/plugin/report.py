"""pytest plugin module (report)."""
