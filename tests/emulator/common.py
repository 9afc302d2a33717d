"""Plumbing shared by the Lever and Refty emulators.

A threaded HTTP/1.1 server on the loopback interface with a token-bucket rate limiter, injected
latency, scripted or random faults, an in-memory request log and a control API under /_control/.
An emulator is an App subclass; run_app() parses the command line and serves it until SIGTERM.

Python 3 standard library only.
"""

import argparse
import base64
import collections
import http
import json
import os
import random
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 * 1024 * 1024
CONTROL_PREFIX = "/_control"

GARBAGE_BODY = b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>\n"


def now_ms():
	return int(time.time() * 1000)


def dumps(obj):
	"""Compact UTF-8 JSON, the way a production API sends it."""
	return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def b64url(data):
	return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
	text = text.strip()
	pad = "=" * (-len(text) % 4)
	return base64.urlsafe_b64decode(text + pad)


class Response:
	"""What a handler returns. `special` marks a fault that is not a normal HTTP response."""

	__slots__ = ("status", "body", "headers", "content_type", "special", "params")

	def __init__(self, status, body=b"", headers=None, content_type="application/json"):
		self.status = status
		self.body = body
		self.headers = list(headers or [])
		self.content_type = content_type
		self.special = None
		self.params = None

	@classmethod
	def json(cls, status, obj, headers=None):
		return cls(status, dumps(obj), headers)

	@classmethod
	def fault(cls, kind, **params):
		resp = cls(0)
		resp.special = kind
		resp.params = params
		return resp


class ControlError(Exception):
	"""Bad input to the control API: answered 400 (or `status`) with {"error": message}."""

	def __init__(self, message, status=400):
		super().__init__(message)
		self.status = status


class Request:
	"""One parsed HTTP request, as handlers see it."""

	def __init__(self, method, target, headers, body, emulator):
		self.method = method
		self.target = target
		split = urllib.parse.urlsplit(target)
		self.path = urllib.parse.unquote(split.path) or "/"
		self.raw_query = split.query
		self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
		self.headers = headers
		self.body = body
		self.emulator = emulator
		# Whatever an app wants added to this request's log entry (e.g. "replayed": true).
		self.notes = {}
		# The fired rule of an app-defined fault kind; the app carries it out.
		self.fault = None
		self._json = None
		self._json_parsed = False
		self._json_error = None

	def header(self, name, default=None):
		return self.headers.get(name, default)

	def json_body(self):
		"""The parsed JSON body; raises ValueError if the body is not JSON."""
		if not self._json_parsed:
			self._json_parsed = True
			try:
				self._json = json.loads(self.body.decode("utf-8"))
			except (UnicodeDecodeError, ValueError) as exc:
				self._json_error = exc
		if self._json_error is not None:
			raise ValueError(str(self._json_error))
		return self._json

	def form_body(self):
		text = self.body.decode("utf-8", errors="replace")
		return {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}

	def qs_one(self, name, default=None):
		values = self.query.get(name)
		if not values:
			return default
		return values[-1]

	def auth(self):
		"""(kind, credential) where kind is basic, bearer, none or other; never logged."""
		value = self.headers.get("Authorization")
		if value is None:
			return "none", None
		scheme, _, rest = value.strip().partition(" ")
		scheme = scheme.lower()
		rest = rest.strip()
		if scheme == "basic":
			try:
				user, _, password = base64.b64decode(rest, validate=True).decode("utf-8").partition(":")
			except (ValueError, UnicodeDecodeError):
				return "basic", None
			return "basic", (user, password)
		if scheme == "bearer":
			return "bearer", rest or None
		return "other", None

	def delay(self):
		"""Sleep for the configured latency: the emulated processing time of this request."""
		latency = self.emulator.latency
		if latency > 0:
			time.sleep(latency)


