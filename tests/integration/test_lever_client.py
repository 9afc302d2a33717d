#!/usr/bin/env python3
"""The Lever client (src/lever.c, http.c, oauth.c) against the Lever emulator, through lever-probe.

The probe comes from $LEVER_PROBE or the first command-line argument. Each test talks to an
emulator on 127.0.0.1 and checks both what the probe printed and what the emulator saw.
"""

import base64
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))

from harness import LEVER_CONFIDENTIAL_KEY, LEVER_KEY, Emulator, http_request  # noqa: E402

PROBE = os.environ.get("LEVER_PROBE")
INVALID_OFFSET = {"code": "BadRequestError",
                  "message": "Invalid offset token: Offset token is invalid for sort"}
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret-0123456789"

# Exit statuses of the probe: enum lever_status.
OK, AUTH, REMOTE, DATA, DRY_RUN, CANCELLED, LOCAL = range(7)
CRASHED = 99


def check_sanitizers(err):
	"""Fails on AddressSanitizer, LeakSanitizer or UBSan reports (when built with them)."""
	for marker in ("Sanitizer", "runtime error:"):
		if err and marker in err:
			raise AssertionError("sanitizer report from lever-probe:\n" + err[-5000:])


class Result:
	def __init__(self, proc):
		self.rc = proc.returncode
		self.out = proc.stdout
		self.err = proc.stderr
		check_sanitizers(self.err)
		lines = self.out.splitlines()
		self.summary = {}
		if lines and lines[-1].startswith("summary "):
			for item in lines[-1].split()[1:]:
				key, _, value = item.partition("=")
				self.summary[key] = int(value) if value.isdigit() else value
			lines = lines[:-1]
		self.lines = lines

	@property
	def ids(self):
		return [line.split()[0] for line in self.lines if line]

	def __repr__(self):
		return "rc=%s\nstdout:\n%s\nstderr:\n%s" % (self.rc, self.out[-3000:], self.err[-3000:])


def probe(*args, stdin=None, timeout=120):
	proc = subprocess.run([PROBE] + [str(a) for a in args], input=stdin, capture_output=True,
	                      text=True, timeout=timeout)
	return Result(proc)


def fast(*args):
	"""Options that keep retries quick: backoff from 20 ms instead of 500 ms."""
	return ["--backoff-base", "0.02"] + list(args)


