#!/usr/bin/env python3
"""Emulator of the Refty API (sequences, languages, candidates, steps) for tests.

Implements the Refty contract exactly, idempotency semantics included: keys, replays with
`Idempotent-Replayed: true`, 422 idempotency_key_reused, 409 idempotency_in_progress while the
first request is being processed (which takes --latency), and only 2xx responses stored.
The control API under /_control/ inspects what was sent. See README.md in this folder.
"""

import collections
import datetime
import hashlib
import json
import math
import os
import secrets
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import App, ControlError, Response, b64url, b64url_decode, run_app  # noqa: E402

DEFAULT_SEQUENCES = [
	{"id": "seq_7c1e2a90", "name": "Engineering references", "stages": [
		{"id": "stg_41d0b3e2", "name": "Self-assessment", "type": "self_assessment", "position": 1},
		{"id": "stg_9a6f5c18", "name": "Reference check", "type": "reference_check", "position": 2},
	]},
	{"id": "seq_b3d85f21", "name": "Design references", "stages": [
		{"id": "stg_e2c7a604", "name": "Reference check", "type": "reference_check", "position": 1},
	]},
]
DEFAULT_LANGUAGES = ["en", "fr", "de", "es", "nl"]
STAGE_TYPES = ("self_assessment", "reference_check")
STEP_STATUSES = ("sent", "in_progress", "completed", "expired", "canceled", "failed")


def rfc3339(ts=None):
	ts = time.time() if ts is None else ts
	dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
	return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


class ReftyError(Exception):
	def __init__(self, status, code, message, field=None):
		super().__init__(message)
		self.status = status
		self.code = code
		self.message = message
		self.field = field


def invalid(message, field=None):
	return ReftyError(400, "invalid_request", message, field)


def refused(message, field, code="validation_failed"):
	return ReftyError(422, code, message, field)


