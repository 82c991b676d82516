"""tracebed.refstack: the reference stack packaged to run — its topology for every backend,
its compose project and the offline-built image (debootstrap base, wheelhouse, Dockerfile).

Harness side: depends on `stack` and `reference`; neither of them knows this package.
"""

from tracebed.paths import DEFAULT_DEMO_VERSION, DEMO_VERSIONS
from tracebed.refstack.presets import reference_shape, reference_topology

__all__ = ["DEFAULT_DEMO_VERSION", "DEMO_VERSIONS", "reference_shape", "reference_topology"]
