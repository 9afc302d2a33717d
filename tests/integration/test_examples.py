#!/usr/bin/env python3
"""Every file in examples/ is checked: configuration files must pass 'refty-lever check';
scripts must at least parse; the systemd units, the crontab and the Kubernetes manifests are
parsed here (standard library only), their fields checked, and every refty-lever command line
they hold run with --help appended, so that an option or command they use must exist. The
configuration the Kubernetes example carries is run as the pod would run it."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")
SYSTEMD = os.path.join(EXAMPLES, "systemd")
BINARY = os.environ.get("REFTY_LEVER", "refty-lever")

UNITS = ["refty-lever@.service", "refty-lever@.timer", "refty-lever-status@.service",
         "refty-lever-status@.timer", "refty-lever-failure@.service",
         "refty-lever-watch@.service", "refty-lever-serve@.service"]


# -- parsers --------------------------------------------------------------------------------------

def parse_unit(path):
    """A systemd unit file as {section: {key: [values]}}: comments, continuation lines and
    repeated keys as systemd.syntax(7) has them; an empty assignment resets the list."""
    sections = {}
    current = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        if not line or line[0] in "#;":
            continue
        while line.endswith("\\") and i < len(lines):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        if current is None or "=" not in line:
            raise ValueError(f"{path}: not a unit file line: {line!r}")
        key, value = (part.strip() for part in line.split("=", 1))
        values = current.setdefault(key, [])
        if value:
            values.append(value)
        else:
            values.clear()
    return sections


def unit_value(unit, section, key):
    values = unit.get(section, {}).get(key)
    if not values:
        raise AssertionError(f"[{section}] {key}= is not set")
    return values[-1]


def unit_words(unit, section, key):
    return [w for v in unit.get(section, {}).get(key, []) for w in v.split()]


def seconds(span):
    """A systemd time span ("30min", "1h 30s", "90") in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hr": 3600, "d": 86400}
    total = 0
    for number, unit in re.findall(r"(\d+)\s*([a-z]*)", span):
        total += int(number) * units[unit]
    return total


def yaml_scalar(text):
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"0[0-7]+", text):
        return int(text, 8)  # as Kubernetes reads a file mode such as 0440
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


class Yaml:
    """The subset of YAML the Kubernetes example uses: '---' between documents, block
    mappings and sequences by indentation, plain and quoted scalars, '|' literal blocks and
    full-line comments."""

    def __init__(self, text):
        self.lines = text.split("\n")
        self.i = 0

    @classmethod
    def documents(cls, text):
        docs = []
        for chunk in re.split(r"^---\s*$", text, flags=re.M):
            parser = cls(chunk)
            if parser.next_indent() is not None:
                docs.append(parser.node(parser.next_indent()))
                if parser.next_indent() is not None:
                    raise ValueError(f"unparsed line: {parser.lines[parser.i]!r}")
        return docs

    def next_indent(self):
        while self.i < len(self.lines):
            stripped = self.lines[self.i].strip()
            if stripped and not stripped.startswith("#"):
                line = self.lines[self.i]
                return len(line) - len(line.lstrip(" "))
            self.i += 1
        return None

    def node(self, indent):
        if self.lines[self.i].strip().startswith("- ") or self.lines[self.i].strip() == "-":
            return self.sequence(indent)
        return self.mapping(indent)

    def mapping(self, indent):
        out = {}
        while self.next_indent() == indent and not self.lines[self.i].strip().startswith("-"):
            key, sep, rest = self.lines[self.i].strip().partition(":")
            if not sep or (rest and not rest.startswith(" ")):
                raise ValueError(f"not a 'key: value' line: {self.lines[self.i]!r}")
            self.i += 1
            rest = rest.strip()
            if rest == "|":
                out[key] = self.literal(indent)
            elif rest:
                out[key] = yaml_scalar(rest)
            else:
                deeper = self.next_indent()
                if deeper is None or deeper <= indent:
                    raise ValueError(f"key '{key}' has no value")
                out[key] = self.node(deeper)
        return out

    def sequence(self, indent):
        out = []
        while self.next_indent() == indent and self.lines[self.i].strip().startswith("-"):
            item = self.lines[self.i].strip()[1:].strip()
            if not item:
                self.i += 1
                out.append(self.node(self.next_indent()))
            elif re.match(r"[\w.-]+:( |$)", item):
                # '- key: value' opens a mapping whose keys line up after the dash.
                self.lines[self.i] = " " * (indent + 2) + item
                out.append(self.mapping(indent + 2))
            else:
                self.i += 1
                out.append(yaml_scalar(item))
        return out

    def literal(self, indent):
        body = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and len(line) - len(line.lstrip(" ")) <= indent:
                break
            body.append(line)
            self.i += 1
        while body and not body[-1].strip():
            body.pop()
        margin = min(len(l) - len(l.lstrip(" ")) for l in body if l.strip())
        return "\n".join(l[margin:] for l in body) + "\n"


