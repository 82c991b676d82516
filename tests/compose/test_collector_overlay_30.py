"""The collector overlay against demo 3.0.0's layered collector configs (the real files).

3.0.0 loads core, full, observability and extras in that order (compose.observability.yaml's
command); the observability layer restates the traces exporters with the renamed
``otlp_grpc/jaeger``. The overlay must keep every one of them in every layering, and names its
own exporter as 3.0.0 names its exporters (``otlp_grpc``; ``otlp`` is a deprecated alias there).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.compose.conftest import connector_fed
from tests.demo_layout import DEMO30, LAYERS, demo30_checkout, require_demo30
from tracebed.stack.collector_overlay import (
    EXPORTER_NAME,
    EXPORTER_NAME_GRPC,
    SIGNALS,
    build_overlay,
    collector_config_files,
    load_config,
    merge,
    merge_all,
    signal_pipelines,
    traces_pipelines,
)

CORE, FULL, OBS, EXTRAS = (
    "otelcol-config.yml",
    "otelcol-config-full.yml",
    "otelcol-config-observability.yml",
    "otelcol-config-extras.yml",
)


def _configs(*names: str) -> list[dict[str, Any]]:
    require_demo30()
    return [load_config(DEMO30 / n) for n in names]


def _pipelines(config: dict[str, Any]) -> dict[str, Any]:
    return config["service"]["pipelines"]


@pytest.mark.parametrize(
    ("layers", "signals"),
    [
        (
            (CORE, EXTRAS),
            {"traces": ["debug", "span_metrics"], "metrics": ["debug"], "logs": ["debug"]},
        ),
        (
            (CORE, FULL, EXTRAS),
            {"traces": ["debug", "span_metrics"], "metrics": ["debug"], "logs": ["debug"]},
        ),
        (
            (CORE, FULL, OBS, EXTRAS),
            {
                "traces": ["debug", "otlp_grpc/jaeger", "span_metrics"],
                "metrics": ["debug", "otlp_http/prometheus"],
                "logs": ["debug", "opensearch"],
            },
        ),
    ],
)
def test_every_layering_keeps_its_exporters_and_adds_the_test_one(
    layers: tuple[str, ...], signals: dict[str, list[str]]
) -> None:
    configs = _configs(*layers)
    before = merge_all(configs)
    assert traces_pipelines(before) == {"traces": signals["traces"]}
    assert {s: signal_pipelines(before, s) for s in SIGNALS} == {
        s: {s: exporters} for s, exporters in signals.items()
    }
    overlay = build_overlay(configs, endpoint="host.docker.internal:4317", release="3.0.0")
    after = merge(before, overlay)
    for signal, exporters in signals.items():  # Jaeger, Prometheus, OpenSearch kept, ours last
        assert _pipelines(after)[signal]["exporters"] == [*exporters, EXPORTER_NAME_GRPC]
    # every exporter definition (otlp_grpc/jaeger, otlp_http/prometheus, opensearch, ...) kept
    assert {k: v for k, v in after["exporters"].items() if k != EXPORTER_NAME_GRPC} == before[
        "exporters"
    ]
    for name, pipeline in _pipelines(before).items():
        got = _pipelines(after)[name]
        if name in SIGNALS:
            assert {k: v for k, v in got.items() if k != "exporters"} == {
                k: v for k, v in pipeline.items() if k != "exporters"
            }
        else:
            assert got == pipeline, f"{name} pipeline changed"  # profiles: the sink takes none
    for section in ("receivers", "processors", "connectors", "extensions"):
        assert after.get(section) == before.get(section)
    assert after["service"].get("extensions") == before["service"].get("extensions")


@pytest.mark.parametrize("layers", [(CORE, EXTRAS), (CORE, FULL, EXTRAS), (CORE, FULL, OBS, EXTRAS)])
def test_span_metrics_reach_the_sink_in_every_layering(layers: tuple[str, ...]) -> None:
    # 3.0.0 renames the connector span_metrics; traces export to it and the metrics pipeline
    # receives from it (the full layer restates those receivers, span_metrics among them).
    configs = _configs(*layers)
    after = merge(merge_all(configs), build_overlay(configs, release="3.0.0"))
    assert list(after["connectors"]) == ["span_metrics"]
    assert "span_metrics" in _pipelines(after)["traces"]["exporters"]
    fed = connector_fed(after, "span_metrics")
    assert fed == ["metrics"]
    assert _pipelines(after)["metrics"]["exporters"][-1] == EXPORTER_NAME_GRPC


def test_the_observability_layer_really_uses_the_renamed_exporters() -> None:
    # What the overlay preserves at 3.0.0 (demo-facts-3.0.md §11.4): renamed exporters in
    # every pipeline, the traces processors that rename spans, and the opamp extension.
    merged = merge_all(_configs(CORE, FULL, OBS, EXTRAS))
    assert _pipelines(merged)["metrics"]["exporters"] == ["debug", "otlp_http/prometheus"]
    assert _pipelines(merged)["logs"]["exporters"] == ["debug", "opensearch"]
    assert _pipelines(merged)["profiles"]["exporters"] == ["debug", "otlp_grpc/firepit"]
    assert "transform/sanitize_spans" in _pipelines(merged)["traces"]["processors"]
    assert merged["service"]["extensions"] == ["opamp"]
    # 2.0.2's names are gone: an overlay written for 2.0.2 would name exporters that do not exist
    assert not {"otlp", "otlphttp/prometheus", "spanmetrics"} & set(merged["exporters"])


def test_the_extras_fork_seam_example_is_built_on(tmp_path: Path) -> None:
    # 3.0.0's extras file documents how a fork adds its own backend; uncommented, the overlay
    # must restate the fork's list, not the upstream one.
    require_demo30()
    text = (DEMO30 / EXTRAS).read_text()
    example = text[text.index("# exporters:") :]
    fork = tmp_path / "extras.yml"
    fork.write_text("".join(re.sub(r"^# ?", "", line) for line in example.splitlines(True)))
    configs = [*_configs(CORE, FULL, OBS), load_config(fork)]
    overlay = build_overlay(configs)
    assert _pipelines(overlay) == {
        "traces": {
            "exporters": [
                "otlp_grpc/jaeger",
                "debug",
                "span_metrics",
                "otlp_grpc/mybackend",
                EXPORTER_NAME_GRPC,
            ]
        },
        "metrics": {
            "exporters": [
                "otlp_http/prometheus",
                "debug",
                "otlp_grpc/mybackend",
                EXPORTER_NAME_GRPC,
            ]
        },
        "logs": {"exporters": ["opensearch", "debug", "otlp_grpc/mybackend", EXPORTER_NAME_GRPC]},
    }


def test_the_exporter_is_named_as_the_release_names_its_exporters() -> None:
    # The configs say it where they name OTLP exporters (observability: otlp_grpc/jaeger) ...
    overlay = build_overlay(_configs(CORE, FULL, OBS, EXTRAS))
    assert list(overlay["exporters"]) == [EXPORTER_NAME_GRPC]
    # ... the core layer alone names none (only debug): the project's release decides.
    assert list(build_overlay(_configs(CORE, EXTRAS), release="3.0.0")["exporters"]) == [
        EXPORTER_NAME_GRPC
    ]
    assert list(build_overlay(_configs(CORE, EXTRAS), release="2.0.2")["exporters"]) == [
        EXPORTER_NAME
    ]


@pytest.mark.parametrize(
    ("files", "bases"),
    [
        (["compose.yaml"], [CORE, EXTRAS]),
        (["compose.yaml", "compose.full.yaml"], [CORE, FULL, EXTRAS]),
        (list(LAYERS), [CORE, FULL, OBS, EXTRAS]),
        # observability without full still loads the full config (its own comment says why)
        (["compose.yaml", "compose.observability.yaml"], [CORE, FULL, OBS, EXTRAS]),
    ],
)
def test_the_bases_follow_the_merged_collector_command(
    tmp_path: Path, files: list[str], bases: list[str]
) -> None:
    checkout = demo30_checkout(tmp_path / "demo")
    got = collector_config_files([checkout / f for f in files], env_file=checkout / ".env")
    assert got == [checkout / "src" / "otel-collector" / b for b in bases]
