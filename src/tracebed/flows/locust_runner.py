"""Runs one headless Locust load run; started by `tracebed.flows.load.run_load` in a subprocess.

Locust monkey-patches the process with gevent on import, so it never runs inside the test
process: `python -m tracebed.flows.locust_runner --config CFG.json --output OUT.json`.
Each simulated user is a `ShopClient` (the same flows tests use) running the demo's task mix;
every request is reported to Locust's stats and recorded with its trace id for verification.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

STATS_PERCENTILES = (0.5, 0.95)


def run(config: dict[str, Any]) -> dict[str, Any]:
    # Import order matters: locust monkey-patches (ssl, sockets) on import, which must happen
    # before requests/urllib3 import ssl.
    from locust import User, between  # isort: skip
    from locust.env import Environment  # isort: skip

    import gevent
    import gevent.event
    import requests

    from tracebed.flows.client import ShopClient
    from tracebed.flows.result import FlowResult
    from tracebed.flows.tasks import task_mix

    url: str = config["url"]
    mix = task_mix(config.get("tasks"))
    max_requests = int(config.get("max_requests", 100_000))
    records: list[dict[str, Any]] = []
    errors: dict[str, int] = {}
    stopping = {"reason": "duration"}
    done = gevent.event.Event()

    class FlowFailure(Exception):
        pass

    def make_task(name: str) -> Any:
        def run_task(user: Any) -> None:
            user.shop.run_task(name)

        run_task.__name__ = name
        return run_task

    class ShopUser(User):
        host = url
        wait_time = between(float(config["wait_min"]), float(config["wait_max"]))
        tasks = {make_task(name): weight for name, weight in mix.items()}  # type: ignore[assignment]

        def on_start(self) -> None:
            self.shop = ShopClient(
                url,
                session=requests.Session(),
                timeout=float(config["timeout"]),
                synthetic=True,  # as the demo's load generator marks its traffic
                ofrep_url=config.get("ofrep_url"),
                on_result=self.record,
            )
            self.shop.index()  # the load generator's on_start also opens the home page

        def on_stop(self) -> None:
            self.shop.session.close()

        def record(self, result: FlowResult) -> None:
            failure = None
            if not result.ok:
                text = result.error or f"HTTP {result.status_code}"
                failure = FlowFailure(text)
                key = f"{result.name}: {text}"
                errors[key] = errors.get(key, 0) + 1
            env.events.request.fire(
                request_type=result.request.method,
                name=result.name,
                response_time=result.elapsed * 1000,
                response_length=len(result.text),
                exception=failure,
                context={"trace_id": result.trace_id},
            )
            if len(records) < max_requests:
                records.append(
                    {
                        "trace_id": result.trace_id,
                        "span_id": result.span_id,
                        "task": result.task,
                        "name": result.name,
                        "status": result.status_code,
                        "elapsed_ms": round(result.elapsed * 1000, 3),
                    }
                )
            if len(records) >= max_requests and not done.is_set():
                stopping["reason"] = "max_requests"
                done.set()

    env = Environment(user_classes=[ShopUser], stop_timeout=float(config["stop_timeout"]))

    def user_error(user_instance: Any, exception: BaseException, tb: Any) -> None:
        key = f"user error: {type(exception).__name__}: {exception}"
        errors[key] = errors.get(key, 0) + 1

    env.events.user_error.add_listener(user_error)
    runner = env.create_local_runner()
    started, clock = time.time(), time.monotonic()
    runner.start(int(config["users"]), spawn_rate=float(config["spawn_rate"]))

    # The runner's own greenlet group can be empty once users are spawned, so the run's end
    # is this event: set by the duration's timeout or by the request bound.
    def interrupted() -> None:  # Ctrl-C / SIGTERM: end early, still report what was done
        stopping["reason"] = "interrupted"
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, interrupted)
    done.wait(timeout=float(config["duration_s"]))
    runner.quit()  # users finish the task in flight (up to stop_timeout), then stop
    elapsed = time.monotonic() - clock

    per_name = []
    for (name, method), entry in sorted(env.stats.entries.items()):
        per_name.append(
            {
                "name": name,
                "method": method,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "p50_ms": entry.get_response_time_percentile(0.5) if entry.num_requests else 0,
                "p95_ms": entry.get_response_time_percentile(0.95) if entry.num_requests else 0,
            }
        )
    total = env.stats.total
    return {
        "started": started,
        "elapsed_s": elapsed,
        "stopped_by": stopping["reason"],
        "requests": total.num_requests,
        "failures": total.num_failures,
        "per_name": per_name,
        "results": records,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracebed.flows.locust_runner")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    summary = run(config)
    args.output.write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
