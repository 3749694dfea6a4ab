#!/bin/bash
# Slurm Prolog: start one `monitor tail` on this node for the job that is starting, as the job's
# user, with its metrics labelled run="$SLURM_JOB_ID". epilog.sh stops it. See deploy/README.md.
#
# slurm.conf (on every node):
#   Prolog=/etc/slurm/prolog.d/monitor.sh      # this file, executable, owned by root
#   Epilog=/etc/slurm/epilog.d/monitor.sh      # epilog.sh
#   PrologFlags=Alloc                          # run at allocation, before the job writes its logs
#
# Settings: the defaults below; /etc/default/monitor-slurm (owned by root, read by this script
# and by epilog.sh; another file with MONITOR_SLURM_CONF=FILE) may override any of them. In MONITOR_LOGS, %j is the job id, %u the user,
# %n this node's name and %w the job's working directory.
#
# Slurm drains the node and requeues the job when a prolog fails: monitoring must never do that,
# so every failure here is logged (syslog, tag monitor-slurm) and the script still exits 0.
set -eu

# Slurm runs prologs without a search path.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

MONITOR_BIN=/opt/monitor/bin/monitor        # `pip install .` of this repository into /opt/monitor
MONITOR_LOGS=("%w")                         # paths to follow (files, directories, globs); an array
MONITOR_PORT_BASE=19108                      # the metrics port ...
MONITOR_PORT_SLOTS=1                        # ... plus job id % slots: set > 1 where jobs share nodes
MONITOR_RUN_DIR=/run/monitor                # pid files
MONITOR_STATE_DIR=/var/lib/monitor/slurm    # one directory per job: state, events, the monitor's log
MONITOR_SD_DIR=                             # optional: a directory Prometheus reads with file_sd
MONITOR_FIRST_NODE_ONLY=0                   # 1: only on the job's first node (logs on a shared file system)
MONITOR_ENABLE=1
MONITOR_SLURM_CONF=${MONITOR_SLURM_CONF:-/etc/default/monitor-slurm}
if [ -r "$MONITOR_SLURM_CONF" ]; then
    # shellcheck source=/dev/null
    . "$MONITOR_SLURM_CONF"
fi

log() {
    logger -t monitor-slurm -- "job ${SLURM_JOB_ID:-?} on ${SLURMD_NODENAME:-?}: $*" 2>/dev/null || true
}

on_exit() {
    rc=$?
    if [ "$rc" -ne 0 ]; then
        log "prolog failed (exit $rc); the job runs unmonitored"
    fi
    exit 0
}
trap on_exit EXIT

[ "$MONITOR_ENABLE" = 1 ] || exit 0

job=${SLURM_JOB_ID:?}
uid=${SLURM_JOB_UID:?}
gid=${SLURM_JOB_GID:?}
user=${SLURM_JOB_USER:-$uid}
workdir=${SLURM_JOB_WORK_DIR:-}
node=${SLURMD_NODENAME:-$(hostname -s)}

case "$job$uid$gid" in
    *[!0-9]*) log "unexpected job id, uid or gid: $job $uid $gid"; exit 0 ;;
esac
if [ ! -x "$MONITOR_BIN" ]; then
    log "$MONITOR_BIN is not installed"
    exit 0
fi
if [ "$MONITOR_FIRST_NODE_ONLY" = 1 ] && [ -n "${SLURM_JOB_NODELIST:-}" ]; then
    first=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
    [ "$first" = "$node" ] || exit 0
fi

# The paths, from their templates (no eval: the working directory is the user's to name).
paths=()
for template in "${MONITOR_LOGS[@]}"; do
    path=${template//"%j"/"$job"}
    path=${path//"%u"/"$user"}
    path=${path//"%n"/"$node"}
    path=${path//"%w"/"$workdir"}
    if [ -n "$path" ]; then
        paths+=("$path")
    fi
done
if [ "${#paths[@]}" -eq 0 ]; then
    log "no log path to follow (MONITOR_LOGS=${MONITOR_LOGS[*]})"
    exit 0
fi

port=$((MONITOR_PORT_BASE + job % MONITOR_PORT_SLOTS))
pidfile=$MONITOR_RUN_DIR/$job.pid
statedir=$MONITOR_STATE_DIR/$job

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    exit 0  # already started for this job on this node
fi

install -d -m 0755 -o root -g root "$MONITOR_RUN_DIR" "$MONITOR_STATE_DIR"
# The job's own directory (kept across a requeue, which keeps the job id): state.json,
# events.jsonl (the events, one JSON object per line) and monitor.log (its notices).
install -d -m 0700 -o "$uid" -g "$gid" "$statedir"

# setsid: a session of its own, so nothing that ends the prolog ends it; env -i: none of the
# prolog's environment; setpriv: the job's user and groups, no privileges. The files are opened
# by the job's user too (sh -c), and every step execs, so $! is the monitor's pid.
# shellcheck disable=SC2016
setsid env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$statedir" \
    setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
    /bin/sh -c 'cd "$1" && shift && exec "$@" >>events.jsonl 2>>monitor.log' monitor-tail "$statedir" \
    nice -n 10 "$MONITOR_BIN" tail --format jsonl \
    --metrics-port "$port" --metrics-addr 0.0.0.0 \
    --state "$statedir/state.json" --run "$job" \
    "${paths[@]}" </dev/null >/dev/null 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

# A monitor that cannot start (the port is taken, ...) exits at once: say so.
sleep 1
if ! kill -0 "$pid" 2>/dev/null; then
    log "monitor tail exited at start; see $statedir/monitor.log"
    rm -f "$pidfile"
    exit 0
fi

# Tell Prometheus about the new target (file_sd), written whole then renamed into place.
if [ -n "$MONITOR_SD_DIR" ] && [ -d "$MONITOR_SD_DIR" ]; then
    tmp=$(mktemp "$MONITOR_SD_DIR/.$node-$job.XXXXXX")
    printf '[{"targets": ["%s:%s"], "labels": {"slurm_job_id": "%s"}}]\n' "$node" "$port" "$job" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$MONITOR_SD_DIR/$node-$job.json"
fi
log "monitor tail started (pid $pid, port $port): ${paths[*]}"
