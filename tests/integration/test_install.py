#!/usr/bin/env python3
"""'meson install' into a temporary DESTDIR holds what an operator needs: the binary (reporting
meson.build's version), both man pages when scdoc was found, README and the examples under
share/doc/refty-lever, the bash completion, and the systemd units naming the installed binary.

The build root comes from $MESON_BUILD_ROOT (tests/meson.build sets it); what was configured
(prefix, directories, whether the man pages are built) is read from its meson-info."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_ROOT = os.environ.get("MESON_BUILD_ROOT", "")

UNITS = ["refty-lever@.service", "refty-lever@.timer", "refty-lever-status@.service",
         "refty-lever-status@.timer", "refty-lever-failure@.service",
         "refty-lever-watch@.service", "refty-lever-serve@.service"]


def meson_info(name):
    with open(os.path.join(BUILD_ROOT, "meson-info", f"intro-{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class Install(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(os.path.join(BUILD_ROOT, "meson-info")):
            raise AssertionError(f"MESON_BUILD_ROOT '{BUILD_ROOT}' is no meson build directory: "
                                 "run this through 'meson test' or set it")
        meson = shutil.which("meson")
        if not meson:
            raise AssertionError("'meson' is not on PATH: the install cannot be run")
        cls.options = {o["name"]: o["value"] for o in meson_info("buildoptions")}
        cls.version = meson_info("projectinfo")["version"]
        cls.destdir = tempfile.mkdtemp(prefix="refty-lever-install-")
        r = subprocess.run([meson, "install", "-C", BUILD_ROOT, "--destdir", cls.destdir,
                            "--no-rebuild", "--quiet"], capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            shutil.rmtree(cls.destdir, ignore_errors=True)
            raise AssertionError(f"meson install failed ({r.returncode}):\n{r.stdout}{r.stderr}")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.destdir, ignore_errors=True)

    def under_prefix(self, option, *parts):
        """The installed path of parts under a directory option, inside DESTDIR."""
        prefix = self.options["prefix"]
        base = self.options[option] if option else ""
        return os.path.join(self.destdir + prefix, base, *parts) if not os.path.isabs(base) \
            else os.path.join(self.destdir + base, *parts)

    def unitdir(self):
        configured = self.options.get("systemdsystemunitdir", "")
        if configured:
            return self.destdir + configured if os.path.isabs(configured) \
                else os.path.join(self.destdir + self.options["prefix"], configured)
        return os.path.join(self.destdir + self.options["prefix"], "lib", "systemd", "system")

    def test_binary_reports_the_project_version(self):
        binary = self.under_prefix("bindir", "refty-lever")
        self.assertTrue(os.access(binary, os.X_OK), binary)
        r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[0], f"refty-lever {self.version}")

    def test_man_pages(self):
        man_targets = {t["name"] for t in meson_info("targets")
                       if t["name"] in ("refty-lever.1", "refty-lever.conf.5")}
        pages = [self.under_prefix("mandir", "man1", "refty-lever.1"),
                 self.under_prefix("mandir", "man5", "refty-lever.conf.5")]
        if not man_targets:
            for page in pages:
                self.assertFalse(os.path.exists(page), "installed without scdoc?")
            self.skipTest("scdoc was not found: no man pages are built")
        self.assertEqual(man_targets, {"refty-lever.1", "refty-lever.conf.5"})
        for page in pages:
            with self.subTest(page=page):
                self.assertIn(".TH", read(page))
        for page in pages:
            self.assertIn("STATE_DIRECTORY", read(page))
            self.assertIn("CREDENTIALS_DIRECTORY", read(page))

    def test_docs_and_examples(self):
        docdir = self.under_prefix("datadir", "doc", "refty-lever")
        for name, source in (("README.md", "README.md"),
                             ("refty-lever.conf", "examples/refty-lever.conf"),
                             ("crontab", "examples/crontab"),
                             ("cronjob.yaml", "examples/kubernetes/cronjob.yaml")):
            with self.subTest(doc=name):
                self.assertEqual(read(os.path.join(docdir, name)), read(os.path.join(ROOT, source)))

    def test_installed_example_configuration_is_valid(self):
        binary = self.under_prefix("bindir", "refty-lever")
        conf = self.under_prefix("datadir", "doc", "refty-lever", "refty-lever.conf")
        env = dict(os.environ, LEVER_API_KEY="example-lever-key-1234",
                   REFTY_API_KEY="example-refty-key-5678")
        r = subprocess.run([binary, "-c", conf, "check"], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bash_completion(self):
        path = self.under_prefix("datadir", "bash-completion", "completions", "refty-lever")
        self.assertEqual(read(path), read(os.path.join(ROOT, "cli", "refty-lever.bash")))
        r = subprocess.run(["bash", "--norc", "-c", 'source "$1" && complete -p refty-lever',
                            "bash", path], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("_refty_lever", r.stdout)

    def test_systemd_units_name_the_installed_binary(self):
        unitdir = self.unitdir()
        self.assertEqual(sorted(os.listdir(unitdir)), sorted(UNITS))
        bindir = os.path.join(self.options["prefix"], self.options["bindir"])
        for name in UNITS:
            with self.subTest(unit=name):
                text = read(os.path.join(unitdir, name))
                self.assertNotIn("@bindir@", text)
                source = read(os.path.join(ROOT, "examples", "systemd", name))
                self.assertEqual(text, source.replace("@bindir@", bindir))
                for program in re.findall(r"^ExecStart=(\S+)", text, flags=re.M):
                    if "refty-lever" in program:
                        self.assertEqual(program, os.path.join(bindir, "refty-lever"))
                        self.assertTrue(os.access(self.destdir + program, os.X_OK))


if __name__ == "__main__":
    if len(sys.argv) > 1 and os.path.isdir(sys.argv[1]):
        BUILD_ROOT = sys.argv.pop(1)
    unittest.main(verbosity=2)
