#!/usr/bin/env python3
"""Soak test: many sync cycles against the emulators, with faults and kills, checked against an
independent model of what must have reached Refty.

Each cycle mutates about 5% of the Lever emulator's opportunities (stage moves forward, back and
into linked stages again, contact changes, archivals, unarchivals, deletions, moves between
postings, new opportunities), then runs `refty-lever sync` with about 10% of the requests to both
APIs failing (5xx, 429, dropped connections, slow answers that never come, Refty requests whose
answer is lost after they took effect). Every 25th cycle the sync is killed (SIGKILL or SIGTERM)
at a random moment, sometimes while Refty requests are in flight. At the end fault-free syncs run
until nothing is pending, and what the Refty emulator recorded is compared with the model, which
is built from the mutations alone (never from the tool's database or output).

The model needs to know, for each opportunity, what a sync saw. A sync that exited 0 or 1
without being killed saw every change made before it; any other sync may have seen some of them
(a batch committed before the kill). The mutations are chosen so that this does not matter:
changes that decide what a stage entry or a contact change leads to (archival, unarchival,
deletion, a move to another posting, a contact change) are made only to an opportunity that a
complete sync has seen since its last change, and nothing else is done to it until another
complete sync has seen it. Only stage moves (and the creation itself) accumulate between
complete syncs, and those lead to the same effects however many syncs saw a part of them.

Run: python3 tests/soak/soak.py [path/to/refty-lever] [--cycles N] [--opportunities N] [--seed S]
(or set REFTY_LEVER). The seed is printed first: passed back, it makes the same changes, faults
and kill choices again (the moments of the kills, and so what they cut, still vary).
"""

import argparse
import collections
import copy
import os
import random
import re
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import util  # noqa: E402
from util import POSTINGS, STAGES, Emulator, Workspace  # noqa: E402
import refty as refty_emulator  # noqa: E402  (util put the emulators on the path)

SEQUENCES = {s["name"]: s for s in refty_emulator.DEFAULT_SEQUENCES}

RULES = [
	{"name": "engineering", "jobs": ["Senior Backend Engineer", "Data Scientist"],
	 "sequence": "Engineering references",
	 "stages": [("Self-assessment", "Phone screen"), ("Reference check", "References")],
	 "language": "en"},
	{"name": "design", "jobs": ["Product Designer"], "sequence": "Design references",
	 "stages": [("Reference check", "On-site")], "language": "fr"},
]

# Postings no rule uses, and None: an opportunity without an application.
UNCOVERED = [POSTINGS[t] for t in ("Account Executive", "Customer Support Specialist",
                                   "Warehouse Associate", "Office Manager")] + [None]
COVERED = [POSTINGS[t] for r in RULES for t in r["jobs"]]
STAGE_IDS = list(STAGES.values())

KILL_EVERY = 25
# Cycles whose sync meets a Lever that refuses its key (exit 3, cheap: no retries).
OUTAGE_CHANCE = 0.03
MUTATION_FRACTION = 0.05

# Kinds of mutation. A "barrier" one decides what later changes lead to, so it is made only to an
# opportunity with no change unseen by a complete sync, and ends its changes until one has run.
BARRIER = ("email", "name", "phone", "archive", "unarchive", "delete", "posting")
# New opportunities and deletions balance, so that the account keeps its size.
WEIGHTS = [("move", 50), ("new", 3), ("email", 7), ("name", 4), ("phone", 3), ("archive", 5),
           ("unarchive", 5), ("delete", 3), ("posting", 9)]

OK, PARTIAL, REMOTE = 0, 1, 3

# refty.max_in_flight, the default the configuration leaves in place, and how many times the
# client tries a request (src/http.c).
REFTY_IN_FLIGHT = 8
HTTP_ATTEMPTS = 6


def rule_table():
	"""{posting id: (sequence id, {Lever stage id: Refty stage id})} from RULES."""
	table = {}
	for rule in RULES:
		seq = SEQUENCES[rule["sequence"]]
		refty_ids = {s["name"]: s["id"] for s in seq["stages"]}
		links = {STAGES[lever]: refty_ids[refty] for refty, lever in rule["stages"]}
		for job in rule["jobs"]:
			table[POSTINGS[job]] = (seq["id"], links)
	return table


