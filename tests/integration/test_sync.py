#!/usr/bin/env python3
"""End-to-end tests of `refty-lever sync` against the Lever and Refty emulators.

Each test gets a fresh state database and emulators reset to their defaults, runs the real
binary, and checks what reached Refty (the emulator's summary and request log), what the
journal recorded, what was printed and the exit status.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_sync.py   (or pass the path as the first
argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import base64
import collections
import json
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (COVERED_JOB, REFERENCE_CHECK, SELF_ASSESSMENT, SEQUENCE_ID, STAGES,  # noqa: E402
                  UNCOVERED_JOB, Workspace, candidate_key, lever_action, move,
                  new_opportunity, opportunity_view, refty_candidates, refty_summary,
                  reset_emulators, set_emails, step_key, wait_until, writes)

LEVER = None
REFTY = None

# Exit statuses; stable, never renumbered.
OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def entry_ms(opportunity_id):
	return util.stage_entry_ms(LEVER, opportunity_id)


class SyncTestCase(unittest.TestCase):
	maxDiff = None
	config = {}

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.ws = Workspace(LEVER, REFTY, **self.config)
		self.addCleanup(self.ws.cleanup)

	# -- running --

	def sync(self, *args, expect=OK, **kwargs):
		result = self.ws.sync(*args, **kwargs)
		self.assertEqual(result.rc, expect, result)
		self.assertIsNone(result.json_error, result)
		self.assertIsNotNone(result.summary, result)
		self.assertEqual(result.summary["exit_status"], result.rc, result)
		return result

	def seed(self):
		"""The first run: records what Lever has, sends nothing."""
		result = self.sync("--seed")
		self.assertTrue(result.summary["seeding"], result)
		REFTY.control("DELETE", "/requests")
		LEVER.control("DELETE", "/requests")
		return result

	# -- looking --

	def refty_writes(self):
		return writes(REFTY)

	def keys_sent(self):
		"""Idempotency keys of every POST Refty received, in order (repeats included)."""
		return [e["idempotency_key"] for e in self.refty_writes() if e["method"] == "POST"]

	def candidates_by_external(self):
		out = collections.defaultdict(list)
		for c in refty_candidates(REFTY):
			out[c["external_id"]].append(c)
		return out

	def steps_of(self, opportunity_id):
		"""[(stage id, idempotency key)] of the steps Refty holds for an opportunity."""
		out = []
		for c in refty_candidates(REFTY):
			if c["external_id"] == "lever:" + opportunity_id:
				out.extend((s["stage_id"], s["idempotency_key"]) for s in c["steps"])
		return out

	def journal(self, opportunity_id, kind=None):
		return self.ws.actions(opportunity_id=opportunity_id, kind=kind)

	def assertNothingFor(self, opportunity_id):
		"""No Refty record and no performed or pending journal entry for the opportunity."""
		self.assertNotIn("lever:" + opportunity_id, self.candidates_by_external())
		for e in self.refty_writes():
			self.assertNotIn(opportunity_id, e.get("idempotency_key") or "", e)
		for a in self.journal(opportunity_id):
			self.assertIn(a["state"], ("skipped",), a)

	def assertRefty(self, **expected):
		summary = refty_summary(REFTY)
		got = {k: summary[k] for k in expected}
		self.assertEqual(got, expected, summary)
		return summary


class Seeding(SyncTestCase):
	def test_first_run_seeds_and_fires_nothing(self):
		in_trigger = new_opportunity(LEVER, stage="Phone screen")
		in_references = new_opportunity(LEVER, stage="References")
		uncovered = new_opportunity(LEVER, job=UNCOVERED_JOB, stage="Phone screen")
		result = self.ws.run("sync", "--seed")
		self.assertEqual(result.rc, OK, result)
		self.assertIn("first run", result.err)
		self.assertIn("backfill", result.err)
		self.assertEqual(self.refty_writes(), [])
		self.assertEqual(self.ws.actions(), [])
		for opp in (in_trigger, in_references):
			self.assertIsNotNone(self.ws.opportunity(opp), opp)
		# The rules name their jobs, so the seeding asked Lever for those alone.
		self.assertIsNone(self.ws.opportunity(uncovered), uncovered)
		self.assertIsNotNone(self.ws.meta("cursor"))

		LEVER.control("DELETE", "/requests")
		REFTY.control("DELETE", "/requests")
		again = self.sync()
		self.assertFalse(again.summary["seeding"], again)
		self.assertEqual(again.summary["planned"], 0, again)
		self.assertEqual(again.actions, [])
		lever_requests = [e for e in LEVER.requests() if e["path"].startswith("/v1")]
		self.assertLessEqual(len(lever_requests), 3, [e["path"] for e in lever_requests])
		self.assertEqual(self.refty_writes(), [])
		self.assertEqual(self.ws.actions(), [])


class Enrolment(SyncTestCase):
	def test_new_opportunity_on_covered_job_enrolled_exactly_once(self):
		self.seed()
		covered = new_opportunity(LEVER, name="Ada Lovelace", emails=["ada@example.com"],
		                          phones=["+44 20 7946 0000"])
		uncovered = new_opportunity(LEVER, job=UNCOVERED_JOB)
		no_application = new_opportunity(LEVER, job=None)
		result = self.sync()
		self.assertEqual(result.summary["enrolled"], 1, result)
		self.assertEqual(result.keys("done"), [candidate_key(covered)], result)

		posts = [e for e in self.refty_writes() if e["path"] == "/v1/candidates"]
		self.assertEqual(len(posts), 1, posts)
		body = posts[0]["body"]
		self.assertEqual(body["external_id"], "lever:" + covered)
		self.assertEqual(body["sequence_id"], SEQUENCE_ID)
		self.assertEqual(body["language"], "en")
		self.assertEqual(body["name"], "Ada Lovelace")
		self.assertEqual(body["email"], "ada@example.com")
		self.assertEqual(body["phone"], "+44 20 7946 0000")
		self.assertEqual(body["job"],
		                 {"external_id": util.POSTINGS[COVERED_JOB], "title": COVERED_JOB})
		self.assertEqual(body["profile_url"], "https://hire.lever.co/candidates/" + covered)

		# More polls, with the opportunity showing up as updated each time.
		for _ in range(3):
			lever_action(LEVER, covered, "touch", at=util.next_ms())
			again = self.sync()
			self.assertEqual(again.actions, [], again)
		self.assertRefty(candidates=1, candidates_created=1, candidates_existing=0)
		creates = self.journal(covered, kind="create_candidate")
		self.assertEqual([(a["key"], a["state"]) for a in creates],
		                 [(candidate_key(covered), "done")])
		self.assertNothingFor(uncovered)
		self.assertNothingFor(no_application)
		self.assertEqual(self.journal(uncovered), [])
		self.assertEqual(self.journal(no_application), [])


class Triggers(SyncTestCase):
	def test_entering_trigger_stage_sends_the_step_once(self):
		self.seed()
		opp = new_opportunity(LEVER)
		self.sync()
		entered = move(LEVER, opp, "Phone screen")
		result = self.sync()
		key = step_key(opp, SELF_ASSESSMENT, entered)
		self.assertEqual(result.keys("done"), [key], result)
		self.assertEqual(result.summary["sent"], 1, result)
		for _ in range(2):
			lever_action(LEVER, opp, "touch", at=util.next_ms())
			self.assertEqual(self.sync().actions, [])
		self.assertEqual(self.steps_of(opp), [(SELF_ASSESSMENT, key)])
		self.assertEqual(self.keys_sent().count(key), 1)
		[post] = [e for e in self.refty_writes() if e["idempotency_key"] == key]
		self.assertEqual(post["body"], {"stage_id": SELF_ASSESSMENT, "language": "en"})
		sends = self.journal(opp, kind="send_step")
		self.assertEqual([(a["key"], a["state"], a["entry_at_ms"]) for a in sends],
		                 [(key, "done", entered)])

	def test_created_directly_in_trigger_stage_is_enrolled_and_sent(self):
		self.seed()
		opp = new_opportunity(LEVER, stage="Phone screen")
		result = self.sync()
		key = step_key(opp, SELF_ASSESSMENT, entry_ms(opp))
		self.assertEqual(result.keys("done"), [candidate_key(opp), key], result)
		self.assertEqual(self.steps_of(opp), [(SELF_ASSESSMENT, key)])

	def test_passing_through_trigger_stage_between_polls_still_sends(self):
		self.seed()
		opp = new_opportunity(LEVER, stage="On-site")
		self.sync()
		entered = move(LEVER, opp, "References")
		move(LEVER, opp, "Offer")
		result = self.sync()
		key = step_key(opp, REFERENCE_CHECK, entered)
		self.assertEqual(result.keys("done"), [key], result)
		self.assertEqual(self.steps_of(opp), [(REFERENCE_CHECK, key)])
		self.assertEqual(self.ws.opportunity(opp)["stage_id"], STAGES["Offer"])

	def test_reentering_trigger_stage_sends_again_with_a_new_key(self):
		self.seed()
		opp = new_opportunity(LEVER)
		self.sync()
		first = move(LEVER, opp, "Phone screen")
		self.sync()
		move(LEVER, opp, "Recruiter screen")
		self.assertEqual(self.sync().actions, [])
		second = move(LEVER, opp, "Phone screen")
		result = self.sync()
		first_key = step_key(opp, SELF_ASSESSMENT, first)
		second_key = step_key(opp, SELF_ASSESSMENT, second)
		self.assertNotEqual(first_key, second_key)
		self.assertEqual(result.keys("done"), [second_key], result)
		self.assertEqual(self.steps_of(opp),
		                 [(SELF_ASSESSMENT, first_key), (SELF_ASSESSMENT, second_key)])
		self.assertEqual(self.sync().actions, [])
		self.assertEqual(len(self.steps_of(opp)), 2)

	def test_contact_change_is_given_to_refty_before_the_step(self):
		self.seed()
		opp = new_opportunity(LEVER, emails=["old@example.com"])
		self.sync()
		set_emails(LEVER, opp, ["new@example.com"])
		entered = move(LEVER, opp, "Phone screen")
		result = self.sync()
		key = step_key(opp, SELF_ASSESSMENT, entered)
		self.assertIn(key, result.keys("done"), result)
		[cand] = self.candidates_by_external()["lever:" + opp]
		self.assertEqual((cand["email"], cand["patches"]), ("new@example.com", 1))
		order = [e["method"] for e in self.refty_writes()
		         if e["path"].startswith("/v1/candidates/" + cand["id"])]
		self.assertEqual(order, ["PATCH", "POST"])
		self.assertEqual([s["email"] for s in REFTY.control("GET", "/steps")["data"]],
		                 ["new@example.com"])


class WaitingForEmail(SyncTestCase):
	def status_counts(self):
		result = self.ws.run("status", "--json")
		self.assertEqual(result.rc, OK, result)
		return json.loads(result.out)["actions"]

	def test_parked_until_the_email_arrives_then_sent(self):
		self.seed()
		opp = new_opportunity(LEVER, emails=())
		self.sync()
		entered = move(LEVER, opp, "Phone screen")
		key = step_key(opp, SELF_ASSESSMENT, entered)
		for attempt in range(2):
			result = self.sync()  # waiting is normal: exit 0
			if attempt == 0:
				self.assertEqual(result.summary["waiting_email"], 1, result)
			self.assertEqual(result.summary["failed"], 0, result)
			[send] = self.journal(opp, kind="send_step")
			self.assertEqual((send["key"], send["state"]), (key, "waiting_email"))
			self.assertEqual(self.status_counts()["waiting_email"], 1)
			self.assertEqual(self.steps_of(opp), [])

		set_emails(LEVER, opp, ["late@example.com"])
		result = self.sync()
		self.assertIn(key, result.keys("done"), result)
		self.assertEqual(self.steps_of(opp), [(SELF_ASSESSMENT, key)])
		[cand] = self.candidates_by_external()["lever:" + opp]
		self.assertEqual(cand["email"], "late@example.com")
		# Refty sends to the email it holds, so it was given the email before the step.
		writes_for = [(e["method"], e["path"]) for e in self.refty_writes()
		              if e["path"].startswith("/v1/candidates/" + cand["id"])]
		self.assertEqual(writes_for[-1], ("POST", "/v1/candidates/%s/steps" % cand["id"]))
		self.assertIn("PATCH", [m for m, _ in writes_for[:-1]])
		self.assertEqual(self.status_counts()["waiting_email"], 0)
		self.assertEqual(self.journal(opp, kind="send_step")[0]["state"], "done")
		self.sync()
		self.assertEqual(len(self.steps_of(opp)), 1)

	def test_leaving_the_stage_before_the_email_arrives_sends_nothing(self):
		self.seed()
		opp = new_opportunity(LEVER, emails=())
		self.sync()
		entered = move(LEVER, opp, "Phone screen")
		self.assertEqual(self.sync().summary["waiting_email"], 1)
		move(LEVER, opp, "On-site")
		result = self.sync()
		self.assertEqual(result.summary["abandoned"], 1, result)
		[send] = self.journal(opp, kind="send_step")
		self.assertEqual((send["key"], send["state"]),
		                 (step_key(opp, SELF_ASSESSMENT, entered), "abandoned"))
		set_emails(LEVER, opp, ["too-late@example.com"])
		self.sync()
		self.sync()
		self.assertEqual(self.steps_of(opp), [])
		self.assertFalse([e for e in self.refty_writes() if e["path"].endswith("/steps")])
		self.assertEqual(self.journal(opp, kind="send_step")[0]["state"], "abandoned")


class Skips(SyncTestCase):
	def test_archived_anonymized_and_confidential_get_nothing(self):
		self.seed()
		archived = new_opportunity(LEVER, stage="Phone screen", archived=True)
		anonymized = new_opportunity(LEVER, stage="Phone screen")
		lever_action(LEVER, anonymized, "anonymize", at=util.next_ms())
		confidential = new_opportunity(LEVER, stage="Phone screen", confidential=True)
		result = self.sync()
		self.assertEqual(self.refty_writes(), [])
		self.assertEqual(result.summary["skipped"], 2, result)
		for opp, why in ((archived, "archived"), (anonymized, "anonymized")):
			entries = self.journal(opp)
			self.assertEqual([(a["kind"], a["state"], a["reason"]) for a in entries],
			                 [("skip", "skipped", why)], entries)
		self.assertNothingFor(confidential)
		self.sync()
		self.assertEqual(self.refty_writes(), [])

	def test_enrolled_candidate_archived_then_moved_gets_no_step(self):
		self.seed()
		opp = new_opportunity(LEVER)
		self.sync()
		lever_action(LEVER, opp, "archive", at=util.next_ms())
		move(LEVER, opp, "References")
		REFTY.control("DELETE", "/requests")
		result = self.sync()
		self.assertEqual(self.refty_writes(), [])
		self.assertEqual(result.summary["skipped"], 1, result)
		self.assertEqual(self.steps_of(opp), [])
		[skip] = self.journal(opp, kind="skip")
		self.assertEqual((skip["state"], skip["reason"]), ("skipped", "archived"))


class ConfidentialEnabled(SyncTestCase):
	config = {"confidential": True}

	def test_confidential_enrolled_when_configured(self):
		# The counterpart of the default: with access and lever.confidential, they are synced.
		self.ws.env[util.LEVER_KEY_ENV] = util.LEVER_CONFIDENTIAL_KEY
		self.seed()
		opp = new_opportunity(LEVER, stage="Phone screen", confidential=True)
		result = self.sync()
		expected = [candidate_key(opp), step_key(opp, SELF_ASSESSMENT, entry_ms(opp))]
		self.assertEqual(result.keys("done"), expected, result)


class Deleted(SyncTestCase):
	def test_deleted_opportunities_are_dropped_from_the_snapshot(self):
		keep = new_opportunity(LEVER)
		gone = new_opportunity(LEVER)
		self.seed()
		self.assertIsNotNone(self.ws.opportunity(gone))
		lever_action(LEVER, gone, "delete", at=util.next_ms())
		result = self.sync()
		self.assertEqual(result.summary["deleted"], 1, result)
		self.assertIsNone(self.ws.opportunity(gone))
		self.assertIsNotNone(self.ws.opportunity(keep))
		asked = [e for e in LEVER.requests() if e["path"] == "/v1/opportunities/deleted"]
		self.assertTrue(asked)
		self.assertIn("deleted_at_start", asked[0]["query"])
		self.assertEqual(self.refty_writes(), [])


class DryRun(SyncTestCase):
	def prepare(self, waiting=False):
		"""A state with work ahead: a new candidate in a trigger stage and an enrolled one
		entering a trigger stage; with `waiting`, also a parked step whose email arrived."""
		self.seed()
		if waiting:
			self.waiting = new_opportunity(LEVER, stage="Phone screen", emails=())
		self.moved = new_opportunity(LEVER)
		self.sync()
		if waiting:
			set_emails(LEVER, self.waiting, ["now@example.com"])
			self.waiting_key = step_key(self.waiting, SELF_ASSESSMENT, entry_ms(self.waiting))
		self.fresh = new_opportunity(LEVER, stage="Phone screen")
		entered = move(LEVER, self.moved, "References")
		self.fresh_keys = [candidate_key(self.fresh),
		                   step_key(self.fresh, SELF_ASSESSMENT, entry_ms(self.fresh))]
		self.moved_key = step_key(self.moved, REFERENCE_CHECK, entered)
		LEVER.control("DELETE", "/requests")
		REFTY.control("DELETE", "/requests")

	def test_dry_run_changes_nothing_and_lists_the_plan(self):
		self.prepare()
		before = self.ws.files()
		self.assertIn("state.db", before)
		result = self.sync("--dry-run")
		self.assertEqual(writes(LEVER), [])
		self.assertEqual(self.refty_writes(), [])
		after = self.ws.files()
		self.assertEqual(after.get("state.db"), before["state.db"], "database file changed")
		# A read-only open in WAL mode may leave an empty -wal file: no content is no change.
		self.assertEqual(after.get("state.db-wal") or b"", before.get("state.db-wal") or b"",
		                 "WAL changed")
		self.assertTrue(result.summary["dry_run"], result)
		planned = result.keys("planned")
		for key in self.fresh_keys + [self.moved_key]:
			self.assertIn(key, planned, result)
		self.assertEqual(len(planned), len(set(planned)), result)

		text = self.ws.run("sync", "--dry-run")
		self.assertEqual(text.rc, OK, text)
		self.assertIn("dry run", text.out)
		self.assertIn(self.moved, text.out)
		self.assertIn(self.fresh, text.out)
		self.assertEqual(writes(LEVER), [])
		self.assertEqual(self.refty_writes(), [])
		self.assertEqual(self.ws.files().get("state.db"), before["state.db"])

		# The real run does what the dry run said it would.
		real = self.sync()
		self.assertEqual(sorted(real.keys("done")), sorted(planned), real)

	def test_dry_run_lists_a_parked_step_whose_email_arrived(self):
		# The real run would send it (see WaitingForEmail), so the plan must show it.
		self.prepare(waiting=True)
		before = self.ws.files()
		result = self.sync("--dry-run")
		self.assertEqual(self.ws.files().get("state.db"), before["state.db"])
		self.assertIn(self.waiting_key, result.keys("planned"), result)

	def test_dry_run_before_the_first_run_creates_no_database(self):
		new_opportunity(LEVER, stage="Phone screen")
		result = self.sync("--seed", "--dry-run")
		self.assertTrue(result.summary["dry_run"], result)
		self.assertFalse(os.path.exists(self.ws.state))
		self.assertEqual(writes(LEVER), [])
		self.assertEqual(self.refty_writes(), [])


class CrashSafety(SyncTestCase):
	"""SIGKILL a sync at many points, rerun until it succeeds: everything exactly once."""

	CANDIDATES = 4  # each created in a trigger stage: a create and a step, 8 POSTs in all

	def scenario(self):
		"""A fresh state with CANDIDATES new opportunities to act on; returns expected keys."""
		reset_emulators(LEVER, REFTY)
		self.ws.cleanup()
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)
		self.seed()
		expected = {}
		for i in range(self.CANDIDATES):
			opp = new_opportunity(LEVER, stage="Phone screen", emails=["c%d@example.com" % i],
			                      name="Candidate %d" % i)
			expected[opp] = [candidate_key(opp), step_key(opp, SELF_ASSESSMENT, entry_ms(opp))]
		return expected

	def kill_when(self, predicate, what):
		proc = self.ws.start("sync", "--json")
		try:
			wait_until(lambda: predicate() or not proc.running(), what=what)
		finally:
			killed = proc.kill()
		return killed

	def recover(self):
		"""Reruns sync until it exits 0; returns the runs."""
		runs = []
		for _ in range(4):
			result = self.ws.sync()
			runs.append(result)
			if result.rc == OK:
				return runs
			self.assertIn(result.rc, (PARTIAL,), result)
		self.fail("sync did not recover: %r" % runs[-1])

	def check_exactly_once(self, expected, context):
		keys = {k for pair in expected.values() for k in pair}
		summary = refty_summary(REFTY)
		self.assertEqual(summary["candidates"], len(expected), (context, summary))
		self.assertEqual(summary["candidates_created"], len(expected), (context, summary))
		self.assertEqual(summary["steps_sent"], len(expected), (context, summary))
		self.assertEqual(summary["max_steps_per_candidate_stage"], 1, (context, summary))
		self.assertEqual(summary["idempotency_reused"], 0, (context, summary))
		self.assertEqual(
			sorted((p["external_id"], p["stage_id"]) for p in summary["steps_per_candidate_stage"]),
			sorted(("lever:" + o, SELF_ASSESSMENT) for o in expected), context)
		journal = {a["key"]: a["state"] for a in self.ws.actions()}
		self.assertEqual(journal, {k: "done" for k in keys}, context)
		for e in self.refty_writes():
			self.assertIn(e["idempotency_key"], keys, (context, e))

	def test_kill_at_every_refty_request(self):
		n_writes = 2 * self.CANDIDATES
		for mode in ("before", "after", "unrecorded"):
			for k in range(1, n_writes + 1):
				with self.subTest(mode=mode, request=k):
					self.crash_at_refty_request(k, mode)

	def nth_write(self, k):
		w = self.refty_writes()
		return w[k - 1] if len(w) >= k else None

	def crash_at_refty_request(self, k, mode):
		"""SIGKILL the sync at its k-th Refty write, in one of three states:
		before:     the emulator received the request but will never process it;
		after:      the emulator processed it (the effect exists) but never answers;
		unrecorded: the client got the answer but cannot record it: the test holds the
		            database's write lock, so the client waits at its next write.
		Requests for other candidates may be in flight at the same time (Refty workers run
		in parallel): whatever they reached is part of the state the rerun starts from."""
		expected = self.scenario()
		if mode in ("before", "after"):
			REFTY.fault(path="/v1/candidates", methods=["POST", "PATCH"], kind="hang", after=k - 1,
			            count=1, seconds=15, process=(mode == "after"))
		else:
			# Long enough for the test to take the lock while the request is processed.
			REFTY.settings(latency=0.1)
		proc = self.ws.start("sync", "--json")
		lock = None
		try:
			if mode == "unrecorded":
				wait_until(lambda: self.nth_write(k) or not proc.running(),
				           what="Refty write %d" % k)
				lock = self.ws.lock_database()
			wait_until(lambda: not proc.running() or
			           (self.nth_write(k) or {}).get("status") is not None,
			           what="Refty write %d processed" % k)
			if mode == "unrecorded":
				time.sleep(0.05)  # the answer reaches the client, which then waits for the lock
			alive = proc.running()
		finally:
			killed = proc.kill()
			if lock is not None:
				lock.rollback()
				lock.close()
			REFTY.settings(latency=0)
		context = "killed at Refty write %d (%s)" % (k, mode)
		self.assertTrue(alive, "%s: sync ended first: %r" % (context, killed))
		self.assertEqual(killed.rc, -signal.SIGKILL, killed)
		hit = self.nth_write(k)
		if mode == "unrecorded":
			self.assertIn(hit["status"], (200, 201), context)
		else:
			self.assertEqual(hit["fault"], "hang", context)
		REFTY.control("DELETE", "/faults")
		self.recover()
		self.check_exactly_once(expected, context)
		# The interrupted request was tried again under the same key: processed afresh if
		# the emulator never processed it, else answered by a replay (which also shows that
		# an unrecorded answer was indeed not recorded).
		later = [e for e in self.refty_writes()[k:]
		         if e["idempotency_key"] == hit["idempotency_key"]]
		self.assertTrue(later, context)
		if mode == "before":
			self.assertIn(later[0]["status"], (200, 201), (context, later[0]))
			self.assertFalse(later[0].get("replayed"), (context, later[0]))
		else:
			self.assertTrue(later[0].get("replayed"), (context, later[0]))

	def test_kill_during_the_poll(self):
		expected = self.scenario()
		LEVER.fault(path="/v1/opportunities/deleted", kind="hang", count=1, seconds=15)
		killed = self.kill_when(
			lambda: [e for e in LEVER.requests() if e["path"] == "/v1/opportunities/deleted"],
			"the poll of deleted opportunities")
		self.assertEqual(killed.rc, -signal.SIGKILL, killed)
		self.assertEqual(self.refty_writes(), [])
		LEVER.control("DELETE", "/faults")
		self.recover()
		self.check_exactly_once(expected, "killed during the poll")


class ReftyErrors(SyncTestCase):
	def occurrences(self, key):
		return [e["status"] for e in self.refty_writes() if e["idempotency_key"] == key]

	def sync_until_ok(self):
		runs = [self.ws.sync()]
		while runs[-1].rc != OK and len(runs) < 3:
			self.assertEqual(runs[-1].rc, PARTIAL, runs[-1])
			runs.append(self.ws.sync())
		self.assertEqual(runs[-1].rc, OK, runs[-1])
		return runs

	def one_candidate(self):
		self.seed()
		opp = new_opportunity(LEVER, stage="Phone screen")
		return opp, candidate_key(opp), step_key(opp, SELF_ASSESSMENT, entry_ms(opp))

	def assertDone(self, opp, *keys):
		journal = {a["key"]: a["state"] for a in self.journal(opp)}
		self.assertEqual(journal, {k: "done" for k in keys})
		self.assertRefty(candidates=1, steps_sent=1, max_steps_per_candidate_stage=1)

	def test_server_errors_retried_with_the_same_key(self):
		opp, create, step = self.one_candidate()
		REFTY.fault(path="/v1/candidates", methods=["POST"], kind="503", count=1)
		REFTY.fault(path="/v1/candidates/", methods=["POST"], kind="500", count=1)
		self.sync_until_ok()
		self.assertEqual(self.occurrences(create), [503, 201])
		self.assertEqual(self.occurrences(step), [500, 201])
		self.assertDone(opp, create, step)

	def test_rate_limit_retried_with_the_same_key(self):
		opp, create, step = self.one_candidate()
		REFTY.fault(path="/v1/candidates", methods=["POST"], kind="429", retry_after=1, count=1)
		self.sync_until_ok()
		self.assertEqual(self.occurrences(create), [429, 201])
		self.assertDone(opp, create, step)

	def test_conflict_retried_with_the_same_key(self):
		opp, create, step = self.one_candidate()
		REFTY.fault(path="/v1/candidates/", methods=["POST"], kind="409", count=1)
		runs = self.sync_until_ok()
		self.assertEqual(self.occurrences(step), [409, 201])
		if runs[0].rc == PARTIAL:
			self.assertEqual(runs[0].summary["pending"], 1, runs[0])
		self.assertDone(opp, create, step)

	def test_other_client_errors_are_recorded_failed(self):
		rules = [dict(util.DEFAULT_RULES[0], language="xx")]
		self.ws.write_config(rules=rules)
		opp, create, step = self.one_candidate()
		result = self.sync(expect=PARTIAL)
		self.assertGreaterEqual(result.summary["failed"], 1, result)
		[entry] = self.journal(opp, kind="create_candidate")
		self.assertEqual(entry["state"], "failed")
		self.assertIn("unsupported_language", entry["last_error"])
		self.assertEqual(self.occurrences(create), [422])
		self.assertEqual(refty_candidates(REFTY), [])
		status = self.ws.run("status", "--json")
		self.assertEqual(status.rc, OK, status)
		self.assertGreaterEqual(json.loads(status.out)["actions"]["failed"], 1, status)
		# Never retried blindly: the next runs leave it alone.
		self.ws.sync()
		self.assertEqual(self.occurrences(create), [422])
		self.assertEqual(self.journal(opp, kind="create_candidate")[0]["state"], "failed")
		self.assertFalse([e for e in self.refty_writes() if e["path"].endswith("/steps")])


class SafetyValve(SyncTestCase):
	config = {"max_actions": 3}

	def test_too_many_actions_does_nothing_until_allowed(self):
		self.seed()
		opps = [new_opportunity(LEVER, stage="Phone screen") for _ in range(2)]
		result = self.sync(expect=VALVE)
		self.assertIn("max_actions", result.err)
		self.assertIn("4", result.err)
		self.assertEqual(self.refty_writes(), [])
		again = self.sync(expect=VALVE)
		self.assertEqual(self.refty_writes(), [], again)
		# The dry run the message asks for shows the plan; it does not trip the valve.
		dry = self.sync("--dry-run")
		self.assertIn("a real run would stop here (exit 6)", dry.err)
		self.assertEqual(len(dry.actions), 4, dry)
		self.assertEqual(self.refty_writes(), [], dry)

		allowed = self.sync("--max-actions", "0")
		expected = [k for o in opps
		            for k in (candidate_key(o), step_key(o, SELF_ASSESSMENT, entry_ms(o)))]
		self.assertEqual(sorted(allowed.keys("done")), sorted(expected), allowed)
		self.assertRefty(candidates=2, steps_sent=2, max_steps_per_candidate_stage=1)


class Locking(SyncTestCase):
	def test_second_run_exits_5_while_the_first_holds_the_lock(self):
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		REFTY.settings(latency=1.0)
		first = self.ws.start("sync", "--json")
		try:
			wait_until(lambda: self.refty_writes() or not first.running(),
			           what="the first run's POST")
			self.assertTrue(first.running(), "the first run ended too early")
			mark = LEVER.requests()[-1]["seq"] if LEVER.requests() else 0
			second = self.ws.sync(timeout=30)
			self.assertEqual(second.rc, LOCKED, second)
			self.assertIn("lock", second.err)
			self.assertEqual(LEVER.requests(mark), [], "the locked-out run talked to Lever")
		finally:
			REFTY.settings(latency=0)
			result = first.wait()
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(refty_summary(REFTY)["steps_sent"], 1)


class Secrets(SyncTestCase):
	LEVER_SECRET = "lever-secret-4f1d9a7c2b"
	REFTY_SECRET = "refty-secret-8e3b6d0a5c"
	WRONG_SECRET = "refty-wrong-secret-71c4e2"

	def setUp(self):
		super().setUp()
		LEVER.control("POST", "/keys", {"key": self.LEVER_SECRET})
		REFTY.control("POST", "/keys", {"key": self.REFTY_SECRET})
		self.ws.env[util.LEVER_KEY_ENV] = self.LEVER_SECRET
		self.ws.env[util.REFTY_KEY_ENV] = self.REFTY_SECRET

	def forbidden(self):
		out = []
		for secret in (self.LEVER_SECRET, self.REFTY_SECRET, self.WRONG_SECRET):
			out.append(secret)
			out.append(base64.b64encode((secret + ":").encode()).decode())
		return out

	def assertNoSecret(self, result):
		for secret in self.forbidden():
			self.assertNotIn(secret, result.out, result)
			self.assertNotIn(secret, result.err, result)

	def test_no_secret_in_output_at_any_verbosity(self):
		results = [self.ws.run("sync", "--seed", verbose=2)]
		opp = new_opportunity(LEVER, stage="Phone screen", emails=())
		# Errors and retries log more: a 503 on the way, and a parked step.
		REFTY.fault(path="/v1/candidates", methods=["POST"], kind="503", count=1)
		results.append(self.ws.run("sync", verbose=2))
		self.assertEqual(results[-1].rc, OK, results[-1])
		set_emails(LEVER, opp, ["x@example.com"])
		results.append(self.ws.run("sync", "--json", verbose=3))
		results.append(self.ws.run("sync", "--dry-run", verbose=2))
		results.append(self.ws.run("status", verbose=2))
		# Refused credentials: the messages about them name no key either.
		move(LEVER, opp, "References")
		wrong = self.ws.run("sync", verbose=2, env={util.REFTY_KEY_ENV: self.WRONG_SECRET})
		self.assertEqual(wrong.rc, REMOTE, wrong)
		results.append(wrong)
		lever_wrong = self.ws.run("sync", verbose=2, env={util.LEVER_KEY_ENV: self.WRONG_SECRET})
		self.assertEqual(lever_wrong.rc, REMOTE, lever_wrong)
		results.append(lever_wrong)
		for result in results:
			self.assertNoSecret(result)
		for name, data in self.ws.files().items():
			for secret in self.forbidden():
				self.assertNotIn(secret.encode(), data, name)


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main(verbosity=2)
