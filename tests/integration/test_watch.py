#!/usr/bin/env python3
"""End-to-end tests of `sync --watch`: one process that holds the state's lock and runs the
incremental sync every interval, reloads its configuration on SIGHUP (keeping the running one
when the new one is broken) and exits 0 on SIGTERM or SIGINT once the cycle in progress has
finished what it had in flight.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_watch.py   (or pass the path as the first
argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import collections
import json
import os
import signal
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (SELF_ASSESSMENT, Workspace, candidate_key, move, new_opportunity,  # noqa: E402
                  opportunity_view, reset_emulators, step_key, wait_until, writes)

LEVER = None
REFTY = None

OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def entry_ms(opportunity_id):
	return util.stage_entry_ms(LEVER, opportunity_id)


def effects_per_key():
	return collections.Counter(util.effects_per_key(REFTY))


def summaries(text):
	"""The run summaries among JSON Lines."""
	out = []
	for line in text.splitlines():
		try:
			obj = json.loads(line)
		except ValueError:
			continue
		if obj.get("type") == "summary":
			out.append(obj)
	return out


class WatchTestCase(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.addCleanup(LEVER.settings, latency=0)
		self.addCleanup(REFTY.settings, latency=0)
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)
		result = self.ws.sync("--seed")
		self.assertEqual(result.rc, OK, result)
		LEVER.control("DELETE", "/requests")
		REFTY.control("DELETE", "/requests")
		self.seed_run = self.ws.query("SELECT max(id) AS id FROM runs")[0]["id"]

	def start(self, *args, verbose=1):
		proc = self.ws.start(*args, verbose=verbose)
		self.addCleanup(lambda: proc.running() and proc.kill())
		return proc

	def sync_runs(self):
		"""The watcher's poll cycles (not the seeding before it)."""
		return self.ws.query("SELECT * FROM runs WHERE command = 'sync' AND id > ? ORDER BY id",
		                     (self.seed_run,))

	def stop(self, proc, signo=signal.SIGTERM):
		proc.proc.send_signal(signo)
		result = proc.wait()
		self.assertEqual(result.rc, OK, result)
		return result


class Watch(WatchTestCase):
	def test_cycles_send_each_move_once_and_stop_exits_0(self):
		proc = self.start("sync", "--json", "--watch", "1s")
		wait_until(lambda: len(self.sync_runs()) >= 1, what="a first cycle")
		expected = set()
		for i in range(3):
			opp = new_opportunity(LEVER, emails=["w%d@example.com" % i], name="Watched %d" % i)
			move(LEVER, opp, "Phone screen")
			keys = {candidate_key(opp), step_key(opp, SELF_ASSESSMENT, entry_ms(opp))}
			expected |= keys
			wait_until(lambda: keys <= set(effects_per_key()), what="the step at Refty")
		result = self.stop(proc)
		self.assertEqual(dict(effects_per_key()), {k: 1 for k in expected})
		# One recorded run and one summary per cycle, each finished.
		runs = self.sync_runs()
		self.assertGreaterEqual(len(runs), 3, runs)
		self.assertTrue(all(r["finished_at"] for r in runs), runs)
		self.assertEqual(len(summaries(result.out)), len(runs), result)
		self.assertIn("stopped by SIGTERM", result.err)

	def test_the_lock_is_held_between_cycles(self):
		proc = self.start("sync", "--watch", "1h")
		wait_until(lambda: self.sync_runs() and self.sync_runs()[-1]["finished_at"],
		           what="the first cycle to end")
		other = self.ws.sync()
		self.assertEqual(other.rc, LOCKED, other)
		self.stop(proc, signal.SIGINT)

	def test_a_cycle_at_rest_costs_two_lever_requests(self):
		proc = self.start("sync", "--watch", "1s")
		wait_until(lambda: len(self.sync_runs()) >= 4, timeout=30, what="four cycles")
		self.stop(proc)
		runs = self.sync_runs()
		listing = [e for e in LEVER.requests() if e["path"].startswith("/v1/opportunities")]
		# Each cycle: one page of updates, one of deletions (the names come from the cache).
		self.assertLessEqual(len(listing), 2 * len(runs), listing)
		self.assertFalse([e for e in LEVER.requests() if e["path"] in ("/v1/stages", "/v1/postings")])

	def test_the_next_cycle_starts_an_interval_after_the_previous_start(self):
		LEVER.settings(latency=0.3)
		proc = self.start("sync", "--watch", "2s")
		wait_until(lambda: len(self.sync_runs()) >= 3, timeout=30, what="three cycles")
		self.stop(proc)
		starts = [r["started_at"] for r in self.sync_runs()]
		gaps = [b - a for a, b in zip(starts, starts[1:])]
		# Scheduled from each start, not from each end: no drift of a cycle's length (0.6 s).
		for gap in gaps:
			self.assertGreaterEqual(gap, 1990, gaps)
			self.assertLess(gap, 2550, gaps)


