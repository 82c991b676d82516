"""Suite-wide settings."""

from __future__ import annotations

import os

# The bundled suite's contracts, chains and fault scenarios are demo 2.0.2's until the
# per-release ones land (issue 15), so a test that starts the stand-in without naming a
# release gets 2.0.2. The 3.0.0 stand-in's tests name their release (tests/reference/v3).
os.environ.setdefault("TRACEBED_DEMO_VERSION", "2.0.2")
