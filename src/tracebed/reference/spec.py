"""The reference stack described as plain data shaped like a Compose file.

The stack layer (``tracebed.stack``) turns this into a Topology and runs it with its
``local`` backend; this module never imports the harness. Ports, environment variable
names and ``depends_on`` follow the chosen release's compose files and ``.env`` (2.0.2:
demo-facts §1, §2, §15; 3.0.0: demo-facts-3.0 §1, §2, §15), minus the services that cannot run here (Jaeger, Grafana, OpenSearch), whose edges
are dropped and listed under ``x-tracebed-stack.absent``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from tracebed.reference import versions
from tracebed.reference.flagd.flagfile import bundled_flag_file
from tracebed.reference.infra import binaries, collector, nginx, postgres, prometheus
from tracebed.reference.infra.ports import free_ports
from tracebed.reference.proxy import envoy

NAME = "tracebed-reference"
#: The release ``build_spec`` impersonates unless told otherwise.
DEMO_VERSION = versions.DEFAULT
#: The export delays every service of the stack gets (ms), by the SDK's variable names.
EXPORT_DELAYS_MS: dict[str, int] = {
    "OTEL_BSP_SCHEDULE_DELAY": 50,
    "OTEL_BLRP_SCHEDULE_DELAY": 50,
    "OTEL_METRIC_EXPORT_INTERVAL": 1000,
}

#: Every port of the stack, by the demo's ``.env`` variable name (``ports=`` keys).
PORT_NAMES: tuple[str, ...] = (
    "OTEL_COLLECTOR_PORT_GRPC",
    "OTEL_COLLECTOR_PORT_HTTP",
    "KAFKA_PORT",
    "VALKEY_PORT",
    "PROMETHEUS_PORT",
    "IMAGE_PROVIDER_PORT",
    "FLAGD_PORT",
    "FLAGD_OFREP_PORT",
    "FLAGD_UI_PORT",
    "AD_PORT",
    "CART_PORT",
    "CHECKOUT_PORT",
    "CURRENCY_PORT",
    "EMAIL_PORT",
    "PAYMENT_PORT",
    "PRODUCT_CATALOG_PORT",
    "QUOTE_PORT",
    "RECOMMENDATION_PORT",
    "SHIPPING_PORT",
    "FRONTEND_PORT",
    "ENVOY_PORT",
    "ENVOY_ADMIN_PORT",
    "LOCUST_WEB_PORT",
    "POSTGRES_PORT",
    "TELEMETRY_DOCS_PORT",
    # not the demo's: the metrics bridge standing in for Prometheus' OTLP receiver
    "METRICS_BRIDGE_OTLP_PORT",
    "METRICS_BRIDGE_PORT",
)

#: Services of the demo that cannot run on these machines, and why.
ABSENT: dict[str, str] = {
    "jaeger": "not installable here (no container images, no package); traces go to the "
    "tracebed sink instead",
    "grafana": "not installable here; nothing in the reference stack needs it",
    "opensearch": "not installable here; logs go to the tracebed sink instead",
}

#: depends_on at demo 2.0.2 (demo-facts §15.1); "H" = service_healthy, "S" = started.
DEMO_DEPENDS_ON: dict[str, dict[str, str]] = {
    "opensearch": {},
    "jaeger": {},
    "prometheus": {},
    "grafana": {},
    "kafka": {},
    "valkey-cart": {},
    "flagd": {},
    "otel-collector": {"jaeger": "S", "opensearch": "H"},
    "flagd-ui": {"otel-collector": "S", "flagd": "S"},
    "currency": {"otel-collector": "S"},
    "quote": {"otel-collector": "S"},
    "email": {"otel-collector": "S"},
    "shipping": {"otel-collector": "S"},
    "image-provider": {"otel-collector": "S"},
    "product-catalog": {"otel-collector": "S", "flagd": "S"},
    "ad": {"otel-collector": "S", "flagd": "S"},
    "payment": {"otel-collector": "S", "flagd": "S"},
    "cart": {"valkey-cart": "S", "otel-collector": "S", "flagd": "S"},
    "accounting": {"otel-collector": "S", "kafka": "H"},
    "fraud-detection": {"otel-collector": "S", "kafka": "H"},
    "recommendation": {"product-catalog": "S", "otel-collector": "S", "flagd": "S"},
    "checkout": {
        "cart": "S",
        "currency": "S",
        "email": "S",
        "payment": "S",
        "product-catalog": "S",
        "shipping": "S",
        "otel-collector": "S",
        "kafka": "H",
        "flagd": "S",
    },
    "frontend": {
        "ad": "S",
        "cart": "S",
        "checkout": "S",
        "currency": "S",
        "product-catalog": "S",
        "quote": "S",
        "recommendation": "S",
        "shipping": "S",
        "otel-collector": "S",
        "image-provider": "S",
        "flagd": "S",
    },
    "load-generator": {"frontend": "S", "flagd": "S"},
    "frontend-proxy": {
        "frontend": "S",
        "load-generator": "S",
        "jaeger": "S",
        "grafana": "S",
        "flagd-ui": "S",
    },
}

#: depends_on at demo 3.0.0, the default stack = core + full + observability
#: (demo-facts-3.0 §15.1).
DEMO_DEPENDS_ON_V3: dict[str, dict[str, str]] = {
    "astronomy-db": {},
    "flagd": {},
    "valkey-cart": {},
    "telemetry-docs": {},
    "kafka": {},
    "jaeger": {},
    "grafana": {},
    "prometheus": {},
    "opensearch": {},
    "opamp-server": {},
    "otel-collector": {"jaeger": "S", "opensearch": "H", "opamp-server": "H"},
    "ad": {"otel-collector": "S", "flagd": "S"},
    "cart": {"valkey-cart": "H", "otel-collector": "S", "flagd": "S"},
    "currency": {"otel-collector": "S"},
    "email": {"otel-collector": "S"},
    "quote": {"otel-collector": "S"},
    "image-provider": {"otel-collector": "S"},
    "payment": {"otel-collector": "S", "flagd": "S"},
    "shipping": {"otel-collector": "S", "flagd": "S"},
    "product-catalog": {"otel-collector": "S", "flagd": "S", "astronomy-db": "H"},
    "flagd-ui": {"otel-collector": "S", "flagd": "S"},
    "accounting": {"otel-collector": "S", "kafka": "H"},
    "fraud-detection": {"otel-collector": "S", "kafka": "H"},
    "recommendation": {"product-catalog": "S", "otel-collector": "S", "flagd": "S"},
    "checkout": {
        "cart": "S",
        "currency": "H",
        "email": "H",
        "payment": "H",
        "product-catalog": "S",
        "shipping": "S",
        "otel-collector": "S",
        "flagd": "S",
        "kafka": "H",
    },
    "frontend": {
        "ad": "H",
        "cart": "S",
        "checkout": "S",
        "currency": "H",
        "product-catalog": "S",
        "quote": "H",
        "recommendation": "H",
        "shipping": "S",
        "otel-collector": "S",
        "image-provider": "H",
        "flagd": "S",
    },
    "frontend-proxy": {
        "frontend": "H",
        "flagd-ui": "H",
        "telemetry-docs": "H",
        "jaeger": "S",
        "grafana": "S",
        "opamp-server": "H",
    },
    "load-generator": {"frontend": "H", "frontend-proxy": "H", "flagd": "S"},
}

#: Services of demo 3.0.0 that cannot run here, and why.
ABSENT_V3: dict[str, str] = {
    **ABSENT,
    "opamp-server": "the opamp-go example server is not packaged here, and its only client "
    "at 3.0.0, the collector's opamp extension, has no counterpart in rotel (the stand-in's "
    "collector): a server here would have no agent to show",
}

DEPENDS_ON: dict[str, dict[str, dict[str, str]]] = {
    versions.V2: DEMO_DEPENDS_ON,
    versions.V3: DEMO_DEPENDS_ON_V3,
}
ABSENT_BY_VERSION: dict[str, dict[str, str]] = {versions.V2: ABSENT, versions.V3: ABSENT_V3}

_CONDITION = {"S": "service_started", "H": "service_healthy"}

#: gRPC backends: service name -> (module under tracebed.reference.services, port variable).
GRPC_BACKENDS: dict[str, tuple[str, str]] = {
    "ad": ("ad", "AD_PORT"),
    "cart": ("cart", "CART_PORT"),
    "checkout": ("checkout", "CHECKOUT_PORT"),
    "currency": ("currency", "CURRENCY_PORT"),
    "payment": ("payment", "PAYMENT_PORT"),
    "product-catalog": ("product_catalog", "PRODUCT_CATALOG_PORT"),
    "recommendation": ("recommendation", "RECOMMENDATION_PORT"),
    "shipping": ("shipping", "SHIPPING_PORT"),
}
#: HTTP backends (no health endpoint in the demo): probed by TCP connect.
HTTP_BACKENDS: dict[str, tuple[str, str]] = {
    "email": ("email", "EMAIL_PORT"),
    "quote": ("quote", "QUOTE_PORT"),
}
#: Kafka consumers: no port.
CONSUMERS: dict[str, str] = {"accounting": "accounting", "fraud-detection": "fraud_detection"}


def _depends_on(
    service: str, present: set[str], version: str = versions.V2
) -> dict[str, dict[str, str]]:
    return {
        dep: {"condition": _CONDITION[cond]}
        for dep, cond in DEPENDS_ON[version][service].items()
        if dep in present
    }


def _dropped_edges(present: set[str], version: str = versions.V2) -> list[str]:
    return [
        f"{svc} -> {dep}"
        for svc, deps in DEPENDS_ON[version].items()
        if svc in present
        for dep in deps
        if dep not in present
    ]


def allocate_ports(ports: dict[str, int] | None = None) -> dict[str, int]:
    """Free ports for every name in PORT_NAMES, with ``ports`` overriding some of them."""
    given = dict(ports or {})
    unknown = sorted(set(given) - set(PORT_NAMES))
    if unknown:
        raise ValueError(f"unknown port name(s) {unknown}; known: {list(PORT_NAMES)}")
    for key, value in given.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise ValueError(f"port {key}={value!r} is not a TCP port number (1-65535)")
    missing = [p for p in PORT_NAMES if p not in given]
    allocated = dict(zip(missing, free_ports(len(missing)), strict=True))
    result = {**allocated, **given}
    clashes = {p for p in result.values() if list(result.values()).count(p) > 1}
    if clashes:
        raise ValueError(f"the same port is given twice: {sorted(clashes)}")
    return result


def _common_env(p: dict[str, int], flag_file: Path, version: str = versions.V2) -> dict[str, str]:
    """The demo's ``.env`` (addresses on 127.0.0.1) plus the OTLP exporter settings."""
    h = "127.0.0.1"
    env = {
        versions.ENV: version,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{h}:{p['OTEL_COLLECTOR_PORT_GRPC']}",
        "OTEL_RESOURCE_ATTRIBUTES": (
            f"service.namespace=opentelemetry-demo,service.version={version}"
        ),
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
        "OTEL_COLLECTOR_HOST": h,
        "OTEL_COLLECTOR_PORT_GRPC": str(p["OTEL_COLLECTOR_PORT_GRPC"]),
        "OTEL_COLLECTOR_PORT_HTTP": str(p["OTEL_COLLECTOR_PORT_HTTP"]),
        "ENV_PLATFORM": "local",
        "AD_ADDR": f"{h}:{p['AD_PORT']}",
        "CART_ADDR": f"{h}:{p['CART_PORT']}",
        "CHECKOUT_ADDR": f"{h}:{p['CHECKOUT_PORT']}",
        "CURRENCY_ADDR": f"{h}:{p['CURRENCY_PORT']}",
        "EMAIL_ADDR": f"http://{h}:{p['EMAIL_PORT']}",
        "PAYMENT_ADDR": f"{h}:{p['PAYMENT_PORT']}",
        "PRODUCT_CATALOG_ADDR": f"{h}:{p['PRODUCT_CATALOG_PORT']}",
        "QUOTE_ADDR": f"http://{h}:{p['QUOTE_PORT']}",
        "RECOMMENDATION_ADDR": f"{h}:{p['RECOMMENDATION_PORT']}",
        "SHIPPING_ADDR": f"{h}:{p['SHIPPING_PORT']}",
        "FRONTEND_ADDR": f"{h}:{p['FRONTEND_PORT']}",
        "FRONTEND_PROXY_ADDR": f"{h}:{p['ENVOY_PORT']}",
        "IMAGE_PROVIDER_HOST": h,
        "IMAGE_PROVIDER_PORT": str(p["IMAGE_PROVIDER_PORT"]),
        "FLAGD_HOST": h,
        "FLAGD_PORT": str(p["FLAGD_PORT"]),
        "FLAGD_OFREP_PORT": str(p["FLAGD_OFREP_PORT"]),
        "FLAGD_UI_HOST": h,
        "FLAGD_UI_PORT": str(p["FLAGD_UI_PORT"]),
        "KAFKA_ADDR": f"{h}:{p['KAFKA_PORT']}",
        "VALKEY_ADDR": f"{h}:{p['VALKEY_PORT']}",
        "PROMETHEUS_ADDR": f"{h}:{p['PROMETHEUS_PORT']}",
        "PRODUCT_CATALOG_RELOAD_INTERVAL": "10",
        # Short export delays, so a test sees spans, logs and metrics soon after they
        # happen (the demo's SDKs use their defaults: 5 s, 5 s, 60 s).
        **{name: str(value) for name, value in EXPORT_DELAYS_MS.items()},
        # Flag switches take effect on the next request (the demo's flagd RPC providers
        # stream changes; a cache here would make a flag flip visible only later).
        "TRACEBED_FLAG_CACHE_SECONDS": "0",
        "TRACEBED_FLAG_FILE": str(flag_file),
        "PYTHONUNBUFFERED": "1",
    }
    if version == versions.V3:
        env.update(
            {
                # shipping is HTTP/JSON at 3.0.0 (``SHIPPING_ADDR=http://shipping:50050``)
                "SHIPPING_ADDR": f"http://{h}:{p['SHIPPING_PORT']}",
                "KAFKA_TOPIC": versions.KAFKA_TOPIC_DEFAULT,
                "POSTGRES_HOST": h,
                "POSTGRES_PORT": str(p["POSTGRES_PORT"]),
                "TELEMETRY_DOCS_HOST": h,
                "TELEMETRY_DOCS_PORT": str(p["TELEMETRY_DOCS_PORT"]),
            }
        )
    return env


