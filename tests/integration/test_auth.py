#!/usr/bin/env python3
"""Lever OAuth through the real binary: 'auth login' receives the code on its
loopback port (the emulator's /authorize redirects there), tokens are stored
in the state database, refreshed and rotated when Lever stops accepting the
access token, never printed, and removed by 'auth logout'."""

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))
from harness import Emulator  # noqa: E402

BINARY = os.environ.get("REFTY_LEVER", "refty-lever")
CLIENT_SECRET = "test-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Auth(unittest.TestCase):
    def setUp(self):
        self.lever = Emulator("lever", "--opportunities", "5")
        self.lever.start()
        self.refty = Emulator("refty")
        self.refty.start()
        self.tmp = tempfile.mkdtemp(prefix="refty-lever-auth-")
        self.db = os.path.join(self.tmp, "state.db")
        self.conf = os.path.join(self.tmp, "auth.conf")
        with open(self.conf, "w") as f:
            f.write(f"""
lever: {{
  url = "{self.lever.base_url}";
  oauth: {{
    client_id = "test-client";
    client_secret_env = "TEST_OAUTH_SECRET";
    auth_url = "{self.lever.root_url}";
    redirect_port = {free_port()};
  }};
}};
refty: {{ url = "{self.refty.base_url}"; api_key_env = "TEST_REFTY_KEY"; }};
state = "{self.db}";
rules = ( {{ name = "eng"; jobs = [ "*" ]; sequence = "Engineering references";
            stages = (); language = "en"; }} );
""")
        os.chmod(self.conf, 0o600)
        self.env = dict(os.environ, TEST_OAUTH_SECRET=CLIENT_SECRET, TEST_REFTY_KEY="test-refty-key")

    def tearDown(self):
        self.lever.stop()
        self.refty.stop()

    def run_tool(self, *args):
        return subprocess.run([BINARY, "-vv", "-c", self.conf, *args], capture_output=True,
                              text=True, env=self.env, timeout=60)

    def tokens(self):
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT access_token, refresh_token FROM oauth_tokens").fetchone()
        finally:
            con.close()
        return row

    def login(self):
        proc = subprocess.Popen([BINARY, "-vv", "-c", self.conf, "auth", "login"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)
        url = None
        deadline = time.time() + 20
        while time.time() < deadline and url is None:
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip().startswith("http"):
                url = line.strip()
        self.assertIsNotNone(url, "no authorize URL printed")
        self.assertIn("response_type=code", url)
        self.assertIn("offline_access", urllib.request.unquote(url))
        # Give the receiver a moment to print its waiting line, then play the
        # browser: the emulator approves and redirects to the loopback port.
        time.sleep(0.2)
        with urllib.request.urlopen(url, timeout=20) as r:
            page = r.read().decode()
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out, err, page

    def test_login_refresh_rotation_logout(self):
        rc, out, err, page = self.login()
        self.assertEqual(rc, 0, out + err)
        self.assertIn("logged in to Lever", out)
        access, refresh = self.tokens()
        for secret in (access, refresh, CLIENT_SECRET):
            self.assertNotIn(secret, out + err)

        r = self.run_tool("auth", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("expires", r.stdout)
        for secret in (access, refresh, CLIENT_SECRET):
            self.assertNotIn(secret, r.stdout + r.stderr)

        r = self.run_tool("lever", "stages")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("applicant-new", r.stdout)

        # Lever stops accepting the access token: one refresh, a rotated
        # refresh token stored, and the request succeeds.
        self.lever.control("POST", "/_control/oauth/expire-access")
        r = self.run_tool("lever", "postings")
        self.assertEqual(r.returncode, 0, r.stderr)
        access2, refresh2 = self.tokens()
        self.assertNotEqual(refresh, refresh2, "refresh token was not rotated")
        self.assertNotEqual(access, access2)
        for secret in (access, refresh, access2, refresh2, CLIENT_SECRET):
            self.assertNotIn(secret, r.stdout + r.stderr)

        r = self.run_tool("auth", "logout")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Revoke", r.stdout)
        self.assertIsNone(self.tokens())
        r = self.run_tool("lever", "stages")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_tokens_rotated_by_another_process_are_taken_up(self):
        rc, out, err, page = self.login()
        self.assertEqual(rc, 0, out + err)
        _, refresh1 = self.tokens()
        self.lever.control("POST", "/_control/seed", {"count": 600, "seed": 3})
        # A slow sync (the first: it pages everything) loads the tokens, then
        # another command refreshes them meanwhile; Lever rotates the refresh
        # token, so the sync's copy is dead when its own access token is refused.
        self.lever.control("POST", "/_control/settings", {"latency": 0.5})
        sync = subprocess.Popen([BINARY, "-v", "-c", self.conf, "sync", "--seed"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env)
        deadline = time.time() + 20
        while time.time() < deadline and not any(
                e["path"] == "/v1/opportunities" for e in self.lever.requests()):
            time.sleep(0.05)
        self.lever.control("POST", "/_control/oauth/expire-access")
        other = self.run_tool("lever", "stages")
        self.assertEqual(other.returncode, 0, other.stderr)
        _, refresh2 = self.tokens()
        self.assertNotEqual(refresh1, refresh2, "the other command rotated the tokens")
        out, err = sync.communicate(timeout=60)
        self.assertEqual(sync.returncode, 0, out + err)
        self.assertIn("seen 605", out)  # the 5 the emulator starts with, and 600 more
        refreshes = self.lever.control("GET", "/_control/oauth")["refreshes"]
        self.assertEqual(refreshes, 1, "the sync took up the stored pair instead of refreshing")

    def test_state_mismatch_is_refused(self):
        proc = subprocess.Popen([BINARY, "-c", self.conf, "auth", "login", "--paste"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)
        out, err = proc.communicate(
            "http://127.0.0.1:1/callback?code=abc&state=forged-state\n", timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("state", err)
        self.assertIsNone(self.tokens() if os.path.exists(self.db) else None)

    def test_api_key_config_needs_no_login(self):
        conf = os.path.join(self.tmp, "key.conf")
        with open(self.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("oauth: {", "api_key_env = \"TEST_REFTY_KEY\"; ignored: {"))
        os.chmod(conf, 0o600)
        r = subprocess.run([BINARY, "-c", conf, "auth", "status"], capture_output=True, text=True,
                           env=self.env, timeout=30)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
