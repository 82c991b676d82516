"""Docker images built with no registry: a debootstrap base, a host-built wheelhouse, content tags.

Nothing can be pulled here, so every image starts from a Debian bookworm root made by
``debootstrap --variant=minbase`` and loaded with ``docker import``; Python packages come from a
wheelhouse built on the host (``pip wheel``), because pip inside a container cannot reach the
index. Bookworm's python3 is 3.11, the host's, so host-built cp311 wheels install as they are.

Every image is tagged by a hash of its inputs, so an unchanged image is reused rather than rebuilt
and a changed input can never be served a stale image. Slow steps are cached under
``$TRACEBED_CACHE`` (default ``~/.cache/tracebed``) and serialised with a file lock, because several
test sessions on one machine may ask for the same image at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from tracebed.errors import StackError

# Bump when the way an image is made changes, so old tags are not reused.
_RECIPE_VERSION = "1"

BASE_SUITE = "bookworm"
BASE_REPOSITORY = "tracebed/base"
LABEL_INPUTS = "io.tracebed.inputs"

# What the reference stack needs besides Python: python3-venv (pip + venv, to install the
# wheelhouse), libpython3.11 (the rotel collector binary links against it), redis-server (valkey-cart), nginx-light (image-provider), prometheus, and
# netcat-openbsd for the demo's kafka healthcheck (`nc -z kafka 9092`), postgresql for the 3.0.0
# stand-in's astronomy-db (initdb + postgres; the package also creates the `postgres` user the
# server drops to as root). procps gives `ps`/`pgrep` for debugging a running container.
BASE_PACKAGES: tuple[str, ...] = (
    "ca-certificates",
    "libpython3.11",
    "netcat-openbsd",
    "nginx-light",
    "postgresql",
    "procps",
    "prometheus",
    "python3",
    "python3-venv",
    "redis-server",
)

DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Debootstrap leaves these behind; they only make the image bigger.
_PRUNE = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man")


class ImageBuildError(StackError, RuntimeError):
    """Building or importing an image failed; the message carries the tool's output."""


