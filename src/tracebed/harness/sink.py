"""The one way to get a sink: in this process, as its own process, or one already running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracebed.errors import SinkError
from tracebed.otlp.client import SinkClient
from tracebed.otlp.sink import DEFAULT_MAX_SPANS, Sink
from tracebed.stack.state import proc_start_time, terminate_groups

if TYPE_CHECKING:
    from tracebed.model.source import TraceSource

# Where a client reaches a sink listening on every address.
_ANY_ADDRESS = ("0.0.0.0", "::", "")


class SinkStartError(SinkError, RuntimeError):
    """The sink could not be started (its process exited, or never reported its ports)."""


class SinkHandle:
    """The sink of one run: in this process (`.sink`), its own process (`.pid`, which outlives
    this one: `tracebed up --detach`), or one running elsewhere (only its HTTP API is known)."""

    def __init__(
        self,
        grpc_endpoint: str | None,
        http_url: str,
        *,
        sink: Sink | None = None,
        pid: int | None = None,
        stop: Callable[[], None] | None = None,
    ) -> None:
        self.grpc_endpoint = grpc_endpoint
        self.http_url = http_url
        self.sink = sink
        self.pid = pid
        self._stop = stop
        self._remote: SinkClient | None = None

    @classmethod
    def of(cls, sink: Sink, *, owned: bool = True) -> SinkHandle:
        """An in-process sink (started); stopped with the handle only if `owned`."""
        return cls(sink.grpc_endpoint, sink.http_url, sink=sink, stop=sink.stop if owned else None)

    @classmethod
    def remote(cls, http_url: str) -> SinkHandle:
        """A sink someone else runs, reached through its HTTP API (nothing to stop)."""
        handle = cls(None, http_url.rstrip("/"))
        handle._remote = _http_source(http_url)  # a malformed URL is a ValueError here
        return handle

    @property
    def grpc_port(self) -> int:
        if self.grpc_endpoint is None:
            raise LookupError(f"the OTLP/gRPC port of the sink at {self.http_url} is not known")
        return int(self.grpc_endpoint.rsplit(":", 1)[1])

    @property
    def source(self) -> TraceSource:
        """Where traces are read: the store itself, or the sink's HTTP API."""
        if self.sink is not None:
            return self.sink.store
        return self._api()

    def _api(self) -> SinkClient:
        if self._remote is None:
            self._remote = _http_source(self.http_url)
        return self._remote

    def check(self) -> None:
        """A sink elsewhere must answer its API (raises the API client's error); ours does."""
        if self.sink is None:
            self._api().check()

    def stop(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def info(self) -> dict[str, Any]:
        """What a run record keeps of the sink (`tracebed status`, `down`, `record`, `load`)."""
        out: dict[str, Any] = {"grpc": self.grpc_endpoint, "http": self.http_url}
        if self.pid is not None:
            out.update(pid=self.pid, start_time=proc_start_time(self.pid))
        return out


def _http_source(http_url: str) -> SinkClient:
    return SinkClient(http_url)


def start_sink(
    *,
    host: str = "127.0.0.1",
    grpc_port: int = 0,
    http_port: int = 0,
    max_spans: int | None = None,
    process: bool = False,
    workdir: Path | None = None,
) -> SinkHandle:
    """A started sink: in this process, or (`process`) as `tracebed sink` in its own session,
    logging to `workdir`/sink.log. Raises OSError when a port is taken (in process) and
    `SinkStartError` when the process fails."""
    if not process:
        sink = Sink(host, grpc_port, http_port, max_spans=max_spans or DEFAULT_MAX_SPANS).start()
        return SinkHandle.of(sink)
    if workdir is None:
        raise ValueError("a sink process needs a work directory for its log and ready file")
    return _spawn_sink_process(workdir, host, grpc_port, http_port, max_spans)


def _spawn_sink_process(
    workdir: Path, host: str, grpc_port: int, http_port: int, max_spans: int | None
) -> SinkHandle:
    """`tracebed sink` as its own session, so it outlives `tracebed up --detach`."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "sink-ready.json"
    ready.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-c",
        "from tracebed.cli import main; main()",
        "sink",
        "--host",
        host,
        "--grpc-port",
        str(grpc_port),
        "--http-port",
        str(http_port),
        "--ready-file",
        str(ready),
    ]
    if max_spans:
        argv += ["--max-spans", str(max_spans)]
    with open(workdir / "sink.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    delay = 0.02
    while not ready.is_file():
        if proc.poll() is not None:
            tail = (workdir / "sink.log").read_text(errors="replace")[-2000:]
            raise SinkStartError(f"the sink exited with code {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            proc.kill()
            raise SinkStartError("the sink did not report its ports within 60 s")
        time.sleep(delay)  # bounded back-off on a file another process writes atomically
        delay = min(delay * 2, 0.25)
    ports = json.loads(ready.read_text())
    pid = proc.pid

    def stop() -> None:
        terminate_groups([(pid, proc_start_time(pid), int(signal.SIGTERM))], 5.0)
        proc.poll()

    reach = "127.0.0.1" if host in _ANY_ADDRESS else host
    return SinkHandle(
        f"{reach}:{ports['grpc_port']}",
        f"http://{reach}:{ports['http_port']}",
        pid=pid,
        stop=stop,
    )