RULE_BY_POSTING = rule_table()


class Clock:
	"""Milliseconds, now or later, strictly increasing: every change gets its own time."""

	def __init__(self):
		self.last = 0

	def next(self):
		self.last = max(int(time.time() * 1000), self.last + 1)
		return self.last


class Opp:
	"""What Lever holds for one opportunity, as the mutations made it."""

	def __init__(self, opp_id, posting, stage, at, contact):
		self.id = opp_id
		self.posting = posting
		self.stage = stage
		self.changes = [(stage, at)]
		self.name, self.email, self.phone = contact
		self.archived = False
		self.deleted = False
		# What the syncs saw of it: whether any did, the newest entry, the posting.
		self.observed = False
		self.seen_until = None
		self.seen_posting = None
		# Kinds of the changes no complete sync has seen yet.
		self.window = []

	def contact(self):
		return (self.name, self.email, self.phone)


class Model:
	"""The effects that must reach Refty, from the mutations and the rules alone (README.md,
	refty-lever(1)): a candidate once per (opportunity, sequence), created when the opportunity
	is new on a covered job, moves onto one, or needs a step; one step per entry into a linked
	stage, re-entries included; an update when an enrolled candidate's name, email or phone
	differs from what Refty was last given; nothing at all for an archived opportunity, whose
	entries are still taken as handled."""

	def __init__(self):
		self.opps = {}
		self.creates = {}        # (opp, sequence) -> idempotency key
		self.contact = {}        # (opp, sequence) -> contact Refty must hold
		self.contacts_had = collections.defaultdict(set)  # opp -> every contact it ever had
		self.updates = collections.Counter()  # (opp, sequence) -> updates due
		self.steps = {}          # key -> (opp, sequence, Refty stage)
		self.skipped = 0

	def observe(self, o):
		"""What a sync that sees o now must plan for it."""
		if o.deleted:
			return
		rule = RULE_BY_POSTING.get(o.posting)
		entries = [(st, at) for st, at in o.changes if not o.observed or at > o.seen_until]
		is_new = not o.observed
		posting_changed = o.observed and o.posting != o.seen_posting
		o.observed = True
		o.seen_until = max(at for _, at in o.changes)
		o.seen_posting = o.posting
		if rule is None:
			return
		seq, links = rule
		pair = (o.id, seq)
		enrolled = pair in self.creates
		sends = [(links[st], at) for st, at in entries if st in links]
		create = not enrolled and (is_new or posting_changed or sends)
		update = enrolled and self.contact[pair] != o.contact()
		if not (create or update or sends):
			return
		if o.archived:
			self.skipped += 1
			return
		if create:
			self.creates[pair] = "lever:%s:%s:candidate" % pair
		if update:
			self.updates[pair] += 1
		self.contact[pair] = o.contact()
		for refty_stage, at in sends:
			self.steps["lever:%s:%s:%d" % (o.id, refty_stage, at)] = (o.id, seq, refty_stage)

	def observe_all(self):
		"""A complete sync: every change so far was seen."""
		for o in self.opps.values():
			if o.window:
				self.observe(o)
				o.window = []


