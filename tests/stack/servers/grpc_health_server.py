"""A small real gRPC server with the grpc.health.v1 service (test helper).

Usage: python grpc_health_server.py PORT [DELAY_S]
Serves NOT_SERVING for DELAY_S seconds after start, then SERVING.
"""

from __future__ import annotations

import signal
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"grpc health server on {port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    if not done.wait(delay):
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        print("SERVING", flush=True)
    done.wait()
    server.stop(0.5).wait()


if __name__ == "__main__":
    main()
