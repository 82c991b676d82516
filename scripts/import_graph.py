#!/usr/bin/env python3
"""The import graph between tracebed's packages, checked against the declared layer order.

    python scripts/import_graph.py                 # graph as text and mermaid; exit 1 on a violation
    python scripts/import_graph.py --markdown      # the docs/architecture.md section
    python scripts/import_graph.py --write docs/architecture.md   # regenerate that section

It walks the AST of every module under src/tracebed (every import statement counts, also
those inside functions and under `if TYPE_CHECKING:`: a layer is about what a package knows,
not only what runs at import time), folds modules into their top-level package, and reports:
a cycle between packages; an upward or sideways import (a package may import only packages
of lower layers); an import DESIGN.md's "knows nothing of" column forbids; pytest imported
outside the layers that may know it. Exit status 1 if any of these is not in the allowlist
KNOWN_VIOLATIONS, or if an allowlist entry no longer matches anything (so the list shrinks).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = "tracebed"
REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src" / ROOT

# The layers, bottom up. A package may import packages of lower layers only: never one of
# its own layer (siblings stay independent) nor of a higher one. This is DESIGN.md's layer
# table read as an order (its "knows nothing of" column), with the packages the table does
# not name placed by what they know. `tracebed` is the root package's own __init__.
LAYERS: Sequence[tuple[str, frozenset[str]]] = (
    ("error root", frozenset({"errors"})),
    # demo_data: the demo load generator's products, categories and task weights, held once for
    # flows and reference (which may not import flows).
    (
        "the package face, shared paths, optional extras, the load generator's data",
        frozenset({ROOT, "paths", "extras", "demo_data"}),
    ),
    # model: knows nothing of transport or query; stack: nothing of spans; reference: nothing of
    # the harness (it is just a stack under test).
    ("spans, stacks, the reference stack", frozenset({"model", "stack", "reference"})),
    ("query (selectors, assertions, chains, waits)", frozenset({"query"})),
    ("otlp (receivers, codecs, the sink and its client)", frozenset({"otlp"})),
    ("report (renders; calls otlp) and flows (the shop client)", frozenset({"report", "flows"})),
    ("regress (trace shapes, recordings)", frozenset({"regress"})),
    ("contracts (per-service contracts)", frozenset({"contracts"})),
    ("tracetest (definitions, triggers, runner; pytest-free)", frozenset({"tracetest"})),
    # refstack: the reference stack packaged to run (presets, compose, images): it knows both
    # stack and reference, so that neither knows the other's packaging.
    ("refstack (the reference stack's presets, compose project, images)", frozenset({"refstack"})),
    ("harness (the composition root: one Harness; pytest-free)", frozenset({"harness"})),
    ("plugin (pytest, thin over one Harness)", frozenset({"plugin"})),
    ("cli and the bundled pytest suite", frozenset({"cli", "suites"})),
)

# DESIGN.md's "knows nothing of" pairs the layer order alone allows (importer, imported).
FORBIDDEN: Mapping[tuple[str, str], str] = {
    ("flows", "stack"): "flows know nothing of stack internals (DESIGN.md)",
}

# Third-party modules only some layers may import, and the packages that may.
EXTERNAL_ALLOWED: Mapping[str, frozenset[str]] = {
    "pytest": frozenset({"plugin", "cli", "suites"}),
    "_pytest": frozenset({"plugin", "cli", "suites"}),
}

# Violations that exist today (issue 13), each with where it is and what removes it. The lead
# removes an entry when the branch that fixes it merges; an entry that matches nothing any more
# is itself reported, so that this list only shrinks.
KNOWN_VIOLATIONS: Mapping[tuple[str, str], str] = {}


@dataclass(frozen=True, order=True)
class Site:
    path: str  # relative to src/
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Graph:
    packages: set[str] = field(default_factory=set)
    edges: dict[tuple[str, str], list[Site]] = field(default_factory=lambda: defaultdict(list))
    external: dict[tuple[str, str], list[Site]] = field(default_factory=lambda: defaultdict(list))

    def targets(self, package: str) -> list[str]:
        return sorted(b for a, b in self.edges if a == package)


@dataclass(frozen=True)
class Violation:
    key: tuple[str, str]  # (importer, imported)
    kind: str  # upward | sideways | forbidden | external | unplaced | cycle
    detail: str
    sites: tuple[Site, ...] = ()

    @property
    def known(self) -> bool:
        return self.kind != "cycle" and self.key in KNOWN_VIOLATIONS

    def __str__(self) -> str:
        where = f"  ({', '.join(map(str, self.sites[:3]))}{', ...' if len(self.sites) > 3 else ''})"
        note = f"  [known: {KNOWN_VIOLATIONS[self.key]}]" if self.known else ""
        return f"{self.kind}: {self.detail}{where if self.sites else ''}{note}"


def package_of(module: str) -> str | None:
    """`tracebed.model.store` -> `model`; `tracebed` -> `tracebed`; anything else -> None."""
    parts = module.split(".")
    if parts[0] != ROOT:
        return None
    return parts[1] if len(parts) > 1 else ROOT


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterable[str]:
    """The absolute module names one import statement names."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        anchor = here[: len(here) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    if base == ROOT:  # `from tracebed import errors` names a module; `__version__` the root
        yield from (f"{ROOT}.{alias.name}" for alias in node.names)
    else:
        yield base


