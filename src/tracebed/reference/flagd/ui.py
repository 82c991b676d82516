"""flagd-ui: a small page listing the flags and switching them (default variant, or the
targeting rule's then-branch for an ``if`` rule, as the demo's flagd-ui toggle does).

It rewrites the flag file the flag service watches (as the demo's flagd-ui does through a
shared volume). Served under ``/feature`` (the demo 2.0.2 app's basePath; Envoy does not
rewrite the prefix).

JSON API (what tests and the pytest plugin use):
  GET  /feature/api/flags                 -> {"flags": {key: {state, variants, defaultVariant, ...}}}
  GET  /feature/api/flags/{key}           -> {"key": key, ...definition}
  POST /feature/api/flags/{key}           body {"defaultVariant": "on"} -> the new definition
                                          (an ``if`` rule's then-branch gets the variant)
  Compatible with the demo's 2.0.2 UI API:
  GET  /feature/api/read-file             -> the whole flag document
  POST /feature/api/write-to-file         body {"data": <whole document>} -> {"message": ...}
Errors: 404 {"error"} for an unknown flag, 400 {"error"} for a bad variant or document.

Run: ``python -m tracebed.reference.flagd.ui --file /path/flags.json`` (port FLAGD_UI_PORT).
"""

from __future__ import annotations

import argparse
import html
import json
import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.serving import make_server
from werkzeug.wrappers import Response as BaseResponse

from tracebed.reference.common.config import env, env_port
from tracebed.reference.flagd import flagfile
from tracebed.reference.flagd.flagfile import FlagFileError

log = logging.getLogger("flagd-ui")
BASE = "/feature"

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Feature flags</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;text-align:left}}
tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h1>Feature flags</h1><p>File: <code>{path}</code></p>
<table><tr><th>Flag</th><th>Description</th><th>Default variant</th></tr>
{rows}
</table>
<script>
async function setVariant(key, variant) {{
  const r = await fetch("{base}/api/flags/" + encodeURIComponent(key), {{
    method: "POST", headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{defaultVariant: variant}})}});
  document.getElementById("status").textContent =
    r.ok ? key + " = " + variant : "error: " + (await r.json()).error;
}}
</script><p id="status"></p></body></html>
"""


def _row(key: str, flag: dict[str, Any]) -> str:
    options = "".join(
        f'<option value="{html.escape(v)}"{" selected" if v == flag.get("defaultVariant") else ""}>'
        f"{html.escape(v)} ({html.escape(json.dumps(val))})</option>"
        for v, val in flag["variants"].items()
    )
    k = html.escape(key)
    return (
        f"<tr><td><code>{k}</code></td><td>{html.escape(str(flag.get('description', '')))}</td>"
        f'<td><select name="{k}" onchange="setVariant(\'{k}\', this.value)">{options}</select>'
        "</td></tr>"
    )


def create_app(flag_file: Path) -> Flask:
    flagfile.read(flag_file)  # fail at start, not on the first request
    app = Flask("flagd-ui")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the file's flag order

    def error(status: int, message: str) -> tuple[Response, int]:
        return jsonify({"error": message}), status

    @app.get("/")
    def root() -> BaseResponse:
        return redirect(BASE)

    @app.get(BASE)
    @app.get(BASE + "/")
    def page() -> Response:
        doc = flagfile.read(flag_file)
        rows = "\n".join(_row(k, f) for k, f in doc["flags"].items())
        body = _PAGE.format(path=html.escape(str(flag_file)), rows=rows, base=BASE)
        return Response(body, mimetype="text/html")

    @app.get(BASE + "/api/flags")
    def list_flags() -> Response:
        return jsonify({"flags": flagfile.read(flag_file)["flags"]})

    @app.get(BASE + "/api/flags/<key>")
    def get_flag(key: str) -> Response | tuple[Response, int]:
        flag = flagfile.read(flag_file)["flags"].get(key)
        if flag is None:
            return error(404, f"unknown flag {key!r}")
        return jsonify({"key": key, **flag})

    @app.post(BASE + "/api/flags/<key>")
    def set_flag(key: str) -> Response | tuple[Response, int]:
        data = request.get_json(silent=True, force=True)
        if not isinstance(data, dict) or not isinstance(data.get("defaultVariant"), str):
            return error(400, 'body must be a JSON object {"defaultVariant": "<variant>"}')
        try:
            flag = flagfile.set_default_variant(flag_file, key, data["defaultVariant"])
        except KeyError:
            return error(404, f"unknown flag {key!r}")
        except FlagFileError as exc:
            return error(400, str(exc))
        log.info("flag %s -> %s", key, data["defaultVariant"])
        return jsonify({"key": key, **flag})

    @app.get(BASE + "/api/read-file")
    def read_file() -> Response | tuple[Response, int]:
        try:
            return jsonify(flagfile.read(flag_file))
        except FlagFileError as exc:
            return error(500, str(exc))

    @app.post(BASE + "/api/write-to-file")
    def write_file() -> Response | tuple[Response, int]:
        data = request.get_json(silent=True, force=True)
        if not isinstance(data, dict) or "data" not in data:
            return error(400, 'body must be a JSON object {"data": <flag document>}')
        try:
            flagfile.write(flag_file, data["data"])
        except FlagFileError as exc:
            return error(400, str(exc))
        return jsonify({"message": "File written successfully"})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="flagd-ui", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--file", default=env("FLAGD_UI_FLAG_FILE", str(flagfile.bundled_flag_file()))
    )
    parser.add_argument("--port", type=int, default=None, help="port (FLAGD_UI_PORT)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s flagd-ui %(message)s")
    port = args.port if args.port is not None else env_port("FLAGD_UI_PORT", 4000)
    host = env("BIND_HOST", "127.0.0.1")
    try:
        app = create_app(Path(args.file).resolve())
    except FlagFileError as exc:
        raise SystemExit(f"flagd-ui: {exc}") from None
    server = make_server(host, port, app, threaded=True)
    log.info("flagd-ui on http://%s:%d%s (file %s)", host, server.port, BASE, args.file)
    server.serve_forever()


if __name__ == "__main__":
    main()
