#!/bin/bash
# Slurm Epilog: stop the `monitor tail` that prolog.sh started on this node for the job that
# ended. SIGTERM makes it save its state and exit; after MONITOR_STOP_TIMEOUT seconds it is
# killed. Its directory (state, events, log) is kept MONITOR_STATE_KEEP_DAYS days: a requeued job
# keeps its id, and its monitor resumes from that state. See deploy/README.md.
#
# Slurm drains the node when an epilog fails: every failure here is logged (syslog, tag
# monitor-slurm) and the script still exits 0.
set -eu

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# The same settings as prolog.sh (the file both read may override them).
MONITOR_RUN_DIR=/run/monitor
MONITOR_STATE_DIR=/var/lib/monitor/slurm
MONITOR_SD_DIR=
MONITOR_STOP_TIMEOUT=20
MONITOR_STATE_KEEP_DAYS=7
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
        log "epilog failed (exit $rc)"
    fi
    exit 0
}
trap on_exit EXIT

job=${SLURM_JOB_ID:?}
node=${SLURMD_NODENAME:-$(hostname -s)}
case "$job" in
    *[!0-9]*) log "unexpected job id: $job"; exit 0 ;;
esac

# Is $1 the monitor prolog.sh started for this job (and not a process that took its pid since)?
ours() {
    case "$1" in
        '' | *[!0-9]*) return 1 ;;
    esac
    [ -r "/proc/$1/cmdline" ] || return 1
    args=" $(tr '\0' ' ' <"/proc/$1/cmdline") "
    case "$args" in
        *" tail "*" --run $job "*) return 0 ;;
    esac
    return 1
}

# Prometheus first stops scraping the target, so that its end is not an exporter-down alert.
if [ -n "$MONITOR_SD_DIR" ]; then
    rm -f "$MONITOR_SD_DIR/$node-$job.json"
fi

pidfile=$MONITOR_RUN_DIR/$job.pid
if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if ours "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        ticks=$((MONITOR_STOP_TIMEOUT * 10))
        while [ "$ticks" -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
            sleep 0.1
            ticks=$((ticks - 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "monitor tail (pid $pid) still running ${MONITOR_STOP_TIMEOUT}s after SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        else
            log "monitor tail (pid $pid) stopped"
        fi
    fi
    rm -f "$pidfile"
fi

# The directories of jobs that ended long ago.
if [ -d "$MONITOR_STATE_DIR" ]; then
    find "$MONITOR_STATE_DIR" -mindepth 1 -maxdepth 1 -type d -name '[0-9]*' \
        -mtime +"$MONITOR_STATE_KEEP_DAYS" -exec rm -rf -- {} + 2>/dev/null || true
fi
