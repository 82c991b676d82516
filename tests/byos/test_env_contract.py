"""The environment contract's failure side: a replacement started without its port variable
exits at once with code 2 and one line naming the variable, as the stand-in's services do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.byos.support import NODE_PAYMENT, PY_RECOMMENDATION
from tests.reference.backends.procs import clean_env


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def test_node_payment_without_its_port_names_it(node_modules: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    env = clean_env({"NODE_PATH": str(node_modules), "OTEL_TRACES_EXPORTER": "none"})
    run = _run([node, "--require", str(NODE_PAYMENT / "opentelemetry.js"),
                str(NODE_PAYMENT / "index.js")], env)  # fmt: skip
    assert run.returncode == 2, run
    assert run.stderr.strip().splitlines()[-1] == "payment: PAYMENT_PORT is not set"


def test_python_recommendation_without_its_port_names_it() -> None:
    env = clean_env({"PRODUCT_CATALOG_ADDR": "127.0.0.1:1", "OTEL_SERVICE_NAME": "recommendation"})
    run = _run([sys.executable, str(PY_RECOMMENDATION)], env)
    assert run.returncode == 2, run
    assert run.stderr.strip() == "recommendation: RECOMMENDATION_PORT is not set"
