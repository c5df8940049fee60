"""Turn one side-by-side run (bench/results/<date>/*.json) into docs/benchmarks.md and the
round-trip latency plot. Run by bench/side-by-side.sh; only reports what was measured.

usage: summarize.py RESULTS_DIR OUT.md OUT.png
"""

import glob
import json
import os
import sys

RESULTS, OUT_MD, OUT_PNG = sys.argv[1], sys.argv[2], sys.argv[3]


def load(name):
    path = os.path.join(RESULTS, name + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def res(doc, *keys):
    """A value from doc["results"] (nested keys), or None."""
    if not doc:
        return None
    v = doc.get("results") or {}
    for k in keys:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def why_not(doc, name):
    if doc is None:
        err = os.path.join(RESULTS, name + ".err")
        if not os.path.exists(err):
            return "not run"
        tail = ""
        if os.path.exists(err):
            lines = [l for l in open(err).read().splitlines() if l.strip()]
            tail = lines[-1] if lines else ""
        return "not measured" + (f" ({tail})" if tail else "")
    if not doc.get("ok", True) and doc.get("failure"):
        return "failed: " + str(doc["failure"])
    return None


def fmt(v, unit="", digits=None):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        s = f"{v:,}"
    else:
        if digits is None:
            digits = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else (2 if abs(v) >= 1 else 3))
        s = f"{v:,.{digits}f}"
    return s + (" " + unit if unit else "")


def ratio(p, other, higher_is_better):
    """How many times better Portcullis is (>1) or worse (<1), in the same run."""
    if p is None or other is None:
        return "—"
    if higher_is_better:
        if other == 0:
            return "∞" if p > 0 else "—"
        r = p / other
    else:
        if p == 0:
            return "∞" if other > 0 else "—"
        r = other / p
    return f"{r:,.2f}×" if r < 10 else f"{r:,.0f}×"


meta = {}
try:
    meta = json.load(open(os.path.join(RESULTS, "meta.json")))
except (OSError, ValueError):
    pass

rows = []  # (measurement, portcullis, peer name, peer, ratio, note)
notes = []


def pair(label, pname, oname, peer, keys, unit, higher_is_better, digits=None, note=""):
    p, o = load(pname), load(oname)
    pv, ov = res(p, *keys), res(o, *keys)
    pcell = fmt(pv, unit, digits) if pv is not None else (why_not(p, pname) or "—")
    ocell = fmt(ov, unit, digits) if ov is not None else (why_not(o, oname) or "—")
    # A run that failed its own invariants keeps its number, flagged.
    for doc, name in ((p, pname), (o, oname)):
        if doc and not doc.get("ok", True) and doc.get("failure"):
            notes.append(f"`{name}` did not pass its own checks: {doc['failure']}")
    if p and not p.get("ok", True) and pv is not None:
        pcell += " (run failed)"
    if o and not o.get("ok", True) and ov is not None:
        ocell += " (run failed)"
    rows.append((label, pcell, peer, ocell, ratio(pv, ov, higher_is_better), note))


# Handshakes
pair("SSH handshakes/s (4 in flight)", "hs-ssh-portcullis", "hs-ssh-sshd", "OpenSSH sshd",
     ["rate_per_sec"], "", True)
pair("SSH handshake p50", "hs-ssh-portcullis", "hs-ssh-sshd", "OpenSSH sshd",
     ["latency_ms", "p50"], "ms", False)
pair("TLS handshakes/s (4 in flight)", "hs-tls-portcullis", "hs-tls-stunnel", "stunnel + echo",
     ["rate_per_sec"], "", True)
pair("TLS handshake p50", "hs-tls-portcullis", "hs-tls-stunnel", "stunnel + echo",
     ["latency_ms", "p50"], "ms", False)

# Round trip
rt_clients = sorted({int(os.path.basename(f).split("-")[1])
                     for f in glob.glob(os.path.join(RESULTS, "roundtrip-*-*.json"))} |
                    {int(os.path.basename(f).split("-")[1])
                     for f in glob.glob(os.path.join(RESULTS, "roundtrip-*-*.err"))})
for n in rt_clients:
    pn, en = f"roundtrip-{n}-portcullis", f"roundtrip-{n}-evennia"
    c = "client" if n == 1 else "clients"
    pair(f"Round trip, {n} {c}: p50", pn, en, "Evennia", ["latency_ms", "p50"], "ms", False)
    pair(f"Round trip, {n} {c}: p99", pn, en, "Evennia", ["latency_ms", "p99"], "ms", False)
    pair(f"Round trip, {n} {c}: lines/s", pn, en, "Evennia", ["lines_per_sec"], "", True)

