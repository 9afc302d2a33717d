#!/usr/bin/env python3
"""What refty-lever does when the state on disk is not as it left it: a schema newer than the
binary's, a missing state, read access only, a directory where the database should be, a
damaged file, a full disk (a file size limit), and a run lock deleted or replaced mid-run.

Every case must stop with exit 4 (5 for a lost lock) and a message naming the path and the
next step, and the run after the fault is cleared must do every side effect exactly once.

Read access only is tested as the user "nobody" when the tests run as root (file modes do not
stop root), else as the current user with the modes removed.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_storage.py   (or pass the path as the first
argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import os
import resource
import shutil
import sqlite3
import stat
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (Workspace, check_sanitizers, new_opportunity, refty_summary,  # noqa: E402
                  reset_emulators, wait_until, writes)

LEVER = None
REFTY = None

OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)

NOBODY = 65534
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def tree(path):
	"""{relative path: (size, mtime_ns, bytes)} of every file under path."""
	out = {}
	for root, _dirs, files in os.walk(path):
		for name in files:
			full = os.path.join(root, name)
			st = os.stat(full)
			with open(full, "rb") as f:
				out[os.path.relpath(full, path)] = (st.st_size, st.st_mtime_ns, f.read())
	return out


class StorageTestCase(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)

	def seed(self):
		result = self.ws.sync("--seed")
		self.assertEqual(result.rc, OK, result)
		REFTY.control("DELETE", "/requests")
		LEVER.control("DELETE", "/requests")

	def expect(self, rc, *args, **kwargs):
		result = self.ws.run(*args, **kwargs)
		self.assertEqual(result.rc, rc, result)
		return result

	def run_limited(self, *args, preexec_fn=None, verbose=0, binary=None):
		"""Runs the binary (or a copy of it) with a preexec_fn (another user, a file size
		limit)."""
		cmd = self.ws.command(*args, verbose=verbose)
		if binary:
			cmd[0] = binary
		proc = subprocess.run(cmd, stdin=subprocess.DEVNULL,
		                      capture_output=True, text=True, env=self.ws.env, timeout=60,
		                      preexec_fn=preexec_fn)
		return check_sanitizers(util.Result([str(a) for a in args], proc.returncode, proc.stdout,
		                                    proc.stderr))

	def assertNoRemoteWrites(self):
		self.assertEqual(writes(LEVER), [])
		self.assertEqual(writes(REFTY), [])


# Every command that reads the state, read-only or not.
STATE_COMMANDS = [("status",), ("status", "--json"), ("explain", UNKNOWN_ID),
                  ("sync", "--dry-run"), ("backfill", "--dry-run"), ("sync",), ("backfill",),
                  ("retry", "--all")]


class NewerSchema(StorageTestCase):
	def test_every_command_says_to_upgrade(self):
		self.seed()
		known = util.query_db(self.ws.state, "PRAGMA user_version")[0]["user_version"]
		con = sqlite3.connect(self.ws.state)
		con.execute("PRAGMA user_version = %d" % (known + 1))
		con.close()
		message = ("%s: written by a newer refty-lever (schema %d, this one knows %d): upgrade "
		           "refty-lever" % (self.ws.state, known + 1, known))
		for args in STATE_COMMANDS:
			with self.subTest(command=args):
				result = self.expect(LOCAL, *args)
				self.assertIn(message, result.err)
				self.assertNotIn("migrate", result.err)
		self.assertEqual(util.query_db(self.ws.state, "PRAGMA user_version")[0]["user_version"],
		                 known + 1)
		self.assertNoRemoteWrites()


# The opportunities table as schema 4 had it (keyed by Lever's id, without a rowid).
SCHEMA_4_OPPORTUNITIES = (
	"CREATE TABLE opportunities (id TEXT PRIMARY KEY, posting_id TEXT, stage_id TEXT NOT NULL,"
	" seen_until_ms INTEGER NOT NULL, archived INTEGER NOT NULL, confidential INTEGER NOT NULL,"
	" anonymized INTEGER NOT NULL, name TEXT, email TEXT, phone TEXT, updated_at INTEGER,"
	" last_run INTEGER) WITHOUT ROWID")


class OlderSchema(StorageTestCase):
	def test_a_state_of_the_previous_schema_keeps_every_opportunity(self):
		"""A state written before the opportunities table kept its rows in insertion order is
		migrated on its next run with every row as it was: the sync finds no change but the
		one made in Lever since, and acts on that one once."""
		opps = [new_opportunity(LEVER, emails=["o%d@example.com" % i]) for i in range(5)]
		self.seed()
		known = util.query_db(self.ws.state, "PRAGMA user_version")[0]["user_version"]
		rows = util.query_db(self.ws.state, "SELECT * FROM opportunities ORDER BY id")
		self.assertGreaterEqual(len(rows), len(opps))
		con = sqlite3.connect(self.ws.state)
		with con:
			con.execute("ALTER TABLE opportunities RENAME TO opportunities_now")
			con.execute(SCHEMA_4_OPPORTUNITIES)
			con.execute("INSERT INTO opportunities SELECT * FROM opportunities_now")
			con.execute("DROP TABLE opportunities_now")
			con.execute("PRAGMA user_version = %d" % (known - 1))
		con.close()
		at = util.move(LEVER, opps[2], "Phone screen")
		result = self.expect(OK, "sync", verbose=2)
		self.assertIn("migrated '%s' to schema version %d" % (self.ws.state, known), result.err)
		self.assertEqual(util.query_db(self.ws.state, "PRAGMA user_version")[0]["user_version"],
		                 known)
		ddl = util.query_db(self.ws.state, "SELECT sql FROM sqlite_master WHERE type = 'table' "
		                    "AND name = 'opportunities'")[0]["sql"]
		self.assertNotIn("WITHOUT ROWID", ddl)
		after = {r["id"]: r for r in util.query_db(self.ws.state, "SELECT * FROM opportunities")}
		self.assertEqual(sorted(after), [r["id"] for r in rows])
		for row in rows:
			if row["id"] != opps[2]:
				self.assertEqual(after[row["id"]], row)
		self.assertEqual(after[opps[2]]["stage_id"], util.STAGES["Phone screen"])
		keys = util.effects_per_key(REFTY)
		self.assertEqual(keys, {util.candidate_key(opps[2]): 1,
		                        util.step_key(opps[2], util.SELF_ASSESSMENT, at): 1})
		last = util.query_db(self.ws.state, "SELECT seen, changed FROM runs ORDER BY id DESC")[0]
		self.assertEqual(last["changed"], 1, last)


class MissingState(StorageTestCase):
	def test_commands_on_the_state_never_create_it(self):
		for args in (("status",), ("status", "--max-age", "1h"), ("explain", UNKNOWN_ID),
		             ("retry", "--all"), ("sync",), ("sync", "--dry-run")):
			with self.subTest(command=args):
				result = self.expect(LOCAL, *args)
				self.assertIn("'%s' does not exist" % self.ws.state, result.err)
				self.assertIn("sync --seed", result.err)
				self.assertFalse(os.path.exists(os.path.dirname(self.ws.state)), result)
		self.assertNoRemoteWrites()


class ReadOnlyCommands(StorageTestCase):
	def test_read_only_commands_change_no_file(self):
		opp = new_opportunity(LEVER, stage="Phone screen")  # in the snapshot, so explain has it
		self.seed()
		state_dir = os.path.dirname(self.ws.state)
		before = tree(state_dir)
		for args in (("status",), ("explain", opp), ("sync", "--dry-run"),
		             ("backfill", "--dry-run")):
			with self.subTest(command=args):
				self.expect(OK, *args)
				after = tree(state_dir)
				for name, entry in before.items():
					self.assertEqual(after.get(name), entry, name)
				# SQLite's shared reading may leave an empty log and its index behind.
				for name in set(after) - set(before):
					self.assertIn(name, ("state.db-wal", "state.db-shm"))
					if name.endswith("-wal"):
						self.assertEqual(after[name][0], 0)
		self.assertNoRemoteWrites()


class ReadAccessOnly(StorageTestCase):
	"""The state belongs to another user, who lets this one read it."""

	def setUp(self):
		super().setUp()
		self.known = new_opportunity(LEVER, stage="Phone screen")  # in the snapshot, for explain
		self.seed()
		self.opp = new_opportunity(LEVER, stage="Phone screen")  # new: a dry run plans it
		self.state_dir = os.path.dirname(self.ws.state)
		os.chmod(self.ws.dir, 0o755)
		os.chmod(self.ws.config_path, 0o644)
		for name in os.listdir(self.state_dir):
			os.chmod(os.path.join(self.state_dir, name), 0o444)
		os.chmod(self.state_dir, 0o555)
		self.addCleanup(os.chmod, self.state_dir, 0o700)
		self.before = tree(self.state_dir)

	def as_reader(self, *args, verbose=0):
		if os.geteuid() == 0:
			def drop():
				os.setgroups([])
				os.setgid(NOBODY)
				os.setuid(NOBODY)
			# A copy the other user can reach, wherever the build directory is.
			binary = os.path.join(self.ws.dir, "refty-lever")
			if not os.path.exists(binary):
				shutil.copy(shutil.which(util.BINARY) or util.BINARY, binary)
				os.chmod(binary, 0o755)
			return self.run_limited(*args, preexec_fn=drop, verbose=verbose, binary=binary)
		return self.run_limited(*args, verbose=verbose)

	def test_read_only_commands_need_read_access_alone(self):
		for args in (("status",), ("explain", self.known), ("sync", "--dry-run")):
			with self.subTest(command=args):
				result = self.as_reader(*args)
				self.assertEqual(result.rc, OK, result)
				self.assertNotIn("error", result.err)
		status = self.as_reader("status", verbose=1)
		self.assertIn("(1 opportunities)", status.out)
		self.assertIn("reading the file alone", status.err)
		dry = self.as_reader("sync", "--dry-run", "--json")
		self.assertIn(self.opp, dry.out)
		self.assertEqual(tree(self.state_dir), self.before)
		self.assertNoRemoteWrites()

	def test_after_the_owner_left_an_empty_log_behind(self):
		# The owner's own read-only commands leave an empty log and its index, which this
		# user can read but not write.
		self.expect(OK, "status")
		for name in ("state.db-wal", "state.db-shm"):
			path = os.path.join(self.state_dir, name)
			if os.path.exists(path):
				os.chmod(path, 0o444)
		before = tree(self.state_dir)
		for args in (("status",), ("explain", self.known), ("sync", "--dry-run")):
			with self.subTest(command=args):
				result = self.as_reader(*args)
				self.assertEqual(result.rc, OK, result)
		self.assertEqual(tree(self.state_dir), before)

	def test_no_read_access_is_named(self):
		os.chmod(self.state_dir, 0o700)
		os.chmod(self.ws.state, 0o000)
		os.chmod(self.state_dir, 0o755)
		result = self.as_reader("status")
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIn("cannot read the state '%s': Permission denied" % self.ws.state, result.err)
		self.assertEqual(result.err.count("error:"), 1, result)

	def test_a_normal_command_names_what_is_not_writable(self):
		for args in (("sync",), ("retry", "--all")):
			with self.subTest(command=args):
				result = self.as_reader(*args)
				self.assertEqual(result.rc, LOCAL, result)
				self.assertIn("'%s.lock'" % self.ws.state, result.err)
				self.assertIn("write access", result.err)
				self.assertNotIn("readonly database", result.err)
		self.assertEqual(tree(self.state_dir), self.before)
		self.assertNoRemoteWrites()


class NotAFile(StorageTestCase):
	def test_a_directory_at_the_database_path_is_named(self):
		os.makedirs(self.ws.state)
		for args in STATE_COMMANDS:
			with self.subTest(command=args):
				result = self.expect(LOCAL, *args)
				self.assertIn("state '%s' is a directory, not a database file" % self.ws.state,
				              result.err)
				self.assertNotIn("disk I/O error", result.err)
		self.assertNoRemoteWrites()

	def test_a_directory_at_the_lock_path_is_named(self):
		self.seed()
		os.unlink(self.ws.state + ".lock")
		os.makedirs(self.ws.state + ".lock")
		for args in (("sync",), ("retry", "--all")):
			with self.subTest(command=args):
				result = self.expect(LOCAL, *args)
				self.assertIn("'%s.lock': it is a directory" % self.ws.state, result.err)
		self.assertNoRemoteWrites()


class Damaged(StorageTestCase):
	def assertDamageAdvice(self, result):
		self.assertIn("'%s'" % self.ws.state, result.err)
		self.assertIn("damaged", result.err)
		self.assertIn("backup", result.err)
		self.assertIn("'refty-lever sync --seed'", result.err)
		self.assertIn("'refty-lever backfill'", result.err)
		self.assertEqual(result.err.count("is damaged"), 1, result)

	def test_a_file_that_is_not_a_database(self):
		self.seed()
		with open(self.ws.state, "r+b") as f:
			f.write(b"this is not an SQLite file at all" * 200)
		for args in STATE_COMMANDS:
			with self.subTest(command=args):
				self.assertDamageAdvice(self.expect(LOCAL, *args))
		self.assertNoRemoteWrites()

	def test_a_malformed_database_is_checked(self):
		for i in range(40):
			new_opportunity(LEVER, name="Candidate %d" % i)
		self.seed()
		size = os.path.getsize(self.ws.state)
		page = 4096
		self.assertGreater(size, 3 * page)
		with open(self.ws.state, "r+b") as f:
			for offset in range(2 * page, size, page):
				f.seek(offset)
				f.write(b"\x0d\xff\xff\xff" * 16)
		result = self.expect(LOCAL, "status")
		self.assertIn("malformed", result.err)
		self.assertIn("quick_check: ", result.err)
		self.assertDamageAdvice(result)


class DiskFull(StorageTestCase):
	CANDIDATES = 40

	def test_a_run_that_cannot_write_stops_is_recorded_and_the_next_one_catches_up(self):
		self.seed()
		for i in range(self.CANDIDATES):
			new_opportunity(LEVER, stage="Phone screen", emails=["c%d@example.com" % i],
			                name="Candidate %d %s" % (i, "x" * 300))
		# The log starts empty after the seeding: room for a few pages, not for the run.
		limit = os.path.getsize(self.ws.state) + 12 * 4096

		def small_files():
			resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

		result = self.run_limited("sync", preexec_fn=small_files)
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIn("'%s'" % self.ws.state, result.err)
		self.assertIn("free space", result.err)
		runs = util.query_db(self.ws.state, "SELECT * FROM runs ORDER BY id DESC")
		self.assertEqual((runs[0]["exit_code"], runs[0]["finished_at"] > 0), (LOCAL, True), runs)
		self.assertIn(self.ws.state, runs[0]["message"])
		status = self.expect(OK, "status")
		self.assertIn(runs[0]["message"], status.out)
		self.assertNotIn("did not finish", status.out)

		again = self.ws.sync()
		self.assertEqual(again.rc, OK, again)
		summary = refty_summary(REFTY)
		self.assertEqual(summary["candidates"], self.CANDIDATES, summary)
		self.assertEqual(summary["steps_sent"], self.CANDIDATES, summary)
		self.assertEqual(summary["max_steps_per_candidate_stage"], 1, summary)
		states = {a["state"] for a in self.ws.actions()}
		self.assertEqual(states, {"done"})
		self.assertEqual(len(self.ws.actions()), 2 * self.CANDIDATES)


class LockLost(StorageTestCase):
	CANDIDATES = 3

	def start_slow_run(self):
		self.seed()
		for i in range(self.CANDIDATES):
			new_opportunity(LEVER, stage="Phone screen", emails=["c%d@example.com" % i])
		REFTY.settings(latency=1.0)
		self.addCleanup(REFTY.settings, latency=0)
		first = self.ws.start("sync", "--json")
		wait_until(lambda: writes(REFTY) or not first.running(), what="the first Refty request")
		self.assertTrue(first.running(), "the run ended too early")
		return first

	def finish(self, first, how):
		result = first.wait()
		REFTY.settings(latency=0)
		self.assertEqual(result.rc, LOCKED, result)
		self.assertIn("lock file '%s.lock' was %s" % (self.ws.state, how), result.err)
		sent = len(writes(REFTY))
		self.assertLess(sent, 2 * self.CANDIDATES, "the run went on after losing its lock")
		runs = util.query_db(self.ws.state, "SELECT * FROM runs ORDER BY id DESC")
		self.assertEqual(runs[0]["exit_code"], LOCKED, runs)
		again = self.ws.sync()
		self.assertEqual(again.rc, OK, again)
		summary = refty_summary(REFTY)
		self.assertEqual(summary["candidates"], self.CANDIDATES, summary)
		self.assertEqual(summary["steps_sent"], self.CANDIDATES, summary)
		self.assertEqual(summary["max_steps_per_candidate_stage"], 1, summary)
		self.assertEqual({a["state"] for a in self.ws.actions()}, {"done"})

	def test_a_deleted_lock_file_stops_the_run(self):
		first = self.start_slow_run()
		os.unlink(self.ws.state + ".lock")
		self.finish(first, "removed")

	def test_a_replaced_lock_file_stops_the_run(self):
		first = self.start_slow_run()
		other = self.ws.state + ".lock.new"
		with open(other, "w"):
			pass
		os.rename(other, self.ws.state + ".lock")
		self.finish(first, "replaced")

	def test_a_lock_file_deleted_during_the_poll_moves_no_cursor(self):
		self.seed()
		cursor = self.ws.meta("cursor")
		opp = new_opportunity(LEVER, stage="Phone screen")
		LEVER.settings(latency=1.0)
		self.addCleanup(LEVER.settings, latency=0)
		first = self.ws.start("sync", "--json")
		wait_until(lambda: [e for e in LEVER.requests() if e["status"] is None and
		                    "/opportunities" in e["path"]] or not first.running(),
		           what="the run's Lever listing")
		self.assertTrue(first.running(), "the run ended too early")
		os.unlink(self.ws.state + ".lock")
		result = first.wait()
		LEVER.settings(latency=0)
		self.assertEqual(result.rc, LOCKED, result)
		self.assertIn("lock file '%s.lock' was removed" % self.ws.state, result.err)
		self.assertEqual(self.ws.meta("cursor"), cursor)
		self.assertEqual(writes(REFTY), [])
		again = self.ws.sync()
		self.assertEqual(again.rc, OK, again)
		self.assertEqual(refty_summary(REFTY)["candidates"], 1)
		self.assertEqual(len(self.ws.actions(opportunity_id=opp, state="done")), 2)

	def test_the_lock_file_is_kept_between_runs(self):
		self.seed()
		self.assertTrue(stat.S_ISREG(os.stat(self.ws.state + ".lock").st_mode))
		self.assertEqual(os.path.getsize(self.ws.state + ".lock"), 0)


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
