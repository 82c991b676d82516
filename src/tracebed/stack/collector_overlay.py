"""Collector overlay: make a stack's own OpenTelemetry Collector also export to tracebed.

The collector merges its ``--config`` files in order: maps are merged key by key, but a list in a
later file *replaces* the earlier list. An overlay that only said
``service.pipelines.traces.exporters: [otlp/tracebed]`` would therefore silently drop Jaeger,
spanmetrics and debug. So the overlay is generated from the stack's own configuration: it adds the
exporter ``otlp/tracebed`` and restates every traces, metrics and logs pipeline's exporters with it
appended, keeping every original exporter (Jaeger, Prometheus, OpenSearch, the spanmetrics
connector), including after a demo upgrade changes them. Metrics a connector derives from spans
(the demo's ``spanmetrics``, ``span_metrics`` at 3.0.0) leave through the metrics pipeline that
receives from the connector, so they reach the sink with the rest.

The exporter's type follows the collector the configs were written for: since collector 0.144
``otlp`` is a deprecated alias of ``otlp_grpc``, so configs that already use the new names (demo
3.0.0: ``otlp_grpc/jaeger``, ``otlp_http/prometheus``), or a project of release 3 or later, get
``otlp_grpc/tracebed``; older ones (demo 2.0.2, whose collector has no ``otlp_grpc``) keep
``otlp/tracebed``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from tracebed.errors import ConfigError

#: The test exporter for collectors before 0.144 (demo 2.0.2), and the one the shipped overlay uses.
EXPORTER_NAME = "otlp/tracebed"
#: The same for collectors that name OTLP exporters `otlp_grpc` / `otlp_http` (demo 3.0.0).
EXPORTER_NAME_GRPC = "otlp_grpc/tracebed"
# Exporter types only collectors from 0.144 on know; a config naming one is for such a collector.
_NEW_OTLP_TYPES = ("otlp_grpc", "otlp_http")
# The collector expands ${env:...} when it loads the file, so one overlay serves every sink port;
# docker-compose.test.yml sets the variable.
DEFAULT_ENDPOINT = "${env:TRACEBED_SINK_OTLP}"

_ENDPOINT_RE = re.compile(r"^(?:[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$")
_ENV_REF_RE = re.compile(r"^\$\{(?:env:)?[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")


class OverlayError(ConfigError, ValueError):
    """A collector configuration cannot be overlaid (bad YAML, no traces pipeline, ...)."""


def load_config(path: Path) -> dict[str, Any]:
    """One collector configuration file; an empty (all-comments) file is an empty config."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise OverlayError(f"cannot read collector config {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OverlayError(f"{path} is not valid YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise OverlayError(f"{path}: a collector config is a mapping, got {type(doc).__name__}")
    return doc


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge as the collector merges ``--config`` files: maps deep-merged, anything else replaced.

    As in the collector's loader (koanf ``maps.Merge``), a later scalar, list or null replaces
    the earlier value whole.
    """
    out: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_all(configs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for config in configs:
        merged = merge(merged, config)
    return merged


#: The signals whose pipelines the overlay restates (the sink takes all three over OTLP).
SIGNALS = ("traces", "metrics", "logs")


def _pipelines(config: Mapping[str, Any]) -> Mapping[str, Any]:
    service = config.get("service") or {}
    pipelines = service.get("pipelines") if isinstance(service, Mapping) else None
    if not isinstance(pipelines, Mapping) or not pipelines:
        raise OverlayError("the collector config has no service.pipelines")
    return pipelines


def signal_pipelines(config: Mapping[str, Any], signal: str) -> dict[str, list[str]]:
    """Each pipeline of ``signal`` (``metrics`` or ``metrics/<name>``) and its exporters, in
    order; {} when the config has none of that signal."""
    found: dict[str, list[str]] = {}
    for name, pipeline in _pipelines(config).items():
        if str(name).split("/", 1)[0] != signal:
            continue
        exporters = (pipeline or {}).get("exporters") or []
        if not isinstance(exporters, list) or not all(isinstance(e, str) for e in exporters):
            raise OverlayError(f"pipeline {name}: exporters must be a list of names")
        found[str(name)] = list(exporters)
    return found


def traces_pipelines(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each traces pipeline (``traces`` or ``traces/<name>``) and its exporters, in order."""
    found = signal_pipelines(config, "traces")
    if not found:
        raise OverlayError(
            "the collector config has no traces pipeline (service.pipelines.traces[/name]); "
            "nothing to add the test exporter to"
        )
    return found


def check_endpoint(endpoint: str) -> str:
    """``HOST:PORT`` or an ``${env:VAR}`` reference; anything else is a clear error."""
    endpoint = endpoint.strip()
    if _ENV_REF_RE.match(endpoint):
        return endpoint
    if not _ENDPOINT_RE.match(endpoint):
        raise OverlayError(
            f"endpoint {endpoint!r} is not HOST:PORT (e.g. host.docker.internal:4317) "
            "or an ${env:VAR} reference"
        )
    port = int(endpoint.rsplit(":", 1)[1])
    if not 0 < port < 65536:
        raise OverlayError(f"endpoint {endpoint!r}: port {port} is out of range")
    return endpoint


def exporter_name_for(configs: Sequence[Mapping[str, Any]], release: str | None = None) -> str:
    """``otlp_grpc/tracebed`` when the configs use the collector's newer OTLP exporter names, or
    ``release`` (the demo's IMAGE_VERSION) is 3 or later; else ``otlp/tracebed``."""
    exporters = merge_all(configs).get("exporters")
    types = {str(n).split("/", 1)[0] for n in exporters} if isinstance(exporters, Mapping) else set()
    if types & set(_NEW_OTLP_TYPES):
        return EXPORTER_NAME_GRPC
    major = re.match(r"v?(\d+)\.", release or "")
    if major and int(major.group(1)) >= 3:
        return EXPORTER_NAME_GRPC
    return EXPORTER_NAME


def build_overlay(
    configs: Sequence[Mapping[str, Any]],
    endpoint: str = DEFAULT_ENDPOINT,
    exporter_name: str | None = None,
    release: str | None = None,
) -> dict[str, Any]:
    """The overlay for the merge of ``configs`` (in ``--config`` order); the exporter's name
    is ``exporter_name``, else the one for these configs (`exporter_name_for`)."""
    if not configs:
        raise OverlayError("at least one base collector config is needed")
    endpoint = check_endpoint(endpoint)
    exporter_name = exporter_name or exporter_name_for(configs, release)
    merged = merge_all(configs)
    traces_pipelines(merged)  # a config with no traces pipeline is refused; metrics, logs optional
    pipelines = {
        name: exporters
        for signal in SIGNALS
        for name, exporters in signal_pipelines(merged, signal).items()
    }
    ours = {"endpoint": endpoint, "tls": {"insecure": True}}
    defined = merged.get("exporters")
    if isinstance(defined, Mapping) and exporter_name in defined and defined[exporter_name] != ours:
        # The collector would merge ours into theirs: e.g. `otlp` is the demo's export to Jaeger.
        raise OverlayError(
            f"exporter {exporter_name!r} is already defined by the base configs; the overlay "
            f"would replace it: choose another name (e.g. {exporter_name}2)"
        )
    overlay_pipelines: dict[str, Any] = {}
    for name, exporters in pipelines.items():
        restated = [e for e in exporters if e != exporter_name] + [exporter_name]
        overlay_pipelines[name] = {"exporters": restated}
    return {
        "exporters": {exporter_name: ours},
        "service": {"pipelines": overlay_pipelines},
    }


def render_overlay(
    base_paths: Sequence[Path],
    endpoint: str = DEFAULT_ENDPOINT,
    exporter_name: str | None = None,
    release: str | None = None,
) -> str:
    """The overlay as YAML text, with a header naming the files it was generated from."""
    configs = [load_config(p) for p in base_paths]
    exporter_name = exporter_name or exporter_name_for(configs, release)
    overlay = build_overlay(configs, endpoint=endpoint, exporter_name=exporter_name)
    header = [
        "# Generated by `tracebed collector-overlay`; regenerate when the collector config changes.",
        "# Pass it as the last --config: the collector replaces lists when merging, so each traces,",
        f"# metrics and logs pipeline's exporters are restated here with {exporter_name} added.",
        "# Bases (in --config order): " + ", ".join(Path(p).name for p in base_paths),
    ]
    body = yaml.safe_dump(overlay, sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n" + body


# ---------------------------------------------------------------------------------------------
# joining a real demo compose project (docker-compose.test.yml)

OVERLAY_TARGET = "/etc/otelcol-tracebed.yml"


def collector_config_files(
    compose_files: Sequence[str | Path],
    env_file: str | Path | None = None,
    service: str = "otel-collector",
    environ: Mapping[str, str] | None = None,
) -> list[Path]:
    """The host files behind the collector's ``--config=`` arguments, in order.

    Read from the project's own compose files: the service's ``command`` names container paths,
    its ``volumes`` say which host file is mounted there (relative paths from the project
    directory, as compose resolves them). tracebed's own overlay is left out.
    """
    from tracebed.stack.compose import load_compose  # the stack layer's compose reader

    project = load_compose(list(compose_files), env_file=env_file, environ=environ)
    svc = project.services.get(service)
    if svc is None:
        raise OverlayError(f"the compose project has no {service!r} service")
    targets = [a.split("=", 1)[1] for a in _command_list(svc) if a.startswith("--config=")]
    mounts: dict[str, str] = {}
    for vol in svc.get("volumes") or []:
        if isinstance(vol, Mapping):
            src, dst = str(vol.get("source", "")), str(vol.get("target", ""))
        else:
            parts = str(vol).split(":")
            if len(parts) < 2:
                continue
            src, dst = parts[0], parts[1]
        mounts[dst] = src
    files: list[Path] = []
    for target in targets:
        if target == OVERLAY_TARGET:
            continue
        if target not in mounts:
            raise OverlayError(
                f"{service}: --config={target} is not a file mounted from the host; "
                "pass the collector configs with --base instead"
            )
        path = Path(mounts[target])
        # normpath, not resolve: compose mounts the path as written, symlinks and all.
        files.append(Path(os.path.normpath(project.project_dir / path)))
    if not files:
        raise OverlayError(f"{service}: its command has no --config=FILE mounted from the host")
    return files


def collector_command(
    compose_files: Sequence[str | Path],
    env_file: str | Path | None = None,
    service: str = "otel-collector",
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """The collector's ``command`` in the merged project (compose replaces it file by file)."""
    from tracebed.stack.compose import load_compose

    project = load_compose(list(compose_files), env_file=env_file, environ=environ)
    svc = project.services.get(service)
    if svc is None:
        raise OverlayError(f"the compose project has no {service!r} service")
    return _command_list(svc)


def project_release(
    compose_files: Sequence[str | Path],
    env_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The demo release a compose project says it runs: its ``IMAGE_VERSION`` (the demo's .env
    names the images' tag there; ``DEMO_VERSION`` is often just ``latest``)."""
    from tracebed.stack.compose import load_compose

    project = load_compose(list(compose_files), env_file=env_file, environ=environ)
    return project.env.get("IMAGE_VERSION") or None


def _command_list(svc: Mapping[str, Any]) -> list[str]:
    command = svc.get("command") or []
    if isinstance(command, str):
        command = command.split()
    return [str(a).strip() for a in command]


def overlay_command(demo_command: Sequence[str]) -> list[str]:
    """The collector command with tracebed's overlay: the demo's own, then our ``--config``.

    Compose has no way to append to a list it replaces, so the overlay restates the command;
    it is generated from the project (demo 2.0.2: two configs; 3.0.0: up to four, then
    ``--feature-gates``) rather than written for one release.
    """
    ours = f"--config={OVERLAY_TARGET}"
    return [a for a in demo_command if a != ours] + [ours]


def is_join_overlay(path: str | Path) -> bool:
    """Whether a compose file is tracebed's join overlay (docker-compose.test.yml or one like it)."""
    return "TRACEBED_SINK_OTLP" in Path(path).read_text(errors="replace")


_COMMAND_BLOCK_RE = re.compile(r"(?m)^(    command:\n)((?:      - .*\n)+)")


def project_services(
    compose_files: Sequence[str | Path],
    env_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """Every service the compose files define, those behind a profile too (a profile started
    by hand gets what the others get)."""
    from tracebed.stack.compose import load_compose

    project = load_compose(list(compose_files), env_file=env_file, profiles=("*",), environ=environ)
    return list(project.services)


def render_compose_overlay(
    template: str,
    demo_command: Sequence[str],
    environment: Mapping[str, str] | None = None,
    services: Sequence[str] = (),
) -> str:
    """``docker-compose.test.yml`` (the shipped one as ``template``) for a demo whose collector
    runs ``demo_command``: only the collector's command list is rewritten, comments stay.

    With ``environment`` (the export delays of ``--export-delay``), each of ``services`` also
    gets those variables: added to the template's own services' lists, and as services that say
    only that after them (compose merges an environment into the demo's, key by key).
    """
    match = _COMMAND_BLOCK_RE.search(template)
    if match is None:
        raise OverlayError("the compose overlay template has no collector command list")
    # JSON strings are YAML double-quoted scalars: every argument survives as written.
    items = "".join(f"      - {json.dumps(a)}\n" for a in overlay_command(demo_command))
    text = template[: match.start(2)] + items + template[match.end(2) :]
    if environment:
        text = _add_environment(text, environment, services)
    return text


_SERVICE_RE = re.compile(r"(?m)^  ([A-Za-z0-9][A-Za-z0-9._-]*):\n")
_ENV_BLOCK_RE = re.compile(r"(?m)^    environment:\n((?:      - .*\n)+)")


def _add_environment(template: str, environment: Mapping[str, str], services: Sequence[str]) -> str:
    """``environment`` added to every service of ``services`` in a ``services:``-last compose
    text whose services use list-form environments (the shipped overlay's shape)."""
    start = template.find("\nservices:\n")
    if start < 0:
        raise OverlayError("the compose overlay template has no services section")
    head, body = template[: start + len("\nservices:\n")], template[start + len("\nservices:\n") :]
    # `$` is compose's interpolation: what is added is literal.
    items = "".join(
        f"      - {json.dumps(f'{k}={v}'.replace('$', '$$'))}\n" for k, v in environment.items()
    )
    starts = [m.start() for m in _SERVICE_RE.finditer(body)] + [len(body)]
    blocks, own = [body[: starts[0]]], set()
    for a, b in pairwise(starts):
        block = body[a:b]
        name = _SERVICE_RE.match(block)
        assert name is not None
        if name.group(1) in services:
            own.add(name.group(1))
            env = _ENV_BLOCK_RE.search(block)
            if env is not None:
                block = block[: env.end(1)] + items + block[env.end(1) :]
            else:
                content = block.rstrip("\n") + "\n"
                block = content + "    environment:\n" + items + block[len(content) :]
        blocks.append(block)
    text = head + "".join(blocks)
    rest = [n for n in services if n not in own]
    if rest:
        text = text.rstrip("\n") + "\n\n  # --export-delay: the same for every other service\n"
        text += "".join(f"  {json.dumps(n)}:\n    environment:\n{items}" for n in rest)
    return text


def check_overlay_command(
    compose_files: Sequence[str | Path], env_file: str | Path | None = None
) -> None:
    """The join overlay among ``compose_files`` must restate the command of the others.

    An overlay generated for another file set (e.g. for compose.yaml alone, then run with
    compose.full.yaml and compose.observability.yaml too) would silently drop or add collector
    configs; say so in one line instead.
    """
    files = list(compose_files)
    demo = [f for f in files if not is_join_overlay(f)]
    overlays = [f for f in files if f not in demo]
    if not overlays or not demo:
        return
    want = overlay_command(collector_command(demo, env_file=env_file))
    got = collector_command(files, env_file=env_file)
    if got != want:
        names = " ".join(f"--compose {f}" for f in demo)
        raise OverlayError(
            f"{Path(overlays[-1]).name} restates the collector command {' '.join(got)!r}, but "
            f"these compose files need {' '.join(want)!r}; regenerate it: "
            f"tracebed compose-overlay {Path(demo[0]).parent} {names}"
        )


def join_environment(
    compose_files: Sequence[str | Path],
    sink_grpc_port: int,
    out_dir: Path,
    env_file: str | Path | None = None,
    sink_host: str = "host.docker.internal",
) -> dict[str, str]:
    """What ``docker-compose.test.yml`` needs in compose's environment for this run.

    Generates the collector overlay from the project's own collector configs into ``out_dir``
    and returns ``TRACEBED_COLLECTOR_OVERLAY`` and ``TRACEBED_SINK_OTLP`` (the sink as the
    collector sees it: ``host.docker.internal`` is the host through ``host-gateway``). When the
    files include the join overlay, its collector command must be the one generated for the
    other files (`check_overlay_command`).
    """
    if not 0 < int(sink_grpc_port) < 65536:
        raise OverlayError(f"sink port {sink_grpc_port} is not a TCP port")
    check_overlay_command(compose_files, env_file=env_file)
    bases = collector_config_files(compose_files, env_file=env_file)
    out_dir.mkdir(parents=True, exist_ok=True)
    overlay = out_dir / "otelcol-tracebed.yml"
    overlay.write_text(render_overlay(bases, release=project_release(compose_files, env_file)))
    return {
        "TRACEBED_COLLECTOR_OVERLAY": str(overlay.resolve()),
        "TRACEBED_SINK_OTLP": check_endpoint(f"{sink_host}:{int(sink_grpc_port)}"),
    }


def docker_bridge_gateway() -> str:
    """The host's address on docker's default bridge: where ``host-gateway`` points.

    A sink that the demo's containers export to must listen there (not only on 127.0.0.1).
    """
    import json
    import subprocess

    try:
        res = subprocess.run(
            ["docker", "network", "inspect", "bridge", "--format", "{{json .}}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OverlayError(f"cannot read the docker bridge gateway: docker: {exc}") from None
    if res.returncode != 0:
        raise OverlayError(
            "cannot read the docker bridge gateway (is dockerd running?): "
            + (res.stderr.strip().splitlines() or ["docker network inspect bridge failed"])[-1]
        )
    try:
        network = json.loads(res.stdout)
    except json.JSONDecodeError:
        raise OverlayError(
            "cannot read the docker bridge gateway: unreadable network inspect"
        ) from None
    return bridge_gateway(network, interface_ipv4)


def bridge_gateway(
    network: Mapping[str, Any], interface_address: Callable[[str], str | None]
) -> str:
    """The gateway of docker's ``bridge`` network as dockerd resolves ``host-gateway``.

    dockerd uses the default bridge's address; a freshly started dockerd 20.10 may report an
    IPAM config with only ``Subnet``, so: the IPAM ``Gateway``, else the address of the bridge's
    interface (``docker0``), else the first host of the subnet.
    """
    import ipaddress

    configs = [c for c in (network.get("IPAM") or {}).get("Config") or [] if isinstance(c, Mapping)]
    ipv4 = [c for c in configs if ":" not in str(c.get("Subnet") or c.get("Gateway") or "")]
    tried: list[str] = []
    for config in ipv4:
        gateway = str(config.get("Gateway") or "").split("/")[0]
        if gateway:
            return gateway
    tried.append("IPAM gateway: none")
    options = network.get("Options") or {}
    interface = str(options.get("com.docker.network.bridge.name") or "docker0")
    address = interface_address(interface)
    if address:
        return address
    tried.append(f"interface {interface}: no IPv4 address")
    for config in ipv4:
        subnet = str(config.get("Subnet") or "")
        if subnet:
            try:
                net = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                tried.append(f"subnet {subnet!r}: not a network")
                continue
            if net.num_addresses > 2:
                return str(net.network_address + 1)
            tried.append(f"subnet {subnet}: no host address")
    if not any(c.get("Subnet") for c in ipv4):
        tried.append("subnet: none")
    raise OverlayError("cannot find the docker bridge gateway; tried " + "; ".join(tried))


def interface_ipv4(name: str) -> str | None:
    """The IPv4 address of a network interface (Linux ``SIOCGIFADDR``), None when it has none."""
    import fcntl
    import socket
    import struct

    siocgifaddr = 0x8915
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            packed = fcntl.ioctl(
                sock.fileno(), siocgifaddr, struct.pack("256s", name.encode()[:15])
            )
    except OSError:
        return None
    return socket.inet_ntoa(packed[20:24])
