"""Images built with no registry: content tags, reuse, the base image, the wheelhouse rules."""

from __future__ import annotations

import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.compose.conftest import require_docker
from tracebed.refstack import images


def test_hash_tree_ignores_build_debris_but_not_content(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    first = images.hash_tree(tmp_path)
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    (tmp_path / "x.egg-info").mkdir()
    (tmp_path / "x.egg-info" / "PKG-INFO").write_text("junk")
    assert images.hash_tree(tmp_path) == first
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert images.hash_tree(tmp_path) != first
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    os.chmod(tmp_path / "pkg" / "a.py", 0o755)
    assert images.hash_tree(tmp_path) != first, "the executable bit is an input too"


def test_tags_depend_on_every_input(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    (tmp_path / "f").write_text("1")
    tag = images.image_tag_for(tmp_path, tmp_path / "Dockerfile", "tracebed/t")
    assert tag.startswith("tracebed/t:") and len(tag.split(":")[1]) == 12
    assert images.image_tag_for(tmp_path, Path("Dockerfile"), "tracebed/t") == tag
    with_arg = images.image_tag_for(tmp_path, Path("Dockerfile"), "tracebed/t", {"A": "1"})
    assert with_arg != tag
    (tmp_path / "f").write_text("2")
    assert images.image_tag_for(tmp_path, Path("Dockerfile"), "tracebed/t") != tag
    base_a = images.base_image_tag(["python3"])
    assert images.base_image_tag(["python3"]) == base_a
    assert images.base_image_tag(["python3", "nginx-light"]) != base_a


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tag_prefix": "x:latest"}, "without a tag"),
        ({"tag_prefix": ""}, "without a tag"),
        ({"dockerfile": "Missing"}, "does not exist"),
    ],
)
def test_bad_build_inputs_are_clear_errors(
    tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    args = {"dockerfile": "Dockerfile", "tag_prefix": "tracebed/t", **kwargs}
    with pytest.raises(ValueError, match=message):
        images.image_tag_for(tmp_path, Path(args["dockerfile"]), args["tag_prefix"])


def test_bad_package_names_are_rejected_before_any_work() -> None:
    with pytest.raises(ValueError, match="not a Debian package name"):
        images.ensure_base_image(["python3", "rm -rf /"])


def _wheel(path: Path, name: str, requires: list[str]) -> None:
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    with zipfile.ZipFile(path / f"{name}-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{name}-1.0.dist-info/METADATA", meta)


def test_wheelhouse_adds_what_only_the_image_python_needs(tmp_path: Path) -> None:
    # redis at 3.11.2 needs async-timeout; at the host's newer 3.11.x it does not.
    _wheel(tmp_path, "redis", ['async-timeout>=4.0.3; python_full_version < "3.11.3"', "x"])
    _wheel(tmp_path, "x", [])
    assert images._missing_for(tmp_path, "3.11.2") == ["async-timeout>=4.0.3"]
    assert images._missing_for(tmp_path, "3.11.7") == []
    _wheel(tmp_path, "async_timeout", [])
    assert images._missing_for(tmp_path, "3.11.2") == []


# --- against a real dockerd -------------------------------------------------------------


@pytest.fixture(scope="module")
def base_image() -> str:
    require_docker()
    return images.ensure_base_image()


@pytest.fixture
def tiny_context(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(
        'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY msg /msg\nCMD ["cat", "/msg"]\n'
    )
    (tmp_path / "msg").write_text(f"hello {tmp_path.name}\n")
    return tmp_path


def _record_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command `images` runs from now on (they still run), to see what was (not) done."""
    ran: list[list[str]] = []
    real = images._run

    def recording(argv: Any, **kwargs: Any) -> str:
        ran.append([str(a) for a in argv])
        return real(argv, **kwargs)

    monkeypatch.setattr(images, "_run", recording)
    return ran


@pytest.fixture
def built_tags() -> Iterator[list[str]]:
    tags: list[str] = []
    yield tags
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True, check=False)


@pytest.mark.docker
def test_base_image_is_bookworm_with_the_stack_parts(
    base_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = _record_runs(monkeypatch)
    assert images.ensure_base_image() == base_image
    made = [a for a in ran if a[0] == "debootstrap" or a[:2] == ["docker", "import"]]
    assert not made, f"a present base image is reused, not made again: {made}"
    out = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            base_image,
            "sh",
            "-c",
            ". /etc/os-release; echo $VERSION_CODENAME; python3 -c 'import platform, venv;"
            " print(platform.python_version())';"
            " for b in redis-server nginx prometheus nc; do command -v $b; done",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "bookworm"
    assert out[1].startswith("3.11.")
    assert [Path(p).name for p in out[2:]] == ["redis-server", "nginx", "prometheus", "nc"]


@pytest.mark.docker
def test_build_image_builds_once_and_rebuilds_on_change(
    base_image: str, tiny_context: Path, built_tags: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = {"BASE_IMAGE": base_image}
    tag = images.build_image(tiny_context, "Dockerfile", "tracebed/test-tiny", args)
    built_tags.append(tag)
    image_id = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ran = _record_runs(monkeypatch)
    assert images.build_image(tiny_context, "Dockerfile", "tracebed/test-tiny", args) == tag
    assert not [a for a in ran if "build" in a], f"an unchanged image is not rebuilt: {ran}"
    monkeypatch.undo()
    again = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert again == image_id
    run = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", tag],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout == f"hello {tiny_context.name}\n"

    (tiny_context / "msg").write_text("changed\n")
    changed = images.build_image(tiny_context, "Dockerfile", "tracebed/test-tiny", args)
    built_tags.append(changed)
    assert changed != tag


@pytest.mark.docker
def test_a_failing_build_names_the_step_and_leaves_no_container(
    base_image: str, tiny_context: Path
) -> None:
    marker = f"tracebed-broken-step-{tiny_context.name}"
    (tiny_context / "Dockerfile").write_text(
        f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN echo {marker} && false\n"
    )
    with pytest.raises(images.ImageBuildError, match=marker):
        images.build_image(
            tiny_context, "Dockerfile", "tracebed/test-tiny", {"BASE_IMAGE": base_image}
        )
    # The classic builder keeps a failed step's container unless told otherwise.
    leftovers = subprocess.run(
        ["docker", "ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert marker not in leftovers
