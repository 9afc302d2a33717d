"""Helpers for integration tests that run the refty-lever binary against the emulators.

A Workspace is one private directory holding a configuration file and a state database; it runs
the binary with that configuration and reads the database back (read-only) to check what the
binary recorded. The emulator helpers drive Lever's control API in the terms tests speak:
create an opportunity, move it to a stage, give it an email.

The binary comes from $REFTY_LEVER, or from the first command-line argument of the test script
(see take_binary_argument). Python 3 standard library only.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))

import lever as lever_emulator  # noqa: E402
import refty as refty_emulator  # noqa: E402
from harness import LEVER_CONFIDENTIAL_KEY, LEVER_KEY, REFTY_KEY, Emulator  # noqa: E402,F401

BINARY = os.environ.get("REFTY_LEVER", "refty-lever")

LEVER_KEY_ENV = "TEST_LEVER_KEY"
REFTY_KEY_ENV = "TEST_REFTY_KEY"

# Lever stage ids by name, as the emulator serves them.
STAGES = {text: sid for sid, text in lever_emulator.DEFAULT_STAGES}
POSTINGS = {p[1]: p[0] for p in lever_emulator.DEFAULT_POSTINGS}
COVERED_JOB = "Senior Backend Engineer"
UNCOVERED_JOB = "Product Designer"

# The Refty sequence the default rule uses, and its stage ids.
_ENGINEERING = next(s for s in refty_emulator.DEFAULT_SEQUENCES
                    if s["name"] == "Engineering references")
SEQUENCE_ID = _ENGINEERING["id"]
REFTY_STAGES = {s["name"]: s["id"] for s in _ENGINEERING["stages"]}
SELF_ASSESSMENT = REFTY_STAGES["Self-assessment"]
REFERENCE_CHECK = REFTY_STAGES["Reference check"]

DEFAULT_RULES = [{
	"name": "engineering",
	"jobs": [COVERED_JOB],
	"sequence": "Engineering references",
	"stages": [("Self-assessment", "Phone screen"), ("Reference check", "References")],
	"language": "en",
}]


def take_binary_argument():
	"""Lets `python3 test_x.py /path/to/refty-lever [unittest args]` name the binary; any other
	first argument is left to unittest (a test name, say)."""
	global BINARY
	if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]) and os.access(sys.argv[1], os.X_OK):
		BINARY = sys.argv.pop(1)
	return BINARY


# -- configuration --------------------------------------------------------------------------------

def _quote(value):
	return json.dumps(value)  # a JSON string is a valid libconfig string


def _rule_text(rule):
	jobs = ", ".join(_quote(j) for j in rule["jobs"])
	stages = ",\n".join("      { refty = %s; lever = %s; }" % (_quote(r), _quote(lv))
	                    for r, lv in rule["stages"])
	return ("  {\n    name = %s;\n    jobs = [ %s ];\n    sequence = %s;\n"
	        "    stages = (\n%s\n    );\n    language = %s;\n  }"
	        % (_quote(rule["name"]), jobs, _quote(rule["sequence"]), stages,
	           _quote(rule["language"])))


def config_text(lever_url, refty_url, state, overlap=300, max_actions=500, rules=None,
                confidential=None, requests_per_second=50.0, burst=20,
                lever_key_env=LEVER_KEY_ENV, refty_key_env=REFTY_KEY_ENV, max_pages=None,
                lever_settings=None, refty_settings=None, extra=""):
	"""A libconfig configuration for the given emulator base URLs and state database path.
	lever_settings and refty_settings add keys to those groups: {"timeout": '"1s"'} (values
	as libconfig text); extra is appended as it is (a webhooks group, say)."""
	lever = ['url = %s;' % _quote(lever_url), 'api_key_env = %s;' % _quote(lever_key_env),
	         'requests_per_second = %s;' % float(requests_per_second), 'burst = %d;' % burst]
	if confidential is not None:
		lever.append("confidential = %s;" % ("true" if confidential else "false"))
	if max_pages is not None:
		lever.append("max_pages = %d;" % max_pages)
	lever += ["%s = %s;" % kv for kv in (lever_settings or {}).items()]
	refty = ["url = %s;" % _quote(refty_url), "api_key_env = %s;" % _quote(refty_key_env)]
	refty += ["%s = %s;" % kv for kv in (refty_settings or {}).items()]
	rules = DEFAULT_RULES if rules is None else rules
	return ("lever: {\n  %s\n};\n"
	        "refty: {\n  %s\n};\n"
	        "state = %s;\n"
	        "overlap = %d;\n"
	        "max_actions = %d;\n"
	        "rules = (\n%s\n);\n%s"
	        % ("\n  ".join(lever), "\n  ".join(refty), _quote(state),
	           overlap, max_actions, ",\n".join(_rule_text(r) for r in rules), extra))


# -- running the binary ---------------------------------------------------------------------------

class Result:
	"""Exit status and output of one run. With --json, `actions` and `summary` hold the objects."""

	def __init__(self, args, rc, out, err):
		self.args = args
		self.rc = rc
		self.out = out
		self.err = err
		self.actions = []
		self.summary = None
		self.json_error = None
		for line in out.splitlines():
			if not line.startswith("{"):
				continue
			try:
				obj = json.loads(line)
			except ValueError as exc:
				self.json_error = "%s: %r" % (exc, line)
				continue
			if obj.get("type") == "action":
				self.actions.append(obj)
			elif obj.get("type") == "summary":
				self.summary = obj

	def keys(self, outcome=None):
		return [a["key"] for a in self.actions if outcome is None or a["outcome"] == outcome]

	def __repr__(self):
		return "refty-lever %s: exit %s\n--- stdout:\n%s\n--- stderr:\n%s" % (
			" ".join(self.args), self.rc, self.out[-4000:], self.err[-4000:])


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def check_sanitizers(result):
	"""Fails on a sanitizer report: UBSan, say, prints one and still exits 0."""
	for mark in SANITIZER_MARKS:
		if mark in result.err:
			raise AssertionError("sanitizer report (%s):\n%r" % (mark, result))
	return result


class Workspace:
	"""A temporary directory with a configuration and a state database for one test."""

	def __init__(self, lever, refty, **config):
		self.lever = lever
		self.refty = refty
		self.dir = tempfile.mkdtemp(prefix="refty-lever-it-")
		self.state = os.path.join(self.dir, "state", "state.db")
		self.config_path = os.path.join(self.dir, "refty-lever.conf")
		self.env = dict(os.environ)
		for name in ("REFTY_LEVER_CONFIG", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
			self.env.pop(name, None)
		self.env[LEVER_KEY_ENV] = LEVER_KEY
		self.env[REFTY_KEY_ENV] = REFTY_KEY
		self.config = {}
		self.write_config(**config)

	def write_config(self, **overrides):
		"""Rewrites the configuration: the previous settings with `overrides` applied."""
		self.config.update(overrides)
		text = config_text(self.lever.base_url, self.refty.base_url, self.state, **self.config)
		fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
		with os.fdopen(fd, "w", encoding="utf-8") as f:
			f.write(text)
		os.chmod(self.config_path, 0o600)

	def cleanup(self):
		shutil.rmtree(self.dir, ignore_errors=True)

	def command(self, *args, verbose=0, config=None):
		flags = ["-" + "v" * verbose] if verbose else []
		return [BINARY] + flags + ["-c", config or self.config_path] + [str(a) for a in args]

	def run(self, *args, verbose=0, env=None, config=None, timeout=60):
		"""Runs the binary to completion and returns a Result."""
		full_env = dict(self.env, **(env or {}))
		proc = subprocess.run(self.command(*args, verbose=verbose, config=config),
		                      stdin=subprocess.DEVNULL, capture_output=True, text=True,
		                      env=full_env, timeout=timeout)
		return check_sanitizers(Result([str(a) for a in args], proc.returncode, proc.stdout,
		                               proc.stderr))

	def sync(self, *args, **kwargs):
		"""`sync --json ARGS`: the JSON Lines make the outcome easy to check."""
		return self.run("sync", "--json", *args, **kwargs)

	def start(self, *args, verbose=0, env=None):
		"""Starts the binary without waiting; returns a Process."""
		return Process(self.command(*args, verbose=verbose), dict(self.env, **(env or {})), args)

	# -- the state database, read-only --

	def query(self, sql, params=()):
		return query_db(self.state, sql, params)

	def actions(self, opportunity_id=None, kind=None, state=None):
		sql = "SELECT * FROM actions WHERE 1=1"
		params = []
		for column, value in (("opportunity_id", opportunity_id), ("kind", kind), ("state", state)):
			if value is not None:
				sql += " AND %s = ?" % column
				params.append(value)
		return self.query(sql + " ORDER BY id", params)

	def opportunity(self, opportunity_id):
		rows = self.query("SELECT * FROM opportunities WHERE id = ?", (opportunity_id,))
		return rows[0] if rows else None

	def meta(self, key):
		rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
		return rows[0]["value"] if rows else None

	def lock_database(self):
		"""Takes the database's write lock without writing anything, so that the binary blocks
		at its next write (it waits, then gives up after its busy timeout). Returns the
		connection: rollback() and close() it to let go."""
		con = sqlite3.connect(self.state, timeout=10, isolation_level=None)
		con.execute("BEGIN IMMEDIATE")
		return con

	def files(self):
		"""{name: bytes} of the database and its WAL, for comparing before and after."""
		out = {}
		for suffix in ("", "-wal"):
			path = self.state + suffix
			if os.path.exists(path):
				with open(path, "rb") as f:
					out[os.path.basename(path)] = f.read()
		return out


def query_db(path, sql, params=()):
	"""Rows as dicts, through a read-only connection that is closed again at once."""
	uri = "file:%s?mode=ro" % urllib.parse.quote(os.path.abspath(path))
	con = sqlite3.connect(uri, uri=True, timeout=10)
	try:
		con.row_factory = sqlite3.Row
		return [dict(r) for r in con.execute(sql, params)]
	finally:
		con.close()


class Process:
	"""A running binary whose output is collected in the background."""

	def __init__(self, cmd, env, args):
		self.args = [str(a) for a in args]
		self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
		                             stderr=subprocess.PIPE, text=True, env=env)
		self._out = []
		self._err = []
		self._threads = [threading.Thread(target=self._drain, args=(self.proc.stdout, self._out),
		                                  daemon=True),
		                 threading.Thread(target=self._drain, args=(self.proc.stderr, self._err),
		                                  daemon=True)]
		for t in self._threads:
			t.start()

	@staticmethod
	def _drain(stream, sink):
		# By line, so that a test can watch a long-running process's log as it comes.
		for chunk in iter(stream.readline, ""):
			sink.append(chunk)
		stream.close()

	def err_so_far(self):
		return "".join(self._err)

	@property
	def pid(self):
		return self.proc.pid

	def running(self):
		return self.proc.poll() is None

	def kill(self):
		"""SIGKILL: no cleanup of any kind in the victim."""
		if self.proc.poll() is None:
			self.proc.kill()
		return self.wait()

	def wait(self, timeout=60):
		self.proc.wait(timeout=timeout)
		for t in self._threads:
			t.join(timeout=10)
		return check_sanitizers(Result(self.args, self.proc.returncode, "".join(self._out),
		                               "".join(self._err)))


def wait_until(predicate, timeout=20.0, interval=0.005, what="condition"):
	"""Polls predicate until it returns something true, which is returned."""
	deadline = time.monotonic() + timeout
	while True:
		value = predicate()
		if value:
			return value
		if time.monotonic() > deadline:
			raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
		time.sleep(interval)


# -- the emulators, in the terms of the tests -----------------------------------------------------

_last_ms = [0]
_ms_lock = threading.Lock()


def next_ms():
	"""Now in ms, strictly later than any value this returned before: distinct stage entries."""
	with _ms_lock:
		value = max(int(time.time() * 1000), _last_ms[0] + 1)
		_last_ms[0] = value
		return value


def new_opportunity(lever, job=COVERED_JOB, stage=None, emails=("someone@example.com",),
                    name="Test Candidate", **extra):
	"""Creates an opportunity in the Lever emulator; returns its id. job None: no application."""
	body = {"posting": POSTINGS[job] if job is not None else None, "name": name,
	        "emails": list(emails), "created_at": next_ms()}
	if stage is not None:
		body["stage"] = stage
	body.update(extra)
	return lever.control("POST", "/opportunities", body)["data"]["id"]


def lever_action(lever, opportunity_id, action, **body):
	return lever.control("POST", "/opportunities/%s/%s" % (opportunity_id, action), body)


def move(lever, opportunity_id, stage):
	"""Moves an opportunity to a stage (by name) now; returns the entry time in ms."""
	at = next_ms()
	lever_action(lever, opportunity_id, "move", stage=stage, at=at)
	return at


def set_emails(lever, opportunity_id, emails):
	lever_action(lever, opportunity_id, "emails", emails=list(emails), at=next_ms())


def opportunity_view(lever, opportunity_id):
	return lever.control("GET", "/opportunities/%s" % opportunity_id)


def stage_entry_ms(lever, opportunity_id):
	"""When the opportunity entered its current stage, from Lever's stageChanges."""
	return opportunity_view(lever, opportunity_id)["data"]["stageChanges"][-1]["updatedAt"]


