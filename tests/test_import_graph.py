"""The package import graph: no cycle and no upward import outside the allowlist, and the
architecture page shows the graph as it is."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "import_graph.py"


@pytest.fixture(scope="module")
def import_graph() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["import_graph"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_tree_has_no_violation_outside_the_allowlist() -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "```mermaid" in run.stdout
    assert "no violation outside the allowlist" in run.stdout


def test_the_architecture_page_shows_the_current_graph(import_graph: ModuleType) -> None:
    graph = import_graph.scan()
    expected = import_graph.render_markdown(graph, import_graph.check(graph))
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    begin, end = page.index(import_graph.BEGIN), page.index(import_graph.END)
    assert page[begin : end + len(import_graph.END)] + "\n" == expected, (
        "docs/architecture.md is stale: python scripts/import_graph.py --write docs/architecture.md"
    )


def _tree(root: Path, files: dict[str, str]) -> Path:
    src = root / "tracebed"
    for name, text in {"__init__.py": "", "errors.py": "", **files}.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return src


def test_it_finds_upward_imports_cycles_pytest_and_unplaced_packages(
    import_graph: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _tree(
        tmp_path,
        {
            "otlp/__init__.py": "",
            "otlp/receiver.py": "from ..plugin import core\n",  # relative, upward
            "plugin/__init__.py": "",
            "plugin/core.py": "from tracebed.otlp import receiver\n",
            "model/__init__.py": "def f():\n    import pytest\n",  # inside a function too
            "newpkg/__init__.py": "import tracebed.errors\n",
        },
    )
    graph = import_graph.scan(src)
    assert graph.targets("otlp") == ["plugin"]
    assert graph.targets("newpkg") == ["errors"]
    assert import_graph.cycles(graph) == [["otlp", "plugin"]]
    kinds = {(v.kind, v.key) for v in import_graph.check(graph)}
    assert ("upward", ("otlp", "plugin")) in kinds
    assert ("external", ("model", "pytest")) in kinds
    assert ("unplaced", ("newpkg", "newpkg")) in kinds
    assert ("cycle", ("otlp", "plugin")) in kinds

    assert import_graph.main(["--src", str(src)]) == 1
    err = capsys.readouterr().err
    assert "upward: otlp -> plugin" in err
    # None of today's known violations is in this tree: each entry is reported as stale.
    assert err.count("stale allowlist entry") == len(import_graph.KNOWN_VIOLATIONS)


def test_a_layered_tree_passes_but_for_the_stale_allowlist(
    import_graph: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _tree(
        tmp_path,
        {
            "model/__init__.py": "from tracebed.errors import TracebedError\n",
            "query/__init__.py": "from tracebed import model\n",
            "plugin/__init__.py": "import pytest\nfrom tracebed.query import x\n",
        },
    )
    graph = import_graph.scan(src)
    assert graph.targets("query") == ["model"]
    assert import_graph.check(graph) == []
    import_graph.main(["--src", str(src)])
    assert "upward" not in capsys.readouterr().err
