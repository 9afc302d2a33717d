#!/usr/bin/env python3
"""Lever OAuth through the real binary: 'auth login' receives the code on its
loopback port (the emulator's /authorize redirects there), tokens are stored
in the token file beside the state database (mode 0600), refreshed and
rotated when Lever stops accepting the access token, exactly once per
rotation however many processes need it at the same moment (a sync holding a
batch transaction among them), never printed, and removed by 'auth logout'.
Tokens an older version kept in the state database are moved to the file."""

import json
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
        # A directory the binary has to create, to check its mode.
        self.state_dir = os.path.join(self.tmp, "state")
        self.db = os.path.join(self.state_dir, "state.db")
        self.token_file = self.db + ".tokens"
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

    def start_tool(self, *args):
        return subprocess.Popen([BINARY, "-vv", "-c", self.conf, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def tokens(self):
        """(access, refresh) from the token file, or None when there is none."""
        try:
            with open(self.token_file) as f:
                stored = json.load(f)
        except FileNotFoundError:
            return None
        return stored["access_token"], stored["refresh_token"]

    def tokens_in_state(self):
        """(access, refresh) left in the state database's old table, or None."""
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT access_token, refresh_token FROM oauth_tokens").fetchone()
        finally:
            con.close()
        return row

    def oauth(self):
        return self.lever.control("GET", "/_control/oauth")

    def assert_private(self):
        self.assertEqual(os.stat(self.token_file).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.state_dir).st_mode & 0o777, 0o700)
        leftovers = [n for n in os.listdir(self.state_dir)
                     if n.startswith("state.db.tokens.") and n != "state.db.tokens.lock"]
        self.assertEqual(leftovers, [], "temporary token files left behind")

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
        self.assertIn(self.token_file, out)
        access, refresh = self.tokens()
        self.assert_private()
        for secret in (access, refresh, CLIENT_SECRET):
            self.assertNotIn(secret, out + err)

        r = self.run_tool("auth", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("expires", r.stdout)
        self.assertIn(self.token_file, r.stdout)
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
        self.assert_private()
        for secret in (access, refresh, access2, refresh2, CLIENT_SECRET):
            self.assertNotIn(secret, r.stdout + r.stderr)

        r = self.run_tool("auth", "logout")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Revoke", r.stdout)
        self.assertFalse(os.path.exists(self.token_file), "logout left the token file")
        r = self.run_tool("auth", "status")
        self.assertIn("not logged in", r.stdout)
        r = self.run_tool("lever", "stages")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)

    def test_commands_refresh_while_a_sync_holds_a_batch(self):
        rc, out, err, page = self.login()
        self.assertEqual(rc, 0, out + err)
        self.lever.control("POST", "/_control/seed", {"count": 2000, "seed": 3})
        # Slow answers: the first sync pages everything, 500 opportunities per
        # transaction, so a batch stays open for longer than SQLite's busy
        # timeout while the other commands refresh.
        self.lever.control("POST", "/_control/settings", {"latency": 1.0})
        sync = self.start_tool("sync", "--seed")
        try:
            deadline = time.time() + 30
            while time.time() < deadline and sum(
                    e["path"] == "/v1/opportunities" for e in self.lever.requests()) < 2:
                time.sleep(0.05)
            con = sqlite3.connect(self.db, timeout=0)
            try:
                with self.assertRaises(sqlite3.OperationalError, msg="no batch open"):
                    con.execute("BEGIN IMMEDIATE")
            finally:
                con.close()

            # Lever refuses the access token of 'lever stages' and of 'check
            # --online' (the sync's, the same one, still works): both want a
            # new pair at once, and the one that refreshes stores it while the
            # sync's batch is open.
            self.lever.fault(path="/v1/stages", kind="401", count=2)
            others = [self.start_tool("lever", "stages"), self.start_tool("check", "--online")]
            for proc in others:
                out, err = proc.communicate(timeout=60)
                self.assertEqual(proc.returncode, 0, out + err)
            self.assertEqual(self.oauth()["refreshes"], 1, "one refresh for one rotation")

            # Every access token refused: the sync, still in a batch, and
            # 'lever postings' both need a new one.
            self.assertIsNone(sync.poll(), "the sync ended too early for the test")
            self.lever.control("POST", "/_control/oauth/expire-access")
            r = self.run_tool("lever", "postings")
            self.assertEqual(r.returncode, 0, r.stderr)
            status = self.run_tool("auth", "status")
            self.assertEqual(status.returncode, 0, status.stderr)
            self.assertIn("logged in to Lever", status.stdout)

            out, err = sync.communicate(timeout=120)
        finally:
            if sync.poll() is None:
                sync.kill()
                sync.communicate()
        self.assertEqual(sync.returncode, 0, out + err)
        self.assertIn("seen 2005", out)  # the 5 the emulator starts with, and 2000 more
        counts = self.oauth()
        self.assertEqual(counts["refreshes"], 2, "one refresh for each rotation")
        self.assertEqual(counts["refresh_reuse"], 0, "a rotated refresh token was presented")
        self.assertEqual(counts["token_errors"], 0)

        # The stored pair is the live one: the next rotation works from it.
        self.lever.control("POST", "/_control/settings", {"latency": 0})
        self.lever.control("POST", "/_control/oauth/expire-access")
        r = self.run_tool("lever", "stages")
        self.assertEqual(r.returncode, 0, r.stderr)
        counts = self.oauth()
        self.assertEqual(counts["refreshes"], 3)
        self.assertEqual(counts["refresh_reuse"], 0)
        self.assertEqual(counts["live_refresh_tokens"], 1)
        self.assert_private()

    def test_processes_refreshing_at_once_refresh_once(self):
        rc, out, err, page = self.login()
        self.assertEqual(rc, 0, out + err)
        _, refresh1 = self.tokens()
        # Slow answers, so that every process holds the refused token at the
        # same moment and all of them want a new one.
        self.lever.control("POST", "/_control/settings", {"latency": 0.5})
        self.lever.control("POST", "/_control/oauth/expire-access")
        procs = [self.start_tool("lever", "stages") for _ in range(3)]
        procs.append(self.start_tool("check", "--online"))
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, 0, out + err)
        counts = self.oauth()
        self.assertEqual(counts["refreshes"], 1, "one refresh for one rotation")
        self.assertEqual(counts["refresh_reuse"], 0, "a rotated refresh token was presented")
        self.assertEqual(counts["token_errors"], 0)
        _, refresh2 = self.tokens()
        self.assertNotEqual(refresh1, refresh2)
        self.assert_private()

    def put_tokens_in_state(self):
        """Makes the state look as an older version left it: the pair in the
        table oauth_tokens, no token file."""
        with open(self.token_file) as f:
            stored = json.load(f)
        os.unlink(self.token_file)
        con = sqlite3.connect(self.db)
        try:
            con.execute("INSERT INTO oauth_tokens (id, access_token, refresh_token, expires_at,"
                        " account, scope, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)",
                        (stored["access_token"], stored["refresh_token"], stored["expires_at"],
                         stored["account"], stored["scope"], int(time.time())))
            con.commit()
        finally:
            con.close()
        return stored["access_token"], stored["refresh_token"]

    def test_tokens_move_out_of_the_state_database(self):
        rc, out, err, page = self.login()
        self.assertEqual(rc, 0, out + err)
        r = self.run_tool("sync", "--seed")  # creates the state database
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        pair = self.put_tokens_in_state()

        # Read-only commands read them where they are and move nothing.
        r = self.run_tool("auth", "status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("logged in to Lever", r.stdout)
        self.assertIn("state database", r.stdout)
        self.assertEqual(self.tokens_in_state(), pair)
        self.assertFalse(os.path.exists(self.token_file))

        # The first command that may write moves them, and the row goes.
        r = self.run_tool("lever", "stages")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.tokens(), pair)
        self.assertIsNone(self.tokens_in_state(), "the old copy was left in the database")
        self.assert_private()
        for secret in pair:
            self.assertNotIn(secret, r.stdout + r.stderr)

        # From then on they live in the file: a refresh rotates the file's pair.
        self.lever.control("POST", "/_control/oauth/expire-access")
        r = self.run_tool("lever", "postings")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotEqual(self.tokens()[1], pair[1])
        self.assertIsNone(self.tokens_in_state())
        self.assertEqual(self.oauth()["refreshes"], 1)

    def test_logout_removes_tokens_left_in_the_state_database(self):
        rc, out, err, page = self.login()
        self.assertEqual(rc, 0, out + err)
        r = self.run_tool("sync", "--seed")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.put_tokens_in_state()
        r = self.run_tool("auth", "logout")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNone(self.tokens_in_state())
        self.assertFalse(os.path.exists(self.token_file))
        r = self.run_tool("auth", "status")
        self.assertIn("not logged in", r.stdout)

    def test_state_mismatch_is_refused(self):
        proc = subprocess.Popen([BINARY, "-c", self.conf, "auth", "login", "--paste"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)
        out, err = proc.communicate(
            "http://127.0.0.1:1/callback?code=abc&state=forged-state\n", timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("state", err)
        self.assertIsNone(self.tokens())

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
