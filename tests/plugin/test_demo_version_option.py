"""`--tracebed-demo-version` / `tracebed_demo_version`: which release the reference stack is."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TESTS = '''
def test_options(pytestconfig):
    from tracebed.plugin.core import harness_options

    print("DEMO_VERSION=%s" % harness_options(pytestconfig).demo_version)
'''


def test_the_command_line_wins_over_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntracebed_demo_version = 2.0.2\n")
    pytester.makepyfile(test_opt=TESTS)
    ini = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-s")
    ini.assert_outcomes(passed=1)
    ini.stdout.fnmatch_lines(["*DEMO_VERSION=2.0.2*"])
    cli = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-s", "--tracebed-demo-version=3.0.0")
    cli.stdout.fnmatch_lines(["*DEMO_VERSION=3.0.0*"])


def test_unset_leaves_the_default_to_the_harness(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_opt=TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-s")
    result.stdout.fnmatch_lines(["*DEMO_VERSION=None*"])


def test_an_unknown_release_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_opt=TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--tracebed-demo-version=2.1")
    # refused in pytest_configure, before collection (plugin/validate.py)
    result.stderr.fnmatch_lines(["*--tracebed-demo-version must be one of 3.0.0, 2.0.2, not '2.1'*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
