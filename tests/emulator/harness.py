"""Start an emulator as a subprocess and talk to it, for Python integration tests.

	with Emulator("lever", "--opportunities", "1000") as lever:
		lever.control("POST", "/faults", {"path": "/v1/opportunities", "kind": "503", "count": 1})
		... run the program under test against lever.base_url ...
		assert lever.stats()["status_429"] == 0

Standard library only (urllib.request).
"""

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = {"lever": os.path.join(HERE, "lever.py"), "refty": os.path.join(HERE, "refty.py")}

LEVER_KEY = "test-lever-key"
LEVER_CONFIDENTIAL_KEY = "test-lever-confidential-key"
REFTY_KEY = "test-refty-key"


class HttpResult:
	"""Status, headers and body of one HTTP exchange; .json() parses the body."""

	def __init__(self, status, headers, body):
		self.status = status
		self.headers = headers
		self.body = body

	def json(self):
		return json.loads(self.body.decode("utf-8"))

	def header(self, name):
		return self.headers.get(name)

	def __repr__(self):
		return "HttpResult(%d, %r)" % (self.status, self.body[:200])


class NoRedirect(urllib.request.HTTPRedirectHandler):
	def redirect_request(self, req, fp, code, msg, headers, newurl):
		return None


_OPENER = urllib.request.build_opener(NoRedirect)


def http_request(method, url, body=None, headers=None, timeout=30.0):
	"""One request without following redirects or raising on 4xx/5xx.

	`body` may be bytes, a str, or any other value (sent as JSON).
	"""
	headers = dict(headers or {})
	data = None
	if body is not None:
		if isinstance(body, bytes):
			data = body
		elif isinstance(body, str):
			data = body.encode("utf-8")
		else:
			data = json.dumps(body).encode("utf-8")
			headers.setdefault("Content-Type", "application/json")
	req = urllib.request.Request(url, data=data, method=method, headers=headers)
	try:
		with _OPENER.open(req, timeout=timeout) as resp:
			return HttpResult(resp.status, resp.headers, resp.read())
	except urllib.error.HTTPError as err:
		with err:
			return HttpResult(err.code, err.headers, err.read())


def basic_auth(key):
	return {"Authorization": "Basic " + base64.b64encode((key + ":").encode()).decode()}


def bearer_auth(token):
	return {"Authorization": "Bearer " + token}


class Emulator:
	"""An emulator subprocess: `kind` is "lever", "refty" or a path to a script."""

	def __init__(self, kind, *args, env=None, stderr=None, startup_timeout=10.0):
		self.script = SCRIPTS.get(kind, kind)
		self.kind = kind
		self.args = [str(a) for a in args]
		self.env = env
		self.stderr = stderr
		self.startup_timeout = startup_timeout
		self.proc = None
		self.port = None
		self._tmp = None

	@property
	def root_url(self):
		return "http://127.0.0.1:%d" % self.port

	@property
	def base_url(self):
		return self.root_url + "/v1"

	def start(self):
		self._tmp = tempfile.TemporaryDirectory(prefix="emulator-")
		port_file = os.path.join(self._tmp.name, "port")
		cmd = [sys.executable, self.script, "--port-file", port_file] + self.args
		self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
		                             stderr=self.stderr, env=self.env)
		deadline = time.monotonic() + self.startup_timeout
		while True:
			if os.path.exists(port_file):
				with open(port_file, encoding="ascii") as f:
					text = f.read().strip()
				if text:
					self.port = int(text)
					return self
			if self.proc.poll() is not None:
				self._cleanup()
				raise RuntimeError("emulator %s exited with status %d before listening"
				                   % (self.kind, self.proc.returncode))
			if time.monotonic() > deadline:
				self.stop()
				raise RuntimeError("emulator %s did not write its port within %.0f s"
				                   % (self.kind, self.startup_timeout))
			time.sleep(0.02)

	def stop(self):
		if self.proc is not None and self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(timeout=5)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		self._cleanup()

	def _cleanup(self):
		if self._tmp is not None:
			self._tmp.cleanup()
			self._tmp = None

	def __enter__(self):
		return self.start()

	def __exit__(self, *exc):
		self.stop()
		return False

	# -- talking to it ---------------------------------------------------------------------

	def control(self, method, path, body=None):
		"""Call the control API (`path` relative to /_control/) and return the parsed JSON.

		Raises RuntimeError on a non-2xx answer.
		"""
		path = path if path.startswith("/_control") else "/_control/" + path.lstrip("/")
		res = http_request(method, self.root_url + path, body)
		if not 200 <= res.status < 300:
			raise RuntimeError("control %s %s failed: %d %s" % (method, path, res.status,
			                                                    res.body.decode("utf-8", "replace")))
		return res.json()

	def requests(self, since=0):
		"""The request log entries with a sequence number above `since`."""
		return self.control("GET", "/requests?since=%d" % since)["data"]

	def stats(self):
		return self.control("GET", "/stats")

	def fault(self, **rule):
		return self.control("POST", "/faults", rule)

	def settings(self, **values):
		return self.control("POST", "/settings", values)

	def request(self, method, path, body=None, headers=None, auth=True, timeout=30.0):
		"""An API request relative to base_url, authenticated with the default key unless
		`auth` is False or `headers` carries its own Authorization."""
		headers = dict(headers or {})
		if auth and "Authorization" not in headers:
			if self.kind == "refty":
				headers.update(bearer_auth(REFTY_KEY))
			else:
				headers.update(basic_auth(LEVER_KEY))
		url = path if path.startswith("http") else self.base_url + path
		return http_request(method, url, body, headers, timeout)
