"""Every `--tracebed-*` value and ini key is checked before collection, in one line."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

BAD_COMMAND_LINE = [
    "--tracebed-stack=bogus",
    "--tracebed-trace-timeout=abc",
    "--tracebed-sink-grpc-port=xyz",
    "--tracebed-sink-http-port=99999",
    "--tracebed-var",
    "FOO",
    "--tracebed-vars-file",
    "/nope",
    "--tracebed-host-map",
    "garbage",
    "--tracebed-frontend-url=localhost:8080",
]


def test_bad_values_are_refused_before_collection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    raise AssertionError('must not run')\n")
    result = pytester.runpytest_subprocess("--co", *BAD_COMMAND_LINE)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    for expected in (
        "--tracebed-stack must be one of local, compose, external, not 'bogus'",
        "--tracebed-trace-timeout must be a number, not 'abc'",
        "--tracebed-sink-grpc-port must be an integer, not 'xyz'",
        "--tracebed-sink-http-port must be at most 65535, not '99999'",
        "--tracebed-var must be NAME=VALUE, not 'FOO'",
        "--tracebed-vars-file /nope: no such file",
        "--tracebed-host-map must be NAME=HOST:PORT",
        "--tracebed-frontend-url must be an http(s) URL",
    ):
        assert expected in err, err
    assert "collected" not in result.stdout.str()
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("ERROR:")]) == 1


def test_ini_values_are_checked_too(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntracebed_stack = kubernetes\ntracebed_flag_settle = -1\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--co")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--tracebed-stack must be one of local, compose, external, not 'kubernetes'" in err
    assert "--tracebed-flag-settle must be at least 0, not -1.0" in err


def test_good_values_collect(pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory) -> None:
    vars_file = tmp_path_factory.mktemp("vars") / "vars.env"
    vars_file.write_text("A=1\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--co",
        "--tracebed-stack=external",
        "--tracebed-frontend-url=http://127.0.0.1:8080",
        "--tracebed-trace-timeout=2.5",
        "--tracebed-sink-grpc-port=0",
        "--tracebed-var=A=1",
        f"--tracebed-vars-file={vars_file}",
        "--tracebed-host-map=frontend:8080=127.0.0.1:41234",
    )
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    result.stdout.fnmatch_lines(["*1 test collected*"])


def test_help_shows_each_options_ini_key_and_default(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    text = " ".join(result.stdout.str().split())
    assert "(ini: tracebed_trace_timeout; default: 30.0)" in text
    assert "(ini: tracebed_host_map)" in text
    assert "tracebed_sink_grpc_port (int):" in text  # typed ini keys, not (string)
