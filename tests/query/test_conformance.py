"""Conformance against the demo 3.0.0 registry (and semconv 1.40.0 under it): planted
violations in OTLP/JSON written here are each found with live-check's id, level and the
sample they are about; conforming telemetry gives no finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.query.signals import RESOURCE, SPAN_ID, TRACE_ID, logs_json, metrics_json, traces_json
from tracebed.model.metrics import DataPoint, Metric
from tracebed.otlp.signals_json import SignalsJsonError, read_signals_json
from tracebed.query.conformance import (
    Finding,
    Level,
    Policy,
    Report,
    check,
)
from tracebed.query.registry import Registry, load_registry

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
SEMCONV = (REFERENCE / "semconv-1.40.0" / "model").resolve()
DEMO = (REFERENCE / "otel-demo-3.0.0" / "telemetry-schema").resolve()

pytestmark = pytest.mark.skipif(
    not (SEMCONV.is_dir() and DEMO.is_dir()), reason="reference registries not present"
)


@pytest.fixture(scope="module")
def semconv() -> Registry:
    return load_registry(SEMCONV)


@pytest.fixture(scope="module")
def demo(semconv: Registry) -> Registry:
    return load_registry(DEMO, semconv)


def run(
    tmp_path: Path, registry: Registry, *documents: dict, policy: Policy | None = None
) -> Report:
    spans, metrics, logs = [], [], []
    for i, document in enumerate(documents):
        path = tmp_path / f"doc{i}.json"
        path.write_text(json.dumps(document))
        signals = read_signals_json(path)
        spans += signals.spans
        metrics += signals.metrics
        logs += signals.logs
    return check(registry, spans, metrics, logs, policy)


def only(report: Report, finding_id: str) -> Finding:
    found = [f for f in report.findings if f.id == finding_id]
    assert len(found) == 1, report.to_text()
    return found[0]


# -- planted violations --------------------------------------------------------------------------


def test_wrong_type_is_type_mismatch_with_the_span_it_is_on(tmp_path: Path, demo: Registry) -> None:
    report = run(tmp_path, demo, traces_json({"demo.order.amount": "57.80"}))
    finding = only(report, "type_mismatch")
    assert finding.level is Level.VIOLATION
    assert finding.context == {
        "attribute_key": "demo.order.amount",
        "attribute_type": "string",
        "expected": "double",
    }
    assert (finding.signal_type, finding.signal_name, finding.sample_type) == (
        "span",
        "oteldemo.CheckoutService/PlaceOrder",
        "attribute",
    )
    assert (finding.service, finding.trace_id, finding.span_id) == ("checkout", TRACE_ID, SPAN_ID)
    assert report.failed("violation")


def test_unregistered_demo_key_is_missing_attribute(tmp_path: Path, demo: Registry) -> None:
    report = run(tmp_path, demo, traces_json({"demo.payment.card_number": "4432-8015"}))
    missing = only(report, "missing_attribute")
    assert missing.level is Level.VIOLATION
    assert missing.context == {"attribute_key": "demo.payment.card_number"}
    extends = only(report, "extends_namespace")
    assert extends.level is Level.INFORMATION and extends.context["namespace"] == "demo.payment"
    assert report.statistics.seen_non_registry_attributes == {"demo.payment.card_number": 1}


def test_deprecated_semconv_name_names_its_replacement(tmp_path: Path, demo: Registry) -> None:
    report = run(tmp_path, demo, traces_json({"http.method": "GET"}))
    finding = only(report, "deprecated")
    assert finding.level is Level.VIOLATION
    assert finding.context["renamed_to"] == "http.request.method"
    assert "use 'http.request.method' instead" in finding.message


def test_metric_point_without_required_attribute(tmp_path: Path, demo: Registry) -> None:
    document = metrics_json(
        "demo.ad.requests", "{ad_request}", [{"demo.ad.request_type": "TARGETED"}]
    )
    report = run(tmp_path, demo, document)
    finding = only(report, "required_attribute_not_present")
    assert finding.level is Level.VIOLATION
    assert finding.context == {"attribute_name": "demo.ad.response_type"}
    assert (finding.signal_type, finding.signal_name, finding.sample_type) == (
        "metric",
        "demo.ad.requests",
        "number_data_point",
    )
    # The exemplar's hex ids survive protobuf's base64 JSON mapping.
    assert (finding.service, finding.trace_id, finding.span_id) == ("ad", TRACE_ID, SPAN_ID)
    assert len(report.findings) == 1


def test_enum_value_outside_its_members(tmp_path: Path, demo: Registry) -> None:
    report = run(tmp_path, demo, traces_json({"http.request.method": "BREW"}))
    finding = only(report, "undefined_enum_variant")
    assert finding.level is Level.INFORMATION  # live-check's default level
    assert finding.context["attribute_value"] == "BREW" and "GET" in finding.context["members"]
    assert not report.failed("violation") and report.failed("information")


def test_conforming_telemetry_gives_no_finding(tmp_path: Path, demo: Registry) -> None:
    spans = traces_json(
        {
            "demo.order.id": "a3f1",
            "demo.order.amount": 57.8,
            "demo.order.items.count": 3,
            "demo.payment.charged": True,
            "demo.product.filtered.list": ["OLJCESPC7Z", "66VCHSJNUP"],
            "http.request.method": "POST",
            "http.response.status_code": 200,
        }
    )
    ads = metrics_json(
        "demo.ad.requests",
        "{ad_request}",
        [{"demo.ad.request_type": "TARGETED", "demo.ad.response_type": "RANDOM"}],
    )
    report = run(tmp_path, demo, spans, ads)
    assert report.findings == [], report.to_text()
    assert not report.failed("information")
    stats = report.statistics
    assert stats.seen_registry_attributes["demo.order.id"] == 1
    assert stats.seen_registry_metrics["demo.ad.requests"] == 1
    assert stats.no_advice_count == stats.total_entities


# -- the rest of live-check's findings -----------------------------------------------------------


def test_the_demos_own_metric_disagreements(tmp_path: Path, demo: Registry) -> None:
    currency = metrics_json(
        "demo.exchange.conversions_counter", "", [{"demo.exchange.to": "EUR"}], "currency"
    )
    ads = metrics_json(
        "demo.ad.requests",
        "",
        [{"demo.ad.request_type": "TARGETED", "demo.ad.response_type": "RANDOM"}],
    )
    report = run(tmp_path, demo, currency, ads)
    missing = only(report, "missing_metric")
    assert missing.signal_name == "demo.exchange.conversions_counter"
    assert missing.service == "currency" and missing.sample_type == "metric"
    unit = only(report, "unit_mismatch")
    assert unit.context == {"unit": "", "expected": "{ad_request}"}
    assert report.statistics.seen_non_registry_metrics == {"demo.exchange.conversions_counter": 1}


def test_unexpected_instrument(demo: Registry) -> None:
    gauge = Metric("demo.ad.requests", "{ad_request}", "gauge", (), {"service.name": "ad"})
    report = check(demo, metrics=[gauge])
    assert only(report, "unexpected_instrument").context == {
        "instrument": "gauge",
        "expected": "counter",
    }


def test_template_attribute_and_its_type(tmp_path: Path, demo: Registry) -> None:
    ok = run(tmp_path, demo, traces_json({"http.request.header.tenant": ["a"]}))
    assert only(ok, "template_attribute").level is Level.INFORMATION
    assert [f.id for f in ok.findings] == ["template_attribute"]
    bad = run(tmp_path, demo, traces_json({"http.request.header.tenant": "a"}))
    assert only(bad, "type_mismatch").context["expected"] == "string[]"


def test_namespace_policies(tmp_path: Path, demo: Registry) -> None:
    report = run(
        tmp_path,
        demo,
        traces_json({"TaskId": "1", "demo.order.id.suffix": "x", "quantity": 1}),
    )
    ids = {(f.id, f.context.get("attribute_key")) for f in report.findings}
    assert ("missing_namespace", "quantity") in ids
    assert ("missing_namespace", "TaskId") in ids
    assert ("invalid_format", "TaskId") in ids
    assert ("illegal_namespace", "demo.order.id.suffix") in ids
    assert ("invalid_format", "quantity") not in ids
    levels = {f.id: f.level for f in report.findings}
    assert levels["missing_namespace"] is Level.IMPROVEMENT
    assert levels["illegal_namespace"] is Level.VIOLATION


def test_not_stable_and_resource_samples(tmp_path: Path, demo: Registry) -> None:
    report = run(
        tmp_path,
        demo,
        traces_json({}, {"service.name": "checkout", "service.criticality": "critical"}),
    )
    finding = only(report, "not_stable")
    assert finding.level is Level.IMPROVEMENT
    assert (finding.signal_type, finding.signal_name) == ("resource", "checkout")
    assert report.statistics.total_entities_by_type["resource"] == 1


def test_log_event_not_in_registry(tmp_path: Path, demo: Registry) -> None:
    report = run(tmp_path, demo, logs_json("cart.item_added", {"user.id": "u1"}))
    finding = only(report, "missing_event")
    assert (finding.signal_type, finding.signal_name, finding.service) == (
        "log",
        "cart.item_added",
        "cart",
    )
    assert (finding.trace_id, finding.span_id) == (TRACE_ID, SPAN_ID)
    assert report.statistics.seen_registry_attributes["user.id"] == 1


def test_registered_event_requires_its_attributes(tmp_path: Path, semconv: Registry) -> None:
    report = run(tmp_path, semconv, logs_json("exception", {"exception.message": "boom"}))
    ids = {f.id for f in report.findings}
    assert "missing_event" not in ids
    assert "conditionally_required_attribute_not_present" in ids  # exception.type


# -- policy --------------------------------------------------------------------------------------


def test_ignored_namespaces_give_no_findings(tmp_path: Path, demo: Registry) -> None:
    document = traces_json({}, {**RESOURCE, "telemetry.sdk.name": 7, "telemetry.distro": "x"})
    noisy = run(tmp_path, demo, document)
    assert {f.context["attribute_key"] for f in noisy.findings} == {
        "telemetry.sdk.name",
        "telemetry.distro",
    }
    quiet = run(tmp_path, demo, document, policy=Policy(ignore=("telemetry.*",)))
    assert quiet.findings == []
    assert run(tmp_path, demo, document, policy=Policy(ignore=("telemetry",))).findings == []


def test_level_overrides_and_exclude(tmp_path: Path, demo: Registry) -> None:
    document = traces_json({"http.request.method": "BREW", "demo.secret": "x"})
    report = run(
        tmp_path,
        demo,
        document,
        policy=Policy(
            level_overrides={"undefined_enum_variant": "violation"},
            exclude=frozenset({"missing_attribute"}),
        ),
    )
    assert only(report, "undefined_enum_variant").level is Level.VIOLATION
    assert not [f for f in report.findings if f.id == "missing_attribute"]
    with pytest.raises(ValueError, match="unknown finding id 'undefined_enum'"):
        Policy(level_overrides={"undefined_enum": "violation"})
    with pytest.raises(ValueError, match="unknown finding level 'fatal'"):
        Policy(level_overrides={"deprecated": "fatal"})


def test_minimum_coverage(demo: Registry) -> None:
    point = DataPoint({"demo.ad.request_type": "TARGETED", "demo.ad.response_type": "RANDOM"})
    ads = Metric("demo.ad.requests", "{ad_request}", "counter", (point,), {"service.name": "ad"})
    report = check(demo, metrics=[ads], policy=Policy(min_coverage=0.5))
    seen, total = report.statistics.covered
    assert seen == 3 and total == len(demo.referenced) + len(demo.own_metrics())
    assert report.findings == []
    assert report.failed(None)
    assert report.coverage_shortfall is not None and "under the minimum 50.0%" in (
        report.coverage_shortfall
    )
    assert "metric demo.cart.add_item.latency" in report.statistics.unseen()
    assert not check(demo, metrics=[ads], policy=Policy(min_coverage=0.05)).failed(None)


def test_report_json_has_live_check_shape(tmp_path: Path, demo: Registry) -> None:
    report = run(tmp_path, demo, traces_json({"demo.secret": "x", "demo.order.id": "1"}))
    document = json.loads(json.dumps(report.as_dict()))
    finding = document["findings"][0]
    assert {"id", "level", "message", "context", "signal_type", "signal_name"} <= set(finding)
    stats = document["statistics"]
    assert stats["advice_level_counts"] == {"violation": 1, "information": 1}
    assert stats["advice_type_counts"] == {"missing_attribute": 1, "extends_namespace": 1}
    assert stats["highest_advice_level_counts"] == {"violation": 1}
    assert 0 < stats["registry_coverage"] < 1


# -- reading -------------------------------------------------------------------------------------


def test_json_lines_of_mixed_signals(tmp_path: Path) -> None:
    path = tmp_path / "all.jsonl"
    lines = [
        traces_json({"demo.order.id": "1"}),
        metrics_json("demo.ad.requests", "{ad_request}", [{}]),
        logs_json("cart.item_added", {}),
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    signals = read_signals_json(path)
    assert signals.kinds == ["spans", "metrics", "logs"]
    assert signals.metrics[0].instrument == "counter"
    assert signals.logs[0].event_name == "cart.item_added"
    assert signals.logs[0].trace_id == TRACE_ID


def test_bad_files_name_the_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": 3}]}]}]})
    )
    with pytest.raises(
        SignalsJsonError, match=r"bad.json: document: .*ExportMetricsServiceRequest"
    ):
        read_signals_json(path)
    path.write_text('{"hello": 1}')
    with pytest.raises(SignalsJsonError, match="no 'resourceSpans', 'resourceMetrics'"):
        read_signals_json(path)
    path.write_text(json.dumps(traces_json({})) + "\n{nope\n")
    with pytest.raises(SignalsJsonError, match="line 2: not JSON"):
        read_signals_json(path)
