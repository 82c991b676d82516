#!/usr/bin/env bash
# Set up tracebed on a fresh Debian machine: system packages, then a virtual environment.
# Idempotent and quick when everything is already there. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

# redis-server, nginx, prometheus: real parts of the reference stack; postgresql: its
# astronomy-db at demo 3.0.0.
# docker.io, docker-compose, debootstrap: the compose path. chromium: the HTML report test.
# nodejs (with npm): the real Node payment service plugged into the stand-in (tests/byos).
DEBIAN_PACKAGES=(redis-server nginx prometheus postgresql docker.io docker-compose debootstrap chromium iptables nodejs)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's own nodejs ships npm apart (NodeSource's includes it).
if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing npm" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv" >&2
    "$PYTHON" -m venv .venv
    .venv/bin/pip install -q --upgrade pip
fi
# Re-install only when the project's requirements changed since the last install.
stamp=.venv/.tracebed-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing tracebed and its Python dependencies into .venv" >&2
    .venv/bin/pip install -q -e '.[dev]'
    touch "$stamp"
fi
