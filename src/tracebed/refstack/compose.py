"""The reference stack as a Docker Compose project, derived from its own spec.

``tracebed.reference.spec.build_spec`` describes the reference stack as compose-shaped data for
the local backend: commands with host paths, environment with ``127.0.0.1`` addresses, configs
rendered into a work directory. This module turns that same spec into a real compose file whose
services run in containers built with no registry (``images.py``): same service names,
``depends_on`` with the demo's conditions, the healthchecks the spec gives (kafka's, as in the
demo), and the spec's readiness probes kept under ``x-tracebed``.

How a host-side spec becomes runnable in containers:

* paths: the host interpreter prefix (``sys.prefix``) maps to the image's venv ``/opt/tracebed``
  and the host's ``tracebed`` package directory to the installed package in that venv, in
  commands, environment, healthchecks and the configs rendered into the work directory; any
  other host path that a container could not see is an error naming the service;
* the work directory is bind-mounted at the same path into every container, so the flag file
  the harness flips is the one the flag service reads;
* network: the reference stack's services and rendered configs listen on and dial
  ``127.0.0.1:<port>``, so the containers use the host's network namespace
  (``network_mode: host``); probes, endpoints and the sink address stay what the spec says.
  (The real demo keeps its own bridge network: see docker-compose.test.yml, host-gateway.)
* every container carries the run's labels, so a run is listed and swept by label.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

import tracebed
from tracebed.errors import StackError
from tracebed.refstack import images
from tracebed.refstack.images import link_or_copy
from tracebed.stack.compose import escape_dollars
from tracebed.stack.meta import KEY as STACK_META_KEY
from tracebed.stack.readiness import Readiness
from tracebed.stack.topology import Grouping, Topology

CONTAINER_PREFIX = "/opt/tracebed"
CONTAINER_PYTHON = "3.11"  # bookworm's python3
CONTAINER_PACKAGE = f"{CONTAINER_PREFIX}/lib/python{CONTAINER_PYTHON}/site-packages/tracebed"
IMAGE_REPOSITORY = "tracebed/reference"
LABEL_STACK = "io.tracebed.stack"
LABEL_RUN = "io.tracebed.run"
# Package data, so it is found in an installed wheel as well as in the checkout.
DOCKERFILE_DIR = Path(__file__).resolve().parent / "docker"
# Container-visible system locations (from the base image); anything else must be mapped.
_SYSTEM_DIRS = ("/usr/", "/bin/", "/sbin/", "/etc/", "/lib/", "/dev/", "/proc/")


#: The demo's .env ports (2.0.2) for a hand-run project. With host networking every service
#: needs its own port, so the two that share 8080 in the demo move: the frontend to 8082 (the
#: demo's frontend-proxy keeps 8080) and Envoy's admin sits on 10000 as in the demo.
DEMO_PORTS: dict[str, int] = {
    "OTEL_COLLECTOR_PORT_GRPC": 4317,
    "OTEL_COLLECTOR_PORT_HTTP": 4318,
    "KAFKA_PORT": 9092,
    "VALKEY_PORT": 6379,
    "PROMETHEUS_PORT": 9090,
    "IMAGE_PROVIDER_PORT": 8081,
    "FLAGD_OFREP_PORT": 8016,
    "FLAGD_PORT": 8013,
    "FLAGD_UI_PORT": 4000,
    "AD_PORT": 9555,
    "CART_PORT": 7070,
    "CHECKOUT_PORT": 5050,
    "CURRENCY_PORT": 7001,
    "EMAIL_PORT": 6060,
    "PAYMENT_PORT": 50051,
    "PRODUCT_CATALOG_PORT": 3550,
    "QUOTE_PORT": 8090,
    "RECOMMENDATION_PORT": 9001,
    "SHIPPING_PORT": 50050,
    "FRONTEND_PORT": 8082,
    "ENVOY_PORT": 8080,
    "ENVOY_ADMIN_PORT": 10000,
    "LOCUST_WEB_PORT": 8089,
}


class ReferenceComposeError(StackError, ValueError):
    """The spec cannot be run in containers as it stands."""


class PathMap:
    """Host paths to their in-container equivalents (longest prefix first)."""

    def __init__(self, workdir: Path, host_prefix: str | None = None) -> None:
        self.workdir = str(Path(workdir).resolve())
        pairs = {
            str(Path(tracebed.__file__).resolve().parent): CONTAINER_PACKAGE,
            os.path.abspath(host_prefix or sys.prefix): CONTAINER_PREFIX,
        }
        if host_prefix is None and sys.prefix != os.path.realpath(sys.prefix):
            pairs[os.path.realpath(sys.prefix)] = CONTAINER_PREFIX
        self.pairs = sorted(pairs.items(), key=lambda kv: -len(kv[0]))

    def text(self, value: str) -> str:
        for host, container in self.pairs:
            value = value.replace(host, container)
        return value

    def check(self, value: str, where: str) -> None:
        """A mapped absolute path the container cannot see is an error."""
        if not value.startswith("/"):
            return
        path = value.split("=", 1)[-1] if value.startswith("--") else value
        ok = (
            path.startswith((CONTAINER_PREFIX + "/", self.workdir + "/"))
            or path in (CONTAINER_PREFIX, self.workdir)
            or path.startswith(_SYSTEM_DIRS)
        )
        if not ok:
            raise ReferenceComposeError(
                f"{where}: {value!r} is a host path the container cannot see "
                f"(only {CONTAINER_PREFIX}, the work directory {self.workdir} and system "
                "directories are available)"
            )


def _map_argv(argv: list[Any], paths: PathMap, where: str) -> list[str]:
    out = []
    for arg in argv:
        mapped = paths.text(str(arg))
        paths.check(mapped, where)
        out.append(mapped)
    return out


def _map_healthcheck(hc: Mapping[str, Any], paths: PathMap, where: str) -> dict[str, Any]:
    out = dict(hc)
    test = out.get("test")
    if isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"):
        out["test"] = [test[0], *_map_argv(list(test[1:]), paths, where)]
    elif isinstance(test, str):
        out["test"] = paths.text(test)
    return out


def rewrite_workdir_configs(workdir: Path, paths: PathMap) -> list[Path]:
    """Rewrite host paths in the configs the spec rendered (nginx root, ...); return those changed.

    Only small UTF-8 files are touched; data directories (Prometheus TSDB, Valkey) are binary
    or empty at this point.
    """
    changed = []
    for path in sorted(Path(workdir).rglob("*")):
        if not path.is_file() or path.is_symlink() or path.stat().st_size > 1 << 20:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        new = paths.text(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed


def compose_from_spec(
    spec: Mapping[str, Any],
    *,
    image: str,
    workdir: Path,
    run_id: str | None = None,
    host_prefix: str | None = None,
) -> dict[str, Any]:
    """A compose file (as a dict) running ``spec``'s services from ``image``.

    ``workdir`` is the directory ``build_spec`` rendered into; it is mounted at the same path.
    """
    services_in = spec.get("services")
    if not isinstance(services_in, Mapping) or not services_in:
        raise ReferenceComposeError("the spec has no services")
    paths = PathMap(workdir, host_prefix)
    mount = f"{paths.workdir}:{paths.workdir}"
    labels = {LABEL_STACK: str(spec.get("name") or "reference")}
    if run_id:
        labels[LABEL_RUN] = run_id
    services: dict[str, Any] = {}
    for name, svc in services_in.items():
        where = f"service {name}"
        command = svc.get("command")
        if not isinstance(command, list) or not command:
            raise ReferenceComposeError(f"{where}: command must be a non-empty list")
        x = dict(svc.get("x-tracebed") or {})
        out: dict[str, Any] = {
            "image": image,
            "command": _map_argv(command, paths, where),
            "environment": {
                str(k): paths.text(str(v)) for k, v in (svc.get("environment") or {}).items()
            },
            "network_mode": "host",
            # tini as PID 1: forwards SIGTERM to the service and reaps its children.
            "init": True,
            "stop_signal": str(x.get("stop_signal") or "SIGTERM"),
            "stop_grace_period": "5s",
            "volumes": [mount],
            "labels": dict(labels),
        }
        if svc.get("working_dir"):
            wd = paths.text(str(svc["working_dir"]))
            paths.check(wd, where)
            out["working_dir"] = wd
        if svc.get("depends_on"):
            out["depends_on"] = {
                dep: {"condition": (cond or {}).get("condition", "service_started")}
                for dep, cond in svc["depends_on"].items()
            }
        if svc.get("healthcheck"):
            out["healthcheck"] = _map_healthcheck(svc["healthcheck"], paths, where)
        probe = x.get("probe")
        if out.get("healthcheck") and isinstance(probe, Mapping) and probe.get("type") == "command":
            # A command probe runs on the host with host paths; in compose the same check is the
            # container's own healthcheck, which docker evaluates (as the demo's kafka check).
            x["probe"] = {"type": "healthcheck"}
        if x:
            out["x-tracebed"] = x
        services[name] = out
    doc: dict[str, Any] = {"services": services}
    if STACK_META_KEY in spec:
        doc[STACK_META_KEY] = spec[STACK_META_KEY]
    return doc




def render(doc: Mapping[str, Any], header: str = "") -> str:
    lines = [
        "# Generated by tracebed.refstack.compose from tracebed.reference.spec.build_spec;",
        "# do not edit. Shaped like the demo's compose file: same service names and depends_on.",
    ]
    if header:
        lines += [f"# {line}" for line in header.splitlines()]
    body = yaml.safe_dump(
        # `image` may be a deliberate ${VAR} (the hand-run file); it never comes from the spec.
        escape_dollars(dict(doc), keep=frozenset({"image"})),
        sort_keys=False,
        width=100,
    )
    return "\n".join(lines) + "\n" + body


def write_reference_compose(
    workdir: Path,
    sink_otlp_grpc: str,
    *,
    image: str | None = None,
    ports: dict[str, int] | None = None,
    with_load_generator: bool = False,
    run_id: str | None = None,
    demo_version: str | None = None,
) -> Path:
    """Render the reference stack into ``workdir`` and write ``workdir/docker-compose.yml``.

    Builds (or reuses) the reference image unless ``image`` is given. The sink address is the
    one the collector dials; with host networking ``127.0.0.1:PORT`` on the host works.
    """
    from tracebed.reference import versions
    from tracebed.reference.spec import build_spec  # the reference stack is data to us

    workdir = Path(workdir).resolve()
    image = image or build_reference_image()
    spec = build_spec(
        workdir,
        sink_otlp_grpc,
        ports=ports,
        with_load_generator=with_load_generator,
        demo_version=demo_version or versions.DEFAULT,
    )
    paths = PathMap(workdir)
    rewrite_workdir_configs(workdir, paths)
    doc = compose_from_spec(spec, image=image, workdir=workdir, run_id=run_id)
    out = workdir / "docker-compose.yml"
    out.write_text(render(doc, header=f"workdir {workdir}, sink {sink_otlp_grpc}"))
    return out


def reference_compose_topology(
    workdir: Path,
    sink_otlp_grpc: str,
    *,
    image: str | None = None,
    ports: dict[str, int] | None = None,
    with_load_generator: bool = False,
    group_by: str | Path | Grouping | None = None,
    readiness: Readiness | None = None,
    demo_version: str | None = None,
) -> Topology:
    """The reference stack as a Topology loaded from its generated compose file.

    Run it with ``Stack(topology, ComposeBackend())``: tier by tier, readiness from the same
    probes as the local backend (kept under ``x-tracebed``) and docker health for kafka.
    """
    path = write_reference_compose(
        workdir,
        sink_otlp_grpc,
        image=image,
        ports=ports,
        with_load_generator=with_load_generator,
        demo_version=demo_version,
    )
    return Topology.from_compose([path], group_by=group_by, readiness=readiness)


# ---------------------------------------------------------------------------------------------
# image


def build_reference_image(dockerfile_dir: Path = DOCKERFILE_DIR) -> str:
    """The reference stack's image (base + wheelhouse), built only when its inputs changed."""
    dockerfile = dockerfile_dir / "Dockerfile"
    if not dockerfile.is_file():
        raise images.ImageBuildError(f"{dockerfile} is missing")
    base = images.ensure_base_image()
    wheelhouse = images.build_wheelhouse(target_python=images.image_python_version(base))
    stage = _stage_context(wheelhouse)
    tag = images.build_image(stage, dockerfile, IMAGE_REPOSITORY, build_args={"BASE_IMAGE": base})
    # `latest` follows the newest build, for the hand-run refstack/docker/docker-compose.yml.
    subprocess.run(
        ["docker", "tag", tag, f"{IMAGE_REPOSITORY}:latest"], capture_output=True, check=False
    )
    images.prune_images(IMAGE_REPOSITORY, keep=3)
    return tag


