#!/usr/bin/env python3
"""Self-test of the Lever and Refty emulators: python3 tests/emulator/test_emulators.py"""

import concurrent.futures
import http.client
import json
import os
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (LEVER_CONFIDENTIAL_KEY, LEVER_KEY, Emulator, basic_auth,  # noqa: E402
                     bearer_auth, http_request)

SBE = "dcaf3197-a999-4834-b1ae-8bcf5b10b4af"
DESIGNER = "19f44f8d-dcff-4716-86ca-245644f7688f"
REFERENCES = "2ad4eb2e-8115-40a8-a2db-917c51afde9c"
PHONE_SCREEN = "ba5c62d8-3a81-4ae9-8972-39f2f88a01ff"
ENG_SEQ = "seq_7c1e2a90"
ENG_SELF = "stg_41d0b3e2"
ENG_REF = "stg_9a6f5c18"
DESIGN_REF = "stg_e2c7a604"
INVALID_OFFSET = "Invalid offset token: Offset token is invalid for sort"

LEVER = None
REFTY = None
LOG_FILE = None


def setUpModule():
	global LEVER, REFTY, LOG_FILE
	LOG_FILE = tempfile.NamedTemporaryFile(prefix="lever-log-", suffix=".jsonl", delete=False)
	LOG_FILE.close()
	LEVER = Emulator("lever", "--rate", "0", "--fault-seed", "42", "--request-log", LOG_FILE.name).start()
	REFTY = Emulator("refty").start()


def tearDownModule():
	for emu in (LEVER, REFTY):
		if emu is not None:
			emu.stop()
	if LOG_FILE is not None:
		os.unlink(LOG_FILE.name)


def wait_in_flight(emu, count, key=None, timeout=10.0):
	"""Wait until `count` logged requests (with that Idempotency-Key, if given) are unanswered."""
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		pending = [e for e in emu.requests() if e["status"] is None and
		           (key is None or e["idempotency_key"] == key)]
		if len(pending) >= count:
			return True
		time.sleep(0.01)
	return False


def walk(emu, query, headers=None, between=None):
	"""Every record of a paged list, following `next`; `between(page_number)` runs between pages."""
	out = []
	offset = None
	pages = 0
	while True:
		q = dict(query)
		if offset is not None:
			q["offset"] = offset
		res = emu.request("GET", "/opportunities?" + urllib.parse.urlencode(q, doseq=True),
		                  headers=headers)
		assert res.status == 200, res
		body = res.json()
		out.extend(body["data"])
		pages += 1
		if not body["hasNext"]:
			assert "next" not in body, "last page must not carry next"
			return out, pages
		offset = body["next"]
		if between is not None:
			between(pages)


