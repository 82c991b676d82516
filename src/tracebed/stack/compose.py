"""Load Compose files the way `docker compose` reads them.

Several files are merged in order (mappings merged, `command`/`entrypoint`/`healthcheck.test`
replaced, `environment`/`labels`/`depends_on` merged as mappings, `ports` appended uniquely,
`volumes` merged by target), with `${VAR}` interpolation from the environment and `.env`
(or `--env-file`), `extends`, `include`, the `!reset` / `!override` tags, and profiles.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracebed.stack.errors import TopologyError, yaml_error
from tracebed.stack.interpolate import Unset, interpolate_tree, parse_env_file
from tracebed.stack.model import (
    CONDITIONS,
    Dependency,
    Healthcheck,
    ProbeSpec,
    ServiceDef,
    parse_duration,
    parse_port,
)

# Markers for the `!reset` and `!override` YAML tags; plain dicts so that interpolation
# (which rewrites values, never keys) passes them through untouched.
_RESET = "__tracebed_reset__"
_OVERRIDE = "__tracebed_override__"

_REPLACE_KEYS = {"command", "entrypoint"}
_MAPPING_KEYS = {"environment", "labels", "annotations", "sysctls", "extra_hosts"}


class _Loader(yaml.SafeLoader):
    pass


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {_RESET: True}


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_scalar(node)  # type: ignore[arg-type]
    return {_OVERRIDE: value}


_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


@dataclass
class ComposeProject:
    """The merged, interpolated model of one or more compose files."""

    name: str | None
    project_dir: Path
    files: list[Path]
    env: dict[str, str]
    services: dict[str, dict[str, Any]]
    disabled: dict[str, list[str]] = field(default_factory=dict)  # name -> its profiles
    profiles: tuple[str, ...] = ()
    env_file: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # top-level x-* keys
    unset: Unset = field(default_factory=dict)  # variable -> where it was used, blank

    def unset_note(self, service: str, key: str | None = None) -> str:
        """Why a value of `service` (its `key`, if given) may be blank: the unset variables
        used there, and where `.env` was looked for."""
        prefix = f".services.{service}." + (key or "")
        marks = (prefix + ".", prefix + "[") if key else (prefix, f".services.{service}[")
        names = [n for n, uses in self.unset.items() if any(m in u for u in uses for m in marks)]
        if not names:
            return ""
        dotenv = self.env_file or self.project_dir / ".env"
        found = (
            f"not in {dotenv} either"
            if self.env_file is not None or dotenv.is_file()
            else f"no .env file in {self.project_dir}"
        )
        verb = "is" if len(names) == 1 else "are"
        return f" ({', '.join(names)} {verb} not set: {found})"


def load_env(
    project_dir: Path, env_file: Path | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The interpolation environment: process environment over `.env` (or `env_file`)."""
    base = dict(os.environ if environ is None else environ)
    path = env_file if env_file is not None else project_dir / ".env"
    if env_file is None and not path.is_file():
        return base
    return {**parse_env_file(path, base), **base}


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise TopologyError(f"compose file not found: {path}") from None
    except IsADirectoryError:
        raise TopologyError(f"compose file is a directory: {path}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TopologyError(yaml_error(path, exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TopologyError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def load_compose(
    files: Sequence[str | Path],
    env_file: str | Path | None = None,
    profiles: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> ComposeProject:
    if not files:
        raise TopologyError("no compose file given")
    paths = [Path(f).resolve() for f in files]
    project_dir = paths[0].parent
    env_path = Path(env_file).resolve() if env_file is not None else None
    env = load_env(project_dir, env_path, environ)
    active = tuple(profiles) or tuple(
        p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()
    )
    merged: dict[str, Any] = {}
    unset: Unset = {}
    for path in paths:
        model = _load_file(path, env, seen=(), unset=unset)
        merged = merge_models(merged, model, where=str(path))
    services_raw = merged.get("services") or {}
    if not isinstance(services_raw, dict):
        raise TopologyError(f"{paths[0]}: 'services' must be a mapping")
    services: dict[str, dict[str, Any]] = {}
    for name, svc in services_raw.items():
        services[name] = _resolve_extends(name, svc, services_raw, paths[0], env, (), unset)
    services = {n: _strip_markers(s) for n, s in services.items()}
    enabled: dict[str, dict[str, Any]] = {}
    disabled: dict[str, list[str]] = {}
    for name, svc in services.items():
        svc_profiles = [str(p) for p in svc.get("profiles") or []]
        if not svc_profiles or "*" in active or set(svc_profiles) & set(active):
            enabled[name] = svc
        else:
            disabled[name] = svc_profiles
    extras = {k: v for k, v in merged.items() if isinstance(k, str) and k.startswith("x-")}
    return ComposeProject(
        name=merged.get("name") or env.get("COMPOSE_PROJECT_NAME"),
        project_dir=project_dir,
        files=paths,
        env=env,
        services=enabled,
        disabled=disabled,
        profiles=active,
        env_file=env_path,
        extras=extras,
        unset=unset,
    )


def _load_file(
    path: Path, env: dict[str, str], seen: tuple[Path, ...], unset: Unset | None = None
) -> dict[str, Any]:
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise TopologyError(f"include cycle: {chain}")
    data = interpolate_tree(read_yaml(path), env, where=path.name, unset=unset)
    includes = data.pop("include", None) or []
    if not isinstance(includes, list):
        raise TopologyError(f"{path}: 'include' must be a list")
    own_services = data.get("services") or {}
    if not isinstance(own_services, dict):
        raise TopologyError(f"{path}: 'services' must be a mapping")
    for entry in includes:
        inc_paths, inc_env_file, inc_dir = _include_entry(entry, path)
        inc_env = dict(env)
        env_candidate = inc_env_file or (inc_dir / ".env")
        if env_candidate.is_file() or inc_env_file is not None:
            # The including project's environment wins over the included project's .env.
            inc_env = {**parse_env_file(env_candidate, env), **env}
        inc_model: dict[str, Any] = {}
        for inc in inc_paths:
            loaded = _load_file(inc, inc_env, (*seen, path), unset)
            inc_model = merge_models(inc_model, loaded, str(inc))
        for name, svc in (inc_model.get("services") or {}).items():
            if name in own_services:
                raise TopologyError(
                    f"{path}: service {name!r} is defined here and in included file "
                    f"{', '.join(str(p) for p in inc_paths)}"
                )
            if isinstance(svc, dict):
                svc.setdefault("x-tracebed-source", str(inc_paths[0]))
            data.setdefault("services", {})[name] = svc
            own_services = data["services"]
        for key, value in inc_model.items():
            if key != "services" and key not in data:
                data[key] = value
    return data


def _include_entry(entry: Any, path: Path) -> tuple[list[Path], Path | None, Path]:
    base = path.parent
    if isinstance(entry, str):
        p = (base / entry).resolve()
        return [p], None, p.parent
    if isinstance(entry, dict) and "path" in entry:
        raw = entry["path"]
        items = raw if isinstance(raw, list) else [raw]
        inc = [(base / str(p)).resolve() for p in items]
        proj = entry.get("project_directory")
        proj_dir = (base / str(proj)).resolve() if proj else inc[0].parent
        env_file = entry.get("env_file")
        if isinstance(env_file, list):
            env_file = env_file[0] if env_file else None
        return inc, ((base / str(env_file)).resolve() if env_file else None), proj_dir
    raise TopologyError(f"{path}: invalid include entry {entry!r}")


def _resolve_extends(
    name: str,
    svc: Any,
    services: dict[str, Any],
    path: Path,
    env: dict[str, str],
    chain: tuple[str, ...],
    unset: Unset | None = None,
) -> dict[str, Any]:
    if not isinstance(svc, dict):
        if svc is None:
            return {}
        raise TopologyError(f"service {name!r} must be a mapping")
    ext = svc.get("extends")
    if ext is None:
        return svc
    key = f"{path}:{name}"
    if key in chain:
        raise TopologyError(f"extends cycle: {' -> '.join((*chain, key))}")
    if isinstance(ext, str):
        base_name, base_file = ext, None
    elif isinstance(ext, dict) and "service" in ext:
        base_name, base_file = str(ext["service"]), ext.get("file")
    else:
        raise TopologyError(f"service {name!r}: invalid extends {ext!r}")
    src = Path(svc.get("x-tracebed-source", path))
    if base_file:
        file_path = (src.parent / str(base_file)).resolve()
        other = interpolate_tree(read_yaml(file_path), env, where=file_path.name, unset=unset)
        pool = other.get("services") or {}
        if base_name not in pool:
            raise TopologyError(
                f"service {name!r} extends {base_name!r}, which {file_path} does not define"
            )
        base = _resolve_extends(
            base_name, pool[base_name], pool, file_path, env, (*chain, key), unset
        )
    else:
        if base_name not in services:
            raise TopologyError(f"service {name!r} extends undefined service {base_name!r}")
        base = _resolve_extends(
            base_name, services[base_name], services, path, env, (*chain, key), unset
        )
    own = {k: v for k, v in svc.items() if k != "extends"}
    base = {k: v for k, v in base.items() if k not in ("x-tracebed-source", "container_name")}
    return merge_service(base, own, where=f"service {name!r} (extends {base_name!r})")


def merge_models(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if key == "services":
            services = dict(out.get("services") or {})
            for name, svc in (value or {}).items():
                if name in services and isinstance(services[name], dict) and isinstance(svc, dict):
                    services[name] = merge_service(services[name], svc, f"{where}: {name}")
                else:
                    services[name] = svc
            out["services"] = services
        else:
            out[key] = _merge_value(out.get(key), value, key)
    return out


def merge_service(base: dict[str, Any], over: dict[str, Any], where: str) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if _is_reset(value):
            out.pop(key, None)
        elif _is_override(value):
            out[key] = value[_OVERRIDE]
        elif key not in out or out[key] is None or key in _REPLACE_KEYS:
            out[key] = value
        elif key in _MAPPING_KEYS:
            out[key] = _merge_plain({**_as_mapping(out[key])}, _as_mapping(value))
        elif key == "depends_on":
            merged = normalize_depends_on(out[key], where)
            for dep, spec in normalize_depends_on(value, where).items():
                merged[dep] = {**merged.get(dep, {}), **spec}
            out[key] = merged
        elif key == "healthcheck" and isinstance(value, dict) and isinstance(out[key], dict):
            out[key] = {**out[key], **value}  # `test` is replaced, not appended
        elif key == "volumes" and isinstance(value, list) and isinstance(out[key], list):
            by_target = {_volume_target(v): v for v in out[key]}
            by_target.update({_volume_target(v): v for v in value})
            out[key] = list(by_target.values())
        else:
            out[key] = _merge_value(out[key], value, key)
    return out


def _merge_value(base: Any, over: Any, key: str) -> Any:
    if _is_reset(over):
        return None
    if _is_override(over):
        return over[_OVERRIDE]
    if isinstance(base, dict) and isinstance(over, dict):
        return _merge_plain(base, over)
    if isinstance(base, list) and isinstance(over, list):
        return base + [v for v in over if v not in base]
    return over


def _merge_plain(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if _is_reset(v):
            out.pop(k, None)
        elif _is_override(v):
            out[k] = v[_OVERRIDE]
        elif k in out:
            out[k] = _merge_value(out[k], v, k)
        else:
            out[k] = v
    return out


def _is_reset(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_RESET) is True


def _is_override(value: Any) -> bool:
    return isinstance(value, dict) and _OVERRIDE in value


def _strip_markers(node: Any) -> Any:
    if isinstance(node, dict):
        if _is_override(node):
            return _strip_markers(node[_OVERRIDE])
        return {k: _strip_markers(v) for k, v in node.items() if not _is_reset(v)}
    if isinstance(node, list):
        return [_strip_markers(v) for v in node if not _is_reset(v)]
    return node


def _volume_target(v: Any) -> str:
    if isinstance(v, dict):
        return str(v.get("target"))
    parts = str(v).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            text = str(item)
            if "=" in text:
                k, v = text.split("=", 1)
                out[k] = v
            else:
                out[text] = None
        return out
    raise TopologyError(f"expected a mapping or a list of KEY=VALUE, got {value!r}")


def normalize_depends_on(value: Any, where: str) -> dict[str, dict[str, Any]]:
    if value is None:
        return {}
    if isinstance(value, list):
        return {str(d): {"condition": "service_started"} for d in value}
    if isinstance(value, dict):
        out: dict[str, dict[str, Any]] = {}
        for dep, spec in value.items():
            if spec is None:
                spec = {}
            if not isinstance(spec, dict):
                raise TopologyError(f"{where}: depends_on.{dep} must be a mapping")
            out[str(dep)] = dict(spec)
        return out
    raise TopologyError(f"{where}: depends_on must be a list or a mapping, got {value!r}")


def service_from_raw(
    name: str, raw: dict[str, Any], env: Mapping[str, str], base_dir: Path | None = None
) -> ServiceDef:
    """Turn one merged compose (or spec) service mapping into a ServiceDef."""
    where = f"service {name!r}"
    deps: dict[str, Dependency] = {}
    for dep, spec in normalize_depends_on(raw.get("depends_on"), where).items():
        cond = str(spec.get("condition", "service_started"))
        if cond not in CONDITIONS:
            raise TopologyError(
                f"{where}: depends_on.{dep}: unknown condition {cond!r} "
                f"(expected one of {', '.join(CONDITIONS)})"
            )
        deps[dep] = Dependency(
            cond, _as_bool(spec.get("required", True)), _as_bool(spec.get("restart", False))
        )
    environment: dict[str, str | None] = {}
    for env_file in _env_files(raw.get("env_file"), base_dir):
        path, required = env_file
        if path.is_file():
            environment.update(parse_env_file(path, env))
        elif required:
            raise TopologyError(f"{where}: env_file not found: {path}")
    for k, v in _as_mapping(raw.get("environment") or {}).items():
        environment[k] = env.get(k) if v is None else str(v)
    ports = [parse_port(p, f"{where}.ports") for p in raw.get("ports") or []]
    xt = raw.get("x-tracebed") or {}
    if not isinstance(xt, dict):
        raise TopologyError(f"{where}: x-tracebed must be a mapping")
    probe = ProbeSpec.from_dict(xt["probe"], f"{where}.x-tracebed.probe") if "probe" in xt else None
    command = raw.get("command")
    if command is not None and not isinstance(command, str | list):
        raise TopologyError(f"{where}: command must be a string or a list")
    grace = raw.get("stop_grace_period")
    return ServiceDef(
        name=name,
        depends_on=deps,
        healthcheck=_healthcheck(raw.get("healthcheck"), where),
        ports=ports,
        profiles=[str(p) for p in raw.get("profiles") or []],
        environment=environment,
        command=[str(c) for c in command] if isinstance(command, list) else command,
        working_dir=raw.get("working_dir"),
        image=raw.get("image"),
        probe=probe,
        endpoints={str(k): str(v) for k, v in (xt.get("endpoints") or {}).items()},
        stop_signal=str(xt.get("stop_signal") or raw.get("stop_signal") or "SIGTERM"),
        stop_grace_s=parse_duration(grace, f"{where}.stop_grace_period") if grace else 5.0,
        raw=raw,
    )


def _env_files(value: Any, base_dir: Path | None) -> list[tuple[Path, bool]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[tuple[Path, bool]] = []
    for item in items:
        if isinstance(item, dict):
            p, req = str(item.get("path")), _as_bool(item.get("required", True))
        else:
            p, req = str(item), True
        path = Path(p)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        out.append((path, req))
    return out


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _healthcheck(value: Any, where: str) -> Healthcheck | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TopologyError(f"{where}: healthcheck must be a mapping")
    if _as_bool(value.get("disable", False)):
        return None
    test = value.get("test")
    if test is None:
        return None
    norm: list[str] | str
    if isinstance(test, str):
        norm = test
    elif isinstance(test, list) and test:
        head, rest = str(test[0]), [str(t) for t in test[1:]]
        if head == "NONE":
            return None
        if head == "CMD":
            norm = rest
        elif head == "CMD-SHELL":
            norm = " ".join(rest)
        else:
            raise TopologyError(f"{where}: healthcheck.test must start with CMD, CMD-SHELL or NONE")
    else:
        raise TopologyError(f"{where}: invalid healthcheck.test {test!r}")

    def dur(key: str, default: float) -> float:
        return parse_duration(value[key], f"{where}.healthcheck.{key}") if key in value else default

    return Healthcheck(
        test=norm,
        interval_s=dur("interval", 30.0),
        timeout_s=dur("timeout", 30.0),
        retries=int(value.get("retries", 3)),
        start_period_s=dur("start_period", 0.0),
    )


# ---------------------------------------------------------------------------------------------
# bring your own service on the compose path: the run's overlay


#: `SERVICE=compose:FILE`: the service as a compose file of the user's defines it.
COMPOSE_PREFIX = "compose:"
#: Set on a replaced service's container, so `docker ps` tells it from the demo's own.
LABEL_REPLACED_BY = "io.tracebed.replaced-by"
# A docker image reference ([registry[:port]/]path[:tag][@digest]), as the distribution
# reference grammar has it: lowercase path components, a registry host may have dots and a port.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)?"
_IMAGE_RE = re.compile(
    rf"^{_DOMAIN}{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)


def is_image_reference(value: str) -> bool:
    """Whether `value` is a docker image reference (`my-payment:dev`, `ghcr.io/me/pay:1`)."""
    return len(value) <= 255 and _IMAGE_RE.match(value) is not None


# How a service runs: the replacement's, never the demo's (the demo's command would be handed to
# the user's image). What the image does not say, its own defaults give.
_RUN_KEYS = ("command", "entrypoint", "working_dir", "user")


@dataclass(frozen=True)
class ComposeReplacement:
    """`--replace SERVICE=IMAGE` or `SERVICE=compose:FILE` on the compose stack."""

    service: str
    #: as the user gave it (what `up --json` and a failed start show)
    value: str
    image: str | None = None
    file: Path | None = None

    @classmethod
    def parse(cls, service: str, value: str) -> ComposeReplacement:
        value = value.strip()
        if value.startswith(COMPOSE_PREFIX):
            file = value[len(COMPOSE_PREFIX) :].strip()
            if not file:
                raise TopologyError(f"--replace {service}={value}: compose:FILE needs a file")
            return cls(service, value, file=Path(file).resolve())
        if not is_image_reference(value):
            raise TopologyError(
                f"--replace {service}={value!r}: the compose stack runs an IMAGE or "
                "compose:FILE in a service's place, and this is neither (a command?)"
            )
        return cls(service, value, image=value)


#: An image's own `Config` (docker image inspect): Cmd, Entrypoint, WorkingDir, User; None when
#: the image is not on the daemon.
ImageConfig = Callable[[str], "Mapping[str, Any] | None"]


def run_overlay(
    project: ComposeProject,
    replacements: Sequence[ComposeReplacement],
    image_config: ImageConfig,
    environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The compose file the harness adds after the project's own for one run.

    A replaced service keeps everything the project gives it (environment, ports, depends_on,
    healthcheck, networks, volumes), so it starts in its tier with the demo's environment and
    is probed as the original would be; only how it runs changes: the user's image with its
    own command, entrypoint, working directory and user (the demo's are restated as the
    image's, since compose merges files and cannot drop a key). `compose:FILE` takes the
    service from the user's compose file, merged over the demo's as compose merges files
    (its environment added to the demo's). `environment` (the export delays) goes to every
    service.
    """
    services: dict[str, dict[str, Any]] = {}
    for rep in replacements:
        base = project.services.get(rep.service)
        if base is None:
            known = ", ".join(sorted(project.services))
            raise TopologyError(
                f"--replace {rep.service}={rep.value}: unknown service {rep.service!r} "
                f"(known: {known})"
            )
        if rep.file is not None:
            services[rep.service] = _user_service(rep, base, image_config)
        else:
            assert rep.image is not None
            config = image_config(rep.image)
            if config is None:
                raise TopologyError(
                    f"--replace {rep.service}={rep.value}: no image {rep.image!r} on this "
                    "docker daemon (build or load it first)"
                )
            services[rep.service] = {"image": rep.image, **_image_defaults(base, {}, config)}
        services[rep.service].setdefault("labels", {})[LABEL_REPLACED_BY] = rep.value
    if environment:
        for name in project.services:
            svc = services.setdefault(name, {})
            svc["environment"] = {**_as_mapping(svc.get("environment") or {}), **environment}
    return {"services": escape_dollars(services)}


def _image_defaults(
    base: Mapping[str, Any], own: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[str, Any]:
    """The image's own command, entrypoint, working dir and user, for each of those the demo's
    service sets and the replacement does not."""
    defaults = {
        "command": list(config.get("Cmd") or []),
        "entrypoint": list(config.get("Entrypoint") or []),
        "working_dir": config.get("WorkingDir") or "/",
        "user": config.get("User") or "0",
    }
    return {k: defaults[k] for k in _RUN_KEYS if k in base and k not in own}


def _user_service(
    rep: ComposeReplacement, base: Mapping[str, Any], image_config: ImageConfig
) -> dict[str, Any]:
    assert rep.file is not None
    where = f"--replace {rep.service}={rep.value}"
    user = load_compose([rep.file])
    svc = user.services.get(rep.service)
    if svc is None:
        raise TopologyError(f"{where}: {rep.file} defines no service {rep.service!r}")
    image = svc.get("image")
    if not image:
        raise TopologyError(
            f"{where}: its {rep.service!r} names no image (give it `image:`, with `build:` "
            "for compose to build it)"
        )
    out = _absolute_paths({k: v for k, v in svc.items() if k != "x-tracebed-source"}, user)
    config = image_config(str(image))
    missing = [k for k in _RUN_KEYS if k in base and k not in out]
    # Without a build of its own a missing image would be built from the demo's Dockerfile.
    if config is None and (missing or "build" not in svc):
        raise TopologyError(
            f"{where}: no image {image!r} on this docker daemon"
            + (f" (and the demo's service sets {', '.join(missing)})" if missing else "")
            + f": build it first (docker compose -f {rep.file} build {rep.service})"
        )
    if config is not None:
        out.update(_image_defaults(base, out, config))
    return out


def _absolute_paths(svc: dict[str, Any], project: ComposeProject) -> dict[str, Any]:
    """The user's relative paths (build context, bind mounts, env files) made absolute from
    their file's directory: compose resolves an added file's paths from the first file's."""
    root = project.project_dir

    def absolute(path: str) -> str:
        return path if Path(path).is_absolute() else os.path.normpath(root / path)

    out = dict(svc)
    build = out.get("build")
    if isinstance(build, str):
        out["build"] = {"context": absolute(build), "dockerfile": "Dockerfile"}
    elif isinstance(build, dict):
        # stated in full: compose merges `build` with the demo's (its dockerfile, its target)
        out["build"] = {
            "dockerfile": "Dockerfile",
            **build,
            "context": absolute(str(build.get("context", "."))),
        }
    volumes = []
    for vol in out.get("volumes") or []:
        if isinstance(vol, str) and vol.split(":", 1)[0].startswith((".", "~")):
            src, _, rest = vol.partition(":")
            vol = f"{absolute(os.path.expanduser(src))}:{rest}"
        elif isinstance(vol, dict) and vol.get("type") == "bind" and "source" in vol:
            vol = {**vol, "source": absolute(str(vol["source"]))}
        volumes.append(vol)
    if volumes:
        out["volumes"] = volumes
    env_files = out.get("env_file")
    if isinstance(env_files, str):
        out["env_file"] = absolute(env_files)
    elif isinstance(env_files, list):
        out["env_file"] = [
            absolute(e) if isinstance(e, str) else {**e, "path": absolute(str(e.get("path")))}
            for e in env_files
        ]
    return out


def escape_dollars(node: Any, keep: frozenset[str] = frozenset()) -> Any:
    """Compose interpolates `$`; what a generated file restates is literal, so `$` becomes
    `$$` in every string, except under the mapping keys `keep` (a deliberate `${VAR}`)."""
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, list):
        return [escape_dollars(v, keep) for v in node]
    if isinstance(node, dict):
        return {k: v if k in keep else escape_dollars(v, keep) for k, v in node.items()}
    return node


def write_run_overlay(doc: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Generated by tracebed for one run (--replace, --export-delay); added after the\n"
        "# project's own compose files. Regenerated on every start.\n"
    )
    path.write_text(header + yaml.safe_dump(dict(doc), sort_keys=False, width=100))
    return path
