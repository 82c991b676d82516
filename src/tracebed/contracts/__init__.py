"""Service contracts: the spans each operation emits, its calls, its declared dependencies."""

from tracebed.contracts.check import (
    ContractResult,
    Violation,
    assert_contract,
    check_operation,
    check_trace,
    describe_span,
)
from tracebed.contracts.deps import (
    DEMO_ALIASES,
    DependencyReport,
    Finding,
    analyse_dependencies,
    contract_calls,
    declared_dependencies,
    observed_calls,
)
from tracebed.contracts.draft import draft_contract
from tracebed.contracts.model import (
    AttributeRule,
    CallRule,
    Contract,
    ContractError,
    Operation,
    SpanRule,
    dump_contract,
    load_contract,
    load_contracts,
    parse_contract,
)

__all__ = [
    "DEMO_ALIASES",
    "AttributeRule",
    "CallRule",
    "Contract",
    "ContractError",
    "ContractResult",
    "DependencyReport",
    "Finding",
    "Operation",
    "SpanRule",
    "Violation",
    "analyse_dependencies",
    "assert_contract",
    "check_operation",
    "check_trace",
    "contract_calls",
    "declared_dependencies",
    "describe_span",
    "draft_contract",
    "dump_contract",
    "load_contract",
    "load_contracts",
    "observed_calls",
    "parse_contract",
]
