#!/usr/bin/env python3
"""examples/demo.sh is the newcomer's first command: it must run end to end
against the bundled emulators and show the whole job."""

import os
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "demo.sh"))


class Demo(unittest.TestCase):
    def test_demo_runs_the_whole_job(self):
        r = subprocess.run(["bash", DEMO], capture_output=True, text=True, timeout=240,
                           env=dict(os.environ))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout
        self.assertIn("every job, stage, sequence and language resolves", out)
        self.assertIn("first run: recording the current state", r.stderr)
        self.assertIn("sync (dry run):", out)
        self.assertEqual(out.count("send 'Reference check'"), 2, out)  # planned, then done
        self.assertIn("sync: done (exit 0): seen 2, changed 0, enrolled 0, sent 0", out)
        self.assertIn('"max_steps_per_candidate_stage":1', out)
        self.assertIn('"candidates_created":2', out)
        self.assertIn("journal:", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