class App:
	"""Base class of an emulated service. Subclasses override the hooks they need."""

	name = "emulator"
	default_rate = None
	default_burst = None
	default_retry_after = None

	def __init__(self, args):
		self.args = args
		self.emulator = None

	@classmethod
	def add_arguments(cls, parser):
		pass

	def bind(self, emulator):
		"""Called once the socket is bound: emulator.port is known."""
		self.emulator = emulator

	def is_limited(self, path):
		"""Whether the rate limiter applies to this path."""
		return path == "/v1" or path.startswith("/v1/")

	def handle(self, req):
		raise NotImplementedError

	def error(self, status, code=None, message=None, headers=None):
		raise NotImplementedError

	def rate_limited(self, retry_after):
		raise NotImplementedError

	# Fault kinds the app itself carries out (e.g. hostile list pages), on top of the common ones.
	fault_kinds = ()

	def control(self, req, route):
		"""App-specific control route (path below /_control/): a Response, or None if unknown."""
		return None

	def faults_cleared(self):
		"""Called after DELETE /_control/faults: forget any state the app's fault kinds keep."""

	def loggable_body(self, req):
		"""The request body as it may appear in the log; apps redact secrets here."""
		if not req.body:
			return None
		try:
			return req.json_body()
		except ValueError:
			return req.body[:4096].decode("utf-8", errors="replace")

	def health(self):
		return {}


class TokenBucket:
	"""Classic token bucket: `burst` tokens, refilled at `rate` per second. rate None = off."""

	def __init__(self, rate, burst):
		self.lock = threading.Lock()
		self.configure(rate, burst)

	def configure(self, rate, burst):
		with self.lock:
			if rate is not None and rate <= 0:
				rate = None
			self.rate = rate
			if rate is None:
				self.burst = burst
			else:
				self.burst = burst if burst and burst >= 1 else max(1.0, float(rate))
			self.tokens = float(self.burst or 0)
			self.stamp = time.monotonic()

	def take(self, now):
		"""(allowed, seconds until the next token)."""
		with self.lock:
			if self.rate is None:
				return True, 0.0
			self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
			self.stamp = now
			if self.tokens >= 1.0:
				self.tokens -= 1.0
				return True, 0.0
			return False, (1.0 - self.tokens) / self.rate

	def allowance(self):
		"""Most requests the bucket can let through in any one-second window."""
		if self.rate is None:
			return None
		return float(self.burst) + self.rate


class FaultRule:
	KINDS = ("garbage", "truncated", "reset", "hang", "json")

	def __init__(self, spec, number, app_kinds=()):
		if not isinstance(spec, dict):
			raise ControlError("a fault rule must be an object")
		self.number = number
		self.path = spec.get("path", "/")
		if not isinstance(self.path, str) or not self.path.startswith("/"):
			raise ControlError("fault 'path' must be a string starting with '/'")
		kind = spec.get("kind")
		if isinstance(kind, int):
			kind = str(kind)
		kinds = self.KINDS + tuple(app_kinds)
		if not isinstance(kind, str) or not (kind in kinds or (kind.isdigit() and len(kind) == 3)):
			raise ControlError("fault 'kind' must be a 3-digit status or one of %s" % ", ".join(kinds))
		self.kind = kind
		# App kinds act on one endpoint (a list route), so their path must match exactly.
		self.app_kind = kind in app_kinds
		self.spec = dict(spec)
		self.count = spec.get("count")
		if self.count is not None and (not isinstance(self.count, int) or self.count < 0):
			raise ControlError("fault 'count' must be a non-negative integer or null")
		self.after = spec.get("after", 0) or 0
		if not isinstance(self.after, int) or self.after < 0:
			raise ControlError("fault 'after' must be a non-negative integer")
		self.probability = spec.get("probability", 1.0)
		if not isinstance(self.probability, (int, float)) or not 0 <= self.probability <= 1:
			raise ControlError("fault 'probability' must be a number in [0, 1]")
		methods = spec.get("methods")
		if methods is not None:
			if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
				raise ControlError("fault 'methods' must be a list of strings")
			methods = {m.upper() for m in methods}
		self.methods = methods
		self.body = spec.get("body")
		self.status = spec.get("status")
		self.retry_after = spec.get("retry_after")
		self.seconds = spec.get("seconds", 30)
		if not isinstance(self.seconds, (int, float)) or self.seconds < 0:
			raise ControlError("fault 'seconds' must be a non-negative number")
		self.process = bool(spec.get("process", False))
		if self.kind == "json" and "body" not in spec:
			raise ControlError("a 'json' fault needs a 'body'")
		self.seen = 0
		self.fired = 0

	def matches(self, req):
		if self.app_kind:
			if req.path.rstrip("/") != self.path.rstrip("/"):
				return False
		elif not req.path.startswith(self.path):
			return False
		return self.methods is None or req.method in self.methods

	def describe(self):
		return {
			"number": self.number,
			"path": self.path,
			"kind": self.kind,
			"count": self.count,
			"after": self.after,
			"probability": self.probability,
			"methods": sorted(self.methods) if self.methods is not None else None,
			"retry_after": self.retry_after,
			"seconds": self.seconds,
			"process": self.process,
			"period": self.spec.get("period"),
			"seen": self.seen,
			"fired": self.fired,
		}