class Refty(App):
	name = "refty"
	default_rate = None
	default_burst = None
	default_retry_after = 1

	CODES = {400: "invalid_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
	         405: "method_not_allowed", 409: "idempotency_in_progress", 422: "validation_failed",
	         429: "rate_limited"}

	@classmethod
	def add_arguments(cls, parser):
		g = parser.add_argument_group("refty")
		g.add_argument("--api-key", action="append",
		               help="accepted bearer API key (repeatable; default test-refty-key)")

	def __init__(self, args):
		super().__init__(args)
		self.keys = set(args.api_key or ["test-refty-key"])
		self.lock = threading.RLock()
		self.set_sequences(DEFAULT_SEQUENCES)
		self.languages = list(DEFAULT_LANGUAGES)
		self.reset()

	def reset(self):
		with self.lock:
			self.candidates = collections.OrderedDict()
			self.by_pair = {}
			self.by_external = collections.defaultdict(list)
			self.steps = {}
			self.serial = 0
			self.idem = {}
			self.counts = collections.Counter()
			self.sent = collections.Counter()
			self.errors = collections.Counter()
			self.patch_log = []

	def set_sequences(self, sequences):
		self.sequences = sequences
		self.seq_by_id = {s["id"]: s for s in sequences}

	def health(self):
		with self.lock:
			return {"candidates": len(self.candidates), "steps": len(self.steps)}

	# -- errors -----------------------------------------------------------------------------

	def error(self, status, code=None, message=None, headers=None, field=None):
		if code is None:
			code = self.CODES.get(status, "server_error" if status >= 500 else "invalid_request")
		err = {"code": code, "message": message or "request failed with status %d" % status}
		if field is not None:
			err["field"] = field
		return Response.json(status, {"error": err}, headers)

	def rate_limited(self, retry_after):
		seconds = max(1, int(math.ceil(retry_after)))
		return self.error(429, "rate_limited", "rate limit exceeded",
		                  [("Retry-After", str(seconds))])

	# -- dispatch ---------------------------------------------------------------------------

	def handle(self, req):
		resp = self.handle_inner(req)
		if resp.status >= 400:
			try:
				code = json.loads(resp.body)["error"]["code"]
			except (ValueError, KeyError, TypeError):
				code = str(resp.status)
			with self.lock:
				self.errors[code] += 1
		return resp

	def handle_inner(self, req):
		kind, cred = req.auth()
		if kind != "bearer" or cred not in self.keys:
			req.delay()
			return self.error(401, "unauthorized", "missing or invalid API key")
		parts = req.path.strip("/").split("/")
		if not parts or parts[0] != "v1":
			req.delay()
			return self.error(404, "not_found", "unknown route %s" % req.path)
		parts = parts[1:]
		route = self.route(req.method, parts)
		if route is None:
			req.delay()
			return self.error(404, "not_found", "unknown route %s %s" % (req.method, req.path))
		if route == "method":
			req.delay()
			return self.error(405, "method_not_allowed", "method %s not allowed on %s"
			                  % (req.method, req.path))
		fn, args = route
		if req.method == "POST":
			return self.idempotent(req, fn, args)
		req.delay()
		return self.run(fn, req, args)

	def route(self, method, parts):
		n = len(parts)
		table = None
		if parts == ["sequences"]:
			table = {"GET": self.list_sequences}
		elif parts == ["languages"]:
			table = {"GET": self.list_languages}
		elif parts == ["candidates"]:
			table = {"GET": self.list_candidates, "POST": self.create_candidate}
		elif n == 2 and parts[0] == "candidates":
			table = {"GET": self.get_candidate, "PATCH": self.patch_candidate}
		elif n == 3 and parts[0] == "candidates" and parts[2] == "steps":
			table = {"POST": self.create_step}
		elif n == 2 and parts[0] == "steps":
			table = {"GET": self.get_step}
		if table is None:
			return None
		fn = table.get(method)
		if fn is None:
			return "method"
		return fn, parts[1:2]

	def run(self, fn, req, args):
		try:
			status, data = fn(req, *args)
			return Response.json(status, data)
		except ReftyError as exc:
			return self.error(exc.status, exc.code, exc.message, field=exc.field)

	# -- idempotency ------------------------------------------------------------------------

	def fingerprint(self, req):
		try:
			canonical = json.dumps(req.json_body(), sort_keys=True, separators=(",", ":")).encode()
		except ValueError:
			canonical = req.body
		return hashlib.sha256(req.method.encode() + b" " + req.path.encode() + b"\n" + canonical).hexdigest()

	def idempotent(self, req, fn, args):
		key = req.header("Idempotency-Key")
		if key is None:
			req.delay()
			return self.error(400, "invalid_request", "missing Idempotency-Key header",
			                  field="Idempotency-Key")
		if not 1 <= len(key) <= 255 or not all(0x20 < ord(c) < 0x7F for c in key):
			req.delay()
			return self.error(400, "invalid_request", "Idempotency-Key must be 1-255 printable ASCII",
			                  field="Idempotency-Key")
		fp = self.fingerprint(req)
		with self.lock:
			entry = self.idem.get(key)
			if entry is None:
				entry = {"state": "processing", "fingerprint": fp}
				self.idem[key] = entry
				outcome = "fresh"
			elif entry["fingerprint"] != fp:
				outcome = "reused"
				self.counts["idempotency_reused"] += 1
			elif entry["state"] == "processing":
				outcome = "in_progress"
				self.counts["idempotency_conflicts"] += 1
			else:
				outcome = "replay"
				self.counts["idempotent_replays"] += 1
		# Processing takes the configured latency, during which the key is held.
		req.delay()
		if outcome == "reused":
			return self.error(422, "idempotency_key_reused",
			                  "Idempotency-Key was used with a different request", field="Idempotency-Key")
		if outcome == "in_progress":
			return self.error(409, "idempotency_in_progress",
			                  "a request with this Idempotency-Key is still being processed")
		if outcome == "replay":
			req.notes["replayed"] = True
			return Response(entry["status"], entry["body"], [("Idempotent-Replayed", "true")])
		resp = None
		try:
			resp = self.run(fn, req, args)
		finally:
			with self.lock:
				if resp is not None and 200 <= resp.status < 300:
					entry["state"] = "done"
					entry["status"] = resp.status
					entry["body"] = resp.body
					entry["stored_at"] = time.time()
				else:
					del self.idem[key]
		return resp

	# -- validation helpers -----------------------------------------------------------------

	def body_object(self, req):
		try:
			body = req.json_body()
		except ValueError:
			raise invalid("body is not valid JSON")
		if not isinstance(body, dict):
			raise invalid("body must be a JSON object")
		return body

	def require(self, body, name, prefix=""):
		if name not in body or body[name] is None:
			raise invalid("missing required field %s%s" % (prefix, name), prefix + name)
		return body[name]

	def string(self, value, field, allow_empty=True, max_len=65536):
		if not isinstance(value, str):
			raise refused("%s must be a string" % field, field)
		if not allow_empty and not value:
			raise refused("%s must not be empty" % field, field)
		if len(value) > max_len:
			raise refused("%s is too long" % field, field)
		return value

	def optional_string(self, body, name, check=None):
		if name not in body or body[name] is None:
			return None
		value = self.string(body[name], name)
		if check is not None and not check(value):
			raise refused("%s is not valid" % name, name)
		return value

	@staticmethod
	def valid_email(value):
		local, at, domain = value.partition("@")
		return bool(at and local and "." in domain and not any(c.isspace() for c in value)
		            and not domain.startswith(".") and not domain.endswith("."))

	@staticmethod
	def valid_url(value):
		return value.startswith("https://") or value.startswith("http://")

	def job(self, value):
		if not isinstance(value, dict):
			raise refused("job must be an object", "job")
		ext = self.require(value, "external_id", "job.")
		title = self.require(value, "title", "job.")
		return {"external_id": self.string(ext, "job.external_id", allow_empty=False),
		        "title": self.string(title, "job.title")}

	def language(self, value, field="language"):
		value = self.string(value, field, allow_empty=False)
		if value not in self.languages:
			raise refused("language %s is not supported" % value, field, "unsupported_language")
		return value

	def limit(self, req):
		value = req.qs_one("limit")
		if value is None:
			return 100
		try:
			limit = int(value)
		except ValueError:
			raise refused("limit must be an integer from 1 to 100", "limit")
		if not 1 <= limit <= 100:
			raise refused("limit must be an integer from 1 to 100", "limit")
		return limit

	def cursor(self, req, kind):
		value = req.qs_one("cursor")
		if value is None or value == "":
			return None
		try:
			tag, _, pos = b64url_decode(value).decode("ascii").partition(":")
			if tag != kind:
				raise ValueError(tag)
			return int(pos)
		except (ValueError, UnicodeDecodeError):
			raise invalid("cursor is not valid", "cursor")

	def make_cursor(self, kind, pos):
		return b64url(("%s:%d" % (kind, pos)).encode("ascii"))

	# -- views ------------------------------------------------------------------------------

	def step_view(self, step):
		out = {k: step[k] for k in ("id", "candidate_id", "stage_id", "type", "status", "sent_at")}
		if step.get("completed_at") is not None:
			out["completed_at"] = step["completed_at"]
		if step.get("report_url") is not None:
			out["report_url"] = step["report_url"]
		return out

	def candidate_view(self, cand):
		out = {k: cand[k] for k in ("id", "external_id", "sequence_id", "language", "name", "email",
		                            "phone", "created_at")}
		out["steps"] = [self.step_view(self.steps[s]) for s in cand["steps"]]
		return out

	# -- endpoints --------------------------------------------------------------------------

	def list_sequences(self, req, *_):
		limit = self.limit(req)
		start = self.cursor(req, "s") or 0
		with self.lock:
			chunk = self.sequences[start:start + limit]
			more = start + limit < len(self.sequences)
			data = json.loads(json.dumps(chunk))
		return 200, {"data": data, "next_cursor": self.make_cursor("s", start + limit) if more else None}

	def list_languages(self, req, *_):
		with self.lock:
			return 200, {"data": list(self.languages), "next_cursor": None}

	def list_candidates(self, req, *_):
		limit = self.limit(req)
		after = self.cursor(req, "c")
		external = req.qs_one("external_id")
		with self.lock:
			if external is not None:
				pool = self.by_external.get(external, [])
			else:
				pool = list(self.candidates.values())
			pool = [c for c in pool if after is None or c["serial"] > after]
			chunk = pool[:limit]
			data = [self.candidate_view(c) for c in chunk]
			more = len(pool) > limit
		return 200, {"data": data,
		             "next_cursor": self.make_cursor("c", chunk[-1]["serial"]) if more else None}

	def create_candidate(self, req, *_):
		body = self.body_object(req)
		for name in ("external_id", "sequence_id", "language", "name", "job"):
			self.require(body, name)
		external = self.string(body["external_id"], "external_id", allow_empty=False, max_len=255)
		seq_id = self.string(body["sequence_id"], "sequence_id", allow_empty=False)
		name = self.string(body["name"], "name")
		job = self.job(body["job"])
		language = self.language(body["language"])
		email = self.optional_string(body, "email", self.valid_email)
		phone = self.optional_string(body, "phone")
		profile = self.optional_string(body, "profile_url", self.valid_url)
		with self.lock:
			if seq_id not in self.seq_by_id:
				raise ReftyError(404, "not_found", "sequence %s not found" % seq_id, "sequence_id")
			existing = self.by_pair.get((external, seq_id))
			if existing is not None:
				self.counts["candidates_existing"] += 1
				return 200, {"data": self.candidate_view(existing)}
			self.serial += 1
			cand = {
				"id": "cand_%s" % secrets.token_hex(8),
				"serial": self.serial,
				"external_id": external,
				"sequence_id": seq_id,
				"language": language,
				"name": name,
				"email": email,
				"phone": phone,
				"profile_url": profile,
				"job": job,
				"created_at": rfc3339(),
				"steps": [],
				"patches": 0,
				"idempotency_key": req.header("Idempotency-Key"),
			}
			self.candidates[cand["id"]] = cand
			self.by_pair[(external, seq_id)] = cand
			self.by_external[external].append(cand)
			self.counts["candidates_created"] += 1
			return 201, {"data": self.candidate_view(cand)}

	def find_candidate(self, cand_id):
		cand = self.candidates.get(cand_id)
		if cand is None:
			raise ReftyError(404, "not_found", "candidate %s not found" % cand_id)
		return cand

	def get_candidate(self, req, cand_id):
		with self.lock:
			return 200, {"data": self.candidate_view(self.find_candidate(cand_id))}

	def patch_candidate(self, req, cand_id):
		with self.lock:
			self.find_candidate(cand_id)
		body = self.body_object(req)
		changes = {}
		if "name" in body:
			changes["name"] = self.string(body["name"], "name")
		for name, check in (("email", self.valid_email), ("phone", None), ("profile_url", self.valid_url)):
			if name in body:
				changes[name] = self.optional_string(body, name, check)
		if "job" in body:
			changes["job"] = self.job(body["job"])
		with self.lock:
			cand = self.find_candidate(cand_id)
			cand.update(changes)
			cand["patches"] += 1
			# PATCH carries no Idempotency-Key: a log of each one applied is the only record
			# of what every update gave Refty, and in which order.
			self.patch_log.append({"candidate_id": cand_id, "external_id": cand["external_id"],
			                       "sequence_id": cand["sequence_id"], "changes": dict(changes)})
			self.counts["candidates_patched"] += 1
			return 200, {"data": self.candidate_view(cand)}

	def create_step(self, req, cand_id):
		with self.lock:
			self.find_candidate(cand_id)
		body = self.body_object(req)
		stage_id = self.string(self.require(body, "stage_id"), "stage_id", allow_empty=False)
		language = None
		if body.get("language") is not None:
			language = self.language(body["language"])
		with self.lock:
			cand = self.find_candidate(cand_id)
			seq = self.seq_by_id.get(cand["sequence_id"])
			if seq is None:
				raise ReftyError(404, "not_found", "sequence %s not found" % cand["sequence_id"])
			stage = next((s for s in seq["stages"] if s["id"] == stage_id), None)
			if stage is None:
				raise refused("stage %s is not in sequence %s" % (stage_id, seq["id"]), "stage_id",
				              "unknown_stage")
			if not cand["email"]:
				raise refused("candidate %s has no email" % cand_id, "email", "missing_email")
			step = {
				"id": "step_%s" % secrets.token_hex(8),
				"candidate_id": cand_id,
				"stage_id": stage_id,
				"type": stage["type"],
				"status": "sent",
				"sent_at": rfc3339(),
				"completed_at": None,
				"report_url": None,
				"external_id": cand["external_id"],
				"language": language or cand["language"],
				"email": cand["email"],
				"idempotency_key": req.header("Idempotency-Key"),
			}
			self.steps[step["id"]] = step
			cand["steps"].append(step["id"])
			self.counts["steps_sent"] += 1
			self.sent[(cand["external_id"], stage_id)] += 1
			return 201, {"data": self.step_view(step)}

	def get_step(self, req, step_id):
		with self.lock:
			step = self.steps.get(step_id)
			if step is None:
				raise ReftyError(404, "not_found", "step %s not found" % step_id)
			return 200, {"data": self.step_view(step)}

	# -- control ----------------------------------------------------------------------------

	def full_candidate(self, cand):
		out = {k: v for k, v in cand.items() if k != "steps"}
		out["steps"] = [dict(self.steps[s]) for s in cand["steps"]]
		return out

	def summary(self):
		per = [{"external_id": ext, "stage_id": stage, "count": n}
		       for (ext, stage), n in sorted(self.sent.items())]
		return {
			"candidates": len(self.candidates),
			"candidates_created": self.counts["candidates_created"],
			"candidates_existing": self.counts["candidates_existing"],
			"candidates_patched": self.counts["candidates_patched"],
			"steps_sent": self.counts["steps_sent"],
			"steps_per_candidate_stage": per,
			"max_steps_per_candidate_stage": max(self.sent.values(), default=0),
			"idempotent_replays": self.counts["idempotent_replays"],
			"idempotency_conflicts": self.counts["idempotency_conflicts"],
			"idempotency_reused": self.counts["idempotency_reused"],
			"idempotency_keys": len(self.idem),
			"errors": dict(sorted(self.errors.items())),
		}

	def control(self, req, route):
		m = req.method
		parts = route.split("/")
		with self.lock:
			if route == "candidates" and m == "GET":
				return Response.json(200, {"data": [self.full_candidate(c) for c in self.candidates.values()]})
			if parts[0] == "candidates" and len(parts) == 2:
				cand = self.candidates.get(parts[1])
				if cand is None:
					raise ControlError("unknown candidate '%s'" % parts[1], 404)
				if m == "GET":
					return Response.json(200, {"data": self.full_candidate(cand)})
				if m == "DELETE":
					del self.candidates[cand["id"]]
					self.by_pair.pop((cand["external_id"], cand["sequence_id"]), None)
					self.by_external[cand["external_id"]].remove(cand)
					return Response.json(200, {"ok": True})
			if route == "steps" and m == "GET":
				return Response.json(200, {"data": [dict(s) for s in self.steps.values()]})
			if parts[0] == "steps" and len(parts) == 2 and m == "POST":
				return self.control_step(req, parts[1])
			if route == "patches" and m == "GET":
				return Response.json(200, {"data": [dict(p) for p in self.patch_log]})
			if route == "summary" and m == "GET":
				return Response.json(200, self.summary())
			if route == "reset" and m == "POST":
				self.reset()
				return Response.json(200, {"ok": True})
			if route == "sequences":
				if m == "GET":
					return Response.json(200, {"data": self.sequences})
				if m == "POST":
					self.set_sequences(self.parse_sequences(self.emulator.control_json(req)))
					return Response.json(200, {"data": self.sequences})
			if route == "languages" and m == "POST":
				body = self.emulator.control_json(req)
				langs = body.get("languages") if isinstance(body, dict) else body
				if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
					raise ControlError("expected a list of language codes")
				self.languages = list(langs)
				return Response.json(200, {"data": self.languages})
			if route == "keys" and m == "POST":
				body = self.emulator.control_json(req)
				if not isinstance(body, dict) or not isinstance(body.get("key"), str):
					raise ControlError("expected {\"key\": \"...\"}")
				self.keys.add(body["key"])
				return Response.json(200, {"ok": True})
		return None

	def control_step(self, req, step_id):
		step = self.steps.get(step_id)
		if step is None:
			raise ControlError("unknown step '%s'" % step_id, 404)
		body = self.emulator.control_json(req, {})
		status = body.get("status") if isinstance(body, dict) else None
		if status not in STEP_STATUSES:
			raise ControlError("'status' must be one of %s" % ", ".join(STEP_STATUSES))
		step["status"] = status
		if status == "completed":
			step["completed_at"] = rfc3339()
			step["report_url"] = "https://app.refty.example/reports/%s" % step_id
		return Response.json(200, {"data": dict(step)})

	def parse_sequences(self, body):
		seqs = body.get("sequences") if isinstance(body, dict) else body
		if not isinstance(seqs, list):
			raise ControlError("expected {\"sequences\": [...]} or a list")
		out = []
		for seq in seqs:
			if not isinstance(seq, dict) or not isinstance(seq.get("name"), str) or \
			   not isinstance(seq.get("stages"), list):
				raise ControlError("a sequence needs 'name' and 'stages'")
			stages = []
			for i, st in enumerate(seq["stages"]):
				if not isinstance(st, dict) or not isinstance(st.get("name"), str) or \
				   st.get("type") not in STAGE_TYPES:
					raise ControlError("a stage needs 'name' and 'type' (%s)" % " or ".join(STAGE_TYPES))
				stages.append({"id": st.get("id") or "stg_%s" % secrets.token_hex(4),
				               "name": st["name"], "type": st["type"],
				               "position": st.get("position", i + 1)})
			out.append({"id": seq.get("id") or "seq_%s" % secrets.token_hex(4), "name": seq["name"],
			            "stages": stages})
		return out


def main(argv=None):
	return run_app(Refty, "Emulator of the Refty API for tests.", argv)


if __name__ == "__main__":
	sys.exit(main())