class Mutator:
	"""Chooses each cycle's changes, applies them to the model and sends them to Lever."""

	def __init__(self, rng, model, clock, per_cycle):
		self.per_cycle = per_cycle
		self.rng = rng
		self.model = model
		self.clock = clock
		self.live = []
		self.serial = 0
		self.counts = collections.Counter()

	def new_contact(self):
		self.serial += 1
		n = self.serial
		return ("Candidate %d %s" % (n, self.rng.choice(["Ünal", "Ōta", "Smith", "Nuñez"])),
		        "c%d@example.org" % n, "+44 20 7946 %04d" % (n % 10000))

	def create_op(self, at, seeded=False):
		self.serial += 1
		opp_id = "soak-%06d" % self.serial
		posting = self.rng.choice(COVERED) if self.rng.random() < 0.6 else self.rng.choice(UNCOVERED)
		stage = self.rng.choice(STAGE_IDS)
		o = Opp(opp_id, posting, stage, at, self.new_contact())
		o.observed = seeded
		o.seen_until = at if seeded else None
		o.seen_posting = posting if seeded else None
		self.model.opps[opp_id] = o
		self.model.contacts_had[opp_id].add(o.contact())
		self.live.append(o)
		return o, {"op": "create", "id": opp_id, "posting": posting, "stage": stage,
		           "name": o.name, "emails": [o.email], "phones": [o.phone],
		           "created_at": at, "updated_at": at}

	def seed_ops(self, count, clock_start):
		ops = []
		for i in range(count):
			_, op = self.create_op(clock_start + i, seeded=True)
			ops.append(op)
		return ops

	def allowed(self, o, kind):
		if o.deleted or any(k in BARRIER for k in o.window):
			return False
		if kind in BARRIER and o.window:
			return False
		if kind == "archive":
			return not o.archived
		if kind == "unarchive":
			return o.archived
		return True

	def pick(self, kind):
		for _ in range(20):
			o = self.rng.choice(self.live)
			if self.allowed(o, kind):
				return o
		return None

	def mutate(self, o, kind, at):
		"""Applies one change to o; returns the control op that makes it in Lever."""
		op = {"op": kind, "id": o.id, "at": at}
		if kind == "move":
			stage = self.rng.choice([s for s in STAGE_IDS if s != o.stage])
			o.stage = stage
			o.changes.append((stage, at))
			op["stage"] = stage
		elif kind in ("email", "name", "phone"):
			fresh = self.new_contact()
			if kind == "email":
				o.email = fresh[1]
				op.update(op="emails", emails=[o.email])
			elif kind == "name":
				o.name = fresh[0]
				op["name"] = o.name
			else:
				o.phone = fresh[2]
				op.update(op="phones", phones=[o.phone])
			self.model.contacts_had[o.id].add(o.contact())
		elif kind == "archive":
			o.archived = True
		elif kind == "unarchive":
			o.archived = False
		elif kind == "delete":
			o.deleted = True
			self.live.remove(o)
		elif kind == "posting":
			o.posting = self.rng.choice([p for p in COVERED + UNCOVERED if p != o.posting])
			op["posting"] = o.posting
		o.window.append(kind)
		return op

	def cycle_ops(self):
		n = self.per_cycle
		kinds = [k for k, _ in WEIGHTS]
		weights = [w for _, w in WEIGHTS]
		ops = []
		for kind in self.rng.choices(kinds, weights, k=n):
			at = self.clock.next()
			if kind == "new":
				o, op = self.create_op(at)
				o.window.append("new")
			else:
				o = self.pick(kind)
				if o is None:
					continue
				op = self.mutate(o, kind, at)
			self.counts[kind] += 1
			ops.append(op)
		return ops


def fault_rules(rng):
	"""About 10% of the requests to each API fail, in every way the emulators know."""
	lever = [("500", 0.02), ("502", 0.01), ("503", 0.02), ("429", 0.015), ("reset", 0.015),
	         ("truncated", 0.01), ("hang", 0.01)]
	refty = [("500", 0.015), ("503", 0.015), ("429", 0.01), ("reset", 0.01), ("truncated", 0.01),
	         ("hang", 0.01)]
	rules = {"lever": [], "refty": []}
	for kind, p in lever:
		rule = {"path": "/v1", "kind": kind, "probability": p, "count": None}
		if kind == "hang":
			rule["seconds"] = 0.1
		rules["lever"].append(rule)
	for kind, p in refty:
		rule = {"path": "/v1", "kind": kind, "probability": p, "count": None}
		if kind == "hang":
			rule["seconds"] = 0.1
		if kind == "429":
			rule["retry_after"] = 0
		rules["refty"].append(rule)
	# Answers lost after Refty acted on a POST: the retry must be a replay, not a second effect.
	for kind in ("reset", "truncated", "hang"):
		rule = {"path": "/v1/candidates", "kind": kind, "probability": 0.01, "count": None,
		        "methods": ["POST"], "process": True}
		if kind == "hang":
			rule["seconds"] = 0.1
		rules["refty"].insert(0, rule)
	return rules


