#!/usr/bin/env python3
"""Table-driven configuration tests: every file in tests/data/config states
its expected exit status and messages in '# expect:' header lines, and its
file mode in an optional '# mode:' line. Each runs through 'refty-lever check'
and every expected 'file:line: key: message' must appear on stderr."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "config")
BINARY = os.environ.get("REFTY_LEVER", "refty-lever")

ENV_SECRETS = {
    "TEST_LEVER_KEY": "lever-secret-from-env-7d1a",
    "TEST_REFTY_KEY": "refty-secret-from-env-9e0b",
}


def parse_header(path):
    mode = 0o600
    expects = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("#"):
                break
            body = line[1:].strip()
            if body.startswith("mode:"):
                mode = int(body.split(":", 1)[1].strip(), 8)
            elif body.startswith("expect:"):
                rest = body.split(":", 1)[1].strip()
                status, _, message = rest.partition(" ")
                expects.append((int(status), message.strip()))
    return mode, expects


def run_check(config_path, extra_env=None, args=("check",)):
    env = dict(os.environ)
    env.update(ENV_SECRETS)
    env.pop("REFTY_LEVER_TEST_UNSET_VARIABLE", None)
    env.update(extra_env or {})
    return subprocess.run(
        [BINARY, "-vv", "-c", config_path, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


class ConfigTable(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="refty-lever-config-")
        # Secret file used by the fixtures that name one.
        with open(os.path.join(self.tmp, "lever.key"), "w") as f:
            f.write("lever-secret-from-file-4c33\n")
        os.chmod(os.path.join(self.tmp, "lever.key"), 0o600)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_fixtures(self):
        names = sorted(n for n in os.listdir(DATA) if n.endswith(".conf"))
        self.assertGreater(len(names), 10)
        for name in names:
            with self.subTest(fixture=name):
                mode, expects = parse_header(os.path.join(DATA, name))
                self.assertTrue(expects, f"{name} has no '# expect:' line")
                dest = os.path.join(self.tmp, name)
                shutil.copyfile(os.path.join(DATA, name), dest)
                os.chmod(dest, mode)
                result = run_check(dest)
                want_status = expects[0][0]
                self.assertEqual(
                    result.returncode, want_status,
                    f"{name}: exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
                for _, message in expects:
                    if message:
                        self.assertIn(message, result.stderr, f"{name}: stderr was:\n{result.stderr}")
                if want_status == 0:
                    self.assertIn("is valid", result.stdout)
                for secret in list(ENV_SECRETS.values()) + [
                        "lever-secret-from-file-4c33", "refty-secret-from-command",
                        "inline-secret-value-1234"]:
                    self.assertNotIn(secret, result.stdout + result.stderr, name)

    def test_all_errors_reported_in_one_run(self):
        dest = os.path.join(self.tmp, "many-errors.conf")
        shutil.copyfile(os.path.join(DATA, "many-errors.conf"), dest)
        os.chmod(dest, 0o600)
        result = run_check(dest)
        self.assertEqual(result.returncode, 2)
        self.assertIn("5 errors in configuration", result.stderr)

    def test_missing_file(self):
        result = run_check(os.path.join(self.tmp, "absent.conf"))
        self.assertEqual(result.returncode, 2)
        self.assertIn("cannot read config file", result.stderr)
        self.assertIn("absent.conf", result.stderr)

    def test_config_from_environment(self):
        dest = os.path.join(self.tmp, "good.conf")
        shutil.copyfile(os.path.join(DATA, "good-minimal.conf"), dest)
        os.chmod(dest, 0o600)
        env = dict(os.environ, REFTY_LEVER_CONFIG=dest, **ENV_SECRETS)
        result = subprocess.run([BINARY, "check"], capture_output=True, text=True, env=env,
                                timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(dest, result.stdout)

    def test_prints_rules(self):
        dest = os.path.join(self.tmp, "good.conf")
        shutil.copyfile(os.path.join(DATA, "good-minimal.conf"), dest)
        os.chmod(dest, 0o600)
        result = run_check(dest)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("eng", result.stdout)
        self.assertIn("Senior Backend Engineer", result.stdout)
        self.assertIn("Engineering references", result.stdout)
        self.assertIn("References", result.stdout)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