class LeverTest(unittest.TestCase):
	def setUp(self):
		LEVER.control("POST", "/reset")
		LEVER.control("DELETE", "/faults")
		LEVER.control("POST", "/list-order", {"mode": "real", "seed": 1})
		LEVER.settings(rate=0, latency=0)
		self.seeded = LEVER.control("POST", "/seed", {"count": 250, "seed": 7})

	def get(self, path, key=LEVER_KEY, **query):
		url = path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
		return LEVER.request("GET", url, headers=basic_auth(key))

	def test_auth(self):
		res = LEVER.request("GET", "/stages", auth=False)
		self.assertEqual(res.status, 401)
		self.assertEqual(res.json()["code"], "UnauthorizedError")
		self.assertEqual(self.get("/stages", key="wrong").status, 401)
		res = LEVER.request("GET", "/stages", headers=bearer_auth("forged.token.value"))
		self.assertEqual(res.status, 401)
		self.assertEqual(self.get("/stages").status, 200)

	def test_paging_each_record_once_while_data_changes(self):
		for mode in ("created", "real", "random", "shuffle"):
			LEVER.control("POST", "/reset")
			LEVER.control("POST", "/seed", {"count": 250, "seed": 7})
			LEVER.control("POST", "/list-order", {"mode": mode})
			ids = [o["id"] for o in walk(LEVER, {"limit": 100})[0]]
			self.assertEqual(len(ids), 250)

			def mutate(page):
				# Moves bump updatedAt and creations land before and after the cursor: keyset
				# paging must neither skip nor repeat an existing record.
				for opp_id in ids[page * 7: page * 7 + 5]:
					LEVER.control("POST", "/opportunities/%s/move" % opp_id, {"stage": "References"})
				LEVER.control("POST", "/opportunities", {"name": "Early", "created_at": 1000 + page})
			seen, pages = walk(LEVER, {"limit": 30}, between=mutate)
			seen_ids = [o["id"] for o in seen]
			self.assertEqual(len(seen_ids), len(set(seen_ids)), mode)
			self.assertEqual(set(ids) - set(seen_ids), set(), mode)
			self.assertIn(pages, (9, 10), mode)
			keys = [(o["createdAt"], o["id"]) for o in seen]
			if mode == "created":
				self.assertEqual(pages, 9)
				self.assertEqual(keys, sorted(keys))
			else:
				self.assertNotEqual(keys, sorted(keys), mode)

	def test_list_orders_honour_windows(self):
		everything = walk(LEVER, {"limit": 100})[0]
		created = sorted(o["createdAt"] for o in everything)
		lo, hi = created[40], created[160]
		touched = [o["id"] for o in everything[::9]]
		for i, opp_id in enumerate(touched):
			LEVER.control("POST", "/opportunities/%s/touch" % opp_id, {"at": 1900000000000 + i})
		deleted = [o["id"] for o in everything[1:40:3] if o["id"] not in touched]
		for n, opp_id in enumerate(deleted):
			LEVER.control("POST", "/opportunities/%s/delete" % opp_id, {"at": 1800000000000 + n})
		want_created = {o["id"] for o in everything if lo <= o["createdAt"] <= hi}
		self.assertEqual(len(want_created), 121)  # inclusive at both ends
		want_created -= set(deleted)
		want_updated = set(touched[3:12])
		for mode in ("created", "real", "random", "shuffle"):
			LEVER.control("POST", "/list-order", {"mode": mode, "seed": 5})
			got = walk(LEVER, {"limit": 7, "created_at_start": lo, "created_at_end": hi})[0]
			self.assertEqual(len(got), len(want_created), mode)
			self.assertEqual({o["id"] for o in got}, want_created, mode)
			got = walk(LEVER, {"limit": 2, "updated_at_start": 1900000000003,
			                   "updated_at_end": 1900000000011})[0]
			self.assertEqual(sorted(o["id"] for o in got), sorted(want_updated), mode)
			got = walk(LEVER, {"limit": 3, "updated_at_start": 1900000000003,
			                   "created_at_start": lo, "created_at_end": hi})[0]
			self.assertEqual(sorted(o["id"] for o in got),
			                 sorted(i for i in touched[3:] if i in want_created), mode)
			chain = []
			offset = None
			while True:
				q = {"limit": 4, "deleted_at_start": 1800000000002, "deleted_at_end": 1800000000009}
				if offset:
					q["offset"] = offset
				body = self.get("/opportunities/deleted", **q).json()
				chain += [d["id"] for d in body["data"]]
				if not body["hasNext"]:
					break
				offset = body["next"]
			self.assertEqual(sorted(chain), sorted(deleted[2:10]), mode)

	def real_chain(self, query):
		"""Pages and tokens of one chain; tokens are URL-encoded JSON arrays [k, ms, "id"]."""
		pages, tokens = [], []
		offset = None
		while True:
			q = dict(query)
			if offset:
				q["offset"] = offset
			body = self.get("/opportunities", **q).json()
			pages.append(body["data"])
			if not body["hasNext"]:
				return pages, tokens
			offset = body["next"]
			tokens.append(offset)

	def test_real_order(self):
		LEVER.control("POST", "/reset")
		LEVER.control("POST", "/seed", {"count": 1004, "seed": 11})
		pages, tokens = self.real_chain({"limit": 100})
		self.assertEqual(len(pages), 11)
		ids = [o["id"] for p in pages for o in p]
		self.assertEqual(len(set(ids)), 1004)
		arrays = [json.loads(urllib.parse.unquote(t)) for t in tokens]
		self.assertTrue(all(t.startswith("%5B") for t in tokens), tokens)
		for (k, ms, last), page in zip(arrays, pages):
			self.assertEqual((ms, last), (page[-1]["createdAt"], page[-1]["id"]))
			self.assertIn(k, (3, 5, 101, 201, 230.5, 231, 231.5, 261, 265.5))
		ks = [a[0] for a in arrays]
		self.assertEqual(ks, sorted(ks))
		self.assertTrue(any(isinstance(k, float) for k in ks), ks)
		created = [o["createdAt"] for o in ids and [o for p in pages for o in p]]
		self.assertNotEqual(created, sorted(created))
		self.assertNotEqual(created, sorted(created, reverse=True))
		# A page wholly inside one k-run (its first and last records share k) is descending.
		inside = 0
		for n in range(1, len(arrays)):
			if arrays[n - 1][0] == arrays[n][0]:
				page = [o["createdAt"] for o in pages[n]]
				self.assertEqual(page, sorted(page, reverse=True))
				inside += 1
		self.assertGreater(inside, 0)
		self.assertTrue(any([o["createdAt"] for o in p] != sorted([o["createdAt"] for o in p], reverse=True)
		                    for p in pages))
		# Sent without URL-encoding (the server then sees the JSON itself), a token still works.
		url = "/opportunities?limit=100&offset=" + tokens[0]
		self.assertEqual([o["id"] for o in LEVER.request("GET", url).json()["data"]],
		                 [o["id"] for o in pages[1]])
		# The same seed gives the same order; another seed another one.
		again = self.real_chain({"limit": 100})[0]
		self.assertEqual([o["id"] for p in again for o in p], ids)
		LEVER.control("POST", "/list-order", {"mode": "real", "seed": 2})
		other = [o["id"] for p in self.real_chain({"limit": 100})[0] for o in p]
		self.assertEqual(sorted(other), sorted(ids))
		self.assertNotEqual(other, ids)

	def test_random_and_shuffle_orders(self):
		LEVER.control("POST", "/list-order", {"mode": "random", "seed": 9})
		first = [o["id"] for o in walk(LEVER, {"limit": 40})[0]]
		self.assertEqual([o["id"] for o in walk(LEVER, {"limit": 40})[0]], first)
		LEVER.control("POST", "/list-order", {"mode": "shuffle", "seed": 9})
		chains = [[o["id"] for o in walk(LEVER, {"limit": 40})[0]] for _ in range(2)]
		for chain in chains + [first]:
			self.assertEqual(len(chain), 250)
			self.assertEqual(set(chain), set(first))
		self.assertNotEqual(chains[0], chains[1])
		self.assertNotEqual(chains[0][:40], chains[1][:40])
		self.assertEqual(LEVER.control("GET", "/list-order"), {"mode": "shuffle", "seed": 9})
		with self.assertRaises(RuntimeError):
			LEVER.control("POST", "/list-order", {"mode": "sorted"})

	def test_tokens_refused_across_orders_and_queries(self):
		real = self.get("/opportunities", limit=10).json()["next"]
		for bad in ("%5B3%2C1491435120000%2C%225599cc20-0000-4000-8000-000000000000%22%5D",
		            '[3,1491435120000,"5599cc20-0000-4000-8000-000000000000"]', real[:-6] + "%5D",
		            real.replace("%5B", "%5B1"), "garbage"):
			res = self.get("/opportunities", limit=10, offset=bad)
			self.assertEqual((res.status, res.json()["message"]), (400, INVALID_OFFSET), bad)
		self.assertEqual(self.get("/opportunities", limit=10, offset=real).status, 200)
		self.assertEqual(self.get("/opportunities", limit=20, offset=real).status, 400)
		self.assertEqual(self.get("/opportunities", limit=10, offset=real, archived="false").status, 400)
		self.assertEqual(self.get("/opportunities/deleted", limit=10, offset=real).status, 400)
		tokens = {}
		for mode in ("created", "random", "shuffle", "real"):
			LEVER.control("POST", "/list-order", {"mode": mode})
			token = self.get("/opportunities", limit=10).json()["next"]
			self.assertEqual(self.get("/opportunities", limit=10, offset=token).status, 200, mode)
			for old_mode, old in tokens.items():
				res = self.get("/opportunities", limit=10, offset=old)
				self.assertEqual((res.status, res.json()["message"]), (400, INVALID_OFFSET),
				                 (old_mode, mode))
			tokens[mode] = token
		# Setting the order, even to the same one, invalidates: a chain must restart.
		LEVER.control("POST", "/list-order", {"mode": "real"})
		self.assertEqual(self.get("/opportunities", limit=10, offset=tokens["real"]).status, 400)
		token = self.get("/opportunities", limit=10).json()["next"]
		LEVER.control("POST", "/invalidate-offsets")
		self.assertEqual(self.get("/opportunities", limit=10, offset=token).status, 400)

	def test_last_page_has_no_next(self):
		body = self.get("/opportunities", limit=100, stage_id="no-such-stage").json()
		self.assertEqual(body, {"data": [], "hasNext": False})

	def test_limit_and_params(self):
		self.assertEqual(self.get("/opportunities", limit=0).status, 400)
		self.assertEqual(self.get("/opportunities", limit=101).status, 400)
		self.assertEqual(self.get("/opportunities", limit="x").status, 400)
		self.assertEqual(len(self.get("/opportunities", limit=1).json()["data"]), 1)
		res = self.get("/opportunities", update_at_start=1)
		self.assertEqual(res.status, 400)
		self.assertEqual(res.json()["code"], "BadRequestError")
		self.assertEqual(self.get("/opportunities", updated_at_start="yesterday").status, 400)
		self.assertEqual(self.get("/opportunities", expand="nonsense").status, 400)

	def test_offset_tokens(self):
		first = self.get("/opportunities", limit=10).json()
		token = first["next"]
		self.assertEqual(self.get("/opportunities", limit=10, offset=token).status, 200)
		for bad in ("0.1414895548650.a6070140-0000-4000-8000-000000000000", "garbage", "",
		            token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
		            "x" + token):
			res = self.get("/opportunities", limit=10, offset=bad)
			self.assertEqual(res.status, 400, bad)
			self.assertEqual(res.json()["message"], INVALID_OFFSET)
		# Same token, different query.
		res = self.get("/opportunities", limit=10, offset=token, archived="false")
		self.assertEqual(res.status, 400)
		self.assertEqual(self.get("/opportunities", limit=20, offset=token).status, 400)
		res = self.get("/opportunities/deleted", limit=10, offset=token)
		self.assertEqual(res.status, 400)
		LEVER.control("POST", "/invalidate-offsets")
		res = self.get("/opportunities", limit=10, offset=token)
		self.assertEqual(res.status, 400)
		self.assertEqual(res.json(), {"code": "BadRequestError", "message": INVALID_OFFSET})
		self.assertEqual(self.get("/opportunities", limit=10).status, 200)

	def test_filters(self):
		everything = walk(LEVER, {})[0]
		on_sbe = walk(LEVER, {"posting_id": SBE, "expand": "applications"})[0]
		self.assertTrue(0 < len(on_sbe) < len(everything))
		self.assertTrue(all(o["applications"][0]["posting"] == SBE for o in on_sbe))
		both = walk(LEVER, {"posting_id": [SBE, DESIGNER], "expand": "applications"})[0]
		self.assertEqual(len(both), len([o for o in walk(LEVER, {"expand": "applications"})[0]
		                                 if o["applications"] and
		                                 o["applications"][0]["posting"] in (SBE, DESIGNER)]))
		stage = everything[0]["stage"]
		by_stage = walk(LEVER, {"stage_id": stage})[0]
		self.assertEqual({o["stage"] for o in by_stage}, {stage})
		self.assertEqual(len(by_stage), sum(1 for o in everything if o["stage"] == stage))
		mid = sorted(o["createdAt"] for o in everything)[100]
		window = walk(LEVER, {"created_at_start": mid, "created_at_end": mid + 30 * 86400000})[0]
		self.assertEqual(len(window), sum(1 for o in everything
		                                  if mid <= o["createdAt"] <= mid + 30 * 86400000))
		# updated_at_start near now sees exactly the records changed since.
		before = LEVER.control("POST", "/opportunities/%s/move" % everything[5]["id"],
		                       {"stage": "References"})["data"]["updatedAt"]
		LEVER.control("POST", "/opportunities/%s/emails" % everything[9]["id"], {"emails": ["x@y.org"]})
		recent = walk(LEVER, {"updated_at_start": before})[0]
		self.assertEqual({o["id"] for o in recent}, {everything[5]["id"], everything[9]["id"]})
		LEVER.control("POST", "/opportunities/%s/archive" % everything[5]["id"])
		archived = walk(LEVER, {"archived": "true"})[0]
		self.assertEqual([o["id"] for o in archived], [everything[5]["id"]])
		self.assertEqual(len(walk(LEVER, {"archived": "false"})[0]), len(everything) - 1)
		self.assertEqual(self.get("/opportunities", archived="maybe").status, 400)

	def test_expand_applications(self):
		plain = self.get("/opportunities", limit=50).json()["data"]
		expanded = self.get("/opportunities", limit=50, expand="applications").json()["data"]
		self.assertEqual([o["id"] for o in plain], [o["id"] for o in expanded])
		for p, e in zip(plain, expanded):
			self.assertLessEqual(len(p["applications"]), 1)
			if p["applications"]:
				self.assertIsInstance(p["applications"][0], str)
				app = e["applications"][0]
				self.assertEqual(app["id"], p["applications"][0])
				self.assertEqual(app["opportunityId"], p["id"])
				self.assertIn("posting", app)
		staged = self.get("/opportunities", limit=1, expand="stage").json()["data"][0]
		self.assertEqual(set(staged["stage"]), {"id", "text"})

	def test_record_shape(self):
		o = self.get("/opportunities", limit=1).json()["data"][0]
		for field in ("id", "name", "headline", "contact", "emails", "phones", "stage", "stageChanges",
		              "confidentiality", "archived", "tags", "sources", "origin", "owner", "followers",
		              "applications", "createdAt", "updatedAt", "lastInteractionAt", "lastAdvancedAt",
		              "snoozedUntil", "urls", "dataProtection", "isAnonymized"):
			self.assertIn(field, o)
		self.assertEqual(set(o["urls"]), {"list", "show"})
		change = o["stageChanges"][-1]
		self.assertEqual(set(change), {"toStageId", "toStageIndex", "userId", "updatedAt"})
		self.assertEqual(change["toStageId"], o["stage"])
		single = self.get("/opportunities/" + o["id"]).json()["data"]
		self.assertEqual(single, o)
		self.assertEqual(self.get("/opportunities/nope").status, 404)
		self.assertEqual(self.get("/opportunities/nope").json()["code"], "ResourceNotFound")

	def test_mutations(self):
		created = LEVER.control("POST", "/opportunities", {
			"name": "Grace Example", "emails": [], "phones": ["+44 20 0000 0000"],
			"posting": "Senior Backend Engineer", "stage": "Phone screen", "created_at": 1700000000000})
		opp = created["data"]
		self.assertEqual(opp["stage"], PHONE_SCREEN)
		self.assertEqual(opp["emails"], [])
		self.assertEqual(opp["applications"][0]["posting"], SBE)
		self.assertEqual(len(opp["stageChanges"]), 1)
		oid = opp["id"]
		moved = LEVER.control("POST", "/opportunities/%s/move" % oid,
		                      {"stage": REFERENCES, "at": 1800000000000})["data"]
		self.assertEqual(moved["stage"], REFERENCES)
		self.assertEqual(moved["stageChanges"][-1]["toStageId"], REFERENCES)
		self.assertEqual(moved["stageChanges"][-1]["updatedAt"], 1800000000000)
		self.assertEqual(moved["lastAdvancedAt"], 1800000000000)
		self.assertEqual(moved["updatedAt"], 1800000000000)
		again = LEVER.control("POST", "/opportunities/%s/move" % oid,
		                      {"stage": REFERENCES, "at": 1800000001000})["data"]
		self.assertEqual(len(again["stageChanges"]), 2)
		self.assertEqual(again["lastAdvancedAt"], 1800000001000)
		emails = LEVER.control("POST", "/opportunities/%s/emails" % oid, {"emails": ["g@example.org"]})
		self.assertEqual(emails["data"]["emails"], ["g@example.org"])
		self.assertGreaterEqual(emails["data"]["updatedAt"], 1800000001000)
		anon = LEVER.control("POST", "/opportunities/%s/anonymize" % oid)["data"]
		self.assertTrue(anon["isAnonymized"])
		self.assertEqual((anon["name"], anon["emails"], anon["phones"]), ("", [], []))
		nojob = LEVER.control("POST", "/opportunities/%s/posting" % oid, {"posting": None})["data"]
		self.assertEqual(nojob["applications"], [])
		LEVER.control("POST", "/opportunities/%s/delete" % oid, {"at": 1900000000000})
		self.assertEqual(self.get("/opportunities/" + oid).status, 404)
		deleted = self.get("/opportunities/deleted", deleted_at_start=1900000000000).json()
		self.assertEqual([(d["id"], d["deletedAt"]) for d in deleted["data"]], [(oid, 1900000000000)])
		self.assertIn("deletedBy", deleted["data"][0])
		self.assertEqual(self.get("/opportunities/deleted", deleted_at_start=1900000000001).json()["data"],
		                 [])
		self.assertTrue(LEVER.control("GET", "/opportunities/" + oid)["deleted"])

	def test_batch(self):
		res = LEVER.control("POST", "/batch", {"ops": [
			{"op": "create", "id": "batch-1", "name": "Batch One", "emails": ["b1@example.org"],
			 "posting": "Senior Backend Engineer", "created_at": 1700000000000,
			 "updated_at": 1700000000000},
			{"op": "move", "id": "batch-1", "stage": REFERENCES, "at": 1700000001000},
			{"op": "name", "id": "batch-1", "name": "Batch Renamed", "at": 1700000002000},
			{"op": "create", "posting": None}]})
		self.assertEqual(res["count"], 4)
		self.assertEqual(res["ids"][:3], ["batch-1"] * 3)
		view = LEVER.control("GET", "/opportunities/batch-1")["data"]
		self.assertEqual((view["stage"], view["name"], view["updatedAt"]),
		                 (REFERENCES, "Batch Renamed", 1700000002000))
		self.assertEqual(LEVER.control("GET", "/opportunities/" + res["ids"][3])["posting"], None)
		# The listing sees what a batch did, like any other mutation.
		listed = self.get("/opportunities", updated_at_start=1700000002000,
		                  updated_at_end=1700000002000).json()["data"]
		self.assertEqual([o["id"] for o in listed], ["batch-1"])
		# The first bad op stops the batch; what came before it stays applied.
		bad = http_request("POST", LEVER.root_url + "/_control/batch", {"ops": [
			{"op": "archive", "id": "batch-1", "at": 1700000003000},
			{"op": "move", "id": "no-such-opportunity", "stage": REFERENCES},
			{"op": "unarchive", "id": "batch-1"}]})
		self.assertEqual(bad.status, 404)
		self.assertIn("ops[1]", bad.json()["error"])
		self.assertEqual(LEVER.control("GET", "/opportunities/batch-1")["data"]["archived"]["archivedAt"],
		                 1700000003000)
		for body in ({"ops": "x"}, {"ops": [{"op": "move"}]}, {"ops": [{"id": "batch-1"}]}):
			self.assertEqual(http_request("POST", LEVER.root_url + "/_control/batch", body).status,
			                 400, body)
		self.assertEqual(http_request("POST", LEVER.root_url + "/_control/batch", {"ops": [
			{"op": "fly", "id": "batch-1"}]}).status, 404)

	def test_webhooks_api_and_deliveries(self):
		import hashlib
		import hmac
		import http.server
		import threading
		got = []

		class Hook(http.server.BaseHTTPRequestHandler):
			fail_first = [True]

			def do_POST(self):
				body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
				got.append((body, self.headers["User-Agent"]))
				# Lever retries a failed delivery: the first answer here is a 503.
				status = 503 if Hook.fail_first[0] else 200
				Hook.fail_first[0] = False
				self.send_response(status)
				self.send_header("Content-Length", "0")
				self.end_headers()

			def log_message(self, *args):
				pass

		server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
		threading.Thread(target=server.serve_forever, daemon=True).start()
		self.addCleanup(server.server_close)
		self.addCleanup(server.shutdown)
		url = "http://127.0.0.1:%d/hook" % server.server_address[1]
		headers = dict(basic_auth(LEVER_KEY), **{"Content-Type": "application/json"})
		res = LEVER.request("POST", "/webhooks", headers=headers,
		                    body=json.dumps({"event": "candidateStageChange", "url": url}).encode())
		self.assertEqual(res.status, 201, res)
		hook = res.json()["data"]
		token = hook["configuration"]["signatureToken"]
		listed = self.get("/webhooks").json()["data"]
		self.assertEqual([h["id"] for h in listed], [hook["id"]])
		self.assertEqual(LEVER.request("POST", "/webhooks", headers=headers,
		                               body=json.dumps({"event": "nope", "url": url}).encode()).status,
		                 400)

		oid = LEVER.control("POST", "/opportunities", {"stage": "Phone screen"})["data"]["id"]
		LEVER.control("POST", "/opportunities/%s/move" % oid, {"stage": REFERENCES, "at": 1800000000000})
		deadline = time.monotonic() + 10
		while len(got) < 2 and time.monotonic() < deadline:
			time.sleep(0.02)
		self.assertEqual(len(got), 2, "one failed delivery and its retry")
		self.assertEqual(got[0][0], got[1][0], "a retry is the same delivery")
		body, agent = got[1]
		self.assertEqual(agent, "Lever-Webhooks")
		self.assertEqual((body["event"], body["data"]["opportunityId"], body["data"]["toStageId"],
		                  body["triggeredAt"]), ("candidateStageChange", oid, REFERENCES, 1800000000000))
		self.assertEqual(len(body["token"]), 48)
		want = hmac.new(token.encode(), (body["token"] + str(body["triggeredAt"])).encode(),
		                hashlib.sha256).hexdigest()
		self.assertEqual(body["signature"], want)
		log = LEVER.control("GET", "/webhooks/deliveries")["deliveries"]
		self.assertEqual([d["status"] for d in log], [503, 200])

		self.assertEqual(LEVER.request("DELETE", "/webhooks/" + hook["id"],
		                               headers=basic_auth(LEVER_KEY)).status, 204)
		self.assertEqual(self.get("/webhooks").json()["data"], [])

	def test_legacy_shape(self):
		opp = LEVER.control("POST", "/opportunities", {"name": "Old", "legacy": True})["data"]
		LEVER.control("POST", "/opportunities/%s/archive" % opp["id"], {"at": 1750000000000})
		o = self.get("/opportunities/" + opp["id"]).json()["data"]
		self.assertNotIn("stageChanges", o)
		self.assertNotIn("updatedAt", o)
		self.assertNotIn("archived", o)
		self.assertEqual(o["archivedAt"], 1750000000000)
		self.assertIsInstance(o["archiveReason"], str)

	def test_confidentiality(self):
		conf = LEVER.control("POST", "/opportunities", {"name": "Secret", "confidential": True})["data"]
		self.assertEqual(self.get("/opportunities", confidentiality="all").status, 403)
		self.assertEqual(self.get("/opportunities", confidentiality="confidential").status, 403)
		self.assertEqual(self.get("/opportunities", confidentiality="bogus").status, 400)
		self.assertEqual(self.get("/opportunities/" + conf["id"]).status, 403)
		plain = {o["id"] for o in walk(LEVER, {})[0]}
		self.assertNotIn(conf["id"], plain)
		auth = basic_auth(LEVER_CONFIDENTIAL_KEY)
		every = {o["id"] for o in walk(LEVER, {"confidentiality": "all"}, headers=auth)[0]}
		self.assertEqual(every, plain | {conf["id"]})
		only = walk(LEVER, {"confidentiality": "confidential"}, headers=auth)[0]
		self.assertEqual([o["id"] for o in only], [conf["id"]])
		self.assertEqual(only[0]["confidentiality"], "confidential")

	def test_stages_postings(self):
		stages = self.get("/stages").json()
		names = [s["text"] for s in stages["data"]]
		for name in ("New lead", "New applicant", "Offer", "Phone screen", "On-site", "References",
		             "Reference check", "Hired"):
			self.assertIn(name, names)
		self.assertEqual(stages["data"][0], {"id": "lead-new", "text": "New lead"})
		first = self.get("/stages", limit=5).json()
		self.assertTrue(first["hasNext"])
		rest = self.get("/stages", limit=5, offset=first["next"]).json()
		self.assertEqual([s["id"] for s in first["data"] + rest["data"]],
		                 [s["id"] for s in stages["data"]][:10])
		self.assertEqual(self.get("/stages/" + REFERENCES).json()["data"]["text"], "References")
		self.assertEqual(self.get("/stages/unknown").status, 404)
		postings = self.get("/postings").json()["data"]
		titles = {p["text"]: p for p in postings}
		for title in ("Senior Backend Engineer", "Product Designer", "Data Scientist", "Account Executive"):
			self.assertIn(title, titles)
		self.assertEqual(titles["Senior Backend Engineer"]["id"], SBE)
		self.assertNotIn("Chief of Staff", titles)
		closed = self.get("/postings", state="closed").json()["data"]
		self.assertTrue(closed and all(p["state"] == "closed" for p in closed))
		self.assertEqual(self.get("/postings/" + SBE).json()["data"]["text"], "Senior Backend Engineer")

	def test_rate_limiter(self):
		LEVER.control("DELETE", "/requests")
		# A refill of one token per 100 s: the outcome does not depend on the machine's speed.
		LEVER.settings(rate=0.01, burst=3)
		try:
			codes = [self.get("/stages").status for _ in range(6)]
			self.assertEqual(LEVER.control("GET", "/health")["ok"], True)  # control is not limited
		finally:
			LEVER.settings(rate=0)
		self.assertEqual(codes, [200, 200, 200, 429, 429, 429])
		stats = LEVER.stats()
		self.assertEqual(stats["rate_limited"], 3)
		self.assertEqual(stats["status_429"], 3)
		self.assertTrue(1 <= stats["max_requests_1s"] <= 6)
		self.assertAlmostEqual(stats["max_over_allowance_1s"], max(0, stats["max_requests_1s"] - 3.01))
		log = LEVER.requests()
		self.assertEqual([e["rate_limited"] for e in log], [False] * 3 + [True] * 3)

	def test_faults(self):
		path = "/v1/opportunities"
		LEVER.fault(path=path, kind="503", count=2, after=1, methods=["GET"])
		codes = [self.get("/opportunities", limit=1).status for _ in range(4)]
		self.assertEqual(codes, [200, 503, 503, 200])
		self.assertEqual(self.get("/stages").status, 200)
		LEVER.fault(path=path, kind="429", count=1, retry_after=2)
		res = self.get("/opportunities", limit=1)
		self.assertEqual((res.status, res.header("Retry-After")), (429, "2"))
		for kind in ("500", "502", "504", "401", "403"):
			LEVER.fault(path=path, kind=kind, count=1)
			res = self.get("/opportunities", limit=1)
			self.assertEqual(res.status, int(kind))
			self.assertIn("code", res.json())
		LEVER.fault(path=path, kind="garbage", count=1)
		res = self.get("/opportunities", limit=1)
		self.assertEqual(res.status, 200)
		self.assertRaises(ValueError, res.json)
		LEVER.fault(path=path, kind="json", count=1, body={"data": [{"id": 5}], "hasNext": "yes"})
		self.assertEqual(self.get("/opportunities").json(), {"data": [{"id": 5}], "hasNext": "yes"})
		LEVER.fault(path=path, kind="truncated", count=1)
		with self.assertRaises(http.client.IncompleteRead):
			self.get("/opportunities", limit=1)
		LEVER.fault(path=path, kind="reset", count=1)
		with self.assertRaises((ConnectionError, urllib.error.URLError, http.client.HTTPException)):
			self.get("/opportunities", limit=1)
		LEVER.fault(path=path, kind="hang", count=1, seconds=0.3)
		with self.assertRaises((ConnectionError, urllib.error.URLError, http.client.HTTPException)):
			self.get("/opportunities", limit=1)
		self.assertEqual(self.get("/opportunities", limit=1).status, 200)
		kinds = [e["fault"] for e in LEVER.requests()[-4:]]
		self.assertEqual(kinds, ["truncated", "reset", "hang", None])
		rules = LEVER.control("GET", "/faults")["data"]
		self.assertEqual(rules[0]["fired"], 2)
		self.assertTrue(all(r["fired"] == (r["count"] or 0) for r in rules))
		LEVER.control("DELETE", "/faults")
		LEVER.fault(path=path, kind="500", probability=0.5)
		codes = [self.get("/opportunities", limit=1).status for _ in range(40)]
		self.assertTrue(5 <= codes.count(500) <= 35, codes)

	def chain(self, path, query, pages):
		"""Up to `pages` pages of one chain: [(body, offset sent)]."""
		out = []
		offset = None
		for _ in range(pages):
			q = dict(query)
			if offset is not None:
				q["offset"] = offset
			res = self.get(path, **q)
			self.assertEqual(res.status, 200, res)
			body = res.json()
			out.append((body, offset))
			if not body["hasNext"]:
				break
			offset = body["next"]
		return out

	def test_listing_faults(self):
		path = "/v1/opportunities"
		for mode in ("real", "created"):
			LEVER.control("POST", "/list-order", {"mode": mode})
			LEVER.control("DELETE", "/faults")
			LEVER.fault(path=path, kind="cycle")
			chain = self.chain("/opportunities", {"limit": 20}, 9)
			self.assertEqual(len(chain), 9)
			nexts = [b["next"] for b, _ in chain]
			self.assertEqual(nexts[2:], [nexts[0], nexts[1]] * 3 + [nexts[0]])
			self.assertNotEqual(nexts[0], nexts[1])
			# Other endpoints are untouched: the rule matches its path exactly.
			self.assertEqual(self.get("/opportunities/" + chain[0][0]["data"][0]["id"]).status, 200)
			LEVER.control("DELETE", "/faults")
			LEVER.fault(path=path, kind="cycle", period=1)
			chain = self.chain("/opportunities", {"limit": 20}, 4)
			self.assertEqual(len({b["next"] for b, _ in chain}), 1)
			self.assertEqual(chain[1][0]["data"], chain[2][0]["data"])
			LEVER.control("DELETE", "/faults")
			# Cycle tokens are ordinary tokens: with the faults gone the chain goes on normally.
			self.assertEqual(self.get("/opportunities", limit=20, offset=chain[-1][0]["next"]).status,
			                 200)
		LEVER.fault(path=path, kind="repeat", count=1)
		chain = self.chain("/opportunities", {"limit": 100, "stage_id": "no-such-stage"}, 5)
		self.assertEqual([(b["data"], b["hasNext"]) for b, _ in chain], [([], True)] * 5)
		LEVER.fault(path=path, kind="repeat", count=1)
		chain = self.chain("/opportunities", {"limit": 30}, 6)
		self.assertEqual(len(chain), 6)
		firsts = [[o["id"] for o in b["data"]] for b, _ in chain]
		self.assertEqual(firsts, [firsts[0]] * 6)
		self.assertEqual(len({b["next"] for b, _ in chain}), 6)
		self.assertTrue(all(b["hasNext"] for b, _ in chain))
		LEVER.control("DELETE", "/faults")
		self.assertEqual(self.get("/opportunities", limit=30, offset=chain[-1][0]["next"]).status, 400)

		everything = walk(LEVER, {"limit": 100})[0]
		known = {o["id"] for o in everything}
		lo, hi = 1600000000000, 1600000999999
		LEVER.fault(path=path, kind="endless")
		query = {"limit": 50, "created_at_start": lo, "created_at_end": hi, "posting_id": SBE,
		         "expand": "applications"}
		chain = self.chain("/opportunities", query, 6)
		self.assertEqual(len(chain), 6)
		self.assertEqual(chain[0][0]["data"], [])
		ids = [o["id"] for b, _ in chain[1:] for o in b["data"]]
		self.assertEqual(len(ids), 250)
		self.assertEqual(len(set(ids)), 250)
		self.assertFalse(set(ids) & known)
		for b, _ in chain[1:]:
			for o in b["data"]:
				self.assertTrue(lo <= o["createdAt"] <= hi, o["createdAt"])
				self.assertEqual(o["applications"][0]["posting"], SBE)
		deleted = self.chain("/opportunities/deleted", {"limit": 10, "deleted_at_start": lo}, 3)
		self.assertEqual(len(deleted), 1)  # the rule is armed on /v1/opportunities only
		LEVER.control("DELETE", "/faults")
		LEVER.fault(path="/v1/opportunities/deleted", kind="endless")
		deleted = self.chain("/opportunities/deleted", {"limit": 10, "deleted_at_start": lo,
		                                                "deleted_at_end": hi}, 3)
		self.assertEqual(len(deleted), 3)
		self.assertTrue(all(lo <= d["deletedAt"] <= hi for d in deleted[2][0]["data"]))
		self.assertEqual(len(deleted[2][0]["data"]), 10)

		LEVER.control("DELETE", "/faults")
		created = sorted(o["createdAt"] for o in everything)
		lo, hi = created[50], created[120]
		LEVER.fault(path=path, kind="outside", count=1, after=1)
		chain = self.chain("/opportunities", {"limit": 30, "created_at_start": lo, "created_at_end": hi}, 10)
		records = [o for b, _ in chain for o in b["data"]]
		self.assertEqual([len(b["data"]) for b, _ in chain], [30, 31, 11])
		strays = [o for o in records if not lo <= o["createdAt"] <= hi]
		self.assertEqual(len(strays), 1)
		self.assertIn(strays[0]["createdAt"], (lo - 1, hi + 1))
		self.assertEqual(len(records) - 1, sum(1 for c in created if lo <= c <= hi))
		self.assertEqual([r["fired"] for r in LEVER.control("GET", "/faults")["data"]], [1])
		log = [e["fault"] for e in LEVER.requests()[-3:]]
		self.assertEqual(log, [None, "outside", None])

	def test_unreadable_records(self):
		opp = self.get("/opportunities", limit=1).json()["data"][0]
		oid = opp["id"]
		url = "/opportunities/" + oid
		LEVER.control("POST", "/opportunities/%s/unreadable" % oid, {"kind": "invalid-utf8"})
		raw = self.get(url).body
		self.assertIn(b"\xff\xfe\xc3(", raw)
		self.assertRaises(UnicodeDecodeError, raw.decode, "utf-8")
		listed = self.get("/opportunities", limit=1).body
		self.assertIn(b"\xff\xfe\xc3(", listed)
		fixed = json.loads(raw.decode("utf-8", "replace"))["data"]
		self.assertNotEqual(fixed["name"], opp["name"])
		LEVER.control("POST", "/opportunities/%s/unreadable" % oid, {"kind": "invalid-utf8", "bytes": "c0af"})
		self.assertIn(b"\xc0\xaf", self.get(url).body)
		LEVER.control("POST", "/opportunities/%s/unreadable" % oid, {"kind": "nul"})
		raw = self.get(url).body
		self.assertIn(b"\x00", raw)
		self.assertNotIn(b"\\u0000", raw)
		LEVER.control("POST", "/opportunities/%s/unreadable" % oid,
		              {"kind": "escaped-nul", "field": "headline"})
		raw = self.get(url).body
		self.assertIn(b"\\u0000", raw)
		self.assertIn("\x00", json.loads(raw.replace(b"\x00", b""))["data"]["headline"])
		LEVER.control("POST", "/opportunities/%s/readable" % oid)
		self.assertEqual(self.get(url).json()["data"], opp)
		for field, value in (("stage", 5), ("createdAt", "yesterday"), ("emails.0", None),
		                     ("stageChanges.0.updatedAt", "soon")):
			LEVER.control("POST", "/opportunities/%s/unreadable" % oid,
			              {"kind": "wrong-type", "field": field, "value": value})
		got = self.get(url).json()["data"]
		self.assertEqual((got["stage"], got["createdAt"], got["stageChanges"][0]["updatedAt"]),
		                 (5, "yesterday", "soon"))
		if opp["emails"]:
			self.assertEqual(got["emails"][0], None)
		self.assertEqual(self.get("/opportunities", limit=1).json()["data"][0]["stage"], 5)
		view = LEVER.control("GET", "/opportunities/" + oid)
		self.assertEqual(view["data"]["stage"], opp["stage"])  # the control view stays readable
		self.assertEqual(len(view["unreadable"]), 4)
		LEVER.control("POST", "/opportunities/%s/readable" % oid, {"field": "stage"})
		self.assertEqual(self.get(url).json()["data"]["stage"], opp["stage"])
		LEVER.control("POST", "/opportunities/%s/readable" % oid)
		self.assertEqual(self.get(url).json()["data"], opp)
		with self.assertRaises(RuntimeError):
			LEVER.control("POST", "/opportunities/%s/unreadable" % oid, {"kind": "bogus"})

	def test_extreme_times(self):
		far, y2100, old = 9223372036854775807, 4102444800000, 946684799999
		opps = [o["id"] for o in self.get("/opportunities", limit=3).json()["data"]]
		view = LEVER.control("POST", "/opportunities/%s/times" % opps[0], {
			"updatedAt": far, "lastAdvancedAt": y2100, "stageChanges": [old]})["data"]
		self.assertEqual((view["updatedAt"], view["lastAdvancedAt"], view["stageChanges"][0]["updatedAt"]),
		                 (far, y2100, old))
		LEVER.control("POST", "/opportunities/%s/times" % opps[1], {"createdAt": old, "updatedAt": 5})
		LEVER.control("POST", "/opportunities/%s/times" % opps[2], {"createdAt": far})
		got = self.get("/opportunities/" + opps[0]).json()["data"]
		self.assertEqual(got["updatedAt"], far)
		self.assertEqual([o["id"] for o in walk(LEVER, {"updated_at_start": y2100})[0]], [opps[0]])
		self.assertEqual([o["id"] for o in walk(LEVER, {"updated_at_end": 5})[0]], [opps[1]])
		self.assertEqual([o["id"] for o in walk(LEVER, {"created_at_end": old})[0]], [opps[1]])
		self.assertEqual([o["id"] for o in walk(LEVER, {"created_at_start": far})[0]], [opps[2]])
		self.assertEqual(self.get("/opportunities/" + opps[2]).json()["data"]["createdAt"], far)
		LEVER.control("POST", "/list-order", {"mode": "created"})
		self.assertEqual(walk(LEVER, {})[0][-1]["id"], opps[2])
		self.assertEqual(walk(LEVER, {})[0][0]["id"], opps[1])
		LEVER.control("POST", "/opportunities/%s/move" % opps[1], {"stage": "Offer", "at": far})
		self.assertEqual(self.get("/opportunities/" + opps[1]).json()["data"]["lastAdvancedAt"], far)
		with self.assertRaises(RuntimeError):
			LEVER.control("POST", "/opportunities/%s/times" % opps[0], {"updatedAt": "late"})
		with self.assertRaises(RuntimeError):
			LEVER.control("POST", "/opportunities/%s/times" % opps[0], {"stageChanges": [1, 2, 3, 4, 5]})

	def test_keep_alive_and_concurrency(self):
		conn = http.client.HTTPConnection("127.0.0.1", LEVER.port, timeout=10)
		for _ in range(5):
			conn.request("GET", "/v1/stages", headers=basic_auth(LEVER_KEY))
			res = conn.getresponse()
			self.assertEqual(res.status, 200)
			json.loads(res.read())
		conn.close()
		# Latency must not serialise clients: all eight are seen in flight at once.
		LEVER.control("DELETE", "/requests")
		LEVER.settings(latency=1.0)
		try:
			with concurrent.futures.ThreadPoolExecutor(8) as pool:
				futures = [pool.submit(self.get, "/opportunities", limit=5) for _ in range(8)]
				overlapped = wait_in_flight(LEVER, 8)
				codes = [f.result().status for f in futures]
		finally:
			LEVER.settings(latency=0)
		self.assertTrue(overlapped)
		self.assertEqual(codes, [200] * 8)

	def test_oauth(self):
		root = LEVER.root_url
		redirect = "http://127.0.0.1:9/callback"
		scope = "offline_access opportunities:read:admin stages:read:admin"
		params = {"client_id": "test-client", "redirect_uri": redirect, "response_type": "code",
		          "state": "s-123", "audience": root + "/v1/", "scope": scope}
		for missing in params:
			q = {k: v for k, v in params.items() if k != missing}
			res = http_request("GET", root + "/authorize?" + urllib.parse.urlencode(q))
			self.assertEqual(res.status, 400, missing)
		for name, value in (("client_id", "other"), ("audience", "https://api.lever.co/v1/"),
		                    ("response_type", "token")):
			res = http_request("GET", root + "/authorize?" + urllib.parse.urlencode(dict(params, **{name: value})))
			self.assertEqual(res.status, 400, name)
		res = http_request("GET", root + "/authorize?" + urllib.parse.urlencode(params))
		self.assertEqual(res.status, 302)
		location = urllib.parse.urlsplit(res.header("Location"))
		back = urllib.parse.parse_qs(location.query)
		self.assertEqual(location.path, "/callback")
		self.assertEqual(back["state"], ["s-123"])
		code = back["code"][0]

		def token(**fields):
			body = urllib.parse.urlencode(fields).encode()
			return http_request("POST", root + "/oauth/token", body,
			                    {"Content-Type": "application/x-www-form-urlencoded"})
		bad = token(grant_type="authorization_code", client_id="test-client", client_secret="nope",
		            code=code, redirect_uri=redirect)
		self.assertEqual((bad.status, bad.json()["error"]), (401, "invalid_client"))
		res = token(grant_type="authorization_code", client_id="test-client", client_secret="test-secret",
		            code=code, redirect_uri=redirect)
		self.assertEqual(res.status, 200)
		tokens = res.json()
		self.assertEqual(tokens["token_type"], "Bearer")
		self.assertEqual(tokens["expires_in"], 3600)
		self.assertEqual(tokens["scope"], scope)
		again = token(grant_type="authorization_code", client_id="test-client", client_secret="test-secret",
		              code=code, redirect_uri=redirect)
		self.assertEqual((again.status, again.json()["error"]), (400, "invalid_grant"))
		api = LEVER.request("GET", "/stages", headers=bearer_auth(tokens["access_token"]))
		self.assertEqual(api.status, 200)
		# No postings:read:admin scope.
		api = LEVER.request("GET", "/postings", headers=bearer_auth(tokens["access_token"]))
		self.assertEqual(api.status, 403)
		# Nor confidential access.
		api = LEVER.request("GET", "/opportunities?confidentiality=all",
		                    headers=bearer_auth(tokens["access_token"]))
		self.assertEqual(api.status, 403)
		refreshed = token(grant_type="refresh_token", client_id="test-client", client_secret="test-secret",
		                  refresh_token=tokens["refresh_token"]).json()
		self.assertNotEqual(refreshed["refresh_token"], tokens["refresh_token"])
		self.assertNotEqual(refreshed["access_token"], tokens["access_token"])
		reused = token(grant_type="refresh_token", client_id="test-client", client_secret="test-secret",
		               refresh_token=tokens["refresh_token"])
		self.assertEqual((reused.status, reused.json()["error"]), (400, "invalid_grant"))
		LEVER.control("POST", "/oauth/expire-access")
		api = LEVER.request("GET", "/stages", headers=bearer_auth(refreshed["access_token"]))
		self.assertEqual(api.status, 401)
		third = token(grant_type="refresh_token", client_id="test-client", client_secret="test-secret",
		              refresh_token=refreshed["refresh_token"]).json()
		api = LEVER.request("GET", "/stages", headers=bearer_auth(third["access_token"]))
		self.assertEqual(api.status, 200)
		counts = LEVER.control("GET", "/oauth")
		self.assertEqual(counts["codes_issued"], 1)
		self.assertEqual(counts["refreshes"], 2)
		self.assertEqual(counts["refresh_reuse"], 1)
		self.assertEqual(counts["live_access_tokens"], 1)
		self.assertEqual(counts["live_refresh_tokens"], 1)
		# Secrets never reach the log, in memory or on disk.
		secrets_seen = [tokens["access_token"], tokens["refresh_token"], refreshed["refresh_token"],
		                third["access_token"], code, "test-secret"]
		log_text = json.dumps(LEVER.requests())
		with open(LOG_FILE.name, encoding="utf-8") as f:
			log_text += f.read()
		for secret in secrets_seen:
			self.assertNotIn(secret, log_text)
		self.assertIn("refresh_token", log_text)  # the grant type is there, the token is not

	def test_request_log(self):
		LEVER.control("DELETE", "/requests")
		self.get("/opportunities", limit=3, expand=["applications", "stage"])
		LEVER.request("GET", "/stages", headers=basic_auth(LEVER_CONFIDENTIAL_KEY))
		LEVER.request("GET", "/stages", auth=False)
		log = LEVER.requests()
		self.assertEqual(len(log), 3)
		first = log[0]
		self.assertEqual(first["method"], "GET")
		self.assertEqual(first["path"], "/v1/opportunities")
		self.assertEqual(first["query"], {"limit": ["3"], "expand": ["applications", "stage"]})
		self.assertEqual((first["status"], first["auth"], first["rate_limited"]), (200, "basic", False))
		self.assertEqual([e["auth"] for e in log], ["basic", "basic", "none"])
		self.assertEqual(log[2]["status"], 401)
		self.assertEqual(LEVER.requests(since=log[1]["seq"]), log[2:])
		text = json.dumps(log)
		for secret in (LEVER_KEY, LEVER_CONFIDENTIAL_KEY, basic_auth(LEVER_KEY)["Authorization"]):
			self.assertNotIn(secret, text)
		self.assertEqual(LEVER.stats()["by_status"], {"200": 2, "401": 1})