def cache_dir() -> Path:
    """Where slow artefacts (rootfs tarballs, wheelhouses) are kept between runs."""
    root = os.environ.get("TRACEBED_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tracebed"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine (blocking)."""
    lock_path = cache_dir() / f"{name}.lock"
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


COMPLETE = ".complete"  # written last: a cache directory without it is half-made


def fill_once(dest: Path, lock: str, fill: Callable[[Path], None]) -> bool:
    """Make the cache directory `dest` with `fill` unless a complete one is there.

    Serialised across processes by `lock`; a half-made directory (a killed run) is made again.
    Returns whether this call made it.
    """
    done = dest / COMPLETE
    if done.exists():
        return False
    with _locked(lock):
        if done.exists():
            return False
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        fill(dest)
        done.write_text(dest.name + "\n")
    return True


def _run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, what: str) -> str:
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            env=None if env is None else {**os.environ, **env},
            check=False,
        )
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{what}: {argv[0]} is not installed ({exc})") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise ImageBuildError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}")
    return proc.stdout


def image_exists(tag: str) -> bool:
    """True when the local daemon has an image with this tag."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0


def _digest(parts: Iterable[str | bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


_JUNK_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".git"}


def _is_junk(rel: str) -> bool:
    """Build debris that changes on every run and never affects an image."""
    parts = rel.split("/")
    return any(p in _JUNK_DIRS or p.endswith(".egg-info") for p in parts) or rel.endswith(
        (".pyc", ".pyo")
    )


def hash_tree(root: Path, *, exclude: Iterable[str] = ()) -> str:
    """A digest of every file's relative path, executable bit and content under ``root``.

    Caches and bytecode are left out, so running the tests does not change the hash.
    """
    skip = set(exclude)
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        if _is_junk(rel):
            continue
        if rel in skip or any(rel.startswith(s.rstrip("/") + "/") for s in skip):
            continue
        h.update(rel.encode() + b"\0")
        if path.is_symlink():
            h.update(b"L" + os.readlink(path).encode())
            continue
        h.update(b"X" if os.access(path, os.X_OK) else b"-")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# base image


def base_image_tag(
    packages: Sequence[str] = BASE_PACKAGES,
    *,
    suite: str = BASE_SUITE,
    mirror: str | None = None,
) -> str:
    """The tag ``ensure_base_image`` gives for these inputs (nothing is built)."""
    mirror = mirror or os.environ.get("TRACEBED_DEBIAN_MIRROR") or DEFAULT_MIRROR
    key = _digest([_RECIPE_VERSION, suite, "minbase", mirror, *sorted(set(packages))])
    return f"{BASE_REPOSITORY}:{suite}-{key[:12]}"


def ensure_base_image(
    packages: Sequence[str] = BASE_PACKAGES,
    *,
    suite: str = BASE_SUITE,
    mirror: str | None = None,
) -> str:
    """Return the tag of a Debian base image with ``packages``, building it only when missing.

    The rootfs tarball is cached, so a machine that lost its images (a fresh dockerd) re-imports
    it in seconds instead of re-running debootstrap (about 35 s plus package downloads).
    """
    for pkg in packages:
        if not pkg or not all(c.isalnum() or c in "+-.:" for c in pkg):
            raise ValueError(f"not a Debian package name: {pkg!r}")
    mirror = mirror or os.environ.get("TRACEBED_DEBIAN_MIRROR") or DEFAULT_MIRROR
    tag = base_image_tag(packages, suite=suite, mirror=mirror)
    if image_exists(tag):
        return tag
    with _locked("base-image"):
        if image_exists(tag):  # another process built it while we waited
            return tag
        tarball = cache_dir() / f"rootfs-{tag.split(':', 1)[1]}.tar"
        if not tarball.exists():
            _debootstrap_tarball(tarball, packages, suite=suite, mirror=mirror)
        _run(
            [
                "docker",
                "import",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                'CMD ["/bin/bash"]',
                "--message",
                f"tracebed base: debootstrap --variant=minbase {suite} + {','.join(packages)}",
                str(tarball),
                tag,
            ],
            what="docker import of the base rootfs",
        )
    return tag


def prune_images(repository: str, keep: int = 3) -> list[str]:
    """Untag all but the ``keep`` newest content-tagged images of ``repository``; return those.

    Each source change makes a new tag; old ones only cost disk. ``docker rmi`` without force
    refuses an image a container still uses, so a run in progress keeps its image.
    """
    res = subprocess.run(
        ["docker", "images", repository, "--format", "{{.CreatedAt}}\t{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = sorted(
        (line.split("\t") for line in res.stdout.splitlines() if "\t" in line),
        reverse=True,
    )
    old = [tag for _, tag in rows if not tag.endswith((":latest", ":<none>"))][keep:]
    removed = []
    for tag in old:
        if subprocess.run(["docker", "rmi", tag], capture_output=True, check=False).returncode == 0:
            removed.append(tag)
    return removed


def _debootstrap_tarball(
    tarball: Path, packages: Sequence[str], *, suite: str, mirror: str
) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            "debootstrap is not installed (scripts/setup.sh installs it: "
            "apt-get install debootstrap)"
        )
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root to build the base image")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
    try:
        root = work / "root"
        argv = ["debootstrap", "--variant=minbase"]
        if packages:
            argv.append("--include=" + ",".join(packages))
        argv += [suite, str(root), mirror]
        _run(argv, what="debootstrap")
        for rel in _PRUNE:
            target = root / rel
            if target.is_dir():
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    elif child.name != "lock":
                        child.unlink()
        partial = tarball.with_suffix(".tar.partial")
        # --numeric-owner: the image's uids are the rootfs's, not whatever the host maps names to.
        _run(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."],
            what="tar of the base rootfs",
        )
        partial.rename(tarball)  # atomic: a half-written tarball is never mistaken for a cache hit
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# wheelhouse


def project_root() -> Path:
    """The source checkout this package runs from (the directory holding pyproject.toml)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "tracebed").is_dir():
            return parent
    raise ImageBuildError(
        f"cannot find the tracebed source checkout above {here}; a wheelhouse needs pyproject.toml"
    )


def _host_constraints() -> str:
    """The host environment's exact versions, so images run what the host tested (no editables)."""
    out = _run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable", "--all"],
        what="pip freeze",
    )
    lines = [
        line
        for line in out.splitlines()
        if line and not line.startswith(("#", "-e ", "tracebed")) and " @ " not in line
    ]
    return "\n".join(sorted(lines)) + "\n"


def image_python_version(image: str) -> str:
    """The full version of ``python3`` inside ``image`` (e.g. ``3.11.2``)."""
    out = _run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "python3",
            "-c",
            "import platform; print(platform.python_version())",
        ],
        what=f"python3 --version in {image}",
    )
    return out.strip()


# Platform tags a Debian bookworm x86_64 container accepts (glibc 2.36), for `pip download`.
_BOOKWORM_PLATFORMS = (
    "linux_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "manylinux2010_x86_64",
    *(f"manylinux_2_{n}_x86_64" for n in range(5, 37)),
)


