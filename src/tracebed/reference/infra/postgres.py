"""astronomy-db (demo 3.0.0): a real PostgreSQL seeded with the catalogue, in the foreground.

The demo's ``astronomy-db`` runs postgres with ``init.sql``: the app user ``astronomy_user``,
the database ``astronomy_db`` and the table ``catalog.products`` holding the ten products.
This wrapper does the same with Debian's PostgreSQL: ``initdb`` into a fresh directory,
``postgres`` listening on 127.0.0.1 only, then the schema and the project's products file,
and stays the server's parent, forwarding SIGTERM/SIGINT. PostgreSQL refuses to run as root,
so as root the server runs as the ``postgres`` system user.

  python -m tracebed.reference.infra.postgres run --port 5432 --dir DIR
  python -m tracebed.reference.infra.postgres check --port 5432   # exit 0 = seeded
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tracebed.reference.data import PRODUCTS_FILE, load_json
from tracebed.reference.infra.binaries import MissingBinaryError
from tracebed.reference.infra.child import forward_stop_signals
from tracebed.reference.infra.ports import free_ports

USER = "astronomy_user"
PASSWORD = "astronomy_password"
DATABASE = "astronomy_db"
#: The demo's 3.0.0 data replaces typographic quotes with ASCII ones (demo-facts-3.0 §5.3.7).
_ASCII_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})

SCHEMA_SQL = f"""
CREATE USER {USER} WITH PASSWORD '{PASSWORD}';
CREATE DATABASE {DATABASE} OWNER {USER};
"""
CATALOG_SQL = f"""
CREATE SCHEMA catalog;
GRANT USAGE ON SCHEMA catalog TO {USER};
CREATE TABLE catalog.products (
    id VARCHAR(16) PRIMARY KEY,
    name VARCHAR(128) NOT NULL,
    description TEXT NOT NULL,
    picture VARCHAR(256) NOT NULL,
    price_currency_code VARCHAR(3) NOT NULL,
    price_units BIGINT NOT NULL,
    price_nanos INTEGER NOT NULL,
    categories TEXT NOT NULL
);
GRANT SELECT ON ALL TABLES IN SCHEMA catalog TO {USER};
"""
#: accounting's tables (the demo's init.sql shape: order, shipping, orderitem).
ACCOUNTING_SQL = f"""
CREATE SCHEMA accounting;
GRANT USAGE ON SCHEMA accounting TO {USER};
CREATE TABLE accounting."order" (order_id TEXT PRIMARY KEY);
CREATE TABLE accounting.shipping (
    shipping_tracking_id TEXT PRIMARY KEY,
    shipping_cost_currency_code TEXT NOT NULL,
    shipping_cost_units BIGINT NOT NULL,
    shipping_cost_nanos INT NOT NULL,
    street_address TEXT,
    city TEXT,
    state TEXT,
    country TEXT,
    zip_code TEXT,
    order_id TEXT NOT NULL REFERENCES accounting."order"(order_id) ON DELETE CASCADE
);
CREATE TABLE accounting.orderitem (
    item_cost_currency_code TEXT NOT NULL,
    item_cost_units BIGINT NOT NULL,
    item_cost_nanos INT NOT NULL,
    product_id TEXT NOT NULL,
    quantity INT NOT NULL,
    order_id TEXT NOT NULL REFERENCES accounting."order"(order_id) ON DELETE CASCADE,
    PRIMARY KEY (order_id, product_id)
);
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA accounting TO {USER};
"""


def bin_dir() -> Path:
    """The newest Debian PostgreSQL's bin directory (package ``postgresql``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0,
    )
    if not found:
        raise MissingBinaryError("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(found[-1]).parent


def _as_postgres() -> tuple[Callable[[], None] | None, int | None]:
    """(preexec_fn, uid): drop to the ``postgres`` user when running as root."""
    if os.geteuid() != 0:
        return None, None
    pw = pwd.getpwnam("postgres")

    def drop() -> None:
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)

    return drop, pw.pw_uid


def product_rows() -> list[tuple[str, str, str, str, str, int, int, str]]:
    rows = []
    for p in load_json(PRODUCTS_FILE)["products"]:
        price = p["priceUsd"]
        rows.append(
            (
                p["id"],
                p["name"],
                p["description"].translate(_ASCII_QUOTES),
                p["picture"],
                price["currencyCode"],
                int(price.get("units", 0)),
                int(price.get("nanos", 0)),
                ",".join(p["categories"]),
            )
        )
    return rows


