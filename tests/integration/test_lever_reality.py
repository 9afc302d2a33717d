#!/usr/bin/env python3
"""What Lever really sends, against the real binary: listings in any order, times that cannot be
true, records that cannot be read, and listings that never end.

Lever documents no list order (real listings are not in creation order), so backfills and syncs
over every order the emulator can serve must enrol and send exactly what a creation-ordered
listing would. A time far in the future or before 2000 must neither fire nor hide a later real
stage entry. An unreadable record must be named and kept, not crash the run, stop the account
or vanish. A listing that cycles, repeats itself or never ends must stop the run (exit 3)
within seconds, with the cursor unchanged.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_lever_reality.py   (or pass the path as the
first argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import collections
import json
import os
import random
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (REFERENCE_CHECK, SELF_ASSESSMENT, STAGES, Workspace,  # noqa: E402
                  candidate_key, lever_action, move, new_opportunity, refty_candidates,
                  reset_emulators, step_key, writes)
from test_backfill import COVERED_POSTING, lever_records  # noqa: E402

ORDERS = ("created", "real", "random", "shuffle")

LEVER = None
REFTY = None

# Exit statuses; stable, never renumbered.
OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)

INT64_MAX = 9223372036854775807
YEAR_2100 = 4102444800000
YEAR_1999 = 915148800000


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


class Base(unittest.TestCase):
	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)

	def seed_state(self):
		res = self.ws.sync("--seed")
		self.assertEqual(res.rc, OK, res)
		return res

	def sent_steps(self, since=0):
		"""(candidate external id, refty stage) of every step Refty was asked to send."""
		out = []
		for e in writes(REFTY, since):
			if e["path"].endswith("/steps"):
				out.append((e["path"], (e.get("body") or {}).get("stage_id")))
		return out


def set_order(mode, seed=1):
	LEVER.control("POST", "/list-order", {"mode": mode, "seed": seed})


def refty_effects():
	"""Everything Refty was asked to keep: candidates by external id, and steps by key, each
	with how many times it exists (more than once would be a duplicate)."""
	candidates = collections.Counter()
	steps = collections.Counter()
	for c in refty_candidates(REFTY):
		candidates[c["external_id"]] += 1
		for st in c.get("steps") or []:
			steps[(c["external_id"], st["stage_id"], st["idempotency_key"])] += 1
	return candidates, steps


def created_windows(since=0):
	"""The distinct created_at windows a client listed opportunities with."""
	out = set()
	for e in LEVER.requests(since):
		if e["method"] == "GET" and e["path"] == "/v1/opportunities":
			q = e.get("query") or {}
			out.add((tuple(q.get("created_at_start") or ()), tuple(q.get("created_at_end") or ())))
	return out


class AnyOrder(Base):
	"""The same Lever data served in every order gives the same outcome, each effect once."""

	SIZE = 900

	def tearDown(self):
		set_order("real")

	def outcome(self, mode, seed, after_seeding):
		reset_emulators(LEVER, REFTY)
		set_order(mode, seed)
		LEVER.control("POST", "/seed", {"count": self.SIZE, "seed": seed, "covered_fraction": 0.3,
		                                "archived_fraction": 0.1, "no_application_fraction": 0.05})
		records = lever_records(LEVER)
		self.assertEqual(len({r.id for r in records}), self.SIZE, "the emulator lists each once")
		ws = Workspace(LEVER, REFTY, max_actions=0)
		self.addCleanup(ws.cleanup)
		if after_seeding:
			res = ws.sync("--seed")
			self.assertEqual(res.rc, OK, res)
			# The rule names its job: the seeding lists that posting alone.
			on_job = [r for r in records if r.posting == COVERED_POSTING]
			self.assertEqual(res.summary["seen"], len(on_job), res)
		LEVER.control("DELETE", "/requests")
		res = ws.run("backfill", "--json", "--trigger-current", timeout=120)
		self.assertEqual(res.rc, OK, (mode, seed, res))
		self.assertGreater(len(created_windows()), 1, "the listing was split into windows")
		expected = {"lever:" + r.id for r in records if r.enrolled_by()}
		candidates, steps = refty_effects()
		self.assertEqual(set(candidates), expected, (mode, seed, after_seeding))
		self.assertEqual([k for k, n in candidates.items() if n > 1], [], "created twice")
		self.assertEqual([k for k, n in steps.items() if n > 1], [], "sent twice")
		snapshot = {row["id"] for row in ws.query("SELECT id FROM opportunities")}
		self.assertEqual({r.id for r in records if r.listed and r.posting == COVERED_POSTING}
		                 - snapshot, set(), "every active opportunity on the job is in the snapshot")

		# Then a sync over moves made in Lever sends each new entry once.
		rng = random.Random(seed)
		movers = rng.sample(sorted(r.id for r in records if r.enrolled_by() and r.emails), 15)
		entries = {}
		for opp in movers:
			move(LEVER, opp, "On-site")
			entries[opp] = move(LEVER, opp, "References")
		res = ws.sync()
		self.assertEqual(res.rc, OK, res)
		want = {step_key(opp, REFERENCE_CHECK, at) for opp, at in entries.items()}
		self.assertEqual(want - set(res.keys("done")), set(), (mode, seed))
		candidates2, steps2 = refty_effects()
		self.assertEqual([k for k, n in steps2.items() if n > 1], [], "sent twice")
		return set(candidates2), set(steps2)

	def test_backfill_and_sync_enrol_and_send_the_same_in_every_order(self):
		for seed in (1, 2):
			for after_seeding in (False, True):
				with self.subTest(seed=seed, after_seeding=after_seeding):
					baseline = self.outcome("created", seed, after_seeding)
					for mode in ORDERS[1:]:
						got = self.outcome(mode, seed, after_seeding)
						self.assertEqual(got[0], baseline[0], "candidates in %s order" % mode)
						self.assertEqual(
							{(c, st) for c, st, _ in got[1]},
							{(c, st) for c, st, _ in baseline[1]} - set(),
							"steps in %s order" % mode)

	def test_real_order_over_several_seeds(self):
		for seed in (3, 4, 5):
			with self.subTest(seed=seed):
				self.outcome("real", seed, False)


class UntrustedTimes(Base):
	def test_far_future_entry_neither_fires_nor_hides_a_later_real_one(self):
		opp = new_opportunity(LEVER, stage="New applicant")
		self.seed_state()
		# A broken record: an entry into the trigger stage at the end of time.
		lever_action(LEVER, opp, "move", stage="References", at=INT64_MAX)
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertEqual(res.summary["sent"], 0, res)
		self.assertEqual(res.summary["untrusted"], 2, res)  # the stage entry and updatedAt
		self.assertIn("cannot be true", res.err)
		self.assertEqual(res.err.count("cannot be true"), 1, "one warning per run")
		flags = self.ws.actions(opportunity_id=opp, kind="untrusted")
		self.assertEqual(len(flags), 2, flags)
		self.assertTrue(all(f["state"] == "skipped" for f in flags), flags)
		self.assertEqual([a for a in self.ws.actions(opportunity_id=opp)
		                  if a["kind"] == "send_step"], [])

		# The same record seen again: no new flag, no new warning.
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertEqual(res.summary["untrusted"], 0, res)
		self.assertNotIn("cannot be true", res.err)

		status = self.ws.run("status")
		self.assertEqual(status.rc, OK, status)
		self.assertIn("times not believed: 2 (%s" % opp, status.out)
		explain = self.ws.run("explain", opp)
		self.assertEqual(explain.rc, OK, explain)
		self.assertIn("not believed", explain.out)

		# A real move afterwards still sends: what the snapshot handled did not move.
		move(LEVER, opp, "Phone screen")
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertEqual(res.summary["sent"], 1, res)
		self.assertEqual([a["kind"] for a in self.ws.actions(opportunity_id=opp, state="done")],
		                 ["create_candidate", "send_step"])

	def test_year_2100_and_1999_entries_are_not_believed(self):
		opp = new_opportunity(LEVER, stage="New applicant")
		self.seed_state()
		lever_action(LEVER, opp, "move", stage="Phone screen", at=YEAR_1999)
		lever_action(LEVER, opp, "move", stage="References", at=YEAR_2100)
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertEqual(res.summary["sent"], 0, res)
		reasons = " ".join(a["reason"] for a in self.ws.actions(opportunity_id=opp,
		                                                         kind="untrusted"))
		self.assertIn("before 2000", reasons)
		self.assertIn("more than a day after this poll began", reasons)
		move(LEVER, opp, "On-site")
		at = move(LEVER, opp, "References")
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertIn(step_key(opp, REFERENCE_CHECK, at), res.keys("done"), res)


class EndlessListings(Base):
	"""A listing that cannot end stops the run at once, naming the endpoint; nothing moves."""

	def start_seeded(self):
		for _ in range(3):
			new_opportunity(LEVER)
		self.seed_state()
		self.cursor = self.ws.meta("cursor")
		self.assertIsNotNone(self.cursor)
		# Enough records changed since the cursor (less the overlap) for a chain of pages, and
		# all at one time: a long listing is split into parallel windows once its first page
		# is full, and no split divides one millisecond, so one chain still has three pages
		# for the fault to act on.
		at = int(time.time() * 1000) - 60 * 1000
		LEVER.control("POST", "/batch", {"ops": [
			{"op": "create", "name": "Candidate %d" % i, "emails": ["c%d@example.com" % i],
			 "created_at": at, "updated_at": at} for i in range(250)]})
		self.ws.write_config(overlap=86400)

	def assertStopped(self, res, words):
		self.assertEqual(res.rc, REMOTE, res)
		self.assertIn("/opportunities", res.err, res)
		self.assertIn(words, res.err, res)
		self.assertEqual(self.ws.meta("cursor"), self.cursor, "the cursor did not move")
		self.assertEqual(writes(REFTY), [], "nothing was sent")

	def test_offset_tokens_that_cycle(self):
		self.start_seeded()
		LEVER.fault(path="/v1/opportunities", kind="cycle", period=2)
		t0 = time.monotonic()
		res = self.ws.sync(timeout=30)
		self.assertStopped(res, "leads back to an earlier page")
		self.assertLess(time.monotonic() - t0, 20)

	def test_a_token_that_repeats_itself(self):
		self.start_seeded()
		LEVER.fault(path="/v1/opportunities", kind="cycle", period=1)
		res = self.ws.sync(timeout=30)
		self.assertStopped(res, "leads back to an earlier page")

	def test_the_same_records_forever(self):
		self.start_seeded()
		LEVER.fault(path="/v1/opportunities", kind="repeat")
		res = self.ws.sync(timeout=30)
		self.assertStopped(res, "brought no opportunity the listing had not already delivered")

	def test_new_records_forever_stop_at_max_pages(self):
		self.start_seeded()
		self.ws.write_config(max_pages=40)
		LEVER.fault(path="/v1/opportunities", kind="endless")
		res = self.ws.sync(timeout=60)
		# The long listing is split into parallel windows, each an endless chain: the first
		# defence to see one stops them all, an empty page that says more follow or the
		# chain that reaches max_pages.
		self.assertStopped(res, "cannot list opportunities")
		self.assertTrue("the listing would never end" in res.err or "(lever.max_pages)" in res.err,
		                res.err)
		pages = [e for e in LEVER.requests() if e["path"] == "/v1/opportunities"]
		chains = len([e for e in pages if "offset" not in e["query"]])
		self.assertLessEqual(len(pages), 41 * chains)
		# Bounded: the snapshot took in at most what those pages held.
		n = self.ws.query("SELECT count(*) AS n FROM opportunities")[0]["n"]
		self.assertLessEqual(n, 3 + 250 + 40 * 100 * chains)

	def test_a_record_outside_the_created_at_window(self):
		# updatedAt is not checked against updated_at_*: Lever's filter is said to match
		# changes its updatedAt field does not track. createdAt never changes.
		self.start_seeded()
		LEVER.fault(path="/v1/opportunities", kind="outside")
		res = self.ws.run("backfill", "--json", timeout=60)
		self.assertEqual(res.rc, REMOTE, res)
		self.assertIn("ignores its own filter", res.err)
		self.assertIn("outside created_at_start", res.err)
		self.assertIsNone(self.ws.meta("backfill_windows"), "no window was finished")

	def test_a_backfill_window_that_never_ends_leaves_no_checkpoint(self):
		self.start_seeded()
		self.ws.write_config(max_pages=30)
		LEVER.fault(path="/v1/opportunities", kind="endless")
		res = self.ws.run("backfill", "--json", timeout=120)
		self.assertEqual(res.rc, REMOTE, res)
		self.assertIsNone(self.ws.meta("backfill_windows"), "no window was finished")
		self.assertEqual(writes(REFTY), [])

	def test_deleted_listing_that_cycles(self):
		self.start_seeded()
		LEVER.fault(path="/v1/opportunities/deleted", kind="repeat")
		res = self.ws.sync(timeout=30)
		self.assertEqual(res.rc, REMOTE, res)
		self.assertIn("/opportunities/deleted", res.err)
		self.assertEqual(self.ws.meta("cursor"), self.cursor)


class UnreadableRecords(Base):
	"""One record that cannot be read is named and kept; the rest of the account goes on."""

	def setUp(self):
		super().setUp()
		self.good = [new_opportunity(LEVER, name="Good %d" % i) for i in range(3)]
		self.bad = new_opportunity(LEVER, name="Broken Record")
		self.seed_state()

	def spoil(self, **spec):
		LEVER.control("POST", "/opportunities/%s/unreadable" % self.bad, spec)

	def check_quarantined(self, spec, words):
		self.spoil(**spec)
		entries = {}
		for opp in self.good + [self.bad]:
			move(LEVER, opp, "On-site")
			entries[opp] = move(LEVER, opp, "Phone screen")
		res = self.ws.sync()
		self.assertEqual(res.rc, PARTIAL, res)
		self.assertEqual(res.summary["unreadable"], 1, res)
		for opp in self.good:
			self.assertIn(step_key(opp, SELF_ASSESSMENT, entries[opp]), res.keys("done"), res)
		self.assertNotIn(step_key(self.bad, SELF_ASSESSMENT, entries[self.bad]), res.keys())
		self.assertIn(self.bad, res.err)
		self.assertIn(words, res.err)
		rows = self.ws.actions(opportunity_id=self.bad, kind="unreadable")
		self.assertEqual([r["state"] for r in rows], ["failed"], rows)
		self.assertIn(words, rows[0]["last_error"])

		explain = self.ws.run("explain", self.bad)
		self.assertEqual(explain.rc, OK, explain)
		self.assertIn("quarantined", explain.out)
		self.assertIn(words, explain.out)
		status = self.ws.run("status")
		self.assertIn("unreadable records: 1 (%s)" % self.bad, status.out)
		status = self.ws.run("status", "--json")
		self.assertIn('"unreadable":{"count":1', status.out.replace(" ", ""))
		obj = json.loads(self.ws.run("explain", "--json", self.bad).out)
		self.assertTrue(obj["quarantine"]["quarantined"], obj)
		self.assertIn(words, obj["quarantine"]["error"])
		self.assertIn(rows[0]["id"], [a["id"] for a in obj["journal"]])
		retry = self.ws.run("retry", "--all", "--json")
		self.assertEqual(retry.rc, OK, retry)
		self.assertEqual(json.loads(retry.out), {"requeued": [], "unknown": [], "not_failed": [],
		                                         "quarantined": [rows[0]["id"]]})
		self.assertEqual(self.ws.actions(opportunity_id=self.bad, kind="unreadable")[0]["state"],
		                 "failed", "retry leaves quarantine alone: %r" % retry)

		# Still unreadable: fetched again by id, still quarantined, still exit 1.
		res = self.ws.sync()
		self.assertEqual(res.rc, PARTIAL, res)
		self.assertEqual(res.summary["unreadable"], 1, res)
		fetched = [e for e in LEVER.requests() if e["path"] == "/v1/opportunities/" + self.bad]
		self.assertTrue(fetched, "the quarantined record is fetched again by id")

		# Readable again: handled as usual, its step sent once, out of quarantine.
		LEVER.control("POST", "/opportunities/%s/readable" % self.bad, {})
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertIn(step_key(self.bad, SELF_ASSESSMENT, entries[self.bad]), res.keys("done"),
		              res)
		self.assertEqual(self.ws.actions(opportunity_id=self.bad, kind="unreadable")[0]["state"],
		                 "done")
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertEqual(res.summary["sent"], 0, res)
		status = self.ws.run("status")
		self.assertNotIn("unreadable records", status.out)

	def test_invalid_utf8(self):
		self.check_quarantined({"kind": "invalid-utf8", "field": "name"}, "not valid UTF-8")

	def test_raw_nul(self):
		self.check_quarantined({"kind": "nul", "field": "name"}, "NUL character")

	def test_escaped_nul_is_not_a_truncation(self):
		self.check_quarantined({"kind": "escaped-nul", "field": "name"}, "NUL character")
		names = [c.get("name") for c in refty_candidates(REFTY)]
		self.assertNotIn("Broken", names, "never a truncated name")

	def test_wrong_type(self):
		self.check_quarantined({"kind": "wrong-type", "field": "createdAt", "value": "yesterday"},
		                       "createdAt")

	def test_record_deleted_while_quarantined(self):
		self.spoil(kind="wrong-type", field="stage", value=5)
		move(LEVER, self.bad, "On-site")
		res = self.ws.sync()
		self.assertEqual(res.rc, PARTIAL, res)
		lever_action(LEVER, self.bad, "delete")
		res = self.ws.sync()
		self.assertEqual(res.rc, OK, res)
		self.assertEqual(self.ws.actions(opportunity_id=self.bad, kind="unreadable")[0]["state"],
		                 "done")

	def test_dry_run_names_it_and_writes_nothing(self):
		self.spoil(kind="invalid-utf8", field="emails.0")
		move(LEVER, self.bad, "On-site")
		res = self.ws.sync("--dry-run")
		self.assertEqual(res.rc, PARTIAL, res)
		self.assertEqual(res.summary["unreadable"], 1, res)
		self.assertEqual(self.ws.actions(kind="unreadable"), [])


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main(verbosity=2)
