"""Tracetest without a server or pytest: Test/TestSuite definitions, triggers (http, grpc,
traceid), variables, host map, and the runner that waits for each trace and judges its specs."""

from tracebed.tracetest.definition import (
    SuiteDefinition,
    TestDefinition,
    TracetestFileError,
    discover,
    load,
    looks_like_tracetest,
)
from tracebed.tracetest.hosts import HostMap, HostMapError
from tracebed.tracetest.runner import TestResult, Verdict, run, run_resource
from tracebed.tracetest.variables import Variables, VariablesError, load_variables

__all__ = [
    "HostMap",
    "HostMapError",
    "SuiteDefinition",
    "TestDefinition",
    "TestResult",
    "TracetestFileError",
    "Variables",
    "VariablesError",
    "Verdict",
    "discover",
    "load",
    "load_variables",
    "looks_like_tracetest",
    "run",
    "run_resource",
]