def _seed(port: int) -> None:
    import psycopg  # the reference extra; imported here so `check` stays light

    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        for stmt in filter(None, (s.strip() for s in SCHEMA_SQL.split(";"))):
            conn.execute(stmt)  # type: ignore[arg-type]  # trusted constant SQL
    with psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname=DATABASE, autocommit=True
    ) as conn:
        conn.execute(CATALOG_SQL)  # type: ignore[arg-type]
        conn.execute(ACCOUNTING_SQL)  # type: ignore[arg-type]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO catalog.products (id, name, description, picture, "
                "price_currency_code, price_units, price_nanos, categories) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                product_rows(),
            )


def _wait_accepting(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    ready = [str(bin_dir() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"astronomy-db: postgres exited with {proc.returncode}")
        if subprocess.run(ready, timeout=5).returncode == 0:
            return
        time.sleep(0.05)  # bounded start-up wait for a child process, not a test wait
    raise SystemExit(f"astronomy-db: postgres did not accept connections within {timeout}s")


def _postgres(
    bins: Path, data: Path, port: int, drop: Callable[[], None] | None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(bins / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(data),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "shared_buffers=16MB",
            "-c",
            "max_connections=30",
        ],
        preexec_fn=drop,  # noqa: PLW1509  # setuid before exec, nothing else runs
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # postgres's "fast" shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _template(bins: Path, drop: Callable[[], None] | None, uid: int | None) -> Path:
    """A seeded, shut-down data directory, built once per PostgreSQL and catalogue.

    initdb costs seconds on a busy machine; copying a seeded directory costs far less,
    and every start still gets a database of its own.
    """
    key = hashlib.sha256(
        "\0".join(
            [str(bins), PRODUCTS_FILE.read_text(), SCHEMA_SQL, CATALOG_SQL, ACCOUNTING_SQL]
        ).encode()
    ).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"tracebed-astronomy-db-template-{key}"
    if (path / "tracebed-seeded").is_file():
        return path
    build = Path(tempfile.mkdtemp(prefix="tracebed-astronomy-db-build-"))
    try:
        if uid is not None:
            os.chown(build, uid, -1)
        init = subprocess.run(
            [
                str(bins / "initdb"),
                "-D",
                str(build),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
                "--locale=C",
            ],
            check=False,
            timeout=120,
            stdout=subprocess.DEVNULL,
            preexec_fn=drop,  # noqa: PLW1509
        )
        if init.returncode != 0:
            raise SystemExit(f"astronomy-db: initdb failed with exit code {init.returncode}")
        (port,) = free_ports(1)
        proc = _postgres(bins, build, port, drop)
        try:
            _wait_accepting(port, proc)
            _seed(port)
        finally:
            _stop(proc)
        (build / "tracebed-seeded").write_text(key)
        with contextlib.suppress(OSError):  # another start built it first: use theirs
            os.rename(build, path)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return path


def run(port: int, directory: Path) -> int:
    bins = bin_dir()
    drop, uid = _as_postgres()
    directory.mkdir(parents=True, exist_ok=True)
    template = _template(bins, drop, uid)
    # a fresh database every start, as a new container is; as root it lives outside the
    # work dir, which the postgres user cannot enter (pytest's tmp dirs are 0700)
    data = Path(tempfile.mkdtemp(prefix="tracebed-astronomy-db-"))
    (directory / "data-dir").write_text(str(data))
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["cp", "-a", f"{template}/.", str(data)], check=True, timeout=60)
        if uid is not None:
            os.chown(data, uid, -1)
        proc = _postgres(bins, data, port, drop)
        forward_stop_signals(proc, signal.SIGINT)  # "fast" shutdown; SIGTERM would wait
        _wait_accepting(port, proc)
        print(f"astronomy-db: postgres on 127.0.0.1:{port}, catalog seeded", flush=True)
        return proc.wait()
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(data, ignore_errors=True)


def check(port: int) -> bool:
    """Seeded = the app user reads the catalogue (what product-catalog needs)."""
    argv = [
        str(bin_dir() / "psql"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-U",
        USER,
        "-d",
        DATABASE,
        "-tAc",
        "SELECT count(*) FROM catalog.products",
    ]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (subprocess.SubprocessError, OSError):
        return False
    return out.returncode == 0 and out.stdout.strip() not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="astronomy-db", description="PostgreSQL, seeded")
    parser.add_argument("action", choices=["run", "check"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    if args.action == "run":
        if args.dir is None:
            parser.error("run needs --dir")
        sys.exit(run(args.port, args.dir.resolve()))
    sys.exit(0 if check(args.port) else 1)


if __name__ == "__main__":
    main()
