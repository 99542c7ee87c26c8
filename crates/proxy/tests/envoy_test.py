"""The wasmad Envoy filter in a real Envoy (run by envoy_test.sh).

Usage: envoy_test.py ENVOY WASM_MODULE WORKDIR [--bench N]

Starts Envoy on 127.0.0.1 (free ports, a unique --base-id, one worker so one
set of models) with three listeners, each running the filter with its own
plugin configuration:

  tag      metric header:x-latency-ms, keyBy route, action tag; routes /a and
           /b (named route-a, route-b) answer with direct_response 200.
  reject   metric header:x-value, keyBy none, action reject, rejectStatus 503.
  duration metric request_duration, routed to a local Python upstream that
           sleeps ?ms= milliseconds before answering.

and a fourth listener without the filter (for --bench). Then asserts: normal
requests are tagged x-anomaly: false after warm-up, spikes true with a large
score, per-route models are separate, a missing header is skipped, reject
answers 503 for the spike only, and upstream latency spikes are flagged.

A second Envoy replays every parity vector (tests/vectors/*.json) twice, one
plugin (a fresh detector) per vector and run, one request per row, and
compares every output (forecast, lower, upper, score, probability, extras such
as attribution: exactOutputs bit patterns; the flag byte; the key count; the
logged effective config) with the vector's, bit for bit.

Last, four invalid plugin configurations must each stop Envoy from starting,
with our message naming the bad key in Envoy's log.

With --bench N it also times N sequential keep-alive requests through the
filtered and unfiltered listeners and prints the per-request difference.
"""

import http.client
import http.server
import atexit
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

ENVOY, WASM, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
BENCH = int(sys.argv[sys.argv.index("--bench") + 1]) if "--bench" in sys.argv else 0

failures = []
procs = []


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


# Envoy never outlives this script: stopped on exit, on SIGTERM (the shell
# wrapper's trap), and its pid is listed in WORK/envoy.pids for that trap too.
atexit.register(stop_all)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)


_handed_out = set()


