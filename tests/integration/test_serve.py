#!/usr/bin/env python3
"""End-to-end tests of `serve`: Lever's webhook deliveries (from the Lever emulator, signed as
Lever signs them) are hints that start a targeted sync of one opportunity at once, through the
same journal as a poll; the poll underneath catches what a lost delivery never announced.
Refused deliveries (bad signature, stale, replayed, malformed, too large, wrong method or path)
fetch nothing. SIGHUP reloads the tokens and keeps serving on a broken configuration; SIGTERM
exits 0.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_serve.py   (or pass the path as the first
argument). Both emulators run once for the whole file on ephemeral loopback ports.
"""

import collections
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import util  # noqa: E402
from util import (SELF_ASSESSMENT, Workspace, candidate_key, move, new_opportunity,  # noqa: E402
                  opportunity_view, reset_emulators, step_key, wait_until, writes)
from harness import LEVER_KEY, basic_auth, http_request  # noqa: E402

LEVER = None
REFTY = None

OK, PARTIAL, USAGE, REMOTE, LOCAL, LOCKED, VALVE = range(7)
EVENTS = ("candidateStageChange", "applicationCreated", "candidateArchiveChange",
          "candidateDeleted")


def setUpModule():
	global LEVER, REFTY
	LEVER, REFTY = util.start_emulators()


def tearDownModule():
	util.stop_emulators(LEVER, REFTY)


def entry_ms(opportunity_id):
	return util.stage_entry_ms(LEVER, opportunity_id)


def effects_per_key():
	return collections.Counter(util.effects_per_key(REFTY))


def sign(signature_token, token, triggered_at):
	return hmac.new(signature_token.encode(), (token + str(triggered_at)).encode(),
	                hashlib.sha256).hexdigest()


def webhooks_group(tokens_file, max_age=300, poll_interval=3600):
	return ('webhooks: {\n  listen = "127.0.0.1:8722";\n  path = "/lever/webhook";\n'
	        '  signature_tokens_file = %s;\n  max_age = %d;\n  poll_interval = %d;\n};\n'
	        % (json.dumps(tokens_file), max_age, poll_interval))


class ServeTestCase(unittest.TestCase):
	maxDiff = None
	poll_interval = "1h"  # the poll underneath, unless a test needs it

	def setUp(self):
		reset_emulators(LEVER, REFTY)
		LEVER.control("POST", "/webhooks/reset")
		self.ws = Workspace(LEVER, REFTY)
		self.addCleanup(self.ws.cleanup)
		self.tokens_file = os.path.join(self.ws.dir, "webhook-tokens")
		self.ws.write_config(extra=webhooks_group(self.tokens_file))
		result = self.ws.sync("--seed")
		self.assertEqual(result.rc, OK, result)
		self.proc = None

	def start_serving(self, *args):
		"""Starts serve on a free port, registers the four webhooks at it with 'webhooks
		register' (which stores their tokens) and reloads serve; returns the delivery URL."""
		with open(self.tokens_file, "w") as f:
			f.write("# placeholder until the webhooks exist\nnot-yet-a-token\n")
		os.chmod(self.tokens_file, 0o600)
		self.proc = self.ws.start("serve", "--listen", "127.0.0.1:0", "--poll-interval",
		                          self.poll_interval, *args, verbose=2)
		self.addCleanup(lambda: self.proc.running() and self.proc.kill())
		found = wait_until(lambda: re.search(r"webhooks on (http://127\.0\.0\.1:\d+)(/\S+),",
		                                     self.proc.err_so_far()), what="serve listening")
		self.root, path = found.group(1), found.group(2)
		self.url = self.root + path
		registered = self.ws.run("webhooks", "register", "--url", self.url)
		self.assertEqual(registered.rc, OK, registered)
		hooks = http_request("GET", LEVER.base_url + "/webhooks",
		                     headers=basic_auth(LEVER_KEY)).json()["data"]
		by_event = {h["event"]: h["configuration"]["signatureToken"] for h in hooks}
		self.assertEqual(sorted(by_event), sorted(EVENTS))
		self.tokens = [by_event[event] for event in EVENTS]
		self.reload("configuration reloaded")
		wait_until(lambda: self.healthz().status == 200, what="the first poll")
		LEVER.control("DELETE", "/requests")
		REFTY.control("DELETE", "/requests")
		return self.url

	def reload(self, expect):
		before = self.proc.err_so_far().count(expect)
		self.proc.proc.send_signal(signal.SIGHUP)
		wait_until(lambda: self.proc.err_so_far().count(expect) > before, what=expect)

	def healthz(self):
		return http_request("GET", self.root + "/healthz")

	def stop(self):
		self.proc.proc.send_signal(signal.SIGTERM)
		result = self.proc.wait()
		self.assertEqual(result.rc, OK, result)
		return result

	def fetches(self):
		return [e for e in LEVER.requests() if e["method"] == "GET"
		        and re.match(r"^/v1/opportunities/[^/]+$", e["path"])
		        and e["path"] != "/v1/opportunities/deleted"]

	def delivery(self, token_index=0, opportunity_id="x", age_ms=0, token=None, signature=None,
	             event="candidateStageChange"):
		at = int(time.time() * 1000) - age_ms
		token = token or os.urandom(24).hex()
		body = {"triggeredAt": at, "event": event, "token": token,
		        "signature": signature or sign(self.tokens[token_index], token, at),
		        "data": {"opportunityId": opportunity_id}}
		return body


