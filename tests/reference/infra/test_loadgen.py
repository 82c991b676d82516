"""The locustfile keeps the demo 2.0.2 task mix (demo-facts §10)."""

from __future__ import annotations

import json
import subprocess
import sys

from tracebed.reference.infra.binaries import locust
from tracebed.reference.loadgen import LOCUSTFILE, locust_command

DEMO_WEIGHTS = {
    "index": 1,
    "browse_product": 10,
    "get_recommendations": 3,
    "get_ads": 3,
    "view_cart": 3,
    "add_to_cart": 2,
    "checkout": 1,
    "checkout_multi": 1,
    "flood_home": 5,
}

# Locust monkey-patches the interpreter with gevent on import: inspect it in a child process.
_INSPECT = """
import collections, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("locustfile", sys.argv[1])
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
user = mod.WebsiteUser
print(json.dumps({"weights": collections.Counter(t.__name__ for t in user.tasks),
                  "wait": [user.wait_time(None) for _ in range(200)],
                  "products": mod.PRODUCTS, "categories": mod.CATEGORIES}))
"""


def test_task_weights_wait_time_and_data_match_the_demo() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _INSPECT, str(LOCUSTFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["weights"] == DEMO_WEIGHTS
    assert all(1 <= w <= 10 for w in data["wait"])
    assert len(data["products"]) == 10 and "OLJCESPC7Z" in data["products"]
    assert data["categories"][-1] is None  # requests drops it: random ads


def test_locust_command_autostarts_against_the_proxy() -> None:
    cmd = locust_command(locust(), "http://127.0.0.1:8080", 8089, users=5)
    assert cmd[0].endswith("locust") and "--autostart" in cmd and "--headless" not in cmd
    assert cmd[cmd.index("--host") + 1] == "http://127.0.0.1:8080"
    assert cmd[cmd.index("-u") + 1] == "5"