# -- helpers --------------------------------------------------------------------------------------

CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*")


def assert_valid_invocation(test, argv, what):
    """argv is a refty-lever command line (without the program): its global options, command
    and command options must all exist. --help at the end makes it stop before doing anything,
    after every option before it was parsed."""
    r = subprocess.run([BINARY, *argv, "--help"], capture_output=True, text=True, timeout=60)
    test.assertEqual(r.returncode, 0, f"{what}: refty-lever {shlex.join(argv)}: {r.stderr}")
    test.assertIn("usage: refty-lever " + argv[argv.index(command_of(argv))], r.stdout, what)


def command_of(argv):
    i = 0
    while i < len(argv):
        if argv[i] in ("-c", "--config", "--log-format"):
            i += 2
        elif argv[i].startswith("-"):
            i += 1
        else:
            return argv[i]
    raise AssertionError(f"no command in {argv}")


def option_value(argv, *names):
    for i, word in enumerate(argv):
        if word in names:
            return argv[i + 1]
    return None


def exec_argv(unit, instance="acme"):
    """ExecStart= of a refty-lever unit, split, with the binary checked and dropped."""
    words = shlex.split(unit_value(unit, "Service", "ExecStart").replace("%i", instance))
    return words


def write_keys(directory, names):
    os.makedirs(directory, exist_ok=True)
    for name in names:
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(f"example-{name}-0b5d\n")
        os.chmod(path, 0o440)


def run_as_service(config, args, env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("STATE_DIRECTORY", "CREDENTIALS_DIRECTORY", "XDG_STATE_HOME",
                        "XDG_CONFIG_HOME", "REFTY_LEVER_CONFIG")}
    env.update(env_changes)
    return subprocess.run([BINARY, "-c", config, *args], capture_output=True, text=True,
                          env=env, timeout=60)


def state_used(result):
    """The state path status used: in its report, or in its error for a missing state."""
    m = re.search(r"^state:\s+(.*?)(?: \(.*\))?$", result.stdout, flags=re.M)
    if result.returncode == 0 and m:
        return m.group(1)
    m = re.search(r"state '([^']*)' does not exist", result.stderr)
    if result.returncode == 4 and m:
        return m.group(1)
    raise AssertionError(f"status named no state (exit {result.returncode}):\n"
                         f"{result.stdout}{result.stderr}")


def load_kubernetes():
    with open(os.path.join(EXAMPLES, "kubernetes", "cronjob.yaml"), encoding="utf-8") as f:
        docs = Yaml.documents(f.read())
    return {doc["kind"]: doc for doc in docs}


# -- the checks -----------------------------------------------------------------------------------

