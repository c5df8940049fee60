#!/usr/bin/env bash
# Soak: Portcullis under a long mixed load with an attacker in it (not run in CI).
#
#   bash bench/soak.sh [SECONDS] [SESSIONS]        (defaults: 600 and 1000)
#
# One release Portcullis on 127.0.0.1 with every front end on its default limits (only the
# connection counts and the throttles the load itself would trip are raised). For SECONDS:
# - SESSIONS well-behaved players over telnet (40 %), telnet over TLS (20 %), SSH (10 %) and
#   the browser's WebSocket (30 %), from 16 loopback addresses, each saying a line every 3 s
#   and waiting for its echo (portcullis-bench `reload`: every line must come back, no
#   connection may drop);
# - `portcullis reload` every RELOAD_EVERY seconds (default 30);
# - a slow reader that asks for the connection screen five times a second and reads 256
#   bytes a second;
# - an attacker that, every 3 seconds, sends an MCCP3 zlib bomb of 4 MB of line breaks on one
#   connection and 256 KB of plain line breaks on another, keeping the last five of each open;
# - the resident memory of the portal and the server sampled every second.
#
# It passes when no well-behaved line is lost, no well-behaved connection drops, every reload
# succeeds, and after the warm-up (the first fifth of the run, at least 60 s) the memory of
# the portal and server together never grows more than 10 % over its median in the minute
# after the warm-up (it dips while a reload replaces the server), and the portal's alone stays
# within 10 % of its own.
# Results: $OUT (default target/soak/): rss.csv, reloads.log, one JSON per front end,
# summary.txt, and the portal's log. Everything runs on loopback and stops by itself.
set -euo pipefail

BENCH_NAME=soak
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SECS=${1:-600}
SESSIONS=${2:-1000}
RELOAD_EVERY=${RELOAD_EVERY:-30}
INTERVAL_MS=3000
OUT=${OUT:-$ROOT/target/soak}
PORTCULLIS="$ROOT/target/release/portcullis"
BENCH="$ROOT/target/release/portcullis-bench"
WORK=$(mktemp -d)
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/rss.csv "$OUT"/reloads.log "$OUT"/summary.txt

finish() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    stop_tracked
    wait 2>/dev/null
    [ -f "$WORK/p/portcullis.log" ] && cp "$WORK/p/portcullis.log" "$OUT/portcullis.log"
    rm -rf "$WORK"
    exit "$rc"
}
trap finish EXIT INT TERM

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release --bin portcullis --bin portcullis-bench"
    (cd "$ROOT" && cargo build --release --bin portcullis --bin portcullis-bench) \
        >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "cargo build failed"; }
fi
[ -x "$PORTCULLIS" ] && [ -x "$BENCH" ] || die "release binaries missing"

# ---- Portcullis -------------------------------------------------------------------------------
mkdir -p "$WORK/p"
TELNET=$(free_port); TLS=$(free_port); SSH=$(free_port); WEB=$(free_port)
CFG="$WORK/p/config.toml"
cat >"$CFG" <<EOF
# Written by bench/soak.sh: loopback only; defaults except what the load itself would trip.
data_dir = "data"
[telnet]
bind = "127.0.0.1:$TELNET"
login = "allow"
[tls]
bind = "127.0.0.1:$TLS"
[ssh]
bind = "127.0.0.1:$SSH"
[web]
bind = "127.0.0.1:$WEB"
tls = false
http_connections_per_address = 5000
[limits]
max_connections = 5000
max_connections_per_address = 1000
login_timeout_secs = 0
[accounts]
registration = true
login_failures = 1000000
creations = 1000000
EOF
"$PORTCULLIS" start --config "$CFG" >"$WORK/p/portcullis.log" 2>&1 &
P_PID=$!
track "$P_PID" portcullis
for port in "$TELNET" "$TLS" "$SSH" "$WEB"; do wait_port "$port" 60 portcullis; done
log "portcullis pid $P_PID: telnet $TELNET, tls $TLS, ssh $SSH, web $WEB"

# ---- Memory ------------------------------------------------------------------------------------
(
    t=0
    echo "second,portal_kib,server_kib,total_kib" >"$OUT/rss.csv"
    while kill -0 "$P_PID" 2>/dev/null; do
        server=$(pgrep -P "$P_PID" -n portcullis || echo 0)
        p=$(rss_kib "$P_PID"); s=$(rss_kib "$server")
        echo "$t,$p,$s,$((p + s))" >>"$OUT/rss.csv"
        sleep 1; t=$((t + 1))
    done
) &
track $! rss-sampler