def _otlp_env(service: str, p: dict[str, int], version: str) -> dict[str, str]:
    """The collector port and protocol ``service`` exports to at ``version`` (§5.1)."""
    if service not in versions.OTLP_HTTP_SERVICES[version]:
        return {}
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{p['OTEL_COLLECTOR_PORT_HTTP']}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _svc(
    command: list[str],
    env: dict[str, str],
    probe: dict[str, Any] | None,
    endpoints: dict[str, str] | None = None,
    working_dir: Path | None = None,
    healthcheck: dict[str, Any] | None = None,
) -> dict[str, Any]:
    x: dict[str, Any] = {"stop_signal": "SIGTERM"}
    if probe is not None:
        x["probe"] = probe
    if endpoints:
        x["endpoints"] = endpoints
    svc: dict[str, Any] = {"command": command, "environment": env, "x-tracebed": x}
    if working_dir is not None:
        svc["working_dir"] = str(working_dir)
    if healthcheck is not None:
        svc["healthcheck"] = healthcheck
    return svc


def build_spec(
    workdir: Path,
    sink_otlp_grpc: str,
    ports: dict[str, int] | None = None,
    with_load_generator: bool = False,
    demo_version: str | None = None,
) -> dict[str, Any]:
    """The reference stack as a compose-shaped dict (see notes/stack-spec.md).

    ``demo_version`` is the release the stand-in impersonates (``versions.VERSIONS``;
    None = ``TRACEBED_DEMO_VERSION`` if set, else 3.0.0): every process gets it as
    ``TRACEBED_DEMO_VERSION``; 3.0.0 adds astronomy-db
    (PostgreSQL), serves shipping over HTTP and renames spans in the collector.

    ``workdir`` receives generated configs (nginx, Envoy, Prometheus), the flag file the
    flag service reads (a copy of the bundled one, so switching flags never touches the
    package) and data directories. Nothing is started here.
    """
    version = versions.check(demo_version) if demo_version else versions.current()
    v3 = version == versions.V3
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    collector.environment(sink_otlp_grpc)  # validates the address before allocating ports
    p = allocate_ports(ports)
    h = "127.0.0.1"
    sink_env = collector.environment(sink_otlp_grpc, f"{h}:{p['METRICS_BRIDGE_OTLP_PORT']}")

    flag_file = workdir / "flagd" / "flags.json"
    flag_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundled_flag_file(version), flag_file)
    base = _common_env(p, flag_file, version)

    def env(service: str, **extra: str) -> dict[str, str]:
        return {**base, "OTEL_SERVICE_NAME": service, **_otlp_env(service, p, version), **extra}

    services: dict[str, dict[str, Any]] = {}

    # --- infrastructure -----------------------------------------------------------------
    # rotel, started by the metrics bridge (the collector's spanmetrics connector and the
    # demo Prometheus' OTLP receiver here): rotel sends traces and metrics to the bridge,
    # which passes them on to the sink; Prometheus scrapes what the bridge holds
    services["otel-collector"] = _svc(
        collector.with_bridge(
            collector.command(
                binaries.rotel(),
                p["OTEL_COLLECTOR_PORT_GRPC"],
                p["OTEL_COLLECTOR_PORT_HTTP"],
                demo_version=version,
            ),
            sys.executable,
            p["METRICS_BRIDGE_OTLP_PORT"],
            p["METRICS_BRIDGE_PORT"],
            f"{h}:{p['OTEL_COLLECTOR_PORT_GRPC']}",
            sink_env["ROTEL_EXPORTER_SINK_ENDPOINT"].split("://", 1)[1],
            version,
        ),
        {**sink_env, "ROTEL_LOG_FORMAT": "text", "PYTHONUNBUFFERED": "1"},
        # the bridge listens before it starts rotel, so rotel's port covers both
        {"type": "tcp", "host": h, "port": p["OTEL_COLLECTOR_PORT_GRPC"]},
        {
            "otlp_grpc": f"{h}:{p['OTEL_COLLECTOR_PORT_GRPC']}",
            "otlp_http": f"http://{h}:{p['OTEL_COLLECTOR_PORT_HTTP']}",
            "metrics": f"http://{h}:{p['METRICS_BRIDGE_PORT']}/metrics",
        },
    )
    # ready = the broker answers and topic ``orders`` exists (the wrapper creates it);
    # a shell pipeline, not Python, so each probe attempt costs milliseconds
    kafka_check = [
        "/bin/sh",
        "-c",
        f"{binaries.tansu()} topic list --broker tcp://{h}:{p['KAFKA_PORT']}"
        ' | grep -q \'"name":"orders"\'',
    ]
    services["kafka"] = _svc(
        _python(
            "tracebed.reference.infra.kafka",
            "run",
            "--port",
            str(p["KAFKA_PORT"]),
            "--topic",
            versions.KAFKA_TOPIC_DEFAULT,
        ),
        env("kafka", KAFKA_PORT=str(p["KAFKA_PORT"])),
        {"type": "command", "argv": kafka_check},
        {"kafka": f"{h}:{p['KAFKA_PORT']}"},
        # the demo's only healthcheck besides opensearch's (nc -z kafka 9092)
        healthcheck={
            "test": ["CMD", *kafka_check],
            "interval": "1s",
            "timeout": "5s",
            "retries": 30,
            "start_period": "0s",
        },
    )
    valkey_dir = workdir / "valkey-cart"
    valkey_dir.mkdir(exist_ok=True)
    services["valkey-cart"] = _svc(
        [
            str(binaries.system("redis-server", "redis-server")),
            "--bind",
            h,
            "--port",
            str(p["VALKEY_PORT"]),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(valkey_dir),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ],
        {},
        {"type": "redis", "host": h, "port": p["VALKEY_PORT"]},
        {"redis": f"{h}:{p['VALKEY_PORT']}"},
    )
    if v3:
        # astronomy-db: the demo's healthcheck is pg_isready; ready here = seeded
        db_check = [
            "/bin/sh",
            "-c",
            f"{postgres.bin_dir() / 'psql'} -h {h} -p {p['POSTGRES_PORT']} "
            f"-U {postgres.USER} -d {postgres.DATABASE} -tAc "
            "'SELECT 1 FROM catalog.products LIMIT 1' | grep -q 1",
        ]
        services["astronomy-db"] = _svc(
            _python(
                "tracebed.reference.infra.postgres",
                "run",
                "--port",
                str(p["POSTGRES_PORT"]),
                "--dir",
                str(workdir / "astronomy-db"),
            ),
            {"PYTHONUNBUFFERED": "1"},
            {"type": "command", "argv": db_check},
            {"postgresql": f"{h}:{p['POSTGRES_PORT']}"},
            healthcheck={
                "test": ["CMD", *db_check],
                "interval": "1s",
                "timeout": "5s",
                "retries": 30,
                "start_period": "0s",
            },
        )
    prom_conf = prometheus.render_config(
        workdir,
        {
            "prometheus": (f"{h}:{p['PROMETHEUS_PORT']}", "/metrics"),
            "frontend-proxy": (f"{h}:{p['ENVOY_ADMIN_PORT']}", "/stats/prometheus"),
        },
        bridge=f"{h}:{p['METRICS_BRIDGE_PORT']}",
    )
    services["prometheus"] = _svc(
        prometheus.command(
            binaries.system("prometheus", "prometheus"), workdir, p["PROMETHEUS_PORT"], prom_conf
        ),
        {},
        {"type": "http", "url": f"http://{h}:{p['PROMETHEUS_PORT']}/-/ready", "status": 200},
        {"http": f"http://{h}:{p['PROMETHEUS_PORT']}"},
    )
    nginx_conf = nginx.render_config(workdir, p["IMAGE_PROVIDER_PORT"])
    services["image-provider"] = _svc(
        [
            str(binaries.system("nginx", "nginx")),
            "-p",
            str(nginx_conf.parent),
            "-c",
            str(nginx_conf),
            "-e",
            "stderr",
        ],
        env("image-provider"),
        {"type": "http", "url": f"http://{h}:{p['IMAGE_PROVIDER_PORT']}/status", "status": 200},
        {"http": f"http://{h}:{p['IMAGE_PROVIDER_PORT']}"},
    )

    if v3:
        # telemetry-docs (new at 3.0.0): compose passes no OTEL_RESOURCE_ATTRIBUTES; ready =
        # its compose healthcheck's request (GET /, traced as in the demo), which the service
        # then repeats every 5 s itself (compose: interval 5s)
        docs = f"http://{h}:{p['TELEMETRY_DOCS_PORT']}"
        docs_env = {
            k: v for k, v in env("telemetry-docs").items() if k != "OTEL_RESOURCE_ATTRIBUTES"
        }
        services["telemetry-docs"] = _svc(
            _python("tracebed.reference.services.telemetry_docs"),
            {
                **docs_env,
                "TELEMETRY_DOCS_PORT": str(p["TELEMETRY_DOCS_PORT"]),
                "TRACEBED_HEALTHCHECK_INTERVAL_S": "5",
            },
            {"type": "http", "url": f"{docs}/", "status": 200},
            {"http": docs},
        )

    # --- feature flags ------------------------------------------------------------------
    ofrep = f"http://{h}:{p['FLAGD_OFREP_PORT']}"
    services["flagd"] = _svc(
        _python("tracebed.reference.flagd", "start", "--uri", f"file:{flag_file}"),
        env("flagd"),
        # the gRPC port is bound before OFREP, so OFREP's readiness covers both
        {"type": "http", "url": f"{ofrep}/readyz", "status": 200},
        {"ofrep": ofrep, "grpc": f"{h}:{p['FLAGD_PORT']}"},
    )
    flagd_ui = f"http://{h}:{p['FLAGD_UI_PORT']}"
    services["flagd-ui"] = _svc(
        _python("tracebed.reference.flagd.ui", "--file", str(flag_file)),
        env("flagd-ui"),
        {"type": "http", "url": f"{flagd_ui}/feature/api/flags", "status": 200},
        {"http": f"{flagd_ui}/feature"},
    )

    # --- backends -----------------------------------------------------------------------
    grpc_backends = dict(GRPC_BACKENDS)
    http_backends = dict(HTTP_BACKENDS)
    if v3:
        http_backends["shipping"] = grpc_backends.pop("shipping")  # HTTP/JSON at 3.0.0
    extra_env: dict[str, dict[str, str]] = {}
    if v3:
        extra_env["product-catalog"] = {
            "DB_CONNECTION_STRING": f"postgres://{postgres.USER}:{postgres.PASSWORD}@{h}:"
            f"{p['POSTGRES_PORT']}/{postgres.DATABASE}?sslmode=disable",
        }
        # .NET's connection-string form, as compose.full.yaml gives accounting
        extra_env["accounting"] = {
            "DB_CONNECTION_STRING": f"Host={h};Port={p['POSTGRES_PORT']};"
            f"Username={postgres.USER};Password={postgres.PASSWORD};Database={postgres.DATABASE}",
        }
    for name, (module, port_var) in grpc_backends.items():
        port = p[port_var]
        args = [str(port)] if name == "currency" else []  # the demo passes it as argv[1]
        # currency's meter version comes from VERSION, as in the demo's compose file
        extra = {"VERSION": version} if name == "currency" else {}
        services[name] = _svc(
            _python(f"tracebed.reference.services.{module}", *args),
            env(name, **{port_var: str(port)}, **extra, **extra_env.get(name, {})),
            {"type": "grpc", "host": h, "port": port, "service": ""},
            {"grpc": f"{h}:{port}"},
        )
    for name, (module, port_var) in http_backends.items():
        port = p[port_var]
        services[name] = _svc(
            _python(f"tracebed.reference.services.{module}"),
            env(name, **{port_var: str(port)}),
            {"type": "tcp", "host": h, "port": port},
            {"http": f"http://{h}:{port}"},
        )
    for name, module in CONSUMERS.items():
        # consumers listen on no port: they write this file once partitions are assigned
        ready = workdir / name / "ready"
        ready.parent.mkdir(exist_ok=True)
        ready.unlink(missing_ok=True)
        services[name] = _svc(
            _python(f"tracebed.reference.services.{module}"),
            env(name, TRACEBED_READY_FILE=str(ready), **extra_env.get(name, {})),
            {"type": "command", "argv": ["/bin/sh", "-c", f"test -f {shlex.quote(str(ready))}"]},
        )

    # --- front door ---------------------------------------------------------------------
    frontend_url = f"http://{h}:{p['FRONTEND_PORT']}"
    services["frontend"] = _svc(
        _python("tracebed.reference.frontend"),
        env("frontend", PORT=str(p["FRONTEND_PORT"]), FRONTEND_PORT=str(p["FRONTEND_PORT"])),
        # TCP, not an HTTP request: every frontend request is traced, and readiness probes
        # must not add traces to the sink (the gRPC clients connect lazily anyway)
        {"type": "tcp", "host": h, "port": p["FRONTEND_PORT"]},
        {"http": frontend_url},
    )
    envoy_conf = envoy.render_config(
        workdir,
        p["ENVOY_PORT"],
        p["ENVOY_ADMIN_PORT"],
        envoy.Upstreams(
            frontend=p["FRONTEND_PORT"],
            image_provider=p["IMAGE_PROVIDER_PORT"],
            flagd=p["FLAGD_OFREP_PORT"],
            flagd_ui=p["FLAGD_UI_PORT"],
            loadgen=p["LOCUST_WEB_PORT"],
            collector_grpc=p["OTEL_COLLECTOR_PORT_GRPC"],
            collector_http=p["OTEL_COLLECTOR_PORT_HTTP"],
            telemetry_docs=p["TELEMETRY_DOCS_PORT"] if v3 else None,
        ),
        demo_version=version,
    )
    proxy_url = f"http://{h}:{p['ENVOY_PORT']}"
    services["frontend-proxy"] = _svc(
        envoy.command(binaries.envoy(), envoy_conf),
        env("frontend-proxy", ENVOY_PORT=str(p["ENVOY_PORT"])),
        {"type": "http", "url": f"http://{h}:{p['ENVOY_ADMIN_PORT']}/ready", "status": 200},
        {"http": proxy_url, "admin": f"http://{h}:{p['ENVOY_ADMIN_PORT']}"},
    )
    if with_load_generator:
        from tracebed.reference.loadgen import locust_command

        services["load-generator"] = _svc(
            locust_command(binaries.locust(), proxy_url, p["LOCUST_WEB_PORT"], version=version),
            env(
                "load-generator",
                LOCUST_HOST=proxy_url,
                LOCUST_WEB_PORT=str(p["LOCUST_WEB_PORT"]),
                LOCUST_WEB_HOST=h,
                LOCUST_USERS="5",
                LOCUST_BROWSER_TRAFFIC_ENABLED="false",
            ),
            {"type": "http", "url": f"http://{h}:{p['LOCUST_WEB_PORT']}/", "status": 200},
            {"http": f"http://{h}:{p['LOCUST_WEB_PORT']}"},
            working_dir=workdir,
        )

    present = set(services)
    for name, svc in services.items():
        deps = _depends_on(name, present, version)
        if deps:
            svc["depends_on"] = deps

    optional: dict[str, str] = {}
    if not with_load_generator:
        optional["load-generator"] = "not requested (build_spec(with_load_generator=False))"
    return {
        "name": NAME,
        "services": services,
        "x-tracebed-stack": {
            "demo_version": version,
            "frontend_url": proxy_url,
            "flagd_ofrep_url": ofrep,
            "flagd_ui_url": f"{proxy_url}/feature",
            "flag_file": str(flag_file),
            "sink_otlp_grpc": sink_otlp_grpc,
            "ports": dict(p),
            "absent": dict(ABSENT_BY_VERSION[version]),
            # demo depends_on edges dropped because their target is absent or not requested
            "dropped_depends_on": _dropped_edges(present, version),
            "not_started": optional,
        },
    }
