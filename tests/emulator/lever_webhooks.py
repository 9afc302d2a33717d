"""Lever's webhooks, emulated: the /v1/webhooks API and deliveries as Lever makes them.

Deliveries are POSTed by a thread of their own to each registered URL for its event, as Lever
sends them: {triggeredAt, event, token (48 random characters), signature, data}, with signature
= hex(HMAC-SHA256(signature token, token + str(triggeredAt))). Any answer but 2xx is a failure,
retried five times with growing gaps (Lever's policy; the base gap is short here). Faults make
the worst of it: deliveries dropped, sent twice, or held back. See README.md (webhooks).
"""

import collections
import hashlib
import hmac
import json
import random
import secrets
import string
import threading
import time
import urllib.error
import urllib.request

EVENTS = ("applicationCreated", "candidateHired", "candidateStageChange", "candidateArchiveChange",
          "candidateDeleted", "interviewCreated", "interviewUpdated", "interviewDeleted",
          "contactCreated", "contactUpdated")
RETRIES = 5


def now_ms():
	return int(time.time() * 1000)


def sign(signature_token, token, triggered_at):
	message = (token + str(triggered_at)).encode()
	return hmac.new(signature_token.encode(), message, hashlib.sha256).hexdigest()


class Webhooks:
	def __init__(self, retry_base=0.05):
		self.lock = threading.Condition()
		self.retry_base = retry_base
		self.reset()
		self.thread = threading.Thread(target=self.run, name="webhooks", daemon=True)
		self.thread.start()

	def reset(self):
		with self.lock:
			self.hooks = collections.OrderedDict()
			self.queue = []  # (due monotonic, attempt, hook id, envelope)
			self.log = []
			self.faults = {"drop": 0.0, "duplicate": 0.0, "delay": 0.0, "seed": 0}
			self.rng = random.Random(0)
			self.lock.notify_all()

	# -- the API ---------------------------------------------------------------------------

	def render(self, hook):
		return {"id": hook["id"], "event": hook["event"], "url": hook["url"],
		        "configuration": {"signatureToken": hook["signatureToken"],
		                          "conditions": hook["conditions"]},
		        "createdAt": hook["createdAt"], "updatedAt": hook["createdAt"]}

	def api(self, method, parts, body):
		"""(status, object) for /v1/webhooks[/id]; parts are the path after 'webhooks'."""
		with self.lock:
			if not parts and method == "GET":
				return 200, {"data": [self.render(h) for h in self.hooks.values()],
				             "hasNext": False}
			if not parts and method == "POST":
				event, url = body.get("event"), body.get("url")
				if event not in EVENTS:
					return 400, {"code": "BadRequestError", "message": "Invalid event"}
				if not isinstance(url, str) or not url.startswith(("https://", "http://127.")):
					return 400, {"code": "BadRequestError", "message": "Invalid url"}
				hook = {"id": secrets.token_hex(16), "event": event, "url": url,
				        "signatureToken": "".join(secrets.choice(string.ascii_letters + string.digits)
				                                  for _ in range(40)),
				        "conditions": (body.get("configuration") or {}).get("conditions", {}),
				        "createdAt": now_ms()}
				self.hooks[hook["id"]] = hook
				return 201, {"data": self.render(hook)}
			if len(parts) == 1 and method == "DELETE":
				if self.hooks.pop(parts[0], None) is None:
					return 404, {"code": "ResourceNotFound", "message": "Webhook not found"}
				return 204, None
		return 405, {"code": "MethodNotAllowed", "message": "Method not allowed"}

	# -- deliveries ------------------------------------------------------------------------

	def emit(self, event, data, at=None):
		"""Queues a delivery of event to every hook registered for it."""
		with self.lock:
			for hook in self.hooks.values():
				if hook["event"] != event:
					continue
				triggered = at if at is not None else now_ms()
				token = "".join(secrets.choice(string.ascii_lowercase + string.digits)
				                for _ in range(48))
				envelope = {"triggeredAt": triggered, "event": event, "token": token,
				            "signature": sign(hook["signatureToken"], token, triggered),
				            "data": data}
				if self.rng.random() < self.faults["drop"]:
					self.log.append({"event": event, "token": token, "dropped": True})
					continue
				delay = self.faults["delay"] if self.rng.random() < 0.5 else 0.0
				copies = 2 if self.rng.random() < self.faults["duplicate"] else 1
				for _ in range(copies):
					self.queue.append((time.monotonic() + delay, 0, hook["id"], envelope))
			self.lock.notify_all()

	def run(self):
		while True:
			with self.lock:
				while not self.queue:
					self.lock.wait()
				self.queue.sort(key=lambda item: item[0])
				due, attempt, hook_id, envelope = self.queue[0]
				wait = due - time.monotonic()
				if wait > 0:
					self.lock.wait(wait)
					continue
				self.queue.pop(0)
				hook = self.hooks.get(hook_id)
			if hook is None:
				continue
			status = self.post(hook["url"], envelope)
			with self.lock:
				self.log.append({"event": envelope["event"], "token": envelope["token"],
				                 "attempt": attempt, "status": status})
				if not (200 <= status < 300) and attempt < RETRIES:
					gap = self.retry_base * (2 ** attempt)
					self.queue.append((time.monotonic() + gap, attempt + 1, hook_id, envelope))

	def post(self, url, envelope):
		req = urllib.request.Request(url, data=json.dumps(envelope).encode(), method="POST",
		                             headers={"Content-Type": "application/json",
		                                      "User-Agent": "Lever-Webhooks"})
		try:
			with urllib.request.urlopen(req, timeout=5) as resp:
				return resp.status
		except urllib.error.HTTPError as exc:
			return exc.code
		except (OSError, ValueError):
			return 0  # no answer

	# -- control ---------------------------------------------------------------------------

	def control(self, method, parts, body):
		"""(status, object) for /_control/webhooks[/...], or None."""
		if parts == ["deliveries"] and method == "GET":
			with self.lock:
				return 200, {"deliveries": list(self.log), "queued": len(self.queue)}
		if parts == ["faults"] and method == "POST":
			with self.lock:
				for key in ("drop", "duplicate", "delay"):
					if key in body:
						value = body[key]
						if not isinstance(value, (int, float)) or value < 0:
							return 400, {"error": "'%s' must be a number >= 0" % key}
						self.faults[key] = float(value)
				if "seed" in body:
					self.rng = random.Random(body["seed"])
				return 200, dict(self.faults)
		if parts == ["reset"] and method == "POST":
			self.reset()
			return 200, {"ok": True}
		if parts == ["emit"] and method == "POST":
			self.emit(body.get("event"), body.get("data", {}), body.get("triggeredAt"))
			return 200, {"ok": True}
		return None
