#!/usr/bin/env python3
"""Seeding is explicit: `sync --seed` starts a new state, plain `sync` refuses a missing or empty one.

A state that vanished (a volume that failed to mount, a 0-byte file) must never be taken for a
first run: every stage entry due since the last run would be recorded as seen and never sent.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_seed.py   (or pass the path as the first
argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import json
import os
import sqlite3
import subprocess
import sys
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (REFERENCE_CHECK, Workspace, move, new_opportunity, reset_emulators,  # noqa: E402
                  step_key, wait_until, writes)

LEVER = None
REFTY = None

OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def count_rows(ws, table):
	"""Rows in a table, or 0 while the database is not there, not yet migrated or busy."""
	try:
		return ws.query("SELECT count(*) AS n FROM %s" % table)[0]["n"]
	except sqlite3.Error:
		return 0


def count_on_job(lever, posting_id):
	"""How many opportunities Lever lists on one posting (the request log is cleared after)."""
	n, offset = 0, None
	while True:
		path = "/opportunities?limit=100&posting_id=" + posting_id
		if offset:
			path += "&offset=" + urllib.parse.quote(offset, safe="")
		page = lever.request("GET", path).json()
		n += len(page["data"])
		offset = page.get("next")
		if not page.get("hasNext") or not offset:
			break
	lever.control("DELETE", "/requests")
	return n


def dump(ws):
	"""The database's content as SQL: what it holds, however its pages and log are laid out."""
	con = sqlite3.connect("file:%s?mode=ro" % ws.state, uri=True, timeout=10)
	try:
		return list(con.iterdump())
	finally:
		con.close()


class SeedTestCase(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)
		self.addCleanup(LEVER.settings, latency=0)

	def state_dir(self):
		return os.path.dirname(self.ws.state)

	def assertRefusedUnseeded(self, result, why):
		"""Exit 4, the path and what to run on stderr, nothing sent to Refty."""
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIn("'%s' %s" % (self.ws.state, why), result.err)
		self.assertIn("refty-lever sync --seed", result.err)
		self.assertIn("refty-lever backfill", result.err)
		self.assertIn("restore it", result.err)
		self.assertEqual(writes(REFTY), [])
		self.assertEqual(result.out, "")

	def seed(self, *args):
		result = self.ws.sync("--seed", *args)
		self.assertEqual(result.rc, OK, result)
		self.assertTrue(result.summary["seeding"], result)
		self.assertEqual(result.actions, [])
		return result


