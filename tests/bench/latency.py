#!/usr/bin/env python3
"""How long a stage move in Lever takes to reach Refty, per way of running refty-lever.

Not part of the test suites (it is about time): run it by hand,

    python3 tests/bench/latency.py --binary build/cli/refty-lever

For each mode it starts the emulators (Lever limited to 10 requests/s, bursts of 20; its
webhooks delivered as Lever delivers them), enrols --moves candidates, then moves each into a
trigger stage at a random moment within --span seconds, and measures per move the time from
the move to the moment Refty received the step (Refty's own receipt time). The modes:

  cron     a plain `sync` every 60 s, as cron starts it (on the minute);
  watch    `sync --watch 10s`;
  serve    `serve` with the four webhooks registered, polling every --serve-poll;
  drop20   the same with 20% of the deliveries lost (the poll must catch those).

It prints p50, p99 and max per mode (and for drop20 the lost moves apart), whether any move
never arrived, and the Lever requests per hour each mode costs at rest (measured over
--rest seconds without moves, once the polls' 30 s look-back no longer covers them, scaled
to an hour).
"""

import argparse
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import util  # noqa: E402
from harness import LEVER_KEY, Emulator, basic_auth, http_request  # noqa: E402

OVERLAP = 30  # seconds of look-back on each poll

EVENTS = ("candidateStageChange", "applicationCreated", "candidateArchiveChange",
          "candidateDeleted")


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


class Mode:
    """One way of running refty-lever, against its own emulators and state."""

    def __init__(self, args, name, tmp):
        self.args, self.name = args, name
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.lever = Emulator("lever", "--rate", "10", "--burst", "20", "--log-limit", "200000")
        self.refty = Emulator("refty", "--log-limit", "200000")
        self.proc = None
        self.stop_cron = threading.Event()
        self.cron = None

    def __enter__(self):
        self.lever.start()
        self.refty.start()
        util.BINARY = self.args.binary
        # A short overlap, so that the figure at rest is not the re-listing of the moves.
        self.ws = util.Workspace(self.lever, self.refty, requests_per_second=10.0, burst=10,
                                 overlap=OVERLAP)
        self.tokens_file = os.path.join(self.ws.dir, "webhook-tokens")
        self.ws.write_config(extra=(
            'webhooks: {\n  listen = "127.0.0.1:8722";\n  signature_tokens_file = "%s";\n'
            '  poll_interval = %d;\n};\n' % (self.tokens_file, self.args.serve_poll)))
        return self

    def __exit__(self, *exc):
        self.stop()
        self.ws.cleanup()
        self.lever.stop()
        self.refty.stop()

    def prepare(self, n):
        """A seeded state, and n candidates enrolled in Refty before the clock starts."""
        r = self.ws.run("sync", "--seed")
        assert r.rc == 0, r
        self.opps = [util.new_opportunity(self.lever, emails=["m%d@example.com" % i],
                                          name="Mover %d" % i) for i in range(n)]
        r = self.ws.run("sync", "--max-actions", "0")
        assert r.rc == 0, r

    def start(self):
        if self.name == "cron":
            self.cron = threading.Thread(target=self.run_cron, daemon=True)
            self.cron.start()
            return
        if self.name == "watch":
            self.proc = self.ws.start("sync", "--watch", "10s")
            return
        with open(self.tokens_file, "w") as f:
            f.write("# none yet\nplaceholder\n")
        os.chmod(self.tokens_file, 0o600)
        self.proc = self.ws.start("serve", "--listen", "127.0.0.1:0", verbose=1)
        found = util.wait_until(lambda: re.search(r"webhooks on (http://\S+:\d+\S*),",
                                                  self.proc.err_so_far()), what="serve")
        url = found.group(1)
        tokens = []
        for event in EVENTS:
            res = http_request("POST", self.lever.base_url + "/webhooks",
                               {"event": event, "url": url}, headers=basic_auth(LEVER_KEY))
            tokens.append(res.json()["data"]["configuration"]["signatureToken"])
        with open(self.tokens_file, "w") as f:
            f.write("\n".join(tokens) + "\n")
        self.proc.proc.send_signal(signal.SIGHUP)
        util.wait_until(lambda: "configuration reloaded" in self.proc.err_so_far(),
                        what="the tokens")
        if self.name == "drop20":
            self.lever.control("POST", "/webhooks/faults", {"drop": 0.2, "seed": 7})

    def run_cron(self):
        # As cron does: on every whole minute (of this run's clock), whatever the last took.
        start = time.time()
        while not self.stop_cron.is_set():
            next_at = start + (math.floor((time.time() - start) / 60) + 1) * 60
            if self.stop_cron.wait(max(0, next_at - time.time())):
                return
            subprocess.run(self.ws.command("-q", "sync"), env=self.ws.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.stop_cron.set()
        if self.cron:
            self.cron.join()
            self.cron = None
        if self.proc and self.proc.running():
            self.proc.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=300)
        self.proc = None

    def arrivals(self):
        """{idempotency key: Refty's receipt time in ms} of the steps it took."""
        out = {}
        for e in self.refty.requests():
            key = e["idempotency_key"]
            if key and e["method"] == "POST" and 200 <= (e["status"] or 0) < 300:
                out.setdefault(key, e["wall_ms"])
        return out

    def lever_requests(self):
        return len(self.lever.requests())


def run_mode(args, name, tmp):
    rng = random.Random(args.seed)
    with Mode(args, name, tmp) as m:
        m.prepare(args.moves)
        m.start()
        time.sleep(1.0)
        moments = sorted(rng.uniform(0, args.span) for _ in m.opps)
        t0 = time.time()
        keys = []
        for opp, when in zip(m.opps, moments):
            time.sleep(max(0, t0 + when - time.time()))
            at = util.move(m.lever, opp, "Phone screen")
            keys.append((util.step_key(opp, util.SELF_ASSESSMENT, at), at))
        # Everything must arrive within the slowest mode's bound.
        bound = {"cron": 65, "watch": 15, "serve": 15, "drop20": args.serve_poll + 15}[name]
        deadline = time.time() + bound
        while time.time() < deadline:
            got = m.arrivals()
            if all(k in got for k, _ in keys):
                break
            time.sleep(0.5)
        got = m.arrivals()
        latencies = [(got[k] - at) / 1000 for k, at in keys if k in got]
        missing = [k for k, _ in keys if k not in got]
        dropped = set()
        if name == "drop20":
            log = m.lever.control("GET", "/webhooks/deliveries")["deliveries"]
            lost_tokens = {d["token"] for d in log if d.get("dropped")}
            dropped = len(lost_tokens)
        # At rest: no moves, the mode's own cost, once the moves are out of the look-back.
        time.sleep(OVERLAP + 5)
        before, t_rest = m.lever_requests(), time.time()
        time.sleep(args.rest)
        per_hour = (m.lever_requests() - before) / (time.time() - t_rest) * 3600
        m.stop()
    return {"name": name, "latencies": latencies, "missing": missing, "per_hour": per_hour,
            "dropped": dropped}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.environ.get("REFTY_LEVER", "build/cli/refty-lever"))
    ap.add_argument("--modes", default="cron,watch,serve,drop20")
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--span", type=float, default=180.0, help="seconds the moves spread over")
    ap.add_argument("--serve-poll", type=int, default=60,
                    help="serve's poll interval in seconds (the net under lost deliveries)")
    ap.add_argument("--rest", type=float, default=120.0,
                    help="seconds at rest for the requests-per-hour figure")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    tmp = tempfile.mkdtemp(prefix="refty-lever-latency-")
    results = []
    try:
        for name in args.modes.split(","):
            print(f"== {name}: {args.moves} moves over {args.span:g} s", flush=True)
            r = run_mode(args, name, tmp)
            results.append(r)
            lat = r["latencies"]
            print(f"   p50 {percentile(lat, 50):.2f} s, p99 {percentile(lat, 99):.2f} s, "
                  f"max {max(lat) if lat else float('nan'):.2f} s; arrived {len(lat)}, "
                  f"never {len(r['missing'])}; at rest {r['per_hour']:.0f} Lever requests/h"
                  + (f"; deliveries dropped {r['dropped']}" if r["name"] == "drop20" else ""),
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nmode     moves  p50 s  p99 s  max s  lost  Lever req/h at rest")
    for r in results:
        lat = r["latencies"]
        print(f"{r['name']:<8} {len(lat):>5}  {percentile(lat, 50):5.2f}  "
              f"{percentile(lat, 99):5.2f}  {max(lat) if lat else float('nan'):5.2f}  "
              f"{len(r['missing']):>4}  {r['per_hour']:.0f}")
    return 1 if any(r["missing"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
