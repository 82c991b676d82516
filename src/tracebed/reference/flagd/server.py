"""The flag service: flagd's gRPC evaluation protocol and OFREP, over one watched flag file.

gRPC (flagd's evaluation port, ``FLAGD_PORT``, 8013 in the demo): ``flagd.evaluation.v1``
and ``v2`` (see ``rpc``), with change events on ``EventStream``.

OFREP routes (flagd v0.12 OFREP port, ``FLAGD_OFREP_PORT``):
  POST /ofrep/v1/evaluate/flags/{key}   body ``{"context": {...}}`` (or empty)
  POST /ofrep/v1/evaluate/flags         bulk; answers ``ETag`` and honours ``If-None-Match``
  GET  /healthz, /readyz                (flagd serves these on its management port)

Run: ``python -m tracebed.reference.flagd start --uri file:/path/flags.json``.
"""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

from tracebed.reference.common.config import env, env_port
from tracebed.reference.flagd import ofrep, rpc
from tracebed.reference.flagd.evaluation import FlagStore
from tracebed.reference.flagd.flagfile import FlagFileError, bundled_flag_file
from tracebed.reference.flagd.ofrep import OfrepError, context_from_body

log = logging.getLogger("flagd")


def create_app(store: FlagStore) -> Flask:
    app = Flask("flagd")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the file's flag order

    def body() -> Any:
        if not request.get_data():
            return None
        data = request.get_json(silent=True, force=True)
        if data is None:
            raise OfrepError(400, None, "PARSE_ERROR", "request body is not valid JSON")
        return data

    @app.errorhandler(OfrepError)
    def _ofrep_error(exc: OfrepError) -> tuple[Response, int]:
        return jsonify(exc.body), exc.status

    @app.post("/ofrep/v1/evaluate/flags/<key>")
    def evaluate_one(key: str) -> Response:
        return jsonify(ofrep.evaluate(store, key, context_from_body(body())))

    @app.post("/ofrep/v1/evaluate/flags")
    def evaluate_all() -> Response:
        generation, results = ofrep.evaluate_all(store, context_from_body(body()))
        etag = f'"{generation}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        resp = jsonify({"flags": results})
        resp.headers["ETag"] = etag
        return resp

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        keys = store.keys
        if store.last_error:
            return jsonify({"status": "degraded", "error": store.last_error}), 200
        return jsonify({"status": "ok", "flags": len(keys)}), 200

    return app


def _flag_path(uri: str) -> Path:
    if not uri.startswith("file:"):
        raise SystemExit(f"flagd: only file: URIs are supported, got {uri!r}")
    return Path(uri[len("file:") :]).resolve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="flagd", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    start = sub.add_parser("start")
    start.add_argument("--uri", default=f"file:{bundled_flag_file()}")
    start.add_argument("--port", type=int, default=None, help="OFREP port (FLAGD_OFREP_PORT)")
    start.add_argument(
        "--grpc-port", type=int, default=None, help="gRPC evaluation port (FLAGD_PORT)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s flagd %(message)s")
    grpc_port = args.grpc_port if args.grpc_port is not None else env_port("FLAGD_PORT", 8013)
    ofrep_port = args.port if args.port is not None else env_port("FLAGD_OFREP_PORT", 8016)
    host = env("BIND_HOST", "127.0.0.1")
    try:
        store = FlagStore(_flag_path(args.uri), source=args.uri.removeprefix("file:"))
    except FlagFileError as exc:
        raise SystemExit(f"flagd: {exc}") from None
    try:
        grpc_server, grpc_bound = rpc.build_server(store, host, grpc_port)
        http_server = make_server(host, ofrep_port, create_app(store), threaded=True)
    except (OSError, RuntimeError) as exc:
        raise SystemExit(f"flagd: {exc}") from None
    stop = threading.Event()
    threading.Thread(target=store.watch, args=(stop,), name="flag-file-watch", daemon=True).start()
    # gRPC first: the readiness probe (OFREP /readyz) then implies both ports are up
    grpc_server.start()
    log.info("gRPC evaluation listening on %s:%d (flagd.evaluation.v1, v2)", host, grpc_bound)
    log.info("OFREP listening on http://%s:%d (flags from %s)", host, http_server.port, args.uri)
    try:
        http_server.serve_forever()
    finally:
        stop.set()
        grpc_server.stop(1.0)


if __name__ == "__main__":
    main()