class MissingOrEmpty(SeedTestCase):
	def test_missing_state_is_not_a_first_run(self):
		opp = new_opportunity(LEVER, stage="References")
		for args in (("sync",), ("sync", "--json"), ("-q", "sync"), ("sync", "--dry-run")):
			with self.subTest(args=args):
				result = self.ws.run(*args)
				self.assertRefusedUnseeded(result, "does not exist")
				self.assertFalse(os.path.exists(self.state_dir()), os.listdir(self.ws.dir))
		self.assertIsNotNone(opp)
		# Nothing reached Lever either: it stopped before opening anything.
		self.assertEqual([e for e in LEVER.requests() if e["path"].startswith("/v1")], [])

	def test_quiet_still_prints_the_error_on_stderr(self):
		proc = subprocess.run([util.BINARY, "-q", "-c", self.ws.config_path, "sync"],
		                      stdin=subprocess.DEVNULL, capture_output=True, text=True,
		                      env=self.ws.env, timeout=60)
		self.assertEqual(proc.returncode, LOCAL, proc)
		self.assertEqual(proc.stdout, "")
		self.assertIn("error:", proc.stderr)
		self.assertIn(self.ws.state, proc.stderr)
		self.assertIn("sync --seed", proc.stderr)

	def test_zero_byte_state_stays_zero_bytes(self):
		new_opportunity(LEVER, stage="Phone screen")
		os.makedirs(self.state_dir(), mode=0o700)
		with open(self.ws.state, "wb"):
			pass
		for args in (("sync",), ("-q", "sync", "--json"), ("sync", "--dry-run")):
			with self.subTest(args=args):
				result = self.ws.run(*args)
				self.assertRefusedUnseeded(result, "is empty (0 bytes)")
				self.assertEqual(sorted(os.listdir(self.state_dir())), ["state.db"])
				self.assertEqual(os.path.getsize(self.ws.state), 0)

	def test_seed_on_missing_state_seeds_then_sync_sends_the_step(self):
		opp = new_opportunity(LEVER, stage="Phone screen")
		seeded = self.seed()
		self.assertIn("first run", seeded.err)
		self.assertIn("backfill", seeded.err)
		self.assertEqual(writes(REFTY), [])
		self.assertIsNotNone(self.ws.opportunity(opp))
		self.assertIsNotNone(self.ws.meta("seeded_at"))
		self.assertEqual(self.ws.meta("seeded_at"), self.ws.meta("cursor"))

		at = move(LEVER, opp, "References")
		result = self.ws.sync()
		self.assertEqual(result.rc, OK, result)
		self.assertFalse(result.summary["seeding"], result)
		self.assertIn(step_key(opp, REFERENCE_CHECK, at), result.keys("done"), result)
		sent = [e["idempotency_key"] for e in writes(REFTY) if e["method"] == "POST"]
		self.assertIn(step_key(opp, REFERENCE_CHECK, at), sent)

	def test_seed_on_zero_byte_state_seeds(self):
		opp = new_opportunity(LEVER, stage="Phone screen")
		os.makedirs(self.state_dir(), mode=0o700)
		with open(self.ws.state, "wb"):
			pass
		self.seed()
		self.assertIsNotNone(self.ws.opportunity(opp))
		self.assertEqual(self.ws.sync().rc, OK)

	def test_seed_dry_run_creates_nothing(self):
		new_opportunity(LEVER, stage="Phone screen")
		new_opportunity(LEVER, stage="References")
		result = self.ws.sync("--seed", "--dry-run")
		self.assertEqual(result.rc, OK, result)
		self.assertTrue(result.summary["seeding"], result)
		self.assertTrue(result.summary["dry_run"], result)
		self.assertEqual(result.summary["seen"], 2, result)
		self.assertIn("would record", result.err)
		self.assertEqual(writes(REFTY), [])
		self.assertFalse(os.path.exists(self.state_dir()), os.listdir(self.ws.dir))
		# ... and the real plain sync after it still refuses.
		self.assertRefusedUnseeded(self.ws.run("sync"), "does not exist")

	def test_backfill_may_still_be_the_first_command(self):
		opp = new_opportunity(LEVER, stage="Phone screen")
		result = self.ws.run("backfill", "--json")
		self.assertEqual(result.rc, OK, result)
		self.assertIsNotNone(self.ws.meta("seeded_at"))
		self.assertIsNotNone(self.ws.opportunity(opp))
		after = self.ws.sync()
		self.assertEqual(after.rc, OK, after)
		self.assertFalse(after.summary["seeding"], after)

	def test_status_says_not_seeded(self):
		# A missing state is not an unseeded one: it may be a volume that failed to mount.
		for args in (("status",), ("status", "--json"), ("status", "--max-age", "1h")):
			missing = self.ws.run(*args)
			self.assertEqual(missing.rc, LOCAL, missing)
			self.assertIn("does not exist", missing.err)
			self.assertIn("refty-lever sync --seed", missing.err)
			self.assertFalse(os.path.exists(self.state_dir()))
		# An empty file is: a seeding that never started.
		os.makedirs(self.state_dir(), mode=0o700)
		with open(self.ws.state, "wb"):
			pass
		result = self.ws.run("status")
		self.assertEqual(result.rc, OK, result)
		self.assertIn("not seeded", result.out)
		self.assertIn("refty-lever sync --seed", result.out)
		as_json = self.ws.run("status", "--json")
		self.assertEqual(as_json.rc, OK, as_json)
		self.assertFalse(json.loads(as_json.out)["seeded"], as_json)
		stale = self.ws.run("status", "--max-age", "1h")
		self.assertEqual(stale.rc, PARTIAL, stale)
		self.assertIn("not seeded", stale.err)
		self.assertEqual(os.path.getsize(self.ws.state), 0)
		self.seed()
		result = self.ws.run("status", "--json")
		self.assertTrue(json.loads(result.out)["seeded"], result)


EVERY_JOB = [dict(util.DEFAULT_RULES[0], jobs=["*"])]


def first(entries, path):
	return next(e for e in entries if e["path"] == path)