def build_wheelhouse(
    project: Path | None = None,
    dest: Path | None = None,
    target_python: str | None = None,
) -> Path:
    """Wheels of the project and all its dependencies, built on the host; return the directory.

    Versions are pinned to the host environment's (``constraints.txt`` in the directory).
    ``target_python`` is the full Python version of the image that installs them (bookworm's
    ``3.11.2``): dependencies behind markers such as ``python_full_version < "3.11.3"`` differ
    from the host's 3.11.x and are added for it. The dependency wheels (slow: the index is
    consulted) are cached by the pins, the target and pyproject.toml; the project's own wheel
    (fast, offline) by its sources; the wheelhouse joins both with hard links.
    """
    project = (project or project_root()).resolve()
    if not (project / "pyproject.toml").is_file():
        raise ImageBuildError(f"{project} has no pyproject.toml; cannot build its wheel")
    if target_python is not None and not all(p.isdigit() for p in target_python.split(".")):
        raise ValueError(f"target_python must look like 3.11.2, got {target_python!r}")
    deps = _dependency_wheels(project, target_python)
    own = build_project_wheel(project)
    default_place = dest is None
    dest = dest or cache_dir() / "wheelhouse" / f"{deps.name}-{own.parent.name}"

    def fill(directory: Path) -> None:
        for item in [*deps.iterdir(), own]:
            if item.name != COMPLETE:
                link_or_copy(item, directory / item.name)

    fill_once(dest, "wheelhouse", fill)
    if default_place:
        prune_cache(dest.parent, keep=dest, count=3)
    return dest


def link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem
        shutil.copy2(src, dst)


def _source_copy(project: Path, into: Path) -> Path:
    """A copy of the source without build debris (egg-info and caches change on every run)."""
    target = into / "src-tree"
    shutil.copytree(project, target, ignore=_source_ignore(project), symlinks=True)
    return target


def build_project_wheel(project: Path | None = None) -> Path:
    """The project's own wheel (no dependencies), cached by a hash of its sources."""
    project = (project or project_root()).resolve()
    key = _digest(
        [
            _RECIPE_VERSION,
            (project / "pyproject.toml").read_bytes(),
            hash_tree(project / "src") if (project / "src").is_dir() else "",
        ]
    )[:16]
    out = cache_dir() / "own" / key
    wheels = sorted(out.glob("*.whl"))
    if (out / COMPLETE).exists() and len(wheels) == 1:
        return wheels[0]
    with _locked("own-wheel"):
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        with tempfile.TemporaryDirectory(prefix="tracebed-src-") as tmp:
            # --no-build-isolation: setuptools is already here, and isolation would ask the index.
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "--no-deps",
                    "--no-build-isolation",
                    "--wheel-dir",
                    str(out),
                    str(_source_copy(project, Path(tmp))),
                ],
                what="pip wheel of the project",
            )
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1:
            raise ImageBuildError(f"pip wheel of {project} produced {wheels}, expected one wheel")
        (out / COMPLETE).write_text("")
    prune_cache(out.parent, keep=out, count=3)
    return wheels[0]


def _dependency_wheels(project: Path, target_python: str | None) -> Path:
    """Wheels of every dependency (not the project itself) plus ``constraints.txt``."""
    constraints = _host_constraints()
    key = _digest(
        [
            _RECIPE_VERSION,
            constraints,
            target_python or "",
            (project / "pyproject.toml").read_bytes(),
        ]
    )[:16]
    dest = cache_dir() / "deps" / key

    def fill(directory: Path) -> None:
        cfile = directory / "constraints.txt"
        cfile.write_text(constraints)
        with tempfile.TemporaryDirectory(prefix="tracebed-src-") as tmp:
            _run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--quiet",
                    "--wheel-dir",
                    str(directory),
                    "--constraint",
                    str(cfile),
                    # the image runs the stand-in: the core and the `reference` extra
                    f"{_source_copy(project, Path(tmp))}[reference]",
                ],
                what="pip wheel of the project's dependencies",
            )
        if target_python:
            _add_marker_dependencies(directory, cfile, target_python)
        for own in directory.glob(_wheel_glob(project)):
            own.unlink()

    fill_once(dest, "deps-wheels", fill)
    prune_cache(dest.parent, keep=dest, count=3)
    return dest


def _wheel_glob(project: Path) -> str:
    """``<dist>-*.whl`` for the project's distribution name (from pyproject.toml)."""
    import tomllib

    name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    return f"{name.replace('-', '_')}-*.whl"


def _add_marker_dependencies(wheelhouse: Path, constraints: Path, target_python: str) -> None:
    """Add wheels that only ``target_python`` needs (``python_full_version`` markers).

    ``pip wheel`` resolves with the host interpreter's markers; host and image share the minor
    version (3.11), so only markers on the full version can differ, e.g. redis needs
    async-timeout below 3.11.3. pip's ``--python-version`` does not change marker evaluation,
    so the closure is computed here from each wheel's Requires-Dist.
    """
    for _ in range(4):  # each round may pull in wheels with requirements of their own
        missing = _missing_for(wheelhouse, target_python)
        if not missing:
            return
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                "--dest",
                str(wheelhouse),
                "--constraint",
                str(constraints),
                *missing,
            ],
            what=f"pip download of {', '.join(missing)} for Python {target_python}",
        )
    raise ImageBuildError(f"wheelhouse for Python {target_python} did not converge")


