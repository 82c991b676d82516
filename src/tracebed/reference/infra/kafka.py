"""Kafka for the reference stack: the Tansu broker, with topic ``orders`` created at start.

The demo's Kafka auto-creates ``orders`` on first use; Tansu does not, so this wrapper
starts the broker, creates the topic (1 partition, as Kafka's auto-create would), and then
stays in the foreground as the broker's parent, forwarding SIGTERM/SIGINT.

  python -m tracebed.reference.infra.kafka run   --port 9092 [--topic orders]
  python -m tracebed.reference.infra.kafka check --port 9092 [--topic orders]   # exit 0 = ready
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time

from tracebed.reference.infra.binaries import tansu
from tracebed.reference.infra.child import forward_stop_signals

TOPIC = "orders"


def _broker_url(port: int) -> str:
    return f"tcp://127.0.0.1:{port}"


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kafka: tansu exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # bounded start-up wait for a child process, not a test wait
    raise SystemExit(f"kafka: tansu did not listen on {port} within {timeout}s")


def topics(port: int) -> list[str]:
    out = subprocess.run(
        [str(tansu()), "topic", "list", "--broker", _broker_url(port)],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    ).stdout
    return [t["name"] for t in json.loads(out or "[]")]


def run(port: int, topic: str) -> int:
    cmd = [
        str(tansu()),
        "broker",
        "--listener-url",
        _broker_url(port),
        "--advertised-listener-url",
        _broker_url(port),
        "--storage-engine",
        "memory://tansu/",
    ]
    proc = subprocess.Popen(cmd)
    forward_stop_signals(proc)
    try:
        _wait_listening(port, proc)
        subprocess.run(
            [
                str(tansu()),
                "topic",
                "create",
                topic,
                "--broker",
                _broker_url(port),
                "--partitions",
                "1",
            ],
            check=True,
            timeout=10,
            stdout=subprocess.DEVNULL,
        )
        print(f"kafka: tansu on 127.0.0.1:{port}, topic {topic!r} created", flush=True)
    except (SystemExit, subprocess.SubprocessError):
        proc.terminate()
        proc.wait(5)
        raise
    return proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kafka", description="Tansu broker with topic orders")
    parser.add_argument("action", choices=["run", "check"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", default=TOPIC)
    args = parser.parse_args(argv)
    if args.action == "run":
        sys.exit(run(args.port, args.topic))
    try:
        present = args.topic in topics(args.port)
    except (subprocess.SubprocessError, OSError, ValueError):
        present = False
    sys.exit(0 if present else 1)


if __name__ == "__main__":
    main()
