#!/usr/bin/env python3
"""End-to-end tests of how one-shot runs (sync, backfill) meet signals and failing writes.

A first SIGTERM, SIGINT or SIGHUP stops a run cleanly: no new Lever page or Refty request,
those in flight finish, everything done is committed, the summary is printed, the run is
recorded as interrupted and the exit status is 1 when work is left. A second signal stops at
once. Either way the next run finishes the work and Refty sees every effect once. Writes to
standard output and error are checked (exit 4), and SIGPIPE and SIGXFSZ never kill a run.

The emulators are slowed down (Refty's processing, Lever's pages) so that a signal lands
while requests are in flight; the tests wait for what they need to see, never for a time.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_signals.py   (or pass the path as the
first argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import collections
import json
import os
import resource
import signal
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (SELF_ASSESSMENT, Result, Workspace, candidate_key, check_sanitizers,  # noqa: E402
                  new_opportunity, opportunity_view, refty_summary, reset_emulators, step_key,
                  wait_until, writes)
from test_backfill import lever_records, page_requests, read_meta, seed  # noqa: E402

LEVER = None
REFTY = None

# Exit statuses; stable, never renumbered.
OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)

STOP_SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT, "SIGHUP": signal.SIGHUP}


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def entry_ms(opportunity_id):
	return util.stage_entry_ms(LEVER, opportunity_id)


def refty_posts():
	return [e for e in writes(REFTY) if e["method"] == "POST"]


def delivered(pid, signo):
	"""Whether signo is no longer pending for the process (Linux): a second one sent while
	the first is still pending would merge with it."""
	bit = 1 << (signo - 1)
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			name, _, value = line.partition(":")
			if name in ("SigPnd", "ShdPnd") and int(value.strip(), 16) & bit:
				return False
	return True


def effects_per_key():
	return collections.Counter(util.effects_per_key(REFTY))


class SignalTestCase(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.addCleanup(LEVER.settings, latency=0)
		self.addCleanup(REFTY.settings, latency=0)
		self.ws = self.workspace()

	def workspace(self, **config):
		ws = Workspace(LEVER, REFTY, **config)
		self.addCleanup(ws.cleanup)
		return ws

	def seed_state(self):
		result = self.ws.sync("--seed")
		self.assertEqual(result.rc, OK, result)
		LEVER.control("DELETE", "/requests")
		REFTY.control("DELETE", "/requests")

	def candidates(self, n):
		"""A seeded state and n new candidates in a trigger stage; {opportunity: [keys]}."""
		self.seed_state()
		expected = {}
		for i in range(n):
			opp = new_opportunity(LEVER, stage="Phone screen", emails=["c%d@example.com" % i],
			                      name="Candidate %d" % i)
			expected[opp] = [candidate_key(opp), step_key(opp, SELF_ASSESSMENT, entry_ms(opp))]
		return expected

	def start(self, *args):
		proc = self.ws.start(*args)
		self.addCleanup(lambda: proc.running() and proc.kill())
		return proc

	def check_interrupted(self, result, name, command="sync"):
		"""Exit 1, the JSON summary printed and marked, the run recorded as interrupted."""
		self.assertEqual(result.rc, PARTIAL, result)
		self.assertIsNone(result.json_error, result)
		self.assertIsNotNone(result.summary, result)
		self.assertEqual((result.summary["interrupted"], result.summary["signal"],
		                  result.summary["exit_status"]), (True, name, PARTIAL), result)
		self.assertIn("%s received" % name, result.err)
		self.assertIn("stopped by %s" % name, result.err)
		status = self.ws.run("status", "--json")
		self.assertEqual(status.rc, OK, status)
		run = json.loads(status.out)["runs"][0]
		self.assertEqual((run["command"], run["finished"], run["interrupted"], run["signal"],
		                  run["exit_status"]), (command, True, True, name, PARTIAL), run)
		for count in ("seen", "enrolled", "sent"):
			self.assertEqual(run[count], result.summary[count], (count, run, result.summary))
		text = self.ws.run("status")
		self.assertIn("interrupted by %s, exit 1" % name, text.out)
		return run

	def finish(self, *args):
		"""Runs until a run exits 0 (a replay may leave one pending); returns the last."""
		for _ in range(4):
			result = self.ws.run(*(args or ("sync",)), "--json")
			if result.rc == OK:
				return result
			self.assertEqual(result.rc, PARTIAL, result)
		self.fail("did not finish: %r" % result)

	def check_exactly_once(self, keys):
		"""Every key performed once at Refty, nothing else, and the journal says done."""
		effects = effects_per_key()
		self.assertEqual(dict(effects), {k: 1 for k in keys})
		journal = {a["key"]: a["state"] for a in self.ws.actions()
		           if a["kind"] in ("create_candidate", "send_step")}
		self.assertEqual(journal, {k: "done" for k in keys})


class StopSignal(SignalTestCase):
	def test_stop_while_refty_requests_are_in_flight(self):
		for name in STOP_SIGNALS:
			with self.subTest(signal=name):
				reset_emulators(LEVER, REFTY)
				self.ws = self.workspace()
				self.stop_while_performing(name)

	def stop_while_performing(self, name):
		expected = self.candidates(4)
		REFTY.settings(latency=0.5)
		proc = self.start("sync", "--json")
		wait_until(lambda: refty_posts() or not proc.running(), what="a Refty request")
		self.assertTrue(proc.running(), "the sync finished before the signal")
		proc.proc.send_signal(STOP_SIGNALS[name])
		result = proc.wait()
		self.check_interrupted(result, name)
		self.assertGreater(result.summary["pending"], 0, result)
		# The requests in flight were waited for and recorded; none was started after.
		journal = {a["key"]: a["state"] for a in self.ws.actions()}
		arrived = {e["idempotency_key"] for e in refty_posts()}
		self.assertTrue(arrived)
		for key in arrived:
			self.assertEqual(journal[key], "done", (key, journal))
		self.assertIn("pending", journal.values())
		self.assertEqual(result.summary["enrolled"], len(arrived), result)

		REFTY.settings(latency=0)
		self.finish()
		self.check_exactly_once({k for pair in expected.values() for k in pair})

	def test_stop_when_nothing_is_left_exits_0(self):
		# A stop that comes after the work is done interrupts nothing.
		self.seed_state()
		LEVER.settings(latency=0.5)
		proc = self.start("sync", "--json")
		wait_until(lambda: [e for e in LEVER.requests() if e["path"] == "/v1/opportunities/deleted"]
		           or not proc.running(), what="the last request of the poll")
		proc.proc.send_signal(signal.SIGTERM)
		result = proc.wait()
		self.assertEqual(result.rc, OK, result)
		self.assertFalse(result.summary["interrupted"], result)
		run = json.loads(self.ws.run("status", "--json").out)["runs"][0]
		self.assertEqual((run["interrupted"], run["exit_status"]), (False, OK), run)

	def test_stop_during_sync_paging_lists_everything_next_run(self):
		self.ws = self.workspace(max_actions=0)
		self.seed_state()
		cursor = self.ws.meta("cursor")
		# Five pages of new candidates on the covered job, all with an email.
		now = util.next_ms()
		seed(LEVER, 450, covered_fraction=1.0, no_application_fraction=0, email_fraction=1,
		     created_start=now - 2000, created_end=now)
		ids = [r.id for r in lever_records(LEVER)]
		self.assertEqual(len(ids), 450)
		LEVER.settings(latency=0.3)
		proc = self.start("sync", "--json")
		wait_until(lambda: page_requests(LEVER) or not proc.running(), what="a page request")
		proc.proc.send_signal(signal.SIGTERM)
		result = proc.wait()
		self.check_interrupted(result, "SIGTERM")
		self.assertIn("page boundary", result.err)
		self.assertLess(len(page_requests(LEVER)), 5, "no page is asked for after the stop")
		self.assertLess(result.summary["seen"], 450, result)
		self.assertEqual(self.ws.meta("cursor"), cursor, "the cursor stays")
		self.assertEqual(refty_posts(), [], "nothing is performed after the stop")

		LEVER.settings(latency=0)
		self.finish()
		creates = {a["key"]: a["state"] for a in self.ws.actions(kind="create_candidate")}
		self.assertEqual(creates, {candidate_key(i): "done" for i in ids})
		steps = {a["key"] for a in self.ws.actions(kind="send_step")}
		self.check_exactly_once(set(creates) | steps)

	def test_stop_during_backfill_paging_resumes_and_enrols_everyone_once(self):
		self.ws = self.workspace(max_actions=0, requests_per_second=10.0, burst=10)
		seed(LEVER, 3000, covered_fraction=0.3)
		expected = [r.id for r in lever_records(LEVER) if r.enrolled_by()]
		LEVER.settings(latency=0.2)
		proc = self.start("backfill", "--json")
		wait_until(lambda: read_meta(self.ws, "backfill_windows") or not proc.running(),
		           timeout=60, what="a checkpoint")
		proc.proc.send_signal(signal.SIGTERM)
		result = proc.wait()
		self.check_interrupted(result, "SIGTERM", command="backfill")
		self.assertTrue(self.ws.meta("backfill_windows"), "the checkpoints stay")
		self.assertIsNone(self.ws.meta("seeded_at"), "an unfinished backfill seeds nothing")

		LEVER.settings(latency=0)
		resumed = self.finish("backfill")
		self.assertIn("resuming", resumed.err)
		self.assertIsNone(self.ws.meta("backfill_windows"))
		self.check_exactly_once({candidate_key(i) for i in expected})
		self.assertEqual(refty_summary(REFTY)["candidates_created"], len(expected))


class SecondSignal(SignalTestCase):
	def test_second_signal_abandons_what_is_in_flight_and_loses_nothing(self):
		expected = self.candidates(4)
		REFTY.settings(latency=3)
		proc = self.start("sync", "--json")
		wait_until(lambda: refty_posts() or not proc.running(), what="a Refty request")
		proc.proc.send_signal(signal.SIGTERM)
		wait_until(lambda: delivered(proc.pid, signal.SIGTERM), what="the first signal delivered")
		proc.proc.send_signal(signal.SIGTERM)
		result = proc.wait()
		self.check_interrupted(result, "SIGTERM")
		self.assertIn("second stop signal", result.err)
		# Not waited for: the requests Refty was still processing are pending, not done.
		journal = {a["key"]: a["state"] for a in self.ws.actions()}
		first = refty_posts()[0]["idempotency_key"]
		self.assertEqual(journal[first], "pending", journal)
		self.assertNotIn("done", journal.values(), journal)

		REFTY.settings(latency=0)
		self.finish()
		self.check_exactly_once({k for pair in expected.values() for k in pair})


class Writes(SignalTestCase):
	def run_with(self, args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=None):
		proc = subprocess.run(self.ws.command(*args), stdin=subprocess.DEVNULL, stdout=stdout,
		                      stderr=stderr, text=True, env=self.ws.env, timeout=120,
		                      preexec_fn=preexec_fn)
		return check_sanitizers(Result(list(args), proc.returncode, proc.stdout or "",
		                               proc.stderr or ""))

	def test_json_summary_to_a_full_disk_exits_4_after_the_work_is_recorded(self):
		expected = self.candidates(1)
		with open("/dev/full", "w") as full:
			result = self.run_with(["sync", "--json"], stdout=full)
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIn("writing standard output: No space left on device", result.err)
		keys = {k for pair in expected.values() for k in pair}
		self.check_exactly_once(keys)
		# The run's record says how its work went: finished, nothing interrupted.
		run = json.loads(self.ws.run("status", "--json").out)["runs"][0]
		self.assertEqual((run["finished"], run["interrupted"]), (True, False), run)
		with open("/dev/full", "w") as full:
			status = self.run_with(["status"], stdout=full)
		self.assertEqual(status.rc, LOCAL, status)
		self.assertIn("writing standard output", status.err)

	def test_closed_pipe_is_a_write_error_not_a_death(self):
		self.candidates(1)
		read_end, write_end = os.pipe()
		os.close(read_end)
		try:
			result = self.run_with(["sync", "--json"], stdout=write_end)
		finally:
			os.close(write_end)
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIn("writing standard output: Broken pipe", result.err)

	def test_failing_standard_error_exits_4(self):
		with open("/dev/full", "w") as full:
			result = self.run_with(["sync", "--seed"], stderr=full)
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIsNotNone(self.ws.meta("seeded_at"), "the seeding itself went through")

	def test_file_size_limit_is_a_local_error_not_a_death(self):
		self.seed_state()
		now = util.next_ms()
		seed(LEVER, 300, covered_fraction=1.0, created_start=now - 2000, created_end=now)
		limit = 4096  # below the database's size: its next write fails with EFBIG

		def small_files():
			resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

		result = self.run_with(["sync", "--json"], preexec_fn=small_files)
		self.assertNotEqual(result.rc, -signal.SIGXFSZ, result)
		self.assertEqual(result.rc, LOCAL, result)


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