class Soak:
	def __init__(self, args):
		self.args = args
		self.rng = random.Random(args.seed)
		self.clock = Clock()
		self.model = Model()
		self.mutator = Mutator(self.rng, self.model, self.clock,
		                       max(1, int(args.opportunities * MUTATION_FRACTION)))
		self.kills = collections.Counter()
		self.seconds = collections.Counter()
		self.outages = 0
		self.outages_refty = collections.Counter()
		self.sync_seconds = []
		self.sync_rc = collections.Counter()
		self.failures = []
		self.lever = self.refty = self.ws = None

	def start(self):
		seed = str(self.args.seed % (2 ** 31))
		self.lever = Emulator("lever", "--rate", "0", "--list-order", "shuffle",
		                      "--list-order-seed", seed, "--fault-seed", seed,
		                      "--log-limit", "2000").start()
		self.refty = Emulator("refty", "--fault-seed", seed, "--log-limit", "2000").start()
		# No overlap: one host clock, so none is needed, and with one every poll would list
		# again the changes of the cycles that ran in its last second or so.
		self.ws = Workspace(self.lever, self.refty, rules=RULES, max_actions=0, overlap=0,
		                    requests_per_second=200.0, burst=50)

	def stop(self):
		if self.ws is not None:
			self.ws.cleanup()
		util.stop_emulators(self.lever, self.refty)

	def batch(self, ops):
		for i in range(0, len(ops), 1000):
			self.lever.control("POST", "/batch", {"ops": ops[i:i + 1000]})

	def setup(self):
		start = self.clock.next() - 30 * 86400 * 1000
		self.batch(self.mutator.seed_ops(self.args.opportunities, start))
		result = self.ws.run("sync", "--seed", timeout=600)
		if result.rc != OK:
			raise AssertionError("sync --seed failed: %r" % result)

	def install_faults(self):
		for name, rules in fault_rules(self.rng).items():
			emu = self.lever if name == "lever" else self.refty
			emu.control("DELETE", "/faults")
			emu.control("POST", "/faults", {"rules": rules})

	def lever_outage(self):
		"""Lever refuses the key once, at the start or in the middle of the listing: the sync
		stops with exit 3 and what it saw must be seen again by the next one."""
		self.lever.control("POST", "/faults", {"rules": [{
			"path": "/v1/opportunities", "kind": "401", "count": 1,
			"after": self.rng.randrange(3)}]})
		self.outages += 1

	def refty_outage(self, status, count):
		"""Refty refuses the next count requests to its candidates, starting a few requests
		into the performing: 401 stops the sync at once (exit 3), a 503 is retried."""
		self.refty.control("POST", "/faults", {"rules": [{
			"path": "/v1/candidates", "kind": str(status), "count": count,
			"after": self.rng.randrange(30)}]})
		self.outages_refty[status] += 1

	def faults_fired(self):
		"""{api: (faults, requests)} since the emulators started."""
		out = {}
		for name, emu in (("lever", self.lever), ("refty", self.refty)):
			stats = emu.stats()
			out[name] = (stats["faults"], stats["total"])
		return out

	def sync(self, cycle):
		"""One sync, run to its end; True when it saw every change (exit 0 or 1)."""
		t0 = time.monotonic()
		result = self.ws.run("sync", timeout=600)
		self.sync_seconds.append(time.monotonic() - t0)
		self.sync_rc[result.rc] += 1
		if result.rc in (OK, PARTIAL):
			return True
		if result.rc != REMOTE:
			raise AssertionError("cycle %d: sync exited %d (expected 0, 1 or 3): %r"
			                     % (cycle, result.rc, result))
		return False

	def killed_sync(self, cycle, sig):
		"""A sync stopped by sig at a random moment, half the time while Refty requests are in
		flight (Refty is slowed down for the cycle, so that there is a window)."""
		self.refty.settings(latency=0.15)
		before = self.refty.stats()["total"]
		proc = self.ws.start("sync")
		try:
			if self.rng.random() < 0.5:
				deadline = time.monotonic() + 10
				while proc.running() and self.refty.stats()["total"] == before:
					if time.monotonic() > deadline:
						break
					time.sleep(0.005)
				time.sleep(self.rng.uniform(0, 0.1))
			else:
				# Anywhere in what a sync takes: start, name lookups, listing, performing.
				recent = self.sync_seconds[-20:] or [0.5]
				time.sleep(self.rng.uniform(0.005, 1.5 * sum(recent) / len(recent)))
			was_running = proc.running()
			if was_running:
				proc.proc.send_signal(sig)
			result = proc.wait(timeout=600)
		finally:
			if proc.running():
				proc.proc.kill()
				proc.wait()
			self.refty.settings(latency=0)
		name = signal.Signals(sig).name
		self.kills[name if was_running else "finished before " + name] += 1
		if not was_running and result.rc not in (OK, PARTIAL, REMOTE):
			raise AssertionError("cycle %d: sync exited %d: %r" % (cycle, result.rc, result))
		# Whatever it exited with, a sync that was sent a signal may have seen only a part.
		return False

	def run_cycles(self):
		signals = [signal.SIGKILL, signal.SIGTERM]
		long_outage = self.rng.randrange(self.args.cycles // 3, 2 * self.args.cycles // 3 + 1)
		if long_outage % KILL_EVERY == 0:
			long_outage += 1
		for cycle in range(1, self.args.cycles + 1):
			t0 = time.monotonic()
			self.batch(self.mutator.cycle_ops())
			t1 = time.monotonic()
			if self.rng.random() < OUTAGE_CHANCE:
				self.lever_outage()
			if self.rng.random() < OUTAGE_CHANCE:
				self.refty_outage(401, 1)
			if cycle == long_outage:
				# Every worker's request fails as often as the client tries it: transient
				# failures that outlast the retries, left pending for a later run.
				self.refty_outage(503, HTTP_ATTEMPTS * REFTY_IN_FLIGHT)
			if cycle % KILL_EVERY == 0:
				sig = signals[(cycle // KILL_EVERY) % 2]
				complete = self.killed_sync(cycle, sig)
			else:
				complete = self.sync(cycle)
			self.seconds["mutating"] += t1 - t0
			self.seconds["syncing"] += time.monotonic() - t1
			if complete:
				self.model.observe_all()
			if cycle % 50 == 0:
				print("cycle %d: %d opportunities live, %d effects due so far"
				      % (cycle, len(self.mutator.live), self.effects_due()), flush=True)

	def settle(self):
		"""Fault-free syncs until one exits 0: nothing failed, nothing pending."""
		for emu in (self.lever, self.refty):
			emu.control("DELETE", "/faults")
			emu.settings(latency=0)
		for attempt in range(10):
			result = self.ws.run("sync", timeout=600)
			self.sync_rc[result.rc] += 1
			if result.rc in (OK, PARTIAL):
				self.model.observe_all()
			if result.rc == OK:
				return attempt + 1
		# What is still missing in Refty says more than the exit status: compare anyway.
		self.failures.append("no fault-free sync exited 0 in 10 runs; the last: %r" % result)
		return 10

	def effects_due(self):
		m = self.model
		return len(m.creates) + len(m.steps) + sum(m.updates.values())

	def refty_record(self):
		"""What the Refty emulator received: candidates, steps, applied PATCHes, counters."""
		return {"candidates": util.refty_candidates(self.refty),
		        "steps": self.refty.control("GET", "/steps")["data"],
		        "patches": self.refty.control("GET", "/patches")["data"],
		        "summary": util.refty_summary(self.refty)}

	def compare(self, m, rec):
		"""The mismatches between model m and Refty's record: every effect m expects must have
		reached Refty exactly once, and nothing else."""
		bad = []
		cands = collections.defaultdict(list)
		for c in rec["candidates"]:
			cands[(c["external_id"][len("lever:"):], c["sequence_id"])].append(c)
		for pair, key in sorted(m.creates.items()):
			got = cands.get(pair, [])
			if len(got) != 1:
				bad.append("candidate %s in %s: created %d times, expected once" % (pair + (len(got),)))
				continue
			if got[0]["idempotency_key"] != key:
				bad.append("candidate %s in %s: created with key %r, expected %r"
				           % (pair + (got[0]["idempotency_key"], key)))
			have = (got[0]["name"], got[0]["email"], got[0]["phone"])
			if have != m.contact[pair]:
				bad.append("candidate %s in %s: Refty holds %r, Lever last gave %r"
				           % (pair + (have, m.contact[pair])))
		for pair in sorted(set(cands) - set(m.creates)):
			bad.append("candidate %s in %s: created, but no rule calls for it" % pair)
		steps = collections.defaultdict(list)
		for s in rec["steps"]:
			steps[s["idempotency_key"]].append(s)
		for key, (opp, seq, stage) in sorted(m.steps.items()):
			got = steps.get(key, [])
			if len(got) != 1:
				bad.append("step %s: sent %d times, expected once" % (key, len(got)))
			elif (got[0]["external_id"], got[0]["stage_id"]) != ("lever:" + opp, stage):
				bad.append("step %s: went to %s stage %s" % (key, got[0]["external_id"],
				                                             got[0]["stage_id"]))
		for key in sorted(set(steps) - set(m.steps)):
			bad.append("step %s: sent %d times, but no stage entry calls for it"
			           % (key, len(steps[key])))
		if rec["summary"]["candidates_existing"]:
			bad.append("%d creates of a candidate that existed, under another key"
			           % rec["summary"]["candidates_existing"])
		return bad + self.compare_updates(m, rec["patches"])[0]

	def check_the_check(self, rec):
		"""compare() must see a model that lacks a create and a step and wants one more update
		than there was: a check that could not fail would prove nothing."""
		m = copy.deepcopy(self.model)
		dropped = []
		if m.creates:
			pair = sorted(m.creates)[0]
			del m.creates[pair]
			dropped.append(("candidate %s in %s: " % pair, "no rule calls for it"))
		if m.steps:
			key = sorted(m.steps)[0]
			del m.steps[key]
			dropped.append(("step %s: " % key, "no stage entry calls for it"))
		if m.creates:
			pair = sorted(m.creates)[-1]
			m.updates[pair] += 1
			dropped.append(("candidate %s in %s: " % pair, "updates applied"))
		bad = self.compare(m, rec)
		for start, what in dropped:
			if not any(line.startswith(start) and what in line for line in bad):
				raise AssertionError("the comparison missed a planted mismatch (%s%s): it cannot "
				                     "be trusted; it reported %r" % (start, what, bad[:5]))

	def diagnose(self, limit=5):
		"""For the first opportunities a mismatch names: the changes the model made to it and,
		to help find the cause (the check itself never reads it), the tool's journal."""
		ids = []
		for line in self.failures:
			for opp in re.findall(r"soak-\d+", line):
				if opp not in ids:
					ids.append(opp)
		for opp in ids[:limit]:
			o = self.model.opps[opp]
			print("  %s: posting %s, stage %s, archived %s, deleted %s, contact %r"
			      % (opp, o.posting, o.stage, o.archived, o.deleted, o.contact()))
			print("    stage changes: %s" % ", ".join("%s at %d" % c for c in o.changes))
			for a in self.ws.actions(opportunity_id=opp):
				print("    journal: %s %s %s (run %s)" % (a["kind"], a["state"], a["key"], a["run_id"]))

	def compare_updates(self, m, patches):
		"""PATCH has no key: each update is one PATCH, again only when a kill lost its answer.
		Returns the mismatches, the PATCHes applied and how many were repeats."""
		bad = []
		applied = collections.Counter()
		repeats = collections.Counter()
		last = {}
		for p in patches:
			opp = p["external_id"][len("lever:"):]
			pair = (opp, p["sequence_id"])
			applied[pair] += 1
			repeats[pair] += last.get(pair) == p["changes"]
			last[pair] = p["changes"]
			ch = p["changes"]
			if not any(all(ch.get(k, v) == v for k, v in zip(("name", "email", "phone"), c))
			           for c in m.contacts_had.get(opp, set())):
				bad.append("update of %s in %s gave %r, which Lever never had" % (pair + (ch,)))
		# A kill may cut every request in flight, each a PATCH that took effect unacknowledged.
		in_flight_kills = sum(n for k, n in self.kills.items() if not k.startswith("finished"))
		extra = 0
		for pair in sorted(set(applied) | set(m.updates)):
			want, got = m.updates[pair], applied[pair]
			if got < want or (want == 0 and got > 0) or got - want > repeats[pair]:
				bad.append("candidate %s in %s: %d updates applied (%d repeating the one "
				           "before), expected %d" % (pair + (got, repeats[pair], want)))
			extra += max(0, got - want)
		if extra > in_flight_kills * REFTY_IN_FLIGHT:
			bad.append("%d updates applied more than once, more than %d kills with %d requests "
			           "in flight could explain" % (extra, in_flight_kills, REFTY_IN_FLIGHT))
		return bad, sum(applied.values()), extra


def main():
	util.take_binary_argument()
	parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	parser.add_argument("--cycles", type=int, default=300)
	parser.add_argument("--opportunities", type=int, default=5000)
	parser.add_argument("--seed", type=int, default=None,
	                    help="random seed (default: from the clock; printed to replay a run)")
	args = parser.parse_args()
	if args.seed is None:
		args.seed = int.from_bytes(os.urandom(4), "big")
	print("soak: seed %d (replay with --seed %d), %d cycles, %d opportunities, binary %s"
	      % (args.seed, args.seed, args.cycles, args.opportunities, util.BINARY), flush=True)
	if not (os.path.isfile(util.BINARY) or shutil.which(util.BINARY)):
		print("soak: no refty-lever binary at '%s': set REFTY_LEVER or pass its path"
		      % util.BINARY, file=sys.stderr)
		return 2
	t0 = time.monotonic()
	soak = Soak(args)
	try:
		soak.start()
		soak.setup()
		soak.install_faults()
		soak.run_cycles()
		faults = soak.faults_fired()
		settled = soak.settle()
		rec = soak.refty_record()
		soak.failures += soak.compare(soak.model, rec)
		soak.check_the_check(rec)
		summary = rec["summary"]
		_, patches, patch_extra = soak.compare_updates(soak.model, rec["patches"])
		if soak.failures:
			print("soak: the first opportunities named by a mismatch:")
			soak.diagnose()
	except AssertionError as exc:
		print("soak: FAILED with seed %d: %s" % (args.seed, exc), file=sys.stderr)
		return 1
	finally:
		soak.stop()
	m = soak.model
	print("soak: %d cycles in %.1f s, seed %d" % (args.cycles, time.monotonic() - t0, args.seed))
	print("  time: %.1f s mutating Lever, %.1f s in syncs" % (soak.seconds["mutating"],
	                                                         soak.seconds["syncing"]))
	print("  mutations: %d (%s)" % (sum(soak.mutator.counts.values()), ", ".join(
		"%s %d" % kv for kv in sorted(soak.mutator.counts.items()))))
	print("  effects expected: %d creates, %d steps, %d updates; skipped as archived: %d"
	      % (len(m.creates), len(m.steps), sum(m.updates.values()), m.skipped))
	print("  Refty: %d candidates, %d steps, %d updates applied (%d again after a kill), "
	      "%d replays, %d in-progress conflicts" % (summary["candidates"], summary["steps_sent"],
	                                                patches, patch_extra,
	                                                summary["idempotent_replays"],
	                                                summary["idempotency_conflicts"]))
	print("  kills: %s" % (", ".join("%s %d" % kv for kv in sorted(soak.kills.items())) or "none"))
	print("  faults injected: Lever %d in %d requests (%d of them a 401 that stops the sync), "
	      "Refty %d in %d requests (%d outages of one 401, %d of %d 503s in a row)"
	      % (faults["lever"] + (soak.outages,) + faults["refty"] + (
	         soak.outages_refty[401], soak.outages_refty[503], HTTP_ATTEMPTS * REFTY_IN_FLIGHT)))
	print("  sync exit statuses: %s; fault-free syncs to settle: %d" % (
		", ".join("%d: %d" % kv for kv in sorted(soak.sync_rc.items())), settled))
	print("  mismatches: %d" % len(soak.failures))
	for line in soak.failures[:50]:
		print("    " + line)
	if soak.failures:
		print("soak: FAILED with seed %d" % args.seed, file=sys.stderr)
		return 1
	return 0


if __name__ == "__main__":
	sys.exit(main())
