#!/usr/bin/env python3
"""A run that lists only the covered jobs must send Refty exactly what a run listing every job
sends.

Two Lever emulators get the same opportunities and then the same seeded random changes: stage
moves, moves between covered and uncovered jobs (and to none), new opportunities, archive and
unarchive, deletions, contact changes, rules added and removed, postings renamed under a rule
that names its job by title. After each change one state syncs (or backfills) against each: one
with the listing as it was before it was filtered by job (REFTY_LEVER_TEST_FULL_LISTING, which
only tests set), one filtered. Every request each sends to its Refty emulator (method, path with
Refty's ids replaced by the candidate's external id and sequence, Idempotency-Key, body) must be
the same, as a multiset: the order of candidates is not defined.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_filter_equivalence.py
"""

import collections
import json
import os
import random
import sqlite3
import sys
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import POSTINGS, STAGES, Workspace, next_ms, reset_emulators  # noqa: E402

PAIRS = []  # [(lever, refty), (lever, refty)]: the full listing's, then the filtered one's

DAY_MS = 86400000

ENGINEERING = {"name": "engineering", "sequence": "Engineering references", "language": "en",
               "stages": [("Self-assessment", "Phone screen"), ("Reference check", "References")]}
DESIGN = {"name": "design", "sequence": "Design references", "language": "fr",
          "stages": [("Reference check", "Reference check")]}

# Jobs by title and by id; "Product Designer" is a title that a rename moves to another posting.
RULE_SETS = [
	[dict(ENGINEERING, jobs=["Senior Backend Engineer", POSTINGS["Data Scientist"]]),
	 dict(DESIGN, jobs=["Product Designer"])],
	[dict(ENGINEERING, jobs=["Senior Backend Engineer", POSTINGS["Data Scientist"],
	                         POSTINGS["Account Executive"]]),
	 dict(DESIGN, jobs=["Product Designer"])],
	[dict(ENGINEERING, jobs=["Senior Backend Engineer"]),
	 dict(DESIGN, jobs=["Product Designer", POSTINGS["Office Manager"]])],
]

JOBS = list(POSTINGS.values())[:7] + [None]
# The stages the rules link come up more often, so that histories hold entries that fire.
STAGE_NAMES = [text for text in STAGES] + ["Phone screen", "References", "Reference check"] * 3
DESIGNER_TITLES = [("Product Designer", "Customer Support Specialist"),
                   ("Customer Support Specialist", "Product Designer")]


def setUpModule():
	for _ in range(2):
		PAIRS.append(util.start_emulators())


def tearDownModule():
	for pair in PAIRS:
		util.stop_emulators(*pair)


def canonical(value):
	return json.dumps(value, sort_keys=True, separators=(",", ":"))


def sent_to_refty(refty):
	"""What this Refty was sent: a Counter of (method, path, key, body), Refty's own candidate
	ids replaced by the candidate's external id and sequence."""
	names = {c["id"]: "%s|%s" % (c["external_id"], c["sequence_id"])
	         for c in refty.control("GET", "/candidates")["data"]}
	out = collections.Counter()
	for e in util.writes(refty):
		parts = [names.get(p, p) for p in e["path"].split("/")]
		out[(e["method"], "/".join(parts), e.get("idempotency_key"), canonical(e["body"]))] += 1
	return out


