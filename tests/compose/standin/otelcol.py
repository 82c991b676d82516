"""A stand-in for the demo's otel-collector container, for tests only.

The contrib collector image cannot be pulled here, so this entrypoint reads the same
``--config=`` files the demo's command passes (the demo's own otelcol-config.yml, its extras, and
tracebed's overlay), merges them with the collector's rules, and runs rotel with one OTLP/gRPC
exporter per ``otlp``-type exporter of the traces pipelines whose host resolves in this network
(here: only ``otlp/tracebed``; Jaeger is not part of the test project).
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

from tracebed.reference.infra import binaries
from tracebed.stack.collector_overlay import load_config, merge_all, traces_pipelines


def _expand(value: str) -> str:
    return re.sub(
        r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: os.environ.get(m.group(1), ""), value
    )


def main() -> None:
    files = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--config=")]
    merged = merge_all([load_config(Path(f)) for f in files])
    env = dict(os.environ)
    names: list[str] = []
    for pipeline, exporters in traces_pipelines(merged).items():
        for exporter in exporters:
            if exporter.split("/")[0] != "otlp":
                continue
            endpoint = _expand(str(merged["exporters"][exporter]["endpoint"]))
            host = endpoint.split("://")[-1].rsplit(":", 1)[0]
            try:
                socket.getaddrinfo(host, None)
            except OSError:
                print(f"stand-in: {pipeline}/{exporter} -> {endpoint}: unresolvable, skipped")
                continue
            name = f"e{len(names)}"
            names.append(f"{name}:otlp")
            env[f"ROTEL_EXPORTER_{name.upper()}_ENDPOINT"] = "http://" + endpoint.split("://")[-1]
            env[f"ROTEL_EXPORTER_{name.upper()}_PROTOCOL"] = "grpc"
            print(f"stand-in: {pipeline}/{exporter} -> {endpoint}", flush=True)
    if not names:
        sys.exit("stand-in: no reachable traces exporter in the merged config")
    env["ROTEL_EXPORTERS"] = ",".join(names) + ",drop:blackhole"
    env["ROTEL_EXPORTERS_TRACES"] = ",".join(n.split(":")[0] for n in names)
    env["ROTEL_EXPORTERS_METRICS"] = "drop"
    env["ROTEL_EXPORTERS_LOGS"] = "drop"
    rotel = str(binaries.rotel())
    sys.stdout.flush()
    os.execve(
        rotel,
        [
            rotel,
            "start",
            "--otlp-grpc-endpoint",
            "0.0.0.0:4317",
            "--otlp-http-endpoint",
            "0.0.0.0:4318",
            "--traces-batch-timeout",
            "20ms",
        ],
        env,
    )


if __name__ == "__main__":
    main()
