"""load-generator: Locust with the demo 2.0.2 task mix (started only when asked)."""

from __future__ import annotations

from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def locust_command(locust: Path, host: str, web_port: int, users: int = 5) -> list[str]:
    """Locust as the demo runs it (autostart, web UI for Envoy's /loadgen route).

    ``--autostart`` starts the users at once without a human, like ``--headless``, but
    keeps the web UI the proxy routes ``/loadgen`` to.
    """
    return [
        str(locust),
        "-f",
        str(LOCUSTFILE),
        "--host",
        host,
        "--autostart",
        "-u",
        str(users),
        "-r",
        str(users),
        "--web-host",
        "127.0.0.1",
        "--web-port",
        str(web_port),
        "--skip-log-setup",
    ]
