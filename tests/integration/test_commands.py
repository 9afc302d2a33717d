#!/usr/bin/env python3
"""End-to-end tests of the smaller refty-lever commands: check --online, the lever and refty
listings, status, explain, retry, and the usage of every command.

Each test gets a fresh state database and emulators reset to their defaults, runs the real
binary, and checks its output, its exit status and what reached the emulators.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_commands.py   (or pass the path as the
first argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (LEVER_KEY, REFTY_KEY, REFERENCE_CHECK, SELF_ASSESSMENT, SEQUENCE_ID,  # noqa: E402
                  UNCOVERED_JOB, Workspace, candidate_key, lever_emulator, move,
                  new_opportunity, refty_candidates, refty_emulator, refty_summary,
                  reset_emulators, step_key, writes)

LEVER = None
REFTY = None

# Exit statuses; stable, never renumbered.
OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)

COMMANDS = ("sync", "backfill", "status", "explain", "retry", "check", "lever", "refty", "auth",
            "help")

GOOD_RULE = util.DEFAULT_RULES[0]
DESIGN_RULE = {
	"name": "design",
	"jobs": [UNCOVERED_JOB],
	"sequence": "Design references",
	"stages": [("Reference check", "References")],
	"language": "fr",
}


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def line_of(path, needle, after=1):
	"""The number of the first line at or after line `after` of the file that contains
	needle."""
	with open(path, encoding="utf-8") as f:
		for number, line in enumerate(f, 1):
			if number >= after and needle in line:
				return number
	raise AssertionError("%r not in %s" % (needle, path))


def json_lines(text):
	"""Every line of text parsed as JSON (each must be an object)."""
	out = []
	for line in text.splitlines():
		obj = json.loads(line)
		if not isinstance(obj, dict):
			raise AssertionError("not a JSON object: %r" % line)
		out.append(obj)
	return out


class CommandTestCase(unittest.TestCase):
	maxDiff = None
	config = {}

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		self.ws = Workspace(LEVER, REFTY, **self.config)
		self.addCleanup(self.ws.cleanup)

	def run_ok(self, *args, expect=OK, **kwargs):
		result = self.ws.run(*args, **kwargs)
		self.assertEqual(result.rc, expect, result)
		return result

	def assertNoSecrets(self, result, *secrets):
		for secret in (LEVER_KEY, REFTY_KEY) + secrets:
			self.assertNotIn(secret, result.out)
			self.assertNotIn(secret, result.err)

	def assertNoWrites(self):
		self.assertEqual(writes(LEVER), [])
		self.assertEqual(writes(REFTY), [])


# -- 9. check --online ---------------------------------------------------------------------------

class CheckOnline(CommandTestCase):
	def test_good_configuration_prints_the_resolved_rules(self):
		self.ws.write_config(rules=[GOOD_RULE, DESIGN_RULE])
		result = self.run_ok("check", "--online")
		self.assertIn("is valid, and every job, stage, sequence and language resolves",
		              result.out)
		for value in (util.POSTINGS["Senior Backend Engineer"], util.POSTINGS[UNCOVERED_JOB],
		              util.STAGES["Phone screen"], util.STAGES["References"], SEQUENCE_ID,
		              SELF_ASSESSMENT, REFERENCE_CHECK, "seq_b3d85f21", "stg_e2c7a604",
		              "'engineering'", "'design'"):
			self.assertIn(value, result.out)
		self.assertNoWrites()
		self.assertNoSecrets(result)

	def test_each_value_that_does_not_resolve_is_reported_with_its_line(self):
		cases = [
			# (what, rule, key reported, bad value, text locating its line)
			("Lever stage", dict(GOOD_RULE, stages=[("Self-assessment", "Phone screem"),
			                                        ("Reference check", "References")]),
			 "rules[0].stages", "Phone screem", '"Phone screem"'),
			("posting title", dict(GOOD_RULE, jobs=["Senior Backend Engineer",
			                                        "Chief Vibes Officer"]),
			 "rules[0].jobs", "Chief Vibes Officer", '"Chief Vibes Officer"'),
			("Refty sequence", dict(GOOD_RULE, sequence="Sales references"),
			 "rules[0].sequence", "Sales references", '"Sales references"'),
			("Refty stage", dict(GOOD_RULE, stages=[("Self-assessment", "Phone screen"),
			                                        ("Reference chek", "References")]),
			 "rules[0].stages", "Reference chek", '"Reference chek"'),
			("language", dict(GOOD_RULE, language="xx"), "rules[0].language", "xx", '"xx"'),
		]
		for what, rule, key, value, needle in cases:
			with self.subTest(what=what):
				self.ws.write_config(rules=[rule])
				path = self.ws.config_path
				line = line_of(path, needle)
				result = self.run_ok("check", "--online", expect=USAGE)
				pattern = (re.escape("%s:%d: %s" % (path, line, key)) + r"[^\s:]*: .*"
				           + re.escape("'%s'" % value))
				self.assertRegex(result.err, pattern)
				self.assertNotIn("resolves", result.out)
				# No verdict of "valid" ahead of the errors.
				self.assertNotIn("is valid", result.out)

	def test_every_unresolvable_value_is_reported_in_one_run(self):
		"""All of them, as for offline errors: not only those of the first kind found."""
		self.ws.write_config(rules=[
			dict(GOOD_RULE, jobs=["No Such Job"], language="xx"),
			dict(DESIGN_RULE, stages=[("Reference check", "Referencez")], language="qq"),
		])
		path = self.ws.config_path
		result = self.run_ok("check", "--online", expect=USAGE)
		design = line_of(path, '"design"')
		for line, value in ((line_of(path, '"No Such Job"'), "No Such Job"),
		                    (line_of(path, '"xx"'), "xx"),
		                    (line_of(path, '"Referencez"', design), "Referencez"),
		                    (line_of(path, '"qq"', design), "qq")):
			with self.subTest(value=value):
				self.assertRegex(result.err, re.escape("%s:%d: " % (path, line)) + r".*"
				                 + re.escape("'%s'" % value))


class CheckJson(CommandTestCase):
	def test_valid_offline_prints_the_rules_as_written(self):
		result = self.run_ok("check", "--json")
		obj = json.loads(result.out)
		self.assertEqual((obj["config"], obj["valid"], obj["online"], obj["exit_status"],
		                  obj["errors"]), (self.ws.config_path, True, False, OK, []))
		[rule] = obj["rules"]
		self.assertEqual((rule["name"], rule["jobs"], rule["sequence"], rule["language"]),
		                 ("engineering", [util.COVERED_JOB], "Engineering references", "en"))
		self.assertEqual([(st["lever"], st["refty"]) for st in rule["stages"]],
		                 [("Phone screen", "Self-assessment"), ("References", "Reference check")])
		self.assertEqual(rule["line"], line_of(self.ws.config_path, '"engineering"') - 1)
		self.assertNotIn("resolved", rule)
		self.assertNoWrites()

	def test_online_adds_what_lever_and_refty_resolved(self):
		obj = json.loads(self.run_ok("check", "--online", "--json").out)
		self.assertTrue(obj["valid"] and obj["online"])
		resolved = obj["rules"][0]["resolved"]
		self.assertEqual(resolved["postings"], [{"id": util.POSTINGS[util.COVERED_JOB],
		                                         "title": util.COVERED_JOB}])
		self.assertEqual(resolved["sequence"], {"id": SEQUENCE_ID,
		                                        "name": "Engineering references"})
		self.assertEqual([(st["lever_stage_id"], st["refty_stage_id"], st["type"])
		                  for st in resolved["stages"]],
		                 [(util.STAGES["Phone screen"], SELF_ASSESSMENT, "self_assessment"),
		                  (util.STAGES["References"], REFERENCE_CHECK, "reference_check")])

	def test_each_error_is_an_object_and_still_on_stderr_with_the_same_status(self):
		path = self.ws.config_path
		with open(path, "a", encoding="utf-8") as f:
			f.write("max_actions_typo = 1;\nlever_extra = 2;\n")
		plain = self.run_ok("check", expect=USAGE)
		result = self.run_ok("check", "--json", expect=USAGE)
		obj = json.loads(result.out)
		self.assertEqual((obj["valid"], obj["exit_status"], obj["rules"]), (False, USAGE, []))
		self.assertEqual(obj["errors"], [
			{"file": path, "line": line_of(path, "max_actions_typo"), "key": "max_actions_typo",
			 "message": "unknown key"},
			{"file": path, "line": line_of(path, "lever_extra"), "key": "lever_extra",
			 "message": "unknown key"},
		])
		for e in obj["errors"]:
			self.assertIn("%s:%d: %s: %s" % (e["file"], e["line"], e["key"], e["message"]),
			              result.err)
		# The same lines but for their time prefix (stderr is not a terminal here).
		untimed = lambda text: re.sub(r"(?m)^\S+Z ", "", text)  # noqa: E731
		self.assertEqual(untimed(plain.err), untimed(result.err))

	def test_syntax_errors_and_unreadable_secrets_are_errors_too(self):
		path = self.ws.config_path
		result = self.run_ok("check", "--json", env={util.REFTY_KEY_ENV: ""}, expect=USAGE)
		[err] = json.loads(result.out)["errors"]
		self.assertEqual((err["key"], err["line"]),
		                 ("refty.api_key_env", line_of(path, util.REFTY_KEY_ENV)))
		self.assertIn("is not set", err["message"])
		with open(path, "a", encoding="utf-8") as f:
			f.write("state = ;\n")
		[err] = json.loads(self.run_ok("check", "--json", expect=USAGE).out)["errors"]
		self.assertEqual((err["key"], err["line"]), ("syntax", line_of(path, "state = ;")))

	def test_online_errors_are_listed_with_their_lines(self):
		self.ws.write_config(rules=[dict(GOOD_RULE, jobs=["No Such Job"], language="xx")])
		path = self.ws.config_path
		obj = json.loads(self.run_ok("check", "--online", "--json", expect=USAGE).out)
		self.assertFalse(obj["valid"])
		self.assertEqual([(e["key"], e["line"]) for e in obj["errors"]],
		                 [("rules[0].jobs", line_of(path, '"No Such Job"')),
		                  ("rules[0].language", line_of(path, '"xx"'))])
		self.assertIn("'No Such Job'", obj["errors"][0]["message"])


# -- 10. lever and refty listings ----------------------------------------------------------------

class Listings(CommandTestCase):
	def test_lever_stages_as_text_and_json(self):
		text = self.run_ok("lever", "stages")
		rows = text.out.splitlines()
		for sid, name in lever_emulator.DEFAULT_STAGES:
			self.assertTrue(any(r.split()[0] == sid and r.endswith(" " + name) for r in rows),
			                (sid, name, text))
		as_json = self.run_ok("lever", "stages", "--json")
		got = [(o["id"], o["name"]) for o in json_lines(as_json.out)]
		self.assertEqual(got, list(lever_emulator.DEFAULT_STAGES))
		self.assertNoWrites()

	def test_lever_postings_as_text_and_json(self):
		# Without confidential access Lever shows the postings that are not confidential.
		want = {p[0]: p[1] for p in lever_emulator.DEFAULT_POSTINGS if not p[3]}
		text = self.run_ok("lever", "postings")
		rows = text.out.splitlines()
		for pid, title in want.items():
			self.assertTrue(any(r.split()[0] == pid and r.endswith(" " + title) for r in rows),
			                (pid, title, text))
		as_json = self.run_ok("lever", "postings", "--json")
		objs = json_lines(as_json.out)
		self.assertEqual({o["id"]: o["name"] for o in objs}, want)
		self.assertEqual(len(objs), len(want))

	def test_refty_sequences_as_text_and_json(self):
		text = self.run_ok("refty", "sequences")
		for seq in refty_emulator.DEFAULT_SEQUENCES:
			self.assertIn(seq["id"], text.out)
			self.assertIn(seq["name"], text.out)
			for stage in seq["stages"]:
				self.assertRegex(text.out, re.escape(stage["name"]) + r"\s+"
				                 + re.escape(stage["type"]) + r"\s+" + re.escape(stage["id"]))
		as_json = self.run_ok("refty", "sequences", "--json")
		got = json_lines(as_json.out)
		want = [{"id": s["id"], "name": s["name"],
		         "stages": [{k: st[k] for k in ("id", "name", "type")} for st in s["stages"]]}
		        for s in refty_emulator.DEFAULT_SEQUENCES]
		self.assertEqual([{"id": o["id"], "name": o["name"],
		                   "stages": [{k: st[k] for k in ("id", "name", "type")}
		                              for st in o["stages"]]} for o in got], want)
		self.assertNoWrites()

	def test_refty_languages_as_text_and_json(self):
		text = self.run_ok("refty", "languages")
		self.assertEqual(text.out.splitlines(), list(refty_emulator.DEFAULT_LANGUAGES))
		as_json = self.run_ok("refty", "languages", "--json")
		self.assertEqual([o["language"] for o in json_lines(as_json.out)],
		                 list(refty_emulator.DEFAULT_LANGUAGES))
		self.assertNoWrites()

	def test_discovery_needs_only_the_service_it_asks(self):
		# Before any rule is written: only the group of the service a listing asks is needed.
		lever_only = ("lever: {\n  url = %s;\n  api_key_env = %s;\n};\n"
		              % (json.dumps(LEVER.base_url), json.dumps(util.LEVER_KEY_ENV)))
		refty_only = ("refty: {\n  url = %s;\n  api_key_env = %s;\n};\nrules = ();\n"
		              % (json.dumps(REFTY.base_url), json.dumps(util.REFTY_KEY_ENV)))
		cases = ((lever_only, ("lever", "stages"), lever_emulator.DEFAULT_STAGES[0][0]),
		         (lever_only, ("lever", "postings"), lever_emulator.DEFAULT_POSTINGS[0][0]),
		         (refty_only, ("refty", "sequences"), refty_emulator.DEFAULT_SEQUENCES[0]["id"]),
		         (refty_only, ("refty", "languages"), refty_emulator.DEFAULT_LANGUAGES[0]))
		for text, args, want in cases:
			with self.subTest(args=args):
				path = os.path.join(self.ws.dir, "discovery.conf")
				fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
				with os.fdopen(fd, "w") as f:
					f.write(text)
				result = self.run_ok(*args, config=path)
				self.assertIn(want, result.out)
		# Everything else still wants the whole configuration, and says what is missing.
		for args, missing in ((("check",), "missing list 'rules'"),
		                      (("sync",), "missing group 'refty'"),
		                      (("refty", "sequences"), "missing group 'refty'")):
			with self.subTest(args=args):
				path = os.path.join(self.ws.dir, "lever-only.conf")
				fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
				with os.fdopen(fd, "w") as f:
					f.write(lever_only)
				result = self.run_ok(*args, config=path, expect=USAGE)
				self.assertIn(missing, result.err)
		self.assertNoWrites()

	def test_wrong_lever_key_is_a_remote_error_saying_what_to_check(self):
		wrong = "not-the-lever-key-4711"
		for listing in ("stages", "postings"):
			with self.subTest(listing=listing):
				result = self.run_ok("lever", listing, env={util.LEVER_KEY_ENV: wrong},
				                     expect=REMOTE)
				self.assertIn("401", result.err)
				self.assertRegex(result.err, r"check .*key")
				# Where the key was set, as the configuration says it.
				self.assertIn("lever.api_key_env: $%s (line " % util.LEVER_KEY_ENV, result.err)
				self.assertNoSecrets(result, wrong)

	def test_wrong_refty_key_is_a_remote_error_saying_what_to_check(self):
		wrong = "not-the-refty-key-4711"
		result = self.run_ok("refty", "sequences", env={util.REFTY_KEY_ENV: wrong},
		                     expect=REMOTE)
		self.assertRegex(result.err, r"check .*key")
		self.assertIn("refty.api_key_env: $%s (line " % util.REFTY_KEY_ENV, result.err)
		self.assertNotIn("refty.api_key and", result.err)
		self.assertNoSecrets(result, wrong)

	def test_unknown_listing_is_a_usage_error(self):
		for args in (("lever", "candidates"), ("refty", "stages"), ("lever",), ("refty",),
		             ("refty", "languages", "sequences"),
		             ("lever", "stages", "postings")):
			with self.subTest(args=args):
				result = self.run_ok(*args, expect=USAGE)
				self.assertIn("usage: refty-lever %s" % args[0], result.err)
		self.assertEqual(LEVER.requests(), [])
		self.assertEqual(REFTY.requests(), [])


# -- 11. status ----------------------------------------------------------------------------------

class Status(CommandTestCase):
	def empty_state(self):
		"""A 0-byte state file: what a first run finds after an interrupted start (a missing
		state is an error for status: test_storage.py)."""
		os.makedirs(os.path.dirname(self.ws.state))
		open(self.ws.state, "w").close()

	def test_status_before_any_run(self):
		self.empty_state()
		text = self.run_ok("status")
		self.assertIn("cursor:    none", text.out)
		self.assertIn("never", text.out)
		status = json.loads(self.run_ok("status", "--json").out)
		self.assertIsNone(status["cursor"])
		self.assertEqual(status["snapshot_size"], 0)
		self.assertEqual(status["runs"], [])
		self.assertIsNone(status["oldest_pending"])
		self.assertEqual(set(status["actions"].values()), {0})
		self.assertEqual(LEVER.requests(), [])
		self.assertEqual(REFTY.requests(), [])

	def test_status_counts_actions_by_state_and_lists_runs(self):
		# Design candidates fail at Refty (unsupported language) and what follows them
		# waits; an engineering candidate without an email waits for one.
		self.ws.write_config(rules=[GOOD_RULE, dict(DESIGN_RULE, language="xx")])
		self.ws.sync("--seed")
		fine = new_opportunity(LEVER)
		no_email = new_opportunity(LEVER, stage="Phone screen", emails=[])
		designer = new_opportunity(LEVER, job=UNCOVERED_JOB, stage="References")
		result = self.ws.sync()
		self.assertEqual(result.rc, PARTIAL, result)

		status = json.loads(self.run_ok("status", "--json").out)
		self.assertEqual(status["snapshot_size"], 3)
		self.assertIsInstance(status["cursor"], str)
		self.assertIsInstance(status["last_successful_sync"], str)
		self.assertEqual(status["actions"], {"pending": 1, "waiting_email": 1, "done": 2,
		                                     "failed": 1, "skipped": 0, "abandoned": 0})
		oldest = status["oldest_pending"]
		self.assertEqual((oldest["kind"], oldest["opportunity_id"]), ("send_step", designer))
		self.assertEqual([(r["command"], r["exit_status"], r["finished"]) for r in status["runs"]],
		                 [("sync", PARTIAL, True), ("sync", OK, True)])
		self.assertEqual(status["runs"][0]["failed"], 1)
		self.assertEqual(status["runs"][0]["waiting_email"], 1)

		text = self.run_ok("status").out
		self.assertIn("(3 opportunities)", text)
		self.assertIn("1 pending, 1 waiting for email, 1 failed, 2 done", text)
		self.assertRegex(text, r"oldest pending: #\d+ send_step for " + re.escape(designer))
		self.assertIn("retry --all", text)
		self.assertEqual(len(re.findall(r"^\s+#\d+\s+sync\s", text, re.M)), 2, text)
		for opp in (fine, no_email):
			self.assertNotIn(opp, text)

	def test_max_age(self):
		self.ws.sync("--seed")
		self.run_ok("status", "--max-age", "1h")
		self.run_ok("status", "--max-age", "1d")
		fresh = json.loads(self.run_ok("status", "--json", "--max-age", "2h").out)
		self.assertFalse(fresh["stale"])
		time.sleep(1.2)
		stale = self.run_ok("status", "--max-age", "1s", expect=PARTIAL)
		self.assertIn("older", stale.err)
		as_json = self.ws.run("status", "--json", "--max-age", "1s")
		self.assertEqual(as_json.rc, PARTIAL, as_json)
		self.assertTrue(json.loads(as_json.out)["stale"])
		self.run_ok("status", "--max-age", "90s")

	def test_max_age_without_any_sync_is_stale(self):
		self.empty_state()
		self.run_ok("status", "--max-age", "1h", expect=PARTIAL)

	def test_max_age_takes_compound_durations(self):
		self.ws.sync("--seed")
		self.run_ok("status", "--max-age", "1h30m")
		self.run_ok("status", "--max-age", "1d12h30m15s")
		time.sleep(1.2)
		stale = self.run_ok("status", "--max-age", "0m1s", expect=PARTIAL)
		self.assertIn("older", stale.err)

	def test_max_age_that_overflows_is_refused_not_wrapped(self):
		# 200000000000 days in milliseconds is past INT64_MAX; it once wrapped and turned the
		# staleness check off (exit 0 on a state that never synced, where 1 is due).
		for text in ("200000000000d", "99999999999999999999s", "106751991167d23h", "3651d"):
			with self.subTest(duration=text):
				result = self.run_ok("status", "--max-age", text, expect=USAGE)
				self.assertIn("--max-age: value '%s' is out of range 1s..3650d" % text,
				              result.err)
		os.makedirs(os.path.dirname(self.ws.state))
		open(self.ws.state, "w").close()  # there, and never synced
		self.run_ok("status", "--max-age", "3650d", expect=PARTIAL)

	def test_malformed_duration_is_a_usage_error(self):
		for text in ("abc", "1x", "0", "-5m", "", "5mm", "1.5h", "h", "2 h"):
			with self.subTest(duration=text):
				result = self.run_ok("status", "--max-age", text, expect=USAGE)
				self.assertIn("--max-age", result.err)


# -- 12. explain ---------------------------------------------------------------------------------

class Explain(CommandTestCase):
	def test_unknown_id_is_a_usage_error_naming_it(self):
		self.ws.sync("--seed")
		unknown = "00000000-0000-4000-8000-000000000000"
		result = self.run_ok("explain", unknown, expect=USAGE)
		self.assertIn("no opportunity '%s'" % unknown, result.err)
		self.assertIn("Check the id", result.err)
		self.assertEqual(result.out, "")

	def test_unknown_id_before_any_run(self):
		os.makedirs(os.path.dirname(self.ws.state))
		open(self.ws.state, "w").close()
		result = self.run_ok("explain", "00000000-0000-4000-8000-000000000000", expect=USAGE)
		self.assertIn("no opportunity", result.err)
		self.assertEqual(os.path.getsize(self.ws.state), 0)

	def test_known_id_shows_rule_journal_keys_and_refty_ids(self):
		self.ws.sync("--seed")
		opp = new_opportunity(LEVER, name="Grace Hopper")
		self.ws.sync()
		entered = move(LEVER, opp, "Phone screen")
		self.ws.sync()
		[cand] = refty_candidates(REFTY)
		[step] = cand["steps"]
		result = self.run_ok("explain", opp)
		out = result.out
		self.assertIn("Grace Hopper", out)
		self.assertIn("Phone screen", out)
		self.assertIn("rules: 'engineering'", out)
		self.assertIn("Engineering references", out)
		self.assertIn("key: " + candidate_key(opp), out)
		self.assertIn("key: " + step_key(opp, SELF_ASSESSMENT, entered), out)
		self.assertIn(cand["id"], out)
		self.assertIn(step["id"], out)
		self.assertEqual(out.count("from sync"), 2, out)
		self.assertIn("create_candidate done", out)
		self.assertIn("send_step done", out)

	def test_uncovered_job_says_no_rule_covers_it(self):
		self.ws.sync("--seed")
		opp = new_opportunity(LEVER, job=UNCOVERED_JOB)
		self.ws.sync()
		result = self.run_ok("explain", opp)
		self.assertIn("none covers job '%s'" % UNCOVERED_JOB, result.out)
		obj = json.loads(self.run_ok("explain", "--json", opp).out)
		self.assertEqual((obj["rule"]["verdict"], obj["rule"]["name"], obj["journal"]),
		                 ("not_covered", None, []))
		self.assertEqual(obj["snapshot"]["posting_title"], UNCOVERED_JOB)

	def test_json_has_the_row_the_rule_the_quarantine_and_every_journal_entry(self):
		self.ws.sync("--seed")
		opp = new_opportunity(LEVER, name="Grace \"Amazing\" Hopper")
		self.ws.sync()
		entered = move(LEVER, opp, "Phone screen")
		self.ws.sync()
		[cand] = refty_candidates(REFTY)
		[step] = cand["steps"]
		result = self.run_ok("explain", "--json", opp)
		self.assertEqual(result.out.count("\n"), 1, "one object on one line")
		obj = json.loads(result.out)
		self.assertEqual(obj["opportunity"], opp)
		snap = obj["snapshot"]
		self.assertEqual((snap["name"], snap["stage_id"], snap["stage_name"], snap["posting_id"],
		                  snap["archived"], snap["has_email"]),
		                 ('Grace "Amazing" Hopper', util.STAGES["Phone screen"], "Phone screen",
		                  util.POSTINGS[util.COVERED_JOB], False, True))
		rule = obj["rule"]
		self.assertEqual((rule["verdict"], rule["name"], rule["sequence_id"], rule["language"],
		                  rule["blocked"]), ("covered", "engineering", SEQUENCE_ID, "en", None))
		self.assertEqual([st["refty_stage_id"] for st in rule["stages"]],
		                 [SELF_ASSESSMENT, REFERENCE_CHECK])
		self.assertEqual(obj["quarantine"], {"quarantined": False, "error": None})
		journal = obj["journal"]
		self.assertEqual([(a["kind"], a["state"], a["key"], a["refty_id"], a["origin"])
		                  for a in journal],
		                 [("create_candidate", "done", candidate_key(opp), cand["id"], "sync"),
		                  ("send_step", "done", step_key(opp, SELF_ASSESSMENT, entered),
		                   step["id"], "sync")])
		ids = [a["id"] for a in self.ws.actions(opportunity_id=opp)]
		self.assertEqual([a["id"] for a in journal], ids)
		self.assertEqual((journal[1]["lever_stage_name"], journal[1]["refty_stage_name"],
		                  journal[1]["attempts"], journal[1]["last_error"]),
		                 ("Phone screen", "Self-assessment", 1, None))
		for field in ("created_at", "updated_at", "entered_at"):
			self.assertRegex(journal[1][field], r"^\d{4}-\d\d-\d\dT")

	def test_json_of_an_unknown_id_is_the_same_error(self):
		self.ws.sync("--seed")
		unknown = "00000000-0000-4000-8000-000000000000"
		result = self.run_ok("explain", "--json", unknown, expect=USAGE)
		self.assertIn("no opportunity '%s'" % unknown, result.err)
		self.assertEqual(result.out, "")


# -- 13. retry -----------------------------------------------------------------------------------

class Retry(CommandTestCase):
	def fail_one(self):
		"""An enrolment Refty refuses for good (an unsupported language): returns the
		opportunity id and its failed journal entry, after checking status shows it."""
		self.ws.write_config(rules=[dict(GOOD_RULE, language="xx")])
		self.ws.sync("--seed")
		opp = new_opportunity(LEVER)
		failing = self.ws.sync()
		self.assertEqual(failing.rc, PARTIAL, failing)
		[action] = self.ws.actions(opportunity_id=opp)
		self.assertEqual((action["key"], action["state"]), (candidate_key(opp), "failed"))
		self.assertIn("422", action["last_error"])
		status = json.loads(self.run_ok("status", "--json").out)
		self.assertEqual(status["actions"]["failed"], 1)
		[failed] = status["failed"]
		self.assertEqual((failed["id"], failed["kind"], failed["opportunity_id"], failed["key"]),
		                 (action["id"], "create_candidate", opp, candidate_key(opp)))
		self.assertIn("422", failed["error"])
		text = self.run_ok("status").out
		self.assertIn("1 failed", text)
		# Which one, and why: what retry needs.
		self.assertRegex(text, r"#%d create_candidate for %s: .*422" % (action["id"], opp))

		requeued = self.run_ok("retry", "--all")
		self.assertIn("re-queued 1 failed action", requeued.out)
		[again] = self.ws.actions(opportunity_id=opp)
		self.assertEqual((again["id"], again["state"]), (action["id"], "pending"))
		self.assertEqual(json.loads(self.run_ok("status", "--json").out)["actions"]["failed"], 0)
		REFTY.control("DELETE", "/requests")
		return opp, action

	def assertPerformedOnce(self, opp, action, result, language):
		[post] = [e for e in writes(REFTY) if e["method"] == "POST"]
		self.assertEqual(post["idempotency_key"], candidate_key(opp))
		self.assertEqual(post["body"]["language"], language,
		                 "the re-queued create was sent as it was planned, not as the "
		                 "configuration now says")
		self.assertEqual(post["status"], 201, post)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.keys("done"), [candidate_key(opp)], result)
		[after] = self.ws.actions(opportunity_id=opp)
		self.assertEqual((after["id"], after["key"], after["state"]),
		                 (action["id"], candidate_key(opp), "done"))
		self.assertEqual(refty_summary(REFTY)["candidates"], 1)

	def test_failed_action_is_requeued_and_performed_after_fixing_the_rule(self):
		opp, action = self.fail_one()
		self.ws.write_config(rules=[GOOD_RULE])
		self.assertPerformedOnce(opp, action, self.ws.sync(), "en")

	def test_failed_action_is_requeued_and_performed_once_refty_accepts_it(self):
		opp, action = self.fail_one()
		REFTY.control("POST", "/languages", {"languages": ["en", "xx"]})
		self.addCleanup(REFTY.control, "POST", "/languages",
		                {"languages": refty_emulator.DEFAULT_LANGUAGES})
		self.assertPerformedOnce(opp, action, self.ws.sync(), "xx")

	def test_retry_of_given_ids(self):
		self.ws.write_config(rules=[dict(GOOD_RULE, language="xx")])
		self.ws.sync("--seed")
		first = new_opportunity(LEVER)
		second = new_opportunity(LEVER)
		self.ws.sync()
		[a1] = self.ws.actions(opportunity_id=first)
		[a2] = self.ws.actions(opportunity_id=second)
		result = self.run_ok("retry", str(a1["id"]))
		self.assertIn("re-queued 1 failed action", result.out)
		self.assertEqual(self.ws.actions(opportunity_id=first)[0]["state"], "pending")
		self.assertEqual(self.ws.actions(opportunity_id=second)[0]["state"], "failed")
		self.assertEqual(a2["state"], "failed")

	def test_retry_of_an_action_that_has_not_failed_warns(self):
		self.ws.sync("--seed")
		opp = new_opportunity(LEVER)
		self.ws.sync()
		[done] = self.ws.actions(opportunity_id=opp)
		self.assertEqual(done["state"], "done")
		result = self.run_ok("retry", str(done["id"]))
		self.assertIn("re-queued 0", result.out)
		self.assertIn("action #%d is done, not failed" % done["id"], result.err)
		self.assertEqual(self.ws.actions(opportunity_id=opp), [done])

	def test_retry_of_an_unknown_id_is_an_error_naming_it(self):
		self.ws.write_config(rules=[dict(GOOD_RULE, language="xx")])
		self.ws.sync("--seed")
		opp = new_opportunity(LEVER)
		self.ws.sync()
		[failed] = self.ws.actions(opportunity_id=opp)
		result = self.run_ok("retry", str(failed["id"]), "12345", expect=USAGE)
		self.assertIn("no action #12345", result.err)
		self.assertEqual(result.out, "")
		# Nothing is re-queued, not even the id that was right.
		self.assertEqual(self.ws.actions(opportunity_id=opp), [failed])

	def test_retry_id_out_of_range_is_refused_not_clamped(self):
		for ident in ("99999999999999999999", "9223372036854775808", "0"):
			with self.subTest(id=ident):
				result = self.run_ok("retry", ident, expect=USAGE)
				self.assertIn("action id: value '%s' is out of range 1..9223372036854775807"
				              % ident, result.err)
		self.assertFalse(os.path.exists(self.ws.state))

	def test_json_names_requeued_unknown_and_not_failed_ids(self):
		self.ws.write_config(rules=[dict(GOOD_RULE, language="xx")])
		self.ws.sync("--seed")
		first = new_opportunity(LEVER)
		second = new_opportunity(LEVER)
		self.ws.sync()
		[a1] = self.ws.actions(opportunity_id=first)
		[a2] = self.ws.actions(opportunity_id=second)
		unknown = self.run_ok("retry", "--json", str(a1["id"]), "12345", expect=USAGE)
		self.assertEqual(json.loads(unknown.out), {"requeued": [], "unknown": [12345],
		                                           "not_failed": [], "quarantined": []})
		self.assertIn("no action #12345", unknown.err)
		self.assertEqual(self.ws.actions(opportunity_id=first), [a1])
		one = self.run_ok("retry", "--json", str(a1["id"]), str(a1["id"]))
		self.assertEqual(json.loads(one.out), {"requeued": [a1["id"]], "unknown": [],
		                                       "not_failed": [], "quarantined": []})
		again = self.run_ok("retry", "--json", str(a1["id"]))
		self.assertEqual(json.loads(again.out)["not_failed"], [{"id": a1["id"],
		                                                        "state": "pending"}])
		self.assertIn("is pending, not failed", again.err)
		every = self.run_ok("retry", "--json", "--all")
		self.assertEqual(json.loads(every.out)["requeued"], [a2["id"]])
		self.assertEqual(self.ws.actions(opportunity_id=second)[0]["state"], "pending")

	def test_retry_needs_ids_or_all(self):
		for args in ((), ("--all", "3"), ("abc",), ("0",), ("--bogus",)):
			with self.subTest(args=args):
				result = self.run_ok("retry", *args, expect=USAGE)
				self.assertIn("usage: refty-lever retry", result.err)
		self.assertFalse(os.path.exists(self.ws.state))


# -- timeouts and retries from the configuration --------------------------------------------------

class Timeouts(CommandTestCase):
	"""lever.timeout and friends reach the clients: a service slower than the configured limit
	is a remote error that names the keys, and the default limits wait for it."""

	def slow(self, emulator, seconds=3):
		emulator.settings(latency=seconds)
		self.addCleanup(emulator.settings, latency=0)

	def test_a_slow_lever_beyond_lever_timeout_is_a_remote_error_naming_the_keys(self):
		self.ws.write_config(lever_settings={"timeout": '"1s"', "max_attempts": 1})
		self.slow(LEVER)
		result = self.run_ok("lever", "stages", expect=REMOTE)
		self.assertRegex(result.err, r"timed out|Timeout")
		self.assertIn("lever.connect_timeout is 10s and lever.timeout 1s, with 1 attempt "
		              "(lever.max_attempts 1, lever.max_retry_time 2m)", result.err)
		self.assertEqual(result.out, "")

	def test_a_sync_against_a_slow_lever_stops_with_a_remote_error_and_moves_nothing(self):
		self.ws.sync("--seed")
		cursor = self.ws.meta("cursor")
		new_opportunity(LEVER)
		self.ws.write_config(lever_settings={"timeout": 1, "max_attempts": 1})
		self.slow(LEVER)
		result = self.ws.sync()
		self.assertEqual(result.rc, REMOTE, result)
		self.assertIn("lever.timeout 1s", result.err)
		self.assertEqual(self.ws.meta("cursor"), cursor)
		self.assertEqual(writes(REFTY), [])

	def test_max_attempts_is_how_often_lever_is_asked(self):
		self.ws.write_config(lever_settings={"timeout": 1, "max_attempts": 2,
		                                     "max_retry_time": '"1m"'})
		self.slow(LEVER)
		result = self.run_ok("lever", "stages", expect=REMOTE)
		self.assertIn("gave up after retrying", result.err)
		self.assertIn("with 2 attempts (lever.max_attempts 2, lever.max_retry_time 1m)",
		              result.err)

	def test_a_slow_refty_beyond_refty_timeout_is_a_remote_error_naming_the_keys(self):
		self.ws.write_config(refty_settings={"timeout": 1, "max_attempts": 1})
		self.slow(REFTY)
		result = self.run_ok("refty", "sequences", expect=REMOTE)
		self.assertIn("refty.timeout 1s, with 1 attempt (refty.max_attempts 1", result.err)
		self.assertNotIn("lever.", result.err)

	def test_the_default_timeout_waits_for_a_slow_service(self):
		self.slow(LEVER, seconds=2)
		self.slow(REFTY, seconds=2)
		self.run_ok("lever", "stages")
		self.run_ok("refty", "sequences")
		# The same latency under a limit of 1s fails: the default is what let it through.
		self.ws.write_config(lever_settings={"timeout": 1, "max_attempts": 1})
		self.run_ok("lever", "stages", expect=REMOTE)


# -- 14. usage -----------------------------------------------------------------------------------

class Quiet(CommandTestCase):
	def quiet_sync(self):
		proc = subprocess.run([util.BINARY, "-q", "-c", self.ws.config_path, "sync"],
		                      capture_output=True, text=True, env=self.ws.env, timeout=60)
		return proc.returncode, proc.stdout, proc.stderr

	def test_quiet_sync_says_nothing_when_nothing_happened_and_reports_news(self):
		self.ws.sync("--seed")
		rc, out, err = self.quiet_sync()
		self.assertEqual((rc, out, err), (OK, "", ""), "a -q sync with nothing to do is silent")
		plain = self.run_ok("sync")
		self.assertIn("sync: done (exit 0): seen", plain.out,
		              "without -q the summary is always printed")
		opp = new_opportunity(LEVER)
		rc, out, err = self.quiet_sync()
		self.assertEqual(rc, OK, err)
		# -q leaves standard output empty even when it acted: only what needs a person is
		# shown (on stderr), so cron mails only that.
		self.assertEqual((out, err), ("", ""), "a -q sync that went well is silent")
		self.assertEqual(self.ws.actions(opportunity_id=opp)[0]["state"], "done")


class Numbers(CommandTestCase):
	def test_max_actions_out_of_range_is_refused_not_clamped(self):
		for command in ("sync", "backfill"):
			for value in ("99999999999999999999", "100000001", "-1"):
				with self.subTest(command=command, value=value):
					result = self.run_ok(command, "--max-actions", value, expect=USAGE)
					self.assertIn("--max-actions: value '%s' is out of range 0..100000000"
					              % value, result.err)
			for value in ("abc", "1e3", " 5", "0x10", ""):
				with self.subTest(command=command, value=value):
					result = self.run_ok(command, "--max-actions", value, expect=USAGE)
					self.assertIn("--max-actions: expected a whole number in 0..100000000, "
					              "got '%s'" % value, result.err)
		self.assertFalse(os.path.exists(self.ws.state))
		self.assertEqual(LEVER.requests(), [])

	def test_max_actions_at_the_limit_is_taken(self):
		self.ws.sync("--seed")
		self.run_ok("sync", "--max-actions", "100000000")
		self.run_ok("sync", "--max-actions", "0")

	def test_since_takes_a_date_or_a_utc_time(self):
		for value in ("2026-13-01", "2023-02-29", "1969-12-31", "2026-01-02T10:00:00",
		              "yesterday"):
			with self.subTest(value=value):
				result = self.run_ok("backfill", "--dry-run", "--since", value, expect=USAGE)
				self.assertIn("--since: expected a date as YYYY-MM-DD", result.err)
		for value in ("2026-01-02", "2026-01-02T10:00:00Z"):
			with self.subTest(value=value):
				self.run_ok("backfill", "--dry-run", "--since", value)


class Usage(CommandTestCase):
	def test_every_command_has_help(self):
		for command in COMMANDS:
			for flag in ("--help", "-h"):
				with self.subTest(command=command, flag=flag):
					result = self.run_ok(command, flag)
					self.assertTrue(result.out.startswith("usage: refty-lever %s " % command),
					                result)
		for args in (("--help",), ("-h",)):
			result = self.run_ok(*args)
			self.assertTrue(result.out.startswith("usage: refty-lever"), result)
			for command in COMMANDS:
				self.assertRegex(result.out, r"\n  %s\s" % command)
		version = self.run_ok("--version")
		self.assertRegex(version.out, r"^refty-lever \d+\.\d+")
		# A bug report needs the libraries too.
		self.assertRegex(version.out, r"libcurl/\d.*json-c \d.*libconfig \d.*SQLite \d")
		self.assertEqual(LEVER.requests(), [])
		self.assertEqual(REFTY.requests(), [])

	def test_help_command(self):
		overview = self.run_ok("help")
		self.assertIn("Commands:", overview.out)
		for command in COMMANDS:
			with self.subTest(command=command):
				if command == "help":
					continue
				got = self.run_ok("help", command)
				self.assertEqual(got.out, self.run_ok(command, "--help").out)
		result = self.run_ok("help", "snyc", expect=USAGE)
		self.assertIn("did you mean 'sync'?", result.err)

	def test_a_mistyped_command_gets_a_suggestion(self):
		for typo, meant in (("statu", "status"), ("backfil", "backfill"), ("chekc", "check"),
		                    ("retyr", "retry")):
			with self.subTest(typo=typo):
				result = self.run_ok(typo, expect=USAGE)
				self.assertIn("unknown command '%s': did you mean '%s'?" % (typo, meant),
				              result.err)
		result = self.run_ok("frobnicate", expect=USAGE)
		self.assertNotIn("did you mean", result.err)
		self.assertIn("'refty-lever help' lists them", result.err)

	def test_global_options_work_anywhere_on_the_line(self):
		self.ws.sync("--seed")
		before = subprocess.run([util.BINARY, "-q", "-c", self.ws.config_path, "status", "--json"],
		                        capture_output=True, text=True, env=self.ws.env)
		self.assertEqual(before.returncode, OK, before)
		for args in (["status", "--json", "-q", "-c", self.ws.config_path],
		             ["status", "-c", self.ws.config_path, "--json", "--quiet"],
		             ["status", "--config=" + self.ws.config_path, "-qq", "--json"],
		             ["status", "--log-format", "json", "--json", "-c" + self.ws.config_path]):
			with self.subTest(args=args):
				got = subprocess.run([util.BINARY] + args, capture_output=True, text=True,
				                     env=self.ws.env)
				self.assertEqual(got.returncode, OK, got)
				self.assertEqual(json.loads(got.stdout)["state"], json.loads(before.stdout)["state"])
		# The command's own options stay its own, and "--" ends the options.
		got = subprocess.run([util.BINARY, "explain", "-c", self.ws.config_path, "--", "-v"],
		                     capture_output=True, text=True, env=self.ws.env)
		self.assertEqual(got.returncode, USAGE, got)
		self.assertIn("'-v'", got.stderr)

	def test_help_needs_no_configuration(self):
		missing = os.path.join(self.ws.dir, "no-such.conf")
		for command in COMMANDS:
			with self.subTest(command=command):
				result = self.ws.run(command, "--help", config=missing)
				self.assertEqual(result.rc, OK, result)

	def test_unknown_command_or_option_is_a_usage_error(self):
		cases = [("frobnicate",), ("--frobnicate", "status"), ()]
		cases += [(command, "--frobnicate") for command in COMMANDS]
		for args in cases:
			with self.subTest(args=args):
				result = self.run_ok(*args, expect=USAGE)
				self.assertIn("usage: refty-lever", result.err)
				self.assertEqual(result.out, "")
		self.assertEqual(LEVER.requests(), [])
		self.assertEqual(REFTY.requests(), [])
		self.assertFalse(os.path.exists(self.ws.state))


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
