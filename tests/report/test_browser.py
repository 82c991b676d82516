"""A report page opened from disk in headless Chromium: the script-drawn waterfall renders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.report.factory import checkout_trace
from tracebed.report.writer import ReportedTest, slug, write_report

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm; Chromium then crashes
)


def find_chromium() -> str:
    explicit = os.environ.get("TRACEBED_CHROMIUM")
    found = explicit or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
    )
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is required in CI: install the Debian package `chromium`")
    pytest.skip("Chromium not installed (Debian package `chromium`); CI runs this test")


def dump_dom(url: str, profile: Path, timeout: float = 90) -> str:
    """The DOM after load, as Chromium serialises it (scripts have run by then)."""
    command = [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url]
    # Own process group: on a hang, the browser's helper processes go down with it.
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"chromium did not finish within {timeout}s for {url}") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err[-2000:]}"
    assert out.strip(), f"chromium printed no DOM: {err[-2000:]}"
    return out


class Rows(HTMLParser):
    """Collects the waterfall rows and detail panels the script created."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.hosts: list[dict[str, str]] = []
        self.root: dict[str, str] = {}
        self.names: list[str] = []
        self.details = 0
        self.detail_cells: list[str] = []
        self._in_name = False
        self._in_details = 0
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "html":
            self.root = a
        if "wf-row" in classes:
            self.rows.append(a)
        if "waterfall" in classes:
            self.hosts.append(a)
        if "wf-name" in classes:
            self._in_name = True
        if "wf-details" in classes and "hidden" not in a:
            self.details += 1
            self._in_details = 1
        elif self._in_details and tag == "div":
            self._in_details += 1
        if self._in_details and tag in ("th", "td"):
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "span":
            self._in_name = False
        if tag in ("th", "td"):
            self._in_cell = False
        if self._in_details and tag == "div":
            self._in_details -= 1

    def handle_data(self, data: str) -> None:
        if self._in_name:
            self.names.append(data)
        if self._in_cell:
            self.detail_cells.append(data)


def test_waterfall_renders_every_span_in_chromium(tmp_path: Path) -> None:
    trace = checkout_trace(payment_error=True)
    charge = trace.named("charge", service="payment")[0]
    write_report(
        tmp_path / "report",
        [ReportedTest("t.py::test_checkout", "failed", 0.4, [trace], [trace.trace_id])],
        [("kafka", 0, 0.0, 2.0, "ready")],
    )
    page = tmp_path / "report" / "tests" / f"{slug('t.py::test_checkout')}.html"

    parsed = Rows()
    parsed.feed(dump_dom(page.as_uri() + f"#span-{charge.span_id}", tmp_path / "profile"))

    assert parsed.root.get("data-tracebed-rendered") == "yes", "the script did not run to the end"
    assert [h.get("data-rendered") for h in parsed.hosts] == [str(len(trace))]
    assert [r["data-span-id"] for r in parsed.rows] == [s.span_id for _, s in trace.walk()]
    assert [r["data-depth"] for r in parsed.rows] == [str(d) for d, _ in trace.walk()]
    assert sorted(parsed.names) == sorted(s.name for s in trace)
    error_rows = {r["data-span-id"] for r in parsed.rows if "error" in r["class"].split()}
    assert error_rows == {s.span_id for s in trace.errors}
    # the deep link opened the charge span's details: its attributes are in the DOM
    assert parsed.details == 1
    assert "app.payment.card_type" in parsed.detail_cells and "visa" in parsed.detail_cells
    assert charge.span_id in parsed.detail_cells