class ReftyTest(unittest.TestCase):
	def setUp(self):
		REFTY.control("POST", "/reset")
		REFTY.control("DELETE", "/faults")
		REFTY.settings(rate=0, latency=0)

	def post(self, path, body, key="k-" + str(time.monotonic_ns()), headers=None):
		h = {"Idempotency-Key": key} if key is not None else {}
		h.update(headers or {})
		return REFTY.request("POST", path, body, headers=h)

	def candidate(self, n=1, email="ada@example.org", sequence=ENG_SEQ, **extra):
		body = {"external_id": "lever:opp-%d" % n, "sequence_id": sequence, "language": "en",
		        "name": "Ada Example", "email": email, "phone": "+44 20 7946 0000",
		        "job": {"external_id": "posting-1", "title": "Senior Backend Engineer"},
		        "profile_url": "https://hire.lever.co/candidates/opp-%d" % n}
		body.update(extra)
		return body

	def test_reference_data(self):
		seqs = REFTY.request("GET", "/sequences").json()
		self.assertIsNone(seqs["next_cursor"])
		eng = {s["name"]: s for s in seqs["data"]}["Engineering references"]
		self.assertEqual(eng["id"], ENG_SEQ)
		self.assertEqual([(s["id"], s["name"], s["type"], s["position"]) for s in eng["stages"]],
		                 [(ENG_SELF, "Self-assessment", "self_assessment", 1),
		                  (ENG_REF, "Reference check", "reference_check", 2)])
		self.assertEqual(REFTY.request("GET", "/languages").json()["data"], ["en", "fr", "de", "es", "nl"])
		self.assertEqual(REFTY.request("GET", "/sequences", auth=False).status, 401)
		res = REFTY.request("GET", "/sequences", headers=bearer_auth("wrong"))
		self.assertEqual(res.json()["error"]["code"], "unauthorized")
		self.assertEqual(REFTY.request("GET", "/nothing").status, 404)

	def test_create_candidate_and_replay(self):
		res = self.post("/candidates", self.candidate(), key="lever:opp-1:seq:candidate")
		self.assertEqual(res.status, 201)
		cand = res.json()["data"]
		self.assertEqual(set(cand), {"id", "external_id", "sequence_id", "language", "name", "email",
		                             "phone", "created_at", "steps"})
		self.assertTrue(cand["created_at"].endswith("Z"))
		replay = self.post("/candidates", self.candidate(), key="lever:opp-1:seq:candidate")
		self.assertEqual((replay.status, replay.header("Idempotent-Replayed")), (201, "true"))
		self.assertEqual(replay.body, res.body)
		# Same body with its keys in another order is the same request.
		reordered = dict(reversed(list(self.candidate().items())))
		self.assertEqual(self.post("/candidates", reordered, key="lever:opp-1:seq:candidate").status, 201)
		reused = self.post("/candidates", self.candidate(name="Other"), key="lever:opp-1:seq:candidate")
		self.assertEqual(reused.status, 422)
		self.assertEqual(reused.json()["error"]["code"], "idempotency_key_reused")
		existing = self.post("/candidates", self.candidate(), key="another-key")
		self.assertEqual(existing.status, 200)
		self.assertIsNone(existing.header("Idempotent-Replayed"))
		self.assertEqual(existing.json()["data"]["id"], cand["id"])
		other_seq = self.post("/candidates", self.candidate(sequence="seq_b3d85f21"), key="k3")
		self.assertEqual(other_seq.status, 201)
		listed = REFTY.request("GET", "/candidates?external_id=lever:opp-1").json()
		self.assertEqual(len(listed["data"]), 2)
		self.assertEqual(REFTY.request("GET", "/candidates/" + cand["id"]).json()["data"]["id"], cand["id"])
		self.assertEqual(REFTY.request("GET", "/candidates/nope").status, 404)
		summary = REFTY.control("GET", "/summary")
		self.assertEqual(summary["candidates_created"], 2)
		self.assertEqual(summary["candidates_existing"], 1)
		self.assertEqual(summary["idempotent_replays"], 2)
		self.assertEqual(summary["idempotency_reused"], 1)

	def test_post_needs_key_and_valid_body(self):
		res = self.post("/candidates", self.candidate(), key=None)
		self.assertEqual((res.status, res.json()["error"]["code"]), (400, "invalid_request"))
		self.assertEqual(self.post("/candidates", self.candidate(), key="x" * 256).status, 400)
		res = self.post("/candidates", b"{not json", key="bad-body")
		self.assertEqual(res.status, 400)
		body = self.candidate()
		del body["language"]
		res = self.post("/candidates", body, key="k-missing")
		self.assertEqual(res.json()["error"], {"code": "invalid_request",
		                                       "message": "missing required field language",
		                                       "field": "language"})
		# Only 2xx is stored: after the error the same key can carry the corrected request.
		self.assertEqual(self.post("/candidates", self.candidate(), key="k-missing").status, 201)
		res = self.post("/candidates", self.candidate(2, name=5), key="k-type")
		self.assertEqual(res.status, 422)
		self.assertEqual(res.json()["error"]["code"], "validation_failed")
		self.assertEqual(res.json()["error"]["field"], "name")
		res = self.post("/candidates", self.candidate(2, email="not-an-email"), key="k-email")
		self.assertEqual((res.status, res.json()["error"]["field"]), (422, "email"))
		res = self.post("/candidates", self.candidate(2, language="xx"), key="k-lang")
		self.assertEqual((res.status, res.json()["error"]["code"]), (422, "unsupported_language"))
		res = self.post("/candidates", self.candidate(2, sequence="seq_nope"), key="k-seq")
		self.assertEqual((res.status, res.json()["error"]["code"]), (404, "not_found"))
		body = self.candidate(2)
		del body["job"]["title"]
		res = self.post("/candidates", body, key="k-job")
		self.assertEqual((res.status, res.json()["error"]["field"]), (400, "job.title"))
		self.assertEqual(self.post("/candidates", self.candidate(2, name=""), key="k-empty").status, 201)

	def test_in_progress_conflict(self):
		REFTY.settings(latency=1.0)
		body = self.candidate(3)
		try:
			with concurrent.futures.ThreadPoolExecutor(2) as pool:
				first = pool.submit(self.post, "/candidates", body, "same-key")
				# The second is sent once the first is known to be in progress.
				self.assertTrue(wait_in_flight(REFTY, 1, key="same-key"))
				second = self.post("/candidates", body, "same-key")
				self.assertEqual(first.result().status, 201)
		finally:
			REFTY.settings(latency=0)
		self.assertEqual(second.status, 409)
		self.assertEqual(second.json()["error"]["code"], "idempotency_in_progress")
		replay = self.post("/candidates", body, "same-key")
		self.assertEqual((replay.status, replay.header("Idempotent-Replayed")), (201, "true"))
		self.assertEqual(REFTY.control("GET", "/summary")["candidates_created"], 1)

	def test_steps(self):
		cand = self.post("/candidates", self.candidate(4, email=None), key="c4").json()["data"]
		self.assertIsNone(cand["email"])
		path = "/candidates/%s/steps" % cand["id"]
		res = self.post(path, {"stage_id": ENG_REF}, key="lever:opp-4:%s:1000" % ENG_REF)
		self.assertEqual(res.json()["error"], {"code": "missing_email", "field": "email",
		                                       "message": res.json()["error"]["message"]})
		self.assertEqual(res.status, 422)
		patched = REFTY.request("PATCH", "/candidates/" + cand["id"], {"email": "late@example.org"})
		self.assertEqual(patched.json()["data"]["email"], "late@example.org")
		res = self.post(path, {"stage_id": ENG_REF}, key="lever:opp-4:%s:1000" % ENG_REF)
		self.assertEqual(res.status, 201)
		step = res.json()["data"]
		self.assertEqual((step["stage_id"], step["type"], step["status"], step["candidate_id"]),
		                 (ENG_REF, "reference_check", "sent", cand["id"]))
		self.assertEqual(REFTY.request("GET", "/steps/" + step["id"]).json()["data"], step)
		self.assertEqual(REFTY.request("GET", "/steps/nope").status, 404)
		res = self.post(path, {"stage_id": DESIGN_REF}, key="k-design")
		self.assertEqual((res.status, res.json()["error"]["code"]), (422, "unknown_stage"))
		res = self.post(path, {"stage_id": ENG_SELF, "language": "tlh"}, key="k-tlh")
		self.assertEqual((res.status, res.json()["error"]["code"]), (422, "unsupported_language"))
		res = self.post(path, {}, key="k-empty")
		self.assertEqual((res.status, res.json()["error"]["field"]), (400, "stage_id"))
		self.assertEqual(self.post("/candidates/nope/steps", {"stage_id": ENG_REF}, key="k-n").status, 404)
		# A deliberate re-send is a new key, hence a new step.
		self.assertEqual(self.post(path, {"stage_id": ENG_REF}, key="lever:opp-4:%s:2000" % ENG_REF).status,
		                 201)
		got = REFTY.request("GET", "/candidates/" + cand["id"]).json()["data"]
		self.assertEqual(len(got["steps"]), 2)
		summary = REFTY.control("GET", "/summary")
		self.assertEqual(summary["steps_sent"], 2)
		self.assertEqual(summary["steps_per_candidate_stage"],
		                 [{"external_id": "lever:opp-4", "stage_id": ENG_REF, "count": 2}])
		self.assertEqual(summary["errors"]["missing_email"], 1)
		steps = REFTY.control("GET", "/steps")["data"]
		self.assertEqual({s["email"] for s in steps}, {"late@example.org"})
		self.assertEqual(REFTY.control("GET", "/patches")["data"],
		                 [{"candidate_id": cand["id"], "external_id": "lever:opp-4",
		                   "sequence_id": cand["sequence_id"], "changes": {"email": "late@example.org"}}])
		done = REFTY.control("POST", "/steps/%s" % step["id"], {"status": "completed"})["data"]
		self.assertEqual(done["status"], "completed")
		self.assertIn("completed_at", REFTY.request("GET", "/steps/" + step["id"]).json()["data"])

	def test_list_paging(self):
		for n in range(7):
			self.assertEqual(self.post("/candidates", self.candidate(100 + n), key="p%d" % n).status, 201)
		seen = []
		cursor = None
		pages = 0
		while True:
			res = REFTY.request("GET", "/candidates?limit=3" + ("&cursor=" + cursor if cursor else ""))
			body = res.json()
			seen.extend(c["external_id"] for c in body["data"])
			pages += 1
			cursor = body["next_cursor"]
			if cursor is None:
				break
		self.assertEqual(pages, 3)
		self.assertEqual(seen, ["lever:opp-%d" % (100 + n) for n in range(7)])
		self.assertEqual(REFTY.request("GET", "/candidates?limit=101").status, 422)
		self.assertEqual(REFTY.request("GET", "/candidates?cursor=%%%").status, 400)

	def test_rate_limit_and_faults(self):
		REFTY.settings(rate=0.01, burst=2)
		try:
			results = [REFTY.request("GET", "/languages") for _ in range(3)]
		finally:
			REFTY.settings(rate=0)
		self.assertEqual([r.status for r in results], [200, 200, 429])
		self.assertEqual(results[2].json()["error"]["code"], "rate_limited")
		self.assertGreaterEqual(int(results[2].header("Retry-After")), 1)
		REFTY.fault(path="/v1/candidates", kind="503", count=1, methods=["POST"])
		res = self.post("/candidates", self.candidate(9), key="k9")
		self.assertEqual((res.status, res.json()["error"]["code"]), (503, "server_error"))
		self.assertEqual(self.post("/candidates", self.candidate(9), key="k9").status, 201)
		# The response is lost after the work is done: the retry is a replay.
		REFTY.fault(path="/v1/candidates", kind="reset", count=1, process=True)
		with self.assertRaises((ConnectionError, urllib.error.URLError, http.client.HTTPException)):
			self.post("/candidates", self.candidate(10), key="k10")
		res = self.post("/candidates", self.candidate(10), key="k10")
		self.assertEqual((res.status, res.header("Idempotent-Replayed")), (201, "true"))
		self.assertEqual(REFTY.control("GET", "/summary")["candidates_created"], 2)

	def test_sequences_control(self):
		REFTY.control("POST", "/sequences", {"sequences": [
			{"id": "seq_x", "name": "X", "stages": [{"id": "stg_x", "name": "Only", "type": "self_assessment"}]}]})
		try:
			seqs = REFTY.request("GET", "/sequences").json()["data"]
			self.assertEqual(seqs, [{"id": "seq_x", "name": "X", "stages": [
				{"id": "stg_x", "name": "Only", "type": "self_assessment", "position": 1}]}])
		finally:
			from refty import DEFAULT_SEQUENCES
			REFTY.control("POST", "/sequences", {"sequences": DEFAULT_SEQUENCES})