# Fan-out
fo_clients = sorted({int(os.path.basename(f).split("-")[1])
                     for f in glob.glob(os.path.join(RESULTS, "fanout-*-*.json"))})
for n in fo_clients:
    pn, en = f"fanout-{n}-portcullis", f"fanout-{n}-evennia"
    pair(f"Fan-out to {n}: p50 (until the last has it)", pn, en, "Evennia",
         ["fanout_ms", "p50"], "ms", False)
    pair(f"Fan-out to {n}: p99", pn, en, "Evennia", ["fanout_ms", "p99"], "ms", False)


# Hold: sizes may differ between the two servers, so pair equal sizes and list the rest.
def hold_sizes(server):
    return sorted(int(os.path.basename(f).split("-")[1])
                  for f in glob.glob(os.path.join(RESULTS, f"hold-*-{server}.json")))


def rss_extra(name):
    try:
        return json.load(open(os.path.join(RESULTS, name + ".rss.json")))
    except (OSError, ValueError):
        return None


p_sizes, e_sizes = hold_sizes("portcullis"), hold_sizes("evennia")


def evennia_both(n):
    """(RSS with the sessions, KiB per session) for Evennia's Portal + Server, from the
    script's sampler; None where it has no numbers."""
    extra, doc = rss_extra(f"hold-{n}-evennia"), load(f"hold-{n}-evennia")
    opened = res(doc, "sessions_opened")
    if not extra or len(extra.get("pids", [])) != 2 or not opened:
        return None, None
    start = [extra["rss_start_kib"].get(str(p)) for p in extra["pids"]]
    peak = [extra["rss_peak_kib"].get(str(p)) for p in extra["pids"]]
    if None in start or None in peak:
        return None, None
    return sum(peak), (sum(peak) - sum(start)) / opened


for n in sorted(set(p_sizes) | set(e_sizes)):
    pn, en = f"hold-{n}-portcullis", f"hold-{n}-evennia"
    pair(f"Hold {n:,} idle sessions: opened", pn, en, "Evennia", ["sessions_opened"], "", True)
    pdoc = load(pn)
    p_rss, p_per = res(pdoc, "rss_after_kib"), res(pdoc, "kib_per_session")
    e_rss, e_per = evennia_both(n)
    pcell = lambda v, u: fmt(v, u) if v is not None else (why_not(pdoc, pn) or "—")
    ecell = lambda v, u: fmt(v, u) if v is not None else (why_not(load(en), en) or "—")
    rows.append((f"Hold {n:,}: memory per session (all processes)", pcell(p_per, "KiB"),
                 "Evennia", ecell(e_per, "KiB"), ratio(p_per, e_per, False), ""))
    rows.append((f"Hold {n:,}: RSS with the sessions (all processes)", pcell(p_rss, "KiB"),
                 "Evennia", ecell(e_rss, "KiB"), ratio(p_rss, e_rss, False), ""))
    pair(f"Hold {n:,}: time to open them", pn, en, "Evennia", ["open_secs"], "s", False)

# Reload
pair("Reload: command wall time", "reload-portcullis", "reload-evennia", "Evennia",
     ["reload_command_wall_ms"], "ms", False,
     note="`portcullis reload` vs `evennia reload`, each as an operator types it")
pair("Reload: lines lost (of those typed through it)", "reload-portcullis", "reload-evennia",
     "Evennia", ["lines_lost"], "", False)
pair("Reload: connections dropped", "reload-portcullis", "reload-evennia", "Evennia",
     ["connections_dropped"], "", False)
pair("Reload: echo latency p99 (whole run)", "reload-portcullis", "reload-evennia", "Evennia",
     ["echo_latency_ms", "p99"], "ms", False)

