#!/usr/bin/env python3
"""End-to-end tests of `refty-lever backfill` against the Lever and Refty emulators.

A backfill enrols in Refty every active opportunity on a covered job, once, and on an empty
state also seeds the snapshot. These tests seed the Lever emulator with a few hundred to a few
thousand opportunities spread over a year (so that the listing is split into several
creation-time windows), work out from the emulator's own data which candidates must be
enrolled, run the real binary, and compare: what reached Refty, what the journal recorded,
what was printed and the exit status. They also kill backfills midway and check that the
reruns finish the job without a duplicate.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_backfill.py   (or pass the path as the
first argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import calendar
import collections
import json
import os
import pty
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (COVERED_JOB, POSTINGS, REFERENCE_CHECK, SELF_ASSESSMENT,  # noqa: E402
                  SEQUENCE_ID, STAGES, UNCOVERED_JOB, Workspace, candidate_key,
                  lever_action, move, new_opportunity, refty_candidates, refty_summary,
                  reset_emulators, step_key, wait_until, writes)
from harness import LEVER_CONFIDENTIAL_KEY, basic_auth  # noqa: E402

LEVER = None
REFTY = None

# Exit statuses; stable, never renumbered.
OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)

COVERED_POSTING = POSTINGS[COVERED_JOB]
DESIGN_POSTING = POSTINGS[UNCOVERED_JOB]
DESIGN_SEQUENCE = "seq_b3d85f21"
DESIGN_REFERENCE_CHECK = "stg_e2c7a604"
DESIGN_RULE = {
	"name": "design",
	"jobs": [UNCOVERED_JOB],
	"sequence": "Design references",
	"stages": [("Reference check", "References")],
	"language": "fr",
}
TWO_RULES = [util.DEFAULT_RULES[0], DESIGN_RULE]

# The Refty stage each Lever trigger stage sends under the default rule.
TRIGGERS = {STAGES["Phone screen"]: SELF_ASSESSMENT, STAGES["References"]: REFERENCE_CHECK}

DAY_MS = 86400 * 1000


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


# -- what Lever holds ------------------------------------------------------------------------------

class Record:
	"""The facts of one Lever opportunity that decide what a backfill does with it."""

	def __init__(self, data):
		self.id = data["id"]
		apps = data.get("applications") or []
		self.posting = apps[0]["posting"] if apps else None
		self.archived = data.get("archived") is not None
		self.confidential = data.get("confidentiality") == "confidential"
		self.anonymized = bool(data.get("isAnonymized"))
		self.created_at = data["createdAt"]
		self.stage = data["stage"]
		self.emails = data.get("emails") or []
		entries = [c["updatedAt"] for c in data.get("stageChanges") or []
		           if c["toStageId"] == self.stage]
		self.current_entry = max(entries) if entries else data.get("lastAdvancedAt")

	@property
	def listed(self):
		"""Shown to a backfill: active and not confidential (the configurations here do not
		ask for confidential opportunities)."""
		return not self.archived and not self.confidential

	def enrolled_by(self, posting=COVERED_POSTING):
		return self.posting == posting and self.listed and not self.anonymized

	def __repr__(self):
		return "Record(%s, posting=%s, archived=%s, confidential=%s, anonymized=%s)" % (
			self.id, self.posting, self.archived, self.confidential, self.anonymized)


def lever_records(lever):
	"""Every opportunity of the Lever emulator, read through its API with a key that sees the
	confidential ones too; then the request log is cleared again."""
	out = []
	offset = None
	while True:
		path = "/opportunities?limit=100&expand=applications&confidentiality=all"
		if offset:
			path += "&offset=" + urllib.parse.quote(offset, safe="")
		res = lever.request("GET", path, headers=basic_auth(LEVER_CONFIDENTIAL_KEY))
		if res.status != 200:
			raise RuntimeError("cannot list the Lever emulator's opportunities: %r" % res)
		page = res.json()
		out.extend(Record(d) for d in page["data"])
		offset = page.get("next")
		if not page.get("hasNext") or not offset:
			break
	lever.control("DELETE", "/requests")
	return out


def seed(lever, count, **spec):
	body = dict(spec, count=count)
	return lever.control("POST", "/seed", body)


def page_requests(lever, since=0):
	return [e for e in lever.requests(since)
	        if e["method"] == "GET" and e["path"] == "/v1/opportunities"]


def last_seq(emulator):
	entries = emulator.requests()
	return entries[-1]["seq"] if entries else 0


def parse_windows(text):
	"""The checkpoint list "a-b,c-d" as [(a, b), (c, d)]."""
	out = []
	for part in (text or "").split(","):
		if part:
			a, b = part.split("-")
			out.append((int(a), int(b)))
	return out


def utc_ms(text):
	"""YYYY-MM-DD as UTC midnight, in ms."""
	return calendar.timegm(time.strptime(text, "%Y-%m-%d")) * 1000


def database_files(ws):
	"""The database and its WAL by name, an empty WAL counting as none: opening a database
	in WAL mode may create the file without changing anything."""
	return {name: data for name, data in ws.files().items() if data or not name.endswith("-wal")}


class BackfillTestCase(unittest.TestCase):
	maxDiff = None
	# The overlapping path (Refty requests while Lever is paged) unless a test says otherwise.
	config = {"max_actions": 0}

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.ws = self.workspace(**self.config)

	def workspace(self, **config):
		ws = Workspace(LEVER, REFTY, **config)
		self.addCleanup(ws.cleanup)
		return ws

	# -- running --

	def backfill(self, *args, expect=OK, ws=None, **kwargs):
		result = (ws or self.ws).run("backfill", "--json", *args, **kwargs)
		self.assertEqual(result.rc, expect, result)
		self.assertIsNone(result.json_error, result)
		self.assertIsNotNone(result.summary, result)
		self.assertEqual(result.summary["command"], "backfill", result)
		self.assertEqual(result.summary["exit_status"], result.rc, result)
		return result

	def sync(self, *args, expect=OK, ws=None):
		result = (ws or self.ws).sync(*args)
		self.assertEqual(result.rc, expect, result)
		self.assertIsNotNone(result.summary, result)
		return result

	def clear_logs(self):
		LEVER.control("DELETE", "/requests")
		REFTY.control("DELETE", "/requests")

	# -- looking --

	def candidates_by_external(self):
		out = collections.defaultdict(list)
		for c in refty_candidates(REFTY):
			out[c["external_id"]].append(c)
		return out

	def steps(self):
		"""{(opportunity id, Refty stage id): [idempotency keys]} of every step at Refty."""
		out = collections.defaultdict(list)
		for c in refty_candidates(REFTY):
			for s in c["steps"]:
				out[(c["external_id"][len("lever:"):], s["stage_id"])].append(s["idempotency_key"])
		return dict(out)

	def assertEnrolledExactly(self, ids, ws=None, sequence=SEQUENCE_ID):
		"""Refty holds exactly these candidates, each created once, and the journal has one
		done create for each, recorded by a backfill."""
		ws = ws or self.ws
		want = {"lever:" + i for i in ids}
		by_external = self.candidates_by_external()
		got = set(by_external)
		self.assertEqual(sorted(got - want), [], "enrolled but should not be")
		self.assertEqual(sorted(want - got), [], "not enrolled")
		for external, cands in by_external.items():
			self.assertEqual(len(cands), 1, cands)
		summary = refty_summary(REFTY)
		self.assertEqual(summary["candidates_created"], len(want), summary)
		self.assertEqual(summary["candidates_existing"], 0, summary)
		creates = ws.actions(kind="create_candidate")
		self.assertEqual(sorted(a["key"] for a in creates),
		                 sorted(candidate_key(i, sequence) for i in ids))
		for a in creates:
			self.assertEqual((a["state"], a["origin"]), ("done", "backfill"), a)

	def assertNoWrites(self):
		self.assertEqual(writes(REFTY), [])
		self.assertEqual(writes(LEVER), [])


# -- 1. enrolment on an empty state --------------------------------------------------------------

class Enrolment(BackfillTestCase):
	def test_empty_state_enrols_active_covered_candidates_once_and_seeds(self):
		seed(LEVER, 1500, covered_fraction=0.4, archived_fraction=0.15,
		     confidential_fraction=0.05, anonymized_fraction=0.03, no_application_fraction=0.05)
		records = lever_records(LEVER)
		expected = [r.id for r in records if r.enrolled_by()]
		# The seed must hold every kind of candidate that is not to be enrolled.
		kinds = collections.Counter()
		for r in records:
			if r.posting is None:
				kinds["no application"] += 1
			elif r.posting != COVERED_POSTING:
				kinds["uncovered"] += 1
			elif r.archived:
				kinds["archived"] += 1
			elif r.confidential:
				kinds["confidential"] += 1
			elif r.anonymized:
				kinds["anonymized"] += 1
		for kind in ("no application", "uncovered", "archived", "confidential", "anonymized"):
			self.assertGreater(kinds[kind], 0, kind)
		self.assertGreater(len(expected), 300)

		result = self.backfill()
		self.assertEqual(result.summary["enrolled"], len(expected), result)
		self.assertEqual(result.summary["sent"], 0, result)
		self.assertEqual(result.summary["failed"], 0, result)
		self.assertEnrolledExactly(expected)
		self.assertEqual(refty_summary(REFTY)["steps_sent"], 0)

		# Anonymized candidates on the covered job are recorded as skipped, nothing more;
		# the others not to be enrolled have no journal entry that is not a skip.
		states = collections.defaultdict(list)
		for a in self.ws.actions():
			states[a["opportunity_id"]].append(a["state"])
		for r in records:
			if r.posting == COVERED_POSTING and r.listed and r.anonymized:
				self.assertEqual(states[r.id], ["skipped"], r)
			elif not r.enrolled_by():
				self.assertEqual(set(states[r.id]) - {"skipped"}, set(), r)

		# It seeded the snapshot: every opportunity it was shown is there, and the cursor. The
		# rules name their job, so it was shown the ones on that job alone.
		in_snapshot = {row["id"] for row in self.ws.query("SELECT id FROM opportunities")}
		shown = {r.id for r in records if r.listed and r.posting == COVERED_POSTING}
		self.assertEqual(sorted(shown - in_snapshot), [])
		self.assertEqual(sorted(in_snapshot - shown), [])
		self.assertIsNotNone(self.ws.meta("cursor"))
		self.assertIsNone(self.ws.meta("backfill_windows"), "finished: no checkpoints left")

		# Again: nothing new.
		self.clear_logs()
		actions_before = self.ws.actions()
		again = self.backfill()
		self.assertEqual((again.summary["planned"], again.summary["enrolled"]), (0, 0), again)
		self.assertEqual(again.actions, [], again)
		self.assertNoWrites()
		self.assertEqual(self.ws.actions(), actions_before)

		# A sync then sends nothing for them.
		synced = self.sync()
		self.assertFalse(synced.summary["seeding"], synced)
		self.assertEqual(synced.summary["planned"], 0, synced)
		self.assertEqual(synced.actions, [], synced)
		self.assertNoWrites()
		self.assertEqual(self.ws.actions(), actions_before)

		# And carries on from there: a stage entry and a new candidate are acted on.
		quiet = next(r for r in records if r.enrolled_by() and r.stage not in TRIGGERS)
		entered = move(LEVER, quiet.id, "Phone screen")
		newcomer = new_opportunity(LEVER)
		later = self.sync()
		self.assertEqual(sorted(later.keys("done")),
		                 sorted([step_key(quiet.id, SELF_ASSESSMENT, entered),
		                         candidate_key(newcomer)]), later)
		self.assertEqual(refty_summary(REFTY)["candidates_created"], len(expected) + 1)


# -- 2. candidates sitting in a trigger stage ----------------------------------------------------

class TriggerCurrent(BackfillTestCase):
	config = {}  # max_actions 500: the plan is recorded, then performed

	def make_population(self):
		"""A seeded crowd (everyone with an email) plus hand-made cases; returns
		(records, {opportunity id: (Refty stage, entry ms)} of the steps --trigger-current
		sends, [ids whose step waits for an email])."""
		seed(LEVER, 250, covered_fraction=0.6, email_fraction=1.0, no_application_fraction=0)
		in_phone = new_opportunity(LEVER, stage="Phone screen")
		in_references = new_opportunity(LEVER, stage="On-site")
		move(LEVER, in_references, "References")
		passed_through = new_opportunity(LEVER)
		move(LEVER, passed_through, "Phone screen")
		move(LEVER, passed_through, "On-site")
		new_opportunity(LEVER, job=UNCOVERED_JOB, stage="Phone screen")
		archived = new_opportunity(LEVER, stage="References")
		lever_action(LEVER, archived, "archive", reason="hired elsewhere")
		no_email = new_opportunity(LEVER, stage="Phone screen", emails=[])
		records = lever_records(LEVER)
		sends = {}
		waiting = []
		for r in records:
			if r.enrolled_by() and r.stage in TRIGGERS:
				if r.emails:
					sends[r.id] = (TRIGGERS[r.stage], r.current_entry)
				else:
					waiting.append(r.id)
		self.assertIn(in_phone, sends)
		self.assertIn(in_references, sends)
		self.assertNotIn(passed_through, sends)
		self.assertEqual(waiting, [no_email])
		self.assertGreater(len(sends), 20)
		return records, sends, waiting

	def assertStepsExactly(self, sends):
		want = {(opp, stage): [step_key(opp, stage, at)] for opp, (stage, at) in sends.items()}
		self.assertEqual(self.steps(), want)
		self.assertEqual(refty_summary(REFTY)["max_steps_per_candidate_stage"], 1)

	def test_trigger_stage_candidates_get_no_step_without_the_option_then_one_with_it(self):
		records, sends, waiting = self.make_population()
		expected = [r.id for r in records if r.enrolled_by()]
		first = self.backfill()
		self.assertEqual(first.summary["sent"], 0, first)
		self.assertEnrolledExactly(expected)
		self.assertEqual(self.steps(), {})
		self.assertEqual(self.ws.actions(kind="send_step"), [])
		# A sync does not count sitting in a stage as entering it.
		self.sync()
		self.assertEqual(self.steps(), {})

		second = self.backfill("--trigger-current")
		self.assertEqual(second.summary["sent"], len(sends), second)
		self.assertEqual(second.summary["enrolled"], 0, second)
		self.assertEqual(second.summary["waiting_email"], len(waiting), second)
		self.assertStepsExactly(sends)
		self.assertEqual(refty_summary(REFTY)["candidates_created"], len(expected))
		for opp in waiting:
			[step] = self.ws.actions(opportunity_id=opp, kind="send_step")
			self.assertEqual(step["state"], "waiting_email", step)

		self.clear_logs()
		third = self.backfill("--trigger-current")
		self.assertEqual(third.summary["sent"], 0, third)
		self.assertEqual(writes(REFTY), [])
		self.sync()
		self.assertEqual(writes(REFTY), [])
		self.assertStepsExactly(sends)

	def test_trigger_current_as_the_first_command_enrols_and_sends_once(self):
		records, sends, waiting = self.make_population()
		expected = [r.id for r in records if r.enrolled_by()]
		result = self.backfill("--trigger-current")
		self.assertEqual(result.summary["enrolled"], len(expected), result)
		self.assertEqual(result.summary["sent"], len(sends), result)
		self.assertEnrolledExactly(expected)
		self.assertStepsExactly(sends)
		# Each step went out after its candidate existed (else Refty answers 404), in the
		# rule's language.
		for e in writes(REFTY):
			if e["path"].endswith("/steps"):
				self.assertEqual(e["status"], 201, e)
				self.assertEqual(e["body"]["language"], "en", e)
		for opp, (stage, at) in sends.items():
			[step] = self.ws.actions(opportunity_id=opp, kind="send_step")
			self.assertEqual((step["state"], step["origin"], step["entry_at_ms"]),
			                 ("done", "backfill", at), step)

		self.clear_logs()
		self.backfill("--trigger-current")
		self.sync()
		self.assertEqual(writes(REFTY), [])
		self.assertStepsExactly(sends)


# -- 3. --rule and --since -----------------------------------------------------------------------

class Filters(BackfillTestCase):
	def test_rule_only_enrols_that_rules_jobs(self):
		self.ws.write_config(rules=TWO_RULES)
		seed(LEVER, 600, posting_weights={COVERED_JOB: 1, UNCOVERED_JOB: 1, "Data Scientist": 1},
		     archived_fraction=0.1)
		records = lever_records(LEVER)
		design = [r.id for r in records if r.enrolled_by(DESIGN_POSTING)]
		engineering = [r.id for r in records if r.enrolled_by(COVERED_POSTING)]
		self.assertGreater(len(design), 50)
		self.assertGreater(len(engineering), 50)

		result = self.backfill("--rule", "design")
		self.assertEqual(result.summary["enrolled"], len(design), result)
		cands = refty_candidates(REFTY)
		self.assertEqual(sorted(c["external_id"] for c in cands),
		                 sorted("lever:" + i for i in design))
		for c in cands:
			self.assertEqual((c["sequence_id"], c["language"]), (DESIGN_SEQUENCE, "fr"), c)
		for a in self.ws.actions():
			self.assertEqual(a["rule"], "design", a)

		result = self.backfill("--rule", "engineering")
		self.assertEqual(result.summary["enrolled"], len(engineering), result)
		by_external = self.candidates_by_external()
		self.assertEqual(sorted(by_external),
		                 sorted("lever:" + i for i in design + engineering))
		for external, cands in by_external.items():
			self.assertEqual(len(cands), 1, cands)

		self.clear_logs()
		everything = self.backfill()
		self.assertEqual(everything.summary["enrolled"], 0, everything)
		self.assertEqual(writes(REFTY), [])

	def test_unknown_rule_is_a_usage_error(self):
		new_opportunity(LEVER)
		result = self.ws.run("backfill", "--rule", "sales")
		self.assertEqual(result.rc, USAGE, result)
		self.assertIn("'sales'", result.err)
		self.assertEqual(writes(REFTY), [])
		if os.path.exists(self.ws.state):
			self.assertEqual(self.ws.actions(), [])

	def test_since_only_enrols_candidates_created_since_that_date(self):
		midnight = utc_ms("2024-03-15")
		before = new_opportunity(LEVER, created_at=midnight - 1)
		long_before = new_opportunity(LEVER, created_at=midnight - 40 * DAY_MS)
		at_midnight = new_opportunity(LEVER, created_at=midnight)
		after = new_opportunity(LEVER, created_at=midnight + 20 * DAY_MS)
		recent = new_opportunity(LEVER)
		new_opportunity(LEVER, job=UNCOVERED_JOB, created_at=midnight + DAY_MS)

		result = self.backfill("--since", "2024-03-15")
		self.assertEqual(result.summary["enrolled"], 3, result)
		self.assertEnrolledExactly([at_midnight, after, recent])

		# Without --since the older ones follow, and nobody twice.
		self.backfill()
		by_external = self.candidates_by_external()
		self.assertEqual(sorted(by_external), sorted(
			"lever:" + i for i in (before, long_before, at_midnight, after, recent)))
		self.assertEqual(refty_summary(REFTY)["candidates_created"], 5)

	def test_malformed_since_is_a_usage_error(self):
		new_opportunity(LEVER)
		for text in ("yesterday", "2024/03/15", "15-03-2024", "2024-13-01", "2024-00-10",
		             "2024-03-00", "2024-03-15x", "2024-03-15T00:00", ""):
			with self.subTest(since=text):
				self.clear_logs()
				result = self.ws.run("backfill", "--since", text)
				self.assertEqual(result.rc, USAGE, result)
				self.assertIn("--since", result.err)
				self.assertIn("YYYY-MM-DD", result.err)
				self.assertEqual(LEVER.requests(), [])
				self.assertEqual(REFTY.requests(), [])
				self.assertFalse(os.path.exists(self.ws.state))

	def test_impossible_calendar_date_is_a_usage_error(self):
		for text in ("2024-02-30", "2023-02-29", "2024-04-31"):
			with self.subTest(since=text):
				result = self.ws.run("backfill", "--dry-run", "--since", text)
				self.assertEqual(result.rc, USAGE, result)
				self.assertIn("--since", result.err)

	def test_backfill_of_one_rule_on_empty_state_still_seeds_the_other_jobs(self):
		"""The first command may be a backfill of one rule; it must still seed the whole
		snapshot, so that a later sync does not take the other rules' existing candidates
		for new ones the first time Lever shows them as updated."""
		self.ws.write_config(rules=TWO_RULES)
		old_engineer = new_opportunity(LEVER, stage="On-site", created_at=utc_ms("2024-01-10"))
		old_designer = new_opportunity(LEVER, job=UNCOVERED_JOB, stage="On-site",
		                               created_at=utc_ms("2024-01-11"))
		self.backfill("--rule", "design")
		self.assertEnrolledExactly([old_designer], sequence=DESIGN_SEQUENCE)
		self.clear_logs()
		lever_action(LEVER, old_engineer, "touch", at=util.next_ms())
		result = self.sync()
		self.assertEqual(result.actions, [], "an existing candidate was taken for a new one")
		self.assertEqual(writes(REFTY), [])

	def test_backfill_since_a_date_on_empty_state_still_seeds_older_candidates(self):
		"""Likewise for --since: the candidates created before the date existed before
		refty-lever was set up, and a sync must not enrol them when they are updated."""
		old = new_opportunity(LEVER, stage="On-site", created_at=utc_ms("2024-01-10"))
		recent = new_opportunity(LEVER, created_at=utc_ms("2024-06-01"))
		self.backfill("--since", "2024-05-01")
		self.assertEnrolledExactly([recent])
		self.clear_logs()
		lever_action(LEVER, old, "touch", at=util.next_ms())
		result = self.sync()
		self.assertEqual(result.actions, [], "an existing candidate was taken for a new one")
		self.assertEqual(writes(REFTY), [])


# -- 4. --dry-run --------------------------------------------------------------------------------

class DryRun(BackfillTestCase):
	def test_dry_run_on_empty_state_prints_the_plan_and_changes_nothing(self):
		seed(LEVER, 400, covered_fraction=0.5, archived_fraction=0.1)
		in_phone = new_opportunity(LEVER, stage="Phone screen")
		records = lever_records(LEVER)
		expected = [r.id for r in records if r.enrolled_by()]

		text = self.ws.run("backfill", "--dry-run")
		self.assertEqual(text.rc, OK, text)
		planned = [line for line in text.out.splitlines() if line.startswith("planned")]
		self.assertEqual(len(planned), len(expected), text)
		self.assertEqual(sorted(line.split()[1] for line in planned), sorted(expected))
		for line in planned:
			self.assertIn("enrol in 'Engineering references'", line)
		self.assertIn("dry run", text.out.splitlines()[-1])

		result = self.backfill("--dry-run", "--trigger-current")
		self.assertTrue(result.summary["dry_run"], result)
		for a in result.actions:
			self.assertEqual(a["outcome"], "planned", a)
		keys = result.keys("planned")
		for opp in expected:
			self.assertIn(candidate_key(opp), keys)
		self.assertIn(step_key(in_phone, SELF_ASSESSMENT,
		                       next(r.current_entry for r in records if r.id == in_phone)), keys)

		self.assertNoWrites()
		self.assertFalse(os.path.exists(self.ws.state), "a dry run created the database")
		self.assertEqual(refty_summary(REFTY)["candidates"], 0)

	def test_dry_run_on_existing_state_leaves_the_database_byte_identical(self):
		seed(LEVER, 300, covered_fraction=0.5)
		self.backfill()
		plain = new_opportunity(LEVER)
		# Created in a trigger stage after the snapshot was seeded: entering it is news,
		# exactly as a sync would see it.
		in_references = new_opportunity(LEVER, stage="References")
		new_opportunity(LEVER, job=UNCOVERED_JOB)
		entered = next(r.current_entry for r in lever_records(LEVER) if r.id == in_references)
		want = sorted([candidate_key(plain), candidate_key(in_references),
		               step_key(in_references, REFERENCE_CHECK, entered)])
		before = database_files(self.ws)
		self.assertTrue(before)
		self.clear_logs()

		result = self.backfill("--dry-run")
		self.assertEqual(sorted(result.keys("planned")), want, result)
		self.assertEqual(result.summary["planned"], 3, result)
		self.assertNoWrites()
		self.assertEqual(database_files(self.ws), before)

		real = self.backfill()
		self.assertEqual(sorted(real.keys("done")), want, real)


# -- 5. resuming after SIGKILL -------------------------------------------------------------------

def read_meta(ws, key):
	"""A meta value, or None while the database is not there or is busy."""
	try:
		return ws.meta(key)
	except sqlite3.Error:
		return None


class Resume(BackfillTestCase):
	def setUp(self):
		super().setUp()
		self.addCleanup(LEVER.settings, latency=0)
		self.addCleanup(REFTY.settings, latency=0)

	def test_killed_mid_paging_resumes_without_listing_done_windows_again(self):
		# Nearly all on the covered job: the backfill lists that job alone, and the listing
		# must be long enough to be killed in the middle.
		seed(LEVER, 4000, covered_fraction=0.95, archived_fraction=0.05)
		records = lever_records(LEVER)
		listed = [r for r in records if r.listed and r.posting == COVERED_POSTING]
		expected = [r.id for r in records if r.enrolled_by()]
		# Slow pages and Lever's own pace: the listing takes seconds, in many windows.
		LEVER.settings(latency=0.2)
		pace = {"requests_per_second": 10.0, "burst": 10}
		self.ws.write_config(**pace)

		# What a whole listing takes, from a dry run in a workspace of its own.
		reference = self.workspace(max_actions=0, **pace)
		self.backfill("--dry-run", ws=reference)
		full_pages = len(page_requests(LEVER))
		self.clear_logs()

		def covered_by(windows):
			return [r for r in listed if any(a <= r.created_at <= b for a, b in windows)]

		proc = self.ws.start("backfill", "--json")

		def far_enough():
			if not proc.running():
				return True
			windows = parse_windows(read_meta(self.ws, "backfill_windows"))
			return len(covered_by(windows)) >= 0.3 * len(listed)

		wait_until(far_enough, timeout=60, what="30% of the listing checkpointed")
		self.assertTrue(proc.running(), "the backfill finished before it could be killed")
		killed = proc.kill()
		self.assertEqual(killed.rc, -9, killed)
		done = parse_windows(self.ws.meta("backfill_windows"))
		in_done = covered_by(done)
		self.assertGreater(len(in_done), 0)
		self.assertLess(len(in_done), len(listed), "the listing was complete when killed")

		mark = last_seq(LEVER)
		resumed = self.backfill()
		self.assertIn("resuming", resumed.err)
		pages = page_requests(LEVER, mark)
		for e in pages:
			start = int(e["query"].get("created_at_start", ["0"])[0])
			end = int(e["query"].get("created_at_end", [str(2 ** 62)])[0])
			for a, b in done:
				self.assertFalse(start <= b and a <= end,
				                 "window [%d, %d] listed again by %r" % (a, b, e["query"]))
		self.assertEqual(resumed.summary["seen"], len(listed) - len(in_done), resumed)
		self.assertLess(len(pages), full_pages)
		self.assertEnrolledExactly(expected)
		self.assertIsNone(self.ws.meta("backfill_windows"))

	def test_killed_while_creating_in_refty_enrols_every_candidate_once(self):
		seed(LEVER, 3000, covered_fraction=0.3)
		records = lever_records(LEVER)
		expected = [r.id for r in records if r.enrolled_by()]
		LEVER.settings(latency=0.05)
		REFTY.settings(latency=0.01)

		def created():
			return refty_summary(REFTY)["candidates_created"]

		# Killed while Refty requests overlap the paging (no valve) ...
		proc = self.ws.start("backfill", "--json")
		wait_until(lambda: created() >= 100 or not proc.running(), timeout=60,
		           what="100 candidates created")
		self.assertTrue(proc.running(), "the backfill finished before it could be killed")
		self.assertEqual(proc.kill().rc, -9)

		# ... and while performing a plan recorded in full first (with a valve).
		self.ws.write_config(max_actions=100000)
		base = created()
		self.assertLess(base, len(expected))
		proc = self.ws.start("backfill", "--json")
		wait_until(lambda: created() >= base + 100 or not proc.running(), timeout=60,
		           what="100 more candidates created")
		self.assertTrue(proc.running(), "the backfill finished before it could be killed")
		self.assertEqual(proc.kill().rc, -9)
		self.assertLess(created(), len(expected))

		for attempt in range(4):
			result = self.ws.run("backfill", "--json")
			if result.rc == OK:
				break
		self.assertEqual(result.rc, OK, result)
		self.assertEnrolledExactly(expected)
		self.assertEqual(self.ws.actions(state="pending"), [])
		# status tells the killed runs from the finished one.
		runs = json.loads(self.ws.run("status", "--json").out)["runs"]
		self.assertEqual([(r["command"], r["finished"]) for r in runs][-2:],
		                 [("backfill", False), ("backfill", False)], runs)
		self.assertEqual((runs[0]["finished"], runs[0]["exit_status"]), (True, OK), runs)


# -- 6. the safety valve -------------------------------------------------------------------------

class Valve(BackfillTestCase):
	config = {"max_actions": 20}

	def test_plan_larger_than_max_actions_performs_nothing(self):
		seed(LEVER, 300, covered_fraction=0.5)
		records = lever_records(LEVER)
		expected = [r.id for r in records if r.enrolled_by()]
		self.assertGreater(len(expected), 20)

		refused = self.backfill(expect=VALVE)
		self.assertIn(str(len(expected)), refused.err)
		self.assertIn("max_actions", refused.err)
		self.assertEqual(writes(REFTY), [])
		self.assertEqual(refused.summary["enrolled"], 0, refused)

		again = self.backfill("--max-actions", "10", expect=VALVE)
		self.assertEqual(writes(REFTY), [], again)

		done = self.backfill("--max-actions", "0")
		self.assertEqual(done.summary["enrolled"], len(expected), done)
		self.assertEnrolledExactly(expected)

	def test_max_actions_option_large_enough_goes_ahead(self):
		seed(LEVER, 200, covered_fraction=0.5)
		records = lever_records(LEVER)
		expected = [r.id for r in records if r.enrolled_by()]
		result = self.backfill("--max-actions", str(len(expected)))
		self.assertEqual(result.summary["enrolled"], len(expected), result)
		self.assertEnrolledExactly(expected)


# -- 7. explain ----------------------------------------------------------------------------------

class Explain(BackfillTestCase):
	def test_explain_shows_a_backfilled_candidate_came_from_backfill(self):
		opp = new_opportunity(LEVER, stage="Phone screen")
		self.backfill("--trigger-current")
		[cand] = refty_candidates(REFTY)
		[step] = cand["steps"]
		result = self.ws.run("explain", opp)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.out.count("from backfill"), 2, result)
		self.assertIn(candidate_key(opp), result.out)
		self.assertIn(step["idempotency_key"], result.out)
		self.assertIn(cand["id"], result.out)
		self.assertIn(step["id"], result.out)

		entered = move(LEVER, opp, "References")
		self.sync()
		later = self.ws.run("explain", opp)
		self.assertEqual(later.out.count("from backfill"), 2, later)
		self.assertEqual(later.out.count("from sync"), 1, later)
		self.assertIn(step_key(opp, REFERENCE_CHECK, entered), later.out)


# -- 8. pacing against Lever's limit -------------------------------------------------------------

class Pacing(BackfillTestCase):
	config = {"max_actions": 0, "requests_per_second": 10.0, "burst": 10}

	def test_no_429_from_lever_at_its_default_limit(self):
		seed(LEVER, 3000, covered_fraction=0.2)
		records = lever_records(LEVER)
		expected = [r.id for r in records if r.enrolled_by()]
		LEVER.settings(rate=10, burst=20)
		self.addCleanup(LEVER.settings, rate=0)
		self.clear_logs()
		# Every job listed (as for a '*' rule): some 30 pages, well past Lever's burst.
		self.ws.env["REFTY_LEVER_TEST_FULL_LISTING"] = "1"
		self.addCleanup(self.ws.env.pop, "REFTY_LEVER_TEST_FULL_LISTING", None)

		result = self.backfill()
		self.assertEqual(result.summary["enrolled"], len(expected), result)
		stats = LEVER.stats()
		self.assertEqual(stats["status_429"], 0, stats)
		self.assertEqual(stats["rate_limited"], 0, stats)
		self.assertEqual(stats["max_over_allowance_1s"], 0, stats)
		self.assertGreaterEqual(len(page_requests(LEVER)), 30)
		self.assertEnrolledExactly(expected)


	def test_a_listing_waiting_on_refty_pages_its_windows_through(self):
		# 2,400 on the covered job over the last 40 days: several planned windows hold many
		# pages. Refty takes longer than the listing, so splitting those windows to list
		# faster would only add requests: each part ends on a page of its own.
		end = int(time.time() * 1000) - 3600 * 1000
		seed(LEVER, 2400, covered_fraction=1.0, no_application_fraction=0.0,
		     created_start=end - 40 * DAY_MS, created_end=end)
		records = lever_records(LEVER)
		expected = [r.id for r in records if r.enrolled_by()]
		LEVER.settings(latency=0.1)
		REFTY.settings(latency=0.02)
		self.addCleanup(LEVER.settings, latency=0)
		self.addCleanup(REFTY.settings, latency=0)
		self.clear_logs()

		result = self.backfill(verbose=1)
		self.assertEqual(result.summary["enrolled"], len(expected), result)
		pages = page_requests(LEVER)
		# Every page full but the last of each window: at most one more request per planned
		# window than the records need. The first windows to return a page may split before
		# their intents are queued (the planned windows' first pages come back together, and
		# under load a commit may hand the first ones to the workers in between): two at most,
		# their parts ending on pages of their own. Without the gate it takes over 60 requests.
		needed = -(-len(expected) // 100)
		self.assertLessEqual(len(pages), needed + 12 + 6, result.err[-2000:])
		self.assertRegex(result.err, r"backfill paged \d+ windows \([012] splits, 0 while paging\)")
		self.assertEnrolledExactly(expected)


# -- progress on a terminal ---------------------------------------------------------------------

class Progress(BackfillTestCase):
	def run_on_terminal(self, *flags):
		"""Runs a backfill with stderr on a pseudo-terminal; returns (status, stdout, terminal)."""
		master, slave = pty.openpty()
		try:
			proc = subprocess.Popen(self.ws.command(*flags, "backfill"), stdin=subprocess.DEVNULL,
			                        stdout=subprocess.PIPE, stderr=slave, env=self.ws.env)
			os.close(slave)
			slave = None
			chunks = []
			while True:
				try:
					data = os.read(master, 65536)
				except OSError:  # the terminal closes when the process exits
					break
				if not data:
					break
				chunks.append(data)
			out = proc.stdout.read().decode()
			proc.stdout.close()
			rc = proc.wait(timeout=60)
		finally:
			if slave is not None:
				os.close(slave)
			os.close(master)
		return rc, out, b"".join(chunks).decode(errors="replace")

	def test_progress_line_on_a_terminal_only(self):
		seed(LEVER, 600, covered_fraction=0.2, seed=5)
		# Slow pages so that the once-a-second progress line has time to appear (the backfill
		# lists the covered job only: two pages).
		LEVER.settings(latency=1.2)
		self.addCleanup(LEVER.settings, latency=0.0)
		rc, out, terminal = self.run_on_terminal()
		self.assertEqual(rc, OK, out + terminal)
		self.assertIn("backfill: ", terminal)
		self.assertRegex(terminal, r"\d+ candidates, \d+ pages, \d+/s, \d+:\d\d elapsed, "
		                           r"windows \d+ of \d+ done")
		self.assertRegex(out, r"backfill: done \(exit 0\): seen \d+",
		                 "the summary goes to stdout either way")

		# -q: no progress line, even on a terminal.
		reset_emulators(LEVER, REFTY)
		self.ws = self.workspace(**self.config)
		seed(LEVER, 600, covered_fraction=0.2, seed=5)
		LEVER.settings(latency=0.4)
		rc, out, terminal = self.run_on_terminal("-q")
		self.assertEqual(rc, OK, out + terminal)
		self.assertNotIn("elapsed", terminal)


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
