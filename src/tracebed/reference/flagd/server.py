"""The flag service: OFREP over HTTP, evaluating a flagd flag file that it re-reads on change.

Routes (flagd v0.12 OFREP port, ``FLAGD_OFREP_PORT``):
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
from tracebed.reference.flagd.flagfile import FlagFileError, WatchedFlagFile, bundled_flag_file
from tracebed.reference.flagd.ofrep import Evaluator, OfrepError, context_from_body

log = logging.getLogger("flagd")


def create_app(flag_file: Path) -> Flask:
    watched = WatchedFlagFile(flag_file)
    evaluator = Evaluator()
    lock = threading.Lock()
    app = Flask("flagd")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the file's flag order

    def refreshed() -> tuple[Evaluator, int]:
        doc, generation = watched.current()
        with lock:
            evaluator.load(doc, generation)
        return evaluator, generation

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
        ctx = context_from_body(body())
        ev, _ = refreshed()
        with lock:
            return jsonify(ev.evaluate(key, ctx))

    @app.post("/ofrep/v1/evaluate/flags")
    def evaluate_all() -> Response:
        ctx = context_from_body(body())
        ev, generation = refreshed()
        etag = f'"{generation}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        results = []
        with lock:
            for key in ev.keys:
                try:
                    results.append(ev.evaluate(key, ctx))
                except OfrepError as exc:
                    results.append(exc.body)
        resp = jsonify({"flags": results})
        resp.headers["ETag"] = etag
        return resp

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        refreshed()
        if watched.last_error:
            return jsonify({"status": "degraded", "error": watched.last_error}), 200
        return jsonify({"status": "ok", "flags": len(evaluator.keys)}), 200

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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s flagd %(message)s")
    port = args.port if args.port is not None else env_port("FLAGD_OFREP_PORT", 8016)
    host = env("BIND_HOST", "127.0.0.1")
    try:
        app = create_app(_flag_path(args.uri))
    except FlagFileError as exc:
        raise SystemExit(f"flagd: {exc}") from None
    server = make_server(host, port, app, threaded=True)
    log.info("OFREP listening on http://%s:%d (flags from %s)", host, server.port, args.uri)
    server.serve_forever()


if __name__ == "__main__":
    main()
