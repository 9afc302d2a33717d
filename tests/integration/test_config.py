#!/usr/bin/env python3
"""Table-driven configuration tests: every file in tests/data/config states
its expected exit status and messages in '# expect:' header lines, and its
file mode in an optional '# mode:' line. Each runs through 'refty-lever check'
and every expected 'file:line: key: message' must appear on stderr."""

import os
import re
import shutil
import signal
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


LEVER_GROUP = 'lever: {\n  url = "http://127.0.0.1:9/v1";\n  api_key_env = "TEST_LEVER_KEY";\n};\n'
REFTY_GROUP = 'refty: {\n  url = "http://127.0.0.1:9/v1";\n  api_key_env = "TEST_REFTY_KEY";\n};\n'
RULES = ('rules = ( { name = "eng"; jobs = [ "Senior Backend Engineer" ];\n'
         '  sequence = "Engineering references";\n'
         '  stages = ( { refty = "Reference check"; lever = "References"; } );\n'
         '  language = "en"; } );\n')


class Includes(unittest.TestCase):
    """Every file libconfig reads through @include passes the checks the main file does."""
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="refty-lever-include-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def main_including(self, target, before=LEVER_GROUP + REFTY_GROUP):
        # The directive is on line 2 of the main file's own text after `before`.
        lines = before.count("\n")
        path = self.write("main.conf", before + '@include "%s"\n' % target + RULES)
        return path, lines + 1

    def check(self, path, **kwargs):
        # run_check's subprocess timeout is the harness's guard against a hang.
        return run_check(path, **kwargs)

    def test_fifo_include_is_refused_without_blocking(self):
        fifo = os.path.join(self.tmp, "pipe")
        os.mkfifo(fifo, 0o600)
        path, line = self.main_including(fifo)
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:%d: @include: cannot read '%s': not a regular file" % (path, line, fifo),
                      result.stderr)

    def test_directory_include_is_refused_with_the_file_named(self):
        sub = os.path.join(self.tmp, "conf.d")
        os.mkdir(sub)
        path, line = self.main_including(sub)
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:%d: @include: cannot read '%s': not a regular file (a directory)"
                      % (path, line, sub), result.stderr)
        self.assertNotIn("flex", result.stderr)

    def test_missing_include(self):
        missing = os.path.join(self.tmp, "absent.conf")
        path, line = self.main_including(missing)
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:%d: @include: cannot read '%s': No such file or directory"
                      % (path, line, missing), result.stderr)

    def test_inline_secret_in_a_loose_include_is_refused(self):
        secret = "inline-secret-value-1234"
        text = '\n\nrefty: {\n  url = "http://127.0.0.1:9/v1";\n  api_key = "%s";\n};\n' % secret
        inc = self.write("refty.conf", text, mode=0o644)
        path, _ = self.main_including(inc, before=LEVER_GROUP)
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:5: refty.api_key: inline secret in a file readable by group or others: "
                      "run 'chmod 600 %s'" % (inc, inc), result.stderr)
        self.assertNotIn(secret, result.stdout + result.stderr)
        os.chmod(inc, 0o600)
        result = self.check(path)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_errors_in_nested_includes_name_their_file_and_line(self):
        inner = self.write("inner.conf", "\nmax_actions = -3;\n@include \"%s\"\n"
                           % os.path.join(self.tmp, "gone.conf"))
        middle = self.write("middle.conf", "# the overlap\n\noverlap = 5;\n@include \"%s\"\n"
                            "bogus = 1;\n" % inner)
        path, _ = self.main_including(middle)
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:3: @include: cannot read '%s': No such file or directory"
                      % (inner, os.path.join(self.tmp, "gone.conf")), result.stderr)
        os.unlink(inner)
        self.write("inner.conf", "\nmax_actions = -3;\nlever_typo = 1;\n")
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:2: max_actions: value -3 is out of range 0..100000000" % inner,
                      result.stderr)
        self.assertIn("%s:3: lever_typo: unknown key" % inner, result.stderr)
        self.assertIn("%s:5: bogus: unknown key" % middle, result.stderr)
        self.assertIn("3 errors in configuration", result.stderr)

    def test_include_cycle_and_depth(self):
        a = os.path.join(self.tmp, "a.conf")
        b = self.write("b.conf", '\n@include "%s"\n' % a)
        self.write("a.conf", '@include "%s"\n' % b)
        path, _ = self.main_including(a)
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:2: @include: cannot read '%s': it includes itself" % (b, a), result.stderr)

        chain = [self.write("leaf.conf", "overlap = 1;\n")]
        for i in range(11):
            chain.append(self.write("n%d.conf" % i, '@include "%s"\n' % chain[-1]))
        # Included files ten deep are what libconfig 1.5 reads; the eleventh it refuses.
        path, _ = self.main_including(chain[9])
        self.assertEqual(self.check(path).returncode, 0)
        path, _ = self.main_including(chain[10])
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:1: @include: cannot read '%s': includes nested more than 10 deep"
                      % (chain[1], chain[0]), result.stderr)

    def test_only_directives_libconfig_acts_on_are_followed(self):
        fifo = os.path.join(self.tmp, "pipe")
        os.mkfifo(fifo, 0o600)
        inert = ('# @include "%s"\n// @include "%s"\n/* x\n@include "%s"\n*/\n'
                 % (fifo, fifo, fifo))
        path = self.write("main.conf", inert + LEVER_GROUP + REFTY_GROUP + RULES)
        result = self.check(path)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_relative_include_is_taken_from_the_current_directory(self):
        # libconfig 1.5 opens a relative include path as written; so does the check.
        sub = os.path.join(self.tmp, "sub")
        os.mkdir(sub)
        with open(os.path.join(sub, "refty.conf"), "w") as f:
            f.write(REFTY_GROUP)
        os.chmod(os.path.join(sub, "refty.conf"), 0o600)
        path = self.write("main.conf", LEVER_GROUP + '@include "sub/refty.conf"\n' + RULES)
        env = dict(os.environ, **ENV_SECRETS)
        ok = subprocess.run([BINARY, "-c", path, "check"], capture_output=True, text=True,
                            env=env, cwd=self.tmp, timeout=60)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        elsewhere = subprocess.run([BINARY, "-c", path, "check"], capture_output=True, text=True,
                                   env=env, cwd=sub, timeout=60)
        self.assertEqual(elsewhere.returncode, 2, elsewhere.stderr)
        self.assertIn("%s:5: @include: cannot read 'sub/refty.conf'" % path, elsewhere.stderr)

    def test_integer_too_large_for_libconfig_is_out_of_range_not_wrapped(self):
        # libconfig 1.5 reads 18446744073709551716 as 100, which would pass the range check.
        inc = self.write("limits.conf", "\nmax_actions = 18446744073709551716;\n")
        path, _ = self.main_including(inc)
        result = self.check(path)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("%s:2: max_actions: value 18446744073709551716 is out of range 0..100000000"
                      % inc, result.stderr)