class FaultTable:
	def __init__(self, seed=None, app_kinds=()):
		self.app_kinds = tuple(app_kinds)
		self.lock = threading.Lock()
		self.rules = []
		self.numbered = 0
		self.rng = random.Random(seed)

	def add(self, specs):
		if isinstance(specs, dict) and "rules" in specs:
			specs = specs["rules"]
		if isinstance(specs, dict):
			specs = [specs]
		if not isinstance(specs, list):
			raise ControlError("expected a rule, a list of rules or {\"rules\": [...]}")
		with self.lock:
			rules = []
			for spec in specs:
				self.numbered += 1
				rules.append(FaultRule(spec, self.numbered, self.app_kinds))
			self.rules.extend(rules)
			return [r.describe() for r in rules]

	def clear(self):
		with self.lock:
			self.rules = []

	def describe(self):
		with self.lock:
			return [r.describe() for r in self.rules]

	def pick(self, req):
		"""The rule that fires for this request, if any. Every matching rule counts the request."""
		with self.lock:
			chosen = None
			for rule in self.rules:
				if not rule.matches(req):
					continue
				rule.seen += 1
				if chosen is not None or rule.seen <= rule.after:
					continue
				if rule.count is not None and rule.fired >= rule.count:
					continue
				if rule.probability < 1.0 and self.rng.random() >= rule.probability:
					continue
				rule.fired += 1
				chosen = rule
			return chosen


class Stats:
	"""Counters over logged requests, and sliding one-second windows over rate-limited routes."""

	def __init__(self):
		self.lock = threading.Lock()
		self.reset()

	def reset(self):
		with getattr(self, "lock", threading.Lock()):
			self.total = 0
			self.by_status = collections.Counter()
			self.limited = 0
			self.faults = 0
			self.window = collections.deque()
			self.max_window = 0
			self.max_over = None
			self.started = time.monotonic()

	def arrival(self, now, allowance):
		with self.lock:
			window = self.window
			window.append(now)
			edge = now - 1.0
			while window and window[0] <= edge:
				window.popleft()
			count = len(window)
			if count > self.max_window:
				self.max_window = count
			if allowance is not None:
				over = count - allowance
				if self.max_over is None or over > self.max_over:
					self.max_over = over

	def finished(self, status, rate_limited, fault):
		with self.lock:
			self.total += 1
			self.by_status[str(status)] += 1
			if rate_limited:
				self.limited += 1
			if fault:
				self.faults += 1

	def snapshot(self):
		with self.lock:
			over = None if self.max_over is None else max(0.0, self.max_over)
			return {
				"total": self.total,
				"by_status": dict(sorted(self.by_status.items())),
				"rate_limited": self.limited,
				"status_429": self.by_status.get("429", 0),
				"faults": self.faults,
				"max_requests_1s": self.max_window,
				"max_over_allowance_1s": over,
				"seconds": round(time.monotonic() - self.started, 3),
			}


class RequestLog:
	def __init__(self, path=None, limit=0):
		self.lock = threading.Lock()
		self.entries = []
		self.seq = 0
		self.limit = limit
		self.file = open(path, "a", encoding="utf-8") if path else None

	def begin(self, entry):
		with self.lock:
			self.seq += 1
			entry["seq"] = self.seq
			self.entries.append(entry)
			# Trim in batches so that the cost stays amortised O(1) per request.
			if self.limit and len(self.entries) >= 2 * self.limit:
				del self.entries[:len(self.entries) - self.limit]
			return entry

	def finish(self, entry):
		if self.file is None:
			return
		line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
		with self.lock:
			self.file.write(line + "\n")
			self.file.flush()

	def since(self, seq):
		with self.lock:
			# Sequence numbers only grow, so the entries after `seq` are a suffix.
			entries = self.entries
			lo, hi = 0, len(entries)
			while lo < hi:
				mid = (lo + hi) // 2
				if entries[mid]["seq"] <= seq:
					lo = mid + 1
				else:
					hi = mid
			return [dict(e) for e in entries[lo:]], self.seq

	def clear(self):
		with self.lock:
			self.entries = []


