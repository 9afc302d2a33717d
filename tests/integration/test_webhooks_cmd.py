#!/usr/bin/env python3
"""End-to-end tests of `webhooks register | list | delete` against the Lever emulator's
/v1/webhooks: register creates the four webhooks serve acts on and stores exactly their
signature tokens (mode 0600) where serve reads them, without ever printing one; a second run
creates nothing; a webhook whose token is not stored is replaced; list and delete agree with
the emulator; a token source refty-lever cannot write is refused before anything is created;
--dry-run creates nothing.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_webhooks_cmd.py   (or pass the path as the
first argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import json
import os
import stat
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import Workspace, reset_emulators  # noqa: E402
from harness import LEVER_KEY, basic_auth, http_request  # noqa: E402

LEVER = None
REFTY = None

OK, PARTIAL, USAGE, REMOTE, LOCAL = range(5)
EVENTS = ["candidateStageChange", "applicationCreated", "candidateArchiveChange",
          "candidateDeleted"]
URL = "http://127.0.0.1:8722/lever/webhook"


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def hooks():
	"""The emulator's webhooks, as its API lists them."""
	return http_request("GET", LEVER.base_url + "/webhooks",
	                         headers=basic_auth(LEVER_KEY)).json()["data"]


def webhook_writes():
	return [e for e in LEVER.requests() if e["path"].startswith("/v1/webhooks")
	        and e["method"] in ("POST", "DELETE")]


