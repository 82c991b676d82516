"""`--replace SERVICE=COMMAND`: the real Node payment service in the stand-in's place.

Real parts throughout: the stand-in stack (Envoy, rotel, every other service), the demo's
payment written in Node on @grpc/grpc-js, the OpenTelemetry Node SDK and OpenFeature's flagd
provider (gRPC evaluation protocol), started by the harness in payment's tier with the
environment the demo's compose file gives payment.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import psutil
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from tests.byos.support import NODE_PAYMENT
from tracebed.harness import Harness, HarnessOptions
from tracebed.model import Trace
from tracebed.stack.errors import StackStartError

pytestmark = pytest.mark.slow


def _node_payment(node_modules: Path) -> str:
    node = shutil.which("node")
    assert node is not None
    return shlex.join(
        ["env", f"NODE_PATH={node_modules}", node, "--require",
         str(NODE_PAYMENT / "opentelemetry.js"), str(NODE_PAYMENT / "index.js")]
    )  # fmt: skip


def _payment_sdk_language(trace: Trace) -> set[str]:
    return {
        str(span.resource.get("telemetry.sdk.language"))
        for span in trace
        if span.service == "payment"
    }


def test_checkouts_pass_through_the_replacement_and_its_flags_come_over_grpc(
    node_modules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))
    command = _node_payment(node_modules)
    options = HarnessOptions(kind="local", workdir=tmp_path / "run", replace={"payment": command})
    # processes of other fixtures of the session (another test's flagd, say) are not the stack's
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with Harness(options) as harness:
        demo = harness.demo_stack
        assert demo is not None and demo.topology is not None and demo.stack is not None
        payment = demo.topology.services["payment"]
        assert payment.replaced_by == command
        assert payment.to_json()["replaced_by"] == command
        assert demo.timeline.ready_at("payment") is not None  # probed as the stand-in's would be
        pids = {p.pid for p in psutil.Process().children(recursive=True)} - before
        assert pids, "the stack's processes are children of this process"

        order = harness.shop().checkout()
        assert order.main.status_code == 200, order.main.text
        trace = order.main.trace(until=lambda t: {"payment", "email"} <= t.services)
        assert _payment_sdk_language(trace) == {"nodejs"}  # the Node SDK's spans, not Python's
        assert any(s.name == "charge" and s.service == "payment" for s in trace)

        # paymentFailure through flagd-ui: the provider hears of it over EventStream.
        assert demo.flags is not None
        with demo.flags.switched(paymentFailure="100%"):
            failing = Retrying(
                stop=stop_after_delay(30),
                wait=wait_fixed(0.2),
                retry=retry_if_result(lambda run: run.main.status_code < 500),
                retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
            )(harness.shop().checkout)
            assert failing.main.status_code >= 500
            failed = failing.main.trace(until=lambda t: "payment" in t.services)
            assert _payment_sdk_language(failed) == {"nodejs"}
            assert any(s.service == "payment" and s.status.is_error for s in failed)
    gone = [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert gone == []  # the replacement stopped with the stack


def test_a_replacement_that_never_becomes_ready_names_its_service_and_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))
    command = "sh -c 'echo my-payment cannot start >&2; exit 3'"
    options = HarnessOptions(kind="local", workdir=tmp_path / "run", replace={"payment": command})
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(StackStartError) as err, Harness(options):
        pass
    message = str(err.value)
    assert err.value.service == "payment"
    assert f"(replaced by: {command})" in message
    assert "my-payment cannot start" in message  # its log tail
    left = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not [p for p in left if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_unknown_service_and_external_stacks_are_refused(tmp_path: Path) -> None:
    from tracebed.errors import ConfigError
    from tracebed.stack.errors import TopologyError

    with pytest.raises(TopologyError, match="unknown service 'paymnt'"), Harness(
        HarnessOptions(kind="local", workdir=tmp_path / "a", replace={"paymnt": "true"})
    ):
        pass
    with pytest.raises(ConfigError, match="--replace needs a local stack"), Harness(
        HarnessOptions(
            kind="external", frontend_url="http://127.0.0.1:9", workdir=tmp_path / "b",
            replace={"payment": "true"},
        )
    ):
        pass
