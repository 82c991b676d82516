"""tracebed: trace-based integration testing of the OpenTelemetry Demo, inside pytest.

The error kinds a user catches are importable from here (`tracebed.TracebedError`, ...).
"""

# `X as X`: an explicit re-export (the names are listed once, in tracebed.errors.__all__).
from tracebed.errors import ConfigError as ConfigError
from tracebed.errors import ExpectationFailed as ExpectationFailed
from tracebed.errors import FlowError as FlowError
from tracebed.errors import QuerySyntaxError as QuerySyntaxError
from tracebed.errors import SinkError as SinkError
from tracebed.errors import StackError as StackError
from tracebed.errors import TracebedError as TracebedError
from tracebed.errors import TraceTimeout as TraceTimeout
from tracebed.errors import WaitTimeout as WaitTimeout

__version__ = "0.1.0"
