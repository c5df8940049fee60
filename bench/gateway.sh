#!/usr/bin/env bash
# Gateway mode, side by side, one machine, alternating: the same minimal game
# (`portcullis-bench game`, so that the proxies are what is measured) reached
#
#   direct     straight to the game's telnet port (the floor)
#   gateway    through Portcullis' gateway, plain telnet
#   stunnel    through stunnel (Debian's stunnel4), TLS in front of the game
#   gw-tls     through Portcullis' gateway, telnet over TLS
#   websockify through websockify (Debian), a WebSocket of binary frames to the game
#   gw-ws      through Portcullis' gateway, its WebSocket (terminal.mudstandards.org)
#
# in turns (direct, gateway, stunnel, gw-tls; direct, gateway, …) so that whatever else the
# machine does falls on all alike. Per turn: round trip with 1, 100 and 1,000 clients (p50, p99,
# lines/s), then for Portcullis: resident memory per idle proxied session (1,000 held, the
# portal alone) against the same for its own server, and the time until 1,000 held players are
# all connected to the game again after it is killed and started again.
#
#   bash bench/gateway.sh [ROUNDS]
#   BEFORE=DIR bash bench/gateway.sh [ROUNDS]   # also `gw-before`: the gateway of the
#                                               # `portcullis` in DIR, in the same turns
#
# Needs release builds (made unless BENCH_SKIP_BUILD=1), stunnel4 and websockify (installed
# with apt-get when missing and run as root; their rows are left out otherwise). Results: one JSON per
# run in $OUT (default target/gateway-bench/) and a table on stdout. Loopback only; every
# process started is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${1:-2}"
OUT="${OUT:-target/gateway-bench}"
BIN=target/release
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

log() { echo "[gateway-bench] $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "port $1 never opened" >&2; return 1
}

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release"
    cargo build --release --bin portcullis --bin portcullis-bench >"$WORK/build.log" 2>&1 \
        || { tail -30 "$WORK/build.log" >&2; exit 1; }
fi
if { ! command -v stunnel4 >/dev/null || ! command -v websockify >/dev/null; } && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq stunnel4 websockify >/dev/null) || true
fi
STUNNEL=$(command -v stunnel4 || command -v stunnel || true)
WEBSOCKIFY=$(command -v websockify || true)

# The game.
GAME_PORT=$(free_port)
start_game() {
    "$BIN/portcullis-bench" game --addr "127.0.0.1:$GAME_PORT" >"$WORK/game.log" 2>&1 &
    GAME_PID=$!
    PIDS+=("$GAME_PID")
    wait_port "$GAME_PORT"
}
start_game

# Portcullis, in gateway mode (G) and, for the memory baseline, on its own (S).
start_portcullis() { # NAME GATEWAY(true|false) [BINARY]
    local d="$WORK/$1"
    mkdir -p "$d"
    local telnet tls web
    telnet=$(free_port); tls=$(free_port); web=$(free_port)
    cat >"$d/config.toml" <<EOF
data_dir = "data"
[telnet]
bind = "127.0.0.1:$telnet"
login = "allow"
[tls]
bind = "127.0.0.1:$tls"
[ssh]
enabled = false
[web]
bind = "127.0.0.1:$web"
tls = false
http_connections_per_address = 19000
[limits]
max_connections = 19000
max_connections_per_address = 19000
command_rate = 100000.0
command_burst = 100000
login_timeout_secs = 0
[gateway]
enabled = $2
upstream = "127.0.0.1:$GAME_PORT"
reconnect_max_delay_secs = 2
reconnect_attempts = 30
EOF
    "${3:-$BIN/portcullis}" start --config "$d/config.toml" >"$d/log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_port "$telnet"; wait_port "$tls"; wait_port "$web"
    eval "${1}_PID=$pid ${1}_TELNET=$telnet ${1}_TLS=$tls ${1}_WEB=$web ${1}_DIR=$d"
}
start_portcullis G true
[ -n "${BEFORE:-}" ] && start_portcullis P true "$BEFORE/portcullis"

# stunnel: TLS on its own port in front of the game, with the certificate Portcullis made.
if [ -n "$STUNNEL" ]; then
    STUNNEL_PORT=$(free_port)
    cat >"$WORK/stunnel.conf" <<EOF
foreground = yes
pid =
[game]
accept = 127.0.0.1:$STUNNEL_PORT
connect = 127.0.0.1:$GAME_PORT
cert = $G_DIR/certs/cert.pem
key = $G_DIR/certs/key.pem
EOF
    "$STUNNEL" "$WORK/stunnel.conf" >"$WORK/stunnel.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$STUNNEL_PORT"
fi

# websockify: a WebSocket on its own port in front of the game.
if [ -n "$WEBSOCKIFY" ]; then
    WSFY_PORT=$(free_port)
    "$WEBSOCKIFY" "127.0.0.1:$WSFY_PORT" "127.0.0.1:$GAME_PORT" >"$WORK/websockify.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$WSFY_PORT"
fi

# One round trip run: NAME PROTOCOL ADDR CLIENTS LINES ROUND
game_login=(--login "{user}" --logged-in-marker "Welcome," --say "{token}" --expect "You say: {token}"
            --timeout 60 --connect-concurrency 64 --source-ips 4)
roundtrip() {
    "$BIN/portcullis-bench" --quiet --json "$OUT/rt-$4-$1-$6.json" roundtrip --protocol "$2" \
        --addr "$3" "${game_login[@]}" --clients "$4" --lines "$5" >/dev/null \
        || log "roundtrip $1 $4 failed"
}