class LeverTestCase(unittest.TestCase):
	emulator_args = ()

	@classmethod
	def setUpClass(cls):
		cls.lever = Emulator("lever", *cls.emulator_args).start()

	@classmethod
	def tearDownClass(cls):
		cls.lever.stop()

	def setUp(self):
		self.lever.control("DELETE", "/faults")
		self.lever.control("DELETE", "/requests")
		self.mark = 0

	def communicate(self, proc, input=None, timeout=30):
		out, err = proc.communicate(input=input, timeout=timeout)
		check_sanitizers(err)
		return out, err

	def requests(self, path=None):
		entries = self.lever.requests(self.mark)
		if path is not None:
			entries = [e for e in entries if e["path"] == path]
		return entries

	def all_ids(self):
		result = probe("--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.lever.control("DELETE", "/requests")
		return result.ids

	def assertExactlyOnce(self, ids, expected):
		self.assertEqual(len(ids), len(set(ids)), "duplicates delivered")
		self.assertEqual(sorted(ids), sorted(expected))


class Paging(LeverTestCase):
	emulator_args = ("--opportunities", 430, "--rate", 0)

	def test_each_opportunity_exactly_once(self):
		result = probe("--key", LEVER_KEY, "--page-size", 100, "list-opportunities",
		               self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(len(result.ids), 430)
		self.assertEqual(len(set(result.ids)), 430)
		self.assertEqual(result.summary["pages"], 5)
		pages = self.requests("/v1/opportunities")
		self.assertEqual(len(pages), 5)
		# The same query on every page, plus the offset token from the previous one.
		first = pages[0]["query"]
		self.assertNotIn("offset", first)
		self.assertEqual(first["limit"], ["100"])
		self.assertEqual(first["expand"], ["applications"])
		for entry in pages[1:]:
			rest = {k: v for k, v in entry["query"].items() if k != "offset"}
			self.assertEqual(rest, first)
			self.assertIn("offset", entry["query"])

	def test_filters_are_sent(self):
		result = probe("--key", LEVER_CONFIDENTIAL_KEY, "--confidential", "--updated-since",
		               1000, "--posting", "dcaf3197-a999-4834-b1ae-8bcf5b10b4af", "--posting",
		               "19f44f8d-dcff-4716-86ca-245644f7688f", "list-opportunities",
		               self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		query = self.requests("/v1/opportunities")[0]["query"]
		self.assertEqual(query["confidentiality"], ["all"])
		self.assertEqual(query["updated_at_start"], ["1000"])
		self.assertEqual(sorted(query["posting_id"]), ["19f44f8d-dcff-4716-86ca-245644f7688f",
		                                               "dcaf3197-a999-4834-b1ae-8bcf5b10b4af"])

	def test_offset_rejected_midway_restarts_without_duplicates(self):
		expected = self.all_ids()
		# The third page's token is refused, as Lever does when a token goes stale.
		self.lever.fault(path="/v1/opportunities", kind="400", body=INVALID_OFFSET, after=2,
		                 count=1)
		result = probe("--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.summary["restarts"], 1)
		self.assertExactlyOnce(result.ids, expected)
		pages = self.requests("/v1/opportunities")
		# 2 pages, the refused one, then all 5 again from the first page.
		self.assertEqual(len(pages), 8)
		self.assertNotIn("offset", pages[3]["query"])
		self.assertIn("Lever rejected the offset token", result.err)

	def test_offset_tokens_invalidated_during_listing(self):
		expected = self.all_ids()
		self.lever.settings(latency=0.02)
		try:
			proc = subprocess.Popen([PROBE, "--key", LEVER_KEY, "--page-size", "10",
			                         "list-opportunities", self.lever.base_url],
			                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
			deadline = time.monotonic() + 30
			while len(self.requests("/v1/opportunities")) < 5 and time.monotonic() < deadline:
				time.sleep(0.01)
			self.lever.control("POST", "/invalidate-offsets")
			out, err = self.communicate(proc, timeout=60)
		finally:
			self.lever.settings(latency=0)
		result = Result(subprocess.CompletedProcess([], proc.returncode, out, err))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.summary["restarts"], 1)
		self.assertExactlyOnce(result.ids, expected)

	def test_restarts_are_bounded(self):
		# Every second page is refused: page 1, page 2 (refused), page 1, page 2 (refused)...
		for after in (1, 3, 5, 7):
			self.lever.fault(path="/v1/opportunities", kind="400", body=INVALID_OFFSET,
			                 after=after, count=1)
		result = probe("--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, REMOTE, result)
		self.assertEqual(len(self.requests("/v1/opportunities")), 8)
		self.assertIn("rejected the offset token 4 times", result.err)

	def test_other_400_is_not_a_restart(self):
		self.lever.fault(path="/v1/opportunities", kind="400", after=1, count=1,
		                 body={"code": "BadRequestError", "message": "Invalid limit"})
		result = probe("--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, REMOTE, result)
		self.assertEqual(len(self.requests("/v1/opportunities")), 2)
		self.assertIn("400 Bad Request: BadRequestError: Invalid limit", result.err)

	def test_parallel_listings(self):
		result = probe("--key", LEVER_KEY, "--parallel", 4, "--rate", 50, "--burst", 10,
		               "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.lines, ["thread=%d count=430 status=ok" % i for i in range(4)])
		self.assertEqual(len(self.requests("/v1/opportunities")), 4 * 5)

	def test_cancel_stops_listing(self):
		result = probe("--key", LEVER_KEY, "--cancel-after", 150, "list-opportunities",
		               self.lever.base_url)
		self.assertEqual(result.rc, CANCELLED, result)
		self.assertEqual(len(result.ids), 150)
		self.assertEqual(len(self.requests("/v1/opportunities")), 2)

	def test_stages_postings_deleted(self):
		result = probe("--key", LEVER_KEY, "list-stages", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertIn("offer\tOffer", result.lines)
		result = probe("--key", LEVER_KEY, "list-postings", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertIn("dcaf3197-a999-4834-b1ae-8bcf5b10b4af\tpublished\tSenior Backend Engineer",
		              result.lines)
		victim = self.all_ids()[0]
		self.lever.control("POST", "/opportunities/%s/delete" % victim, {})
		result = probe("--key", LEVER_KEY, "list-deleted", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertIn(victim, result.ids)


class Faults(LeverTestCase):
	emulator_args = ("--opportunities", 250, "--rate", 0)

	def test_429_storm_is_retried(self):
		expected = self.all_ids()
		self.lever.fault(path="/v1/opportunities", kind="429", after=1, count=4)
		result = probe(*fast("--key", LEVER_KEY, "-v", "list-opportunities", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertExactlyOnce(result.ids, expected)
		self.assertEqual(self.lever.stats()["status_429"], 4)
		self.assertIn("429 Too Many Requests", result.err)  # each retry logged at debug

	def test_retry_after_is_honoured(self):
		self.lever.fault(path="/v1/stages", kind="503", count=1, retry_after=0)
		result = probe("--key", LEVER_KEY, "-v", "list-stages", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertIn("in 0.00 s", result.err)

	def test_5xx_storm_is_retried(self):
		expected = self.all_ids()
		self.lever.fault(path="/v1/opportunities", kind="500", count=1)
		self.lever.fault(path="/v1/opportunities", kind="502", count=1)
		self.lever.fault(path="/v1/opportunities", kind="503", after=3, count=1)
		self.lever.fault(path="/v1/opportunities", kind="504", after=4, count=1)
		self.lever.fault(path="/v1/opportunities", kind="408", after=5, count=1)
		result = probe(*fast("--key", LEVER_KEY, "list-opportunities", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertExactlyOnce(result.ids, expected)
		self.assertEqual(result.summary["requests"], 3 + 5)

	def test_transport_faults_are_retried(self):
		expected = self.all_ids()
		self.lever.fault(path="/v1/opportunities", kind="reset", count=1)
		self.lever.fault(path="/v1/opportunities", kind="truncated", after=2, count=1,
		                 process=True)
		result = probe(*fast("--key", LEVER_KEY, "list-opportunities", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertExactlyOnce(result.ids, expected)

	def test_persistent_5xx_gives_up(self):
		self.lever.fault(path="/v1/stages", kind="503")
		result = probe(*fast("--key", LEVER_KEY, "--max-attempts", 3, "list-stages",
		                     self.lever.base_url))
		self.assertEqual(result.rc, REMOTE, result)
		self.assertEqual(len(self.requests("/v1/stages")), 3)
		self.assertIn("503 Service Unavailable", result.err)

	def test_hang_times_out_and_retries(self):
		self.lever.fault(path="/v1/stages", kind="hang", count=1, seconds=5)
		result = probe(*fast("--key", LEVER_KEY, "--timeout-ms", 300, "list-stages",
		                     self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(len(self.requests("/v1/stages")), 2)

	def test_401_fails_fast(self):
		result = probe(*fast("--key", "wrong-key-1234", "list-opportunities", self.lever.base_url))
		self.assertEqual(result.rc, AUTH, result)
		self.assertEqual(len(self.requests()), 1)
		self.assertIn("401 Unauthorized", result.err)
		self.assertIn("check that the API key is correct", result.err)
		self.assertNotIn("wrong-key-1234", result.err)

	def test_403_fails_fast(self):
		# Confidential records asked for with a key that may not see them.
		result = probe(*fast("--key", LEVER_KEY, "--confidential", "list-opportunities",
		                     self.lever.base_url))
		self.assertEqual(result.rc, AUTH, result)
		self.assertEqual(len(self.requests()), 1)
		self.assertIn("403 Forbidden", result.err)
		self.assertIn("confidential", result.err)

	def test_malformed_json_is_reported(self):
		self.lever.fault(path="/v1/opportunities", kind="garbage", count=1)
		result = probe("--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, DATA, result)
		self.assertIn("malformed page 1", result.err)
		self.assertIn("invalid JSON at byte 0", result.err)
		self.assertEqual(result.ids, [])

	def test_missing_field_is_reported_with_path(self):
		body = {"data": [{"id": "ok-1", "stage": "offer", "createdAt": 1},
		                 {"id": "broken-2", "stage": "offer"}], "hasNext": False}
		self.lever.fault(path="/v1/opportunities", kind="json", body=body, after=1, count=1)
		result = probe("--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, DATA, result)
		self.assertIn("malformed page 2 from '%s/opportunities': data[1].createdAt: missing "
		              "(opportunity 'broken-2')" % self.lever.base_url, result.err)
		self.assertEqual(len(result.ids), 100)  # page 1 only: nothing of the bad page

	def test_mistyped_field_is_reported_with_path(self):
		body = {"data": [{"id": "x", "stage": "offer", "createdAt": 1,
		                  "stageChanges": [{"toStageId": "offer", "updatedAt": "yesterday"}]}]}
		self.lever.fault(path="/v1/opportunities", kind="json", body=body, count=1)
		result = probe("--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, DATA, result)
		self.assertIn("data[0].stageChanges[0].updatedAt: expected an integer, got string",
		              result.err)

	def test_data_not_an_array(self):
		self.lever.fault(path="/v1/stages", kind="json", body={"data": {"id": "x"}}, count=1)
		result = probe("--key", LEVER_KEY, "list-stages", self.lever.base_url)
		self.assertEqual(result.rc, DATA, result)
		self.assertIn("data: expected an array, got object", result.err)


class OddServers(unittest.TestCase):
	"""Answers the emulator cannot give (redirects, huge bodies), from a tiny local server."""

	def serve(self, respond):
		seen = []

		class Handler(http.server.BaseHTTPRequestHandler):
			protocol_version = "HTTP/1.1"

			def do_GET(self):
				seen.append((self.path, self.headers.get("Authorization")))
				respond(self)

			def log_message(self, *args):
				pass

		server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
		server.daemon_threads = True
		thread = threading.Thread(target=server.serve_forever, daemon=True)
		thread.start()
		self.addCleanup(server.server_close)
		self.addCleanup(server.shutdown)
		return "http://127.0.0.1:%d/v1" % server.server_address[1], seen

	@staticmethod
	def redirecting(location):
		def respond(handler):
			if handler.path.startswith("/v1/stages"):
				handler.send_response(302)
				handler.send_header("Location", location)
				handler.send_header("Content-Length", "0")
				handler.end_headers()
				return
			body = b'{"data": [{"id": "s1", "text": "Moved"}], "hasNext": false}'
			handler.send_response(200)
			handler.send_header("Content-Type", "application/json")
			handler.send_header("Content-Length", str(len(body)))
			handler.end_headers()
			handler.wfile.write(body)
		return respond

	def test_same_origin_redirect_is_followed(self):
		url, seen = self.serve(self.redirecting("/v2/stages"))
		result = probe("--key", LEVER_KEY, "list-stages", url)
		self.assertEqual(result.rc, OK, result)
		self.assertIn("s1\tMoved", result.lines)
		self.assertEqual([p for p, _ in seen], ["/v1/stages?limit=100", "/v2/stages"])
		self.assertTrue(all(auth for _, auth in seen))

	def test_redirect_to_another_origin_is_refused(self):
		url, seen = self.serve(self.redirecting("http://localhost:1/steal"))
		result = probe("--key", LEVER_KEY, "list-stages", url)
		self.assertEqual(result.rc, REMOTE, result)
		self.assertIn("refusing to follow a redirect to another origin", result.err)
		self.assertEqual(len(seen), 1)

	def huge(self, with_length):
		size = 17 * 1024 * 1024
		chunk = b" " * (1024 * 1024)

		def respond(handler):
			handler.send_response(200)
			handler.send_header("Content-Type", "application/json")
			if with_length:
				handler.send_header("Content-Length", str(size))
			else:
				handler.send_header("Connection", "close")
				handler.close_connection = True
			handler.end_headers()
			try:
				for _ in range(size // len(chunk)):
					handler.wfile.write(chunk)
			except OSError:
				pass  # the client hung up, as it should
		return respond

	def test_oversized_body_is_refused(self):
		for with_length in (True, False):
			url, seen = self.serve(self.huge(with_length))
			result = probe("--key", LEVER_KEY, "list-stages", url)
			self.assertEqual(result.rc, REMOTE, result)
			self.assertIn("response larger than 16777216 bytes", result.err)
			self.assertEqual(len(seen), 1)  # not retried


class RateLimit(LeverTestCase):
	emulator_args = ("--opportunities", 1500, "--rate", 10, "--burst", 20)

	def test_client_stays_under_the_limit(self):
		self.lever.control("DELETE", "/stats")
		result = probe("--key", LEVER_KEY, "--rate", 10, "--burst", 10, "--page-size", 50,
		               "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(len(set(result.ids)), 1500)
		stats = self.lever.stats()
		self.assertEqual(stats["status_429"], 0, stats)
		self.assertLessEqual(stats["max_requests_1s"], 20, stats)
		self.assertEqual(stats["max_over_allowance_1s"], 0, stats)


class DryRun(LeverTestCase):
	emulator_args = ("--opportunities", 20, "--rate", 0)

	def test_dry_run_sends_no_post(self):
		result = probe("--dry-run", "post", self.lever.base_url)
		self.assertEqual(result.rc, DRY_RUN, result)
		self.assertIn("dry run: refusing POST '%s/opportunities/probe/notes'"
		              % self.lever.base_url, result.err)
		self.assertEqual(self.requests(), [])
		# GETs still go through in a dry run.
		result = probe("--dry-run", "--key", LEVER_KEY, "list-opportunities", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual({e["method"] for e in self.requests()}, {"GET"})

	def test_without_dry_run_the_post_is_sent(self):
		result = probe("post", self.lever.base_url)
		self.assertEqual(result.rc, OK, result)
		self.assertEqual([e["method"] for e in self.requests()], ["POST"])


class OAuthBase(LeverTestCase):
	emulator_args = ("--opportunities", 30, "--rate", 0, "--oauth-client-id", CLIENT_ID,
	                 "--oauth-client-secret", CLIENT_SECRET)

	def setUp(self):
		super().setUp()
		self.lever.control("POST", "/oauth/deny", {"deny": False})
		self.tokens = os.path.join(self.tmp(), "tokens")

	def tmp(self):
		d = tempfile.TemporaryDirectory(prefix="lever-probe-")
		self.addCleanup(d.cleanup)
		return d.name

	def oauth_args(self, *extra):
		return ["--oauth", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
		        "--auth-url", self.lever.root_url, "--token-file", self.tokens,
		        "--backoff-base", "0.02"] + [str(a) for a in extra]

	def read_tokens(self):
		with open(self.tokens, encoding="utf-8") as f:
			return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)

	def write_tokens(self, **changes):
		tokens = self.read_tokens()
		tokens.update({k: str(v) for k, v in changes.items()})
		with open(self.tokens, "w", encoding="utf-8") as f:
			for key, value in tokens.items():
				f.write("%s=%s\n" % (key, value))

	def oauth_counts(self):
		return self.lever.control("GET", "/oauth")

	def start_login(self, *extra):
		proc = subprocess.Popen([PROBE] + self.oauth_args("--login-timeout", "20", *extra) +
		                        ["oauth-login", self.lever.base_url],
		                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
		                        stderr=subprocess.PIPE, text=True)
		line = proc.stdout.readline()
		self.assertTrue(line.startswith("authorize-url "), line)
		return proc, line.split(" ", 1)[1].strip()

	def authorize(self, url):
		"""What a browser does: GET the authorize URL and return where it redirects."""
		res = http_request("GET", url)
		self.assertEqual(res.status, 302, res)
		return res.header("Location")

	def login(self):
		proc, url = self.start_login("-vv")
		location = self.authorize(url)
		page = http_request("GET", location)
		self.assertEqual(page.status, 200)
		self.assertIn(b"authorized", page.body)
		out, err = self.communicate(proc)
		self.assertEqual(proc.returncode, OK, out + err)
		self.assertIn("logged-in", out)
		code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
		return code, err


class OAuth(OAuthBase):
	def test_login_end_to_end(self):
		proc, url = self.start_login()
		params = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
		self.assertEqual(params["client_id"], [CLIENT_ID])
		self.assertEqual(params["response_type"], ["code"])
		self.assertEqual(params["audience"], [self.lever.base_url + "/"])
		self.assertEqual(params["scope"][0].split(), ["offline_access", "opportunities:read:admin",
		                                              "stages:read:admin", "postings:read:admin"])
		self.assertRegex(params["state"][0], "^[0-9a-f]{32}$")
		redirect = urllib.parse.urlsplit(params["redirect_uri"][0])
		self.assertEqual((redirect.scheme, redirect.hostname, redirect.path),
		                 ("http", "127.0.0.1", "/callback"))
		# A stray request (a browser's favicon) does not end the wait.
		stray = http_request("GET", "http://127.0.0.1:%d/favicon.ico" % redirect.port)
		self.assertEqual(stray.status, 404)
		location = self.authorize(url)
		self.assertTrue(location.startswith(params["redirect_uri"][0] + "?"))
		page = http_request("GET", location)
		self.assertEqual(page.status, 200)
		out, err = self.communicate(proc)
		self.assertEqual(proc.returncode, OK, out + err)
		tokens = self.read_tokens()
		self.assertTrue(tokens["access_token"])
		self.assertTrue(tokens["refresh_token"])
		self.assertGreater(int(tokens["expires_at"]), time.time() + 3000)
		result = probe(*self.oauth_args("list-opportunities", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(len(result.ids), 30)
		self.assertEqual(result.summary["refreshes"], 0)
		self.assertEqual({e["auth"] for e in self.requests("/v1/opportunities")}, {"bearer"})

	def test_login_with_pasted_redirect(self):
		proc, url = self.start_login("--paste")
		location = self.authorize(url)
		out, err = self.communicate(proc, location + "\n")
		self.assertEqual(proc.returncode, OK, out + err)
		self.assertTrue(self.read_tokens()["refresh_token"])

	def test_login_with_pasted_code(self):
		proc, url = self.start_login("--paste")
		location = self.authorize(url)
		code = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
		out, err = self.communicate(proc, code + "\n")
		self.assertEqual(proc.returncode, OK, out + err)

	def test_login_state_mismatch(self):
		proc, url = self.start_login()
		location = self.authorize(url)
		forged = location.replace("state=", "state=0000")
		http_request("GET", forged)
		out, err = self.communicate(proc)
		self.assertEqual(proc.returncode, AUTH, out + err)
		self.assertIn("state does not match", err)
		self.assertFalse(os.path.exists(self.tokens))

	def test_login_denied(self):
		self.lever.control("POST", "/oauth/deny", {"deny": True})
		proc, url = self.start_login()
		http_request("GET", self.authorize(url))
		out, err = self.communicate(proc)
		self.assertEqual(proc.returncode, AUTH, out + err)
		self.assertIn("access_denied", err)

	def test_refresh_rotates_and_saves(self):
		self.login()
		before = self.read_tokens()
		self.write_tokens(expires_at=int(time.time()) + 30)  # inside the 60 s margin
		counts = self.oauth_counts()
		result = probe(*self.oauth_args("list-stages", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.summary["refreshes"], 1)
		after = self.read_tokens()
		self.assertNotEqual(after["refresh_token"], before["refresh_token"])
		self.assertNotEqual(after["access_token"], before["access_token"])
		self.assertEqual(self.oauth_counts()["refreshes"], counts["refreshes"] + 1)
		# The new pair works without another refresh.
		result = probe(*self.oauth_args("list-stages", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.summary["refreshes"], 0)
		self.assertEqual(self.oauth_counts()["refresh_reuse"], 0)

	def test_401_refreshes_once_and_retries(self):
		self.login()
		self.lever.control("POST", "/oauth/expire-access")
		result = probe(*self.oauth_args("list-stages", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.summary["refreshes"], 1)
		self.assertEqual([e["status"] for e in self.requests("/v1/stages")], [401, 200])

	def test_crash_after_save_then_rerun(self):
		self.login()
		before = self.read_tokens()
		self.write_tokens(expires_at=0)
		result = probe(*self.oauth_args("--crash-after-save", "list-stages", self.lever.base_url))
		self.assertEqual(result.rc, CRASHED, result)
		self.assertEqual(self.requests("/v1/stages"), [])  # the new token was never used
		saved = self.read_tokens()
		self.assertNotEqual(saved["refresh_token"], before["refresh_token"])
		result = probe(*self.oauth_args("list-stages", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.summary["refreshes"], 0)
		self.assertEqual(self.oauth_counts()["refresh_reuse"], 0)

	def test_parallel_listings_share_one_refresh(self):
		self.login()
		self.write_tokens(expires_at=0)
		counts = self.oauth_counts()
		result = probe(*self.oauth_args("--parallel", 4, "list-opportunities",
		                                self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertEqual(result.lines, ["thread=%d count=30 status=ok" % i for i in range(4)])
		self.assertEqual(result.summary["refreshes"], 1)
		after = self.oauth_counts()
		self.assertEqual(after["refreshes"], counts["refreshes"] + 1)
		self.assertEqual(after["refresh_reuse"], 0)

	def test_revoked_refresh_token_is_an_auth_error(self):
		self.login()
		self.write_tokens(expires_at=0, refresh_token="v1.not-a-real-token")
		result = probe(*self.oauth_args("list-stages", self.lever.base_url))
		self.assertEqual(result.rc, AUTH, result)
		self.assertIn("invalid_grant", result.err)
		self.assertIn("auth login", result.err)

	def test_wrong_client_secret(self):
		self.login()
		self.write_tokens(expires_at=0)
		args = self.oauth_args("list-stages", self.lever.base_url)
		args[args.index(CLIENT_SECRET)] = "not-the-secret"
		result = probe(*args)
		self.assertEqual(result.rc, AUTH, result)
		self.assertIn("invalid_client", result.err)
		self.assertIn("check the OAuth client id and client secret", result.err)
		self.assertNotIn("not-the-secret", result.err)

	def test_dry_run_refuses_to_refresh(self):
		self.login()
		self.write_tokens(expires_at=0)
		counts = self.oauth_counts()
		result = probe(*self.oauth_args("--dry-run", "list-stages", self.lever.base_url))
		self.assertEqual(result.rc, DRY_RUN, result)
		self.assertIn("without --dry-run", result.err)
		self.assertEqual(self.oauth_counts()["refreshes"], counts["refreshes"])

	def test_not_logged_in(self):
		result = probe(*self.oauth_args("list-stages", self.lever.base_url))
		self.assertEqual(result.rc, AUTH, result)
		self.assertIn("auth login", result.err)
		self.assertEqual(self.requests(), [])


class PersistentOAuth401(LeverTestCase):
	"""Tokens that die at once: the client refreshes once per request, then gives up."""
	emulator_args = ("--rate", 0, "--oauth-client-id", CLIENT_ID, "--oauth-client-secret",
	                 CLIENT_SECRET, "--access-ttl", 0)

	def test_fails_fast(self):
		with tempfile.TemporaryDirectory(prefix="lever-probe-") as tmp:
			args = ["--oauth", "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
			        "--auth-url", self.lever.root_url, "--token-file", os.path.join(tmp, "tokens")]
			proc = subprocess.Popen([PROBE] + args + ["oauth-login", self.lever.base_url],
			                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
			url = proc.stdout.readline().split(" ", 1)[1].strip()
			http_request("GET", http_request("GET", url).header("Location"))
			self.communicate(proc)
			self.assertEqual(proc.returncode, OK)
			result = probe(*(args + ["list-stages", self.lever.base_url]))
			self.assertEqual(result.rc, AUTH, result)
			self.assertLessEqual(len(self.requests("/v1/stages")), 2)
			self.assertIn("401 Unauthorized", result.err)


class Secrets(OAuthBase):
	"""Nothing secret reaches stderr, even at trace verbosity."""

	def test_no_secret_in_trace_output(self):
		code, login_err = self.login()
		login_tokens = self.read_tokens()
		self.write_tokens(expires_at=0)
		result = probe(*self.oauth_args("-vv", "list-opportunities", self.lever.base_url))
		self.assertEqual(result.rc, OK, result)
		self.assertIn("trace:", result.err)
		refreshed = self.read_tokens()
		key_run = probe("-vv", "--key", LEVER_KEY, "list-stages", self.lever.base_url)
		self.assertEqual(key_run.rc, OK, key_run)
		bad_key = probe("-vv", "--key", "wrong-secret-key", "list-stages", self.lever.base_url)
		self.assertEqual(bad_key.rc, AUTH, bad_key)
		secrets = {
			"api key": LEVER_KEY,
			"bad api key": "wrong-secret-key",
			"basic header": base64.b64encode((LEVER_KEY + ":").encode()).decode(),
			"client secret": CLIENT_SECRET,
			"code": code,
			"first access token": login_tokens["access_token"],
			"first refresh token": login_tokens["refresh_token"],
			"second access token": refreshed["access_token"],
			"second refresh token": refreshed["refresh_token"],
		}
		for name, value in secrets.items():
			for label, text in (("login", login_err), ("oauth run", result.err),
			                    ("key run", key_run.err), ("bad key run", bad_key.err)):
				self.assertNotIn(value, text, "%s leaked in the %s" % (name, label))


if __name__ == "__main__":
	if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]):
		PROBE = sys.argv.pop(1)
	if not PROBE or not os.access(PROBE, os.X_OK):
		sys.stderr.write("lever-probe not found: set LEVER_PROBE or pass its path\n")
		sys.exit(77)
	unittest.main(verbosity=2)