class Deliveries(ServeTestCase):
	def test_a_move_reaches_refty_through_its_webhook_once(self):
		self.start_serving()
		opp = new_opportunity(LEVER, emails=["s@example.com"], name="Served")
		at = move(LEVER, opp, "Phone screen")
		keys = {candidate_key(opp), step_key(opp, SELF_ASSESSMENT, at)}
		wait_until(lambda: keys <= set(effects_per_key()), what="the step at Refty")
		# Lever sends it again (a retry after a lost answer, a duplicate): nothing more.
		sent_ms = int(time.time() * 1000)
		body = self.delivery(0, opp)
		self.assertEqual(http_request("POST", self.url, body).status, 200)
		self.assertEqual(http_request("POST", self.url, body).status, 401)  # a replay
		# How many looks Lever's own two deliveries took depends on timing: wait for one
		# that began after the duplicate was taken, whichever hint it came from.
		wait_until(lambda: any(f["wall_ms"] >= sent_ms for f in self.fetches()),
		           what="a look after the duplicate")
		result = self.stop()
		self.assertEqual(dict(effects_per_key()), {k: 1 for k in keys})
		runs = self.ws.query("SELECT exit_code, interrupted_by, seen FROM runs "
		                     "WHERE command = 'webhook'")
		self.assertTrue(runs)
		# A hint still waiting when SIGTERM came is left to the next poll: its run stops
		# before it fetches and says so (partial, interrupted); every other run succeeded.
		for r in runs:
			if r["exit_code"] != OK:
				self.assertEqual((r["exit_code"], r["interrupted_by"], r["seen"]),
				                 (PARTIAL, "SIGTERM", 0), runs)
		for token in self.tokens:
			self.assertNotIn(token, result.out + result.err)

	def test_refused_deliveries_fetch_nothing(self):
		self.start_serving()
		opp = new_opportunity(LEVER, emails=["r@example.com"])
		wait_until(self.fetches, what="the look its applicationCreated delivery asked for")
		LEVER.control("DELETE", "/requests")
		cases = [
			("wrong token", self.delivery(signature=sign("not-a-token", "t" * 48, 1)), 401),
			("stale", self.delivery(0, opp, age_ms=301 * 1000), 401),
			("future", self.delivery(0, opp, age_ms=-120 * 1000), 401),
			("not json", b"{not json", 400),
			("no signature", {"triggeredAt": 1, "token": "t", "data": {}}, 400),
		]
		for what, body, status in cases:
			with self.subTest(case=what):
				self.assertEqual(http_request("POST", self.url, body).status, status)
		good = self.delivery(0, opp)
		tampered = dict(good, data={"opportunityId": opp}, signature=good["signature"][::-1])
		self.assertEqual(http_request("POST", self.url, tampered).status, 401)
		big = b'{"pad": "' + b"x" * (65 * 1024) + b'"}'
		self.assertEqual(http_request("POST", self.url, big).status, 413)
		self.assertEqual(http_request("GET", self.url).status, 405)
		self.assertEqual(http_request("POST", self.root + "/elsewhere", good).status, 404)
		ping = dict(self.delivery(1), data={})
		self.assertEqual(http_request("POST", self.url, ping).status, 200)
		time.sleep(0.5)  # room for a wrong fetch to happen
		self.assertEqual(self.fetches(), [])
		self.stop()

	def test_a_burst_for_one_opportunity_is_one_look(self):
		self.start_serving()
		opp = new_opportunity(LEVER, emails=["b@example.com"])
		LEVER.settings(latency=0.3)  # the first look is slow: the burst arrives meanwhile
		self.addCleanup(LEVER.settings, latency=0)
		LEVER.control("DELETE", "/requests")
		for _ in range(10):
			self.assertEqual(http_request("POST", self.url, self.delivery(0, opp)).status, 200)
		wait_until(lambda: self.fetches(), what="a look")
		time.sleep(1.0)
		self.assertLessEqual(len(self.fetches()), 2, self.fetches())
		self.stop()

	def test_a_dropped_delivery_is_caught_by_the_poll(self):
		self.poll_interval = "2s"
		self.start_serving()
		LEVER.control("POST", "/webhooks/faults", {"drop": 1.0})
		opp = new_opportunity(LEVER, emails=["d@example.com"])
		at = move(LEVER, opp, "Phone screen")
		key = step_key(opp, SELF_ASSESSMENT, at)
		wait_until(lambda: key in effects_per_key(), what="the poll to send the step")
		self.assertEqual(self.fetches(), [], "no delivery arrived, so no look")
		self.stop()
		self.assertEqual(effects_per_key()[key], 1)

	def test_healthz_follows_the_poll(self):
		self.poll_interval = "1s"
		self.start_serving()
		self.assertEqual(self.healthz().status, 200)
		LEVER.fault(path="/v1/opportunities", kind="503", count=100000, retry_after=0)
		self.addCleanup(LEVER.control, "DELETE", "/faults")
		wait_until(lambda: self.healthz().status == 503, timeout=30, what="503 after failed polls")
		LEVER.control("DELETE", "/faults")
		wait_until(lambda: self.healthz().status == 200, timeout=30, what="200 again")
		self.stop()