# ---- Well-behaved players ----------------------------------------------------------------------
LINES=$((SECS * 1000 / INTERVAL_MS))
players() { # protocol port share(%)
    local n=$((SESSIONS * $3 / 100))
    [ "$n" -gt 0 ] || return 0
    "$BENCH" --quiet --json "$OUT/$1.json" reload --protocol "$1" --addr "127.0.0.1:$2" \
        --clients "$n" --lines "$LINES" --interval-ms "$INTERVAL_MS" --reload-cmd true \
        --user-prefix "soak$1" --create-first --source-ips 16 --connect-concurrency 8 \
        --timeout 60 --settle-secs 60 >"$OUT/$1.txt" 2>&1 &
    track $! "players-$1"
    BENCH_PIDS+=("$!")
}
declare -a BENCH_PIDS=()
players telnet "$TELNET" 40
players tls "$TLS" 20
players ssh "$SSH" 10
players ws "$WEB" 30
log "$SESSIONS players logging in and typing for ${SECS}s ($LINES lines each)"

# ---- The slow reader and the attacker ----------------------------------------------------------
cat >"$WORK/pests.py" <<'EOF'
import socket, sys, threading, time, zlib

port, seconds = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + seconds

def slow_reader():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(0.5)
    while time.time() < end:
        try:
            for _ in range(5):
                s.sendall(b"help\r\n")
                time.sleep(0.2)
            s.recv(256)
        except OSError:
            s = socket.create_connection(("127.0.0.1", port))  # cut off: come back
            s.settimeout(0.5)

bomb = bytes([255, 253, 87, 255, 250, 87, 255, 240]) + zlib.compress(b"\n" * 4_000_000, 9)
flood = b"\n" * 262_144

def attacker():
    kept = []
    while time.time() < end:
        for payload in (bomb, flood):
            try:
                s = socket.create_connection(("127.0.0.1", port))
                s.settimeout(2)
                s.sendall(payload)
            except OSError:
                continue
            kept.append(s)
        while len(kept) > 10:
            kept.pop(0).close()
        time.sleep(3)

threads = [threading.Thread(target=slow_reader, daemon=True), threading.Thread(target=attacker, daemon=True)]
for t in threads:
    t.start()
time.sleep(seconds)
EOF
python3 "$WORK/pests.py" "$TELNET" "$SECS" >"$OUT/pests.log" 2>&1 &
track $! pests

# ---- Reloads -----------------------------------------------------------------------------------
RELOADS=0; RELOAD_FAILS=0
START=$(date +%s)
while [ $(($(date +%s) - START)) -lt "$SECS" ]; do
    sleep "$RELOAD_EVERY"
    if out=$("$PORTCULLIS" reload --config "$CFG" 2>&1); then
        RELOADS=$((RELOADS + 1))
    else
        RELOAD_FAILS=$((RELOAD_FAILS + 1))
    fi
    echo "$(date -u +%H:%M:%S) $out" >>"$OUT/reloads.log"
done
log "typing time over; waiting for the players' last echoes"
BENCH_FAILS=0
for pid in "${BENCH_PIDS[@]}"; do wait "$pid" || BENCH_FAILS=$((BENCH_FAILS + 1)); done

# ---- Verdict -----------------------------------------------------------------------------------
python3 - "$OUT" "$SECS" "$RELOADS" "$RELOAD_FAILS" "$BENCH_FAILS" <<'EOF' | tee "$OUT/summary.txt"
import csv, json, os, statistics, sys

out, secs, reloads, reload_fails, bench_fails = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:])
ok = reload_fails == 0 and bench_fails == 0
print(f"reloads: {reloads} ok, {reload_fails} failed")
for proto in ("telnet", "tls", "ssh", "ws"):
    path = os.path.join(out, f"{proto}.json")
    if not os.path.exists(path):
        continue
    r = json.load(open(path))
    r = r.get("results", r)
    lost, dropped = r.get("lines_lost"), r.get("connections_dropped")
    lat = r.get("echo_latency_ms") or {}
    print(f"{proto:7} clients {r.get('clients')}: sent {r.get('lines_sent')}, lost {lost}, "
          f"dropped {dropped}, echo p50 {lat.get('p50')} ms p99 {lat.get('p99')} ms")
    ok = ok and lost == 0 and dropped == 0
rows = list(csv.DictReader(open(os.path.join(out, "rss.csv"))))
total = [int(r["total_kib"]) for r in rows]
warm = max(60, secs // 5)
base = total[warm:warm + 60]
if len(base) < 30:
    print("too short a run to judge memory")
    ok = False
else:
    # Growth is what counts: a reload replaces the server, so the sum dips for a moment.
    median = statistics.median(base)
    after = total[warm:]
    lo, hi = min(after), max(after)
    growth = (hi - median) / median * 100
    portal = [int(r["portal_kib"]) for r in rows]
    p_median = statistics.median(portal[warm:warm + 60])
    p_dev = max(abs(v - p_median) for v in portal[warm:]) / p_median * 100
    print(f"memory (portal + server): median {median / 1024:.1f} MiB after warm-up, "
          f"range {lo / 1024:.1f}..{hi / 1024:.1f} MiB (at most {growth:+.1f} %), "
          f"peak {max(total) / 1024:.1f} MiB during the warm-up included")
    print(f"memory (portal alone): median {p_median / 1024:.1f} MiB, at most {p_dev:.1f} % off")
    ok = ok and growth <= 10 and p_dev <= 10
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF
