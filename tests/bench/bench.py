#!/usr/bin/env python3
"""Benchmark of refty-lever against the bundled emulators; prints its figures.

Not part of the test suites (machines are noisy): run it by hand,

    python3 tests/bench/bench.py --binary build/cli/refty-lever

or through meson: meson test -C build --benchmark --verbose

It measures, for a backfill from an emulated Lever whose pages take --latency
seconds (once listing every job, as before backfills asked for the covered postings
only, and once filtered: Lever requests per covered opportunity against the floors), limited to 10 requests/s with bursts of 20, and an emulated Refty
answering in 50 ms:
  - wall time, the rate-limit floor max(0, pages - 20) / 10 and wall/floor;
  - client CPU (user+sys) per opportunity and peak RSS of the client;
  - requests made and 429s received;
then a no-change incremental sync over the resulting snapshot (requests and
CPU), and a naive one-page-at-a-time pager over the same emulator for the
side-by-side ratio; and for a first `sync --seed` with a rule on every job
(`*`) the same figures of the listing (--cases picks them).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
from harness import Emulator, basic_auth, http_request  # noqa: E402

RATE = 10.0
BURST = 20


LAUNCHER = None  # bench-launch, set by main()


def run_measured(argv, env):
    """Runs argv; returns (exit status, wall s, user+sys s, peak RSS KiB, stdout, stderr).

    The client is started by bench-launch, not by this process: a child's ru_maxrss begins at
    its parent's resident size, which for this driver (it holds whole listings) would swamp
    the client's own figure."""
    fd, result_path = tempfile.mkstemp(prefix="bench-launch-")
    os.close(fd)
    start = time.monotonic()
    proc = subprocess.Popen([LAUNCHER, result_path] + list(argv), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    out_chunks, err_chunks = [], []
    # Read while waiting so that a full pipe never stalls the client.
    import threading

    def drain(stream, sink):
        for chunk in iter(lambda: stream.read(65536), b""):
            sink.append(chunk)

    threads = [threading.Thread(target=drain, args=(proc.stdout, out_chunks)),
               threading.Thread(target=drain, args=(proc.stderr, err_chunks))]
    for t in threads:
        t.start()
    rc = proc.wait()
    wall = time.monotonic() - start
    for t in threads:
        t.join()
    with open(result_path) as f:
        rss_kib, cpu = f.read().split()
    os.unlink(result_path)
    return (rc, wall, float(cpu), int(rss_kib),
            b"".join(out_chunks).decode(errors="replace"), b"".join(err_chunks).decode(errors="replace"))


def write_config(path, lever, refty, state, lever_in_flight, refty_in_flight,
                 jobs='"Senior Backend Engineer"'):
    with open(path, "w") as f:
        f.write(f"""
lever: {{
  url = "{lever.base_url}";
  api_key_env = "BENCH_LEVER_KEY";
  requests_per_second = {RATE};
  burst = 10;
  max_in_flight = {lever_in_flight};
}};
refty: {{
  url = "{refty.base_url}";
  api_key_env = "BENCH_REFTY_KEY";
  max_in_flight = {refty_in_flight};
}};
state = "{state}";
max_actions = 0;
rules = (
  {{
    name = "engineering";
    jobs = [ {jobs} ];
    sequence = "Engineering references";
    stages = (
      {{ refty = "Self-assessment"; lever = "Phone screen"; }},
      {{ refty = "Reference check"; lever = "References"; }}
    );
    language = "en";
  }}
);
""")
    os.chmod(path, 0o600)


def naive_pager(lever, n_pages_max):
    """Pages /opportunities one page at a time, as a simple client would."""
    url = lever.base_url + "/opportunities?limit=100&expand=applications"
    offset = None
    pages = 0
    start = time.monotonic()
    while pages < n_pages_max:
        full = url + (f"&offset={urllib.request.quote(offset)}" if offset else "")
        for attempt in range(10):
            r = http_request("GET", full, headers=basic_auth("test-lever-key"), timeout=60)
            if r.status != 429:
                break
            time.sleep(0.2 * (2 ** attempt))
        body = r.json()
        pages += 1
        if not body.get("hasNext"):
            break
        offset = body["next"]
    return pages, time.monotonic() - start


def backfill_case(args, n, env, tmp, filtered=False):
    """A backfill of n opportunities, 10% (--covered) on the job the rule names. By default the
    listing of every job, as before backfills asked Lever for the covered postings only (the
    variable REFTY_LEVER_TEST_FULL_LISTING); filtered: the listing refty-lever makes."""
    how = "covered postings only" if filtered else "every job (full listing)"
    print(f"\n== backfill of {n:,} opportunities listing {how}, pages of {args.latency:g} s, "
          f"{RATE:g} req/s burst {BURST}", flush=True)
    env = dict(env)
    if filtered:
        env.pop("REFTY_LEVER_TEST_FULL_LISTING", None)
    else:
        env["REFTY_LEVER_TEST_FULL_LISTING"] = "1"
    lever = Emulator("lever", "--opportunities", str(n), "--covered-fraction",
                     str(args.covered), "--seed", "11", "--rate", str(RATE), "--burst", str(BURST),
                     "--latency", str(args.latency), "--log-limit", "1000",
                     startup_timeout=120.0)
    refty = Emulator("refty", "--latency", "0.05", "--log-limit", "1000")
    with lever, refty:
        tag = "filtered" if filtered else "full"
        state = os.path.join(tmp, f"state-{n}-{tag}.db")
        conf = os.path.join(tmp, f"bench-{n}-{tag}.conf")
        write_config(conf, lever, refty, state, args.lever_in_flight, args.refty_in_flight)
        lever.control("DELETE", "/_control/requests")
        rc, wall, cpu, rss, out, err = run_measured(
            [args.binary, "-q", "-c", conf, "backfill", "--max-actions", "0"], env)
        stats = lever.stats()
        summary = refty.control("GET", "/_control/summary")
        pages = math.ceil(n / 100)
        floor = max(0, pages - BURST) / RATE
        print(f"exit status            {rc}")
        if rc != 0:
            print(err[-2000:])
        print(f"wall time              {wall:.1f} s")
        if not filtered:
            print(f"rate-limit floor       {floor:.1f} s  ({pages} pages)")
            if floor > 0:
                print(f"wall / floor           {wall / floor:.3f}  (target <= 1.15)")
            print(f"client CPU             {cpu:.2f} s = {cpu / n * 1e6:.1f} us per opportunity "
                  f"(target < 30)")
        else:
            print(f"client CPU             {cpu:.2f} s")
        print(f"client peak RSS        {rss / 1024:.1f} MiB (target < 32)")
        print(f"Lever requests         {stats['total']}  (429s: {stats['status_429']}, "
              f"max in any second: {stats['max_requests_1s']})")
        print(f"Refty candidates       {summary['candidates_created']} created, "
              f"{summary['candidates_existing']} existing")
        result = {"case": "backfill-filtered" if filtered else "backfill", "n": n, "filtered": filtered, "exit": rc, "wall": wall, "floor": floor,
                  "cpu": cpu, "rss_kib": rss, "requests": stats["total"],
                  "status_429": stats["status_429"], "created": summary["candidates_created"]}
        if filtered:
            # Design §7: Lever work in proportion to what the rules cover. Every covered,
            # active candidate is created, so that is how many were covered.
            covered = summary["candidates_created"] + summary["candidates_existing"]
            covered_pages = math.ceil(covered / 100)
            lever_floor = max(0, covered_pages - BURST) / RATE + args.latency
            refty_floor = covered * 0.05 / args.refty_in_flight
            larger = max(lever_floor, refty_floor)
            allowed = 1.05 * covered_pages + 10
            print(f"covered opportunities  {covered:,} ({covered_pages} pages)")
            print(f"Lever requests / covered opportunity  {stats['total'] / max(covered, 1):.4f} "
                  f"({stats['total']} requests, target <= {allowed:.0f})")
            print(f"Lever floor            {lever_floor:.1f} s = max(0, {covered_pages} - {BURST}) "
                  f"/ {RATE:g} + {args.latency:g}")
            print(f"Refty floor            {refty_floor:.1f} s = {covered:,} x 0.05 / "
                  f"{args.refty_in_flight}")
            print(f"wall / larger floor    {wall / larger:.3f}  (target <= 1.10)")
            print(f"client CPU             {cpu / max(covered, 1) * 1e6:.1f} us per covered "
                  f"opportunity (paged and created)")
            result.update({"covered": covered, "lever_floor": lever_floor,
                           "refty_floor": refty_floor, "allowed_requests": allowed})

        if args.sync_check:
            # The first sync after a backfill may see what changed meanwhile;
            # the second is the no-change case.
            run_measured([args.binary, "-q", "-c", conf, "sync"], env)
            lever.control("DELETE", "/_control/requests")
            rc2, wall2, cpu2, rss2, _, err2 = run_measured(
                [args.binary, "-q", "-c", conf, "sync"], env)
            stats2 = lever.stats()
            print(f"\n== no-change sync over a {n:,}-opportunity snapshot")
            print(f"exit status            {rc2}")
            print(f"Lever requests         {stats2['total']} (target <= 3)")
            print(f"client CPU             {cpu2 * 1000:.1f} ms (target < 50)")
            result.update({"sync_requests": stats2["total"], "sync_cpu_ms": cpu2 * 1000})

        if args.naive_pages and not filtered:
            lever.control("DELETE", "/_control/requests")
            npages, nwall = naive_pager(lever, args.naive_pages)
            rate = npages / nwall
            naive_full = pages / rate
            print(f"\n== naive one-page-at-a-time pager, first {npages} pages")
            print(f"pages per second       {rate:.2f}")
            print(f"extrapolated to {pages} pages: {naive_full:.0f} s = "
                  f"{naive_full / max(floor, 1e-9):.1f}x the floor, "
                  f"{naive_full / wall:.1f}x refty-lever's backfill")
            result.update({"naive_rate": rate, "naive_full": naive_full})
    return result


def seed_case(args, n, env, tmp):
    """A first `sync --seed` with a rule on every job: every page must be fetched."""
    print(f"\n== sync --seed of {n:,} opportunities ('*' rule), pages of {args.latency:g} s, "
          f"{RATE:g} req/s burst {BURST}", flush=True)
    lever = Emulator("lever", "--opportunities", str(n), "--covered-fraction",
                     str(args.covered), "--seed", "11", "--rate", str(RATE), "--burst", str(BURST),
                     "--latency", str(args.latency), "--log-limit", "1000",
                     startup_timeout=120.0)
    refty = Emulator("refty", "--latency", "0.05", "--log-limit", "1000")
    with lever, refty:
        state = os.path.join(tmp, f"seed-{n}.db")
        conf = os.path.join(tmp, f"seed-{n}.conf")
        write_config(conf, lever, refty, state, args.lever_in_flight, args.refty_in_flight,
                     jobs='"*"')
        lever.control("DELETE", "/_control/requests")
        rc, wall, cpu, rss, out, err = run_measured(
            [args.binary, "-q", "-c", conf, "sync", "--seed"], env)
        stats = lever.stats()
        pages = math.ceil(n / 100)
        floor = max(0, pages - BURST) / RATE
        print(f"exit status            {rc}")
        if rc != 0:
            print(err[-2000:])
        print(f"wall time              {wall:.1f} s")
        print(f"rate-limit floor       {floor:.1f} s  ({pages} pages)")
        if floor > 0:
            print(f"wall / floor           {wall / floor:.3f}  (target <= 1.15 at 20,000, "
                  f"1.10 at 100,000)")
        print(f"client CPU             {cpu:.2f} s = {cpu / n * 1e6:.1f} us per opportunity "
              f"(target < 30)")
        print(f"client peak RSS        {rss / 1024:.1f} MiB (target < 32)")
        print(f"Lever requests         {stats['total']}  (429s: {stats['status_429']}, "
              f"max in any second: {stats['max_requests_1s']})")
    return {"case": "seed", "n": n, "exit": rc, "wall": wall, "floor": floor, "cpu": cpu,
            "rss_kib": rss, "requests": stats["total"], "status_429": stats["status_429"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.environ.get("REFTY_LEVER", "build/cli/refty-lever"))
    ap.add_argument("--sizes", default="10000,100000,200000",
                    help="comma-separated numbers of opportunities")
    ap.add_argument("--latency", type=float, default=1.0, help="seconds per Lever page")
    ap.add_argument("--covered", type=float, default=0.1, help="fraction on covered jobs")
    ap.add_argument("--lever-in-flight", type=int, default=16, help="lever.max_in_flight")
    ap.add_argument("--refty-in-flight", type=int, default=8)
    ap.add_argument("--naive-pages", type=int, default=20,
                    help="pages the naive pager reads to measure its rate (0: skip)")
    ap.add_argument("--no-sync-check", dest="sync_check", action="store_false")
    ap.add_argument("--cases", default="full,filtered,seed",
                    help="comma-separated cases: full (the backfill listing every job, then the "
                    "no-change sync), filtered (the backfill of the covered postings), seed")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--launcher", help="bench-launch (default: tests/bench-launch of the "
                    "binary's build directory)")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"bench: no executable refty-lever at '{args.binary}' (see --binary)")
    global LAUNCHER
    LAUNCHER = args.launcher or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(args.binary))), "tests", "bench-launch")
    if not os.access(LAUNCHER, os.X_OK):
        sys.exit(f"bench: no bench-launch at '{LAUNCHER}' (build the tests, or see --launcher)")
    env = dict(os.environ, BENCH_LEVER_KEY="test-lever-key", BENCH_REFTY_KEY="test-refty-key")
    tmp = tempfile.mkdtemp(prefix="refty-lever-bench-")
    results = []
    try:
        cases = {"full": lambda a, n, e, t: backfill_case(a, n, e, t, filtered=False),
                 "filtered": lambda a, n, e, t: backfill_case(a, n, e, t, filtered=True),
                 "seed": seed_case}
        for name in [x for x in args.cases.split(",") if x]:
            if name not in cases:
                sys.exit(f"bench: no case '{name}' (cases: {', '.join(cases)})")
            for n in [int(x) for x in args.sizes.split(",") if x]:
                results.append(cases[name](args, n, env, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    failed = [r for r in results if r["exit"] != 0 or r["status_429"] > 0]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