class Emulator:
	"""Everything the server threads share: app, settings, limiter, faults, log, stats."""

	def __init__(self, app, args):
		self.app = app
		self.verbose = args.verbose
		self.latency = float(args.latency or 0.0)
		rate = args.rate if args.rate is not None else app.default_rate
		burst = args.burst if args.burst is not None else app.default_burst
		self.limiter = TokenBucket(rate, burst)
		self.faults = FaultTable(args.fault_seed, app.fault_kinds)
		self.log = RequestLog(args.request_log, args.log_limit)
		self.stats = Stats()
		self.port = None
		self.host = args.host
		self.started = time.monotonic()
		for text in args.fault or []:
			try:
				self.faults.add(json.loads(text))
			except (ValueError, ControlError) as exc:
				raise SystemExit("invalid --fault '%s': %s" % (text, exc))

	@property
	def root_url(self):
		return "http://%s:%d" % (self.host, self.port)

	# -- API requests -------------------------------------------------------------------------

	def serve(self, req):
		app = self.app
		started = time.monotonic()
		kind, _ = req.auth()
		entry = {
			"seq": 0,
			"time": started,
			"wall_ms": now_ms(),
			"method": req.method,
			"path": req.path,
			"query": req.query,
			"status": None,
			"rate_limited": False,
			"fault": None,
			"auth": kind,
			"idempotency_key": req.header("Idempotency-Key"),
			"body": app.loggable_body(req),
		}
		self.log.begin(entry)
		resp = None
		limited = app.is_limited(req.path)
		if limited:
			self.stats.arrival(started, self.limiter.allowance())
			allowed, wait = self.limiter.take(started)
			if not allowed:
				entry["rate_limited"] = True
				resp = app.rate_limited(wait)
		if resp is None:
			rule = self.faults.pick(req)
			if rule is not None:
				entry["fault"] = rule.kind
				if rule.app_kind:
					req.fault = rule
				else:
					resp = self.fault_response(rule, req)
		if resp is None:
			resp = self.call_app(req)
		entry["status"] = resp.status if resp.special is None else resp.params.get("status", 0)
		entry["duration"] = round(time.monotonic() - started, 6)
		if req.notes:
			entry.update(req.notes)
		self.stats.finished(entry["status"], entry["rate_limited"], entry["fault"])
		self.log.finish(entry)
		return resp

	def call_app(self, req):
		try:
			return self.app.handle(req)
		except Exception:  # an emulator bug must show, and still answer
			traceback.print_exc(file=sys.stderr)
			return self.app.error(500, message="emulator internal error")

	def fault_response(self, rule, req):
		kind = rule.kind
		if kind.isdigit():
			status = int(kind)
			headers = []
			retry_after = rule.retry_after
			if retry_after is None and status == 429:
				retry_after = self.app.default_retry_after
			if retry_after is not None:
				headers.append(("Retry-After", str(retry_after)))
			if rule.body is not None:
				return Response.json(status, rule.body, headers)
			return self.app.error(status, message="injected fault", headers=headers)
		if kind == "garbage":
			body = rule.body.encode("utf-8") if isinstance(rule.body, str) else GARBAGE_BODY
			return Response(rule.status or 200, body)
		if kind == "json":
			return Response.json(rule.status or 200, rule.body)
		if kind == "truncated":
			if rule.process:
				real = self.call_app(req)
				body = real.body
				status = real.status
			else:
				body = b'{"data":[{"id":"'
				status = 200
			cut = body[: max(1, len(body) // 2)] if body else b""
			return Response.fault("truncated", status=status, body=cut, claimed=len(body) + 512)
		if kind in ("reset", "hang"):
			if rule.process:
				self.call_app(req)
			return Response.fault(kind, status=0, seconds=rule.seconds)
		raise AssertionError(kind)

	# -- control API ---------------------------------------------------------------------------

	def control(self, req):
		route = req.path[len(CONTROL_PREFIX):].strip("/")
		try:
			resp = self.common_control(req, route)
			if resp is None:
				resp = self.app.control(req, route)
			if resp is None:
				resp = Response.json(404, {"error": "unknown control route '%s %s'" % (req.method, req.path)})
			return resp
		except ControlError as exc:
			return Response.json(exc.status, {"error": str(exc)})
		except Exception as exc:
			traceback.print_exc(file=sys.stderr)
			return Response.json(500, {"error": "control handler failed: %s" % exc})

	def control_json(self, req, default=None):
		if not req.body:
			return default
		try:
			return req.json_body()
		except ValueError as exc:
			raise ControlError("body is not JSON: %s" % exc)

	def settings(self):
		lim = self.limiter
		return {"rate": lim.rate, "burst": lim.burst, "latency": self.latency}

	def common_control(self, req, route):
		m = req.method
		if route == "health" and m == "GET":
			out = {"ok": True, "app": self.app.name, "port": self.port,
			       "uptime": round(time.monotonic() - self.started, 3)}
			out.update(self.app.health())
			return Response.json(200, out)
		if route == "requests":
			if m == "GET":
				since = req.qs_one("since", "0")
				try:
					since = int(since)
				except ValueError:
					raise ControlError("'since' must be an integer")
				entries, last = self.log.since(since)
				return Response.json(200, {"data": entries, "last_seq": last})
			if m == "DELETE":
				self.log.clear()
				self.stats.reset()
				return Response.json(200, {"ok": True})
		if route == "stats":
			if m == "GET":
				out = self.stats.snapshot()
				out["settings"] = self.settings()
				return Response.json(200, out)
			if m == "DELETE":
				self.stats.reset()
				return Response.json(200, {"ok": True})
		if route == "faults":
			if m == "GET":
				return Response.json(200, {"data": self.faults.describe()})
			if m == "POST":
				added = self.faults.add(self.control_json(req))
				return Response.json(200, {"data": added})
			if m == "DELETE":
				self.faults.clear()
				self.app.faults_cleared()
				return Response.json(200, {"ok": True})
		if route == "settings":
			if m == "GET":
				return Response.json(200, self.settings())
			if m == "POST":
				body = self.control_json(req, {})
				if not isinstance(body, dict):
					raise ControlError("settings must be an object")
				self.apply_settings(body)
				return Response.json(200, self.settings())
		return None

	def apply_settings(self, body):
		for key in body:
			if key not in ("rate", "burst", "latency"):
				raise ControlError("unknown setting '%s'" % key)
		for key in ("rate", "burst", "latency"):
			value = body.get(key)
			if value is not None and (not isinstance(value, (int, float)) or value < 0):
				raise ControlError("'%s' must be a non-negative number or null" % key)
		if "latency" in body:
			self.latency = float(body["latency"] or 0.0)
		if "rate" in body or "burst" in body:
			rate = body["rate"] if "rate" in body else self.limiter.rate
			burst = body["burst"] if "burst" in body else self.limiter.burst
			self.limiter.configure(rate, burst)


class Server(ThreadingHTTPServer):
	daemon_threads = True
	# Clients may hold keep-alive connections open forever: never wait for their threads.
	block_on_close = False
	# Parallel clients open many connections at once; a short backlog drops SYNs (1 s stalls).
	request_queue_size = 256
	allow_reuse_address = True

	def handle_error(self, request, client_address):
		# A client killed mid-connection (crash tests do it on purpose) resets its socket:
		# routine for a test double, not worth a traceback on stderr.
		if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
			return
		super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	server_version = "emulator/1.0"
	sys_version = ""
	# Idle keep-alive connections are dropped after this long.
	timeout = 120

	def setup(self):
		super().setup()
		try:
			self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		except OSError:
			pass

	def log_message(self, fmt, *args):
		if self.server.emulator.verbose:
			sys.stderr.write("%s %s\n" % (self.server.emulator.app.name, fmt % args))

	def do_GET(self):
		self.dispatch()

	do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

	def read_body(self):
		if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
			parts = []
			total = 0
			while True:
				line = self.rfile.readline(1024)
				if not line:
					raise ValueError("connection closed inside a chunked body")
				size = int(line.split(b";", 1)[0].strip(), 16)
				if size == 0:
					while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
						pass
					break
				total += size
				if total > MAX_BODY:
					raise ValueError("body too large")
				parts.append(self.rfile.read(size))
				self.rfile.readline(1024)
			return b"".join(parts)
		length = self.headers.get("Content-Length")
		if length is None:
			return b""
		length = int(length)
		if length < 0 or length > MAX_BODY:
			raise ValueError("bad Content-Length")
		body = self.rfile.read(length)
		if len(body) != length:
			raise ValueError("connection closed inside the body")
		return body

	def dispatch(self):
		emu = self.server.emulator
		try:
			body = self.read_body()
		except ValueError as exc:
			self.close_connection = True
			self.send(Response.json(400, {"error": "unreadable request body: %s" % exc}))
			return
		req = Request(self.command, self.path, self.headers, body, emu)
		if req.path == CONTROL_PREFIX or req.path.startswith(CONTROL_PREFIX + "/"):
			self.send(emu.control(req))
			return
		resp = emu.serve(req)
		if resp.special is None:
			self.send(resp)
		elif resp.special == "truncated":
			p = resp.params
			self.close_connection = True
			self.send_raw(p["status"], [("Content-Type", "application/json")], p["body"], p["claimed"])
			self.abort(reset=False)
		elif resp.special == "reset":
			self.abort(reset=True)
		elif resp.special == "hang":
			time.sleep(resp.params["seconds"])
			self.abort(reset=False)
		if self.server.emulator.verbose:
			self.log_request(resp.status or resp.special)

	def send(self, resp):
		headers = [("Content-Type", resp.content_type)] if resp.body or resp.status != 204 else []
		self.send_raw(resp.status, headers + resp.headers, resp.body, len(resp.body))

	def send_raw(self, status, headers, body, length):
		try:
			reason = http.HTTPStatus(status).phrase
		except ValueError:
			reason = "Status"
		lines = ["HTTP/1.1 %d %s" % (status, reason),
		         "Server: %s" % self.server_version,
		         "Date: %s" % self.date_time_string()]
		for name, value in headers:
			lines.append("%s: %s" % (name, value))
		lines.append("Content-Length: %d" % length)
		if self.close_connection:
			lines.append("Connection: close")
		head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
		if self.command == "HEAD":
			body = b""
		# One write: separate header and body segments would meet Nagle and delayed ACKs.
		try:
			self.wfile.write(head + body)
		except OSError:
			self.close_connection = True

	def abort(self, reset):
		"""Drop the connection, with an RST when `reset` (no FIN, no response)."""
		self.close_connection = True
		conn = self.connection
		try:
			if reset:
				conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
			else:
				conn.shutdown(socket.SHUT_RDWR)
		except OSError:
			pass
		conn.close()
		# The socket closes for real only once its file objects are gone too.
		try:
			self.rfile.close()
		except OSError:
			pass


def write_port_file(path, port):
	directory = os.path.dirname(os.path.abspath(path))
	tmp = os.path.join(directory, ".%s.%d.tmp" % (os.path.basename(path), os.getpid()))
	with open(tmp, "w", encoding="ascii") as f:
		f.write("%d\n" % port)
	os.replace(tmp, path)


def build_parser(app_cls, description):
	parser = argparse.ArgumentParser(description=description)
	parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
	parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: ephemeral)")
	parser.add_argument("--port-file", help="write the bound port here (atomically)")
	parser.add_argument("--rate", type=float, default=None,
	                    help="rate limit in requests/s on API routes (0 = off; default %s)"
	                    % (app_cls.default_rate or "off"))
	parser.add_argument("--burst", type=float, default=None,
	                    help="token-bucket size (default %s)" % (app_cls.default_burst or "= rate"))
	parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before answering")
	parser.add_argument("--request-log", help="append every API request to this file (JSON Lines)")
	parser.add_argument("--log-limit", type=int, default=0,
	                    help="keep about this many recent requests in memory (default 0: all)")
	parser.add_argument("--fault", action="append", metavar="JSON",
	                    help="install a fault rule at start (repeatable)")
	parser.add_argument("--fault-seed", type=int, default=None, help="seed for random faults")
	parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
	app_cls.add_arguments(parser)
	return parser


def run_app(app_cls, description, argv=None):
	parser = build_parser(app_cls, description)
	args = parser.parse_args(argv)
	app = app_cls(args)
	emulator = Emulator(app, args)
	try:
		server = Server((args.host, args.port), Handler)
	except OSError as exc:
		sys.stderr.write("%s: cannot bind %s:%d: %s\n" % (app.name, args.host, args.port, exc))
		return 1
	server.emulator = emulator
	emulator.port = server.server_address[1]
	app.bind(emulator)

	# Block the stop signals before any thread exists, so that every thread inherits the mask and
	# the main thread receives them synchronously, at once, whichever thread the kernel picks.
	stop_signals = {signal.SIGTERM, signal.SIGINT}
	signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
	thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
	thread.start()
	if args.port_file:
		write_port_file(args.port_file, emulator.port)
	sys.stdout.write("listening on %s:%d\n" % (args.host, emulator.port))
	sys.stdout.flush()
	signal.sigwait(stop_signals)
	server.shutdown()
	server.server_close()
	if emulator.log.file is not None:
		emulator.log.file.close()
	return 0
