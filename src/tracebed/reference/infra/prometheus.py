"""Prometheus for the reference stack: a minimal config so it starts in well under a second.

The demo's Prometheus has no scrape jobs and receives metrics over OTLP; the Debian build
(2.42) has no OTLP receiver, so it scrapes what the reference stack exposes in Prometheus
format instead: itself, Envoy's admin ``/stats/prometheus``, and the metrics bridge
(``metrics_bridge.py``), which serves every OTLP metric the collector sends it, named and
labelled as the demo Prometheus' OTLP receiver stores them.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

#: The bridge's scrape interval: short, so a metric is queryable about a second after the
#: collector forwards it (over OTLP the demo's Prometheus has it at once).
BRIDGE_SCRAPE_INTERVAL = "1s"
BRIDGE_JOB = "otlp"


def bridge_job(address: str) -> dict[str, object]:
    """The scrape job for the bridge: ``honor_labels`` keeps the resource's ``job`` and
    ``instance``; a series without them (no service.name, no service.instance.id) would get
    the scrape target's, which Prometheus' OTLP receiver does not add, so they are dropped."""
    return {
        "job_name": BRIDGE_JOB,
        "scrape_interval": BRIDGE_SCRAPE_INTERVAL,
        "scrape_timeout": BRIDGE_SCRAPE_INTERVAL,
        "honor_labels": True,
        "metrics_path": "/metrics",
        "static_configs": [{"targets": [address]}],
        "metric_relabel_configs": [
            {
                "source_labels": [label],
                "regex": re.escape(value),
                "target_label": label,
                "replacement": "",
            }
            for label, value in (("job", BRIDGE_JOB), ("instance", address))
        ],
    }


def render_config(
    workdir: Path, targets: dict[str, tuple[str, str]], bridge: str | None = None
) -> Path:
    """``targets``: job name -> (host:port, metrics path); ``bridge``: the metrics bridge's
    host:port."""
    conf_dir = workdir / "prometheus"
    (conf_dir / "data").mkdir(parents=True, exist_ok=True)
    jobs: list[dict[str, object]] = [
        {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [addr]}]}
        for job, (addr, path) in targets.items()
    ]
    if bridge is not None:
        jobs.append(bridge_job(bridge))
    config = {
        "global": {"scrape_interval": "5s", "scrape_timeout": "3s", "evaluation_interval": "30s"},
        "scrape_configs": jobs,
    }
    conf = conf_dir / "prometheus.yml"
    conf.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return conf


def command(binary: Path, workdir: Path, port: int, config: Path) -> list[str]:
    return [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'prometheus' / 'data'}",
        "--storage.tsdb.retention.time=1h",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.route-prefix=/",
        "--web.enable-lifecycle",
        "--log.level=warn",
    ]