def free_port():
    """A free loopback port never handed out before in this run: the kernel
    may give a just-closed port again, and two listeners of one Envoy config
    on the same port make Envoy refuse the whole config."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


# --- the upstream for request_duration: sleeps ?ms= then answers 200 --------


class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        time.sleep(float(q.get("ms", ["0"])[0]) / 1e3)
        body = b"slow ok\n"
        self.send_response(200)
        # What the filter told the upstream (tagUpstream).
        for h in ("x-anomaly", "x-anomaly-status"):
            self.send_header("x-seen-" + h[2:], self.headers.get(h, "absent"))
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


# --- the Envoy bootstrap -------------------------------------------------------


def wasm_filter(name, plugin_config):
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "configuration": {
                    "@type": "type.googleapis.com/google.protobuf.StringValue",
                    "value": plugin_config if isinstance(plugin_config, str) else json.dumps(plugin_config),
                },
                "vm_config": {
                    "vm_id": "wasmad",
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": WASM}},
                },
            },
        },
    }


ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def direct(name, prefix):
    return {
        "name": name,
        "match": {"prefix": prefix},
        "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}},
    }


def listener(name, port, routes, filters):
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network"
                            ".http_connection_manager.v3.HttpConnectionManager",
                            "stat_prefix": name,
                            "route_config": {
                                "name": name,
                                "virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}],
                            },
                            "http_filters": filters + [ROUTER],
                        },
                    }
                ]
            }
        ],
    }


def bootstrap(admin_port, listeners, clusters=()):
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": listeners, "clusters": list(clusters)},
    }


def start_envoy(name, config):
    path = os.path.join(WORK, f"{name}.json")
    log = os.path.join(WORK, f"{name}.log")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    # A base id of our own: several Envoys (other runs, other tests) may share
    # this machine's shared memory.
    base_id = (os.getpid() * 8 + len(os.listdir(WORK))) % 2_000_000_000
    proc = subprocess.Popen(
        [ENVOY, "-c", path, "--base-id", str(base_id), "--concurrency", "1",
         "--log-path", log, "--file-flush-interval-msec", "50", "-l", "info",
         "--disable-hot-restart"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    procs.append(proc)
    with open(os.path.join(WORK, "envoy.pids"), "a") as f:
        f.write(f"{proc.pid}\n")
    return proc, log


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def wait_ready(proc, admin_port, log, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"envoy exited with {proc.returncode} before it was ready; log {log}:\n{read(log)[-4000:]}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=2)
            c.request("GET", "/ready")
            r = c.getresponse()
            body = r.read()
            if r.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"envoy not ready after {timeout}s; log {log}:\n{read(log)[-4000:]}")


def get(port, path, headers=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}


def steady(i, base, step=1.0):
    """Deterministic values around `base`: base-5 .. base+5 in `step` units."""
    return base + ((i * 7) % 11 - 5) * step


def score_of(h):
    return float(h.get("x-anomaly-score", "nan"))


# --- the valid configuration ------------------------------------------------------

work_ports = {n: free_port() for n in ("admin", "tag", "reject", "duration", "upstream-tag", "plain", "upstream")}
upstream = http.server.ThreadingHTTPServer(("127.0.0.1", work_ports["upstream"]), Slow)
threading.Thread(target=upstream.serve_forever, daemon=True).start()

TRAIN = 20
cfg = bootstrap(
    work_ports["admin"],
    [
        listener("tag", work_ports["tag"], [direct("route-a", "/a"), direct("route-b", "/b")],
                 [wasm_filter("wasmad-tag", {
                     "metric": "header:x-latency-ms",
                     "detector": {"algorithm": "zscore", "minTrainingSize": TRAIN},
                     "action": "tag",
                     "keyBy": "route",
                 })]),
        listener("reject", work_ports["reject"], [direct("any", "/")],
                 [wasm_filter("wasmad-reject", {
                     "metric": "header:x-value",
                     "detector": {"algorithm": "zscore", "minTrainingSize": TRAIN},
                     "action": "reject",
                     "keyBy": "none",
                     "rejectStatus": 503,
                 })]),
        listener("duration", work_ports["duration"],
                 [{"name": "slow", "match": {"prefix": "/"}, "route": {"cluster": "slow"}}],
                 [wasm_filter("wasmad-duration", {
                     "metric": "request_duration",
                     "detector": {"algorithm": "zscore", "minTrainingSize": 10},
                     "keyBy": "none",
                 })]),
        listener("upstream-tag", work_ports["upstream-tag"],
                 [{"name": "slow", "match": {"prefix": "/"}, "route": {"cluster": "slow"}}],
                 [wasm_filter("wasmad-upstream-tag", {
                     "metric": "header:x-value",
                     "detector": {"algorithm": "zscore", "minTrainingSize": 3},
                     "keyBy": "none",
                     "tagUpstream": True,
                 })]),
        listener("plain", work_ports["plain"], [direct("any", "/")], []),
    ],
    clusters=[{
        "name": "slow",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "slow", "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": work_ports["upstream"]}}}}]}]},
    }],
)

try:
    proc, log = start_envoy("valid", cfg)
    wait_ready(proc, work_ports["admin"], log)
    tag, rej, dur = work_ports["tag"], work_ports["reject"], work_ports["duration"]

    print("== tag: header:x-latency-ms, keyBy route (/a around 100 ms, /b around 1000 ms)")
    conn = http.client.HTTPConnection("127.0.0.1", tag, timeout=10)
    statuses, normal = [], []
    for i in range(TRAIN + 10):
        for path, base in (("/a", 100.0), ("/b", 1000.0)):
            status, h = get(tag, path, {"x-latency-ms": str(steady(i, base))}, conn)
            statuses.append(status)
            if i in (0, TRAIN - 1):
                check(h.get("x-anomaly-status") == "warmup" and h.get("x-anomaly") == "false",
                      f"{path} request {i} is warm-up")
            elif i >= TRAIN:
                normal.append((path, i, h.get("x-anomaly"), h.get("x-anomaly-status"), score_of(h)))
    check(all(s == 200 for s in statuses), "every tagged request answered 200")
    check(all(a == "false" and st == "ok" and abs(sc) < 3 for _, _, a, st, sc in normal),
          f"all {len(normal)} normal requests after warm-up: x-anomaly false, status ok, |score| < 3")
    status, h = get(tag, "/b", {"x-latency-ms": "1000"}, conn)
    check(h.get("x-anomaly") == "false", f"1000 ms on /b is normal for /b's model (score {h.get('x-anomaly-score')})")
    status, h = get(tag, "/a", {"x-latency-ms": "1000"}, conn)
    check(status == 200 and h.get("x-anomaly") == "true" and score_of(h) > 50,
          f"1000 ms on /a is an anomaly with a large score (x-anomaly {h.get('x-anomaly')}, "
          f"score {h.get('x-anomaly-score')})")
    status, h = get(tag, "/a", {}, conn)
    check(h.get("x-anomaly-status") == "skipped" and h.get("x-anomaly") == "false"
          and "x-anomaly-score" not in h, "a request without the header is skipped")
    status, h = get(tag, "/a", {"x-latency-ms": "soon"}, conn)
    check(h.get("x-anomaly-status") == "skipped", "a non-numeric header is skipped")
    status, h = get(tag, "/a", {"x-latency-ms": "101"}, conn)
    check(h.get("x-anomaly") == "false", f"back to normal on /a (score {h.get('x-anomaly-score')})")

    print("== reject: header:x-value, rejectStatus 503")
    conn = http.client.HTTPConnection("127.0.0.1", rej, timeout=10)
    codes = [get(rej, "/", {"x-value": str(steady(i, 50.0, 0.5))}, conn)[0] for i in range(TRAIN + 10)]
    check(codes == [200] * len(codes), f"{len(codes)} normal requests answered 200 (got {sorted(set(codes))})")
    status, h = get(rej, "/", {"x-value": "500"}, conn)
    check(status == 503 and h.get("x-anomaly") == "true" and score_of(h) > 50,
          f"the spike is rejected with 503 (got {status}, score {h.get('x-anomaly-score')})")
    status, h = get(rej, "/", {"x-value": "50"}, conn)
    check(status == 200 and h.get("x-anomaly") == "false", f"the next normal request answers 200 (got {status})")

    print("== duration: request_duration through an upstream that sleeps ?ms=")
    conn = http.client.HTTPConnection("127.0.0.1", dur, timeout=10)
    flagged, scored = 0, 0
    for i in range(10 + 10):
        status, h = get(dur, f"/?ms={30 + (i % 5) * 5}", {}, conn)
        if i >= 10:
            scored += h.get("x-anomaly-status") == "ok"
            flagged += h.get("x-anomaly") == "true"
    check(scored == 10, f"10 requests after warm-up are scored ({scored})")
    # A shared machine can stall one request by tens of ms; allow one.
    check(flagged <= 1, f"at most 1 of 10 normal latencies (30-50 ms) flagged ({flagged})")
    status, h = get(dur, "/?ms=400", {}, conn)
    check(status == 200 and h.get("x-anomaly") == "true" and score_of(h) > 10,
          f"a 400 ms upstream response is an anomaly (x-anomaly {h.get('x-anomaly')}, "
          f"score {h.get('x-anomaly-score')})")

    print("== tagUpstream: the upstream sees the tags, not what the client sent")
    up = work_ports["upstream-tag"]
    conn = http.client.HTTPConnection("127.0.0.1", up, timeout=10)
    seen = [get(up, "/", {"x-value": v, "x-anomaly": "true"}, conn)[1] for v in ("10", "11", "9", "10")]
    check([h.get("x-seen-anomaly-status") for h in seen] == ["warmup"] * 3 + ["ok"]
          and all(h.get("x-seen-anomaly") == "false" for h in seen),
          f"the upstream saw x-anomaly false, status warmup x3 then ok, replacing the client's 'true' "
          f"({[(h.get('x-seen-anomaly'), h.get('x-seen-anomaly-status')) for h in seen]})")
    status, h = get(up, "/", {"x-value": "100"}, conn)
    check(h.get("x-seen-anomaly") == "true" and h.get("x-anomaly") == "true",
          f"the upstream and the client see the spike's x-anomaly true "
          f"({h.get('x-seen-anomaly')}, {h.get('x-anomaly')})")
    status, h = get(dur, "/?ms=0", {"x-anomaly": "true"}, conn=None)
    check(h.get("x-seen-anomaly") == "true", "without tagUpstream the request headers are left alone")

    c = http.client.HTTPConnection("127.0.0.1", work_ports["admin"], timeout=5)
    c.request("GET", "/stats?filter=wasmad")
    stats = dict(line.split(": ", 1) for line in c.getresponse().read().decode().splitlines() if ": " in line)
    print("   " + "\n   ".join(f"{k}: {v}" for k, v in sorted(stats.items())))
    check(stats.get("wasmcustom.wasmad.wasmad-reject.rejected") == "1", "Envoy counts one rejected request")
    time.sleep(0.2)  # the log file is flushed every 50 ms
    check("wasmad-proxy: configured (root_id 'wasmad-tag')" in read(log), "the plugin logs its configuration")
    check(stats.get("wasmcustom.wasmad.wasmad-tag.anomalies") == "1", "Envoy counts one anomaly on the tag listener")

    if BENCH:
        print(f"== bench: {BENCH} sequential keep-alive requests, with and without the filter")

        def envoy_cpu_ns():
            """CPU time of every Envoy thread so far (ns), from /proc schedstat."""
            total = 0
            for task in os.listdir(f"/proc/{proc.pid}/task"):
                with open(f"/proc/{proc.pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            return total

        wall, cpu = {}, {}
        for rnd in range(3):
            for name, port in (("plain", work_ports["plain"]), ("filter", tag)):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                get(port, "/a", {"x-latency-ms": "100"}, conn)
                c0, t0 = envoy_cpu_ns(), time.perf_counter()
                for i in range(BENCH):
                    get(port, "/a", {"x-latency-ms": str(steady(i, 100.0))}, conn)
                dt, dc = time.perf_counter() - t0, envoy_cpu_ns() - c0
                wall.setdefault(name, []).append(dt / BENCH * 1e6)
                cpu.setdefault(name, []).append(dc / BENCH / 1e3)
        w = {k: min(v) for k, v in wall.items()}
        c = {k: min(v) for k, v in cpu.items()}
        print(f"   wall per request (best of 3): plain {w['plain']:.1f} us, with filter {w['filter']:.1f} us, "
              f"difference {w['filter'] - w['plain']:.1f} us ({1e6 / w['plain']:.0f} vs "
              f"{1e6 / w['filter']:.0f} requests/s, one client)")
        print(f"   Envoy CPU per request (best of 3): plain {c['plain']:.1f} us, with filter {c['filter']:.1f} us, "
              f"difference {c['filter'] - c['plain']:.1f} us")
finally:
    stop_all()
    upstream.shutdown()

# --- the parity vectors: every tests/vectors/*.json replayed bit for bit, twice ------
#
# One listener per vector and run (two runs: determinism), each with its own
# plugin (root_id v<run>-<name>), so every run of every vector starts from a
# fresh detector, all in one Envoy and one VM. The plugin configuration embeds
# the vector's `config` string verbatim as `detector`; `width` is the vector's;
# rows arrive one per request (a batch of one: the vectors guarantee batch
# splits and restore points never change a result, and a per-request filter has
# neither) with the row's values in x-value (comma-separated shortest
# round-trip decimals, `nan`/`inf`/`-inf` for the others), its event time in
# x-timestamp and, for keyed vectors, its key id in x-key (keyBy header: the
# filter numbers keys in arrival order, as the vectors do). exactOutputs gives
# every output's bits back as response headers.

VECTORS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests", "vectors")


def load_vectors():
    out = []
    for f in sorted(os.listdir(VECTORS_DIR)):
        if f.endswith(".json"):
            with open(os.path.join(VECTORS_DIR, f)) as fh:
                v = json.load(fh)
            assert v["format"] in (1, 2), f"{f}: unknown vector format {v['format']}"
            v.setdefault("extras", [])
            out.append(v)
    return out


def value_text(h):
    x = struct.unpack(">d", bytes.fromhex(h))[0]
    return repr(x)  # exact round trip; 'nan', 'inf', '-inf' for the others


def vector_plugin_config(v):
    keyed = bool(v["keys"])
    return (
        '{"metric":"header:x-value","detector":' + v["config"]
        + f',"width":{v["width"]},"timestamp":"header:x-timestamp",'
        + f'"keyBy":"{"header:x-key" if keyed else "none"}","exactOutputs":true}}'
    )


STATUS_NAMES = {0: "ok", 1: "warmup", 2: "skipped"}


def replay_vector(v, port):
    """Send every row of `v`; return a list of mismatch descriptions (empty: bit-identical)."""
    name, width, n = v["name"], v["width"], v["rows"]
    bad = []
    if v["keys"]:
        seen = []
        for k in v["keys"]:
            if k not in seen:
                seen.append(k)
        if seen != list(range(len(seen))):
            return [f"key ids {seen} are not numbered in arrival order (the filter's numbering)"]
    got = {c: [] for c in ("forecast", "lower", "upper", "score", "probability")}
    flags, extras, extra_names, key_count = [], {}, set(), None
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(n):
        headers = {
            "x-value": ",".join(value_text(h) for h in v["values"][i * width:(i + 1) * width]),
            "x-timestamp": v["timestamps"][i],
        }
        if v["keys"]:
            headers["x-key"] = str(v["keys"][i])
        status, h = get(port, "/", headers, conn)
        if status != 200:
            return bad + [f"row {i}: HTTP {status}"]
        for c in got:
            if f"x-anomaly-{c}-bits" in h:
                got[c].append(h[f"x-anomaly-{c}-bits"])
        f = int(h.get("x-anomaly-flags", "-1"))
        flags.append(f)
        want_status = STATUS_NAMES.get((v["flags"][i] >> 2) & 3)
        want_anomaly = "true" if want_status == "ok" and v["flags"][i] & 1 else "false"
        if (h.get("x-anomaly-status"), h.get("x-anomaly")) != (want_status, want_anomaly) and len(bad) < 5:
            bad.append(f"row {i}: x-anomaly-status/x-anomaly {h.get('x-anomaly-status')}/{h.get('x-anomaly')}, "
                       f"want {want_status}/{want_anomaly}")
        extra_names.add(h.get("x-anomaly-extras", ""))
        for e in v["extras"]:
            extras.setdefault(e["name"], []).extend(h.get(f"x-anomaly-extra-{e['name']}-bits", "").split(","))
        key_count = h.get("x-anomaly-key-count")
    for c, values in got.items():
        if values != v[c]:
            diff = next((j for j, (a, b) in enumerate(zip(values, v[c])) if a != b), min(len(values), len(v[c])))
            bad.append(f"{c}[{diff}]: got {values[diff] if diff < len(values) else 'none'}, "
                       f"want {v[c][diff] if diff < len(v[c]) else 'none'} ({len(values)} vs {len(v[c])} values)")
    if flags != v["flags"]:
        diff = next(j for j, (a, b) in enumerate(zip(flags, v["flags"])) if a != b)
        bad.append(f"flags[{diff}]: got {flags[diff]}, want {v['flags'][diff]}")
    want_names = ",".join(e["name"] for e in v["extras"])
    if extra_names != {want_names}:
        bad.append(f"extras named {sorted(extra_names)}, want [{want_names!r}]")
    for e in v["extras"]:
        if extras.get(e["name"]) != e["values"]:
            bad.append(f"extra {e['name']} ({e['per_row']} per row) differs")
    if key_count != str(v["key_count"]):
        bad.append(f"key count {key_count}, want {v['key_count']}")
    return bad


vectors = load_vectors()
RUNS = (1, 2)
vec_ports = {(r, v["name"]): free_port() for r in RUNS for v in vectors}
vec_admin = free_port()
vec_cfg = bootstrap(vec_admin, [
    listener(f"vec{r}-{v['name']}", vec_ports[(r, v["name"])], [direct("any", "/")],
             [wasm_filter(f"v{r}-{v['name']}", vector_plugin_config(v))])
    for r in RUNS for v in vectors
])
try:
    print(f"== parity vectors: {len(vectors)} files from tests/vectors, each replayed twice "
          f"({len(RUNS) * len(vectors)} plugins in one Envoy)")
    proc, log = start_envoy("vectors", vec_cfg)
    wait_ready(proc, vec_admin, log)
    check(len(vectors) >= 27, f"{len(vectors)} vectors found in tests/vectors")
    rows = 0
    t0 = time.time()
    for r in RUNS:
        for v in vectors:
            bad = replay_vector(v, vec_ports[(r, v["name"])])
            rows += v["rows"]
            widths = f"width {v['width']}, " if v["width"] > 1 else ""
            keys = f"{v['key_count']} keys, " if v["keys"] else ""
            extras = "".join(f", {e['name']}" for e in v["extras"])
            check(not bad, f"run {r}: {v['name']} ({v['rows']} rows, {widths}{keys}flags, bits{extras}) "
                           f"replays bit-identically" + ("" if not bad else ": " + "; ".join(bad[:5])))
    print(f"   {rows} requests in {time.time() - t0:.1f} s")
    time.sleep(0.2)  # the log file is flushed every 50 ms
    text = read(log)
    mismatched = [v["name"] for r in RUNS for v in vectors
                  if f"configured (root_id 'v{r}-{v['name']}')" not in text
                  or f"effective detector config {v['effective_config']}\n" not in text]
    check(not mismatched, "every vector plugin logs its effective detector config equal to the "
                          f"vector's effective_config (mismatched: {mismatched})")
finally:
    stop_all()

# --- invalid configurations: Envoy must refuse them, naming the bad key -------------

invalid = [
    ("bad-key", {"metric": "header:x-latency-ms", "detector": {"algorithm": "zscore"}, "keyby": "route"},
     "wasmad-proxy: bad plugin configuration: unknown key 'keyby'"),
    ("bad-detector", {"metric": "header:x-latency-ms", "detector": {"algorithm": "zscore", "threshold": -1}},
     "wasmad-proxy: bad plugin configuration: 'detector': invalid config:"),
    ("bad-width", {"metric": "header:x-row", "detector": {"algorithm": "rcf"}, "width": 0},
     "wasmad-proxy: bad plugin configuration: 'width' must be an integer from 1 to 1024"),
    ("bad-exact", {"metric": "header:x-row", "detector": {"algorithm": "zscore"}, "exactOutputs": "yes"},
     "wasmad-proxy: bad plugin configuration: 'exactOutputs' must be true or false, got a string"),
]
for name, plugin_config, message in invalid:
    admin, port = free_port(), free_port()
    proc, log = start_envoy(name, bootstrap(admin, [
        listener(name, port, [direct("any", "/")], [wasm_filter(f"wasmad-{name}", plugin_config)])]))
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    text = read(log)
    lines = [line for line in text.splitlines() if "wasmad-proxy" in line]
    print(f"== invalid config '{name}': envoy exit {code}; our log line:\n   " + "\n   ".join(lines[-2:]))
    check(code not in (None, 0), f"{name}: envoy refuses to start (exit {code})")
    check(message in text, f"{name}: the log says {message!r}")

if failures:
    print(f"envoy_test: {len(failures)} check(s) FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
    sys.exit(1)
print("envoy_test: all checks passed")
