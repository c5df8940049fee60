#!/usr/bin/env bash
# Side-by-side benchmark: Portcullis against the servers an operator would otherwise run,
# measured in ONE run, on this machine, over loopback (127.0.0.1) only, with the same client
# (target/release/portcullis-bench):
#
#   handshakes ssh   Portcullis  vs  OpenSSH sshd (Debian openssh-server)
#   handshakes tls   Portcullis  vs  stunnel (Debian stunnel4) in front of a tiny echo server
#   roundtrip        Portcullis  vs  Evennia (PyPI), 1, 10, 100 and 1000 clients
#   fanout           Portcullis  vs  Evennia
#   hold             Portcullis  vs  Evennia (idle sessions, resident memory)
#   reload           Portcullis  vs  Evennia (clients typing through a reload)
#
# Usage, from the repository root:   bash bench/side-by-side.sh
# Writes bench/results/<date>/*.json (raw, gitignored), docs/benchmarks.md and
# docs/benchmarks-latency.png. Every process it starts is stopped at the end by its pid.
#
# Needs: cargo; python3 with venv; openssh-server, stunnel4 and openssl (installed with
# apt-get when missing and run as root); PyPI for Evennia and matplotlib (into bench/.venv).
#
# Knobs (environment): BENCH_QUICK=1 for a short smoke run (small counts, nothing written to
# docs/ unless BENCH_WRITE_DOCS=1); BENCH_SKIP_BUILD=1; EVENNIA_HOLD="1000 3000" (idle sessions
# tried on Evennia); PORTCULLIS_HOLD="1000 10000".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=${BENCH_QUICK:-0}
DATE=$(date -u +%Y-%m-%d)
RESULTS="$ROOT/bench/results/$DATE"
VENV="$ROOT/bench/.venv"
BENCH="$ROOT/target/release/portcullis-bench"
PORTCULLIS="$ROOT/target/release/portcullis"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-sbs.XXXXXX")
PASSWORD="Bench-Pass-7351"   # long enough for Evennia's password validators
HS_SECS=10                   # seconds per handshake measurement
HS_CONC=4                    # handshakes in flight
if [ "$QUICK" = 1 ]; then
    HS_SECS=3
    RT_CLIENTS="1 10 100"
    FANOUT_CLIENTS="10"
    PORTCULLIS_HOLD=${PORTCULLIS_HOLD:-"200 1000"}
    EVENNIA_HOLD=${EVENNIA_HOLD:-"200"}
    RELOAD_LINES=20
else
    RT_CLIENTS="1 10 100 1000"
    FANOUT_CLIENTS="100 1000"
    PORTCULLIS_HOLD=${PORTCULLIS_HOLD:-"1000 10000"}
    EVENNIA_HOLD=${EVENNIA_HOLD:-"1000 3000"}
    RELOAD_LINES=50
fi

BENCH_NAME=side-by-side
# log, die, track/stop_pid (every process started is stopped by its pid at exit), free_port,
# wait_port.
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
EVENNIA_GAME=""