class WebhooksTestCase(unittest.TestCase):
	maxDiff = None

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		LEVER.control("POST", "/webhooks/reset")
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)
		os.makedirs(os.path.dirname(self.ws.state))  # the directory, not a seeded state
		self.tokens_path = self.ws.state + ".webhook-tokens"

	def stored(self, path=None):
		with open(path or self.tokens_path) as f:
			return [line for line in f.read().splitlines() if line and not line.startswith("#")]

	def register(self, *args, url=URL):
		return self.ws.run("webhooks", "register", "--url", url, *args, verbose=2)

	def assert_no_token_in(self, result):
		for hook in hooks():
			self.assertNotIn(hook["configuration"]["signatureToken"], result.out + result.err)

	def test_register_creates_the_four_and_stores_exactly_their_tokens(self):
		result = self.register()
		self.assertEqual(result.rc, OK, result)
		listed = hooks()
		self.assertEqual(sorted(h["event"] for h in listed), sorted(EVENTS))
		self.assertEqual({h["url"] for h in listed}, {URL})
		self.assertEqual(sorted(self.stored()),
		                 sorted(h["configuration"]["signatureToken"] for h in listed))
		self.assertEqual(stat.S_IMODE(os.stat(self.tokens_path).st_mode), 0o600)
		self.assert_no_token_in(result)
		self.assertEqual(result.out.count("created "), 4, result.out)
		self.assertIn("Super Admin", result.out)
		self.assertIn("Settings > Integrations and API >\nWebhooks", result.out)
		self.assertIn("signature token option", result.out)
		self.assertIn("SIGHUP", result.out)
		self.assertIn(self.tokens_path, result.out)
		# The state itself was neither needed nor created.
		self.assertFalse(os.path.exists(self.ws.state))

	def test_twice_creates_nothing_new(self):
		self.assertEqual(self.register().rc, OK)
		before, tokens = hooks(), self.stored()
		LEVER.control("DELETE", "/requests")
		again = self.register()
		self.assertEqual(again.rc, OK, again)
		self.assertEqual(hooks(), before)
		self.assertEqual(self.stored(), tokens)
		self.assertEqual(webhook_writes(), [])
		self.assertEqual(again.out.count("kept "), 4, again.out)
		self.assertIn("nothing to change", again.out)

	def test_a_create_that_lost_its_answer_is_not_sent_again_and_the_next_run_mends_it(self):
		# The third POST reaches Lever, which creates the webhook, but its answer is lost.
		LEVER.fault(path="/v1/webhooks", kind="reset", process=True, methods=["POST"], after=2,
		            count=1)
		self.addCleanup(LEVER.control, "DELETE", "/faults")
		result = self.register()
		self.assertEqual(result.rc, REMOTE, result)
		posts = [e for e in webhook_writes() if e["method"] == "POST"]
		self.assertEqual(len(posts), 3, posts)  # not repeated: it would make a second webhook
		self.assertIn("may have created it", result.err)
		self.assertIn("webhooks register' again", result.err)
		self.assertIn("2 signature tokens stored", result.out)
		self.assertIn("not made", result.out)
		self.assertEqual(len(self.stored()), 2)
		self.assertEqual(len(hooks()), 3)
		again = self.register()
		self.assertEqual(again.rc, OK, again)
		self.assertIn("replaced  candidateArchiveChange", again.out)
		self.assertEqual(sorted(h["event"] for h in hooks()), sorted(EVENTS))
		self.assertEqual(sorted(self.stored()),
		                 sorted(h["configuration"]["signatureToken"] for h in hooks()))

	def test_a_webhook_whose_token_is_not_stored_is_replaced(self):
		self.assertEqual(self.register().rc, OK)
		by_event = {h["event"]: h for h in hooks()}
		lost = by_event["candidateDeleted"]
		with open(self.tokens_path) as f:
			text = f.read()
		kept = text.replace(lost["configuration"]["signatureToken"] + "\n", "")
		kept = kept.replace("# webhook %s " % lost["id"], "# a note ")
		with open(self.tokens_path, "w") as f:
			f.write(kept)
		result = self.register()
		self.assertEqual(result.rc, OK, result)
		after = {h["event"]: h for h in hooks()}
		self.assertEqual(len(hooks()), 4)
		self.assertNotEqual(after["candidateDeleted"]["id"], lost["id"])
		self.assertEqual(after["candidateStageChange"]["id"], by_event["candidateStageChange"]["id"])
		self.assertEqual(sorted(self.stored()),
		                 sorted(h["configuration"]["signatureToken"] for h in hooks()))
		self.assertIn("replaced ", result.out)
		self.assertIn("not stored", result.out)

	def test_list_shows_every_webhook_and_whether_its_token_is_stored(self):
		self.assertEqual(self.register().rc, OK)
		other = http_request("POST", LEVER.base_url + "/webhooks",
		                          {"event": "candidateHired", "url": "https://elsewhere.example/h"},
		                          headers=basic_auth(LEVER_KEY)).json()["data"]
		result = self.ws.run("webhooks", "list", "--json", verbose=2)
		self.assertEqual(result.rc, OK, result)
		rows = [json.loads(line) for line in result.out.splitlines()]
		want = [{"id": h["id"], "event": h["event"], "url": h["url"],
		         "token_stored": h["id"] != other["id"]} for h in hooks()]
		self.assertEqual(rows, want)
		self.assert_no_token_in(result)
		text = self.ws.run("webhooks", "list")
		self.assertEqual(text.rc, OK, text)
		self.assertEqual(text.out.count("stored"), 4, text.out)
		self.assertEqual(text.out.count("missing"), 1, text.out)
		self.assertIn(other["id"], text.out)
		# Listing writes nothing.
		self.assertEqual([e for e in webhook_writes() if e["method"] == "DELETE"], [])

	def test_delete_removes_the_webhooks_and_their_tokens(self):
		self.assertEqual(self.register().rc, OK)
		other = http_request("POST", LEVER.base_url + "/webhooks",
		                          {"event": "candidateHired", "url": "https://elsewhere.example/h"},
		                          headers=basic_auth(LEVER_KEY)).json()["data"]
		dry = self.ws.run("webhooks", "delete", "--dry-run")
		self.assertEqual(dry.rc, OK, dry)
		self.assertEqual(len(hooks()), 5)
		self.assertEqual(dry.out.count("to delete"), 4, dry.out)
		result = self.ws.run("webhooks", "delete", verbose=2)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual([h["id"] for h in hooks()], [other["id"]])  # not ours: kept
		self.assertEqual(self.stored(), [])
		self.assertEqual(result.out.count("\ndeleted "), 3, result.out)
		self.assertTrue(result.out.startswith("deleted "), result.out)
		self.assertIn("SIGHUP", result.out)
		by_url = self.ws.run("webhooks", "delete", "--url", "https://elsewhere.example/h")
		self.assertEqual(by_url.rc, OK, by_url)
		self.assertEqual(hooks(), [])

	def test_tokens_written_by_hand_are_recognised_by_their_value(self):
		self.assertEqual(self.register().rc, OK)
		tokens = self.stored()
		with open(self.tokens_path, "w") as f:
			f.write("\n".join(tokens) + "\n")  # no comments naming the webhooks
		listed = self.ws.run("webhooks", "list", "--json")
		self.assertEqual([json.loads(line)["token_stored"] for line in listed.out.splitlines()],
		                 [True] * 4, listed)
		LEVER.control("DELETE", "/requests")
		again = self.register()
		self.assertEqual(again.rc, OK, again)
		self.assertEqual(webhook_writes(), [])
		deleted = self.ws.run("webhooks", "delete")
		self.assertEqual(deleted.rc, OK, deleted)
		self.assertEqual(hooks(), [])
		self.assertEqual(self.stored(), [])

	def test_a_token_source_it_cannot_write_is_refused_before_anything_is_created(self):
		for key, value in (("signature_tokens_env", '"WEBHOOK_TOKENS"'),
		                   ("signature_tokens_command", '"cat /dev/null"')):
			self.ws.write_config(extra="webhooks: { %s = %s; };\n" % (key, value))
			for args in (("register", "--url", URL), ("delete",)):
				result = self.ws.run("webhooks", *args)
				self.assertEqual(result.rc, USAGE, result)
				self.assertIn("webhooks." + key, result.err)
				self.assertIn("signature_tokens_file", result.err)
		self.assertEqual(LEVER.requests(), [])
		self.assertEqual(hooks(), [])

	def test_the_configured_token_file_is_the_one_written(self):
		path = os.path.join(self.ws.dir, "tokens", "webhook-tokens")
		self.ws.write_config(extra='webhooks: { signature_tokens_file = "%s"; };\n' % path)
		missing = self.register()
		self.assertEqual(missing.rc, LOCAL, missing)
		self.assertIn("does not exist", missing.err)
		self.assertEqual(hooks(), [])
		os.makedirs(os.path.dirname(path))
		result = self.register()
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(sorted(self.stored(path)),
		                 sorted(h["configuration"]["signatureToken"] for h in hooks()))
		self.assertFalse(os.path.exists(self.tokens_path))
		self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

	def test_dry_run_creates_nothing(self):
		result = self.register("--dry-run")
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(hooks(), [])
		self.assertEqual(webhook_writes(), [])
		self.assertFalse(os.path.exists(self.tokens_path))
		self.assertEqual(result.out.count("to create"), 4, result.out)
		self.assertIn("dry run", result.out)

	def test_without_the_state_directory_nothing_is_created(self):
		os.rmdir(os.path.dirname(self.ws.state))
		result = self.register()
		self.assertEqual(result.rc, LOCAL, result)
		self.assertIn("does not exist", result.err)
		self.assertIn("sync --seed", result.err)
		self.assertEqual(LEVER.requests(), [])

	def test_usage(self):
		for args, what in ((("register",), "--url"),
		                   (("register", "--url", "http://example.com/h"), "plain http"),
		                   (("register", "--url", "ftp://example.com/h"), "https://"),
		                   (("list", "--url", URL), "list takes only --json"),
		                   (("delete", "--json"), "--json"),
		                   (("remove",), "unknown subcommand"),
		                   ((), "expected one of")):
			result = self.ws.run("webhooks", *args)
			self.assertEqual(result.rc, USAGE, (args, result))
			self.assertIn(what, result.err, args)
		self.assertEqual(LEVER.requests(), [])


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
