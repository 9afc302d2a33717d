#!/usr/bin/env python3
"""A seeding and a long incremental poll page Lever in parallel windows: they must record what one
chain of pages would, whatever the listing's order and whatever changes while it runs.

What one chain records is every opportunity Lever lists, in its state then; so each run here is
checked against Lever's own listing read in one chain: every opportunity present with its stage,
and after the next sync (whose window starts before this one began) every opportunity in its final
state. An opportunity changed during the run is in one of its states: for a seeding any state it
had during the run; for an incremental poll possibly the one recorded before the run too, because
a change moves it to a later update-time window that may have been listed already (listing.c says
why the next poll then catches it). No timing is asserted.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_parallel.py   (or pass the path as the first
argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import os
import random
import re
import signal
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import Workspace, reset_emulators, wait_until, writes  # noqa: E402
from test_backfill import lever_records, page_requests, seed  # noqa: E402

LEVER = None
REFTY = None

OK, PARTIAL = 0, 1
# Stages no rule links: moving a candidate there plans nothing, so only the snapshot tells.
UNLINKED = ["On-site", "Hiring manager screen", "Offer", "Recruiter screen"]


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def truth():
	"""{id: stage id} of every opportunity, from one chain of Lever's pages."""
	return {r.id: r.stage for r in lever_records(LEVER)}


def recorded(ws):
	return {r["id"]: r["stage_id"] for r in ws.query("SELECT id, stage_id FROM opportunities")}


def chains(entries):
	"""How many listings of /opportunities began (a request without an offset each)."""
	return len([e for e in entries if "offset" not in e["query"]])


class Mover:
	"""Moves random opportunities between unlinked stages while a run pages, and remembers
	every state each moved one was in."""

	def __init__(self, ids, seed_value):
		self.ids = list(ids)
		self.rand = random.Random(seed_value)
		self.states = {}  # id -> stage names it was moved to
		self.stop = threading.Event()
		self.thread = threading.Thread(target=self.run, daemon=True)

	def run(self):
		while not self.stop.is_set():
			ops = []
			for oid in self.rand.sample(self.ids, 20):
				stage = self.rand.choice(UNLINKED)
				self.states.setdefault(oid, set()).add(stage)
				ops.append({"op": "move", "id": oid, "stage": stage})
			LEVER.control("POST", "/batch", {"ops": ops})
			self.stop.wait(0.05)

	def __enter__(self):
		self.thread.start()
		return self

	def __exit__(self, *exc):
		self.stop.set()
		self.thread.join(timeout=30)


