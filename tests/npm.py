"""`npm ci` of a test's pinned Node packages, once per lock file, into pytest's cache dir; and
the rule for a missing tool: skip with the reason locally, fail when CI=true."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: Bound: a cold `npm ci` on a slow runner.
NPM_TIMEOUT = 300.0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Fail in CI (its image has Node.js and the dev extra), skip locally with the reason."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _npm_ci(npm: str, base: Path, root: Path, files: list[Path]) -> None:
    for old in base.iterdir():  # only one install is kept: an older lock file's goes
        if old != root and old.name != ".lock":
            shutil.rmtree(old, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, root / f.name)
    # --ignore-scripts: the only install script (protobufjs's) checks its CLI's versions.
    argv = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        run = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm ci did not finish within {NPM_TIMEOUT:.0f}s in {root}", pytrace=False)
    if run.returncode != 0:
        tail = (run.stdout + run.stderr)[-2000:]
        pytest.fail(f"npm ci failed in {root} (exit {run.returncode}):\n{tail}", pytrace=False)
    (root / ".installed").write_text("ok\n")


def npm_install(
    package_dir: Path,
    cache_name: str,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    why: str,
) -> Path:
    """`node_modules` of `package_dir`'s package.json + package-lock.json (installed once per
    lock file under pytest's cache dir `cache_name`). `why` says what needs Node.js."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        missing = "npm" if npm is None else "node"
        unavailable(f"{missing} is not installed: {why}")
    assert npm is not None
    files = [package_dir / "package.json", package_dir / "package-lock.json"]
    key = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    cache = getattr(pytestconfig, "cache", None)
    base = cache.mkdir(cache_name) if cache is not None else tmp_path_factory.mktemp(cache_name)
    root = base / key
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers: one install, the others wait
        if not (root / ".installed").exists():
            _npm_ci(npm, base, root, files)
    return root / "node_modules"
