"""Prometheus for the reference stack: a minimal config so it starts in well under a second.

The demo's Prometheus has no scrape jobs and receives metrics over OTLP; the Debian build
(2.42) has no OTLP receiver, so it scrapes what the reference stack exposes in Prometheus
format instead: itself and Envoy's admin ``/stats/prometheus``.
"""

from __future__ import annotations

from pathlib import Path

import yaml


def render_config(workdir: Path, targets: dict[str, tuple[str, str]]) -> Path:
    """``targets``: job name -> (host:port, metrics path)."""
    conf_dir = workdir / "prometheus"
    (conf_dir / "data").mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "5s", "scrape_timeout": "3s", "evaluation_interval": "30s"},
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [addr]}]}
            for job, (addr, path) in targets.items()
        ],
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
