#!/usr/bin/env python3
"""The bash completion (cli/refty-lever.bash) offers every command, every option that each
command's --help lists and every option that cli/*.c parses, and nothing else; it reads rule
names for 'backfill --rule' from the configuration. It is sourced in bash and its function is
called with COMP_WORDS as bash would, so the test sees exactly what a user would be offered."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(ROOT, "cli", "refty-lever.bash")
BINARY = os.environ.get("REFTY_LEVER", "refty-lever")

DRIVER = r'''
source "$1" || exit 99
complete -p refty-lever >/dev/null || exit 98
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_refty_lever refty-lever "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''

CONFIG = """\
lever: { url = "http://127.0.0.1:9/v1"; %s };
refty: { url = "http://127.0.0.1:9/v1"; api_key_env = "TEST_REFTY_KEY"; };
state = "state.db";
rules = (
  { name = "engineering"; jobs = [ "Senior Backend Engineer" ]; sequence = "Engineering references";
    stages = (); language = "en"; },
  { name = "sales-ops"; jobs = [ "Account Executive" ]; sequence = "Sales references";
    stages = (); language = "en"; }
);
"""


def complete(*words, env=None):
    """What the completion offers for the command line `words`, the last one being the word
    under the cursor (pass "" for an empty one)."""
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", DRIVER, "bash", SCRIPT, BINARY,
                        *words], capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"completion of {words!r} failed ({r.returncode}): {r.stderr}")
    return [w for w in r.stdout.split("\n") if w]


def run_help(*args):
    r = subprocess.run([BINARY, *args, "--help"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"{args} --help exited {r.returncode}: {r.stderr}")
    return r.stdout


def long_options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


def help_commands():
    text = run_help()
    section = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in section.splitlines() if line.strip()]


def synopsis(command):
    first = run_help(command).splitlines()[0]
    prefix = f"usage: refty-lever {command} "
    assert first.startswith(prefix), first
    return first[len(prefix):]


def subcommands(command):
    """The alternatives of a synopsis such as 'login [--paste] | status | logout'."""
    words = [alt.split()[0] for alt in synopsis(command).split("|") if alt.split()]
    return [w for w in words if re.fullmatch(r"[a-z]+", w)]


def late_global_options():
    """The global options that main.c also takes after the command: all but --help and
    --version, which there mean the command's own."""
    return long_options(run_help()) - {"--help", "--version"}


def expected_subcommands(command):
    # 'help [COMMAND]' takes a command name.
    return help_commands() if "COMMAND" in synopsis(command) else subcommands(command)


def source_options():
    """Every long option name in the getopt_long tables of cli/*.c, by file."""
    found = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "cli"))):
        if name.endswith(".c"):
            with open(os.path.join(ROOT, "cli", name), encoding="utf-8") as f:
                text = f.read()
            opts = set(re.findall(r'\{"([a-z][a-z-]*)",\s*(?:no|required|optional)_argument', text))
            if opts:
                found[name] = {"--" + o for o in opts}
    return found


class Completion(unittest.TestCase):
    maxDiff = None

    def test_commands_are_those_of_help(self):
        commands = help_commands()
        self.assertIn("sync", commands)
        self.assertEqual(sorted(complete("")), sorted(commands))
        self.assertEqual(complete("ba"), ["backfill"])

    def test_global_options_are_those_of_help(self):
        self.assertEqual(set(complete("-")), long_options(run_help()))

    def test_each_command_offers_exactly_the_options_of_its_help(self):
        # Where options belong to subcommands (webhooks), each offers its own, and together
        # they offer exactly those of the command's help.
        for command in help_commands():
            with self.subTest(command=command):
                subs = subcommands(command)
                want = long_options(run_help(command, *subs[:1])) | {"--help"} \
                    | late_global_options()
                offered = set(complete(command, *subs[:1], "--"))
                for sub in subs[1:]:
                    offered |= set(complete(command, sub, "--"))
                self.assertEqual(offered, want)

    def test_every_subcommand_option_is_offered_after_it(self):
        for command in help_commands():
            for sub in subcommands(command):
                with self.subTest(command=command, sub=sub):
                    offered = set(complete(command, sub, "--"))
                    # The synopsis names the options of each alternative.
                    alt = next(a for a in synopsis(command).split("|") if a.split()[0] == sub)
                    self.assertLessEqual(long_options(alt), offered)
                    self.assertLessEqual(offered, long_options(run_help(command))
                                         | {"--help"} | late_global_options())

    def test_subcommands_are_those_of_the_synopsis(self):
        for command in help_commands():
            with self.subTest(command=command):
                want = expected_subcommands(command)
                self.assertEqual(sorted(complete(command, "")) if want else [], sorted(want))

    def test_no_option_in_the_sources_is_missing(self):
        # A new option that --help forgets is still caught: every name in a getopt_long table.
        offered = set(complete("-"))
        for command in help_commands():
            words = [command] + subcommands(command)[:1]
            offered |= set(complete(*words, "--"))
            for sub in subcommands(command):
                offered |= set(complete(command, sub, "--"))
        tables = source_options()
        self.assertIn("main.c", tables)
        for name, opts in tables.items():
            with self.subTest(file=name):
                self.assertLessEqual(opts, offered)

    def test_option_values(self):
        self.assertEqual(sorted(complete("--log-format", "")), ["json", "text"])
        self.assertEqual(complete("--log-format", "j"), ["json"])
        self.assertEqual(complete("--log-format", "=", ""), ["text", "json"])
        self.assertEqual(complete("status", "--max-age", ""), [])
        self.assertEqual(complete("backfill", "--since", ""), [])
        # A value taken by an option is no command or subcommand.
        self.assertEqual(complete("-c", "x.conf", "lever", "--json", ""), ["stages", "postings"])
        self.assertEqual(set(complete("-q", "sync", "--max-actions", "5", "--")),
                         {"--dry-run", "--json", "--max-actions", "--seed", "--watch", "--help"}
                         | late_global_options())
        # Global options after the command, as main.c takes them.
        self.assertEqual(complete("status", "--log-format", "t"), ["text"])
        self.assertEqual(complete("lever", "-v", "--config", "x.conf", ""), ["stages", "postings"])
        self.assertEqual(complete("help", "ch"), ["check"])
        self.assertEqual(complete("webhooks", "register", "--url", ""), [])
        self.assertEqual(complete("webhooks", "--url", "https://x/h", "re"), ["register"])
        self.assertEqual(set(complete("webhooks", "list", "--")),
                         {"--json", "--help"} | late_global_options())


