#!/usr/bin/env python3
"""The documentation says what the binary does: for every command, the options its --help
lists are those refty-lever(1) lists for it under COMMANDS; the global options of --help are
those of GLOBAL OPTIONS; and every key refty-lever.conf(5) documents for the lever and refty
groups is shown in examples/refty-lever.conf.

Run: REFTY_LEVER=/path/to/refty-lever python3 test_docs.py (or pass the path first)."""

import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
MAN1 = os.path.join(ROOT, "man", "refty-lever.1.scd")
MAN5 = os.path.join(ROOT, "man", "refty-lever.conf.5.scd")
EXAMPLE = os.path.join(ROOT, "examples", "refty-lever.conf")
BINARY = os.environ.get("REFTY_LEVER", "refty-lever")

# Every command has these; the man page says so once, not per command.
HELP_OPTIONS = {"-h", "--help"}
LONG = re.compile(r"--[a-z][a-z-]*")


def read(path):
	with open(path, encoding="utf-8") as f:
		return f.read()


def section(text, title):
	"""The body of a man page section '# TITLE', up to the next section."""
	match = re.search(r"^# %s\n(.*?)(?=^# |\Z)" % re.escape(title), text, re.M | re.S)
	if not match:
		raise AssertionError("no section '# %s'" % title)
	return match.group(1)


def man_commands():
	"""{command: (long options of its synopsis line, short options anywhere in its entry)}
	from the COMMANDS section: an entry starts with an unindented line naming the command
	in bold and goes on over its indented lines."""
	entries = {}
	current = None
	for line in section(read(MAN1), "COMMANDS").splitlines():
		head = re.match(r"^\*([a-z]+)[ *]", line)
		if head:
			current = head.group(1)
			longs, shorts = entries.setdefault(current, (set(), set()))
			longs.update(re.findall(r"\*(--[a-z][a-z-]*)\*", line))
			shorts.update(re.findall(r"\*(-[a-zA-Z])\*", line))
		elif current and line.startswith("\t"):
			entries[current][1].update(re.findall(r"\(\*(-[a-zA-Z])\*\)", line))
		elif line and not line.startswith("\t"):
			current = None
	return entries


def help_text(*args):
	result = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=60)
	if result.returncode != 0:
		raise AssertionError("refty-lever %s: exit %d\n%s" % (" ".join(args), result.returncode,
		                                                     result.stderr))
	return result.stdout


def help_options(text):
	"""(long, short) options of a --help text: those of its usage line and those that start
	an indented line ('  -n, --dry-run ...', '      --json ...')."""
	usage, _, rest = text.partition("\n")
	longs = set(LONG.findall(usage))
	shorts = set()
	for line in rest.splitlines():
		match = re.match(r"^\s+(?:(-[a-zA-Z]), )?(--[a-z][a-z-]*)", line)
		if match:
			longs.add(match.group(2))
			if match.group(1):
				shorts.add(match.group(1))
	return longs - HELP_OPTIONS, shorts - HELP_OPTIONS


def commands():
	"""The commands the overview lists."""
	body = help_text("--help").split("Commands:\n", 1)[1].split("\n\n", 1)[0]
	return [line.split()[0] for line in body.splitlines()]


class CommandOptions(unittest.TestCase):
	maxDiff = None

	def test_the_man_page_has_every_command_and_no_other(self):
		self.assertEqual(sorted(man_commands()), sorted(commands()))

	def test_each_commands_options_are_those_of_its_man_entry(self):
		man = man_commands()
		for command in commands():
			with self.subTest(command=command):
				longs, shorts = help_options(help_text(command, "--help"))
				self.assertEqual(man[command][0], longs,
				                 "long options: man page (left) and --help (right)")
				self.assertEqual(man[command][1], shorts,
				                 "short options: man page (left) and --help (right)")

	def test_global_options_are_those_of_global_options(self):
		text = help_text("--help")
		block = text.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0]
		help_longs, help_shorts = set(), set()
		for line in block.splitlines():
			match = re.match(r"^\s+(?:(-[a-zA-Z]), )?(--[a-z][a-z-]*)", line)
			if match:
				help_longs.add(match.group(2))
				if match.group(1):
					help_shorts.add(match.group(1))
		man_longs, man_shorts = set(), set()
		for line in section(read(MAN1), "GLOBAL OPTIONS").splitlines():
			if line.startswith("*-"):
				man_longs.update(re.findall(r"\*(--[a-z][a-z-]*)\*", line))
				man_shorts.update(re.findall(r"\*(-[a-zA-Z])\*", line))
		self.assertEqual(man_longs, help_longs)
		self.assertEqual(man_shorts, help_shorts)
		# The usage line names the same ones that take part in every command line.
		self.assertTrue(set(LONG.findall(text.partition("\n")[0])) <= help_longs)

	def test_the_parsers_see_what_is_there(self):
		"""The parsers above find options at all (else every comparison passes empty)."""
		self.assertEqual(man_commands()["sync"], ({"--dry-run", "--json", "--max-actions",
		                                           "--seed", "--watch"}, {"-n"}))
		self.assertEqual(help_options(help_text("sync", "--help")),
		                 ({"--dry-run", "--json", "--max-actions", "--seed", "--watch"}, {"-n"}))


def example_keys():
	"""{group: keys} of examples/refty-lever.conf, commented-out settings included."""
	keys = {}
	group = None
	for line in read(EXAMPLE).splitlines():
		bare = line.lstrip("# ").rstrip()
		opened = re.match(r"^([a-z_]+): \{", line)
		if opened:
			group = opened.group(1)
			continue
		if line.startswith("};"):
			group = None
			continue
		setting = re.match(r"^([a-z_]+)(?::| =)", bare)
		if group and setting and line.startswith("  ") and not line.startswith("    ") \
				and not line.startswith("  #   "):
			keys.setdefault(group, set()).add(setting.group(1))
	return keys


class ExampleConfiguration(unittest.TestCase):
	def test_every_key_of_the_lever_and_refty_groups_is_in_the_example(self):
		documented = set(re.findall(r"\*((?:lever|refty)\.[a-z_]+)\*", read(MAN5)))
		self.assertIn("lever.timeout", documented)
		have = example_keys()
		shown = {"%s.%s" % (g, k) for g, ks in have.items() for k in ks}
		self.assertEqual(sorted(documented - shown), [],
		                 "documented in refty-lever.conf(5), missing from the example")
		self.assertEqual(sorted(shown & {k for k in shown if k.split(".")[0] in ("lever", "refty")}
		                        - documented), [],
		                 "in the example, not documented in refty-lever.conf(5)")


if __name__ == "__main__":
	if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]) and os.access(sys.argv[1], os.X_OK):
		BINARY = sys.argv.pop(1)
	unittest.main()
