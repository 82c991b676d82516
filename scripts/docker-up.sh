#!/usr/bin/env bash
# Start dockerd in the background if it is not already answering, then wait until it does.
#
# Idempotent; installs nothing (scripts/setup.sh installs docker.io, docker-compose, debootstrap).
# Run as root on a fresh machine (CI) or on a developer machine where dockerd is not a service.
#
#   scripts/docker-up.sh            # start if needed, wait (bounded) until `docker info` answers
#
# Environment:
#   TRACEBED_DOCKERD_LOG      log file for dockerd (default /var/log/tracebed-dockerd.log)
#   TRACEBED_DOCKERD_TIMEOUT  seconds to wait for the daemon (default 60)
#   TRACEBED_DOCKERD_ARGS     extra arguments for dockerd
#
# What dockerd needs, and what this script does about each:
#   cgroups        mounted cgroup v1 hierarchies or the v2 unified tree; if /sys/fs/cgroup is
#                  empty (bare VM, some CI runners) it mounts them as cgroupfs-mount would.
#   iptables       dockerd programs NAT/filter rules for bridge networks; if the default
#                  iptables (nft) cannot list tables it tries iptables-legacy, and as a last
#                  resort runs dockerd with --iptables=false (containers still reach the host
#                  over the bridge, and published ports go through docker-proxy).
#   storage        overlay2 when the kernel can mount overlay on /var/lib/docker's filesystem,
#                  else vfs (slow but works everywhere, e.g. docker-in-docker).
#   stale pidfile  a /var/run/docker.pid left by a killed daemon makes dockerd refuse to start;
#                  removed when its process is gone.
set -euo pipefail

log_file="${TRACEBED_DOCKERD_LOG:-/var/log/tracebed-dockerd.log}"
timeout_s="${TRACEBED_DOCKERD_TIMEOUT:-60}"
extra_args="${TRACEBED_DOCKERD_ARGS:-}"

say() { echo "docker-up: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

docker_answers() { docker info >/dev/null 2>&1; }

if ! command -v docker >/dev/null 2>&1; then
    die "the docker CLI is not installed (scripts/setup.sh installs docker.io)"
fi

if docker_answers; then
    say "dockerd already answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
fi

command -v dockerd >/dev/null 2>&1 || die "dockerd is not installed (scripts/setup.sh installs docker.io)"
[ "$(id -u)" = 0 ] || die "dockerd is not running and starting it needs root (run: sudo $0)"

# A daemon that is starting right now (another caller of this script) is waited for, not doubled.
if pidfile_pid="$(cat /var/run/docker.pid 2>/dev/null)" && [ -n "$pidfile_pid" ]; then
    if kill -0 "$pidfile_pid" 2>/dev/null; then
        say "dockerd (pid $pidfile_pid) is starting; waiting for it"
        started_pid="$pidfile_pid"
    else
        say "removing stale /var/run/docker.pid (pid $pidfile_pid is gone)"
        rm -f /var/run/docker.pid
    fi
fi

ensure_cgroups() {
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        return 0 # cgroup v2 unified hierarchy
    fi
    if [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/cpu ]; then
        return 0 # cgroup v1 already mounted
    fi
    say "mounting cgroup hierarchies"
    mountpoint -q /sys/fs/cgroup || mount -t tmpfs -o uid=0,gid=0,mode=0755 cgroup /sys/fs/cgroup
    # One hierarchy per enabled controller, as cgroupfs-mount does.
    local ctrl
    for ctrl in $(awk '!/^#/ { if ($4 == 1) print $1 }' /proc/cgroups); do
        mkdir -p "/sys/fs/cgroup/$ctrl"
        mountpoint -q "/sys/fs/cgroup/$ctrl" \
            || mount -n -t cgroup -o "$ctrl" cgroup "/sys/fs/cgroup/$ctrl" \
            || say "could not mount cgroup controller $ctrl (continuing)"
    done
    mkdir -p /sys/fs/cgroup/systemd
    mountpoint -q /sys/fs/cgroup/systemd \
        || mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd || true
}

iptables_args() {
    if iptables -t nat -nL >/dev/null 2>&1; then
        return 0
    fi
    if command -v iptables-legacy >/dev/null 2>&1 && iptables-legacy -t nat -nL >/dev/null 2>&1; then
        say "iptables (nft) unusable; switching the iptables alternative to iptables-legacy"
        update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null 2>&1 || true
        update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1 || true
        if iptables -t nat -nL >/dev/null 2>&1; then
            return 0
        fi
    fi
    say "no working iptables; starting dockerd with --iptables=false"
    echo "--iptables=false"
}

storage_args() {
    local root=/var/lib/docker probe
    mkdir -p "$root"
    # overlay2 on an overlay-backed /var/lib/docker fails, so try a real overlay mount there.
    probe="$(mktemp -d "$root/.overlay-probe.XXXXXX")"
    mkdir -p "$probe/l" "$probe/u" "$probe/w" "$probe/m"
    if mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" "$probe/m" \
        2>/dev/null; then
        umount "$probe/m"
        rm -rf "$probe"
        echo "--storage-driver=overlay2"
    else
        rm -rf "$probe"
        say "overlay mounts do not work on $root; using the vfs storage driver"
        echo "--storage-driver=vfs"
    fi
}

if [ -z "${started_pid:-}" ]; then
    ensure_cgroups
    args="$(iptables_args) $(storage_args) $extra_args"
    mkdir -p "$(dirname "$log_file")"
    say "starting dockerd $args (log: $log_file)"
    # setsid: the daemon outlives this shell and the CI step that ran it.
    # shellcheck disable=SC2086
    setsid dockerd $args >>"$log_file" 2>&1 </dev/null &
    started_pid=$!
fi

deadline=$(( $(date +%s) + timeout_s ))
delay=0.1
until docker_answers; do
    if ! kill -0 "$started_pid" 2>/dev/null; then
        say "dockerd exited during startup; last lines of $log_file:"
        tail -n 30 "$log_file" >&2 || true
        exit 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        say "dockerd did not answer within ${timeout_s}s; last lines of $log_file:"
        tail -n 30 "$log_file" >&2 || true
        exit 1
    fi
    sleep "$delay"
    # Back off gently: fast when it is quick, cheap when it is slow.
    delay=$(awk -v d="$delay" 'BEGIN { d *= 1.5; if (d > 1) d = 1; print d }')
done
say "dockerd ready ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