def _stage_context(wheelhouse: Path) -> Path:
    """The build context: ``deps/`` (dependency wheels + requirements) and ``own/`` (tracebed).

    Files are hard-linked from the wheelhouse (cheap, the wheelhouse stays untouched). The
    dependency layer's inputs do not include tracebed's own wheel, so docker's layer cache
    keeps that slow layer across source changes.
    """
    stage = images.cache_dir() / "context" / f"reference-{wheelhouse.name}"
    if (stage / ".complete").exists():
        return stage
    stage.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="ctx-", dir=stage.parent))
    (tmp / "deps").mkdir()
    (tmp / "own").mkdir()
    own = sorted(wheelhouse.glob("tracebed-*.whl"))
    if len(own) != 1:
        raise images.ImageBuildError(f"expected one tracebed wheel in {wheelhouse}, got {own}")
    link_or_copy(own[0], tmp / "own" / own[0].name)
    names = []
    for wheel in sorted(wheelhouse.glob("*.whl")):
        if wheel != own[0]:
            link_or_copy(wheel, tmp / "deps" / wheel.name)
            names.append(wheel.name.split("-")[0])
    # Install exactly the wheels present (tracebed's closure), by name.
    (tmp / "deps" / "requirements.txt").write_text("\n".join(sorted(names)) + "\n")
    shutil.copyfile(wheelhouse / "constraints.txt", tmp / "deps" / "constraints.txt")
    try:
        tmp.rename(stage)
    except OSError:  # another process staged it first
        shutil.rmtree(tmp, ignore_errors=True)
        return stage
    (stage / ".complete").write_text("")
    images.prune_cache(stage.parent, keep=stage, count=3)
    return stage