cleanup() {
    local rc=$? i pid
    set +e
    trap - EXIT INT TERM
    if [ -n "$EVENNIA_GAME" ] && [ -d "$EVENNIA_GAME" ]; then
        # Evennia's own way first; its two daemons are then also stopped by pid below.
        for f in portal server; do
            [ -s "$EVENNIA_GAME/server/$f.pid" ] && track "$(cat "$EVENNIA_GAME/server/$f.pid")" "evennia-$f"
        done
        (cd "$EVENNIA_GAME" && PATH="$VENV/bin:$PATH" timeout 60 evennia stop >/dev/null 2>&1)
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[$i]}
        stop_pid "$pid" "${PIDNAME[$pid]}"
    done
    # Keep the servers' own logs with the results (the rest of the work dir goes).
    if [ -d "$RESULTS" ]; then
        mkdir -p "$RESULTS/logs"
        for f in "$WORK"/*/*.log "$WORK"/evennia/game/server/logs/*.log; do
            [ -f "$f" ] && cp "$f" "$RESULTS/logs/$(basename "$(dirname "$f")")-$(basename "$f")"
        done
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
need_debs() {
    local missing=()
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v stunnel4 >/dev/null || command -v stunnel >/dev/null || missing+=(stunnel4)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v ssh-keygen >/dev/null || missing+=(openssh-client)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ]; then
        log "installing ${missing[*]} (apt-get)"
        apt-get update -qq >"$WORK/apt.log" 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$WORK/apt.log" 2>&1 \
            || { tail -20 "$WORK/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
    else
        die "missing ${missing[*]}: run as root, or: sudo apt-get install -y ${missing[*]}"
    fi
}

need_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --upgrade pip >"$WORK/pip.log" 2>&1 || true
    fi
    if ! "$VENV/bin/python" -c 'import evennia, matplotlib' 2>/dev/null; then
        log "pip install evennia matplotlib (into $VENV)"
        "$VENV/bin/pip" install -q evennia matplotlib >>"$WORK/pip.log" 2>&1 \
            || { tail -20 "$WORK/pip.log" >&2; die "pip install evennia matplotlib failed"; }
    fi
}

build() {
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        log "cargo build --release --bin portcullis --bin portcullis-bench"
        cargo build --release --bin portcullis --bin portcullis-bench >"$WORK/build.log" 2>&1 \
            || { tail -30 "$WORK/build.log" >&2; die "cargo build failed"; }
    fi
    [ -x "$BENCH" ] || die "$BENCH is missing"
    [ -x "$PORTCULLIS" ] || die "$PORTCULLIS is missing"
}

# ---------------------------------------------------------------------------------------------
# Peers: each start_* sets the address variables and records its pid(s).
# ---------------------------------------------------------------------------------------------
start_portcullis() {
    local d="$WORK/portcullis"
    mkdir -p "$d"
    P_TELNET=$(free_port); P_TLS=$(free_port); P_SSH=$(free_port); P_WEB=$(free_port)
    P_CFG="$d/config.toml"
    cat >"$P_CFG" <<EOF
# Written by bench/side-by-side.sh: loopback only, limits raised for the benchmark.
data_dir = "data"
[telnet]
bind = "127.0.0.1:$P_TELNET"
login = "allow"
[tls]
bind = "127.0.0.1:$P_TLS"
cert = "certs/cert.pem"
key = "certs/key.pem"
[ssh]
bind = "127.0.0.1:$P_SSH"
keys_dir = "keys"
[web]
bind = "127.0.0.1:$P_WEB"
http_connections_per_address = 19000
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
    "$PORTCULLIS" start --config "$P_CFG" >"$d/portcullis.log" 2>&1 &
    P_PID=$!
    track "$P_PID" portcullis
    wait_port "$P_TELNET" 30 portcullis-telnet
    wait_port "$P_TLS" 30 portcullis-tls
    wait_port "$P_SSH" 30 portcullis-ssh
    log "portcullis pid $P_PID: telnet $P_TELNET, tls $P_TLS, ssh $P_SSH"
}

start_sshd() {
    local d="$WORK/sshd"
    mkdir -p "$d"
    S_PORT=$(free_port)
    ssh-keygen -q -t ed25519 -N '' -C side-by-side -f "$d/ssh_host_ed25519_key"
    # The privilege-separation directory sshd insists on (as Debian's unit makes it).
    [ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd
    cat >"$d/sshd_config" <<EOF
# Written by bench/side-by-side.sh. Nobody can log in: only handshakes are measured.
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication no
PermitRootLogin no
AllowUsers nobody-side-by-side
MaxStartups 10000:100:10000
LoginGraceTime 30
UseDNS no
LogLevel ERROR
EOF
    /usr/sbin/sshd -t -f "$d/sshd_config" -h "$d/ssh_host_ed25519_key" \
        || die "sshd -t rejected $d/sshd_config"
    /usr/sbin/sshd -D -e -f "$d/sshd_config" -h "$d/ssh_host_ed25519_key" \
        -o ListenAddress=127.0.0.1 -p "$S_PORT" >"$d/sshd.log" 2>&1 &
    S_PID=$!
    track "$S_PID" sshd
    wait_port "$S_PORT" 15 sshd
    ssh-keyscan -T 5 -p "$S_PORT" -t ed25519 127.0.0.1 2>/dev/null | grep -q ssh-ed25519 \
        || die "sshd on $S_PORT did not answer ssh-keyscan"
    log "sshd pid $S_PID: 127.0.0.1:$S_PORT ($(ssh -V 2>&1 | cut -d, -f1))"
}

start_stunnel() {
    local d="$WORK/stunnel" bin
    mkdir -p "$d"
    T_ECHO=$(free_port); T_PORT=$(free_port)
    # The service behind stunnel: a tiny asyncio echo server (no fork per connection).
    cat >"$d/echo.py" <<'EOF'
import asyncio, sys

async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()

asyncio.run(main())
EOF
    python3 "$d/echo.py" "$T_ECHO" >"$d/echo.log" 2>&1 &
    T_ECHO_PID=$!
    track "$T_ECHO_PID" echo-server
    wait_port "$T_ECHO" 15 echo-server
    # Same key type as Portcullis' self-signed certificate: ECDSA P-256.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1
    cat >"$d/stunnel.conf" <<EOF
; Written by bench/side-by-side.sh.
foreground = yes
pid = $d/stunnel.pid
output = $d/stunnel.log
debug = 3
[echo]
accept = 127.0.0.1:$T_PORT
connect = 127.0.0.1:$T_ECHO
cert = $d/cert.pem
key = $d/key.pem
sslVersionMin = TLSv1.2
EOF
    bin=$(command -v stunnel4 || command -v stunnel)
    "$bin" "$d/stunnel.conf" </dev/null >"$d/stunnel.stdout" 2>&1 &
    T_PID=$!
    track "$T_PID" stunnel
    wait_port "$T_PORT" 15 stunnel
    local reply
    reply=$( (printf 'side-by-side-ping\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$T_PORT" -quiet 2>/dev/null || true)
    [ "$reply" = side-by-side-ping ] || die "stunnel on $T_PORT did not echo through openssl s_client (got '$reply')"
    log "stunnel pid $T_PID: 127.0.0.1:$T_PORT -> echo 127.0.0.1:$T_ECHO (pid $T_ECHO_PID)"
}

start_evennia() {
    local d="$WORK/evennia"
    mkdir -p "$d"
    E_TELNET=$(free_port); E_AMP=$(free_port)
    local web=$(free_port) ws=$(free_port)
    export PATH="$VENV/bin:$PATH"   # evennia runs twistd from the venv
    (cd "$d" && evennia --init game >"$d/init.log" 2>&1) || die "evennia --init failed (see $d/init.log)"
    EVENNIA_GAME="$d/game"
    cat >>"$EVENNIA_GAME/server/conf/settings.py" <<EOF

# --- written by portcullis bench/side-by-side.sh: loopback only, no web, throttles off ---
TELNET_ENABLED = True
TELNET_PORTS = [$E_TELNET]
TELNET_INTERFACES = ["127.0.0.1"]
SSL_ENABLED = False
SSH_ENABLED = False
WEBSERVER_ENABLED = False
WEBCLIENT_ENABLED = False
WEBSOCKET_CLIENT_ENABLED = False
WEBSERVER_PORTS = [($web, $web)]
WEBSERVER_INTERFACES = ["127.0.0.1"]
WEBSOCKET_CLIENT_PORT = $ws
WEBSOCKET_CLIENT_INTERFACE = "127.0.0.1"
AMP_HOST = "127.0.0.1"
AMP_INTERFACE = "127.0.0.1"
AMP_PORT = $E_AMP
IRC_ENABLED = False
RSS_ENABLED = False
GRAPEVINE_ENABLED = False
DISCORD_ENABLED = False
GAME_INDEX_ENABLED = False
# As evennia/server/profiling/settings_mixin.py (Evennia's own load-test settings) does:
CREATION_THROTTLE_LIMIT = None
CREATION_THROTTLE_TIMEOUT = None
LOGIN_THROTTLE_LIMIT = None
LOGIN_THROTTLE_TIMEOUT = None
MAX_COMMAND_RATE = 100000
MAX_CONNECTION_RATE = 100000
MAX_CHAR_LIMIT = 100000
PASSWORD_HASHERS = ("django.contrib.auth.hashers.MD5PasswordHasher",)
EOF
    # Evennia's `create` asks "Is this what you intended? [Y]/N?"; the load tool sends one
    # line, so the game gets a `create` that does the same without the question.
    cat >"$EVENNIA_GAME/commands/bench_create.py" <<'EOF'
"""`create <name> <password>` without the confirmation question (bench/side-by-side.sh)."""
import re

from django.conf import settings
from evennia.commands.default.unloggedin import CmdUnconnectedCreate
from evennia.utils.utils import class_from_module


class CmdCreateNoConfirm(CmdUnconnectedCreate):
    def func(self):
        session = self.caller
        Account = class_from_module(settings.BASE_ACCOUNT_TYPECLASS)
        parts = [p.strip() for p in re.split(r"\"", self.args.strip()) if p.strip()]
        if len(parts) == 1:
            parts = parts[0].split(None, 1)
        if len(parts) != 2:
            session.msg("\n Usage (without <>): create <name> <password>")
            return
        username = Account.normalize_username(parts[0])
        account, errors = Account.create(
            username=username, password=parts[1], ip=session.address, session=session
        )
        if account:
            session.msg(
                "A new account '%s' was created. Welcome!\n\nYou can now log with the "
                "command 'connect %s <your password>'." % (username, username)
            )
        else:
            session.msg("|R%s|n" % "\n".join(errors))
EOF
    cat >>"$EVENNIA_GAME/commands/default_cmdsets.py" <<'EOF'


# --- written by portcullis bench/side-by-side.sh: one-line `create` ---
from commands.bench_create import CmdCreateNoConfirm  # noqa: E402

_bench_unloggedin_orig = UnloggedinCmdSet.at_cmdset_creation


def _bench_unloggedin(self):
    _bench_unloggedin_orig(self)
    self.add(CmdCreateNoConfirm())


UnloggedinCmdSet.at_cmdset_creation = _bench_unloggedin
EOF
    (cd "$EVENNIA_GAME" && evennia migrate >"$d/migrate.log" 2>&1) || die "evennia migrate failed (see $d/migrate.log)"
    (cd "$EVENNIA_GAME" && EVENNIA_SUPERUSER_USERNAME=benchadmin EVENNIA_SUPERUSER_PASSWORD="$PASSWORD-admin" \
        timeout 120 evennia start </dev/null >"$d/start.log" 2>&1) || { cat "$d/start.log" >&2; die "evennia start failed"; }
    for f in portal server; do
        [ -s "$EVENNIA_GAME/server/$f.pid" ] || die "evennia wrote no $f.pid"
    done
    E_PORTAL_PID=$(cat "$EVENNIA_GAME/server/portal.pid")
    E_SERVER_PID=$(cat "$EVENNIA_GAME/server/server.pid")
    track "$E_PORTAL_PID" evennia-portal
    track "$E_SERVER_PID" evennia-server
    wait_port "$E_TELNET" 30 evennia-telnet
    log "evennia $("$VENV/bin/pip" show evennia 2>/dev/null | awk '/^Version/{print $2}'): portal pid $E_PORTAL_PID, server pid $E_SERVER_PID, telnet $E_TELNET"
}

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
declare -a FAILED=()

# bench NAME TIMEOUT ARGS... : one run of the tool, JSON into $RESULTS/NAME.json, table into .txt
bench() {
    local name=$1 limit=$2 rc=0
    shift 2
    log "run $name: portcullis-bench $*"
    timeout --kill-after=10 "$limit" "$BENCH" --quiet --json "$RESULTS/$name.json" "$@" \
        >"$RESULTS/$name.txt" 2>"$RESULTS/$name.err" || rc=$?
    if [ $rc -ne 0 ]; then
        FAILED+=("$name (exit $rc: $(tail -1 "$RESULTS/$name.err" 2>/dev/null))")
        log "  $name exited $rc: $(tail -1 "$RESULTS/$name.err" 2>/dev/null)"
        [ $rc -ge 124 ] && echo "{\"scenario\":\"$name\",\"ok\":false,\"failure\":\"timed out after ${limit}s\"}" >"$RESULTS/$name.json"
    fi
    snap_rss "$name"
    grep -E 'throughput|latency|rate|per session|reload|lost|time to last|result' "$RESULTS/$name.txt" 2>/dev/null | sed 's/^/    /' >&2 || true
    return 0
}

# snap_rss NAME: resident memory (KiB) of the servers' processes after a run, one line each.
vmrss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo -; }
snap_rss() {
    local kids k sum=0
    kids=$(pgrep -P "$P_PID" 2>/dev/null || true)
    for k in $kids; do sum=$((sum + $(vmrss "$k" | tr -d -))); done
    printf '%s\tportcullis_portal=%s\tportcullis_server=%s\tevennia_portal=%s\tevennia_server=%s\n' \
        "$1" "$(vmrss "$P_PID")" "$sum" "$(vmrss "$E_PORTAL_PID")" \
        "$(vmrss "$(cat "$EVENNIA_GAME/server/server.pid" 2>/dev/null || echo 0)")" >>"$RESULTS/rss-after-each-run.tsv"
}

# rss_sampler OUT PID... : peak VmRSS of each pid every 0.5 s until killed (Evennia's two
# processes are not parent and child, so --pid-children cannot see the second one).
rss_sampler() {
    local out=$1
    shift
    python3 - "$out" "$@" <<'EOF' &
import json, signal, sys, time
out, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
def rss(p):
    try:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
first = {p: rss(p) for p in pids}
peak = dict(first)
def done(*_):
    json.dump({"pids": pids, "rss_start_kib": first, "rss_peak_kib": peak}, open(out, "w"))
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    for p in pids:
        r = rss(p)
        if r is not None and (peak[p] is None or r > peak[p]):
            peak[p] = r
    time.sleep(0.5)
EOF
    SAMPLER_PID=$!
    track "$SAMPLER_PID" rss-sampler
}

stop_sampler() {
    kill -TERM "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
}

run_all() {
    local n lines p_tel="127.0.0.1:$P_TELNET" e_tel="127.0.0.1:$E_TELNET"
    local login=(--password "$PASSWORD" --login "connect {user} {password}" --create "create {user} {password}")

    # Handshakes: full handshakes (no resumption), then close.
    bench hs-ssh-portcullis 60 handshakes --protocol ssh --addr "127.0.0.1:$P_SSH" --concurrency $HS_CONC --duration $HS_SECS
    bench hs-ssh-sshd 60 handshakes --protocol ssh --addr "127.0.0.1:$S_PORT" --concurrency $HS_CONC --duration $HS_SECS
    bench hs-tls-portcullis 60 handshakes --protocol tls --addr "127.0.0.1:$P_TLS" --concurrency $HS_CONC --duration $HS_SECS
    bench hs-tls-stunnel 60 handshakes --protocol tls --addr "127.0.0.1:$T_PORT" --concurrency $HS_CONC --duration $HS_SECS

    # Hold: idle connections at the connection screen, and resident memory. Portcullis: the
    # portal and its server child (--pid-children). Evennia: the tool measures the Portal
    # (which owns the sockets); the sampler also watches the Server, a separate process.
    for n in $PORTCULLIS_HOLD; do
        rss_sampler "$RESULTS/hold-$n-portcullis.rss.json" "$P_PID" $(pgrep -P "$P_PID" || true)
        bench "hold-$n-portcullis" 400 hold --addr "$p_tel" --sessions "$n" --pid "$P_PID" --pid-children \
            --hold-secs 5 --timeout 60 --connect-concurrency 256
        stop_sampler
    done
    for n in $EVENNIA_HOLD; do
        rss_sampler "$RESULTS/hold-$n-evennia.rss.json" "$E_PORTAL_PID" "$(cat "$EVENNIA_GAME/server/server.pid")"
        bench "hold-$n-evennia" 400 hold --addr "$e_tel" --sessions "$n" --pid "$E_PORTAL_PID" \
            --hold-secs 5 --timeout 60 --connect-concurrency 256
        stop_sampler
        sleep 5   # let Evennia's server forget the sessions before the next step
    done

    # Round trip: each client sends a line that is not a command and waits for the server's
    # own "unknown command" answer, which repeats it: a reply to that client alone. (A `say`
    # goes to everyone in the room, which is the fan-out below, and with N clients all
    # talking at once it would cost N*N deliveries.) Lines per client fall as clients grow.
    for n in $RT_CLIENTS; do
        case $n in 1) lines=300 ;; 10) lines=100 ;; 100) lines=30 ;; *) lines=10 ;; esac
        [ "$QUICK" = 1 ] && lines=$((lines / 3 + 1))
        bench "roundtrip-$n-portcullis" 300 roundtrip --addr "$p_tel" "${login[@]}" --user-prefix pc \
            --clients "$n" --lines "$lines" --say "{token}" --expect "{token}" --timeout 30 --connect-concurrency 64
        bench "roundtrip-$n-evennia" 300 roundtrip --addr "$e_tel" "${login[@]}" --user-prefix ev \
            --clients "$n" --lines "$lines" --say "{token}" --expect "{token}" --timeout 30 --connect-concurrency 64
    done

    # Fan-out: one `say` to a room of N, until the last of the N has it.
    for n in $FANOUT_CLIENTS; do
        bench "fanout-$n-portcullis" 300 fanout --addr "$p_tel" "${login[@]}" --user-prefix pc \
            --clients "$n" --rounds 10 --timeout 60 --connect-concurrency 64
        bench "fanout-$n-evennia" $((n >= 1000 ? 150 : 300)) fanout --addr "$e_tel" "${login[@]}" --user-prefix ev \
            --clients "$n" --rounds 10 --timeout 60 --connect-concurrency 64
    done

    # Reload: 20 clients type a line every 100 ms while the reload command runs once.
    bench reload-portcullis 180 reload --addr "$p_tel" "${login[@]}" --user-prefix pc --clients 20 \
        --lines $RELOAD_LINES --reload-cmd "'$PORTCULLIS' reload --config '$P_CFG'" --timeout 30
    bench reload-evennia 180 reload --addr "$e_tel" "${login[@]}" --user-prefix ev --clients 20 \
        --lines $RELOAD_LINES --reload-cmd "cd '$EVENNIA_GAME' && PATH='$VENV/bin':\$PATH evennia reload" --timeout 30
}

write_meta() {
    META_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
    META_NPROC=$(nproc) \
    META_CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') \
    META_MEM=$(free -h | awk '/^Mem:/{print $2}') \
    META_KERNEL=$(uname -sr) \
    META_ULIMIT=$(ulimit -n) \
    META_PORTCULLIS=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown) \
    META_EVENNIA=$("$VENV/bin/pip" show evennia 2>/dev/null | awk '/^Version/{print $2}') \
    META_PYTHON=$("$VENV/bin/python" -V 2>&1 | cut -d' ' -f2) \
    META_OPENSSH=$(dpkg-query -W -f='${Version}' openssh-server 2>/dev/null || echo unknown) \
    META_STUNNEL=$(dpkg-query -W -f='${Version}' stunnel4 2>/dev/null || echo unknown) \
    META_QUICK=$QUICK \
    META_FAILED=$(printf '%s\n' "${FAILED[@]+"${FAILED[@]}"}") \
    "$VENV/bin/python" - "$RESULTS/meta.json" <<'EOF'
import json, os, sys
e = os.environ
json.dump({
    "date_utc": e["META_DATE"], "nproc": int(e["META_NPROC"]), "cpu": e["META_CPU"],
    "memory": e["META_MEM"], "kernel": e["META_KERNEL"], "ulimit_n": e["META_ULIMIT"],
    "portcullis": e["META_PORTCULLIS"], "evennia": e["META_EVENNIA"],
    "python": e["META_PYTHON"], "openssh": e["META_OPENSSH"], "stunnel": e["META_STUNNEL"],
    "quick": e["META_QUICK"] == "1",
    "failed_runs": [l for l in e["META_FAILED"].splitlines() if l],
}, open(sys.argv[1], "w"), indent=2)
EOF
}

main() {
    ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    log "work dir $WORK; results $RESULTS; ulimit -n $(ulimit -n)"
    mkdir -p "$RESULTS"
    rm -rf "$RESULTS"/*.json "$RESULTS"/*.txt "$RESULTS"/*.err "$RESULTS"/*.tsv "$RESULTS/logs"
    need_debs
    need_venv
    build
    start_portcullis
    start_sshd
    start_stunnel
    start_evennia
    snap_rss started
    run_all
    write_meta
    local out="$ROOT/docs"
    if [ "$QUICK" = 1 ] && [ "${BENCH_WRITE_DOCS:-0}" != 1 ]; then
        out="$RESULTS"
    fi
    "$VENV/bin/python" "$ROOT/bench/summarize.py" "$RESULTS" "$out/benchmarks.md" "$out/benchmarks-latency.png"
    cp "$out/benchmarks.md" "$RESULTS/summary.md" 2>/dev/null || true
    log "wrote $out/benchmarks.md and $out/benchmarks-latency.png; raw results in $RESULTS"
    if [ ${#FAILED[@]} -gt 0 ]; then
        log "runs that failed or timed out: ${FAILED[*]}"
    fi
}

main "$@"