class Equivalence(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		for pair in PAIRS:
			reset_emulators(*pair)
		self.full = Workspace(*PAIRS[0], rules=RULE_SETS[0])
		self.filtered = Workspace(*PAIRS[1], rules=RULE_SETS[0])
		self.full.env["REFTY_LEVER_TEST_FULL_LISTING"] = "1"
		self.filtered.env.pop("REFTY_LEVER_TEST_FULL_LISTING", None)
		for ws in (self.full, self.filtered):
			self.addCleanup(ws.cleanup)
		self.ids = []
		self.titles = 0

	# -- the same changes in both Levers --

	def apply(self, ops):
		for lever, _ in PAIRS:
			lever.control("POST", "/batch", {"ops": ops})

	def create_op(self, rng, at, created=None):
		opp = str(uuid.UUID(int=rng.getrandbits(128), version=4))
		self.ids.append(opp)
		emails = [] if rng.random() < 0.15 else ["c%d@example.com" % len(self.ids)]
		return {"op": "create", "id": opp, "name": "Candidate %d" % len(self.ids),
		        "emails": emails, "phones": ["+1 555 %07d" % len(self.ids)],
		        "posting": rng.choice(JOBS), "stage": rng.choice(STAGE_NAMES),
		        "created_at": created or at, "updated_at": created or at}

	def populate(self, rng, count):
		"""Opportunities that exist before the first run, each with a stage history."""
		now = next_ms()
		ops = []
		for _ in range(count):
			created = now - rng.randint(2, 60) * DAY_MS
			ops.append(self.create_op(rng, created, created))
			opp = ops[-1]["id"]
			at = created
			for _ in range(rng.randint(0, 3)):
				at += rng.randint(1, DAY_MS)
				ops.append({"op": "move", "id": opp, "stage": rng.choice(STAGE_NAMES), "at": at})
			if rng.random() < 0.3:
				ops.append({"op": "posting", "id": opp, "posting": rng.choice(JOBS),
				            "at": at + 1000})
		self.apply(ops)

	def live(self):
		return [i for i in self.ids if i is not None]

	def change(self, rng):
		"""One random change in Lever (or in the rules); returns words for failure messages."""
		kind = rng.choices(["move", "posting", "create", "archive", "unarchive", "delete",
		                    "emails", "name", "rules", "rename"],
		                   [30, 30, 8, 5, 4, 3, 6, 3, 4, 3])[0]
		at = next_ms()
		if kind == "rules":
			rules = rng.choice(RULE_SETS)
			for ws in (self.full, self.filtered):
				ws.write_config(rules=rules)
			return "rules %s" % [r["jobs"] for r in rules]
		if kind == "rename":
			self.titles = 1 - self.titles
			for lever, _ in PAIRS:
				for title, other in [DESIGNER_TITLES[self.titles]]:
					lever.control("POST", "/postings", {"id": POSTINGS["Product Designer"],
					                                    "text": title})
					lever.control("POST", "/postings", {
						"id": POSTINGS["Customer Support Specialist"], "text": other})
			for ws in (self.full, self.filtered):
				con = sqlite3.connect(ws.state, isolation_level=None)
				con.execute("DELETE FROM names_fetched")  # as if the cache had expired
				con.close()
			return "rename: 'Product Designer' is %s" % DESIGNER_TITLES[self.titles][0]
		if kind == "create":
			op = self.create_op(rng, at)
			self.apply([op])
			return "create %s" % op
		live = self.live()
		opp = rng.choice(live)
		op = {"op": kind, "id": opp, "at": at}
		if kind == "move":
			op["stage"] = rng.choice(STAGE_NAMES)
		elif kind == "posting":
			op["posting"] = rng.choice(JOBS)
		elif kind == "emails":
			op["emails"] = [] if rng.random() < 0.3 else ["n%d@example.com" % at]
		elif kind == "name":
			op["name"] = "Renamed %d" % at
		elif kind == "delete":
			self.ids[self.ids.index(opp)] = None
		try:
			self.apply([op])
		except RuntimeError:
			pass  # archiving an archived one, say: refused by both alike
		return "%s" % op

	# -- running both --

	def run_both(self, *args):
		results = [ws.run(*args, "--json") for ws in (self.full, self.filtered)]
		self.assertEqual(results[0].rc, results[1].rc, results)
		self.assertIn(results[0].rc, (0, 1), results)
		return results

	def assertSameRefty(self, history):
		full, filtered = (sent_to_refty(refty) for _, refty in PAIRS)
		self.assertGreater(sum(full.values()), 0, "nothing reached Refty yet")
		self.assertEqual(full - filtered, collections.Counter(),
		                 "sent only by the full listing, after %s" % history[-3:])
		self.assertEqual(filtered - full, collections.Counter(),
		                 "sent only by the filtered listing, after %s" % history[-3:])

	def lever_pages(self, index):
		return [e for e in PAIRS[index][0].requests()
		        if e["method"] == "GET" and e["path"] == "/v1/opportunities"]

	def drive(self, seed, first, steps):
		rng = random.Random(seed)
		self.populate(rng, 60)
		self.run_both(*first)
		# The filtered seeding asked Lever for the covered postings alone.
		for e in self.lever_pages(1):
			self.assertIn("posting_id", e["query"], e)
		for e in self.lever_pages(0):
			self.assertNotIn("posting_id", e["query"], e)
		history = []
		for step in range(steps):
			for _ in range(rng.randint(1, 3)):
				history.append(self.change(rng))
			command = rng.choices([("sync",), ("backfill",), ("backfill", "--rule", "design")],
			                      [8, 1, 1])[0]
			history.append(" ".join(command))
			self.run_both(*command)
			if step > 2:
				self.assertSameRefty(history)
		self.assertSameRefty(history)
		summary = PAIRS[1][1].control("GET", "/summary")
		self.assertGreater(summary["steps_sent"], 0, summary)

	def step(self, history, command, *ops):
		self.apply([dict(op, at=next_ms()) for op in ops])
		history.append((ops, command))
		self.run_both(*command)
		self.assertSameRefty(history)

	def test_each_case_in_turn(self):
		"""The cases one by one, each after a run that saw the state before it."""
		now = next_ms()
		old = now - 30 * DAY_MS
		design, support = POSTINGS["Product Designer"], POSTINGS["Customer Support Specialist"]
		engineer, warehouse = POSTINGS["Senior Backend Engineer"], POSTINGS["Warehouse Associate"]
		people = {}
		ops = []
		for name, job, stage in [("on-off-on", engineer, "On-site"),
		                         ("entered-elsewhere", warehouse, "New applicant"),
		                         ("old-entry", warehouse, "References"),
		                         ("before-backfill", support, "New applicant"),
		                         ("archived", warehouse, "References"),
		                         ("deleted", warehouse, "New applicant"),
		                         ("renamed", support, "Reference check"),
		                         ("added", POSTINGS["Account Executive"], "Phone screen")]:
			people[name] = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
			ops.append({"op": "create", "id": people[name], "name": name,
			            "emails": [name + "@example.com"], "phones": [], "posting": job,
			            "stage": stage, "created_at": old, "updated_at": old})
		self.apply(ops)
		self.run_both("sync", "--seed")
		h = []
		p = people
		self.step(h, ("sync",), {"op": "move", "id": p["on-off-on"], "stage": "Phone screen"})
		self.step(h, ("sync",), {"op": "posting", "id": p["on-off-on"], "posting": warehouse})
		self.step(h, ("sync",), {"op": "move", "id": p["on-off-on"], "stage": "References"})
		self.step(h, ("sync",), {"op": "posting", "id": p["on-off-on"], "posting": engineer})
		# Entered a linked stage on a job no rule covers, then moved onto a covered one.
		self.step(h, ("sync",), {"op": "move", "id": p["entered-elsewhere"], "stage": "References"})
		self.step(h, ("sync",), {"op": "posting", "id": p["entered-elsewhere"], "posting": engineer})
		# An entry from before the seeding, on a job not covered then.
		self.step(h, ("sync",), {"op": "posting", "id": p["old-entry"], "posting": engineer})
		# A change a backfill saw on a job it did not ask for, then a move onto a covered one.
		self.step(h, ("backfill",), {"op": "move", "id": p["before-backfill"], "stage": "References"})
		self.step(h, ("sync",), {"op": "posting", "id": p["before-backfill"], "posting": engineer})
		# Archived elsewhere, unarchived onto a covered job; deleted while never seen.
		self.step(h, ("sync",), {"op": "archive", "id": p["archived"]})
		self.step(h, ("sync",), {"op": "posting", "id": p["archived"], "posting": engineer},
		          {"op": "unarchive", "id": p["archived"]})
		self.step(h, ("sync",), {"op": "delete", "id": p["deleted"]})
		# A rule gains a job it did not cover: its candidates are not new to it.
		for ws in (self.full, self.filtered):
			ws.write_config(rules=RULE_SETS[1])
		self.step(h, ("sync",), {"op": "move", "id": p["added"], "stage": "References"})
		self.step(h, ("backfill",))
		# The title a rule names moves to another posting.
		for lever, _ in PAIRS:
			lever.control("POST", "/postings", {"id": design, "text": "Product Designer (2025)"})
			lever.control("POST", "/postings", {"id": support, "text": "Product Designer"})
		for ws in (self.full, self.filtered):
			con = sqlite3.connect(ws.state, isolation_level=None)
			con.execute("DELETE FROM names_fetched")
			con.close()
		self.step(h, ("sync",), {"op": "move", "id": p["renamed"], "stage": "On-site"})
		self.step(h, ("sync",), {"op": "move", "id": p["renamed"], "stage": "Reference check"})
		self.step(h, ("backfill", "--rule", "design"))
		summary = PAIRS[1][1].control("GET", "/summary")
		self.assertGreaterEqual(summary["steps_sent"], 3, summary)

	def test_seeded_by_sync(self):
		self.drive(11, ("sync", "--seed"), 30)

	def test_seeded_by_backfill(self):
		self.drive(23, ("backfill",), 30)


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
