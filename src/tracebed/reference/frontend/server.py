"""Run the frontend: ``python -m tracebed.reference.frontend`` (port ``PORT``, as the demo)."""

from __future__ import annotations

import logging
import signal
import threading

from werkzeug.serving import make_server

from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env, env_port
from tracebed.reference.frontend.app import create_app
from tracebed.reference.frontend.gateway import Gateway
from tracebed.reference.frontend.tracing import ServerSpans

log = logging.getLogger("frontend")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s frontend %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        telemetry.setup(env("OTEL_SERVICE_NAME", "frontend"))
        port = env_port("PORT", env_port("FRONTEND_PORT", 8080))
        gateway = Gateway.from_env()
    except EnvError as exc:
        log.error("%s", exc)
        return 2
    app = create_app(gateway)
    app.wsgi_app = ServerSpans(app.wsgi_app)  # type: ignore[method-assign]
    server = make_server(env("BIND_HOST", "127.0.0.1"), port, app, threaded=True)
    log.info("frontend listening on port %d", server.port)

    def stop(_signum: int, _frame: object) -> None:
        # shutdown() waits for serve_forever to return, so call it from another thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    telemetry.shutdown()
    return 0