# Evennia's Server process during the holds (the tool measured the Portal alone).
ev_server_lines = []
for n in e_sizes:
    extra = rss_extra(f"hold-{n}-evennia")
    doc = load(f"hold-{n}-evennia")
    opened = res(doc, "sessions_opened")
    if extra and len(extra.get("pids", [])) == 2:
        portal, server = (str(p) for p in extra["pids"])
        s0, s1 = extra["rss_start_kib"].get(server), extra["rss_peak_kib"].get(server)
        p0, p1 = extra["rss_start_kib"].get(portal), extra["rss_peak_kib"].get(portal)
        if None not in (s0, s1, p0, p1):
            per = ((s1 - s0) + (p1 - p0)) / opened if opened else None
            ev_server_lines.append(
                f"- {n:,} sessions ({fmt(opened)} opened): Server {s0:,} → peak {s1:,} KiB, "
                f"Portal {p0:,} → peak {p1:,} KiB; both processes together "
                f"{fmt(per, 'KiB')} per session.")
p_hold_lines = []
for n in p_sizes:
    extra = rss_extra(f"hold-{n}-portcullis")
    doc = load(f"hold-{n}-portcullis")
    portal_only = ""
    if extra and extra.get("pids") and doc:
        portal = str(extra["pids"][0])
        a, b = extra["rss_start_kib"].get(portal), extra["rss_peak_kib"].get(portal)
        opened = res(doc, "sessions_opened")
        if None not in (a, b) and opened:
            portal_only = (f" The portal alone (sampled every 0.5 s): {a:,} → peak {b:,} KiB, "
                           f"{(b - a) / opened:,.1f} KiB per session.")
    if doc:
        p_hold_lines.append(
            f"- {n:,} sessions: {fmt(res(doc, 'sessions_opened'))} opened in "
            f"{fmt(res(doc, 'open_secs'), 's')}, RSS (portal + server) "
            f"{fmt(res(doc, 'rss_before_kib'))} → {fmt(res(doc, 'rss_after_kib'))} KiB, "
            f"{fmt(res(doc, 'kib_per_session'), 'KiB')} per session; still connected after "
            f"the hold: {fmt(res(doc, 'connected_after_hold'))}." + portal_only)