def _missing_for(wheelhouse: Path, target_python: str) -> list[str]:
    from email.parser import Parser

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename

    present = {canonicalize_name(parse_wheel_filename(w.name)[0]) for w in wheelhouse.glob("*.whl")}
    env: dict[str, str] = {
        **{k: str(v) for k, v in default_environment().items()},
        "python_full_version": target_python,
        "python_version": ".".join(target_python.split(".")[:2]),
        "extra": "",
    }
    missing: set[str] = set()
    for wheel in wheelhouse.glob("*.whl"):
        with zipfile.ZipFile(wheel) as zf:
            meta_name = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
            if meta_name is None:
                continue
            meta = Parser().parsestr(zf.read(meta_name).decode("utf-8", "replace"))
        for raw in meta.get_all("Requires-Dist") or []:
            req = Requirement(raw)
            if req.marker is None or "python_full_version" not in str(req.marker):
                continue
            if req.marker.evaluate(env) and canonicalize_name(req.name) not in present:
                missing.add(f"{req.name}{req.specifier}")
    return sorted(missing)


def prune_cache(parent: Path, keep: Path, count: int) -> None:
    """Drop all but the ``count`` newest complete entries of a cache directory (each ~100 MB)."""
    entries = sorted(
        (p for p in parent.iterdir() if (p / COMPLETE).exists() and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[count - 1 :]:
        shutil.rmtree(old, ignore_errors=True)


def _source_ignore(project: Path):  # type: ignore[no-untyped-def]
    """shutil.copytree ignore callable: only what building the wheel needs."""
    keep_top = {"pyproject.toml", "README.md", "src", "LICENSE", "setup.cfg", "setup.py"}
    junk = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}

    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory).resolve() == project:
            return {n for n in names if n not in keep_top}
        return {n for n in names if n in junk or n.endswith((".egg-info", ".pyc"))}

    return ignore


# ---------------------------------------------------------------------------------------------
# images from Dockerfiles


def image_tag_for(
    context_dir: Path,
    dockerfile: Path,
    tag_prefix: str,
    build_args: Mapping[str, str] | None = None,
) -> str:
    """The content tag ``build_image`` gives for these inputs (nothing is built)."""
    context_dir = Path(context_dir)
    dockerfile = Path(dockerfile)
    if not dockerfile.is_absolute():
        dockerfile = context_dir / dockerfile
    if not context_dir.is_dir():
        raise ValueError(f"build context {context_dir} is not a directory")
    if not dockerfile.is_file():
        raise ValueError(f"Dockerfile {dockerfile} does not exist")
    if not tag_prefix or ":" in tag_prefix.rsplit("/", 1)[-1]:
        raise ValueError(f"tag prefix must be an image name without a tag, got {tag_prefix!r}")
    args = sorted((build_args or {}).items())
    key = _digest(
        [
            _RECIPE_VERSION,
            dockerfile.read_bytes(),
            hash_tree(context_dir),
            *(f"{k}={v}" for k, v in args),
        ]
    )
    return f"{tag_prefix}:{key[:12]}"


def build_image(
    context_dir: Path,
    dockerfile: Path | str = "Dockerfile",
    tag_prefix: str = "tracebed/image",
    build_args: Mapping[str, str] | None = None,
) -> str:
    """Build ``dockerfile`` in ``context_dir`` unless an image with the same inputs exists.

    The tag is ``tag_prefix:<hash of the Dockerfile, every file in the context and build args>``.
    Base images come from ``build_args`` (``FROM ${BASE_IMAGE}``); since those tags are content
    hashes too, a new base means a new tag here. The classic builder is used: it needs no
    buildx plugin and never contacts a registry for a local ``FROM``.
    """
    context_dir = Path(context_dir)
    dockerfile = Path(dockerfile)
    if not dockerfile.is_absolute():
        dockerfile = context_dir / dockerfile
    tag = image_tag_for(context_dir, dockerfile, tag_prefix, build_args)
    if image_exists(tag):
        return tag
    with _locked("build-" + tag_prefix.replace("/", "_")):
        if image_exists(tag):
            return tag
        # --force-rm: a failed step leaves no stopped container behind.
        argv = ["docker", "build", "--force-rm", "-f", str(dockerfile), "-t", tag]
        argv += ["--label", f"{LABEL_INPUTS}={tag.rsplit(':', 1)[1]}"]
        for key, value in sorted((build_args or {}).items()):
            argv += ["--build-arg", f"{key}={value}"]
        argv.append(str(context_dir))
        _run(argv, env={"DOCKER_BUILDKIT": "0"}, what=f"docker build of {tag}")
    return tag