for round in $(seq 1 "$ROUNDS"); do
    for n in 1 100 1000; do
        case $n in 1) lines=2000 ;; 100) lines=100 ;; *) lines=20 ;; esac
        log "round $round: $n clients"
        roundtrip direct telnet "127.0.0.1:$GAME_PORT" "$n" "$lines" "$round"
        roundtrip gateway telnet "127.0.0.1:$G_TELNET" "$n" "$lines" "$round"
        [ -n "${BEFORE:-}" ] && roundtrip gw-before telnet "127.0.0.1:$P_TELNET" "$n" "$lines" "$round"
        [ -n "$STUNNEL" ] && roundtrip stunnel tls "127.0.0.1:$STUNNEL_PORT" "$n" "$lines" "$round"
        roundtrip gw-tls tls "127.0.0.1:$G_TLS" "$n" "$lines" "$round"
        [ -n "$WEBSOCKIFY" ] && roundtrip websockify ws-binary "127.0.0.1:$WSFY_PORT" "$n" "$lines" "$round"
        roundtrip gw-ws ws "127.0.0.1:$G_WEB" "$n" "$lines" "$round"
    done
done

# Memory per idle session: 1,000 at the game's login screen through the gateway, against
# 1,000 at Portcullis' own connection screen (the portal process alone in both), each in a
# portal started for it (a portal that has served before reuses what it freed).
for round in $(seq 1 "$ROUNDS"); do
    for side in H S ${BEFORE:+Q}; do
        gw=true; [ "$side" = S ] && gw=false
        bin="$BIN/portcullis"; [ "$side" = Q ] && bin="$BEFORE/portcullis"
        start_portcullis "$side" "$gw" "$bin"
        pid_var="${side}_PID"; port_var="${side}_TELNET"
        "$BIN/portcullis-bench" --quiet --json "$OUT/hold-$side-$round.json" hold \
            --addr "127.0.0.1:${!port_var}" --sessions 1000 --pid "${!pid_var}" --hold-secs 3 \
            --timeout 60 --connect-concurrency 256 --source-ips 4 >/dev/null \
            || log "hold $side failed"
        kill "${!pid_var}"; wait "${!pid_var}" 2>/dev/null || true
        rm -rf "$WORK/$side"
    done
done

# Reconnection: 1,000 players held through the gateway; the game is killed and started again
# at once; the time from the kill until `status` shows all 1,000 connected to it again.
for round in $(seq 1 "$ROUNDS"); do
    "$BIN/portcullis-bench" --quiet hold --addr "127.0.0.1:$G_TELNET" --sessions 1000 \
        --hold-secs 40 --timeout 60 --connect-concurrency 256 --source-ips 4 >/dev/null &
    HOLDER=$!
    PIDS+=("$HOLDER")
    for _ in $(seq 1 300); do
        c=$("$BIN/portcullis" status --config "$G_DIR/config.toml" | grep -c ' connected$' || true)
        [ "$c" -ge 1000 ] && break
        sleep 0.1
    done
    start_ns=$(date +%s%N)
    kill "$GAME_PID"; wait "$GAME_PID" 2>/dev/null || true
    start_game
    back=""
    for _ in $(seq 1 600); do
        c=$("$BIN/portcullis" status --config "$G_DIR/config.toml" | grep -c ' connected$' || true)
        if [ "$c" -ge 1000 ]; then back=$(( ($(date +%s%N) - start_ns) / 1000000 )); break; fi
        sleep 0.05
    done
    echo "${back:-none}" >"$OUT/reconnect-$round.txt"
    kill "$HOLDER" 2>/dev/null || true; wait "$HOLDER" 2>/dev/null || true
done

python3 - "$OUT" "$ROUNDS" <<'EOF'
import json, sys, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except OSError:
        return None
def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d
sides = ["direct", "gateway", "gw-before", "stunnel", "gw-tls", "websockify", "gw-ws"]
print(f"{'round trip':<26} {'run':>3} " + " ".join(f"{s:>10}" for s in sides))
for n in (1, 100, 1000):
    for r in range(1, rounds + 1):
        runs = {s: load(f"{out}/rt-{n}-{s}-{r}.json") for s in sides}
        for label, keys in (("p50 ms", ("latency_ms", "p50")), ("p99 ms", ("latency_ms", "p99")),
                            ("lines/s", ("lines_per_sec",))):
            vals = [get(runs[s], "results", *keys) for s in sides]
            cells = " ".join(f"{('-' if v is None else (f'{v:.3f}' if isinstance(v, float) and v < 100 else f'{v:.0f}' if isinstance(v, float) else v)):>10}" for v in vals)
            print(f"{f'{n} clients {label}':<26} {r:>3} {cells}")
for r in range(1, rounds + 1):
    g = get(load(f"{out}/hold-H-{r}.json"), "results", "kib_per_session")
    s = get(load(f"{out}/hold-S-{r}.json"), "results", "kib_per_session")
    q = get(load(f"{out}/hold-Q-{r}.json"), "results", "kib_per_session")
    print(f"{'KiB per idle session':<26} {r:>3} gateway {g} gateway before {q} own server {s}")
for r in range(1, rounds + 1):
    print(f"{'1,000 reconnected (ms)':<26} {r:>3} {open(f'{out}/reconnect-{r}.txt').read().strip()}")
EOF
