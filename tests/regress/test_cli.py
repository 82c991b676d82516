"""`tracebed diff` and `tracebed record` end to end: exit codes, OTLP/JSON inputs, a live sink."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.factories import make_span
from tests.regress.test_shape_diff import checkout_trace
from tracebed.cli import cli
from tracebed.flows.context import TraceContext
from tracebed.model import SpanKind, TraceTimeoutError
from tracebed.otlp.client import SinkClient
from tracebed.otlp.otlp_json import trace_to_otlp_json
from tracebed.otlp.sink import Sink
from tracebed.regress.diff import ChangeKind
from tracebed.regress.files import load_shapes, write_shape
from tracebed.regress.record import record_flows
from tracebed.regress.shape import normalise


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_diff_exit_codes_and_json(tmp_path: Path) -> None:
    write_shape(normalise(checkout_trace(), "checkout"), tmp_path / "a")
    write_shape(normalise(checkout_trace(), "checkout"), tmp_path / "b")
    write_shape(normalise(checkout_trace(user_email=True), "checkout"), tmp_path / "c")
    code, out = run("diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert (code, out.strip()) == (0, "no differences")
    code, out = run("diff", str(tmp_path / "a"), str(tmp_path / "c"), "--json")
    assert code == 1
    assert json.loads(out) == [
        {
            "flow": "checkout",
            "kind": "attribute added",
            "where": "frontend: POST /api/checkout > frontend: grpc.oteldemo.CheckoutService/PlaceOrder"
            " > checkout: oteldemo.CheckoutService/PlaceOrder",
            "detail": "app.user.email (string)",
        }
    ]
    code, out = run("diff", str(tmp_path / "a"), str(tmp_path / "nowhere"))
    assert code == 2 and "no such file or directory" in out


def test_diff_reads_otlp_json_traces_against_a_recording(tmp_path: Path) -> None:
    # A plain trace file as the sink's API and the report write it.
    (tmp_path / "checkout.json").write_text(
        json.dumps(trace_to_otlp_json(checkout_trace(ship_status="error")))
    )
    write_shape(normalise(checkout_trace(), "checkout"), tmp_path / "rec")
    shapes = load_shapes(tmp_path / "checkout.json")
    assert list(shapes) == ["checkout"]
    code, out = run("diff", str(tmp_path / "rec"), str(tmp_path / "checkout.json"))
    assert code == 1
    assert "status changed: unset -> error at" in out and out.count("\n  ") == 1
    # Single file against single file: compared directly, whatever their names.
    (tmp_path / "other.json").write_text(json.dumps(trace_to_otlp_json(checkout_trace())))
    code, out = run(
        "diff", str(tmp_path / "rec" / "checkout.shape.json"), str(tmp_path / "other.json")
    )
    assert (code, out.strip()) == (0, "no differences")


def test_diff_two_report_directories(tmp_path: Path) -> None:
    from tracebed.otlp.otlp_json import write_otlp_json

    for report, trace in (("old", checkout_trace()), ("new", checkout_trace(route="/api/buy"))):
        (tmp_path / report / "tests").mkdir(parents=True)
        (tmp_path / report / "tests" / "suite-test_checkout.html").write_text("<html></html>")
        write_otlp_json(tmp_path / report / "tests" / "suite-test_checkout.1.otlp.json", trace)
    code, out = run("diff", str(tmp_path / "old"), str(tmp_path / "new"))
    assert code == 1
    assert out.splitlines()[0] == "flow suite-test_checkout.1: 1 change(s)"
    assert "value changed: http.route: '/api/checkout' -> '/api/buy'" in out


def test_diff_rejects_broken_otlp(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{}]}]}]}')
    code, out = run("diff", str(tmp_path / "bad.json"), str(tmp_path / "bad.json"))
    assert code == 2 and "bad.json" in out


@pytest.fixture
def sink() -> Iterator[Sink]:
    sink = Sink(grpc_port=0, http_port=0).start()
    try:
        yield sink
    finally:
        sink.stop()


def _sink_url(sink: Sink) -> str:
    return sink.http_url


def test_record_flows_through_the_sink_api(sink: Sink, tmp_path: Path) -> None:
    trace = checkout_trace(trace_id="5" * 32)
    sink.store.add_spans(trace.spans)
    source = SinkClient(_sink_url(sink))

    recorded = record_flows(
        ["checkout"],
        lambda flow: [source.wait_for_trace("5" * 32, quiet=0.05, timeout=5)],
        tmp_path,
    )
    assert [r.flow for r in recorded] == ["checkout"]
    assert recorded[0].shape.to_dict() == normalise(trace, "checkout").to_dict()
    assert (tmp_path / "checkout.shape.json").exists()

    with pytest.raises(TraceTimeoutError, match="no span of it arrived"):
        source.wait_for_trace("6" * 32, quiet=0.05, timeout=0.2)


class _FrontDoor(ThreadingHTTPServer):
    daemon_threads = True
    sink: Sink


class _Handler(BaseHTTPRequestHandler):
    """A stand-in front door: each request becomes one server span in the sink."""

    server: _FrontDoor

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        ctx = TraceContext.parse(self.headers["traceparent"])
        path = self.path.split("?")[0]
        self.server.sink.store.add_spans(
            [
                make_span(
                    TraceContext.fresh().span_id,
                    ctx.span_id,
                    trace_id=ctx.trace_id,
                    # Named as Next.js names it: with the query string and the product id.
                    name=f"{self.command} {self.path}",
                    kind=SpanKind.SERVER,
                    end_ns=0,
                    attributes={"http.method": self.command, "http.status_code": 200},
                    service="frontend",
                )
            ]
        )
        body = b"[]" if path != "/api/cart" or self.command != "POST" else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815


@pytest.fixture
def front_door(sink: Sink) -> Iterator[str]:
    server = _FrontDoor(("127.0.0.1", 0), _Handler)
    server.sink = sink
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_record_command_drives_flows_and_writes_shapes(
    sink: Sink, front_door: str, tmp_path: Path
) -> None:
    out = tmp_path / "rec"
    args = ["record", str(out), "--url", front_door, "--sink", _sink_url(sink), "--quiet", "0.05"]
    code, text = run(*args, "--flow", "browse_product", "--flow", "add_to_cart")
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == [
        "add_to_cart.shape.json",
        "browse_product.shape.json",
    ]
    shapes = load_shapes(out)
    # add_to_cart makes two requests (product page, then POST /api/cart): both are in its shape.
    names = sorted(node.name for node in shapes["add_to_cart"].roots)
    assert names == ["GET /api/products/{productId}", "POST /api/cart"]
    assert [n.values for n in shapes["browse_product"].roots] == [
        {"http.method": "GET", "http.status_code": 200}
    ]
    # Recording again with other random choices gives the same shapes.
    again = [*args[:1], str(tmp_path / "again"), *args[2:]]
    code, text = run(*again, "--flow", "browse_product", "--flow", "add_to_cart", "--seed", "3")
    assert code == 0, text
    code, text = run("diff", str(out), str(tmp_path / "again"))
    assert (code, text.strip()) == (0, "no differences")

    code, text = run(*args, "--flow", "no_such_flow")
    assert code == 1 and "no flow 'no_such_flow'" in text


def test_change_kinds_are_plain_words() -> None:
    assert ChangeKind.SPAN_RENAMED.value == "span renamed"


def test_record_uses_the_stack_tracebed_up_left_running(
    sink: Sink, front_door: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracebed.stack.state import RunRecord

    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "rec"
    code, text = run("record", str(out), "--flow", "index")
    assert code == 2 and "no running stack on record" in text
    record = RunRecord.new("local")
    record.detached = True
    record.info.update({"frontend_url": front_door, "sink": {"http": sink.http_url}})
    record.save()
    code, text = run("record", str(out), "--flow", "index", "--quiet", "0.05")
    assert code == 0, text
    assert [n.name for n in load_shapes(out)["index"].roots] == ["GET /"]
    other = RunRecord.new("local")
    other.info.update({"frontend_url": front_door, "sink": {"http": sink.http_url}})
    other.save()
    code, text = run("record", str(out), "--flow", "index")
    assert code == 2 and "pick one with --run" in text
    code, text = run(
        "record", str(out), "--flow", "index", "--run", record.run_id, "--quiet", "0.05"
    )
    assert code == 0, text
    code, text = run("record", str(out), "--url", front_door)
    assert code == 2 and "give both --url and --sink" in text


def test_diff_takes_a_rename_map_and_names_renames(tmp_path: Path) -> None:
    upgrade = Path(__file__).resolve().parent / "data" / "upgrade"
    base, current = (
        upgrade / "2.0.2" / "checkout.shape.json",
        upgrade / "3.0.0" / "checkout.shape.json",
    )
    code, out = run("diff", str(base), str(current), "--json")
    found = json.loads(out)
    assert code == 1
    # shipping's tracking id: gone at 3.0.0 (no pairing of its own) ...
    removed = [c for c in found if c["detail"] == "app.shipping.tracking.id (string)"]
    assert [c["kind"] for c in removed] == ["attribute removed"]
    # ... unless the caller says it was renamed there.
    (tmp_path / "renames.yaml").write_text("app.shipping.tracking.id: url.path\n")
    code, out = run(
        "diff", str(base), str(current), "--json", "--renames", str(tmp_path / "renames.yaml")
    )
    details = {c["detail"] for c in json.loads(out) if c["kind"] == "attribute renamed"}
    assert "app.shipping.tracking.id -> url.path (string)" in details
    (tmp_path / "bad.yaml").write_text("- a\n")
    code, out = run("diff", str(base), str(current), "--renames", str(tmp_path / "bad.yaml"))
    assert code == 2 and "renames must be a mapping" in out
