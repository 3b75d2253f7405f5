#!/usr/bin/env python3
"""Turns the JSON lines of bench/run.sh into bench/REPORT.md.

Every throughput figure is divided by its baseline *from the same run*
(the HTTP baseline run just before it, or the raw storage statement on the
same backend in the same run); the report shows the median of those per-run
ratios, and the medians of the absolute figures for reference.
"""
import json
import statistics
import sys
from collections import defaultdict

# Several files may be given (e.g. a load run and a later `--skip-load` run
# for scenarios 5 and 6); the first file's notes describe the report.
lines = []
for path in sys.argv[1:]:
    lines += [json.loads(l) for l in open(path) if l.strip()]
notes = {}
prep = {}
for l in lines:
    if l["kind"] == "note":
        if "backend" in l:
            prep.setdefault(l["backend"], l)
        else:
            for k, v in l.items():
                if k != "kind":
                    notes.setdefault(k, v)

# results[(backend, scenario)][run] = result line; growth[...] the same on 10x the data
results = defaultdict(dict)
growth = defaultdict(dict)
for l in lines:
    if l["kind"] in ("http", "storage"):
        (growth if l.get("scale") == 10 else results)[(l["backend"], l["scenario"])][l["run"]] = l
# realtime[backend][run] = result line (backend "nchan" for the peer)
realtime = defaultdict(dict)
for l in lines:
    if l["kind"] == "realtime":
        realtime[l["backend"]][l["run"]] = l


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def peak(line):
    return line["result"]["peakRps"] if line else None


def hold(line, field):
    h = line and line["result"].get("hold")
    return h[field] if h else None


def ratios(backend, scenario, base_backend, base_scenario):
    out = []
    for run, line in results[(backend, scenario)].items():
        base = results[(base_backend, base_scenario)].get(run)
        if base and peak(base):
            out.append(peak(line) / peak(base))
    return out


def fmt_ms(us):
    return "–" if us is None else f"{us / 1000:.2f} ms"


def fmt_rps(x):
    return "–" if x is None else f"{x:,.0f}/s"


def fmt_ratio(xs):
    if not xs:
        return "–"
    m = statistics.median(xs)
    spread = f" ({min(xs):.2f}–{max(xs):.2f})" if len(xs) > 1 else ""
    return f"{m:.2f}{spread}"


def rt_p99(line, field="postToReceive"):
    return line[field]["p99Us"] if line else None


def rt_rows(w):
    nchan = realtime.get("nchan", {})
    for b in [b for b in ("sqlite", "postgres", "nchan") if b in realtime]:
        ls = list(realtime[b].values())
        v = ls[0]["visitors"]
        lost = sum(l["lost"] for l in ls)
        errors = sum(l["post"]["errors"] + l["post"]["unsent"] for l in ls)
        p99 = med(rt_p99(l) for l in ls)
        label = (
            f"Real-time: {v:,} visitors, {ls[0]['rate']:.0f} msg/s, POST sent → received"
            f" ({'nginx + nchan, in memory' if b == 'nchan' else 'ours, stored durably'})"
        )
        figures = f"lost {lost}, errors {errors}"
        if b == "nchan":
            w(f"| 4 | {label} | – | {figures} | (peer) | {fmt_ms(p99)} | – | – |")
            continue
        rs = [
            rt_p99(l) / rt_p99(nchan[run])
            for run, l in realtime[b].items()
            if run in nchan and rt_p99(nchan[run])
        ]
        ok = p99 is not None and p99 < 10000 and lost == 0 and errors == 0 and v >= 10000
        ok = ok and bool(rs) and statistics.median(rs) <= 2
        verdict = "**pass**" if ok else "**FAIL**"
        if v < 10000 and (p99 or 0) < 10000 and lost == 0:
            verdict = "not at 10,000 visitors"
        w(
            f"| 4 | {label} | {b} | {figures} | {fmt_ratio(rs)} × nchan p99 | {fmt_ms(p99)} | "
            f"p99 < 10 ms, 0 lost, ≤ 2× nchan p99 | {verdict} |"
        )
    if not realtime:
        w("| 4 | Real-time delivery, 10k visitors, vs nchan | both | – | – | – | p99 < 10 ms, 0 lost, ≤ 2× nchan | not measured |")