def step_key(opportunity_id, refty_stage_id, entry_ms):
	return "lever:%s:%s:%d" % (opportunity_id, refty_stage_id, entry_ms)


def candidate_key(opportunity_id, sequence_id=SEQUENCE_ID):
	return "lever:%s:%s:candidate" % (opportunity_id, sequence_id)


def writes(emulator, since=0):
	"""Logged API requests other than GET (and HEAD): the ones that change something."""
	return [e for e in emulator.requests(since) if e["method"] not in ("GET", "HEAD")]


def effects_per_key(refty):
	"""{idempotency key: times Refty processed it afresh} (a replay is no new effect)."""
	out = {}
	for e in writes(refty):
		if e["idempotency_key"] and 200 <= (e["status"] or 0) < 300 and not e.get("replayed"):
			out[e["idempotency_key"]] = out.get(e["idempotency_key"], 0) + 1
	return out


def refty_candidates(refty):
	return refty.control("GET", "/candidates")["data"]


def refty_summary(refty):
	return refty.control("GET", "/summary")


def reset_emulators(*emulators):
	"""Back to a fresh state: data, faults, request log and latency."""
	for emu in emulators:
		emu.control("POST", "/reset")
		emu.control("DELETE", "/faults")
		emu.control("DELETE", "/requests")
		emu.settings(latency=0)


# -- module set-up shared by the integration test files ------------------------------------------

def start_emulators():
	"""Checks the binary exists, then starts a Lever emulator (its own rate limiter off, so that
	no test depends on timing unless it turns it on) and a Refty emulator. Returns both."""
	if not (os.path.isfile(BINARY) or shutil.which(BINARY)):
		raise RuntimeError("no refty-lever binary at '%s': set REFTY_LEVER or pass its path"
		                   % BINARY)
	lever = Emulator("lever", "--rate", "0").start()
	try:
		refty = Emulator("refty").start()
	except Exception:
		lever.stop()
		raise
	return lever, refty


def stop_emulators(*emulators):
	for emu in emulators:
		if emu is not None:
			emu.stop()
