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

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (REFERENCE_CHECK, SELF_ASSESSMENT, STAGES, Workspace,  # noqa: E402
                  candidate_key, lever_action, move, new_opportunity, refty_candidates,
                  reset_emulators, step_key, writes)

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


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main(verbosity=2)