class ParallelTestCase(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.addCleanup(LEVER.control, "POST", "/list-order", {"mode": "real", "seed": 1})
		# Every job: these tests compare the listing of the whole account, which a rule that
		# names its jobs would narrow to those postings (test_filter_equivalence's subject).
		rules = [dict(util.DEFAULT_RULES[0], jobs=["*"])]
		self.ws = Workspace(LEVER, REFTY, max_actions=0, rules=rules)
		self.addCleanup(self.ws.cleanup)
		self.addCleanup(LEVER.settings, latency=0)
		self.stage_ids = {s["text"]: s["id"] for s in
		                  LEVER.request("GET", "/stages").json()["data"]}

	def order(self, mode, seed_value):
		LEVER.control("POST", "/list-order", {"mode": mode, "seed": seed_value})

	def run_while_moving(self, ids, seed_value, *args):
		"""Runs the binary with slow pages, moving candidates once it has begun to page."""
		LEVER.settings(latency=0.2)
		since = LEVER.requests()[-1]["seq"] if LEVER.requests() else 0
		proc = self.ws.start(*args)
		wait_until(lambda: page_requests(LEVER, since) or not proc.running(), timeout=60,
		           what="the first page asked for")
		with Mover(ids, seed_value) as mover:
			result = proc.wait(timeout=120)
		LEVER.settings(latency=0)
		return result, mover, page_requests(LEVER, since)

	def check_snapshot(self, before_final, mover, final, before_run=None):
		"""Every opportunity is recorded; one not moved in its stage, a moved one in one of the
		states it was in (or, given before_run, the state recorded before the run)."""
		self.assertEqual(set(before_final), set(final), "every opportunity is recorded once")
		wrong = {}
		for oid, stage in before_final.items():
			allowed = {final[oid]} | {self.stage_ids[s] for s in mover.states.get(oid, ())}
			if oid in mover.states:
				allowed |= {self.first_stage[oid]}
				if before_run and oid in before_run:
					allowed.add(before_run[oid])
			if stage not in allowed:
				wrong[oid] = (stage, allowed)
		self.assertEqual(wrong, {})

	def check_after_next_sync(self):
		result = self.ws.sync()
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(recorded(self.ws), truth(), "the next sync catches every change up")


class ParallelSeeding(ParallelTestCase):
	def seed_and_check(self, mode, seed_value):
		seed(LEVER, 2500, covered_fraction=0.3, archived_fraction=0.1, seed=seed_value)
		self.order(mode, seed_value)
		self.first_stage = truth()
		result, mover, pages = self.run_while_moving(list(self.first_stage), seed_value,
		                                             "sync", "--seed", "--json")
		self.assertEqual(result.rc, OK, result)
		self.assertGreater(chains(pages), 1, "the seeding was listed in several windows")
		self.assertTrue(mover.states, "candidates moved while the seeding paged")
		self.assertIsNotNone(self.ws.meta("seeded_at"))
		self.assertEqual(writes(REFTY), [], "a seeding sends nothing")
		self.check_snapshot(recorded(self.ws), mover, truth())
		self.check_after_next_sync()

	def test_a_window_paging_alone_is_split_again_and_records_what_one_chain_would(self):
		# Four listing threads, an order whose first pages look like samples, and every
		# record inside the planned window listed first (the last day): that window is not
		# split at its first page (the page says nothing of its size, and eleven planned
		# windows wait), so it pages alone once those are done, until it is split again
		# mid-chain, its parts skipping what it delivered.
		self.ws.write_config(lever_settings={"max_in_flight": "4"})
		hour = 3600 * 1000
		now = int(time.time() * 1000)
		seed(LEVER, 3000, covered_fraction=0.3, seed=29, created_start=now - 20 * hour,
		     created_end=now - 2 * hour)
		self.order("random", 29)
		self.first_stage = truth()
		LEVER.settings(latency=0.05)
		with Mover(list(self.first_stage), 29) as mover:
			result = self.ws.run("sync", "--seed", verbose=1, timeout=120)
		LEVER.settings(latency=0)
		self.assertEqual(result.rc, OK, result)
		split_again = re.search(r"listed \d+ creation-time windows \(\d+ splits, (\d+) while "
		                        r"paging\)", result.err)
		self.assertIsNotNone(split_again, result.err[-2000:])
		self.assertGreater(int(split_again.group(1)), 0, split_again.group(0))
		self.check_snapshot(recorded(self.ws), mover, truth())
		self.check_after_next_sync()

	def test_shuffled_listing_with_moves_records_what_one_chain_would(self):
		self.seed_and_check("shuffle", 21)

	def test_real_order_with_moves_records_what_one_chain_would(self):
		self.seed_and_check("real", 22)

	def test_stopped_seeding_stays_unseeded_and_seeding_again_completes(self):
		seed(LEVER, 3000, covered_fraction=0.3)
		self.order("shuffle", 23)
		LEVER.settings(latency=0.3)
		proc = self.ws.start("sync", "--seed", "--json")
		wait_until(lambda: len(page_requests(LEVER)) > 1 or not proc.running(), timeout=60,
		           what="the windows listed")
		self.assertTrue(proc.running(), "the seeding finished before it could be stopped")
		proc.proc.send_signal(signal.SIGTERM)
		result = proc.wait()
		self.assertEqual(result.rc, PARTIAL, result)
		self.assertIsNone(self.ws.meta("seeded_at"), "a stopped seeding is not a seeding")
		self.assertIsNone(self.ws.meta("cursor"))
		refused = self.ws.sync()
		self.assertEqual(refused.rc, 4, refused)
		self.assertIn("has not been seeded", refused.err)

		LEVER.settings(latency=0)
		again = self.ws.sync("--seed")
		self.assertEqual(again.rc, OK, again)
		self.assertIsNotNone(self.ws.meta("seeded_at"))
		self.assertEqual(recorded(self.ws), truth())
		self.assertEqual(writes(REFTY), [])


class ParallelIncremental(ParallelTestCase):
	def setUp(self):
		super().setUp()
		seed(LEVER, 2500, covered_fraction=0.3, seed=31)
		seeded = self.ws.sync("--seed")
		self.assertEqual(seeded.rc, OK, seeded)

	def test_a_small_poll_is_one_request(self):
		LEVER.control("DELETE", "/requests")
		result = self.ws.sync()
		self.assertEqual(result.rc, OK, result)
		paths = [e["path"] for e in LEVER.requests()]
		self.assertEqual(paths, ["/v1/opportunities", "/v1/opportunities/deleted"])

	def test_a_long_poll_with_moves_records_what_one_chain_would(self):
		for mode, seed_value in (("shuffle", 32), ("real", 33)):
			with self.subTest(order=mode):
				self.order(mode, seed_value)
				ids = sorted(recorded(self.ws))
				# Twenty pages of changes since the cursor.
				rand = random.Random(seed_value)
				LEVER.control("POST", "/batch", {"ops": [
					{"op": "move", "id": oid, "stage": rand.choice(UNLINKED)}
					for oid in rand.sample(ids, 2000)]})
				self.first_stage = truth()
				before_run = recorded(self.ws)
				result, mover, pages = self.run_while_moving(ids, seed_value, "sync", "--json")
				self.assertEqual(result.rc, OK, result)
				self.assertGreater(chains(pages), 1, "the poll was split into windows")
				self.assertTrue(mover.states, "candidates moved while the poll paged")
				self.check_snapshot(recorded(self.ws), mover, truth(), before_run)
				self.check_after_next_sync()


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
