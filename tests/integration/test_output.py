#!/usr/bin/env python3
"""What `sync` tells the people and the machines that watch it: exit statuses that mean what
they say, the summary line, -q/-v, log lines with times or journal priorities, JSON events,
and `status --max-age`, which must see an outage of Refty.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_output.py   (or pass the path as the first
argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import json
import os
import pty
import re
import socket
import subprocess
import sys
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import Result, Workspace, check_sanitizers, new_opportunity, reset_emulators  # noqa: E402

LEVER = None
REFTY = None

OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)

# An RFC 3339 time with milliseconds at the start of a line, as log lines off a terminal have.
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z refty-lever: ")
EVENTS = {"run_start", "action_planned", "action_done", "action_failed", "action_waiting",
          "action_skipped", "opportunity_unreadable", "time_untrusted", "http_retry",
          "run_summary", "message"}


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def closed_port_url():
	"""A loopback URL nobody listens on: connections to it are refused."""
	s = socket.socket()
	s.bind(("127.0.0.1", 0))
	port = s.getsockname()[1]
	s.close()
	return "http://127.0.0.1:%d/v1" % port


class OutputTestCase(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)

	def run_cmd(self, *args, env=None, expect=None):
		result = self.ws.run(*args, env=env)
		if expect is not None:
			self.assertEqual(result.rc, expect, result)
		return result

	def seed(self):
		self.run_cmd("sync", "--seed", expect=OK)

	def refty_down(self, kind="503"):
		"""Every Refty write fails for longer than the HTTP layer retries."""
		REFTY.fault(path="/v1/candidates", methods=["POST"], kind=kind, count=1000)

	def refty_unreachable(self):
		self.ws.refty = types.SimpleNamespace(base_url=closed_port_url())
		self.ws.write_config()

	def permanent_failure(self):
		"""A rule whose language Refty refuses: every create fails with a 422, for good."""
		self.ws.write_config(rules=[dict(util.DEFAULT_RULES[0], language="xx")])

	def last_line(self, text):
		lines = text.splitlines()
		self.assertTrue(lines, "no output")
		return lines[-1]

	def json_events(self, err):
		events = []
		for line in err.splitlines():
			obj = json.loads(line)  # every line one object
			for field in ("time", "level", "event"):
				self.assertIn(field, obj, line)
			self.assertIn(obj["event"], EVENTS, line)
			events.append(obj)
		return events


class ExitStatus(OutputTestCase):
	def test_refty_answering_503_exits_3_and_keeps_the_work(self):
		self.seed()
		opp = new_opportunity(LEVER, stage="Phone screen")
		self.refty_down("503")
		result = self.run_cmd("sync", "--json", expect=REMOTE)
		self.assertEqual(result.summary["exit_status"], REMOTE, result)
		self.assertIn("503", result.summary["error"], result)
		states = {a["kind"]: a["state"] for a in self.ws.actions(opportunity_id=opp)}
		self.assertEqual(set(states.values()), {"pending"}, states)
		REFTY.control("DELETE", "/faults")
		self.run_cmd("sync", expect=OK)
		states = {a["kind"]: a["state"] for a in self.ws.actions(opportunity_id=opp)}
		self.assertEqual(set(states.values()), {"done"}, states)

	def test_refty_unreachable_exits_3(self):
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		self.refty_unreachable()
		result = self.run_cmd("sync", expect=REMOTE)
		self.assertRegex(self.last_line(result.out), r"^sync: failed \(exit 3\): .+; seen \d+")

	def test_lever_failing_exits_3_and_says_so(self):
		self.seed()
		LEVER.fault(path="/v1/opportunities", kind="503", count=1000)
		result = self.run_cmd("sync", "--json", expect=REMOTE)
		LEVER.control("DELETE", "/faults")
		self.assertIn("503", result.summary["error"], result)
		runs = json.loads(self.run_cmd("status", "--json", expect=OK).out)["runs"]
		self.assertEqual((runs[0]["exit_status"], runs[0]["healthy"]), (REMOTE, False), runs)

	def test_status_max_age_alerts_after_an_outage(self):
		self.seed()
		self.run_cmd("status", "--max-age", "1h", expect=OK)
		new_opportunity(LEVER, stage="Phone screen")
		self.refty_down("503")
		self.run_cmd("sync", expect=REMOTE)
		# The seeding was healthy; make it old, so that only the failed run is recent.
		con = __import__("sqlite3").connect(self.ws.state)
		con.execute("UPDATE runs SET started_at = started_at - 7200000 WHERE exit_code = 0")
		con.commit()
		con.close()
		stale = self.run_cmd("status", "--max-age", "1h", expect=PARTIAL)
		self.assertEqual(stale.out, "", stale)
		self.assertRegex(stale.err, r"stale: last healthy sync 2 h ago, more than 1h")
		status = json.loads(self.run_cmd("status", "--json", expect=OK).out)
		self.assertEqual([(r["exit_status"], r["healthy"]) for r in status["runs"]],
		                 [(REMOTE, False), (OK, True)], status)
		self.assertIn("503", status["runs"][0]["message"], status)

	def test_status_max_age_does_not_alert_after_permanent_failures_only(self):
		self.seed()
		self.permanent_failure()
		new_opportunity(LEVER, stage="Phone screen")
		result = self.run_cmd("sync", expect=PARTIAL)
		self.assertRegex(self.last_line(result.out), r"^sync: partial \(exit 1\): seen ")
		con = __import__("sqlite3").connect(self.ws.state)
		con.execute("UPDATE runs SET started_at = started_at - 7200000 WHERE exit_code = 0")
		con.commit()
		con.close()
		ok = self.run_cmd("status", "--max-age", "1h", expect=OK)
		self.assertRegex(ok.out, r"^ok: last healthy sync \d+ (s|min) ago\n$")

	def test_pending_work_without_a_remote_failure_is_partial_and_not_healthy(self):
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		# A conflict ("still in progress") is Refty working, not Refty down.
		REFTY.fault(path="/v1/candidates", methods=["POST"], kind="409", count=1000)
		result = self.run_cmd("sync", "--json", expect=PARTIAL)
		self.assertGreaterEqual(result.summary["pending"], 1, result)
		runs = json.loads(self.run_cmd("status", "--json", expect=OK).out)["runs"]
		self.assertEqual((runs[0]["exit_status"], runs[0]["healthy"]), (PARTIAL, False), runs)


class Summary(OutputTestCase):
	def test_done_summary_is_the_last_line(self):
		self.seed()
		opp = new_opportunity(LEVER, stage="Phone screen")
		result = self.run_cmd("sync", expect=OK)
		self.assertIn(opp, result.out)
		self.assertRegex(self.last_line(result.out),
		                 r"^sync: done \(exit 0\): seen 1, changed 1, enrolled 1, sent 1, ")

	def test_failed_summary_names_the_error(self):
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		self.refty_down("503")
		result = self.run_cmd("sync", expect=REMOTE)
		line = self.last_line(result.out)
		self.assertRegex(line, r"^sync: failed \(exit 3\): [^;]*503[^;]*; seen 1, ")
		as_json = self.run_cmd("sync", "--json", expect=REMOTE)
		self.assertIn("503", as_json.summary["error"], as_json)

	def test_json_summary_error_is_null_when_done(self):
		self.seed()
		result = self.run_cmd("sync", "--json", expect=OK)
		self.assertIn("error", result.summary)
		self.assertIsNone(result.summary["error"], result)


class Verbosity(OutputTestCase):
	def test_quiet_prints_nothing_on_stdout_and_news_on_stderr(self):
		self.seed()
		self.permanent_failure()
		new_opportunity(LEVER, stage="Phone screen")
		result = self.run_cmd("-q", "sync", expect=PARTIAL)
		self.assertEqual(result.out, "", result)
		self.assertRegex(result.err, r"warning: sync: partial \(exit 1\): ")
		self.assertIn("error:", result.err)  # the 422 itself

	def test_quiet_quiet_prints_only_errors(self):
		self.seed()
		self.permanent_failure()
		new_opportunity(LEVER, stage="Phone screen")
		result = self.run_cmd("-qq", "sync", expect=PARTIAL)
		self.assertEqual(result.out, "", result)
		lines = result.err.splitlines()
		self.assertTrue(lines, result)
		for line in lines:
			self.assertIn(" error: ", line, result)

	def test_quiet_failed_run_says_why_on_stderr(self):
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		self.refty_down("503")
		result = self.run_cmd("-qq", "sync", expect=REMOTE)
		self.assertEqual(result.out, "", result)
		self.assertRegex(result.err, r"error: sync: failed \(exit 3\): .*503")

	def test_quiet_json_keeps_standard_output(self):
		self.seed()
		opp = new_opportunity(LEVER, stage="Phone screen")
		result = self.run_cmd("-q", "sync", "--json", expect=OK)
		self.assertEqual(result.summary["exit_status"], OK, result)
		self.assertIn(opp, [a["opportunity_id"] for a in result.actions])

	def test_verbose_logs_decisions_on_stderr(self):
		self.seed()
		opp = new_opportunity(LEVER, stage="Phone screen")
		skipped = new_opportunity(LEVER, job=util.UNCOVERED_JOB, stage="Phone screen")
		plain = self.run_cmd("sync", expect=OK)
		self.assertNotIn("debug:", plain.err)
		self.assertNotIn("planned", plain.out, "a real run prints what it did")
		new_opportunity(LEVER, stage="Phone screen")
		result = self.run_cmd("-v", "sync", expect=OK)
		planned = [l for l in result.err.splitlines() if "debug: planned" in l]
		self.assertTrue(planned, result)
		self.assertNotIn("planned", result.out, result)
		self.assertNotIn("retrying", result.err)  # requests are -vv
		self.assertIsNotNone(opp and skipped)

	def test_verbose_twice_traces_requests(self):
		self.seed()
		result = self.run_cmd("-vv", "sync", expect=OK)
		self.assertRegex(result.err, r"(GET|get) .*/v1/opportunities")


class Timestamps(OutputTestCase):
	def test_lines_off_a_terminal_start_with_a_time(self):
		result = self.run_cmd("sync", expect=LOCAL)  # not seeded: an error line
		lines = result.err.splitlines()
		self.assertTrue(lines, result)
		for line in lines:
			self.assertRegex(line, STAMP)

	def test_lines_on_a_terminal_have_no_time(self):
		master, slave = pty.openpty()
		try:
			proc = subprocess.Popen(self.ws.command("sync"), stdin=subprocess.DEVNULL,
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
			proc.stdout.read()
			proc.stdout.close()
			rc = proc.wait(timeout=60)
		finally:
			if slave is not None:
				os.close(slave)
			os.close(master)
		terminal = b"".join(chunks).decode(errors="replace")
		self.assertEqual(rc, LOCAL, terminal)
		self.assertTrue(terminal.startswith("refty-lever: error: "), terminal)

	def run_to_journal(self, *args, match=True):
		"""Runs with stderr on a pipe that JOURNAL_STREAM names (or names wrongly)."""
		read_end, write_end = os.pipe()
		st = os.fstat(write_end)
		ino = st.st_ino if match else st.st_ino + 1
		env = dict(self.ws.env, JOURNAL_STREAM="%d:%d" % (st.st_dev, ino))
		proc = subprocess.Popen(self.ws.command(*args), stdin=subprocess.DEVNULL,
		                        stdout=subprocess.PIPE, stderr=write_end, env=env, text=True)
		os.close(write_end)
		with os.fdopen(read_end, encoding="utf-8", errors="replace") as f:
			err = f.read()
		out = proc.stdout.read()
		proc.stdout.close()
		return check_sanitizers(Result(list(args), proc.wait(timeout=120), out, err))

	def test_journal_lines_carry_priorities_and_no_time(self):
		self.seed()
		self.permanent_failure()
		new_opportunity(LEVER, stage="Phone screen")
		result = self.run_to_journal("-v", "sync")
		self.assertEqual(result.rc, PARTIAL, result)
		lines = result.err.splitlines()
		for line in lines:
			self.assertRegex(line, r"^<[3467]>refty-lever: ", result)
		prefixes = {line[:3] for line in lines}
		self.assertIn("<3>", prefixes, result)  # the 422
		self.assertIn("<7>", prefixes, result)  # -v decisions

	def test_journal_stream_of_another_file_is_not_the_journal(self):
		result = self.run_to_journal("sync", match=False)
		self.assertEqual(result.rc, LOCAL, result)
		for line in result.err.splitlines():
			self.assertRegex(line, STAMP)


class JsonLogs(OutputTestCase):
	def test_every_line_is_an_event_and_one_run_summary(self):
		self.seed()
		self.permanent_failure()
		done = new_opportunity(LEVER, job=util.UNCOVERED_JOB, stage="Phone screen")
		failed = new_opportunity(LEVER, stage="Phone screen")
		result = self.run_cmd("--log-format", "json", "-v", "sync", expect=PARTIAL)
		events = self.json_events(result.err)
		summaries = [e for e in events if e["event"] == "run_summary"]
		self.assertEqual(len(summaries), 1, result)
		s = summaries[0]
		self.assertEqual((s["exit_status"], s["status"]), (PARTIAL, "partial"), s)
		self.assertIsInstance(s["duration_ms"], int)
		self.assertEqual(s["counts"]["failed"], 1, s)
		self.assertIsInstance(s["run"], int)
		names = {e["event"] for e in events}
		self.assertTrue({"run_start", "action_planned", "action_failed"} <= names, names)
		[fail] = [e for e in events if e["event"] == "action_failed"]
		self.assertEqual((fail["opportunity"], fail["rule"]), (failed, "engineering"), fail)
		self.assertIn("unsupported_language", fail["error"], fail)
		self.assertTrue(fail["key"], fail)
		for e in events:
			if e["event"] != "message" or "run" in e:
				continue
			self.assertNotIn(done, json.dumps(e))

	def test_one_run_summary_at_default_level_and_under_quiet(self):
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		for flags in ((), ("-q",), ("-qq",)):
			with self.subTest(flags=flags):
				result = self.run_cmd("--log-format", "json", *flags, "sync", expect=OK)
				events = self.json_events(result.err)
				summaries = [e for e in events if e["event"] == "run_summary"]
				self.assertEqual(len(summaries), 1, result)
				self.assertEqual(summaries[0]["exit_status"], OK)
				new_opportunity(LEVER, stage="Phone screen")

	def test_failed_run_summary_carries_the_error(self):
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		self.refty_down("503")
		result = self.run_cmd("--log-format", "json", "sync", expect=REMOTE)
		events = self.json_events(result.err)
		[s] = [e for e in events if e["event"] == "run_summary"]
		self.assertEqual((s["exit_status"], s["status"]), (REMOTE, "failed"), s)
		self.assertIn("503", s["error"], s)

	def test_no_run_summary_before_the_run_exists(self):
		result = self.run_cmd("--log-format", "json", "sync", expect=LOCAL)  # not seeded
		events = self.json_events(result.err)
		self.assertEqual([e for e in events if e["event"] == "run_summary"], [], result)
		self.assertEqual(events[0]["level"], "error", events)

	def test_secrets_stay_redacted_in_json_events(self):
		secret = "refty-secret-0b9c4e7d21"
		REFTY.control("POST", "/keys", {"key": secret})
		self.ws.env[util.REFTY_KEY_ENV] = secret
		self.seed()
		new_opportunity(LEVER, stage="Phone screen")
		self.refty_down("503")
		result = self.run_cmd("--log-format", "json", "-vv", "sync", expect=REMOTE)
		self.assertNotIn(secret, result.err)
		self.assertNotIn(secret, result.out)
		retries = [e for e in self.json_events(result.err) if e["event"] == "http_retry"]
		self.assertTrue(retries, result)
		self.assertEqual(retries[0]["status"], "503", retries[0])


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main(verbosity=2)