class Lifecycle(ServeTestCase):
	def test_sighup_with_a_broken_config_keeps_serving(self):
		self.start_serving()
		with open(self.ws.config_path, "a") as f:
			f.write("webhooks = broken\n")
		self.reload("still running with the configuration")
		opp = new_opportunity(LEVER, emails=["h@example.com"])
		at = move(LEVER, opp, "Phone screen")
		key = step_key(opp, SELF_ASSESSMENT, at)
		wait_until(lambda: key in effects_per_key(), what="the step after the broken reload")
		self.stop()

	def test_sighup_takes_new_tokens(self):
		self.start_serving()
		body = self.delivery(2, "someone")
		with open(self.tokens_file, "w") as f:
			f.write("\n".join(self.tokens[:2]) + "\n")  # the third webhook was deleted
		self.reload("configuration reloaded")
		self.assertEqual(http_request("POST", self.url, body).status, 401)
		self.stop()

	def test_sigterm_finishes_the_work_in_flight(self):
		self.start_serving()
		REFTY.settings(latency=0.5)
		self.addCleanup(REFTY.settings, latency=0)
		opp = new_opportunity(LEVER, emails=["t@example.com"])
		at = move(LEVER, opp, "Phone screen")
		wait_until(lambda: [e for e in writes(REFTY) if e["method"] == "POST"] or
		           [e for e in REFTY.requests() if e["method"] == "POST"], what="a Refty request")
		result = self.stop()
		journal = {a["key"]: a["state"] for a in self.ws.actions(opp)}
		arrived = {e["idempotency_key"] for e in writes(REFTY)}
		for key in arrived:
			self.assertEqual(journal.get(key), "done", (key, journal, result))
		# What was left is sent by the next run, once.
		REFTY.settings(latency=0)
		again = self.ws.sync()
		self.assertEqual(again.rc, OK, again)
		self.assertEqual(effects_per_key()[step_key(opp, SELF_ASSESSMENT, at)], 1)

	def test_without_tokens_it_does_not_start(self):
		os.unlink(self.tokens_file) if os.path.exists(self.tokens_file) else None
		result = self.ws.run("serve", "--listen", "127.0.0.1:0")
		self.assertEqual(result.rc, USAGE, result)
		self.assertIn("webhooks register", result.err)

	def test_usage(self):
		for args, what in ((("--listen", "nowhere"), "--listen"),
		                   (("--poll-interval", "0s"), "--poll-interval"),
		                   (("extra",), "unexpected argument")):
			result = self.ws.run("serve", *args)
			self.assertEqual(result.rc, USAGE, result)
			self.assertIn(what, result.err)


if __name__ == "__main__":
	util.take_binary_argument()
	unittest.main()
