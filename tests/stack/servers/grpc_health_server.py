"""A small real gRPC server with the grpc.health.v1 service (test helper).

Usage: python grpc_health_server.py PORT [DELAY_S | GATE_FILE]
Serves NOT_SERVING until DELAY_S seconds have passed (or until GATE_FILE exists), then SERVING.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    port = int(sys.argv[1])
    arg = sys.argv[2] if len(sys.argv) > 2 else "0"
    gate = None if arg.replace(".", "", 1).isdigit() else Path(arg)
    delay = 0.0 if gate is not None else float(arg)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"grpc health server on {port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    if gate is not None:
        # The test opens the gate once it has seen a failed probe: no timing assumptions.
        while not gate.exists() and not done.wait(0.02):
            pass
    if not done.wait(delay):
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        print("SERVING", flush=True)
    done.wait()
    server.stop(0.5).wait()


if __name__ == "__main__":
    main()
