"""The bundled suite's reading of the stack's demo release, and its per-release fixtures."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tracebed.errors import ConfigError
from tracebed.paths import release_fixtures, release_versions
from tracebed.suites.otel_demo.release import demo_version


def stack(
    meta: str | None = None, extras: str | None = None, env_file: Path | None = None
) -> object:
    topology = SimpleNamespace(
        extras={"x-tracebed-stack": {"demo_version": extras}} if extras else {},
        env_file=env_file,
        compose_files=(),
    )
    return SimpleNamespace(meta=SimpleNamespace(demo_version=meta), topology=topology)


def test_the_release_comes_from_meta_then_the_stand_in_then_env_then_dot_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# demo\nIMAGE_VERSION=2.0.2\nOTHER=x\n")
    monkeypatch.setenv("TRACEBED_DEMO_VERSION", "9.9.9")
    assert demo_version(stack(meta="3.0.0", extras="2.0.2", env_file=env_file)) == "3.0.0"
    assert demo_version(stack(extras="2.0.2", env_file=env_file)) == "2.0.2"
    assert demo_version(stack(env_file=env_file)) == "9.9.9"
    monkeypatch.delenv("TRACEBED_DEMO_VERSION")
    assert demo_version(stack(env_file=env_file)) == "2.0.2"
    env_file.write_text("IMAGE_VERSION=2.0.2\nDEMO_VERSION='3.0.0'\n")
    assert demo_version(stack(env_file=env_file)) == "3.0.0"  # DEMO_VERSION first
    assert demo_version(stack()) == "3.0.0"  # the default: the demo's current release
    assert demo_version(SimpleNamespace()) == "3.0.0"  # an external stack knows nothing


def test_fixtures_per_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert release_versions("contracts") == ["2.0.2", "3.0.0"]
    assert release_versions("chains") == ["2.0.2", "3.0.0"]
    assert release_fixtures("contracts").name == "3.0.0"  # default release
    assert release_fixtures("chains", "2.0.2").name == "2.0.2"
    with pytest.raises(ConfigError, match="no contracts for demo release 1.0.0"):
        release_fixtures("contracts", "1.0.0")
    # An override laid out flat is used whatever the release.
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "cart.yaml").write_text("service: cart\n")
    monkeypatch.setenv("TRACEBED_FIXTURES", str(tmp_path))
    assert release_fixtures("contracts", "1.0.0") == tmp_path / "contracts"
    assert release_versions("contracts") == []