def lateness(post):
    """How late the client sent, p50 / p99; runs from before it was recorded show a dash."""
    if "latenessP50Us" not in post:
        return "–"
    return f"{fmt_ms(post['latenessP50Us'])} / {fmt_ms(post['latenessP99Us'])}"


def rt_notes(w):
    w(
        "Scenario 4 method (`enuchat-bench realtime`): every visitor holds one WebSocket; message *i* "
        "goes to visitor *i* mod N at a constant rate (open loop, scheduled send times) and carries *i* "
        "in its text. Ours: visitors and conversations are created through the visitor API, each socket "
        "follows its conversation (`/api/v1/widget/ws`, live after `ready`), messages are sent with "
        "`POST /api/v1/tenant-api/conversations/{id}/messages` (keys rotating) and **stored durably "
        "before the 2xx**. nchan: nginx with 2 workers, `POST /pub/<visitor>`, WebSocket "
        "`/sub/<visitor>`, one channel per visitor, messages kept **in memory only**. Latency from the "
        "POST's scheduled send time (a sender held back by slow answers shows) to the frame received; an accepted message not received within the grace "
        "period is lost. The client runs on the same 2 cores. Sends are paced by a thread of the client's "
        "own (the kernel's high-resolution timers), not tokio's millisecond timer, whose lateness (p50 "
        "0.5-1 ms) was larger than nchan's whole delivery time; the table shows how late sends left.\n"
    )
    w("| Peer | Run | Sent → received p50 / p99 / max | 2xx → received p50 / p99 / max (received before the 2xx) | POST p99 | send lateness p50 / p99 | accepted | received | lost | duplicates | setup / connect |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for b in sorted(realtime):
        for run, l in sorted(realtime[b].items()):
            a, r = l["postToReceive"], l["answerToReceive"]
            w(
                f"| {b} | {run} | {fmt_ms(a['p50Us'])} / {fmt_ms(a['p99Us'])} / {fmt_ms(a['maxUs'])} | "
                f"{fmt_ms(r['p50Us'])} / {fmt_ms(r['p99Us'])} / {fmt_ms(r['maxUs'])} ({r['receivedBeforeAnswer']}) | "
                f"{fmt_ms(l['post']['p99Us'])} | {lateness(l['post'])} | {l['accepted']:,} | {l['received']:,} | {l['lost']} | "
                f"{l['duplicates']} | {l['setupSeconds']} s / {l['connectSeconds']} s |"
            )
    w("")


def growth_rows(w):
    if not growth:
        w("| 7 | Growth: scenarios 1 and 3 at 10× data | both | – | – | – | ≤ 20% slower | not measured (`--growth`) |")
        return
    for b in backends:
        for s in ("list", "list-filtered", "post"):
            big = growth.get((b, s), {})
            if not big:
                continue
            # Slowdown per run: 1x peak / 10x peak - 1 (0.2 = 20% slower).
            rs = [
                peak(results[(b, s)][run]) / peak(l) - 1
                for run, l in big.items()
                if run in results[(b, s)] and peak(l)
            ]
            ok = bool(rs) and statistics.median(rs) <= 0.2
            ten = med(peak(l) for l in big.values())
            one = med(peak(l) for l in results[(b, s)].values())
            w(
                f"| 7 | Growth: `{s}` at 10× data ({fmt_rps(one)} at 1× → {fmt_rps(ten)} at 10×) | {b} | "
                f"{fmt_rps(ten)} | {fmt_ratio(rs) if rs else '–'} slower | "
                f"{fmt_ms(med(hold(l, 'p99Us') for l in big.values()))} | ≤ 0.20 slower (1× peak / 10× peak − 1) | "
                f"{'**pass**' if ok else '**FAIL**'} |"
            )


backends = [b for b in ("sqlite", "postgres") if any(k[0] == b for k in results)]
runs = notes.get("runs", 1)
out = []
w = out.append
w("# enuchat benchmark report\n")
w(
    f"Generated by `bench/run.sh{' --smoke' if notes.get('smoke') else ' --quick' if notes.get('quick') else ''}` at commit "
    f"`{notes.get('commit')}` on {notes.get('cores')} cores ({notes.get('cpu')}), "
    f"{runs} run(s), wall time {notes.get('wallSeconds', '?')} s. "
    f"Load average before: {notes.get('loadBefore')}, after: {notes.get('loadAfter')} "
    "(other work on the machine shows up here; the same-run ratios cancel part of it).\n"
)
w(
    f"Data: `enuchat demo` with {notes.get('conversations'):,} conversations per backend; "
    f"requests rotate over {notes.get('keys')} API keys; per-key limit raised with "
    "`ENUCHAT_RATE_LIMIT_PER_MINUTE=60000000`.\n"
)
for b, p in prep.items():
    d = p["demo"]
    size = f", {p['sizeKiB'] / 1024:,.0f} MiB on disk" if "sizeKiB" in p else ""
    w(
        f"- {b}: {d['conversations']:,} conversations, {d['messages']:,} messages, "
        f"prepared in {p['demoSeconds']} s (keys: {p['keySeconds']} s){size}"
    )
if notes.get("postgresSkipped"):
    w("- PostgreSQL was skipped: it did not answer.")
if notes.get("nchanSkipped"):
    w(f"- **nginx + nchan was SKIPPED** ({notes['nchanSkipped']}): scenario 4 has no peer figure.")
if notes.get("realtimeVisitorsCapped"):
    w(f"- Scenario 4's visitors were capped by the open-file limit: {notes['realtimeVisitorsCapped']}.")
w("")
w(
    "Method: open-loop generator (`enuchat-bench`), constant rate with scheduled send times, "
    "latency from the scheduled time (HdrHistogram), at most 256 requests in flight. "
    "**Peak** = highest achieved rate of a step with p99 ≤ 50 ms, ≤ 0.1% errors and ≥ 95% of "
    "the offered rate (rate ×1.6 per step, a step fails only if it fails twice in a row, then three bisections); then a run at **70% of "
    "peak** gives the p50/p99 below. The load generator runs on the same 2 cores as the "
    "server (for the baseline too), on one thread, with a minimal HTTP/1.1 keep-alive client "
    "(`bench/src/wire.rs`): about 9 µs of CPU per small request, where reqwest on two threads "
    "took 32-34 µs (session 35). Reports before `defa3f2` used reqwest, whose cost held the "
    "peaks down and flattered the ratios. Before each server starts, what earlier steps left "
    "unwritten is flushed (PostgreSQL `CHECKPOINT`, `sync`, 2 s; since `4112528`), so that no "
    "step runs in another's write-back.\n"
)

w("## Baselines (same run)\n")
w("| Baseline | Backend | Peak (median) | p50 @70% | p99 @70% |")
w("|---|---|---|---|---|")
base = list(results[("baseline", "baseline")].values())
w(
    f"| HTTP: minimal axum, small JSON | – | {fmt_rps(med(peak(l) for l in base))} | "
    f"{fmt_ms(med(hold(l, 'p50Us') for l in base))} | {fmt_ms(med(hold(l, 'p99Us') for l in base))} |"
)
for b in backends:
    for s, label in (("raw-insert", "raw single-row insert"), ("raw-select", "indexed 20-row select")):
        ls = list(results[(b, s)].values())
        w(
            f"| Storage: {label} | {b} | {fmt_rps(med(peak(l) for l in ls))} | "
            f"{fmt_ms(med(hold(l, 'p50Us') for l in ls))} | {fmt_ms(med(hold(l, 'p99Us') for l in ls))} |"
        )
w("")

w("## Scenarios\n")
w("Ratio = median over runs of (scenario peak / its baseline's peak in the same run), min–max in brackets.\n")
w("| # | Scenario | Backend | Peak (median) | Ratio | p99 @70% | Target | Result |")
w("|---|---|---|---|---|---|---|---|")
verdicts = []
for b in backends:
    rows = [
        ("1", "list", "GET /conversations?limit=20", "baseline", "baseline", 0.35, 5000),
        ("1", "list-filtered", "… &status=…&widgetId=… (filters on)", "baseline", "baseline", 0.35, 5000),
        ("1", "list-deep", "… &offset=90–100% of the list (deep)", "baseline", "baseline", 0.35, 5000),
        ("2", "get", "GET /conversations/{id}, 50 messages", "baseline", "baseline", 0.25, None),
        ("3", "post", "POST …/messages, no readers", b, "raw-insert", 0.60, None),
        ("3", "post-readers", "POST …/messages + 200 reads/s", b, "raw-insert", 0.60, None),
    ]
    for num, s, label, bb, bs, target, p99_target in rows:
        ls = list(results[(b, s)].values())
        if not ls:
            continue
        rs = ratios(b, s, bb, bs)
        p99 = med(hold(l, "p99Us") for l in ls)
        base_name = "HTTP baseline" if bs == "baseline" else "raw insert"
        tgt = f"≥ {target:.2f} × {base_name}"
        ok = bool(rs) and statistics.median(rs) >= target
        if p99_target:
            tgt += f"; p99 < {p99_target / 1000:.0f} ms @70%"
            ok = ok and p99 is not None and p99 < p99_target
        verdict = "**pass**" if ok else "**FAIL**"
        verdicts.append((num, s, b, ok))
        w(
            f"| {num} | {label} | {b} | {fmt_rps(med(peak(l) for l in ls))} | {fmt_ratio(rs)} | "
            f"{fmt_ms(p99)} | {tgt} | {verdict} |"
        )
rt_rows(w)
idle = [l for l in lines if l["kind"] == "idle"]
for l in idle:
    per = l["bytesPerConnection"]
    ok = per <= 8192 and l["connections"] >= 10000
    label = "Memory per idle visitor WebSocket" + (" (following a conversation)" if l["withConversation"] else "")
    verdict = "**pass**" if ok else ("**FAIL**" if per > 8192 else "not at 10k connections")
    w(f"| 5 | {label} | sqlite | {l['connections']:,} connections | {per / 1024:.1f} KiB / conn | – | ≤ 8 KiB at 10,000 | {verdict} |")
if not idle:
    w("| 5 | Memory per idle visitor connection | sqlite | – | – | – | ≤ 8 KiB at 10k | not measured |")
auth = {l["backend"]: l for l in lines if l["kind"] == "auth"}
for b in backends:
    a = auth.get(b)
    if not a:
        w(f"| 6 | Rate limiter + key check overhead | {b} | – | – | – | ≤ 10 µs p99, ≤ 1% throughput | not measured |")
        continue
    p99_us = a["total"]["p99Ns"] / 1000
    mean_us = a["total"]["meanNs"] / 1000
    list_peak = med(peak(l) for l in results[(b, "list")].values())
    cores = notes.get("cores", 2)
    # Lease statements run off the request path; their cost per second
    # (statements/s x one statement's time) is about the same at any request
    # rate, as leases grow with use.
    stmt = a.get("leaseStatement")
    background_us = (a["leaseStatements"] / a["steadySeconds"]) * stmt["meanNs"] / 1000 if stmt else 0.0
    loss = (mean_us * list_peak + background_us) / (cores * 1e6) if list_peak else None
    ok = p99_us <= 10 and loss is not None and loss <= 0.01
    if "keyLookup" in a:  # results of the tool before it timed admit() as one call
        parts = f"key lookup p99 {a['keyLookup']['p99Ns'] / 1000:.1f} µs, limiter p99 {a['limiter']['p99Ns'] / 1000:.1f} µs"
    else:
        parts = f"mean {mean_us:.2f} µs"
        if stmt:
            parts += (f"; {a['leaseStatements'] / a['steadySeconds']:.0f} lease statements/s of "
                      f"{stmt['meanNs'] / 1000:.0f} µs off the request path")
    w(
        f"| 6 | Key check + limiter added per request ({parts}) | {b} | – | est. loss {'–' if loss is None else f'{loss:.1%}'} | "
        f"{p99_us:.1f} µs | ≤ 10 µs p99, ≤ 1% throughput | {'**pass**' if ok else '**FAIL**'} |"
    )
growth_rows(w)
w("")

if realtime:
    rt_notes(w)

if auth:
    w("Scenario 6 method: the server cannot switch its limiter off, so two HTTP runs would not isolate it. "
      "`enuchat-bench auth-overhead` times `auth::KeyGate::admit`, the call the `require_api_key` middleware makes, on "
      "the real database: the key header, SHA-256 of the key, the in-process key cache (falling back to "
      "`Store::find_api_key_by_hash` on a miss), the key's rate-limit bucket held in the cache entry (in memory for "
      "SQLite; for PostgreSQL the lease limiter, which spends leased requests in memory and takes new leases from the "
      "shared bucket) and the `last_used_at` bookkeeping, one request at a time, keys rotating. Between timed calls it "
      "looks a key up with the cache off (`keyLookupUncached` in the raw results: what a miss costs), so timed calls "
      "run with caches as cold as a real request's. The throughput loss is an estimate: (mean added time × the `list` "
      "peak rate + lease statements per second × one statement's round trip) / cores; the second term counts the "
      "leases taken off the request path, whose number per second depends on the keys in use, not on the rate. "
      "In-memory limiter state:\n")
    for b, a in sorted(auth.items()):
        m = a["memoryLimiter"]
        w(f"- {b} run: {m['keys']:,} keys → {m['trackedKeys']:,} tracked, RSS +{m['rssGrowthKiB']:,} KiB "
          f"({m['bytesPerKey']:.0f} B/key), check p99 {m['check']['p99Ns'] / 1000:.1f} µs; after 1 s, prune "
          f"dropped {m['prunedAfter1s']:,} → {m['trackedAfterPrune']} tracked (bounded by keys used in the last window).")
    w("")

if any(results[(b, "post-readers")] for b in backends):
    w("Concurrent readers during `post-readers` (GET /conversations/{id} at a fixed rate):\n")
    for b in backends:
        for run, l in sorted(results[(b, "post-readers")].items()):
            r = l.get("readers") or {}
            w(f"- {b}, run {run}: {r.get('rps')} reads/s for {r.get('seconds')} s, errors {r.get('errors')}, worst 1-s p99 {fmt_ms(r.get('worstP99Us'))}")
    w("")

w("## Per-run figures\n")
w(
    "The send lateness is how late the load generator itself sent its requests (p99); it shares "
    "the cores with the server. Latencies run from each request's scheduled time, so its lateness counts in them, "
    "except the first millisecond (tokio's timer wakes up to that late on its own).\n"
)
w("| Backend | Scenario | Run | Peak | p50 @70% | p99 @70% | max @70% | send lateness p99 @70% | errors @70% | first error |")
w("|---|---|---|---|---|---|---|---|---|---|")
per_run = [((b, s), r) for (b, s), r in results.items()]
per_run += [((b, f"{s} (10× data)"), r) for (b, s), r in growth.items()]
for (b, s), byrun in sorted(per_run):
    for run, l in sorted(byrun.items()):
        h = l["result"].get("hold") or {}
        err = (l["result"].get("peakRun") or {}).get("firstError") or h.get("firstError") or ""
        w(
            f"| {b} | {s} | {run} | {fmt_rps(peak(l))} | {fmt_ms(h.get('p50Us'))} | {fmt_ms(h.get('p99Us'))} | "
            f"{fmt_ms(h.get('maxUs'))} | {fmt_ms(h.get('latenessP99Us'))} | {h.get('errors', '–')} | {str(err)[:80]} |"
        )
w("")
print("\n".join(out))
