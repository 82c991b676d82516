"""frontend-proxy: Envoy config in the shape of the demo's ``envoy.tmpl.yaml`` (2.0.2).

Routes in the demo's order (all prefix matches): /loadgen, /otlp-http/, /images/,
/flagservice/, /feature, / ; at 3.0.0 without /loadgen and with /telemetry (a redirect to
/telemetry/) and /telemetry/ (telemetry-docs) after /otlp-http/. The demo's /jaeger,
/grafana and (3.0.0) /opamp/ routes are left out because those services are absent. HTTP filters: fault (honours ``x-envoy-fault-delay-request``,
which is how ``imageSlowLoad`` slows pictures), then router. Tracing: the OpenTelemetry
tracer exporting over gRPC to the collector, ``spawn_upstream_span: true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Runtime keys of Envoy's OpenTelemetry tracer: flush every 50 ms (default 5 s) so a
#: trace is complete in the sink quickly; 5 spans also trigger a flush (Envoy's default).
TRACER_RUNTIME = {
    "tracing.opentelemetry.flush_interval_ms": 50,
    "tracing.opentelemetry.min_flush_spans": 5,
}


@dataclass(frozen=True)
class Upstreams:
    frontend: int
    image_provider: int
    flagd: int  # the flag service's OFREP port (the demo routes its gRPC/Connect port 8013)
    flagd_ui: int
    loadgen: int
    collector_grpc: int
    collector_http: int
    telemetry_docs: int | None = None  # 3.0.0 only


def _cluster(name: str, port: int, http2: bool = False) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": "127.0.0.1", "port_value": port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def _redirect(path: str, to: str) -> dict[str, Any]:
    return {"match": {"path": path}, "redirect": {"path_redirect": to}}


def _string_kv(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"string_value": value}}


# The access-log line and attributes: 2.0.2's short set; 3.0.0's as its envoy.tmpl.yaml has them.
_ACCESS_BODY = {
    False: '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%'
    ' %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT%'
    ' %DURATION% "%UPSTREAM_HOST%"',
    True: '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"'
    " %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%"
    ' %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"'
    " %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"
    ' "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%"'
    ' "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS%'
    " %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%"
    " %ROUTE_NAME%\n",
}
_ACCESS_ATTRIBUTES = {
    False: [
        ("event.name", "proxy.access"),
        ("url.path", "%REQ(:PATH)%"),
        ("upstream.cluster", "%UPSTREAM_CLUSTER%"),
        ("user_agent.original", "%REQ(USER-AGENT)%"),
    ],
    True: [
        ("destination.address", "%UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
        ("event.name", "proxy.access"),
        ("server.address", "%DOWNSTREAM_LOCAL_ADDRESS%"),
        ("source.address", "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"),
        ("upstream.cluster", "%UPSTREAM_CLUSTER%"),
        ("upstream.host", "%UPSTREAM_HOST%"),
        ("user_agent.original", "%REQ(USER-AGENT)%"),
        ("url.full", "%REQ(:SCHEME)%://%REQ(:AUTHORITY)%%REQ(:PATH)%"),
        ("url.path", "%REQ(:PATH)%"),
        ("url.query", "%REQ(:QUERY)%"),
        ("url.template", "%ROUTE_NAME%"),
    ],
}


def _route(prefix: str, cluster: str, rewrite: str | None = None, **extra: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"cluster": cluster, **extra}
    if rewrite is not None:
        action["prefix_rewrite"] = rewrite
    return {"match": {"prefix": prefix}, "route": action}


def config(
    listen_port: int,
    admin_port: int,
    up: Upstreams,
    service_name: str = "frontend-proxy",
    demo_version: str = "2.0.2",
) -> dict[str, Any]:
    collector = "opentelemetry_collector_grpc"
    # 3.0.0 drops /loadgen (k6 has no web UI) and adds /telemetry/; its /opamp/, /profiles/
    # and /chatbot/ routes lead to services absent here, like /jaeger and /grafana
    with_loadgen = demo_version != "3.0.0"
    with_docs = demo_version == "3.0.0" and up.telemetry_docs is not None
    routes = [
        *([_route("/loadgen", "loadgen", "/")] if with_loadgen else []),
        _route("/otlp-http/", "opentelemetry_collector_http", "/"),
        *(
            [_redirect("/telemetry", "/telemetry/"), _route("/telemetry/", "telemetry-docs", "/")]
            if with_docs
            else []
        ),
        _route("/images/", "image-provider", "/"),
        _route("/flagservice/", "flagservice", "/", timeout="0s"),
        _route("/feature", "flagd-ui"),
        _route("/", "frontend"),
    ]
    access_log: dict[str, Any] = {
        "name": "otel_envoy_access_log",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.open_telemetry.v3"
            ".OpenTelemetryAccessLogConfig",
            "log_name": "otel_envoy_access_log",
            "grpc_service": {"envoy_grpc": {"cluster_name": collector}},
            "body": {"string_value": _ACCESS_BODY[demo_version == "3.0.0"]},
            # The demo's template names the service here: the access logger, unlike the
            # tracer, has no resource detector, and a record without service.name is nobody's.
            "resource_attributes": {
                "values": [
                    _string_kv("service.name", service_name),
                    _string_kv("service.namespace", "opentelemetry-demo"),
                ]
            },
            "attributes": {
                "values": [
                    _string_kv(k, v) for k, v in _ACCESS_ATTRIBUTES[demo_version == "3.0.0"]
                ]
            },
        },
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
        ".v3.HttpConnectionManager",
        "stat_prefix": "ingress_http",
        "codec_type": "AUTO",
        "tracing": {
            "spawn_upstream_span": True,
            "provider": {
                "name": "envoy.tracers.opentelemetry",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                    "grpc_service": {"envoy_grpc": {"cluster_name": collector}, "timeout": "0.25s"},
                    "service_name": service_name,
                    "resource_detectors": [
                        {
                            # adds OTEL_RESOURCE_ATTRIBUTES (service.namespace, version)
                            "name": "envoy.tracers.opentelemetry.resource_detectors.environment",
                            "typed_config": {
                                "@type": "type.googleapis.com/envoy.extensions.tracers"
                                ".opentelemetry.resource_detectors.v3"
                                ".EnvironmentResourceDetectorConfig"
                            },
                        }
                    ],
                },
            },
        },
        "access_log": [access_log],
        "route_config": {
            "name": "frontend",
            "virtual_hosts": [{"name": "frontend", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.fault",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
                    "max_active_faults": 100,
                    "delay": {
                        "header_delay": {},
                        "percentage": {"numerator": 100, "denominator": "HUNDRED"},
                    },
                },
            },
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            },
        ],
    }
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "frontend",
                    "address": {
                        "socket_address": {"address": "127.0.0.1", "port_value": listen_port}
                    },
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": hcm,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [
                _cluster("frontend", up.frontend),
                _cluster("image-provider", up.image_provider),
                _cluster("flagservice", up.flagd),
                _cluster("flagd-ui", up.flagd_ui),
                *([_cluster("loadgen", up.loadgen)] if with_loadgen else []),
                *(
                    [_cluster("telemetry-docs", up.telemetry_docs)]
                    if with_docs and up.telemetry_docs is not None
                    else []
                ),
                _cluster("opentelemetry_collector_http", up.collector_http),
                _cluster(collector, up.collector_grpc, http2=True),
            ],
        },
        "admin": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}
        },
        "layered_runtime": {"layers": [{"name": "static", "static_layer": dict(TRACER_RUNTIME)}]},
    }


def render_config(
    workdir: Path, listen_port: int, admin_port: int, up: Upstreams, demo_version: str = "2.0.2"
) -> Path:
    path = workdir / "frontend-proxy" / "envoy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = config(listen_port, admin_port, up, demo_version=demo_version)
    path.write_text(
        "# generated by tracebed.reference.proxy.envoy\n"
        + yaml.safe_dump(doc, sort_keys=False),
        encoding="utf-8",
    )
    return path


def command(binary: Path, config_path: Path) -> list[str]:
    # --disable-hot-restart: several Envoys (parallel test runs) may share one host
    return [
        str(binary),
        "-c",
        str(config_path),
        "--disable-hot-restart",
        "--concurrency",
        "2",
        "--log-level",
        "warn",
    ]