SERVICE_CONFIG = """\
lever: {
  url = "http://127.0.0.1:9/v1";
  api_key_file = "lever-api-key";
};
refty: {
  url = "http://127.0.0.1:9/v1";
  api_key_file = "refty-api-key";
};
%s
rules = (
  {
    name = "eng";
    jobs = [ "Senior Backend Engineer" ];
    sequence = "Engineering references";
    stages = ( { refty = "Reference check"; lever = "References"; } );
    language = "en";
  }
);
"""


class SecretCommands(unittest.TestCase):
    def test_a_secret_command_gets_the_usual_signal_dispositions(self):
        # refty-lever ignores SIGPIPE and SIGXFSZ to see its own write errors; a command it
        # runs must not inherit that (a pipeline in it would never end on a closed pipe).
        tmp = tempfile.mkdtemp(prefix="refty-lever-command-")
        self.addCleanup(shutil.rmtree, tmp, True)
        marker = os.path.join(tmp, "sigign")
        with open(os.path.join(HERE, "..", "data", "config", "good-minimal.conf")) as f:
            text = f.read()
        text = text.replace('api_key_env = "TEST_REFTY_KEY";',
                            'api_key_command = "grep SigIgn /proc/$$/status > %s; echo key";'
                            % marker)
        path = os.path.join(tmp, "refty-lever.conf")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
        result = run_check(path)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(marker) as f:
            ignored = int(f.read().split()[1], 16)
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            self.assertFalse(ignored & (1 << (signum - 1)), "%s ignored in the command" % signum)


