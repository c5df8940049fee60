#!/usr/bin/env bash
# Before/after on one machine, alternating: two builds of Portcullis, each started fresh on
# loopback, run the same portcullis-bench scenarios in turns A B A B …, so that whatever else
# the machine does falls on both alike.
#
#   bash bench/compare.sh BEFORE_DIR AFTER_DIR [ROUNDS]
#
# Each DIR holds a release `portcullis` and `portcullis-bench` (e.g. target/release of a
# worktree at the commit to compare). Scenarios per turn: round trip with 1, 10 and 100
# clients (a line that is not a command, answered to that client alone; latency, throughput,
# and the portal's CPU time per line, which the machine's other work disturbs less), and
# 2,000 idle telnet sessions held (portal + server resident memory per session). Results go to
# $OUT (default target/compare/) as one JSON file a run, and a table on stdout.
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail

A="${1:?before dir}"; B="${2:?after dir}"; ROUNDS="${3:-2}"
OUT="${OUT:-target/compare}"
HOLD="${HOLD:-2000}"
mkdir -p "$OUT"
WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 never opened" >&2; return 1
}

start() { # start DIR NAME
    local d="$WORK/$2" port
    rm -rf "$d"; mkdir -p "$d"
    port=$(free_port)
    cat >"$d/config.toml" <<EOF
data_dir = "data"
[telnet]
bind = "127.0.0.1:$port"
login = "allow"
[tls]
enabled = false
[ssh]
enabled = false
[web]
enabled = false
[limits]
max_connections = 19000
max_connections_per_address = 19000
command_rate = 100000.0
command_burst = 100000
login_timeout_secs = 0
[accounts]
registration = true
login_failures = 1000000
creations = 1000000
EOF
    "$1/portcullis" start --config "$d/config.toml" >"$d/log" 2>&1 &
    PID=$!
    wait_port "$port"
    # The server links a moment after the port opens; a status that names it means ready.
    for _ in $(seq 1 100); do
        "$1/portcullis" status --config "$d/config.toml" 2>/dev/null | grep -q 'server: pid' && break
        sleep 0.1
    done
    ADDR="127.0.0.1:$port"
}

stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
}

# CPU time (clock ticks, user + system) of the portal process (the server's is mostly the
# argon2 of each client's login, which would drown the per-line cost).
cpu_ticks() {
    awk '{print $14 + $15}' "/proc/$PID/stat"
}
HZ=$(getconf CLK_TCK)

login=(--password bench-password --login "connect {user} {password}" --create "create {user} {password}")

for round in $(seq 1 "$ROUNDS"); do
    for side in A B; do
        dir=$A; [ "$side" = B ] && dir=$B
        for n in 1 10 100; do
            case $n in 1) lines=3000 ;; 10) lines=1000 ;; *) lines=200 ;; esac
            start "$dir" "$side"
            # Accounts first (argon2 is most of the CPU of a login), then the measured run.
            "$dir/portcullis-bench" --quiet roundtrip --addr "$ADDR" "${login[@]}" \
                --user-prefix "r$round" --clients "$n" --lines 1 --say "{token}" \
                --expect "{token}" --timeout 30 --connect-concurrency 64 >/dev/null
            before=$(cpu_ticks)
            "$dir/portcullis-bench" --quiet --json "$OUT/rt-$n-$side-$round.json" roundtrip \
                --addr "$ADDR" "${login[@]}" --user-prefix "r$round" --clients "$n" \
                --lines "$lines" --say "{token}" --expect "{token}" --timeout 30 \
                --connect-concurrency 64 >/dev/null
            after=$(cpu_ticks)
            echo "$(( (after - before) * 1000000 / HZ / (n * lines) ))" >"$OUT/cpu-$n-$side-$round.txt"
            stop
        done
        start "$dir" "$side"
        "$dir/portcullis-bench" --quiet --json "$OUT/hold-$side-$round.json" hold \
            --addr "$ADDR" --sessions "$HOLD" --pid "$PID" --pid-children --hold-secs 3 \
            --timeout 60 --connect-concurrency 256 >/dev/null
        stop
    done
done

python3 - "$OUT" "$ROUNDS" <<'EOF'
import json, sys, glob, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(p):
    with open(p) as f:
        return json.load(f)
def find(d, *keys):
    for k in keys:
        if isinstance(d, dict) and k in d:
            d = d[k]
        else:
            return None
    return d
print(f"{'measurement':<34} {'run':>3} {'before':>12} {'after':>12}")
for n in (1, 10, 100):
    for r in range(1, rounds + 1):
        a = load(f"{out}/rt-{n}-A-{r}.json"); b = load(f"{out}/rt-{n}-B-{r}.json")
        for q in ("p50", "p99"):
            va = find(a, "results", "latency_ms", q); vb = find(b, "results", "latency_ms", q)
            print(f"{f'round trip {n} clients {q} (ms)':<34} {r:>3} {va!s:>12} {vb!s:>12}")
        va = find(a, "results", "lines_per_sec"); vb = find(b, "results", "lines_per_sec")
        print(f"{f'round trip {n} clients lines/s':<34} {r:>3} {va!s:>12} {vb!s:>12}")
        ca = open(f"{out}/cpu-{n}-A-{r}.txt").read().strip(); cb = open(f"{out}/cpu-{n}-B-{r}.txt").read().strip()
        print(f"{f'round trip {n} cl. portal CPU µs/line':<34} {r:>3} {ca:>12} {cb:>12}")
for r in range(1, rounds + 1):
    a = load(f"{out}/hold-A-{r}.json"); b = load(f"{out}/hold-B-{r}.json")
    va = find(a, "results", "kib_per_session"); vb = find(b, "results", "kib_per_session")
    print(f"{'hold telnet KiB/session':<34} {r:>3} {va!s:>12} {vb!s:>12}")
EOF