# ---------------------------------------------------------------------------------------------
# command line: render a reference compose project to run by hand


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tracebed.refstack.compose",
        description="Render the reference stack's configs into WORKDIR and write a compose "
        "file that runs it in containers (building the image unless --image is given).",
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--sink",
        default="127.0.0.1:14317",
        help="the sink's OTLP/gRPC host:port (default 127.0.0.1:14317, i.e. "
        "`tracebed sink --grpc-port 14317`; the collector itself takes 4317)",
    )
    parser.add_argument("--image", help="use this image instead of building the reference image")
    parser.add_argument("--with-load-generator", action="store_true")
    parser.add_argument(
        "--demo-ports",
        action="store_true",
        help="the demo's .env ports (8080 front door, 4317 collector, ...) instead of free ones",
    )
    parser.add_argument("-o", "--output", type=Path, help="compose file (default: stdout)")
    args = parser.parse_args(argv)
    path = write_reference_compose(
        args.workdir,
        args.sink,
        image=args.image,
        ports=dict(DEMO_PORTS) if args.demo_ports else None,
        with_load_generator=args.with_load_generator,
    )
    usage = [
        "Configs were rendered into the workdir by the same command; regenerate both with",
        f"  python -m tracebed.refstack.compose --workdir {args.workdir}"
        + (" --demo-ports" if args.demo_ports else "")
        + (f" --sink {args.sink}" if args.sink != "127.0.0.1:14317" else "")
        + " -o FILE",
        f"then: tracebed sink --grpc-port {args.sink.rsplit(':', 1)[1]} &  and",
        "  docker-compose -f FILE up -d   (or `docker compose`; images: build_reference_image())",
    ]
    text = path.read_text()
    first_yaml = text.index("services:")
    text = text[:first_yaml] + "".join(f"# {u}\n" for u in usage) + text[first_yaml:]
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
