"""load-generator: Locust with the demo's task mix (2.0.2's Locust, or 3.0.0's k6 script)."""

from __future__ import annotations

from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: 3.0.0's k6 script (tasks, weights, headers, flags) as a Locust user.
LOCUSTFILE_V3 = Path(__file__).with_name("locustfile_v3.py")


def locust_command(
    locust: Path, host: str, web_port: int, users: int = 5, version: str = "2.0.2"
) -> list[str]:
    """Locust as the demo runs it (autostart, web UI for Envoy's /loadgen route).

    ``--autostart`` starts the users at once without a human, like ``--headless``, but
    keeps the web UI the proxy routes ``/loadgen`` to. (3.0.0's k6 has no web UI; the
    stand-in keeps Locust's, on 127.0.0.1, as its readiness hook.)
    """
    return [
        str(locust),
        "-f",
        str(LOCUSTFILE_V3 if version == "3.0.0" else LOCUSTFILE),
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