class FromConfiguration(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="refty-lever-completion-")
        self.env = dict(os.environ, TEST_LEVER_KEY="lever-key-3f1e", TEST_REFTY_KEY="refty-key-77a2")
        for var in ("REFTY_LEVER_CONFIG", "XDG_CONFIG_HOME"):
            self.env.pop(var, None)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, lever_key):
        path = os.path.join(self.tmp, "acme.conf")
        with open(path, "w") as f:
            f.write(CONFIG % lever_key)
        os.chmod(path, 0o600)
        return path

    def test_rule_names_from_the_file(self):
        path = self.write('api_key_env = "TEST_LEVER_KEY";')
        # The names offered are the ones check reads.
        r = subprocess.run([BINARY, "-c", path, "check"], capture_output=True, text=True,
                           env=self.env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(re.findall(r"^rule '([^']*)'", r.stdout, flags=re.M),
                         ["engineering", "sales-ops"])
        self.assertEqual(complete("-c", path, "backfill", "--rule", "", env=self.env),
                         ["engineering", "sales-ops"])
        self.assertEqual(complete("--config", "=", path, "-v", "backfill", "--rule", "s",
                                  env=self.env), ["sales-ops"])

    def test_rule_names_with_the_configuration_after_the_command(self):
        path = self.write('api_key_env = "TEST_LEVER_KEY";')
        self.assertEqual(complete("backfill", "--dry-run", "-c", path, "--rule", "", env=self.env),
                         ["engineering", "sales-ops"])

    def test_rule_names_when_the_keys_cannot_be_read(self):
        path = self.write('api_key_file = "missing.key";')
        r = subprocess.run([BINARY, "-c", path, "check"], capture_output=True, text=True,
                           env=self.env, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(complete("-c", path, "backfill", "--rule", "", env=self.env),
                         ["engineering", "sales-ops"])

    def test_completing_runs_no_key_command(self):
        marker = os.path.join(self.tmp, "command-ran")
        path = self.write('api_key_command = "touch %s; echo key";' % marker)
        self.assertEqual(complete("-c", path, "backfill", "--rule", "", env=self.env),
                         ["engineering", "sales-ops"])
        self.assertFalse(os.path.exists(marker), "a TAB ran api_key_command")

    def test_rule_names_in_included_files(self):
        rules_file = os.path.join(self.tmp, "rules.cfg")
        with open(rules_file, "w") as f:
            f.write('rules = ( { name = "included-rule"; jobs = [ "*" ]; sequence = "s";\n'
                    '  stages = (); language = "en"; } );\n')
        path = os.path.join(self.tmp, "main.conf")
        with open(path, "w") as f:
            f.write('# name = "commented-out"\n@include "rules.cfg"\n')
        self.assertEqual(complete("-c", path, "backfill", "--rule", "", env=self.env),
                         ["included-rule"])

    def test_rule_names_from_the_default_search(self):
        path = self.write('api_key_env = "TEST_LEVER_KEY";')
        env = dict(self.env, REFTY_LEVER_CONFIG=path)
        self.assertEqual(complete("backfill", "--dry-run", "--rule", "e", env=env),
                         ["engineering"])
        env = dict(self.env, XDG_CONFIG_HOME=self.tmp)
        os.mkdir(os.path.join(self.tmp, "refty-lever"))
        os.rename(path, os.path.join(self.tmp, "refty-lever", "config"))
        self.assertEqual(complete("backfill", "--rule", "", env=env), ["engineering", "sales-ops"])

    def test_config_file_names(self):
        path = self.write('api_key_env = "TEST_LEVER_KEY";')
        self.assertEqual(complete("-c", os.path.join(self.tmp, "ac")), [path])


if __name__ == "__main__":
    if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]) and os.access(sys.argv[1], os.X_OK):
        BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