def scan(src: Path = SRC) -> Graph:
    graph = Graph()
    subpackages = {p.name for p in src.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in src.glob("*.py") if p.stem != "__init__"}
    for path in sorted(src.rglob("*.py")):
        module = _module_name(path, src)
        importer = package_of(module)
        assert importer is not None
        graph.packages.add(importer)
        site_path = str(path.relative_to(src.parent))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(node, module, path.name == "__init__.py"):
                target = package_of(name)
                site = Site(site_path, node.lineno)
                if target is None:
                    graph.external[(importer, name.split(".")[0])].append(site)
                    continue
                if target != ROOT and target not in subpackages | modules:
                    target = ROOT  # a name the root package exports (`__version__`)
                if target != importer:
                    graph.edges[(importer, target)].append(site)
    return graph


def layer_of(package: str) -> int | None:
    for index, (_, members) in enumerate(LAYERS):
        if package in members:
            return index
    return None


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.targets(node):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for package in sorted(graph.packages):
        if package not in index:
            visit(package)
    return sorted(found)


def check(graph: Graph) -> list[Violation]:
    out: list[Violation] = []
    for package in sorted(graph.packages):
        if layer_of(package) is None:
            detail = (
                f"package {package!r} has no layer: add it to LAYERS in scripts/import_graph.py"
            )
            out.append(Violation((package, package), "unplaced", detail))
    for (a, b), sites in sorted(graph.edges.items()):
        la, lb = layer_of(a), layer_of(b)
        if la is None or lb is None:
            continue
        if lb > la:
            detail = f"{a} -> {b}: {b} is layer {lb}, above {a} (layer {la})"
            out.append(Violation((a, b), "upward", detail, tuple(sites)))
        elif lb == la:
            detail = f"{a} -> {b}: both are layer {la}; siblings stay independent"
            out.append(Violation((a, b), "sideways", detail, tuple(sites)))
        if (a, b) in FORBIDDEN:
            out.append(
                Violation((a, b), "forbidden", f"{a} -> {b}: {FORBIDDEN[(a, b)]}", tuple(sites))
            )
    for (a, name), sites in sorted(graph.external.items()):
        allowed = EXTERNAL_ALLOWED.get(name)
        if allowed is not None and a not in allowed:
            detail = f"{a} imports {name}; only {', '.join(sorted(allowed))} may"
            out.append(Violation((a, name), "external", detail, tuple(sites)))
    known_edges = {v.key for v in out if v.known}
    for component in cycles(graph):
        inside = {(a, b) for (a, b) in graph.edges if a in component and b in component}
        # A cycle between layered packages always has an upward or sideways edge; it is
        # accepted while one of its edges is an allowlisted violation.
        if not inside & known_edges:
            detail = f"between {', '.join(component)}"
            out.append(Violation((component[0], component[-1]), "cycle", detail))
    return out


def stale_allowlist(violations: Sequence[Violation]) -> list[tuple[str, str]]:
    found = {v.key for v in violations}
    return sorted(key for key in KNOWN_VIOLATIONS if key not in found)


# -- output ---------------------------------------------------------------------------------


