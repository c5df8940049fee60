# Shell helpers for the bench scripts: logging, processes stopped by pid, loopback ports.
# Source it after setting BENCH_NAME (the log prefix); call `stop_tracked` from the
# script's EXIT trap.

log() { printf '[%s %s] %s\n' "${BENCH_NAME:-bench}" "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Every process started is recorded here and stopped by its pid at exit.
declare -a PIDS=()
declare -A PIDNAME=()

track() { PIDS+=("$1"); PIDNAME[$1]=$2; }

stop_pid() { # pid name
    local pid=$1 name=$2 i
    kill -0 "$pid" 2>/dev/null || { log "$name (pid $pid) already gone"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { log "stopped $name (pid $pid)"; return 0; }
        sleep 0.1
    done
    log "$name (pid $pid) ignored SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

stop_tracked() { # newest first
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[$i]}" "${PIDNAME[${PIDS[$i]}]}"
    done
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # port seconds name
    local port=$1 secs=$2 name=$3 i
    for i in $(seq 1 $((secs * 10))); do
        if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5).close()' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not listen on 127.0.0.1:$port within ${secs}s"
}

# Resident memory of a process in KiB (0 when it is gone).
rss_kib() { awk '/^VmRSS:/ { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
