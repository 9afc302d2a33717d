#!/usr/bin/env python3
"""Every file in examples/ is checked: configuration files must pass
'refty-lever check'; scripts must at least parse."""

import os
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.normpath(os.path.join(HERE, "..", "..", "examples"))
BINARY = os.environ.get("REFTY_LEVER", "refty-lever")


class Examples(unittest.TestCase):
    def test_every_example_is_checked(self):
        names = sorted(os.listdir(EXAMPLES))
        self.assertTrue(names)
        for name in names:
            path = os.path.join(EXAMPLES, name)
            with self.subTest(example=name):
                if name.endswith(".conf"):
                    env = dict(os.environ, LEVER_API_KEY="example-lever-key-1234",
                               REFTY_API_KEY="example-refty-key-5678")
                    r = subprocess.run([BINARY, "-c", path, "check"], capture_output=True,
                                       text=True, env=env, timeout=60)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn("is valid", r.stdout)
                elif name.endswith(".sh"):
                    r = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                elif name.endswith(".py"):
                    r = subprocess.run(["python3", "-m", "py_compile", path],
                                       capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stderr)
                else:
                    self.fail(f"no check knows how to verify examples/{name}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