class ServiceManagerDirectories(unittest.TestCase):
    """STATE_DIRECTORY and CREDENTIALS_DIRECTORY, as systemd (StateDirectory=,
    LoadCredential=) or a container's mounts set them; and what happens when no
    default state path can be had (a DynamicUser's HOME is "/")."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="refty-lever-service-")
        self.config_dir = os.path.join(self.tmp, "etc")
        self.creds = os.path.join(self.tmp, "credentials")
        os.mkdir(self.config_dir)
        os.mkdir(self.creds)
        for name in ("lever-api-key", "refty-api-key"):
            path = os.path.join(self.creds, name)
            with open(path, "w") as f:
                f.write(name + "-value-5e21\n")
            os.chmod(path, 0o600)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_config(self, state_line=""):
        path = os.path.join(self.config_dir, "acme.conf")
        with open(path, "w") as f:
            f.write(SERVICE_CONFIG % state_line)
        os.chmod(path, 0o600)
        return path

    def run_binary(self, config, args, **env_changes):
        env = {k: v for k, v in os.environ.items()
               if k not in ("STATE_DIRECTORY", "CREDENTIALS_DIRECTORY", "XDG_STATE_HOME")}
        for key, value in env_changes.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return subprocess.run([BINARY, "-c", config, *args], capture_output=True, text=True,
                              env=env, timeout=60)

    def state_shown_by_status(self, result):
        """The state path status used: in its report, or in its error for a missing state."""
        m = re.search(r"^state:\s+(.*?)(?: \(.*\))?$", result.stdout, flags=re.M)
        if result.returncode == 0 and m:
            return m.group(1)
        m = re.search(r"state '([^']*)' does not exist", result.stderr)
        self.assertTrue(result.returncode == 4 and m,
                        f"status named no state (exit {result.returncode}):\n{result.stdout}{result.stderr}")
        return m.group(1)

    def test_state_directory_is_the_default_state(self):
        config = self.write_config()
        sd = os.path.join(self.tmp, "lib", "acme")
        r = self.run_binary(config, ["status"], STATE_DIRECTORY=sd,
                            XDG_STATE_HOME=os.path.join(self.tmp, "xdg"), HOME=self.tmp)
        self.assertEqual(self.state_shown_by_status(r), os.path.join(sd, "state.db"))

    def test_first_of_several_state_directories(self):
        config = self.write_config()
        first = os.path.join(self.tmp, "one")
        r = self.run_binary(config, ["status"], STATE_DIRECTORY=first + ":" + self.tmp + "/two")
        self.assertEqual(self.state_shown_by_status(r), os.path.join(first, "state.db"))

    def test_state_in_the_file_wins_over_state_directory(self):
        config = self.write_config('state = "kept/state.db";')
        r = self.run_binary(config, ["status"], STATE_DIRECTORY=os.path.join(self.tmp, "sd"),
                            CREDENTIALS_DIRECTORY=self.creds)
        # A relative state stays relative to the file, whatever CREDENTIALS_DIRECTORY says.
        self.assertEqual(self.state_shown_by_status(r),
                         os.path.join(self.config_dir, "kept", "state.db"))

    def test_home_without_a_usable_default_names_the_settings_to_give(self):
        config = self.write_config()
        for home in ("/", "", "//", None):
            with self.subTest(home=home):
                r = self.run_binary(config, ["status"], HOME=home)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertNotIn("//.local", r.stdout + r.stderr)
                self.assertIn("state = ", r.stderr)
                self.assertIn("STATE_DIRECTORY", r.stderr)
                self.assertIn(config, r.stderr)

    def test_home_with_trailing_slash_gives_a_clean_path(self):
        config = self.write_config()
        r = self.run_binary(config, ["status"], HOME=self.tmp + "/")
        self.assertEqual(self.state_shown_by_status(r),
                         os.path.join(self.tmp, ".local/state/refty-lever/state.db"))

    def test_relative_key_files_come_from_credentials_directory(self):
        config = self.write_config('state = "state.db";')
        r = self.run_binary(config, ["check"], CREDENTIALS_DIRECTORY=self.creds)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stdout)
        for name in ("lever-api-key", "refty-api-key"):
            self.assertNotIn(name + "-value", r.stdout + r.stderr)

    def test_without_credentials_directory_key_files_are_beside_the_file(self):
        config = self.write_config('state = "state.db";')
        r = self.run_binary(config, ["check"])
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn("cannot read secret file", r.stderr)
        self.assertIn(os.path.join(self.config_dir, "lever-api-key"), r.stderr)
        for name in ("lever-api-key", "refty-api-key"):
            shutil.copy(os.path.join(self.creds, name), self.config_dir)
        r = self.run_binary(config, ["check"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_absolute_key_file_ignores_credentials_directory(self):
        config = self.write_config('state = "state.db";')
        with open(config) as f:
            text = f.read()
        text = text.replace('"lever-api-key"', '"%s"' % os.path.join(self.creds, "lever-api-key"))
        with open(config, "w") as f:
            f.write(text)
        r = self.run_binary(config, ["check"], CREDENTIALS_DIRECTORY=os.path.join(self.tmp, "x"))
        self.assertEqual(r.returncode, 2, r.stdout)
        # Only the relative one was looked for in the (empty) credentials directory.
        self.assertIn(os.path.join(self.tmp, "x", "refty-api-key"), r.stderr)
        self.assertNotIn(os.path.join(self.tmp, "x", "lever-api-key"), r.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