# ---------------------------------------------------------------------------------------------
# The plot
# ---------------------------------------------------------------------------------------------
plot_ok = False
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    styles = {
        ("portcullis", "p50"): dict(color="#1f5fa8", marker="o", linestyle="-"),
        ("portcullis", "p99"): dict(color="#1f5fa8", marker="o", linestyle="--"),
        ("evennia", "p50"): dict(color="#c0392b", marker="s", linestyle="-"),
        ("evennia", "p99"): dict(color="#c0392b", marker="s", linestyle="--"),
    }
    names = {"portcullis": "Portcullis", "evennia": "Evennia"}
    for server in ("portcullis", "evennia"):
        for q in ("p50", "p99"):
            xs, ys = [], []
            for n in rt_clients:
                v = res(load(f"roundtrip-{n}-{server}"), "latency_ms", q)
                if v is not None and v > 0:
                    xs.append(n)
                    ys.append(v)
            if xs:
                ax.plot(xs, ys, label=f"{names[server]} {q}", linewidth=2, markersize=7,
                        **styles[(server, q)])
                for x, y in zip(xs, ys):
                    ax.annotate(f"{y:,.0f}" if y >= 100 else f"{y:.3g}", (x, y), textcoords="offset points",
                                xytext=(7, 5 if q == "p99" else -13), fontsize=8,
                                color=styles[(server, q)]["color"])
                plot_ok = True
    for n in rt_clients:
        for server in ("portcullis", "evennia"):
            doc = load(f"roundtrip-{n}-{server}")
            if doc and not doc.get("ok", True) and res(doc, "latency_ms", "p50") is not None:
                ax.annotate(f"{names[server]}: run failed\n(a reply took > timeout)",
                            (n, res(doc, "latency_ms", "p50")), textcoords="offset points",
                            xytext=(-150, -4), fontsize=8, color=styles[(server, "p50")]["color"])
    ax.set_xscale("log")
    if rt_clients:
        ax.set_xlim(min(rt_clients) * 0.7, max(rt_clients) * 1.8)
    ax.set_yscale("log")
    ax.set_xticks(rt_clients)
    ax.set_xticklabels([str(n) for n in rt_clients])
    ax.set_xlabel("logged-in clients, all sending at once")
    ax.set_ylabel("round-trip latency (ms, log scale)")
    ax.set_title("Telnet round trip: a line to its reply, 127.0.0.1, same client\n"
                 f"{meta.get('date_utc', '')[:10]}, {meta.get('nproc', '?')} × "
                 f"{meta.get('cpu', '?')}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if plot_ok:
        fig.savefig(OUT_PNG)
except Exception as e:  # the table is still written
    notes.append(f"The latency plot could not be made: {e}")

# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------
m = meta
out = []
out.append("# Benchmarks: Portcullis side by side\n")
out.append(
    "Measured by `bash bench/side-by-side.sh` in **one run on one machine**: Portcullis and the "
    "servers an operator would otherwise use, each started by the script on 127.0.0.1, measured "
    "by the same client (`portcullis-bench`), and stopped again. Every ratio below compares two "
    "numbers from that same run. Re-run the script to get your own; the raw JSON goes to "
    "`bench/results/<date>/` (not committed).\n")
if m.get("quick"):
    out.append("**This was a quick smoke run (BENCH_QUICK=1): small counts, not for quoting.**\n")
out.append("## Machine and versions\n")
out.append(f"- Date (UTC): {m.get('date_utc', 'unknown')}")
out.append(f"- Machine: {m.get('nproc', '?')} CPUs (`nproc`), {m.get('cpu', '?')}, "
           f"{m.get('memory', '?')} memory, {m.get('kernel', '?')}, `ulimit -n` {m.get('ulimit_n', '?')}")
out.append("- Everything (servers and the load client) shares those CPUs over loopback.")
out.append(f"- Portcullis {m.get('portcullis', '?')} (release build); Evennia "
           f"{m.get('evennia', '?')} on Python {m.get('python', '?')}; OpenSSH sshd "
           f"{m.get('openssh', '?')}; stunnel {m.get('stunnel', '?')} (Debian packages)\n")
out.append("## Results\n")
out.append("Ratio: how many times better Portcullis did (throughput ÷ throughput, or time ÷ time "
           "and memory ÷ memory the other way round); below 1× the peer did better. "
           "\"—\" where a number is missing or zero.\n")
out.append("| measurement | Portcullis | peer | peer's result | ratio |")
out.append("|---|---:|---|---:|---:|")
for label, p, peer, o, r, note in rows:
    out.append(f"| {label} | {p} | {peer} | {o} | {r} |")
out.append("")
if plot_ok:
    out.append("![Round-trip latency against clients](benchmarks-latency.png)\n")
out.append("## What was measured, and how\n")
out.append(
    "- **Handshakes**: `portcullis-bench handshakes`, 4 in flight, full handshakes (no TLS "
    "resumption), closed right after. SSH: key exchange through host-key verification, no "
    "authentication, against Portcullis' SSH port and a stock `sshd -D` (ed25519 host key, "
    "`MaxStartups` raised so it never drops). TLS: against Portcullis' telnet-over-TLS port and "
    "stunnel (ECDSA P-256 certificate, like Portcullis' own) in front of a tiny asyncio echo "
    "server; stunnel connects to its backend for each connection, as it would to a MUD.")
out.append(
    "- **Round trip**: N logged-in telnet clients each send a line and wait for the reply to "
    "it, all at once. The line is a unique word that is not a command, so the reply is the "
    "server's own unknown-command message (Portcullis: `Unknown command '…'`, Evennia: "
    "`Command '…' is not available`), which goes to that client alone; a `say` would go to "
    "all N (that is the fan-out). Lines per client: 300 for 1 client, 100 for 10, 30 for 100, "
    "10 for 1000.")
out.append(
    "- **Fan-out**: N logged-in clients in one room; one says a unique token; the time until "
    "the last of the N has it. 10 rounds, the speaker rotating.")
out.append(
    "- **Hold**: N idle telnet connections at the connection screen for 5 s, and resident "
    "memory (VmRSS) before and with them. Portcullis: portal plus its server child. Evennia "
    "runs two unrelated processes (the Portal owns the sockets, the Server the sessions' "
    "game side); the tool measured the Portal, and the script also sampled both (below).")
out.append(
    "- **Reload**: 20 logged-in clients type a line every 100 ms while the reload command runs "
    "once; every line must be answered and no connection dropped.")
out.append(
    "- **Settings**: Portcullis with its [limits] and [accounts] throttles raised. Evennia with "
    "telnet on 127.0.0.1 only, web server, web client, websocket, IRC, RSS and Grapevine off, "
    "and the throttles raised as Evennia's own load-test settings "
    "(`evennia/server/profiling/settings_mixin.py`) do: no creation or login throttle, "
    "MAX_COMMAND_RATE and MAX_CONNECTION_RATE 100000 (the default 2 connections/s would "
    "otherwise pace every connection), and the MD5 password hasher, so account creation and "
    "login are cheap on Evennia (Portcullis keeps argon2id). Its `create` was given no "
    "\"Is this what you intended?\" question, so one line creates an account as on "
    "Portcullis. Setup time (connecting and logging in) is in the raw JSON but not compared, "
    "as the password hashing differs.\n")
if ev_server_lines or p_hold_lines:
    out.append("## Memory details\n")
    out.append("Portcullis, portal and server child (the tool's --pid-children); the table's "
               "\"all processes\" for Evennia is its Portal plus its Server, sampled by the "
               "script, since the two are not parent and child:")
    out.extend(p_hold_lines)
    if ev_server_lines:
        out.append("")
        out.append("Evennia, both processes sampled every 0.5 s during the hold:")
        out.extend(ev_server_lines)
    out.append("")
rss_log = os.path.join(RESULTS, "rss-after-each-run.tsv")
if os.path.exists(rss_log):
    out.append("### Resident memory of each process after each run (KiB)\n")
    out.append("Read from /proc/PID/status (VmRSS) by the script right after each run "
               "(Portcullis' server child is a new process after its reload; Evennia's Server "
               "too).\n")
    out.append("| after run | Portcullis portal | Portcullis server child | Evennia Portal | Evennia Server |")
    out.append("|---|---:|---:|---:|---:|")
    for line in open(rss_log).read().splitlines():
        parts = line.split("\t")
        vals = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        cells = []
        for k in ("portcullis_portal", "portcullis_server", "evennia_portal", "evennia_server"):
            v = vals.get(k, "")
            if k == "portcullis_server" and v == "0":
                cells.append("no child")
            else:
                cells.append(f"{int(v):,}" if v.isdigit() else "—")
        out.append(f"| {parts[0]} | " + " | ".join(cells) + " |")
    out.append("")
# Observations computed from this run's numbers.
obs = []
if os.path.exists(rss_log):
    peak, at = 0, None
    for line in open(rss_log).read().splitlines():
        parts = line.split("\t")
        vals = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        v = vals.get("portcullis_server", "")
        if v.isdigit() and int(v) > peak:
            peak, at = int(v), parts[0]
    if peak > 512 * 1024:
        obs.append(f"Portcullis' server child reached {peak / 1048576:.1f} GiB resident after "
                   f"`{at}` (table above): it grows with the logins of the runs before it. "
                   "That is the server process (accounts, argon2id logins), not the portal.")
e1 = res(load("roundtrip-1-evennia"), "latency_ms", "p50")
if e1 is not None and e1 > 20:
    obs.append(f"Evennia's round trip is {e1:.0f} ms even with one client on an idle machine. "
               "Evennia sets TCP_NODELAY on none of its sockets (neither the players' nor the "
               "Portal–Server AMP link), and Nagle's algorithm meeting delayed ACKs gives a "
               "floor of about 40 ms; that is the likely cause, not verified further here.")
slow = [n for n in e_sizes if 59 <= (res(load(f"hold-{n}-evennia"), "open_secs") or 0) <= 63]
if slow:
    obs.append("Opening the idle sessions on Evennia took about 61 s at " +
               " and ".join(f"{n:,}" for n in slow) + " sessions alike, close to the tool's "
               "60 s per-wait timeout: probably a few connections waited that long for the "
               "connection screen (Evennia's telnet port listens with a backlog of 50), not a "
               "steady rate. Not investigated further; treat those times as an upper bound.")
if obs:
    out.append("## Observations\n")
    out.extend(f"- {o}" for o in obs)
    out.append("")
failed = m.get("failed_runs") or []
if failed or notes:
    out.append("## What did not work\n")
    for f in failed:
        out.append(f"- Run {f}")
    for n in dict.fromkeys(notes):
        out.append(f"- {n}")
    out.append("")
# What is written by hand after this marker in the existing file (targets, profiles) is kept.
KEEP = "<!-- Written by hand from here on; bench/summarize.py keeps it when it rewrites the file. -->"
if os.path.exists(OUT_MD):
    with open(OUT_MD) as f:
        old = f.read()
    if KEEP in old:
        out.append(old[old.index(KEEP):].rstrip())
with open(OUT_MD, "w") as f:
    f.write("\n".join(out).rstrip() + "\n")
print(f"wrote {OUT_MD}" + (f" and {OUT_PNG}" if plot_ok else " (no plot)"))
