"""The reference stack's packaging: its Docker inputs are package data, its topology one call."""

from __future__ import annotations

from pathlib import Path

import tracebed
from tracebed.refstack import DEMO_VERSIONS, reference_shape
from tracebed.refstack.compose import DOCKERFILE_DIR


def test_docker_inputs_are_inside_the_package() -> None:
    package = Path(tracebed.__file__).resolve().parent
    assert DOCKERFILE_DIR.is_relative_to(package)  # found in an installed wheel too
    assert (DOCKERFILE_DIR / "Dockerfile").is_file()
    assert (DOCKERFILE_DIR / "docker-compose.yml").is_file()


def test_reference_shape_says_what_it_leaves_out() -> None:
    topo = reference_shape(with_load_generator=True, demo_version="2.0.2")
    assert {"frontend-proxy", "cart", "load-generator"} <= set(topo.services)
    assert set(topo.absent) == {"jaeger", "grafana", "opensearch"}
    assert topo.meta.declared and topo.meta.frontend_url
    assert "load-generator" not in reference_shape().services


def test_the_release_reaches_the_spec_and_its_meta() -> None:
    assert reference_shape().meta.demo_version == "3.0.0"  # the default
    old = reference_shape(demo_version="2.0.2")
    assert old.meta.demo_version == "2.0.2" and "astronomy-db" not in old.services
    assert "astronomy-db" in reference_shape(demo_version="3.0.0").services


def test_the_offered_releases_are_the_stand_ins() -> None:
    from tracebed.reference import versions

    assert DEMO_VERSIONS == versions.VERSIONS and DEMO_VERSIONS[0] == versions.DEFAULT


def test_the_image_has_postgresql_for_the_3_0_0_astronomy_db() -> None:
    from tracebed.refstack import images

    # the 3.0.0 stand-in runs Debian's initdb/postgres (reference/infra/postgres.py)
    assert "postgresql" in images.BASE_PACKAGES
