"""The collector overlay, checked against the real demo 2.0.2 collector configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.compose.conftest import REPO, connector_fed
from tracebed.cli.collector_overlay import command as overlay_cli
from tracebed.stack.collector_overlay import (
    EXPORTER_NAME,
    SIGNALS,
    OverlayError,
    build_overlay,
    load_config,
    merge,
    merge_all,
    render_overlay,
    signal_pipelines,
    traces_pipelines,
)


def _pipelines(config: dict[str, Any]) -> dict[str, Any]:
    return config["service"]["pipelines"]


@pytest.fixture
def demo_bases(demo_dir: Path) -> list[Path]:
    return [demo_dir / "otelcol-config.yml", demo_dir / "otelcol-config-extras.yml"]


def test_merge_follows_the_collector_rules() -> None:
    base: dict[str, Any] = {"a": {"x": 1, "l": [1, 2]}, "keep": {"k": True}}
    over: dict[str, Any] = {"a": {"y": 2, "l": [3]}, "new": None}
    assert merge(base, over) == {
        "a": {"x": 1, "y": 2, "l": [3]},  # maps merged, list replaced
        "keep": {"k": True},
        "new": None,
    }
    assert base["a"]["l"] == [1, 2], "merge must not modify its inputs"


def test_naive_overlay_would_drop_the_demo_exporters(demo_bases: list[Path]) -> None:
    # Why the overlay restates the list: a bare [otlp/tracebed] replaces Jaeger and spanmetrics.
    merged = merge_all([load_config(p) for p in demo_bases])
    naive = {"service": {"pipelines": {"traces": {"exporters": [EXPORTER_NAME]}}}}
    assert _pipelines(merge(merged, naive))["traces"]["exporters"] == [EXPORTER_NAME]


def test_demo_overlay_keeps_every_exporter_and_adds_the_test_one(demo_bases: list[Path]) -> None:
    configs = [load_config(p) for p in demo_bases]
    assert configs[1] == {}, "2.0.2's extras file is all comments"
    before = merge_all(configs)
    overlay = build_overlay(configs, endpoint="host.docker.internal:4317")
    after = merge(before, overlay)

    assert after["exporters"][EXPORTER_NAME] == {
        "endpoint": "host.docker.internal:4317",
        "tls": {"insecure": True},
    }
    for name, exporter in before["exporters"].items():
        assert after["exporters"][name] == exporter, f"exporter {name} changed"
    traces = traces_pipelines(before)
    assert traces == {"traces": ["otlp", "debug", "spanmetrics"]}
    # every pipeline of the three signals: the demo's Jaeger, Prometheus, OpenSearch kept
    assert {s: signal_pipelines(before, s) for s in SIGNALS} == {
        "traces": {"traces": ["otlp", "debug", "spanmetrics"]},
        "metrics": {"metrics": ["otlphttp/prometheus", "debug"]},
        "logs": {"logs": ["opensearch", "debug"]},
    }
    for name, pipeline in _pipelines(before).items():
        got = _pipelines(after)[name]
        if name.split("/")[0] in SIGNALS:
            assert got["exporters"] == pipeline["exporters"] + [EXPORTER_NAME]
            assert {k: v for k, v in got.items() if k != "exporters"} == {
                k: v for k, v in pipeline.items() if k != "exporters"
            }
        else:
            assert got == pipeline, f"pipeline {name} of another signal changed"
    # Everything outside exporters and pipelines is untouched.
    for section in ("receivers", "processors", "connectors"):
        assert after[section] == before[section]
    assert after["service"]["telemetry"] == before["service"]["telemetry"]


def test_extras_that_replace_the_traces_exporters_are_respected(
    tmp_path: Path, demo_bases: list[Path]
) -> None:
    # The example in the demo's extras file, uncommented: the overlay must build on its list.
    extras = tmp_path / "extras.yml"
    extras.write_text(
        "exporters:\n  otlphttp/example:\n    endpoint: http://example:4318\n"
        "service:\n  pipelines:\n    traces:\n      exporters: [spanmetrics, otlphttp/example]\n"
        "    traces/second:\n      receivers: [otlp]\n      exporters: [debug]\n"
    )
    overlay = build_overlay([load_config(demo_bases[0]), load_config(extras)])
    assert _pipelines(overlay) == {
        "traces": {"exporters": ["spanmetrics", "otlphttp/example", EXPORTER_NAME]},
        "traces/second": {"exporters": ["debug", EXPORTER_NAME]},
        "metrics": {"exporters": ["otlphttp/prometheus", "debug", EXPORTER_NAME]},
        "logs": {"exporters": ["opensearch", "debug", EXPORTER_NAME]},
    }


def test_span_metrics_leave_through_a_pipeline_that_exports_to_tracebed(
    demo_bases: list[Path],
) -> None:
    # 2.0.2: traces -> connector spanmetrics -> metrics (with hostmetrics, otlp, ...); what the
    # connector derives is exported by the metrics pipeline that receives from it.
    configs = [load_config(p) for p in demo_bases]
    merged = merge_all(configs)
    after = merge(merged, build_overlay(configs))
    assert list(merged["connectors"]) == ["spanmetrics"]
    fed = connector_fed(after, "spanmetrics")
    assert fed == ["metrics"]
    assert "spanmetrics" in _pipelines(after)["traces"]["exporters"]  # still derived
    for name in fed:
        assert _pipelines(after)[name]["exporters"][-1] == EXPORTER_NAME


@pytest.mark.parametrize(
    ("pipelines", "restated"),
    [
        # no logs pipeline: fine, just no logs
        (
            "    traces: {receivers: [otlp], exporters: [debug]}\n"
            "    metrics: {receivers: [otlp], exporters: [debug]}\n",
            {"traces", "metrics"},
        ),
        # named pipelines of each signal, and profiles (the sink takes no profiles) left alone
        (
            "    traces/a: {receivers: [otlp], exporters: [debug]}\n"
            "    logs/x: {receivers: [otlp], exporters: [debug]}\n"
            "    logs/y: {receivers: [otlp], exporters: [debug]}\n"
            "    profiles: {receivers: [otlp], exporters: [debug]}\n",
            {"traces/a", "logs/x", "logs/y"},
        ),
    ],
)
def test_each_signal_present_is_restated_and_absent_ones_are_fine(
    tmp_path: Path, pipelines: str, restated: set[str]
) -> None:
    path = tmp_path / "c.yml"
    path.write_text("exporters: {debug: {}}\nservice:\n  pipelines:\n" + pipelines)
    overlay = yaml.safe_load(render_overlay([path]))
    assert set(_pipelines(overlay)) == restated
    for name in restated:
        assert _pipelines(overlay)[name]["exporters"] == ["debug", EXPORTER_NAME]


def test_overlay_is_idempotent(demo_bases: list[Path]) -> None:
    configs = [load_config(p) for p in demo_bases]
    once = build_overlay(configs)
    twice = build_overlay([*configs, once])
    assert twice == once


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("receivers: {}\n", "no service.pipelines"),
        ("service:\n  pipelines:\n    metrics: {exporters: [debug]}\n", "no traces pipeline"),
        ("service:\n  pipelines:\n    traces: {exporters: debug}\n", "must be a list"),
        ("- a\n- b\n", "is a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_configs_get_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yml"
    path.write_text(text)
    with pytest.raises(OverlayError, match=message):
        render_overlay([path])


@pytest.mark.parametrize("endpoint", ["sink", "sink:", "sink:99999", "http://sink:4317", ""])
def test_bad_endpoints_are_rejected(demo_bases: list[Path], endpoint: str) -> None:
    with pytest.raises(OverlayError, match="endpoint"):
        render_overlay(demo_bases, endpoint=endpoint)


@pytest.mark.parametrize("endpoint", ["172.17.0.1:4317", "[::1]:4317", "${env:SINK}", "${X}"])
def test_good_endpoints_are_kept(demo_bases: list[Path], endpoint: str) -> None:
    text = render_overlay(demo_bases, endpoint=endpoint)
    assert yaml.safe_load(text)["exporters"][EXPORTER_NAME]["endpoint"] == endpoint


def test_cli_prints_yaml_and_writes_files(tmp_path: Path, demo_bases: list[Path]) -> None:
    args = [a for p in demo_bases for a in ("--base", str(p))]
    runner = CliRunner()
    res = runner.invoke(overlay_cli, [*args, "--endpoint", "h:1"])
    assert res.exit_code == 0, res.output
    printed = yaml.safe_load(res.stdout)
    assert _pipelines(printed)["traces"]["exporters"][-1] == EXPORTER_NAME

    out = tmp_path / "sub" / "overlay.yml"
    res = runner.invoke(overlay_cli, [*args, "--endpoint", "h:1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(out.read_text()) == printed

    res = runner.invoke(overlay_cli, ["--base", str(demo_bases[1])])
    assert res.exit_code == 2
    assert "no service.pipelines" in res.output

    res = runner.invoke(overlay_cli, ["--base", str(tmp_path / "missing.yml")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_shipped_overlay_matches_the_generator(demo_bases: list[Path]) -> None:
    # collector-config/otelcol-tracebed.yml is generated; a hand edit or a stale file fails here.
    shipped = REPO / "collector-config" / "otelcol-tracebed.yml"
    assert shipped.read_text() == render_overlay(demo_bases)