class NamesBesideTheListing(SeedTestCase):
	"""A listing of every job (a seeding for a '*' rule, an incremental sync) starts while
	Lever's stages and postings and Refty's sequences are still being fetched; a failure of
	those names fails the run as before, with nothing kept."""

	def listing_began_before_the_names_were_in(self):
		log = LEVER.requests()
		stages, listing = first(log, "/v1/stages"), first(log, "/v1/opportunities")
		return listing["time"] < stages["time"] + stages["duration"]

	def test_a_seeding_for_every_job_lists_while_the_names_come(self):
		self.ws.write_config(rules=EVERY_JOB)
		opps = [new_opportunity(LEVER, emails=["n%d@example.com" % i]) for i in range(3)]
		LEVER.settings(latency=0.3)
		LEVER.control("DELETE", "/requests")
		self.seed()
		self.assertTrue(self.listing_began_before_the_names_were_in(), LEVER.requests())
		for opp in opps:
			self.assertIsNotNone(self.ws.opportunity(opp))
		kinds = {r["kind"] for r in self.ws.query("SELECT kind FROM names_fetched")}
		self.assertEqual(kinds, {"lever_stage", "posting", "sequence", "refty_stage"})
		# The names are cached now: the next sync asks for none of them.
		LEVER.control("DELETE", "/requests")
		self.assertEqual(self.ws.sync().rc, OK)
		self.assertEqual([e for e in LEVER.requests() if e["path"] == "/v1/stages"], [])

	def test_a_seeding_for_named_jobs_waits_for_their_postings(self):
		LEVER.settings(latency=0.3)
		self.seed()
		log = LEVER.requests()
		postings, listing = first(log, "/v1/postings"), first(log, "/v1/opportunities")
		self.assertGreaterEqual(listing["time"], postings["time"] + postings["duration"], log)
		self.assertIn("posting_id", listing["query"], listing)

	def test_an_incremental_sync_plans_with_the_rules_that_came_meanwhile(self):
		self.ws.write_config(rules=EVERY_JOB)
		opp = new_opportunity(LEVER, emails=["late@example.com"])
		self.seed()
		with sqlite3.connect(self.ws.state) as con:
			con.execute("UPDATE names_fetched SET fetched_at = 1")  # long stale
		con.close()
		at = move(LEVER, opp, "References")
		LEVER.settings(latency=0.3)
		LEVER.control("DELETE", "/requests")
		result = self.ws.sync()
		self.assertEqual(result.rc, OK, result)
		self.assertTrue(self.listing_began_before_the_names_were_in(), LEVER.requests())
		self.assertIn(step_key(opp, REFERENCE_CHECK, at), result.keys("done"), result)
		self.assertEqual(util.effects_per_key(REFTY)[step_key(opp, REFERENCE_CHECK, at)], 1)

	def test_names_that_cannot_be_had_fail_the_seeding_and_keep_nothing(self):
		self.ws.write_config(rules=EVERY_JOB)
		opp = new_opportunity(LEVER)
		REFTY.fault(path="/v1/sequences", kind="500", count=100)
		result = self.ws.sync("--seed")
		self.assertEqual(result.rc, REMOTE, result)
		self.assertIn("sequences", result.err)
		self.assertIsNone(self.ws.meta("seeded_at"))
		self.assertEqual(count_rows(self.ws, "opportunities"), 0)
		REFTY.control("DELETE", "/faults")
		self.seed()
		self.assertIsNotNone(self.ws.opportunity(opp))

	def test_a_rule_that_does_not_resolve_fails_the_seeding_and_keeps_nothing(self):
		self.ws.write_config(rules=[dict(EVERY_JOB[0], sequence="No such sequence")])
		new_opportunity(LEVER)
		result = self.ws.sync("--seed")
		self.assertEqual(result.rc, USAGE, result)
		self.assertRegex(result.err, r"%s:\d+: .*No such sequence" % self.ws.config_path)
		self.assertIsNone(self.ws.meta("seeded_at"))
		self.assertEqual(count_rows(self.ws, "opportunities"), 0)
		self.assertEqual(writes(REFTY), [])


class AlreadySeeded(SeedTestCase):
	def test_seed_on_seeded_state_refuses_and_changes_nothing(self):
		opp = new_opportunity(LEVER, stage="Phone screen")
		self.seed()
		at = move(LEVER, opp, "References")
		before = dump(self.ws)
		for args in (("sync", "--seed"), ("sync", "--seed", "--dry-run"),
		             ("-q", "sync", "--seed", "--json")):
			with self.subTest(args=args):
				result = self.ws.run(*args)
				self.assertEqual(result.rc, USAGE, result)
				self.assertIn("'%s' is already seeded (since " % self.ws.state, result.err)
				self.assertIn("move the database away", result.err)
				self.assertEqual(result.out, "")
				self.assertEqual(dump(self.ws), before)
				self.assertEqual(writes(REFTY), [])
		# The stage move is still due: plain sync sends it.
		result = self.ws.sync()
		self.assertEqual(result.rc, OK, result)
		self.assertIn(step_key(opp, REFERENCE_CHECK, at), result.keys("done"), result)

	def test_state_of_an_earlier_version_with_only_a_cursor_is_seeded(self):
		opp = new_opportunity(LEVER, stage="Phone screen")
		self.seed()
		con = sqlite3.connect(self.ws.state, isolation_level=None)
		con.execute("DELETE FROM meta WHERE key = 'seeded_at'")
		con.close()
		self.assertEqual(self.ws.run("sync", "--seed").rc, USAGE)
		at = move(LEVER, opp, "References")
		result = self.ws.sync()
		self.assertEqual(result.rc, OK, result)
		self.assertIn(step_key(opp, REFERENCE_CHECK, at), result.keys("done"), result)