def render_text(graph: Graph) -> str:
    lines = ["layers, bottom up (a package imports only packages of lower layers):"]
    for index, (title, members) in enumerate(LAYERS):
        present = sorted(members & graph.packages)
        lines.append(f"  {index:2d}  {', '.join(present) or '(none yet)'}  -- {title}")
    lines.append("imports (package -> the packages it imports):")
    width = max(map(len, graph.packages))
    for package in sorted(graph.packages, key=lambda p: (layer_of(p) or 0, p)):
        lines.append(f"  {package:<{width}} -> {', '.join(graph.targets(package)) or '(none)'}")
    found = cycles(graph)
    lines.append("cycles: " + ("; ".join(" <-> ".join(c) for c in found) if found else "none"))
    return "\n".join(lines)


def render_mermaid(graph: Graph, violations: Sequence[Violation]) -> str:
    """Top layers at the top; an arrow points from the importer to what it imports.

    The edges into the error root are left out of the picture (nearly every package has one;
    the text lists them)."""
    bad = {v.key for v in violations if v.kind in ("upward", "sideways", "forbidden")}
    lines = ["```mermaid", "flowchart TD"]
    for index in reversed(range(len(LAYERS))):
        present = sorted(LAYERS[index][1] & graph.packages - {"errors"})
        if present:
            lines.append(f'  subgraph L{index}["layer {index}"]')
            lines.extend(f"    {_node(p)}" for p in present)
            lines.append("  end")
    links: list[int] = []
    shown = [(a, b) for a, b in sorted(graph.edges) if b != "errors"]
    for n, (a, b) in enumerate(shown):
        if (a, b) in bad:
            lines.append(f"  {_id(a)} -. violation .-> {_id(b)}")
            links.append(n)
        else:
            lines.append(f"  {_id(a)} --> {_id(b)}")
    if links:
        lines.append(f"  linkStyle {','.join(map(str, links))} stroke:#d33,stroke-width:2px")
    lines.append("```")
    return "\n".join(lines)


def _id(package: str) -> str:
    return "pkg_" + package  # mermaid ids must not be keywords such as `end`


def _node(package: str) -> str:
    return f'{_id(package)}["{package}"]'


BEGIN, END = "<!-- import-graph:begin -->", "<!-- import-graph:end -->"


def render_markdown(graph: Graph, violations: Sequence[Violation]) -> str:
    known = [v for v in violations if v.known]
    other = [v for v in violations if not v.known]
    parts = [
        BEGIN,
        "<!-- generated by `python scripts/import_graph.py --write docs/architecture.md`; "
        "do not edit by hand -->",
        "",
        "```text",
        render_text(graph),
        "```",
        "",
        render_mermaid(graph, violations),
        "",
        f"Known violations, allowed until the change that removes them merges ({len(known)}):",
        "",
        *(f"- {v.kind} `{v.key[0]} -> {v.key[1]}`: {KNOWN_VIOLATIONS[v.key]}" for v in known),
    ]
    if other:
        parts += ["", "Violations not allowed:", "", *(f"- {v}" for v in other)]
    parts.append(END)
    return "\n".join(parts) + "\n"


def write_section(doc: Path, section: str) -> None:
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + section.rstrip("\n") + tail
    else:
        text = text + ("\n" if text and not text.endswith("\n") else "") + section
    doc.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--src", type=Path, default=SRC, help="the package directory (src/tracebed)"
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="print the docs section only")
    out.add_argument("--write", type=Path, metavar="DOC", help="regenerate DOC's section")
    args = parser.parse_args(argv)

    graph = scan(args.src)
    violations = check(graph)
    stale = stale_allowlist(violations)
    if args.markdown:
        print(render_markdown(graph, violations), end="")
    elif args.write:
        write_section(args.write, render_markdown(graph, violations))
        print(f"wrote the import graph into {args.write}")
    else:
        print(render_text(graph))
        print()
        print(render_mermaid(graph, violations))
        print()
    failing = [v for v in violations if not v.known]
    for v in violations:
        print(
            ("known " if v.known else "") + str(v), file=sys.stderr if not v.known else sys.stdout
        )
    for a, b in stale:
        print(
            f"stale allowlist entry: {a} -> {b} is no longer a violation; "
            "delete it from KNOWN_VIOLATIONS in scripts/import_graph.py",
            file=sys.stderr,
        )
    if failing or stale:
        print(
            f"import graph: {len(failing)} violation(s), {len(stale)} stale allowlist entr(ies)",
            file=sys.stderr,
        )
        return 1
    print(f"import graph: no violation outside the allowlist ({len(violations)} known)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