class Reload(WatchTestCase):
	def test_sighup_with_a_broken_config_keeps_running(self):
		proc = self.start("sync", "--watch", "1s")
		wait_until(lambda: len(self.sync_runs()) >= 1, what="a first cycle")
		with open(self.ws.config_path, "a") as f:
			f.write("this is not libconfig\n")
		proc.proc.send_signal(signal.SIGHUP)
		wait_until(lambda: "still running with the configuration" in proc.err_so_far(),
		           what="the refusal")
		self.assertTrue(proc.running())
		# It goes on with the old configuration.
		opp = new_opportunity(LEVER, emails=["b@example.com"])
		move(LEVER, opp, "Phone screen")
		key = step_key(opp, SELF_ASSESSMENT, entry_ms(opp))
		wait_until(lambda: key in effects_per_key(), what="the step after the broken reload")
		result = self.stop(proc)
		self.assertIn("refty-lever.conf:", result.err)

	def test_sighup_applies_a_new_config(self):
		proc = self.start("sync", "--watch", "1s")
		wait_until(lambda: len(self.sync_runs()) >= 1, what="a first cycle")
		rules = [dict(util.DEFAULT_RULES[0], stages=[("Self-assessment", "On-site")])]
		self.ws.write_config(rules=rules)
		proc.proc.send_signal(signal.SIGHUP)
		wait_until(lambda: "configuration reloaded" in proc.err_so_far(), what="the reload")
		opp = new_opportunity(LEVER, emails=["n@example.com"])
		move(LEVER, opp, "Phone screen")
		at = move(LEVER, opp, "On-site")
		key = step_key(opp, SELF_ASSESSMENT, at)
		wait_until(lambda: key in effects_per_key(), what="the step of the new rule")
		self.stop(proc)
		sent = [k for k in effects_per_key() if k.startswith("lever:%s:%s" % (opp, SELF_ASSESSMENT))]
		self.assertEqual(sent, [key])

	def test_sighup_naming_another_state_is_refused(self):
		proc = self.start("sync", "--watch", "1s")
		wait_until(lambda: len(self.sync_runs()) >= 1, what="a first cycle")
		real = self.ws.state
		self.ws.state = os.path.join(self.ws.dir, "other.db")
		self.ws.write_config()
		self.ws.state = real
		proc.proc.send_signal(signal.SIGHUP)
		wait_until(lambda: "needs a restart" in proc.err_so_far(), what="the refusal")
		self.assertTrue(proc.running())
		self.stop(proc)
		self.assertFalse(os.path.exists(os.path.join(self.ws.dir, "other.db")))


class Usage(unittest.TestCase):
	def test_watch_refuses_dry_run_and_seed_and_bad_intervals(self):
		ws = Workspace(LEVER, REFTY)
		self.addCleanup(ws.cleanup)
		for args in (("--dry-run",), ("--seed",)):
			result = ws.run("sync", "--watch", "10s", *args)
			self.assertEqual(result.rc, USAGE, result)
			self.assertIn("--watch cannot be combined with %s" % args[0], result.err)
		for bad in ("0s", "soon", "2d"):
			result = ws.run("sync", "--watch", bad)
			self.assertEqual(result.rc, USAGE, result)
			self.assertIn("--watch", result.err)

	def test_watch_on_a_missing_state_stops_at_once(self):
		ws = Workspace(LEVER, REFTY)
		self.addCleanup(ws.cleanup)
		result = ws.run("sync", "--watch", "1s")
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIn("does not exist", result.err)
		self.assertFalse(os.path.exists(ws.state))


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
