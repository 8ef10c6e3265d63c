#!/usr/bin/env bash
# Stop the test cluster started by start_slurm.sh STATE_DIR: cancel its jobs, then stop slurmd,
# slurmctld and (only if start_slurm.sh started it) munged, each by the PID in its pid file after
# checking /proc/PID/comm; remove the /etc/slurm/slurm.conf link. Safe to run twice or after a
# failed start.
set -uo pipefail

state=${1:?usage: stop_slurm.sh STATE_DIR}
[ -d "$state" ] || exit 0
state=$(cd "$state" && pwd)
export SLURM_CONF="$state/slurm.conf"

# stop_pid PIDFILE COMM: TERM the process if it is still COMM, wait up to 10 s, then KILL
stop_pid() {
    local pidfile=$1 comm=$2 pid i
    [ -s "$pidfile" ] || return 0
    pid=$(tr -dc 0-9 <"$pidfile")
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ]; then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
        if [ -d "/proc/$pid" ]; then
            echo "$comm ($pid) ignored SIGTERM; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$pidfile"
}

if [ -f "$SLURM_CONF" ] && scontrol ping >/dev/null 2>&1; then
    # jobs first: slurmstepd and job processes outlive slurmd
    jobs=$(squeue -h -o %i 2>/dev/null)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null
        for i in $(seq 75); do
            [ -z "$(squeue -h -t pending,running,completing,suspended -o %i 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
fi
stop_pid "$state/slurmd.pid" slurmd
stop_pid "$state/slurmctld.pid" slurmctld
stop_pid "$state/munged.pid" munged
# the /etc/slurm/slurm.conf link made by start_slurm.sh, only if it points here
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$SLURM_CONF" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
