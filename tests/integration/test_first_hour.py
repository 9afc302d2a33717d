#!/usr/bin/env python3
"""README's first hour, replayed against the emulators as README says it.

The walk-through ("### The first hour" in README.md) is read from README itself: its
configuration file and every refty-lever command line in its shell blocks are run in order,
with the binary installed by 'meson install' into a DESTDIR and found on PATH, HOME a fresh
directory (so the configuration is found without -c and the state lands in its default
place), and the key files next to the configuration. The one change to README's text is a
url in each group, naming the emulators instead of the real services. The rules are written
from what the listing commands printed. Between the commands, Lever changes as an operator's
would: a candidate exists before the seeding and moves to a linked stage before the dry run.

The build root comes from $MESON_BUILD_ROOT (tests/meson.build sets it), as for test_install.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (LEVER_KEY, REFTY_KEY, SELF_ASSESSMENT, SEQUENCE_ID, candidate_key,  # noqa: E402
                  move, new_opportunity, refty_candidates, step_key, writes)

BUILD_ROOT = os.environ.get("MESON_BUILD_ROOT", "")
OK, PARTIAL, USAGE, REMOTE = 0, 1, 2, 3


def walk_through():
	"""(configuration text, commands of the discovery block, commands of the runs block)
	from README's first-hour section: every line of a shell block that runs refty-lever,
	without its comment."""
	with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
		readme = f.read()
	match = re.search(r"^### The first hour\n(.*?)(?=^##)", readme, re.M | re.S)
	if not match:
		raise AssertionError("README.md has no '### The first hour' section")
	blocks = re.findall(r"^```(\w*)\n(.*?)^```", match.group(1), re.M | re.S)
	shell = [text for lang, text in blocks if lang == "sh"]
	if len(shell) != 3:
		raise AssertionError("expected three sh blocks in the first hour, got %d" % len(shell))
	config = re.search(r"<<'EOF'\n(.*?)^EOF\n", shell[0], re.M | re.S)
	if not config:
		raise AssertionError("the first block writes no configuration with <<'EOF'")

	def commands(block):
		out = []
		for line in block.splitlines():
			words = shlex.split(line, comments=True)
			if words and words[0] == "refty-lever":
				out.append(words)
		return out
	return config.group(1), commands(shell[1]), commands(shell[2])


def meson_info(name):
	with open(os.path.join(BUILD_ROOT, "meson-info", "intro-%s.json" % name),
	          encoding="utf-8") as f:
		return json.load(f)


def install():
	"""meson install into a new DESTDIR; returns (destdir, the installed bin directory)."""
	if not os.path.isdir(os.path.join(BUILD_ROOT, "meson-info")):
		raise AssertionError("MESON_BUILD_ROOT '%s' is no meson build directory: run this "
		                     "through 'meson test' or set it" % BUILD_ROOT)
	meson = shutil.which("meson")
	if not meson:
		raise AssertionError("'meson' is not on PATH: the install cannot be run")
	options = {o["name"]: o["value"] for o in meson_info("buildoptions")}
	destdir = tempfile.mkdtemp(prefix="refty-lever-first-hour-")
	r = subprocess.run([meson, "install", "-C", BUILD_ROOT, "--destdir", destdir,
	                    "--no-rebuild", "--quiet"], capture_output=True, text=True, timeout=600)
	if r.returncode != 0:
		shutil.rmtree(destdir, ignore_errors=True)
		raise AssertionError("meson install failed (%d):\n%s%s" % (r.returncode, r.stdout,
		                                                          r.stderr))
	bindir = options["bindir"]
	if not os.path.isabs(bindir):
		bindir = os.path.join(options["prefix"], bindir)
	return destdir, destdir + bindir


def table(text):
	"""The rows of a listing, split on runs of two or more spaces, header dropped."""
	return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()[1:] if line.strip()]


class FirstHour(unittest.TestCase):
	maxDiff = None

	@classmethod
	def setUpClass(cls):
		cls.config_text, cls.discovery, cls.runs = walk_through()
		cls.lever = cls.refty = None
		cls.destdir, cls.bindir = install()
		cls.home = tempfile.mkdtemp(prefix="refty-lever-first-hour-home-")
		util.BINARY = os.path.join(cls.bindir, "refty-lever")
		try:
			cls.lever, cls.refty = util.start_emulators()
			cls.replay()
		except Exception:
			cls.tearDownClass()
			raise

	@classmethod
	def tearDownClass(cls):
		util.stop_emulators(cls.lever, cls.refty)
		shutil.rmtree(cls.destdir, ignore_errors=True)
		shutil.rmtree(cls.home, ignore_errors=True)

	@classmethod
	def run_command(cls, words):
		env = {k: v for k, v in os.environ.items()
		       if k not in ("REFTY_LEVER_CONFIG", "XDG_CONFIG_HOME", "XDG_STATE_HOME",
		                    "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")}
		env.update(HOME=cls.home, PATH=cls.bindir + os.pathsep + env.get("PATH", ""))
		proc = subprocess.run(words, capture_output=True, text=True, env=env,
		                      stdin=subprocess.DEVNULL, timeout=300)
		return util.check_sanitizers(util.Result(words[1:], proc.returncode, proc.stdout,
		                                         proc.stderr))

	@classmethod
	def write_configuration(cls):
		"""README's file, with the emulators' urls, and the two key files beside it."""
		cls.config_dir = os.path.join(cls.home, ".config", "refty-lever")
		os.makedirs(cls.config_dir)
		for name, key in (("lever.key", LEVER_KEY), ("refty.key", REFTY_KEY)):
			fd = os.open(os.path.join(cls.config_dir, name), os.O_WRONLY | os.O_CREAT, 0o600)
			with os.fdopen(fd, "w") as f:
				f.write(key + "\n")
		text = cls.config_text
		for group, emulator in (("lever", cls.lever), ("refty", cls.refty)):
			text, n = re.subn(r"^%s: \{" % group, '%s: { url = "%s";' % (group, emulator.base_url),
			                  text, flags=re.M)
			if n != 1:
				raise AssertionError("README's configuration has no '%s: {' group" % group)
		cls.config_path = os.path.join(cls.config_dir, "config")
		fd = os.open(cls.config_path, os.O_WRONLY | os.O_CREAT, 0o600)
		with os.fdopen(fd, "w") as f:
			f.write(text)

	@classmethod
	def rules_from(cls, listed):
		"""The rules an operator writes from the listings: by id, as they print them."""
		stages = {row[1]: row[0] for row in table(listed["lever stages"].out)}
		postings = {row[2]: row[0] for row in table(listed["lever postings"].out)}
		sequences = listed["refty sequences"].out
		seq = re.search(r"^(\S+)\s+Engineering references$", sequences, re.M).group(1)
		refty_stage = re.search(r"Self-assessment\s+self_assessment\s+(\S+)", sequences).group(1)
		language = listed["refty languages"].out.split()[0]
		return ('rules = (\n  {\n    name = "engineering";\n    jobs = [ "%s" ];\n'
		        '    sequence = "%s";\n    stages = ( { refty = "%s"; lever = "%s"; } );\n'
		        '    language = "%s";\n  }\n);\n'
		        % (postings[util.COVERED_JOB], seq, refty_stage, stages["Phone screen"], language))

	@classmethod
	def replay(cls):
		cls.results = {}
		cls.write_configuration()
		cls.existing = new_opportunity(cls.lever, name="Ada Lovelace")
		for words in cls.discovery:
			cls.results[" ".join(words[1:])] = cls.run_command(words)
		cls.check_without_rules = cls.run_command(["refty-lever", "check"])
		with open(cls.config_path, "a", encoding="utf-8") as f:
			f.write(cls.rules_from(cls.results))
		for words in cls.runs:
			name = " ".join(words[1:])
			if name == "sync --dry-run":
				cls.entered = move(cls.lever, cls.existing, "Phone screen")
				cls.refty_writes_before_dry_run = len(writes(cls.refty))
			if name == "sync":
				cls.refty_writes_after_dry_run = len(writes(cls.refty))
			words = [cls.existing if w == "OPPORTUNITY-ID" else w for w in words]
			cls.results[name] = cls.run_command(words)

	def result(self, name, expect=OK):
		self.assertIn(name, self.results, "README's first hour does not run 'refty-lever %s'"
		              % name)
		result = self.results[name]
		self.assertEqual(result.rc, expect, result)
		for secret in (LEVER_KEY, REFTY_KEY):
			self.assertNotIn(secret, result.out + result.err)
		return result

	def test_the_walk_through_is_the_one_expected(self):
		self.assertEqual([w[1:] for w in self.discovery],
		                 [["lever", "stages"], ["lever", "postings"], ["refty", "sequences"],
		                  ["refty", "languages"]])
		self.assertEqual([w[1:] for w in self.runs],
		                 [["check", "--online"], ["sync", "--seed"], ["sync", "--dry-run"],
		                  ["sync"], ["status"], ["explain", "OPPORTUNITY-ID"],
		                  ["status", "--max-age", "30m"]])
		self.assertNotRegex(self.config_text, r"\brules\b",
		                    "the first configuration has no rules yet")

	def test_listings_work_without_rules(self):
		self.assertIn("Phone screen", self.result("lever stages").out)
		self.assertIn(util.COVERED_JOB, self.result("lever postings").out)
		sequences = self.result("refty sequences").out
		self.assertIn(SEQUENCE_ID, sequences)
		self.assertIn(SELF_ASSESSMENT, sequences)
		self.assertIn("en", self.result("refty languages").out.split())
		# What the listings need is only the groups: check itself still wants rules.
		self.assertEqual(self.check_without_rules.rc, USAGE, self.check_without_rules)
		self.assertIn("rules", self.check_without_rules.err)

	def test_check_online_resolves_the_rules_written_from_the_listings(self):
		out = self.result("check --online").out
		self.assertIn("every job, stage, sequence and language resolves", out)
		self.assertIn("'engineering'", out)
		self.assertIn(self.config_path, out)

	def test_seeding_records_and_sends_nothing(self):
		out = self.result("sync --seed").out
		self.assertRegex(out, r"\bseen \d+")
		state = os.path.join(self.home, ".local", "state", "refty-lever", "state.db")
		self.assertTrue(os.path.isfile(state), "the state is where README says")
		self.assertEqual(self.refty_writes_before_dry_run, 0)

	def test_dry_run_shows_the_plan_and_sends_nothing(self):
		out = self.result("sync --dry-run").out
		self.assertIn(self.existing, out)
		self.assertIn("Phone screen", out)
		self.assertIn("Self-assessment", out)
		self.assertEqual(self.refty_writes_after_dry_run, 0, "the dry run wrote to Refty")

	def test_sync_creates_the_candidate_and_sends_the_step(self):
		self.result("sync")
		[cand] = [c for c in refty_candidates(self.refty)
		          if c["idempotency_key"] == candidate_key(self.existing)]
		self.assertEqual([s["stage_id"] for s in cand["steps"]], [SELF_ASSESSMENT])
		keys = [e["idempotency_key"] for e in writes(self.refty)]
		self.assertIn(candidate_key(self.existing), keys)
		self.assertIn(step_key(self.existing, SELF_ASSESSMENT, self.entered), keys)

	def test_status_shows_the_runs(self):
		out = self.result("status").out
		self.assertIn("sync", out)
		self.assertRegex(out, r"sent 1\b")

	def test_explain_tells_the_candidates_story(self):
		out = self.result("explain OPPORTUNITY-ID").out
		self.assertIn("Ada Lovelace", out)
		self.assertIn("rules: 'engineering'", out)
		self.assertIn("create_candidate done", out)
		self.assertIn("send_step done", out)

	def test_status_max_age_is_healthy_after_a_good_sync(self):
		self.result("status --max-age 30m")

	# Runs last (unittest orders by name): it takes Refty down for good. A Refty outage makes
	# the sync exit 3, and such a run is not the healthy sync the monitoring check waits for:
	# once the last good one is older than --max-age, the check alerts although a sync ran.
	def test_zz_status_max_age_fails_after_a_sync_while_refty_is_down(self):
		self.outage()
		self.assertEqual(self.down_sync.rc, REMOTE, self.down_sync)
		self.assertEqual(self.down_status.rc, PARTIAL, self.down_status)
		self.assertIn("stale: last healthy sync", self.down_status.err)

	@classmethod
	def outage(cls):
		if hasattr(cls, "down_status"):
			return
		cls.newcomer = new_opportunity(cls.lever, name="Grace Hopper")
		move(cls.lever, cls.newcomer, "Phone screen")
		cls.refty.stop()
		cls.down_sync = cls.run_command(["refty-lever", "sync"])
		time.sleep(1.1)  # so that the last good sync is more than --max-age 1s ago
		cls.down_status = cls.run_command(["refty-lever", "status", "--max-age", "1s"])

	def test_zz_sync_while_refty_is_down_loses_nothing(self):
		self.outage()
		self.assertNotEqual(self.down_sync.rc, OK, self.down_sync)
		self.assertIn("cannot POST '%s/candidates'" % self.refty.base_url, self.down_sync.err)
		state = os.path.join(self.home, ".local", "state", "refty-lever", "state.db")
		pending = util.query_db(state, "SELECT key FROM actions WHERE opportunity_id = ? AND "
		                        "state = 'pending' ORDER BY id", (self.newcomer,))
		self.assertEqual([row["key"] for row in pending][:1], [candidate_key(self.newcomer)],
		                 "the enrolment waits for Refty, for the next run")
		self.assertEqual(len(pending), 2, pending)


if __name__ == "__main__":
	unittest.main()
