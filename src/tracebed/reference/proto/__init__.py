"""The reference stack's gRPC contract (package ``oteldemo``) and its generated modules.

Regenerate after editing ``demo.proto`` with ``python -m tracebed.reference.proto.generate``.
"""

from pathlib import Path

PROTO_PATH = Path(__file__).with_name("demo.proto")
