"""Topology: services, their dependencies, and the tiers they start in."""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tracebed.stack.compose import load_compose, service_from_raw
from tracebed.stack.errors import TopologyError
from tracebed.stack.meta import StackMeta
from tracebed.stack.model import ProbeSpec, ServiceDef
from tracebed.stack.readiness import Readiness
from tracebed.stack.seed import SEED_DEPENDS_ON, SEED_GROUPS, load_grouping

Grouping = Sequence[tuple[str, Sequence[str]]]


class Topology:
    """Services and tiers.

    Tiers default to the layering of the `depends_on` graph: tier 0 has no dependencies and a
    service sits one tier above its deepest dependency. With `group_by="seed"` (or an explicit
    grouping) the tiers follow the named groups in order, in dependency order inside each group.
    Wherever the declared grouping and the graph disagree, `conflicts` says so; the graph wins
    (a service never starts before a service it depends on).
    """

    def __init__(
        self,
        services: Mapping[str, ServiceDef],
        *,
        group_by: str | Path | Grouping | None = None,
        env: Mapping[str, str] | None = None,
        disabled: Mapping[str, list[str]] | None = None,
        source: str = "",
        extras: Mapping[str, Any] | None = None,
        readiness: Readiness | None = None,
        project_name: str | None = None,
        compose_files: Sequence[Path] = (),
        env_file: Path | None = None,
        profiles: Sequence[str] = (),
    ) -> None:
        self.services: dict[str, ServiceDef] = dict(services)
        self.env: dict[str, str] = dict(env if env is not None else os.environ)
        self.source = source
        self.extras: dict[str, Any] = dict(extras or {})
        self.meta = StackMeta.from_extras(self.extras)  # what the stack says about itself
        self.readiness = readiness if readiness is not None else Readiness.load()
        self.project_name = project_name
        self.compose_files = list(compose_files)
        self.env_file = env_file
        self.profiles = tuple(profiles)
        self._check_dependencies(dict(disabled or {}))
        self._order = self._topological_order()
        self.grouping: list[tuple[str, list[str]]] | None
        if group_by == "seed":
            self.grouping = [(n, list(s)) for n, s in SEED_GROUPS]
        elif group_by is None or group_by == "depends_on":
            self.grouping = None
        elif isinstance(group_by, str | Path) and Path(group_by).suffix in (".yaml", ".yml"):
            self.grouping = load_grouping(group_by)
        elif isinstance(group_by, str | Path):
            raise TopologyError(
                f"unknown grouping {group_by!r} (expected 'seed', 'depends_on' or a YAML file)"
            )
        else:
            self.grouping = [(n, list(s)) for n, s in group_by]
        # Files shared by demo-shaped stacks may name any demo service; anything else must be
        # one of this stack's (a typo otherwise passes silently).
        known = {*self.services, *self.absent, *(disabled or {})}
        known |= {svc for _, names in SEED_GROUPS for svc in names}
        if isinstance(group_by, str | Path) and self.grouping is not None and group_by != "seed":
            _check_named(str(group_by), "groups", self.grouping, known)
        if self.readiness.source and self.readiness.overrides:
            _check_named(
                self.readiness.source, "services", [("", list(self.readiness.overrides))], known
            )
        self.tiers: list[list[str]] = []
        self.tier_names: list[str] = []
        self.conflicts: list[dict[str, Any]] = []
        self._layer()

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def from_compose(
        cls,
        files: Sequence[str | Path] | str | Path,
        env_file: str | Path | None = None,
        profiles: Sequence[str] = (),
        *,
        group_by: str | Path | Grouping | None = None,
        readiness: Readiness | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Topology:
        if isinstance(files, str | Path):
            files = [files]
        project = load_compose(files, env_file=env_file, profiles=profiles, environ=environ)
        services: dict[str, ServiceDef] = {}
        for name, raw in project.services.items():
            base_dir = Path(raw.get("x-tracebed-source", project.files[0])).parent
            try:
                services[name] = service_from_raw(name, raw, project.env, base_dir)
            except TopologyError as exc:
                # e.g. "invalid port ''": say which variable left it blank, as Compose warns.
                key = re.match(rf"service {re.escape(repr(name))}(?:\.|: )([\w-]+)", str(exc))
                note = project.unset_note(name, key.group(1) if key else None)
                raise TopologyError(f"{exc}{note}") from None
        return cls(
            services,
            group_by=group_by,
            env=project.env,
            disabled=project.disabled,
            source=", ".join(str(f) for f in project.files),
            extras=project.extras,
            readiness=readiness,
            project_name=project.name,
            compose_files=project.files,
            env_file=project.env_file,
            profiles=project.profiles,
        )

    @classmethod
    def from_spec(
        cls,
        spec: Mapping[str, Any],
        *,
        group_by: str | Path | Grouping | None = None,
        readiness: Readiness | None = None,
    ) -> Topology:
        """A topology from a compose-shaped dict (see notes/stack-spec.md)."""
        if not isinstance(spec, Mapping) or not isinstance(spec.get("services"), Mapping):
            raise TopologyError("a stack spec must be a mapping with a 'services' mapping")
        env = dict(os.environ)
        services: dict[str, ServiceDef] = {}
        for name, raw in spec["services"].items():
            if not isinstance(raw, Mapping):
                raise TopologyError(f"spec service {name!r} must be a mapping")
            services[str(name)] = service_from_raw(str(name), dict(raw), env)
        extras = {k: v for k, v in spec.items() if str(k).startswith("x-")}
        return cls(
            services,
            group_by=group_by,
            env=env,
            source="spec",
            extras=extras,
            readiness=readiness,
            project_name=spec.get("name"),
        )

    @classmethod
    def seed(cls, *, group_by: str | Path | Grouping | None = "seed") -> Topology:
        """The demo as the seed describes it: its groups and the dependencies it lists."""
        services: dict[str, ServiceDef] = {}
        for _group, names in SEED_GROUPS:
            for name in names:
                raw = {"depends_on": list(SEED_DEPENDS_ON.get(name, []))}
                services[name] = service_from_raw(name, raw, {})
        return cls(services, group_by=group_by, env={}, source="seed")

    # -- validation and layering --------------------------------------------------------

    def _check_dependencies(self, disabled: dict[str, list[str]]) -> None:
        for svc in self.services.values():
            for dep in list(svc.depends_on):
                if dep in self.services:
                    continue
                if not svc.depends_on[dep].required:
                    del svc.depends_on[dep]  # `required: false`: Compose ignores it too
                    continue
                if dep in disabled:
                    raise TopologyError(
                        f"service {svc.name!r} depends on {dep!r}, which is only enabled by "
                        f"profile(s) {', '.join(disabled[dep])} (not active)"
                    )
                raise TopologyError(f"service {svc.name!r} depends on undefined service {dep!r}")

    def _topological_order(self) -> list[str]:
        state: dict[str, int] = {}  # 1 = visiting, 2 = done
        order: list[str] = []

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = path[path.index(name) :] + [name]
                raise TopologyError(f"dependency cycle: {' -> '.join(cycle)}")
            state[name] = 1
            for dep in sorted(self.services[name].depends_on):
                visit(dep, [*path, name])
            state[name] = 2
            order.append(name)

        for name in sorted(self.services):
            visit(name, [])
        return order

    def depth(self) -> dict[str, int]:
        """Layer of each service in the plain `depends_on` graph."""
        depth: dict[str, int] = {}
        for name in self._order:
            deps = self.services[name].depends_on
            depth[name] = 1 + max((depth[d] for d in deps), default=-1)
        return depth

    def _layer(self) -> None:
        depth = self.depth()
        self.conflicts = self._seed_conflicts(depth) if self.grouping is None else []
        if self.grouping is None:
            count = 1 + max(depth.values(), default=-1)
            self.tiers = [sorted(n for n in self.services if depth[n] == t) for t in range(count)]
            self.tier_names = [f"tier {t}" for t in range(count)]
            for name, t in depth.items():
                self.services[name].tier = t
            self._set_groups(dict(_group_index(SEED_GROUPS)))
            return
        index = _group_index(self.grouping)
        declared: dict[str, int] = {}
        effective: dict[str, int] = {}
        for name in self._order:
            deps = self.services[name].depends_on
            if name in index:
                declared[name] = index[name][0]
            else:
                # Not in any group: it goes with its latest dependency (or first group).
                declared[name] = max((effective[d] for d in deps), default=0)
                self.conflicts.append(
                    {
                        "kind": "ungrouped",
                        "service": name,
                        "message": f"{name} is in no declared group; placed in group "
                        f"{self.grouping[declared[name]][0]!r} after its dependencies",
                    }
                )
            effective[name] = max([declared[name], *(effective[d] for d in deps)])
            for dep in deps:
                if effective[dep] > declared[name]:
                    self.conflicts.append(self._conflict(name, dep, declared[name], effective[dep]))
        inner: dict[str, int] = {}
        for name in self._order:
            same = [d for d in self.services[name].depends_on if effective[d] == effective[name]]
            inner[name] = 1 + max((inner[d] for d in same), default=-1)
        keys = sorted({(effective[n], inner[n]) for n in self.services})
        self.tiers = [
            sorted(n for n in self.services if (effective[n], inner[n]) == k) for k in keys
        ]
        self.tier_names = []
        for g, i in keys:
            group = self.grouping[g][0]
            multi = sum(1 for k in keys if k[0] == g) > 1
            self.tier_names.append(f"{group}.{i}" if multi else group)
        for t, names in enumerate(self.tiers):
            for name in names:
                self.services[name].tier = t
        self._set_groups({n: (effective[n], self.grouping[effective[n]][0]) for n in self.services})

    def _set_groups(self, groups: Mapping[str, tuple[int, str]]) -> None:
        for name, svc in self.services.items():
            svc.group = groups[name][1] if name in groups else None

    def _conflict(self, name: str, dep: str, g_svc: int, g_dep: int) -> dict[str, Any]:
        grouping = self.grouping or [(n, list(s)) for n, s in SEED_GROUPS]
        return {
            "kind": "order",
            "service": name,
            "group": grouping[g_svc][0],
            "depends_on": dep,
            "dependency_group": grouping[g_dep][0],
            "message": (
                f"{name} (group {grouping[g_svc][0]!r}) depends on {dep} "
                f"(group {grouping[g_dep][0]!r}, which the grouping starts later)"
            ),
        }

    def _seed_conflicts(self, depth: Mapping[str, int]) -> list[dict[str, Any]]:
        """Where the depends_on layering disagrees with the seed's groups (known services).

        kind "order": a dependency on a service of a later group (the graph forces it after).
        kind "placement": the layering starts a service before services of an earlier group.
        """
        index = _group_index(SEED_GROUPS)
        out = []
        for name in self._order:
            for dep in sorted(self.services[name].depends_on):
                if name in index and dep in index and index[dep][0] > index[name][0]:
                    out.append(self._conflict(name, dep, index[name][0], index[dep][0]))
        for name in sorted(self.services, key=lambda n: (depth[n], n)):
            if name not in index:
                continue
            later = sorted(
                other
                for other in self.services
                if other in index
                and index[other][0] < index[name][0]
                and depth[other] > depth[name]
            )
            if later:
                out.append(
                    {
                        "kind": "placement",
                        "service": name,
                        "group": index[name][1],
                        "tier": depth[name],
                        "before": later,
                        "message": (
                            f"{name} (group {index[name][1]!r}) starts in tier {depth[name]}, "
                            f"before {', '.join(later)} of earlier group(s)"
                        ),
                    }
                )
        return out

    # -- queries ------------------------------------------------------------------------

    def tier_of(self, service: str) -> int:
        return self.service(service).tier

    def service(self, name: str) -> ServiceDef:
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise TopologyError(f"unknown service {name!r} (known: {known})") from None

    def replace(self, name: str, command: str) -> None:
        """Run ``command`` (a shell-style command line) in place of the service's own process:
        same tier, same environment, same readiness probe. Local processes only: a service
        that runs from an image is replaced on the compose path (``--replace SERVICE=IMAGE`` or
        ``SERVICE=compose:FILE``)."""
        import shlex

        svc = self.service(name)
        argv = shlex.split(command)
        if not argv:
            raise TopologyError(f"--replace {name}=: the command is empty")
        if svc.image is not None and svc.command is None:
            raise TopologyError(
                f"--replace {name}: {name} runs from an image, so no command can run in its "
                "place: replace it on the compose stack (--stack compose, --tracebed-stack="
                f"compose) with --replace {name}=IMAGE or {name}=compose:FILE"
            )
        svc.command = argv
        svc.working_dir = None  # the user's command runs from the caller's directory
        svc.replaced_by = command

    def dependents(self, service: str) -> list[str]:
        return sorted(n for n, s in self.services.items() if service in s.depends_on)

    def probe_for(self, service: str) -> ProbeSpec:
        svc = self.service(service)
        awaited = any(
            s.depends_on.get(service) is not None
            and s.depends_on[service].condition == "service_completed_successfully"
            for s in self.services.values()
        )
        return self.readiness.choose(svc, self.env, awaited_completion=awaited)

    def resolve_until(self, until: int | str | None) -> int:
        """The last tier index to start for `--until` (a tier number, tier name or service)."""
        last = len(self.tiers) - 1
        if until is None:
            return last
        if isinstance(until, int) or (isinstance(until, str) and until.isdigit()):
            idx = int(until)
            if not 0 <= idx <= last:
                raise TopologyError(f"--until {until}: there are tiers 0..{last}")
            return idx
        if until in self.tier_names:
            return self.tier_names.index(until)
        if until in self.services:
            return self.services[until].tier
        raise TopologyError(
            f"--until {until!r}: not a tier number (0..{last}), tier name "
            f"({', '.join(self.tier_names)}) or service"
        )

    # -- output -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        services = {}
        for name in sorted(self.services):
            entry = self.services[name].to_json()
            entry["probe"] = _probe_json(self.probe_for(name))
            services[name] = entry
        return {
            "services": services,
            "tiers": [list(t) for t in self.tiers],
            "tier_names": list(self.tier_names),
            "conflicts": list(self.conflicts),
            "absent": self.absent,
            "source": self.source,
        }

    @property
    def absent(self) -> dict[str, str]:
        """Services of the demo this stack leaves out, with why (the reference stack says)."""
        return dict(self.meta.absent)

    def to_text(self) -> str:
        lines = [
            f"topology of {self.source or 'stack'}: {len(self.services)} services, "
            f"{len(self.tiers)} tiers"
        ]
        for t, names in enumerate(self.tiers):
            lines.append(f"{self.tier_names[t]}:" if self.grouping else f"tier {t}:")
            for name in names:
                svc = self.services[name]
                deps = ", ".join(
                    d
                    + (
                        ""
                        if c.condition == "service_started"
                        else f" ({c.condition.removeprefix('service_')})"
                    )
                    for d, c in sorted(svc.depends_on.items())
                )
                probe = self.probe_for(name).describe()
                lines.append(f"  {name:<18} probe {probe}" + (f"  <- {deps}" if deps else ""))
        if self.conflicts:
            lines.append("conflicts with the declared grouping:")
            lines.extend(f"  - {c['message']}" for c in self.conflicts)
        if self.absent:
            lines.append("left out of this stack:")
            lines.extend(f"  - {name}: {why}" for name, why in sorted(self.absent.items()))
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        def node(name: str) -> str:
            return re.sub(r"[^A-Za-z0-9_]", "_", name)

        lines = ["flowchart LR"]
        for t, names in enumerate(self.tiers):
            label = self.tier_names[t]
            lines.append(f'  subgraph tier{t}["{label}"]')
            lines.extend(f'    {node(n)}["{n}"]' for n in names)
            lines.append("  end")
        for name in sorted(self.services):
            for dep, cond in sorted(self.services[name].depends_on.items()):
                if cond.condition == "service_started":
                    lines.append(f"  {node(dep)} --> {node(name)}")
                else:
                    lines.append(
                        f"  {node(dep)} -->|{cond.condition.removeprefix('service_')}| {node(name)}"
                    )
        conflict_edges = {
            (c["depends_on"], c["service"]) for c in self.conflicts if c.get("kind") == "order"
        }
        edge_no = 0
        for name in sorted(self.services):
            for dep in sorted(self.services[name].depends_on):
                if (dep, name) in conflict_edges:
                    lines.append(f"  linkStyle {edge_no} stroke:red,stroke-width:2px")
                edge_no += 1
        return "\n".join(lines)

    def dumps(self, fmt: str = "text") -> str:
        if fmt == "json":
            return json.dumps(self.to_json(), indent=2)
        if fmt == "mermaid":
            return self.to_mermaid()
        if fmt == "text":
            return self.to_text()
        raise TopologyError(f"unknown format {fmt!r} (text, json, mermaid)")

    def __repr__(self) -> str:
        return f"Topology({len(self.services)} services, tiers={self.tiers})"


def _group_index(grouping: Grouping) -> dict[str, tuple[int, str]]:
    return {svc: (i, name) for i, (name, svcs) in enumerate(grouping) for svc in svcs}


def _probe_json(probe: ProbeSpec) -> dict[str, Any]:
    return {"type": probe.type, **probe.params}


if __name__ == "__main__":  # pragma: no cover - handy for a quick look
    print(Topology.from_compose(sys.argv[1:]).to_text())


def _check_named(
    path: str, key: str, groups: Sequence[tuple[str, list[str]]], known: set[str]
) -> None:
    """A groups or readiness file names only services of this stack or of the demo."""
    for group, names in groups:
        unknown = sorted(set(names) - known)
        if unknown:
            where = f"{key}[{group!r}]" if group else key
            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TopologyError(
                f"{path}: {where}: {', '.join(map(repr, unknown))} "
                f"{'is not a service' if len(unknown) == 1 else 'are not services'} of this "
                f"stack or of the demo{hint}"
            )