class AnotherAccount(SeedTestCase):
	def test_state_refuses_another_lever_account(self):
		opp = new_opportunity(LEVER, stage="Phone screen")
		self.seed()
		self.assertEqual(self.ws.meta("lever_url"), LEVER.base_url.rstrip("/"))
		move(LEVER, opp, "References")
		# The same emulator under another name: without the check this run would just work.
		other = LEVER.base_url.replace("127.0.0.1", "localhost")
		self.assertNotEqual(other, LEVER.base_url)
		with open(self.ws.config_path, "w", encoding="utf-8") as f:
			f.write(util.config_text(other, REFTY.base_url, self.ws.state))
		before = dump(self.ws)
		for args in (("sync",), ("sync", "--dry-run"), ("backfill",)):
			with self.subTest(args=args):
				result = self.ws.run(*args)
				self.assertEqual(result.rc, USAGE, result)
				self.assertIn("belongs to the Lever account at '%s', not '%s'"
				              % (LEVER.base_url.rstrip("/"), other.rstrip("/")), result.err)
				self.assertIn("lever.url", result.err)
				self.assertEqual(dump(self.ws), before)
				self.assertEqual(writes(REFTY), [])

	def test_state_from_before_the_account_was_recorded_adopts_it(self):
		self.seed()
		con = sqlite3.connect(self.ws.state, isolation_level=None)
		con.execute("DELETE FROM meta WHERE key = 'lever_url'")
		con.close()
		self.assertEqual(self.ws.sync("--dry-run").rc, OK)
		self.assertIsNone(self.ws.meta("lever_url"))
		self.assertEqual(self.ws.sync().rc, OK)
		self.assertEqual(self.ws.meta("lever_url"), LEVER.base_url.rstrip("/"))


class Interrupted(SeedTestCase):
	def test_killed_seed_is_not_seeded_and_seed_again_completes(self):
		total = 6000
		LEVER.control("POST", "/seed", {"count": total, "covered_fraction": 0.9})
		# Slow pages, and enough of them on the covered job (a seeding commits about once a
		# second), that the run can be killed after its first batches and well before its end.
		LEVER.settings(latency=0.3)
		proc = self.ws.start("sync", "--seed", "--json")
		wait_until(lambda: count_rows(self.ws, "opportunities") > 0 or not proc.running(),
		           timeout=60, what="the first batch committed")
		self.assertTrue(proc.running(), "the seeding finished before it could be killed")
		killed = proc.kill()
		self.assertEqual(killed.rc, -9, killed)
		recorded = count_rows(self.ws, "opportunities")
		self.assertGreater(recorded, 0)
		self.assertLess(recorded, total)
		self.assertIsNone(self.ws.meta("seeded_at"))
		self.assertIsNone(self.ws.meta("cursor"))
		LEVER.settings(latency=0)

		# With no fresh name cache either, a run that went on would fetch names first.
		con = sqlite3.connect(self.ws.state, isolation_level=None)
		con.execute("DELETE FROM names_fetched")
		con.close()
		LEVER.control("DELETE", "/requests")
		REFTY.control("DELETE", "/requests")
		before = dump(self.ws)
		refused = self.ws.run("sync", "--json")
		self.assertRefusedUnseeded(refused, "has not been seeded")
		self.assertEqual(dump(self.ws), before)
		self.assertEqual(LEVER.requests(), [])
		self.assertEqual(REFTY.requests(), [])
		self.assertRefusedUnseeded(self.ws.run("sync", "--dry-run"), "has not been seeded")

		self.seed()
		# The rules name their job: the seeding records the opportunities on it.
		self.assertEqual(count_rows(self.ws, "opportunities"),
		                 count_on_job(LEVER, util.POSTINGS[util.COVERED_JOB]))
		self.assertIsNotNone(self.ws.meta("seeded_at"))
		self.assertEqual(writes(REFTY), [])
		after = self.ws.sync()
		self.assertEqual(after.rc, OK, after)
		self.assertEqual(after.actions, [], after)


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
