"""OTLP/JSON documents of each signal, written by hand for the conformance tests."""

from __future__ import annotations

from typing import Any

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"


def value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(x) for x in v]}}
    return {"stringValue": v}


def attrs(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": value(v)} for k, v in mapping.items()]


RESOURCE = {"service.name": "checkout", "service.version": "3.0.0"}


def traces_json(span_attrs: dict[str, Any], resource: dict[str, Any] | None = None) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attrs(resource or RESOURCE)},
                "scopeSpans": [
                    {
                        "scope": {"name": "checkout"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "name": "oteldemo.CheckoutService/PlaceOrder",
                                "kind": 2,
                                "startTimeUnixNano": "1",
                                "endTimeUnixNano": "2",
                                "attributes": attrs(span_attrs),
                            }
                        ],
                    }
                ],
            }
        ]
    }


def metrics_json(name: str, unit: str, points: list[dict[str, Any]], service: str = "ad") -> dict:
    return {
        "resourceMetrics": [
            {
                "resource": {"attributes": attrs({"service.name": service})},
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": name,
                                "unit": unit,
                                "sum": {
                                    "aggregationTemporality": 2,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "asInt": "1",
                                            "attributes": attrs(p),
                                            "exemplars": [
                                                {
                                                    "asInt": "1",
                                                    "traceId": TRACE_ID,
                                                    "spanId": SPAN_ID,
                                                }
                                            ],
                                        }
                                        for p in points
                                    ],
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }


def logs_json(event_name: str, log_attrs: dict[str, Any], service: str = "cart") -> dict:
    record = {
        "timeUnixNano": "1",
        "eventName": event_name,
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "attributes": attrs(log_attrs),
        "body": {"stringValue": "hello"},
    }
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": attrs({"service.name": service})},
                "scopeLogs": [{"logRecords": [record]}],
            }
        ]
    }