class StartupTest(unittest.TestCase):
	def test_port_file_and_sigterm(self):
		emu = Emulator("refty", "--api-key", "k1", "--rate", "5")
		with emu:
			res = http_request("GET", emu.base_url + "/languages", headers=bearer_auth("k1"))
			self.assertEqual(res.status, 200)
			self.assertEqual(emu.control("GET", "/settings")["rate"], 5)
		self.assertEqual(emu.proc.returncode, 0)

	def test_measure_large_seed(self):
		with Emulator("lever", "--rate", "0") as emu:
			started = time.monotonic()
			seeded = emu.control("POST", "/seed", {"count": 200000, "seed": 3, "covered_fraction": 0.1})
			seed_s = time.monotonic() - started
			timings = []
			for _ in range(5):
				t = time.monotonic()
				res = emu.request("GET", "/opportunities?expand=applications")
				timings.append(time.monotonic() - t)
				self.assertEqual(len(res.json()["data"]), 100)
			rss = "?"
			try:
				with open("/proc/%d/status" % emu.proc.pid, encoding="ascii") as f:
					rss = next(line.split(":")[1].strip() for line in f if line.startswith("VmRSS"))
			except (OSError, StopIteration):
				pass
			self.assertEqual(seeded["total"], 200000)
			sys.stderr.write("\n[measure] seeding 200000: %.2f s wall (%.2f s in server); first page "
			                 "%.1f ms, best of 5 %.1f ms; server RSS %s\n"
			                 % (seed_s, seeded["seconds"], timings[0] * 1000, min(timings) * 1000, rss))


if __name__ == "__main__":
	unittest.main(verbosity=2)