class Examples(unittest.TestCase):
    maxDiff = None

    def test_every_example_is_checked(self):
        names = sorted(os.path.relpath(os.path.join(d, n), EXAMPLES)
                       for d, _, files in os.walk(EXAMPLES) for n in files)
        self.assertTrue(names)
        for name in names:
            path = os.path.join(EXAMPLES, name)
            with self.subTest(example=name):
                if name.endswith(".conf"):
                    self.check_conf(path)
                elif name.endswith(".sh"):
                    r = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                elif name.endswith(".py"):
                    r = subprocess.run(["python3", "-m", "py_compile", path],
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                elif name.startswith("systemd/"):
                    self.assertIn(os.path.basename(name), UNITS, "a unit nobody checks")
                    parse_unit(path)
                elif name == "crontab":
                    self.check_crontab(path)
                elif name == "kubernetes/cronjob.yaml":
                    self.check_kubernetes_fields(load_kubernetes())
                elif name == "meson.build":
                    self.check_installed_by_meson(path)
                else:
                    self.fail(f"no check knows how to verify examples/{name}")
        # The units are checked in depth below, each by name: none may be missing.
        self.assertEqual(sorted(os.listdir(SYSTEMD)), sorted(UNITS))

    def check_conf(self, path):
        env = dict(os.environ, LEVER_API_KEY="example-lever-key-1234",
                   REFTY_API_KEY="example-refty-key-5678")
        r = subprocess.run([BINARY, "-c", path, "check"], capture_output=True,
                           text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stdout)

    def check_installed_by_meson(self, path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for name in UNITS + ["refty-lever.conf", "crontab", "cronjob.yaml", "README.md"]:
            self.assertIn(f"'{name}'", text, f"examples/meson.build does not install {name}")

    # -- cron --

    def check_crontab(self, path):
        env_lines, jobs = {}, []
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                m = re.fullmatch(r"([A-Z_]+)=(.*)", line)
                if m:
                    env_lines[m.group(1)] = m.group(2)
                    continue
                fields = line.split(None, 6)
                self.assertEqual(len(fields), 7, f"not 'm h dom mon dow user command': {line}")
                for field in fields[:5]:
                    self.assertRegex(field, CRON_FIELD.pattern + "$", line)
                jobs.append(fields)
        # cron's own PATH is /usr/bin:/bin: the installed binary must be on the one given.
        self.assertIn("/usr/local/bin", env_lines.get("PATH", "").split(":"))
        self.assertIn("SHELL", env_lines)
        self.assertTrue(jobs)
        commands = {}
        for fields in jobs:
            user, command = fields[5], fields[6]
            self.assertNotEqual(user, "root", "refty-lever needs no root: run it as its own user")
            words = shlex.split(command)
            for i, w in enumerate(words):
                if w[:1] in "<>|&" or w[:2] in ("1>", "2>"):
                    words = words[:i]
                    break
            self.assertEqual(words[0], "refty-lever", command)
            assert_valid_invocation(self, words[1:], "examples/crontab")
            self.assertIsNotNone(option_value(words, "-c", "--config"),
                                 "a cron job names its configuration")
            self.assertIn("-q", words, "cron mails output: errors only")
            commands[command_of(words[1:])] = (fields, words)
        self.assertEqual(commands["sync"][0][0], "*/5")
        self.assertEqual(option_value(commands["status"][1], "--max-age"), "1h")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # The comments say where the keys and the state are.
        self.assertIn("api_key_file", text)
        self.assertIn("state = ", text)
        self.assertIn(option_value(commands["sync"][1], "-c"), text.split("\nSHELL=")[0])
        # README shows the same job.
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            readme = f.read()
        sync_line = next(l for l in text.splitlines() if " sync" in l and not l.startswith("#"))
        self.assertTrue(" ".join(sync_line.split()) in readme,
                        f"README.md does not show the crontab's job: {' '.join(sync_line.split())}")

    def test_crontab(self):
        self.check_crontab(os.path.join(EXAMPLES, "crontab"))

    # -- systemd --

    def unit(self, name):
        return parse_unit(os.path.join(SYSTEMD, name))

    def check_hardened(self, unit, network):
        self.assertEqual(unit_value(unit, "Service", "DynamicUser"), "yes")
        self.assertEqual(unit_value(unit, "Service", "ProtectSystem"), "strict")
        self.assertEqual(unit_value(unit, "Service", "NoNewPrivileges"), "yes")
        self.assertEqual(unit_value(unit, "Service", "PrivateTmp"), "yes")
        self.assertEqual(unit_value(unit, "Service", "ProtectHome"), "yes")
        self.assertIn("@system-service", unit_words(unit, "Service", "SystemCallFilter"))
        families = unit_words(unit, "Service", "RestrictAddressFamilies")
        self.assertTrue(families)
        for family in ("AF_INET", "AF_INET6") if network else ():
            self.assertIn(family, families)
        self.assertEqual(unit.get("Service", {}).get("CapabilityBoundingSet"), [])

    def check_exec(self, unit, command):
        words = exec_argv(unit)
        self.assertEqual(words[0], "@bindir@/refty-lever", "installed with the real bindir")
        assert_valid_invocation(self, words[1:], "ExecStart")
        self.assertEqual(option_value(words, "-c"), "/etc/refty-lever/acme.conf")
        self.assertEqual(command_of(words[1:]), command)
        return words

    def test_sync_service(self):
        unit = self.unit("refty-lever@.service")
        self.assertEqual(unit_value(unit, "Service", "Type"), "oneshot")
        self.check_exec(unit, "sync")
        self.assertIn("5", unit_words(unit, "Service", "SuccessExitStatus"))
        self.assertTrue(60 <= seconds(unit_value(unit, "Service", "TimeoutStartSec")) <= 4 * 3600)
        self.assertEqual(unit_value(unit, "Service", "StateDirectory"), "refty-lever/%i")
        creds = dict(v.split(":", 1) for v in unit["Service"]["LoadCredential"])
        self.assertEqual(creds, {
            "lever-api-key": "/etc/refty-lever/credentials/%i/lever-api-key",
            "refty-api-key": "/etc/refty-lever/credentials/%i/refty-api-key"})
        self.check_hardened(unit, network=True)
        self.assertEqual(unit_value(unit, "Unit", "OnFailure"), "refty-lever-failure@%n.service")

    def test_watch_service(self):
        sync = self.unit("refty-lever@.service")
        unit = self.unit("refty-lever-watch@.service")
        self.assertEqual(unit_value(unit, "Service", "Type"), "exec")
        words = self.check_exec(unit, "sync")
        self.assertEqual(option_value(words, "--watch"), "30s")
        self.assertEqual(unit_value(unit, "Service", "ExecReload"), "/bin/kill -HUP $MAINPID")
        self.assertEqual(unit_value(unit, "Service", "Restart"), "on-failure")
        # The same account's state and keys as the timer's runs.
        for key in ("StateDirectory", "User", "DynamicUser", "UMask"):
            self.assertEqual(unit_value(unit, "Service", key), unit_value(sync, "Service", key))
        self.assertEqual(unit["Service"]["LoadCredential"], sync["Service"]["LoadCredential"])
        self.check_hardened(unit, network=True)

    def test_serve_service(self):
        sync = self.unit("refty-lever@.service")
        unit = self.unit("refty-lever-serve@.service")
        self.assertEqual(unit_value(unit, "Service", "Type"), "exec")
        self.check_exec(unit, "serve")
        self.assertEqual(unit_value(unit, "Service", "ExecReload"), "/bin/kill -HUP $MAINPID")
        for key in ("StateDirectory", "User", "DynamicUser", "UMask"):
            self.assertEqual(unit_value(unit, "Service", key), unit_value(sync, "Service", key))
        self.assertEqual(unit["Service"]["LoadCredential"], sync["Service"]["LoadCredential"])
        self.check_hardened(unit, network=True)

    def test_status_service_reads_the_same_state(self):
        sync = self.unit("refty-lever@.service")
        unit = self.unit("refty-lever-status@.service")
        self.assertEqual(unit_value(unit, "Service", "Type"), "oneshot")
        words = self.check_exec(unit, "status")
        self.assertEqual(option_value(words, "--max-age"), "1h")
        for key in ("StateDirectory", "User", "DynamicUser"):
            self.assertEqual(unit_value(unit, "Service", key), unit_value(sync, "Service", key))
        self.check_hardened(unit, network=False)
        self.assertEqual(unit_value(unit, "Unit", "OnFailure"), "refty-lever-failure@%n.service")

    def test_timers(self):
        for name, every in (("refty-lever@.timer", 5), ("refty-lever-status@.timer", 15)):
            with self.subTest(timer=name):
                unit = self.unit(name)
                self.assertEqual(unit_value(unit, "Timer", "OnCalendar"), f"*:0/{every}")
                self.assertEqual(unit_value(unit, "Timer", "Persistent"), "true")
                self.assertEqual(unit_value(unit, "Install", "WantedBy"), "timers.target")
                # The timer starts the service of the same name.
                self.assertNotIn("Unit", unit["Timer"])
                self.assertTrue(os.path.exists(os.path.join(SYSTEMD, name[:-6] + ".service")))

    def test_failure_hook(self):
        unit = self.unit("refty-lever-failure@.service")
        self.assertEqual(unit_value(unit, "Service", "Type"), "oneshot")
        command = unit_value(unit, "Service", "ExecStart")
        self.assertIn("%i", command, "it reports the unit that failed")
        self.assertIn("systemd-cat", command)
        self.assertNotIn("OnFailure", unit.get("Unit", {}), "a failing hook must not loop")

    def test_systemd_environment_runs(self):
        # As refty-lever@acme.service runs: HOME=/, the state and keys where systemd puts
        # them, and the configuration the examples give (keys named relatively, no state).
        unit = self.unit("refty-lever@.service")
        tmp = tempfile.mkdtemp(prefix="refty-lever-unit-")
        self.addCleanup(shutil.rmtree, tmp, True)
        creds = os.path.join(tmp, "credentials", "refty-lever@acme.service")
        write_keys(creds, [v.split(":", 1)[0] for v in unit["Service"]["LoadCredential"]])
        state_dir = os.path.join(tmp, "lib", unit_value(unit, "Service", "StateDirectory")
                                 .replace("%i", "acme"))
        config = os.path.join(tmp, "acme.conf")
        with open(config, "w") as f:
            f.write(load_kubernetes()["ConfigMap"]["data"]["refty-lever.conf"])
        env = {"HOME": "/", "STATE_DIRECTORY": state_dir, "CREDENTIALS_DIRECTORY": creds}
        r = run_as_service(config, ["check"], env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run_as_service(config, ["status"], env)
        self.assertEqual(state_used(r), os.path.join(state_dir, "state.db"))

    def test_systemd_analyze_verify(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed")
        tmp = tempfile.mkdtemp(prefix="refty-lever-units-")
        self.addCleanup(shutil.rmtree, tmp, True)
        bindir = os.path.dirname(os.path.abspath(shutil.which(BINARY) or BINARY))
        for name in UNITS:
            with open(os.path.join(SYSTEMD, name), encoding="utf-8") as f:
                text = f.read()
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                f.write(text.replace("@bindir@", bindir))
        instances = [name.replace("@.", "@acme.") for name in UNITS if "failure" not in name]
        instances.append("refty-lever-failure@refty-lever@acme.service.service")
        r = subprocess.run([analyze, "verify", "--man=no", *("./" + n for n in instances)],
                           capture_output=True, text=True, cwd=tmp, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # Unknown keys and bad values are only warnings: none may be about these units.
        ours = [l for l in (r.stdout + r.stderr).splitlines()
                if "refty-lever" in l or tmp in l]
        self.assertEqual(ours, [])

    # -- Kubernetes --

    def check_kubernetes_fields(self, docs):
        self.assertEqual(sorted(docs), ["ConfigMap", "CronJob", "PersistentVolumeClaim"])
        cron = docs["CronJob"]
        self.assertEqual(cron["apiVersion"], "batch/v1")
        spec = cron["spec"]
        self.assertEqual(spec["concurrencyPolicy"], "Forbid")
        fields = spec["schedule"].split()
        self.assertEqual(len(fields), 5)
        self.assertEqual(fields[0], "*/5")
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        self.assertIn(pod["restartPolicy"], ("Never", "OnFailure"))
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        (container,) = pod["containers"]
        self.assertEqual(container["command"], ["refty-lever"])
        args = [str(a) for a in container["args"]]
        assert_valid_invocation(self, args, "CronJob args")
        self.assertEqual(command_of(args), "sync")
        env = {e["name"]: e["value"] for e in container["env"]}
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        self.assertEqual(set(mounts) - set(volumes), set())

        def volume_at(path):
            found = [n for n, m in mounts.items() if m["mountPath"] == path]
            self.assertEqual(len(found), 1, f"one volume mounted at {path}")
            return mounts[found[0]], volumes[found[0]]

        # State on the claim, at STATE_DIRECTORY.
        _, state = volume_at(env["STATE_DIRECTORY"])
        self.assertEqual(state["persistentVolumeClaim"]["claimName"],
                         docs["PersistentVolumeClaim"]["metadata"]["name"])
        self.assertIn("ReadWriteOnce", docs["PersistentVolumeClaim"]["spec"]["accessModes"])
        # Keys from a Secret, as files at CREDENTIALS_DIRECTORY, readable by no one else.
        mount, keys = volume_at(env["CREDENTIALS_DIRECTORY"])
        self.assertTrue(mount["readOnly"])
        self.assertTrue(keys["secret"]["secretName"])
        self.assertEqual(keys["secret"]["defaultMode"] & 0o007, 0)
        # The configuration from the ConfigMap, at the path -c names.
        config_path = option_value(args, "-c", "--config")
        mount, config = volume_at(os.path.dirname(config_path))
        self.assertTrue(mount["readOnly"])
        self.assertEqual(config["configMap"]["name"], docs["ConfigMap"]["metadata"]["name"])
        self.assertIn(os.path.basename(config_path), docs["ConfigMap"]["data"])
        return args, env, [item["path"] for item in keys["secret"]["items"]]

    def test_kubernetes_cronjob(self):
        docs = load_kubernetes()
        args, env, key_files = self.check_kubernetes_fields(docs)
        # Run the pod's configuration with the pod's environment, the mounts made locally.
        tmp = tempfile.mkdtemp(prefix="refty-lever-pod-")
        self.addCleanup(shutil.rmtree, tmp, True)
        config_path = option_value(args, "-c", "--config")
        local = os.path.join(tmp, os.path.basename(config_path))
        with open(local, "w") as f:
            f.write(docs["ConfigMap"]["data"][os.path.basename(config_path)])
        os.chmod(local, 0o644)  # as a ConfigMap is mounted
        creds = os.path.join(tmp, "keys")
        write_keys(creds, key_files)
        state_dir = os.path.join(tmp, "state")
        pod_env = {"HOME": "/", "STATE_DIRECTORY": state_dir, "CREDENTIALS_DIRECTORY": creds}
        self.assertEqual(set(env), {"STATE_DIRECTORY", "CREDENTIALS_DIRECTORY"})
        r = run_as_service(local, ["check"], pod_env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stdout)
        r = run_as_service(local, ["status"], pod_env)
        self.assertEqual(state_used(r), os.path.join(state_dir, "state.db"))
        # Without the Secret's files the same configuration is refused: the names matter.
        shutil.rmtree(creds)
        os.mkdir(creds)
        r = run_as_service(local, ["check"], pod_env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot read secret file", r.stderr)

    def test_yaml_parser(self):
        docs = Yaml.documents("a: 1\n# c\nb:\n  - x\n  - k: 'v'\n    m: \"w\"\n"
                              "c: |\n  one\n    two\n\n  # three\nd: 0440\n---\ne: true\n")
        self.assertEqual(docs, [{"a": 1, "b": ["x", {"k": "v", "m": "w"}],
                                 "c": "one\n  two\n\n# three\n", "d": 0o440}, {"e": True}])
        with self.assertRaises(ValueError):
            Yaml.documents("a: 1\n  b: 2\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and os.path.isfile(sys.argv[1]) and os.access(sys.argv[1], os.X_OK):
        BINARY = sys.argv.pop(1)
    unittest.main(verbosity=2)
