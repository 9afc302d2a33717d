#!/usr/bin/env python3
"""Emulator of the Lever Data API v1 (opportunities, stages, postings, OAuth) for tests.

The API is served under /v1, the OAuth routes (/authorize, /oauth/token) at the root, and the
control API under /_control/. See README.md in this folder.
"""

import bisect
import collections
import hashlib
import hmac
import itertools
import json
import operator
import os
import random
import re
import secrets
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lever_webhooks import Webhooks  # noqa: E402
from common import (App, ControlError, Response, b64url, b64url_decode, dumps,  # noqa: E402
                    now_ms, run_app)

DAY_MS = 86400 * 1000

# Pipeline order: a stage's position here is its toStageIndex.
DEFAULT_STAGES = [
	("lead-new", "New lead"),
	("lead-reached-out", "Reached out"),
	("lead-responded", "Responded"),
	("applicant-new", "New applicant"),
	("81cf53e6-e68d-4570-ab73-3ebe39d72813", "Recruiter screen"),
	("ba5c62d8-3a81-4ae9-8972-39f2f88a01ff", "Phone screen"),
	("1c55e5aa-2e23-46df-9fe5-7e563caf1db5", "Hiring manager screen"),
	("3cbce517-09f8-4f13-89dd-3ac42bec4c54", "On-site"),
	("2ad4eb2e-8115-40a8-a2db-917c51afde9c", "References"),
	("67198e79-5c5c-40e5-b092-cefbad8bc05e", "Reference check"),
	("offer", "Offer"),
	("cf34f555-44de-4c79-948b-44eaaf2edafc", "Hired"),
]
APPLICANT_STAGE_WEIGHTS = [
	("applicant-new", 30), ("81cf53e6-e68d-4570-ab73-3ebe39d72813", 15),
	("ba5c62d8-3a81-4ae9-8972-39f2f88a01ff", 15), ("1c55e5aa-2e23-46df-9fe5-7e563caf1db5", 10),
	("3cbce517-09f8-4f13-89dd-3ac42bec4c54", 10), ("2ad4eb2e-8115-40a8-a2db-917c51afde9c", 6),
	("67198e79-5c5c-40e5-b092-cefbad8bc05e", 6), ("offer", 4),
	("cf34f555-44de-4c79-948b-44eaaf2edafc", 4),
]
LEAD_STAGE_WEIGHTS = [("lead-new", 60), ("lead-reached-out", 25), ("lead-responded", 15)]

USERS = [
	{"id": "2e2bcf73-4663-4a1f-874d-d38daa23eeec", "name": "Robin Recruiter", "username": "robin",
	 "email": "robin@example.com", "accessRole": "admin"},
	{"id": "55468a4f-f8fd-42db-a8f8-c1d54704b79e", "name": "Harper Hiring", "username": "harper",
	 "email": "harper@example.com", "accessRole": "team member"},
	{"id": "a1b41e30-984f-4562-b0a9-a7ae2b26a00f", "name": "Sam Sourcer", "username": "sam",
	 "email": "sam@example.com", "accessRole": "limited team member"},
	{"id": "03023c99-b6d6-4fdf-a4f7-e9bec54bf26d", "name": "Alex Admin", "username": "alex",
	 "email": "alex@example.com", "accessRole": "super admin"},
]
USER_IDS = [u["id"] for u in USERS]
USERS_BY_ID = {u["id"]: u for u in USERS}

ARCHIVE_REASONS = [
	{"id": "2785e41f-e047-4aad-ac3c-7f4b8e289d7a", "text": "Hired", "status": "active", "type": "hired"},
	{"id": "0ddf84f0-1356-4f53-9869-20cdf9874459", "text": "Withdrew", "status": "active",
	 "type": "non-hired"},
	{"id": "f43e5e31-0c1e-47c4-8d37-a76b2b6bf88b", "text": "Underqualified", "status": "active",
	 "type": "non-hired"},
	{"id": "962b57b1-f55b-4655-8b86-c396548266c8", "text": "Position filled", "status": "active",
	 "type": "non-hired"},
	{"id": "5f56342a-d815-48d2-b470-707131e8c578", "text": "Timing", "status": "inactive",
	 "type": "non-hired"},
]
DEFAULT_ARCHIVE_REASON = "0ddf84f0-1356-4f53-9869-20cdf9874459"

# (id, title, state, confidential, team, department, location, commitment, created days before start)
DEFAULT_POSTINGS = [
	("dcaf3197-a999-4834-b1ae-8bcf5b10b4af", "Senior Backend Engineer", "published", False,
	 "Platform", "Engineering", "London", "Full-time", 400),
	("19f44f8d-dcff-4716-86ca-245644f7688f", "Product Designer", "published", False,
	 "Design", "Product", "Berlin", "Full-time", 380),
	("be3fe000-b766-4baa-a35a-d9744d60701b", "Data Scientist", "published", False,
	 "Data", "Engineering", "Remote", "Full-time", 360),
	("00197bba-988f-4511-b355-8778367c7b67", "Account Executive", "closed", False,
	 "Sales", "Revenue", "New York", "Full-time", 500),
	("415187b6-a14a-4b87-8ff2-8dc0ef65a9cb", "Customer Support Specialist", "published", False,
	 "Support", "Operations", "Lisbon", "Part-time", 300),
	("5ccb201e-f2db-4140-8bb4-8081861ff431", "Warehouse Associate", "published", False,
	 "Logistics", "Operations", "Rotterdam", "Full-time", 280),
	("0a553664-db0b-4cf1-8c1e-93ce6c5afb5d", "Office Manager", "closed", False,
	 "Workplace", "Operations", "London", "Full-time", 450),
	("6863dbd5-5379-4bad-b45e-76eb9cec3731", "Chief of Staff", "published", True,
	 "Executive", "Leadership", "London", "Full-time", 200),
]
COVERED_POSTING = "dcaf3197-a999-4834-b1ae-8bcf5b10b4af"
UNCOVERED_POSTINGS = ["415187b6-a14a-4b87-8ff2-8dc0ef65a9cb", "5ccb201e-f2db-4140-8bb4-8081861ff431",
                      "0a553664-db0b-4cf1-8c1e-93ce6c5afb5d"]
DEFAULT_POSTING_WEIGHTS = {
	"dcaf3197-a999-4834-b1ae-8bcf5b10b4af": 20, "19f44f8d-dcff-4716-86ca-245644f7688f": 15,
	"be3fe000-b766-4baa-a35a-d9744d60701b": 15, "00197bba-988f-4511-b355-8778367c7b67": 10,
	"415187b6-a14a-4b87-8ff2-8dc0ef65a9cb": 15, "5ccb201e-f2db-4140-8bb4-8081861ff431": 15,
	"0a553664-db0b-4cf1-8c1e-93ce6c5afb5d": 10,
}

# (display, ascii) so that names exercise UTF-8 while emails stay plain.
FIRST_NAMES = [
	("Ada", "ada"), ("Grace", "grace"), ("Alan", "alan"), ("Katherine", "katherine"),
	("Linus", "linus"), ("Margaret", "margaret"), ("Dennis", "dennis"), ("Barbara", "barbara"),
	("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"), ("Søren", "soren"), ("Amélie", "amelie"),
	("Chidi", "chidi"), ("Priya", "priya"), ("Hiroshi", "hiroshi"), ("Mei", "mei"), ("Omar", "omar"),
	("Fatima", "fatima"), ("Ingrid", "ingrid"), ("Mateo", "mateo"), ("Aisha", "aisha"),
	("Noah", "noah"), ("Olivia", "olivia"), ("Liam", "liam"), ("Emma", "emma"), ("Yusuf", "yusuf"),
	("Sofia", "sofia"), ("Kwame", "kwame"), ("Ana", "ana"), ("Tomás", "tomas"), ("Elif", "elif"),
]
LAST_NAMES = [
	("Lovelace", "lovelace"), ("Hopper", "hopper"), ("Turing", "turing"), ("Johnson", "johnson"),
	("Torvalds", "torvalds"), ("Hamilton", "hamilton"), ("Ritchie", "ritchie"), ("Liskov", "liskov"),
	("García", "garcia"), ("Müller", "muller"), ("Kowalski", "kowalski"), ("Kierkegaard", "kierkegaard"),
	("Dubois", "dubois"), ("Okafor", "okafor"), ("Patel", "patel"), ("Tanaka", "tanaka"),
	("Chen", "chen"), ("Haddad", "haddad"), ("Rahman", "rahman"), ("Larsen", "larsen"),
	("Rossi", "rossi"), ("Mensah", "mensah"), ("O'Brien", "obrien"), ("Silva", "silva"),
	("Nguyen", "nguyen"), ("Novák", "novak"), ("Yılmaz", "yilmaz"), ("Smith", "smith"),
]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises",
             "Soylent", "Vandelay Industries", "Wonka"]
SCHOOLS = ["Example University", "Sample Institute of Technology", "Test College", "Demo State"]
CITIES = ["London", "Berlin", "Paris", "Amsterdam", "Lisbon", "New York", "Toronto", "Remote"]
PHONE_TYPES = ["mobile", "mobile", "mobile", "work", "home", "other", "skype", None]
SOURCES = ["Job site", "LinkedIn", "Referral", "Company website", "Agency", "Event"]
ORIGINS_APPLIED = ["applied", "applied", "applied", "applied", "referred", "agency", "university",
                   "internal"]

EMPTY = ()
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
INT64_MAX = (1 << 63) - 1
# Open ends of time windows: beyond any int64 millisecond value a record can carry.
TIME_MIN = -(1 << 80)
TIME_MAX = 1 << 80

# List orders (README "List order"). `real` imitates recorded Lever chains: an undocumented
# primary key per record (these values, with these weights), then createdAt descending.
LIST_ORDERS = ("real", "created", "random", "shuffle")
REAL_KEY_WEIGHTS = [(3, 30), (5, 10), (101, 12), (201, 12), (230.5, 6), (231, 8), (231.5, 6),
                    (261, 10), (265.5, 6)]
REAL_KEYS = [k for k, w in REAL_KEY_WEIGHTS for _ in range(w)]
LIST_FAULTS = ("cycle", "repeat", "endless", "outside")
UNREADABLE_KINDS = ("invalid-utf8", "nul", "escaped-nul", "wrong-type")
# Raw bytes are spliced into a serialised body where this marker stands (U+F8FF, private use).
RAW_MARKER = "\uf8ffraw:%d\uf8ff"
RAW_MARKER_RE = re.compile(rb"\xef\xa3\xbfraw:(\d+)\xef\xa3\xbf")
CHAIN_CACHE_ENTRIES = 64
CHAIN_CACHE_ITEMS = 1000000
ISSUED_TOKENS = 500000
HOSTILE_TOKENS = 20000
INVALID_OFFSET = "Invalid offset token: Offset token is invalid for sort"
OPP_PARAMS = {
	"limit", "offset", "include", "expand", "tag", "email", "origin", "source", "confidentiality",
	"stage_id", "posting_id", "archived_posting_id", "created_at_start", "created_at_end",
	"updated_at_start", "updated_at_end", "advanced_at_start", "advanced_at_end",
	"archived_at_start", "archived_at_end", "archived", "archive_reason_id", "snoozed", "contact_id",
	"location",
}
OPP_EXPANDS = {"applications", "stage", "owner", "followers", "sourcedBy", "contact"}
POSTING_PARAMS = {
	"limit", "offset", "include", "expand", "state", "distributionChannel", "confidentiality", "group",
	"team", "department", "location", "commitment", "level", "tag", "updated_at_start",
	"updated_at_end",
}
SCOPE_FOR_ROUTE = [
	("/v1/opportunities", "opportunities"), ("/v1/stages", "stages"), ("/v1/postings", "postings"),
	("/v1/archive_reasons", "archive_reasons"), ("/v1/users", "users"),
]
CONFIDENTIAL_SCOPE = "confidential:access:admin"


def uuid_from_int(n):
	n &= (1 << 128) - 1
	n = (n & ~(0xF << 76)) | (0x4 << 76)
	n = (n & ~(0x3 << 62)) | (0x2 << 62)
	s = "%032x" % n
	return "%s-%s-%s-%s-%s" % (s[:8], s[8:12], s[12:16], s[16:20], s[20:])


def id_int(opp_id):
	try:
		return int(opp_id.replace("-", ""), 16)
	except ValueError:
		return int.from_bytes(hashlib.sha256(opp_id.encode()).digest()[:16], "big")


def id_hash(record_id):
	"""64 bits of an id, the input of the seeded list orders."""
	n = id_int(record_id)
	return (n ^ (n >> 64)) & M64


def mix64(x):
	"""The splitmix64 finaliser: a cheap, well-spread hash of a 64-bit integer."""
	x &= M64
	x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
	x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
	return x ^ (x >> 31)


def is_ms(value):
	return isinstance(value, int) and not isinstance(value, bool)


def spoil(d, spec, include=None):
	"""Make one field of a rendered record unreadable as `spec` says (see unreadable_spec)."""
	parts = spec["field"].split(".")
	parent = d
	for part in parts[:-1]:
		if isinstance(parent, dict):
			parent = parent.get(part)
		elif isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
			parent = parent[int(part)]
		else:
			return
	last = parts[-1]
	if isinstance(parent, dict):
		if last not in parent and include:
			return
		current = parent.get(last)
	elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
		last = int(last)
		current = parent[last]
	else:
		return
	if spec["kind"] == "wrong-type":
		parent[last] = spec["value"]
		return
	text = current if isinstance(current, str) else ""
	if spec["kind"] == "escaped-nul":
		piece = "\x00"  # json.dumps writes it as the escape \u0000
	else:
		piece = RAW_MARKER % spec["raw"]
	half = len(text) // 2
	parent[last] = text[:half] + piece + text[half:]


class LeverError(Exception):
	def __init__(self, status, code, message):
		super().__init__(message)
		self.status = status
		self.code = code
		self.message = message


def bad_request(message):
	return LeverError(400, "BadRequestError", message)


class Opp:
	"""One opportunity. None in name/emails/phones/origin/changes means "derived from gen"."""

	__slots__ = ("id", "key", "created", "updated", "stage", "advanced", "changes", "start", "posting",
	             "app_id", "app_created", "archived_at", "archive_reason", "confidential", "anonymized",
	             "legacy", "gen", "name", "emails", "phones", "origin", "extra", "deleted", "idh",
	             "bad")


KEY = operator.attrgetter("key")


class Principal:
	__slots__ = ("kind", "confidential", "scopes")

	def __init__(self, kind, confidential, scopes):
		self.kind = kind
		self.confidential = confidential
		self.scopes = scopes


class Store:
	"""Opportunities ordered by (createdAt, id), with a (updatedAt, createdAt, id) index."""

	def __init__(self):
		self.lock = threading.RLock()
		self.start_ms = now_ms()
		self.reset()

	def reset(self):
		self.opps = {}
		self.order = []
		self.upd = []
		self.deleted = []       # sorted (deletedAt, id, record)
		self.deleted_by_id = {}
		self.seeded = 0
		self.bump()
		self.set_stages([{"id": s, "text": t} for s, t in DEFAULT_STAGES])
		self.postings = {}
		for pid, text, state, conf, team, dept, loc, commitment, days in DEFAULT_POSTINGS:
			created = self.start_ms - days * DAY_MS
			self.add_posting({"id": pid, "text": text, "state": state, "confidential": conf,
			                  "team": team, "department": dept, "location": loc,
			                  "commitment": commitment, "createdAt": created})

	def bump(self):
		"""Any change to the updatedAt index invalidates the cached windows."""
		self.version = getattr(self, "version", 0) + 1
		self.windows = {}

	def updated_window(self, ulo, uhi):
		"""Keys (createdAt, id) of upd[ulo:uhi], sorted; cached so each page costs O(log k)."""
		cache_key = (ulo, uhi, self.version)
		keys = self.windows.get(cache_key)
		if keys is None:
			keys = sorted((c, i) for _, c, i in self.upd[ulo:uhi])
			if len(self.windows) >= 8:
				self.windows.clear()
			self.windows[cache_key] = keys
		return keys

	def set_stages(self, stages):
		self.stages = stages
		self.stage_pos = {s["id"]: i for i, s in enumerate(stages)}
		self.stage_by_text = {s["text"].lower(): s["id"] for s in stages}

	def add_posting(self, spec):
		pid = spec.get("id") or uuid_from_int(secrets.randbits(128))
		created = spec.get("createdAt", now_ms())
		conf = bool(spec.get("confidential", False))
		owner = USER_IDS[len(self.postings) % len(USER_IDS)]
		manager = USER_IDS[(len(self.postings) + 1) % len(USER_IDS)]
		loc = spec.get("location", "London")
		posting = {
			"id": pid,
			"text": spec["text"],
			"createdAt": created,
			"updatedAt": spec.get("updatedAt", created + DAY_MS),
			"user": owner,
			"owner": owner,
			"hiringManager": manager,
			"confidentiality": "confidential" if conf else "non-confidential",
			"categories": {
				"team": spec.get("team", "General"),
				"department": spec.get("department", "General"),
				"location": loc,
				"allLocations": [loc],
				"commitment": spec.get("commitment", "Full-time"),
				"level": None,
			},
			"content": {
				"description": "About the %s role." % spec["text"],
				"descriptionHtml": "<div>About the %s role.</div>" % spec["text"],
				"lists": [{"text": "Requirements", "content": "<li>Curiosity</li>"}],
				"closing": "Apply now.",
				"closingHtml": "<div>Apply now.</div>",
			},
			"country": "GB",
			"followers": [owner],
			"tags": [spec.get("team", "General")],
			"state": spec.get("state", "published"),
			"distributionChannels": ["public", "internal"] if not conf else ["internal"],
			"reqCode": None,
			"requisitionCodes": [],
			"salaryDescription": None,
			"salaryRange": None,
			"workplaceType": "remote" if loc == "Remote" else "onsite",
			"urls": {
				"list": "https://jobs.lever.co/example",
				"show": "https://jobs.lever.co/example/%s" % pid,
				"apply": "https://jobs.lever.co/example/%s/apply" % pid,
			},
		}
		self.postings[pid] = posting
		return posting

	def posting_id(self, value):
		"""A posting id from an id or an exact title; None stays None."""
		if value is None:
			return None
		if value in self.postings:
			return value
		for p in self.postings.values():
			if p["text"] == value:
				return p["id"]
		raise ControlError("unknown posting '%s'" % value)

	def stage_id(self, value):
		if isinstance(value, str):
			if value in self.stage_pos:
				return value
			found = self.stage_by_text.get(value.lower())
			if found:
				return found
		raise ControlError("unknown stage '%s'" % value)

	# -- derived fields ---------------------------------------------------------------------

	def names(self, o):
		first = FIRST_NAMES[o.gen % len(FIRST_NAMES)]
		last = LAST_NAMES[(o.gen >> 8) % len(LAST_NAMES)]
		return first, last

	def name(self, o):
		if o.anonymized:
			return ""
		if o.name is not None:
			return o.name
		first, last = self.names(o)
		return "%s %s" % (first[0], last[0])

	def emails(self, o):
		if o.anonymized:
			return []
		if o.emails is not None:
			return list(o.emails)
		first, last = self.names(o)
		return ["%s.%s.%s@example.com" % (first[1], last[1], o.id[:6])]

	def phones(self, o):
		if o.anonymized:
			return []
		if o.phones is not None:
			return [dict(p) for p in o.phones]
		g = o.gen >> 16
		value = "+1 555 %03d %04d" % (100 + g % 900, (g >> 10) % 10000)
		ptype = PHONE_TYPES[(g >> 24) % len(PHONE_TYPES)]
		if ptype is None:
			return [{"value": value}]
		return [{"type": ptype, "value": value}]

	def origin(self, o):
		if o.origin is not None:
			return o.origin
		if o.start == "lead-new":
			return "sourced"
		return ORIGINS_APPLIED[(o.gen >> 32) % len(ORIGINS_APPLIED)]

	def owner(self, o):
		return USER_IDS[(o.gen >> 36) % len(USER_IDS)]

	def contact(self, o):
		return uuid_from_int(id_int(o.id) * 0xD1B54A32D192ED03 + 0x2545F4914F6CDD1D)

	def app_id(self, o):
		if o.app_id is not None:
			return o.app_id
		return uuid_from_int(id_int(o.id) * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019)

	def derived_changes(self, o):
		owner = self.owner(o)
		user0 = None if self.origin(o) == "applied" else owner
		pos = self.stage_pos
		out = [(o.start, pos.get(o.start, 0), user0, o.created)]
		if o.stage != o.start:
			lo, hi = pos.get(o.start, 0), pos.get(o.stage, 0)
			if (o.gen >> 40) & 1 and hi - lo >= 2:
				mid = self.stages[lo + 1 + (o.gen >> 41) % (hi - lo - 1)]["id"]
				out.append((mid, pos[mid], owner, (o.created + o.advanced) // 2))
			out.append((o.stage, pos.get(o.stage, 0), owner, o.advanced))
		return out

	def changes(self, o):
		return o.changes if o.changes is not None else self.derived_changes(o)

	# -- rendering --------------------------------------------------------------------------

	def render(self, o, expand=EMPTY, include=None):
		anon = o.anonymized
		first, last = self.names(o)
		owner = self.owner(o)
		emails = self.emails(o)
		phones = self.phones(o)
		name = self.name(o)
		extra = o.extra or {}
		origin = self.origin(o)
		g = o.gen
		archived = None
		if o.archived_at is not None:
			archived = {"archivedAt": o.archived_at, "reason": o.archive_reason}
		applications = []
		if o.posting is not None:
			app_id = self.app_id(o)
			if "applications" in expand:
				posting = self.postings.get(o.posting) or {}
				applications.append({
					"id": app_id,
					"type": {"referred": "referral", "sourced": "user"}.get(origin, "posting"),
					"candidateId": o.id,
					"opportunityId": o.id,
					"posting": o.posting,
					"postingHiringManager": posting.get("hiringManager"),
					"postingOwner": posting.get("owner"),
					"name": name or None,
					"company": None if anon else COMPANIES[(g >> 44) % len(COMPANIES)],
					"phone": phones[0] if phones else None,
					"email": emails[0] if emails else None,
					"links": [],
					"comments": None,
					"user": owner if origin == "sourced" else None,
					"customQuestions": [],
					"createdAt": o.app_created if o.app_created is not None else o.created,
					"archived": archived,
					"requisitionForHire": None,
				})
			else:
				applications.append(app_id)
		stage = o.stage
		if "stage" in expand:
			pos = self.stage_pos.get(stage)
			stage = {"id": stage, "text": self.stages[pos]["text"] if pos is not None else stage}
		owner_out = USERS_BY_ID[owner] if "owner" in expand else owner
		followers = [USERS_BY_ID[owner]] if "followers" in expand else [owner]
		sourced_by = owner if origin == "sourced" else None
		if sourced_by is not None and "sourcedBy" in expand:
			sourced_by = USERS_BY_ID[sourced_by]
		headline = "" if anon else extra.get("headline", "%s, %s" % (
			COMPANIES[(g >> 44) % len(COMPANIES)], SCHOOLS[(g >> 48) % len(SCHOOLS)]))
		location = "" if anon else extra.get("location", CITIES[(g >> 52) % len(CITIES)])
		links = [] if anon else extra.get("links", ["https://www.linkedin.com/in/%s-%s-%s" % (
			first[1], last[1], o.id[:4])])
		contact = self.contact(o)
		if "contact" in expand:
			contact = {"id": contact, "name": name, "headline": headline, "isAnonymized": anon,
			           "location": {"name": location}, "emails": emails,
			           "phones": [dict(p) for p in phones]}
		d = {
			"id": o.id,
			"name": name,
			"headline": headline,
			"contact": contact,
			"emails": emails,
			"phones": phones,
			"confidentiality": "confidential" if o.confidential else "non-confidential",
			"location": location,
			"links": links,
			"createdAt": o.created,
			"updatedAt": o.updated,
			"lastInteractionAt": o.updated,
			"lastAdvancedAt": o.advanced,
			"snoozedUntil": None,
			"archived": archived,
			"stage": stage,
			"stageChanges": [{"toStageId": c[0], "toStageIndex": c[1], "userId": c[2], "updatedAt": c[3]}
			                 for c in self.changes(o)],
			"owner": owner_out,
			"followers": followers,
			"sourcedBy": sourced_by,
			"origin": origin,
			"sources": extra.get("sources", [SOURCES[(g >> 56) % len(SOURCES)]]),
			"tags": extra.get("tags", self.default_tags(o)),
			"applications": applications,
			"resume": None,
			"urls": {"list": "https://hire.lever.co/candidates",
			         "show": "https://hire.lever.co/candidates/%s" % o.id},
			"dataProtection": None if (g >> 60) & 3 else {
				"store": {"allowed": True, "expiresAt": min(o.created + 730 * DAY_MS, INT64_MAX)},
				"contact": {"allowed": True, "expiresAt": min(o.created + 730 * DAY_MS, INT64_MAX)}},
			"isAnonymized": anon,
		}
		if o.legacy:
			del d["updatedAt"]
			del d["stageChanges"]
			del d["archived"]
			d["archivedAt"] = o.archived_at
			d["archiveReason"] = o.archive_reason
		if include:
			keep = set(include) | {"id"}
			d = {k: v for k, v in d.items() if k in keep or k in expand}
		return d

	def default_tags(self, o):
		posting = self.postings.get(o.posting) if o.posting else None
		if posting is None:
			return []
		return [posting["categories"]["team"]]

	# -- index maintenance ------------------------------------------------------------------

	def insert(self, o):
		self.opps[o.id] = o
		bisect.insort(self.order, o, key=KEY)
		bisect.insort(self.upd, (o.updated, o.created, o.id))
		self.bump()

	def unindex_updated(self, o):
		entry = (o.updated, o.created, o.id)
		i = bisect.bisect_left(self.upd, entry)
		if i < len(self.upd) and self.upd[i] == entry:
			del self.upd[i]
		self.bump()

	def touch(self, o, at):
		"""Record a change at `at`: updatedAt moves forward to it."""
		if o.changes is None:
			o.changes = self.derived_changes(o)
		updated = max(o.updated, at)
		if updated != o.updated:
			self.unindex_updated(o)
			o.updated = updated
			bisect.insort(self.upd, (o.updated, o.created, o.id))

	def set_times(self, o, created=None, updated=None, advanced=None, archived=None, changes=None):
		"""Set stored times as given, any integers (far future, before 2000), and reindex.

		`changes` lists one time (or None: keep) per stage change, oldest first.
		"""
		if o.changes is None:
			# Derived changes follow createdAt: freeze them before it moves.
			o.changes = self.derived_changes(o)
		if changes is not None and len(changes) > len(o.changes):
			raise ControlError("'stageChanges' has %d entries but the record only %d"
			                   % (len(changes), len(o.changes)))
		live = o.deleted is None
		if live:
			self.unindex_updated(o)
			i = bisect.bisect_left(self.order, o.key, key=KEY)
			if i < len(self.order) and self.order[i] is o:
				del self.order[i]
		if created is not None:
			o.created = created
			o.key = (created, o.id)
		if updated is not None:
			o.updated = updated
		if advanced is not None:
			o.advanced = advanced
		if archived is not None:
			if o.archived_at is None:
				o.archive_reason = DEFAULT_ARCHIVE_REASON
			o.archived_at = archived
		if changes is not None:
			o.changes = [c if t is None else (c[0], c[1], c[2], t) for c, t in
			             itertools.zip_longest(o.changes, changes)]
		if live:
			bisect.insort(self.order, o, key=KEY)
			bisect.insort(self.upd, (o.updated, o.created, o.id))
		self.bump()

	def remove(self, o, at, by):
		self.unindex_updated(o)
		i = bisect.bisect_left(self.order, o.key, key=KEY)
		if i < len(self.order) and self.order[i] is o:
			del self.order[i]
		del self.opps[o.id]
		o.deleted = at
		entry = (at, o.id, o, by)
		bisect.insort(self.deleted, entry, key=lambda e: (e[0], e[1]))
		self.deleted_by_id[o.id] = entry

	def new_opp(self, opp_id, created, gen):
		o = Opp()
		o.id = opp_id
		o.created = created
		o.key = (created, opp_id)
		o.updated = created
		o.advanced = created
		o.changes = None
		o.posting = None
		o.start = "applicant-new"
		o.stage = "applicant-new"
		o.app_id = None
		o.app_created = None
		o.archived_at = None
		o.archive_reason = None
		o.confidential = False
		o.anonymized = False
		o.legacy = False
		o.gen = gen
		o.name = None
		o.emails = None
		o.phones = None
		o.origin = None
		o.extra = None
		o.deleted = None
		o.idh = id_hash(opp_id)
		o.bad = None
		return o

	# -- seeding ----------------------------------------------------------------------------

	def seed(self, spec):
		count = spec.get("count", 0)
		if not isinstance(count, int) or count < 0:
			raise ControlError("'count' must be a non-negative integer")
		seed = spec.get("seed", 1)
		fractions = {}
		for name, default in (("email_fraction", 0.95), ("phone_fraction", 0.9),
		                      ("confidential_fraction", 0.0), ("no_application_fraction", 0.02),
		                      ("archived_fraction", 0.0), ("legacy_fraction", 0.0),
		                      ("anonymized_fraction", 0.0)):
			value = spec.get(name, default)
			if value is None:
				value = default
			if not isinstance(value, (int, float)) or not 0 <= value <= 1:
				raise ControlError("'%s' must be a number in [0, 1]" % name)
			fractions[name] = value
		end = spec.get("created_end")
		start = spec.get("created_start")
		if end is None:
			end = self.start_ms - 3600 * 1000
		if start is None:
			start = end - 365 * DAY_MS
		if not isinstance(start, int) or not isinstance(end, int) or start > end:
			raise ControlError("'created_start'/'created_end' must be ms with start <= end")
		weights = spec.get("posting_weights")
		covered = spec.get("covered_fraction")
		if weights is not None:
			if not isinstance(weights, dict) or not weights:
				raise ControlError("'posting_weights' must be an object of posting -> weight")
			weights = {self.posting_id(k): float(v) for k, v in weights.items()}
		elif covered is not None:
			if not isinstance(covered, (int, float)) or not 0 <= covered <= 1:
				raise ControlError("'covered_fraction' must be a number in [0, 1]")
			weights = {COVERED_POSTING: covered}
			for pid in UNCOVERED_POSTINGS:
				weights[pid] = (1.0 - covered) / len(UNCOVERED_POSTINGS)
		else:
			weights = dict(DEFAULT_POSTING_WEIGHTS)
		if spec.get("replace"):
			self.opps = {}
			self.order = []
			self.upd = []
			self.deleted = []
			self.deleted_by_id = {}
			self.bump()
		return self.generate(count, seed, weights, fractions, start, end)

	def generate(self, count, seed, weights, fractions, start, end):
		rng = random.Random("lever-seed:%s:%d" % (seed, self.seeded))
		rand = rng.random
		bits = rng.getrandbits
		post_ids = [p for p, w in weights.items() if w > 0]
		cum = []
		total = 0.0
		for p in post_ids:
			total += weights[p]
			cum.append(total)
		app_stages, app_cum = self.stage_table(APPLICANT_STAGE_WEIGHTS)
		lead_stages, lead_cum = self.stage_table(LEAD_STAGE_WEIGHTS)
		span = end - start
		f_email = fractions["email_fraction"]
		f_phone = fractions["phone_fraction"]
		f_conf = fractions["confidential_fraction"]
		f_noapp = fractions["no_application_fraction"]
		f_arch = fractions["archived_fraction"]
		f_legacy = fractions["legacy_fraction"]
		f_anon = fractions["anonymized_fraction"]
		reasons = [r["id"] for r in ARCHIVE_REASONS if r["status"] == "active"]
		month = 30 * DAY_MS
		bis = bisect.bisect
		new = []
		new_upd = []
		for _ in range(count):
			opp_id = uuid_from_int(bits(128))
			created = start + int(rand() * span)
			o = self.new_opp(opp_id, created, bits(64))
			if total > 0 and rand() >= f_noapp:
				o.posting = post_ids[min(bis(cum, rand() * total), len(post_ids) - 1)]
				stage = app_stages[bis(app_cum, rand() * app_cum[-1])]
			else:
				o.start = "lead-new"
				stage = lead_stages[bis(lead_cum, rand() * lead_cum[-1])]
			o.stage = stage
			room = end - created
			if stage != o.start:
				o.advanced = created + int(rand() * min(month, room))
			o.updated = o.advanced + int(rand() * min(2 * DAY_MS, end - o.advanced))
			if rand() >= f_email:
				o.emails = EMPTY
			if rand() >= f_phone:
				o.phones = EMPTY
			if f_conf and rand() < f_conf:
				o.confidential = True
			if f_arch and rand() < f_arch:
				o.archived_at = o.updated
				o.archive_reason = reasons[int(rand() * len(reasons))]
			if f_legacy and rand() < f_legacy:
				o.legacy = True
			if f_anon and rand() < f_anon:
				o.anonymized = True
			new.append(o)
			new_upd.append((o.updated, created, opp_id))
		for o in new:
			self.opps[o.id] = o
		self.order.extend(new)
		self.order.sort(key=KEY)
		self.upd.extend(new_upd)
		self.upd.sort()
		self.seeded += count
		self.bump()
		return count

	def stage_table(self, weights):
		ids = []
		cum = []
		total = 0
		for sid, w in weights:
			if sid in self.stage_pos:
				total += w
				ids.append(sid)
				cum.append(total)
		if not ids:
			ids, cum = [self.stages[0]["id"]], [1]
		return ids, cum


class Lever(App):
	name = "lever"
	default_rate = 10.0
	default_burst = 20.0
	default_retry_after = None
	fault_kinds = LIST_FAULTS

	@classmethod
	def add_arguments(cls, parser):
		g = parser.add_argument_group("lever")
		g.add_argument("--api-key", action="append", help="accepted API key (repeatable; default "
		               "test-lever-key, plus test-lever-confidential-key with confidential access)")
		g.add_argument("--confidential-key", action="append", help="API key with confidential access")
		g.add_argument("--opportunities", type=int, default=0, help="opportunities to seed at start")
		g.add_argument("--seed", type=int, default=1, help="random seed for seeding")
		g.add_argument("--covered-fraction", type=float, default=None,
		               help="fraction seeded on 'Senior Backend Engineer'; the rest on unused postings")
		g.add_argument("--email-fraction", type=float, default=0.95)
		g.add_argument("--phone-fraction", type=float, default=0.9)
		g.add_argument("--confidential-fraction", type=float, default=0.0)
		g.add_argument("--no-application-fraction", type=float, default=0.02)
		g.add_argument("--archived-fraction", type=float, default=0.0)
		g.add_argument("--legacy-fraction", type=float, default=0.0)
		g.add_argument("--created-start", type=int, default=None, help="ms")
		g.add_argument("--created-end", type=int, default=None, help="ms")
		g.add_argument("--oauth-client-id", default="test-client")
		g.add_argument("--oauth-client-secret", default="test-secret")
		g.add_argument("--oauth-redirect-uri", action="append",
		               help="registered redirect URI (repeatable; default: any http URI)")
		g.add_argument("--access-ttl", type=float, default=3600.0, help="access token lifetime (s)")
		g.add_argument("--lenient-params", action="store_true",
		               help="ignore unknown query parameters instead of answering 400")
		g.add_argument("--list-order", choices=LIST_ORDERS,
		               default=os.environ.get("LEVER_EMULATOR_LIST_ORDER") or "real",
		               help="order of list pages (default real, or $LEVER_EMULATOR_LIST_ORDER)")
		g.add_argument("--list-order-seed", type=int, default=1, help="seed of the real/random orders")

	def __init__(self, args):
		super().__init__(args)
		self.keys = {}
		if not args.api_key and not args.confidential_key:
			self.keys = {"test-lever-key": False, "test-lever-confidential-key": True}
		for key in args.api_key or []:
			self.keys[key] = False
		for key in args.confidential_key or []:
			self.keys[key] = True
		self.store = Store()
		self.offset_secret = secrets.token_bytes(32)
		self.oauth = OAuth(args)
		self.list_order = args.list_order
		self.list_order_seed = args.list_order_seed
		self.chains = 0              # shuffle chains started: each gets its own salt
		self.chain_cache = collections.OrderedDict()
		self.issued = set()          # digests of the real-looking tokens handed out
		self.issued_fifo = collections.deque()
		self.hostile = collections.OrderedDict()
		self.hostile_count = 0
		self.raw_bytes = []          # byte strings that RAW_MARKER n stands for
		self.webhooks = Webhooks()
		if args.list_order not in LIST_ORDERS:
			raise SystemExit("--list-order must be one of %s" % ", ".join(LIST_ORDERS))
		if args.opportunities:
			t0 = time.monotonic()
			self.store.seed({
				"count": args.opportunities, "seed": args.seed, "covered_fraction": args.covered_fraction,
				"email_fraction": args.email_fraction, "phone_fraction": args.phone_fraction,
				"confidential_fraction": args.confidential_fraction,
				"no_application_fraction": args.no_application_fraction,
				"archived_fraction": args.archived_fraction, "legacy_fraction": args.legacy_fraction,
				"created_start": args.created_start, "created_end": args.created_end,
			})
			if args.verbose:
				sys.stderr.write("lever: seeded %d opportunities in %.2f s\n"
				                 % (args.opportunities, time.monotonic() - t0))

	def bind(self, emulator):
		super().bind(emulator)
		self.oauth.root = emulator.root_url

	def health(self):
		with self.store.lock:
			return {"opportunities": len(self.store.opps), "deleted": len(self.store.deleted)}

	# -- errors -----------------------------------------------------------------------------

	CODES = {400: "BadRequestError", 401: "UnauthorizedError", 403: "ForbiddenError",
	         404: "ResourceNotFound", 405: "MethodNotAllowed", 409: "ConflictError",
	         422: "UnprocessableEntity", 429: "TooManyRequests", 500: "InternalServerError",
	         502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}

	def error(self, status, code=None, message=None, headers=None):
		body = {"code": code or self.CODES.get(status, "Error"),
		        "message": message or "request failed with status %d" % status}
		return Response.json(status, body, headers)

	def rate_limited(self, retry_after):
		# Lever documents no Retry-After header on its 429s.
		return self.error(429, message="Rate limit exceeded, slow down")

	def loggable_body(self, req):
		if req.path == "/oauth/token" and req.body:
			try:
				fields = req.json_body()
				if not isinstance(fields, dict):
					fields = {}
			except ValueError:
				fields = req.form_body()
			return {k: ("<redacted>" if k in ("client_secret", "code", "refresh_token") else v)
			        for k, v in fields.items()}
		return super().loggable_body(req)

	def is_limited(self, path):
		return path == "/v1" or path.startswith("/v1/")

	# -- dispatch ---------------------------------------------------------------------------

	def handle(self, req):
		req.delay()
		path = req.path
		if path == "/authorize":
			return self.oauth.authorize(req)
		if path == "/oauth/token":
			return self.oauth.token(req)
		if not (path == "/v1" or path.startswith("/v1/")):
			return self.error(404, message="Unknown route %s" % path)
		try:
			principal = self.authenticate(req)
			if path == "/v1/webhooks" or path.startswith("/v1/webhooks/"):
				body = self.emulator.control_json(req, {}) if req.method == "POST" else {}
				status, obj = self.webhooks.api(req.method, path.split("/")[3:], body or {})
				return Response(status, dumps(obj) if obj is not None else b"")
			if req.method not in ("GET", "HEAD"):
				raise LeverError(405, "MethodNotAllowed", "Method %s not allowed on %s"
				                 % (req.method, path))
			body = dumps(self.route(req, principal))
			if self.raw_bytes and b"\xef\xa3\xbfraw:" in body:
				raw = self.raw_bytes
				body = RAW_MARKER_RE.sub(lambda m: raw[int(m.group(1))], body)
			return Response(200, body)
		except LeverError as exc:
			return self.error(exc.status, exc.code, exc.message)

	def authenticate(self, req):
		kind, cred = req.auth()
		if kind == "basic":
			if cred is not None and cred[0] in self.keys:
				return Principal("basic", self.keys[cred[0]], None)
			raise LeverError(401, "UnauthorizedError", "Invalid API key")
		if kind == "bearer":
			scopes, why = self.oauth.check_access(cred)
			if scopes is None:
				raise LeverError(401, "UnauthorizedError", why)
			principal = Principal("bearer", CONFIDENTIAL_SCOPE in scopes, scopes)
			for prefix, resource in SCOPE_FOR_ROUTE:
				if req.path.startswith(prefix):
					if ("%s:read:admin" % resource) not in scopes and \
					   ("%s:write:admin" % resource) not in scopes:
						raise LeverError(403, "ForbiddenError",
						                 "Token lacks scope %s:read:admin" % resource)
			return principal
		raise LeverError(401, "UnauthorizedError", "Missing credentials")

	def route(self, req, principal):
		parts = req.path.strip("/").split("/")[1:]
		store = self.store
		if parts == ["opportunities"]:
			return self.list_opportunities(req, principal)
		if parts == ["opportunities", "deleted"]:
			return self.list_deleted(req)
		if len(parts) == 2 and parts[0] == "opportunities":
			return self.get_opportunity(req, principal, parts[1])
		if parts == ["stages"]:
			self.check_params(req, {"limit", "offset"})
			with store.lock:
				items = list(enumerate(store.stages))
			return self.page(req, items, lambda item: [item[0]], lambda item: dict(item[1]))
		if len(parts) == 2 and parts[0] == "stages":
			with store.lock:
				pos = store.stage_pos.get(parts[1])
				if pos is None:
					raise LeverError(404, "ResourceNotFound", "Stage %s not found" % parts[1])
				return {"data": dict(store.stages[pos])}
		if parts == ["postings"]:
			return self.list_postings(req, principal)
		if len(parts) == 2 and parts[0] == "postings":
			with store.lock:
				posting = store.postings.get(parts[1])
				if posting is None:
					raise LeverError(404, "ResourceNotFound", "Posting %s not found" % parts[1])
				if posting["confidentiality"] == "confidential" and not principal.confidential:
					raise LeverError(403, "ForbiddenError", "No access to confidential data")
				return {"data": posting}
		if parts == ["archive_reasons"]:
			self.check_params(req, {"limit", "offset", "type"})
			types = set(req.query.get("type", []))
			items = [r for r in ARCHIVE_REASONS if not types or r["type"] in types]
			return self.page(req, list(enumerate(items)), lambda item: [item[0]],
			                 lambda item: dict(item[1]))
		if parts == ["users"]:
			self.check_params(req, {"limit", "offset", "email", "accessRole", "includeDeactivated",
			                        "external_directory_id"})
			return self.page(req, list(enumerate(USERS)), lambda item: [item[0]],
			                 lambda item: dict(item[1]))
		raise LeverError(404, "ResourceNotFound", "Unknown route %s" % req.path)

	# -- parameters and paging --------------------------------------------------------------

	def check_params(self, req, allowed):
		if self.args.lenient_params:
			return
		for name in req.query:
			if name not in allowed:
				raise bad_request("Unknown query parameter '%s'" % name)

	def limit(self, req):
		value = req.qs_one("limit")
		if value is None:
			return 100
		try:
			limit = int(value)
		except ValueError:
			raise bad_request("Invalid limit '%s': must be an integer from 1 to 100" % value)
		if not 1 <= limit <= 100:
			raise bad_request("Invalid limit '%s': must be an integer from 1 to 100" % value)
		return limit

	def ms_param(self, req, name):
		value = req.qs_one(name)
		if value is None:
			return None
		try:
			return int(value)
		except ValueError:
			raise bad_request("Invalid %s '%s': must be a timestamp in milliseconds" % (name, value))

	def bool_param(self, req, name):
		value = req.qs_one(name)
		if value is None:
			return None
		if value in ("true", "false"):
			return value == "true"
		raise bad_request("Invalid %s '%s': must be true or false" % (name, value))

	def confidentiality(self, req, principal):
		value = req.qs_one("confidentiality", "non-confidential")
		if value not in ("non-confidential", "confidential", "all"):
			raise bad_request("Invalid confidentiality '%s'" % value)
		if value != "non-confidential" and not principal.confidential:
			raise LeverError(403, "ForbiddenError",
			                 "This credential does not have access to confidential data")
		return value

	def order_tag(self):
		"""The list order as tokens see it: a token of one order is refused by another."""
		if self.list_order == "created":
			return "created"
		return "%s:%d" % (self.list_order, self.list_order_seed)

	def query_hash(self, req):
		items = sorted((k, sorted(v)) for k, v in req.query.items() if k != "offset")
		text = json.dumps([req.path, self.order_tag(), items], separators=(",", ":"))
		return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

	def make_token(self, req, key):
		payload = json.dumps([self.query_hash(req)] + list(key), separators=(",", ":")).encode("utf-8")
		sig = hmac.new(self.offset_secret, payload, hashlib.sha256).digest()[:12]
		return "%s.%s" % (b64url(payload), b64url(sig))

	def read_token(self, req, shape):
		"""The keyset position carried by `offset`, or None on a first page."""
		token = req.qs_one("offset")
		if token is None:
			return None
		try:
			payload_text, _, sig_text = token.partition(".")
			payload = b64url_decode(payload_text)
			sig = b64url_decode(sig_text)
			want = hmac.new(self.offset_secret, payload, hashlib.sha256).digest()[:12]
			if not hmac.compare_digest(sig, want):
				raise ValueError("signature")
			items = json.loads(payload.decode("utf-8"))
			if items[0] != self.query_hash(req):
				raise ValueError("query changed")
			key = tuple(items[1:])
			if len(key) != len(shape) or not all(isinstance(v, t) for v, t in zip(key, shape)):
				raise ValueError("shape")
			return key
		except (ValueError, IndexError, TypeError, UnicodeDecodeError):
			raise bad_request(INVALID_OFFSET)

	def page(self, req, items, key_of, render, shape=(int,)):
		"""Keyset paging over a small list already in order (stages, users, ...)."""
		limit = self.limit(req)
		after = self.read_token(req, shape)
		start = 0
		if after is not None:
			keys = [tuple(key_of(i)) for i in items]
			start = bisect.bisect_right(keys, after)
		chunk = items[start:start + limit]
		out = {"data": [render(i) for i in chunk], "hasNext": start + limit < len(items)}
		if out["hasNext"]:
			out["next"] = self.make_token(req, key_of(chunk[-1]))
		return out

	# -- list orders ------------------------------------------------------------------------

	def set_list_order(self, mode, seed):
		with self.store.lock:
			self.list_order = mode
			self.list_order_seed = seed
			self.invalidate_offsets()

	def invalidate_offsets(self):
		"""Every outstanding offset token (hostile ones included) now gets 400."""
		with self.store.lock:
			self.offset_secret = secrets.token_bytes(32)
			self.issued.clear()
			self.issued_fifo.clear()
			self.chain_cache.clear()
			self.hostile.clear()

	def base_salt(self):
		return mix64(self.list_order_seed * 0x9E3779B97F4A7C15 + 0x5851F42D4C957F2D)

	def sort_keys(self, mode, salt, naturals):
		"""The sort keys, in `mode`, of records given as (ms, id hash, id)."""
		if mode == "real":
			keys = REAL_KEYS
			n = len(keys)
			return [(keys[((((h ^ salt) * GOLDEN) & M64) >> 32) % n], -ms, i) for ms, h, i in naturals]
		if mode == "created":
			return [(ms, i) for ms, h, i in naturals]
		return [((((h ^ salt) * GOLDEN) & M64) >> 1, i) for ms, h, i in naturals]

	def real_digest(self, qh, text):
		return hashlib.blake2b(("%s\n%s" % (qh, text)).encode("utf-8"), key=self.offset_secret,
		                       digest_size=8).digest()

	def position_token(self, req, qh, mode, salt, key, rec):
		"""The `next` token after the record `rec` (ms, id hash, id) whose sort key is `key`."""
		if mode == "real":
			# As recorded from Lever: the JSON array [k, ms, "id"], URL-encoded once. It carries no
			# signature, so the server remembers (a keyed digest of) every one it hands out.
			text = urllib.parse.quote(json.dumps([key[0], rec[0], rec[2]], separators=(",", ":")),
			                          safe="")
			digest = self.real_digest(qh, text)
			if digest not in self.issued:
				self.issued.add(digest)
				self.issued_fifo.append(digest)
				if len(self.issued_fifo) > ISSUED_TOKENS:
					self.issued.discard(self.issued_fifo.popleft())
			return text
		if mode == "shuffle":
			return self.make_token(req, [salt, key[0], key[1]])
		return self.make_token(req, list(key))

	def read_position(self, req, qh, mode):
		"""(the key after which the page starts, or None; the chain's salt) in a seeded mode."""
		token = req.qs_one("offset")
		if token is None:
			if mode == "shuffle":
				# Every chain start gets its own order; its tokens carry the salt.
				self.chains += 1
				return None, mix64(self.base_salt() ^ (self.chains * 0xD1B54A32D192ED03))
			return None, self.base_salt()
		if mode == "real":
			try:
				if token.startswith("["):
					# Sent without URL-encoding: the server saw it decoded once more.
					token = urllib.parse.quote(token, safe="")
				if self.real_digest(qh, token) not in self.issued:
					raise ValueError("not issued for this query")
				k, ms, rid = json.loads(urllib.parse.unquote(token))
				if isinstance(k, bool) or not isinstance(k, (int, float)) or not is_ms(ms) or \
				   not isinstance(rid, str):
					raise ValueError("shape")
			except (ValueError, TypeError):
				raise bad_request(INVALID_OFFSET)
			return (k, -ms, rid), self.base_salt()
		if mode == "shuffle":
			key = self.read_token(req, (int, int, str))
			return key[1:], key[0]
		return self.read_token(req, (int, str)), self.base_salt()

	def ordered_page(self, req, qh, limit, collect, still, natural, render, cache=True):
		"""One page of a list in a seeded order (real, random, shuffle).

		collect() returns every record matching the query, in any order. Sorted by the order's key,
		they are computed once per chain and cached by (query, store version, order, salt), so a
		later page costs a bisection. still(r) re-checks a record when it is served and natural(r)
		gives its (ms, id hash, id). Keys never change while a record lives, so a chain is keyset
		paging: changes between pages never make it skip or repeat a record.
		"""
		mode = self.list_order
		after, salt = self.read_position(req, qh, mode)
		ck = (qh, self.store.version, mode, salt)
		entry = self.chain_cache.get(ck) if cache else None
		if entry is None:
			recs = collect()
			keys = self.sort_keys(mode, salt, [natural(r) for r in recs])
			perm = sorted(range(len(keys)), key=keys.__getitem__)
			entry = ([keys[j] for j in perm], [recs[j] for j in perm])
			if cache:
				self.cache_chain(ck, entry)
		else:
			self.chain_cache.move_to_end(ck)
		keys, recs = entry
		i = 0 if after is None else bisect.bisect_right(keys, after)
		n = len(keys)
		found = []
		while i < n and len(found) <= limit:
			if still(recs[i]):
				found.append(i)
			i += 1
		has_next = len(found) > limit
		found = found[:limit]
		out = {"data": [render(recs[j]) for j in found], "hasNext": has_next}
		if has_next:
			last = found[-1]
			out["next"] = self.position_token(req, qh, mode, salt, keys[last], natural(recs[last]))
		return out

	def cache_chain(self, ck, entry):
		cache = self.chain_cache
		# An entry of an older store version can never be used again.
		for old in [k for k in cache if k[1] != ck[1]]:
			del cache[old]
		cache[ck] = entry
		total = sum(len(e[0]) for e in cache.values())
		while len(cache) > 1 and (len(cache) > CHAIN_CACHE_ENTRIES or total > CHAIN_CACHE_ITEMS):
			_, old = cache.popitem(last=False)
			total -= len(old[0])

	# -- listing faults ---------------------------------------------------------------------

	def faults_cleared(self):
		with self.store.lock:
			self.hostile.clear()

	def hostile_state(self, req, qh):
		"""The state of the hostile chain that the request's offset continues, if any."""
		token = req.qs_one("offset")
		if token is None or not self.hostile:
			return None
		state = self.hostile.get((qh, token))
		if state is None and token.startswith("["):
			state = self.hostile.get((qh, urllib.parse.quote(token, safe="")))
		return state

	def remember_hostile(self, qh, token, state):
		self.hostile[(qh, token)] = state
		while len(self.hostile) > HOSTILE_TOKENS:
			self.hostile.popitem(last=False)

	def hostile_token(self, qh, state):
		"""A new token continuing a hostile chain, shaped like the order's own tokens."""
		self.hostile_count += 1
		n = self.hostile_count
		if self.list_order == "real":
			text = urllib.parse.quote(json.dumps(
				[REAL_KEYS[n % len(REAL_KEYS)], 1491435120000 + n, uuid_from_int(secrets.randbits(128))],
				separators=(",", ":")), safe="")
		else:
			text = "%s.%s" % (b64url(secrets.token_bytes(40)), b64url(secrets.token_bytes(12)))
		self.remember_hostile(qh, text, state)
		return text

	def hostile_page(self, req, qh, limit, out, state, synth=None, outside=None):
		"""Carry out a listing fault: continue a hostile chain (`state`), or start one when a rule
		fired on this request (req.fault). `out` is the normal page (None when not needed),
		synth() a new record matching the query, outside() one outside its time window."""
		if state is None:
			rule = req.fault
			if rule is None:
				return out
			kind = rule.kind
			if kind == "cycle":
				if out.get("next"):
					period = rule.spec.get("period", 2)
					if not is_ms(period) or period < 1:
						period = 2
					self.remember_hostile(qh, out["next"], {"kind": "cycle", "first": out["next"],
					                                        "depth": 1, "period": period})
			elif kind == "repeat":
				state = {"kind": "repeat", "data": out["data"]}
				out = {"data": out["data"], "hasNext": True, "next": self.hostile_token(qh, state)}
			elif kind == "endless" and synth is not None:
				out = {"data": out["data"], "hasNext": True,
				       "next": self.hostile_token(qh, {"kind": "endless"})}
			elif kind == "outside" and outside is not None:
				extra = outside()
				if extra is not None:
					data = list(out["data"])
					data.insert(len(data) // 2, extra)
					out = dict(out, data=data)
			return out
		kind = state["kind"]
		if kind == "cycle":
			if state["depth"] >= state["period"]:
				return dict(out, hasNext=True, next=state["first"])
			if out.get("next"):
				self.remember_hostile(qh, out["next"], dict(state, depth=state["depth"] + 1))
			return out
		if kind == "repeat":
			return {"data": state["data"], "hasNext": True, "next": self.hostile_token(qh, state)}
		return {"data": [synth() for _ in range(limit)], "hasNext": True,
		        "next": self.hostile_token(qh, state)}

	# -- opportunities ----------------------------------------------------------------------

	def expand(self, req):
		expand = set(req.query.get("expand", []))
		for value in expand:
			if value not in OPP_EXPANDS:
				raise bad_request("Invalid expand '%s'" % value)
		return expand

	def api_render(self, o, expand=EMPTY, include=None):
		"""A record as the API sends it: rendered, then spoiled if made unreadable."""
		d = self.store.render(o, expand, include)
		if o.bad:
			for spec in o.bad.values():
				spoil(d, spec, include)
		return d

	def list_opportunities(self, req, principal):
		self.check_params(req, OPP_PARAMS)
		store = self.store
		limit = self.limit(req)
		conf = self.confidentiality(req, principal)
		expand = self.expand(req)
		include = req.query.get("include")
		c_start = self.ms_param(req, "created_at_start")
		c_end = self.ms_param(req, "created_at_end")
		u_start = self.ms_param(req, "updated_at_start")
		u_end = self.ms_param(req, "updated_at_end")
		preds = self.predicates(req, conf)
		if u_start is not None or u_end is not None:
			lo_u = u_start if u_start is not None else TIME_MIN
			hi_u = u_end if u_end is not None else TIME_MAX
			preds.append(lambda o: lo_u <= o.updated <= hi_u)
		else:
			lo_u = hi_u = None
		c_lo = c_start if c_start is not None else TIME_MIN
		c_hi = c_end if c_end is not None else TIME_MAX

		def render(o):
			return self.api_render(o, expand, include)

		def collect():
			order = store.order
			start = 0 if c_start is None else bisect.bisect_left(order, (c_start,), key=KEY)
			stop = len(order) if c_end is None else bisect.bisect_left(order, (c_end + 1,), key=KEY)
			cands = itertools.islice(order, start, stop)
			if lo_u is not None:
				upd = store.upd
				ulo = bisect.bisect_left(upd, (lo_u,))
				uhi = bisect.bisect_left(upd, (hi_u + 1,))
				if uhi - ulo <= (stop - start) // 2:
					opps = store.opps
					cands = (opps[e[2]] for e in itertools.islice(upd, ulo, uhi) if c_lo <= e[1] <= c_hi)
			for p in preds:
				cands = filter(p, cands)
			return list(cands)

		def still(o):
			return o.deleted is None and c_lo <= o.created <= c_hi and all(p(o) for p in preds)

		def synth(created=None, updated=None):
			return self.synthetic_opportunity(req, conf, expand, include, (c_start, c_end),
			                                  (u_start, u_end), created, updated)

		def outside():
			if c_start is not None:
				return synth(created=c_start - 1)
			if c_end is not None:
				return synth(created=c_end + 1)
			if u_start is not None:
				return synth(updated=u_start - 1)
			if u_end is not None:
				return synth(updated=u_end + 1)
			return None

		with store.lock:
			qh = self.query_hash(req)
			state = self.hostile_state(req, qh)
			out = None
			if state is None or state["kind"] == "cycle":
				if self.list_order == "created":
					out = self.created_page(req, limit, c_start, c_end, lo_u, hi_u, preds, render)
				else:
					out = self.ordered_page(req, qh, limit, collect, still,
					                        lambda o: (o.created, o.idh, o.id), render)
			return self.hostile_page(req, qh, limit, out, state, synth, outside)

	def created_page(self, req, limit, c_start, c_end, lo_u, hi_u, preds, render):
		"""A page in (createdAt, id) order: keyset paging with signed tokens."""
		store = self.store
		after = self.read_token(req, (int, str))
		order = store.order
		start = 0
		if c_start is not None:
			start = bisect.bisect_left(order, (c_start,), key=KEY)
		if after is not None:
			start = max(start, bisect.bisect_right(order, after, key=KEY))
		stop = len(order)
		if c_end is not None:
			stop = bisect.bisect_left(order, (c_end + 1,), key=KEY)
		scan = max(0, stop - start)
		found = []
		use_updated = False
		if lo_u is not None:
			upd = store.upd
			ulo = bisect.bisect_left(upd, (lo_u,))
			uhi = bisect.bisect_left(upd, (hi_u + 1,))
			# Recently updated records sit at the end of the creation order, so walking that
			# order to find them can cost O(N): use the updatedAt window when it is smaller.
			use_updated = uhi - ulo <= scan // 2
		if use_updated:
			keys = store.updated_window(ulo, uhi)
			i = 0
			if c_start is not None:
				i = bisect.bisect_left(keys, (c_start,))
			if after is not None:
				i = max(i, bisect.bisect_right(keys, after))
			opps = store.opps
			for key in itertools.islice(keys, i, None):
				if c_end is not None and key[0] > c_end:
					break
				o = opps[key[1]]
				if all(p(o) for p in preds):
					found.append(o)
					if len(found) > limit:
						break
		else:
			for i in range(start, stop):
				o = order[i]
				if all(p(o) for p in preds):
					found.append(o)
					if len(found) > limit:
						break
		has_next = len(found) > limit
		found = found[:limit]
		out = {"data": [render(o) for o in found], "hasNext": has_next}
		if has_next:
			out["next"] = self.make_token(req, found[-1].key)
		return out

	def synthetic_opportunity(self, req, conf, expand, include, created_window, updated_window,
	                          created=None, updated=None):
		"""A new opportunity that is in no list, matching the query's main filters (the time
		windows, posting, stage, archived, confidentiality, tag, source, origin, email,
		location), with createdAt or updatedAt forced when given."""
		store = self.store
		q = req.query
		rng = random.Random(secrets.randbits(64))
		now = now_ms()

		def pick(lo, hi, lo_default, hi_default):
			lo = lo_default if lo is None else lo
			hi = hi_default if hi is None else hi
			return lo if hi <= lo else rng.randint(lo, hi)
		c_lo, c_hi = created_window
		if created is None:
			created = pick(c_lo, c_hi, store.start_ms - 365 * DAY_MS, now)
		u_lo, u_hi = updated_window
		if updated is None:
			updated = pick(u_lo, u_hi, created, max(created, now))
		o = store.new_opp(uuid_from_int(rng.getrandbits(128)), created, rng.getrandbits(64))
		o.updated = updated
		lo = self.ms_param(req, "advanced_at_start")
		hi = self.ms_param(req, "advanced_at_end")
		o.advanced = pick(lo, hi, created, max(created, updated))
		o.posting = COVERED_POSTING
		for name in ("posting_id", "archived_posting_id"):
			if q.get(name):
				o.posting = q[name][0]
		if q.get("stage_id"):
			o.stage = q["stage_id"][0]
		o.changes = [(o.stage, store.stage_pos.get(o.stage, 0), store.owner(o), o.advanced)]
		o.start = o.stage
		o.confidential = conf == "confidential"
		lo = self.ms_param(req, "archived_at_start")
		hi = self.ms_param(req, "archived_at_end")
		if req.qs_one("archived") == "true" or lo is not None or hi is not None or \
		   q.get("archived_posting_id") or q.get("archive_reason_id"):
			o.archived_at = pick(lo, hi, updated, updated)
			o.archive_reason = (q.get("archive_reason_id") or [DEFAULT_ARCHIVE_REASON])[0]
		if q.get("origin"):
			o.origin = q["origin"][0]
		if q.get("email"):
			o.emails = (q["email"][0],)
		extra = {}
		for name, field in (("tag", "tags"), ("source", "sources")):
			if q.get(name):
				extra[field] = [q[name][0]]
		if q.get("location"):
			extra["location"] = q["location"][0]
		o.extra = extra or None
		return store.render(o, expand, include)

	def predicates(self, req, conf):
		q = req.query
		store = self.store
		preds = []
		if conf == "non-confidential":
			preds.append(lambda o: not o.confidential)
		elif conf == "confidential":
			preds.append(lambda o: o.confidential)
		archived = self.bool_param(req, "archived")
		if archived is not None:
			preds.append(lambda o: (o.archived_at is not None) == archived)
		if "posting_id" in q:
			postings = set(q["posting_id"])
			preds.append(lambda o: o.posting in postings)
		if "archived_posting_id" in q:
			archived_postings = set(q["archived_posting_id"])
			preds.append(lambda o: o.archived_at is not None and o.posting in archived_postings)
		if "stage_id" in q:
			stages = set(q["stage_id"])
			preds.append(lambda o: o.stage in stages)
		if "archive_reason_id" in q:
			reasons = set(q["archive_reason_id"])
			preds.append(lambda o: o.archived_at is not None and o.archive_reason in reasons)
		for name, attr in (("advanced_at", "advanced"), ("archived_at", "archived_at")):
			lo = self.ms_param(req, name + "_start")
			hi = self.ms_param(req, name + "_end")
			if lo is not None or hi is not None:
				lo = lo if lo is not None else TIME_MIN
				hi = hi if hi is not None else TIME_MAX
				get = operator.attrgetter(attr)
				preds.append(lambda o, get=get, lo=lo, hi=hi: get(o) is not None and lo <= get(o) <= hi)
		snoozed = self.bool_param(req, "snoozed")
		if snoozed:
			preds.append(lambda o: False)
		if "tag" in q:
			tags = set(q["tag"])
			preds.append(lambda o: bool(tags.intersection(self.store.render(o)["tags"])))
		if "source" in q:
			sources = set(q["source"])
			preds.append(lambda o: bool(sources.intersection(self.store.render(o)["sources"])))
		if "origin" in q:
			origins = set(q["origin"])
			preds.append(lambda o: store.origin(o) in origins)
		if "email" in q:
			emails = {e.strip().lower() for e in q["email"]}
			preds.append(lambda o: any(e.lower() in emails for e in store.emails(o)))
		if "contact_id" in q:
			contacts = set(q["contact_id"])
			preds.append(lambda o: store.contact(o) in contacts)
		if "location" in q:
			locations = set(q["location"])
			preds.append(lambda o: (store.render(o)["location"] or "unspecified") in locations)
		return preds

	def get_opportunity(self, req, principal, opp_id):
		self.check_params(req, {"expand", "include"})
		expand = self.expand(req)
		store = self.store
		with store.lock:
			o = store.opps.get(opp_id)
			if o is None:
				raise LeverError(404, "ResourceNotFound", "Opportunity %s not found" % opp_id)
			if o.confidential and not principal.confidential:
				raise LeverError(403, "ForbiddenError",
				                 "This credential does not have access to confidential data")
			return {"data": self.api_render(o, expand, req.query.get("include"))}

	def list_deleted(self, req):
		self.check_params(req, {"limit", "offset", "deleted_at_start", "deleted_at_end"})
		limit = self.limit(req)
		lo = self.ms_param(req, "deleted_at_start")
		hi = self.ms_param(req, "deleted_at_end")
		store = self.store
		key = lambda e: (e[0], e[1])  # noqa: E731

		def render(e):
			return {"id": e[1], "deletedBy": e[3], "deletedAt": e[0]}

		def bounds():
			items = store.deleted
			start = 0 if lo is None else bisect.bisect_left(items, (lo,), key=key)
			stop = len(items) if hi is None else bisect.bisect_left(items, (hi + 1,), key=key)
			return start, stop

		def synth(at=None):
			if at is None:
				low = store.start_ms - 365 * DAY_MS if lo is None else lo
				high = now_ms() if hi is None else hi
				at = low if high <= low else random.randint(low, high)
			return {"id": uuid_from_int(secrets.randbits(128)), "deletedBy": USER_IDS[3], "deletedAt": at}

		def outside():
			if lo is not None:
				return synth(lo - 1)
			if hi is not None:
				return synth(hi + 1)
			return None

		with store.lock:
			qh = self.query_hash(req)
			state = self.hostile_state(req, qh)
			out = None
			if state is None or state["kind"] == "cycle":
				if self.list_order == "created":
					after = self.read_token(req, (int, str))
					items = store.deleted
					start, stop = bounds()
					if after is not None:
						start = max(start, bisect.bisect_right(items, after, key=key))
					chunk = items[start:min(stop, start + limit)]
					out = {"data": [render(e) for e in chunk], "hasNext": start + limit < stop}
					if out["hasNext"]:
						out["next"] = self.make_token(req, [chunk[-1][0], chunk[-1][1]])
				else:
					def collect():
						start, stop = bounds()
						return store.deleted[start:stop]
					out = self.ordered_page(req, qh, limit, collect, lambda e: True,
					                        lambda e: (e[0], e[2].idh, e[1]), render)
			return self.hostile_page(req, qh, limit, out, state, synth, outside)

	def list_postings(self, req, principal):
		self.check_params(req, POSTING_PARAMS)
		conf = self.confidentiality(req, principal)
		q = req.query
		states = set(q.get("state", []))
		u_lo = self.ms_param(req, "updated_at_start")
		u_hi = self.ms_param(req, "updated_at_end")
		limit = self.limit(req)
		with self.store.lock:
			items = sorted(self.store.postings.values(), key=lambda p: (p["createdAt"], p["id"]))
			out = []
			for p in items:
				if conf == "non-confidential" and p["confidentiality"] == "confidential":
					continue
				if conf == "confidential" and p["confidentiality"] != "confidential":
					continue
				if states and p["state"] not in states:
					continue
				if u_lo is not None and p["updatedAt"] < u_lo:
					continue
				if u_hi is not None and p["updatedAt"] > u_hi:
					continue
				cats = p["categories"]
				if any(name in q and cats.get(name) not in q[name]
				       for name in ("team", "department", "location", "commitment")):
					continue
				if "distributionChannel" in q and \
				   not set(q["distributionChannel"]) & set(p["distributionChannels"]):
					continue
				out.append(p)
			qh = self.query_hash(req)
			state = self.hostile_state(req, qh)
			page = None
			if state is None or state["kind"] == "cycle":
				if self.list_order == "created":
					page = self.page(req, out, lambda p: [p["createdAt"], p["id"]], lambda p: p, (int, str))
				else:
					page = self.ordered_page(req, qh, limit, lambda: out, lambda p: True,
					                         lambda p: (p["createdAt"], id_hash(p["id"]), p["id"]),
					                         lambda p: p, cache=False)
			return self.hostile_page(req, qh, limit, page, state)

	# -- control ----------------------------------------------------------------------------

	def control(self, req, route):
		m = req.method
		parts = route.split("/")
		store = self.store
		body = self.emulator.control_json(req, {})
		if not isinstance(body, dict):
			raise ControlError("body must be a JSON object")
		if route == "seed" and m == "POST":
			t0 = time.monotonic()
			with store.lock:
				created = store.seed(body)
				total = len(store.opps)
			return Response.json(200, {"created": created, "total": total,
			                           "seconds": round(time.monotonic() - t0, 3)})
		if route == "reset" and m == "POST":
			with store.lock:
				store.reset()
			self.webhooks.reset()
			return Response.json(200, {"ok": True})
		if parts[0] == "webhooks":
			got = self.webhooks.control(m, parts[1:], body)
			return Response.json(*got) if got else None
		if route == "invalidate-offsets" and m == "POST":
			self.invalidate_offsets()
			return Response.json(200, {"ok": True})
		if route == "list-order":
			if m == "POST":
				mode = body.get("mode", self.list_order)
				seed = body.get("seed", self.list_order_seed)
				if mode not in LIST_ORDERS:
					raise ControlError("'mode' must be one of %s" % ", ".join(LIST_ORDERS))
				if not is_ms(seed):
					raise ControlError("'seed' must be an integer")
				self.set_list_order(mode, seed)
			elif m != "GET":
				return None
			return Response.json(200, {"mode": self.list_order, "seed": self.list_order_seed})
		if route == "keys" and m == "POST":
			key = body.get("key")
			if not isinstance(key, str) or not key:
				raise ControlError("'key' must be a non-empty string")
			self.keys[key] = bool(body.get("confidential", False))
			return Response.json(200, {"ok": True})
		if route == "postings" and m == "POST":
			if not isinstance(body.get("text"), str):
				raise ControlError("'text' must be a string")
			spec = dict(body)
			if "created_at" in spec:
				spec["createdAt"] = spec.pop("created_at")
			with store.lock:
				return Response.json(200, {"data": store.add_posting(spec)})
		if route == "stages" and m == "POST":
			stages = body.get("stages")
			if not isinstance(stages, list) or not all(isinstance(s, dict) and isinstance(s.get("text"), str)
			                                            for s in stages):
				raise ControlError("'stages' must be a list of {id?, text}")
			with store.lock:
				store.set_stages([{"id": s.get("id") or uuid_from_int(secrets.randbits(128)),
				                   "text": s["text"]} for s in stages])
				return Response.json(200, {"data": store.stages})
		if parts[0] == "oauth":
			return self.oauth.control(req, parts[1:], body)
		if route == "batch" and m == "POST":
			return self.control_batch(body)
		if parts[0] == "opportunities":
			with store.lock:
				resp = self.control_opportunity(m, parts[1:], body)
				if m == "POST":
					# Whatever changed, cached list chains must see it.
					store.bump()
				return resp
		return None

	def control_batch(self, body):
		"""Many opportunity mutations in one call, in order, under one lock: a soak test makes
		thousands per minute, and one HTTP round trip each would dominate its run time."""
		ops = body.get("ops")
		if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
			raise ControlError("'ops' must be a list of objects")
		store = self.store
		ids = []
		with store.lock:
			try:
				for i, op in enumerate(ops):
					ids.append(self.batch_op(i, op))
			finally:
				# What was applied stays applied, and cached list chains must see it.
				store.bump()
		return Response.json(200, {"count": len(ids), "ids": ids})

	def batch_op(self, i, op):
		kind = op.get("op")
		fields = {k: v for k, v in op.items() if k not in ("op", "id")}
		if kind == "create":
			if "id" in op:
				fields["id"] = op["id"]
			return self.create_opportunity(fields).id
		if not isinstance(kind, str) or not kind or "/" in kind:
			raise ControlError("ops[%d]: 'op' must be \"create\" or an opportunity action" % i)
		if not isinstance(op.get("id"), str) or not op["id"] or "/" in op["id"]:
			raise ControlError("ops[%d]: '%s' needs the opportunity's 'id'" % (i, kind))
		try:
			if self.control_opportunity("POST", [op["id"], kind], fields) is None:
				raise ControlError("unknown action '%s'" % kind, 404)
		except ControlError as exc:
			raise ControlError("ops[%d] (%s %s): %s" % (i, kind, op["id"], exc), exc.status)
		return op["id"]

	def control_view(self, o):
		store = self.store
		return {"data": store.render(o, ("applications",)), "posting": o.posting,
		        "confidential": o.confidential, "legacy": o.legacy, "internalUpdatedAt": o.updated,
		        "deleted": o.deleted is not None, "deletedAt": o.deleted,
		        "unreadable": [dict(spec) for spec in (o.bad or {}).values()]}

	def control_opportunity(self, m, parts, body):
		store = self.store
		if not parts or parts == [""]:
			if m == "GET":
				return Response.json(200, {"count": len(store.opps), "deleted": len(store.deleted)})
			if m == "POST":
				return Response.json(200, self.control_view(self.create_opportunity(body)))
			return None
		opp_id = parts[0]
		o = store.opps.get(opp_id)
		if o is None and opp_id in store.deleted_by_id:
			o = store.deleted_by_id[opp_id][2]
		if o is None:
			raise ControlError("unknown opportunity '%s'" % opp_id, 404)
		if len(parts) == 1 and m == "GET":
			return Response.json(200, self.control_view(o))
		if len(parts) != 2 or m != "POST":
			return None
		if o.deleted is not None:
			raise ControlError("opportunity '%s' is deleted" % opp_id, 409)
		action = parts[1]
		at = body.get("at")
		if at is None:
			at = now_ms()
		if not isinstance(at, int):
			raise ControlError("'at' must be milliseconds")
		if action == "delete":
			by = body.get("deleted_by", USER_IDS[3])
			store.remove(o, at, by)
			self.webhooks.emit("candidateDeleted", {"opportunityId": o.id, "candidateId": o.id,
			                                        "contactId": store.contact(o), "deletedBy": by}, at)
			return Response.json(200, self.control_view(o))
		if action == "legacy":
			# A test switch for the response shape, not a change Lever would record.
			o.legacy = bool(body.get("legacy", True))
			return Response.json(200, self.control_view(o))
		if action == "unreadable":
			spec = self.unreadable_spec(body)
			o.bad = dict(o.bad or {})
			o.bad[spec["field"]] = spec
			return Response.json(200, self.control_view(o))
		if action == "readable":
			field = body.get("field")
			if field is None:
				o.bad = None
			elif o.bad:
				o.bad.pop(field, None)
			return Response.json(200, self.control_view(o))
		if action == "times":
			self.set_times(o, body)
			return Response.json(200, self.control_view(o))
		store.touch(o, at)
		if action == "move":
			stage = store.stage_id(body.get("stage"))
			if stage != o.stage or body.get("force"):
				self.webhooks.emit("candidateStageChange", {
					"opportunityId": o.id, "candidateId": o.id, "contactId": store.contact(o),
					"fromStageId": o.stage, "toStageId": stage}, at)
				o.changes.append((stage, store.stage_pos[stage], store.owner(o), at))
				o.stage = stage
			# Setting the stage it is already in only moves lastAdvancedAt (seen on real Lever).
			o.advanced = at
		elif action == "archive":
			reason = body.get("reason") or DEFAULT_ARCHIVE_REASON
			for r in ARCHIVE_REASONS:
				if r["text"] == reason:
					reason = r["id"]
			self.webhooks.emit("candidateArchiveChange", {
				"opportunityId": o.id, "candidateId": o.id, "contactId": store.contact(o),
				"fromArchived": None, "toArchived": {"archivedAt": at, "reason": reason}}, at)
			o.archived_at = at
			o.archive_reason = reason
		elif action == "unarchive":
			self.webhooks.emit("candidateArchiveChange", {
				"opportunityId": o.id, "candidateId": o.id, "contactId": store.contact(o),
				"fromArchived": {"archivedAt": o.archived_at, "reason": o.archive_reason},
				"toArchived": None}, at)
			o.archived_at = None
			o.archive_reason = None
		elif action == "anonymize":
			o.anonymized = True
		elif action == "emails":
			emails = body.get("emails")
			if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
				raise ControlError("'emails' must be a list of strings")
			o.emails = tuple(emails)
		elif action == "phones":
			o.phones = self.phones_arg(body.get("phones"))
		elif action == "name":
			if not isinstance(body.get("name"), str):
				raise ControlError("'name' must be a string")
			o.name = body["name"]
		elif action == "posting":
			posting = store.posting_id(body.get("posting"))
			if posting != o.posting:
				o.posting = posting
				o.app_id = uuid_from_int(secrets.randbits(128)) if posting else None
				o.app_created = at
				if posting:
					self.webhooks.emit("applicationCreated", {
						"opportunityId": o.id, "candidateId": o.id, "contactId": store.contact(o),
						"applicationId": store.app_id(o)}, at)
		elif action == "confidential":
			o.confidential = bool(body.get("confidential"))
		elif action == "touch":
			pass
		else:
			raise ControlError("unknown action '%s'" % action, 404)
		return Response.json(200, self.control_view(o))

	def unreadable_spec(self, body):
		"""{kind, field, value | bytes}: how a record's rendering is spoilt (README)."""
		kind = body.get("kind")
		if kind not in UNREADABLE_KINDS:
			raise ControlError("'kind' must be one of %s" % ", ".join(UNREADABLE_KINDS))
		field = body.get("field", "name")
		if not isinstance(field, str) or not field or any(not p for p in field.split(".")):
			raise ControlError("'field' must be a field name or a dotted path such as emails.0")
		spec = {"kind": kind, "field": field}
		if kind == "wrong-type":
			spec["value"] = body.get("value", 5)
		elif kind in ("invalid-utf8", "nul"):
			default = "fffec328" if kind == "invalid-utf8" else "00"
			text = body.get("bytes", default)
			try:
				raw = bytes.fromhex(text)
			except (TypeError, ValueError):
				raise ControlError("'bytes' must be hex digits")
			spec["bytes"] = raw.hex()
			spec["raw"] = len(self.raw_bytes)
			self.raw_bytes.append(raw)
		return spec

	def set_times(self, o, body):
		names = {"createdAt": "created", "updatedAt": "updated", "lastAdvancedAt": "advanced",
		         "archivedAt": "archived"}
		for key in body:
			if key not in names and key != "stageChanges":
				raise ControlError("unknown time '%s'" % key)
		values = {}
		for key, arg in names.items():
			if body.get(key) is not None:
				if not is_ms(body[key]):
					raise ControlError("'%s' must be an integer" % key)
				values[arg] = body[key]
		changes = body.get("stageChanges")
		if changes is not None:
			if not isinstance(changes, list) or not all(c is None or is_ms(c) for c in changes):
				raise ControlError("'stageChanges' must be a list of integers or nulls")
			values["changes"] = changes
		self.store.set_times(o, **values)

	def phones_arg(self, phones):
		if not isinstance(phones, list):
			raise ControlError("'phones' must be a list")
		out = []
		for p in phones:
			if isinstance(p, str):
				out.append({"type": "mobile", "value": p})
			elif isinstance(p, dict) and isinstance(p.get("value"), str):
				out.append({k: v for k, v in p.items() if k in ("type", "value")})
			else:
				raise ControlError("a phone must be a string or {type?, value}")
		return tuple(out)

	def create_opportunity(self, body):
		store = self.store
		opp_id = body.get("id") or uuid_from_int(secrets.randbits(128))
		if not isinstance(opp_id, str) or opp_id in store.opps or opp_id in store.deleted_by_id:
			raise ControlError("'id' must be a new string id")
		now = now_ms()
		created = body.get("created_at", now)
		if not isinstance(created, int):
			raise ControlError("'created_at' must be milliseconds")
		o = store.new_opp(opp_id, created, secrets.randbits(64))
		if "posting" in body:
			o.posting = store.posting_id(body["posting"])
		else:
			o.posting = COVERED_POSTING
		default_stage = "applicant-new" if o.posting else "lead-new"
		o.stage = store.stage_id(body.get("stage", default_stage))
		o.start = o.stage
		o.changes = [(o.stage, store.stage_pos[o.stage], store.owner(o), created)]
		updated = body.get("updated_at", max(created, now))
		if not isinstance(updated, int):
			raise ControlError("'updated_at' must be milliseconds")
		o.updated = updated
		if "name" in body:
			if not isinstance(body["name"], str):
				raise ControlError("'name' must be a string")
			o.name = body["name"]
		if "emails" in body:
			emails = body["emails"]
			if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
				raise ControlError("'emails' must be a list of strings")
			o.emails = tuple(emails)
		if "phones" in body:
			o.phones = self.phones_arg(body["phones"])
		o.confidential = bool(body.get("confidential", False))
		o.legacy = bool(body.get("legacy", False))
		if body.get("archived"):
			o.archived_at = updated
			o.archive_reason = body.get("archive_reason") or DEFAULT_ARCHIVE_REASON
		if body.get("origin") is not None:
			o.origin = body["origin"]
		extra = {k: body[k] for k in ("headline", "location", "links", "tags", "sources") if k in body}
		o.extra = extra or None
		store.insert(o)
		if o.posting:
			self.webhooks.emit("applicationCreated", {
				"opportunityId": o.id, "candidateId": o.id, "contactId": store.contact(o),
				"applicationId": store.app_id(o)}, created)
		return o


class OAuth:
	"""The authorization-code flow with rotating refresh tokens, as Lever's auth server runs it."""

	def __init__(self, args):
		self.lock = threading.Lock()
		self.client_id = args.oauth_client_id
		self.client_secret = args.oauth_client_secret
		self.redirect_uris = args.oauth_redirect_uri
		self.ttl = args.access_ttl
		self.root = None
		self.secret = secrets.token_bytes(32)
		self.codes = {}
		self.access = {}
		self.refresh = {}
		self.deny = False
		self.counts = {"codes_issued": 0, "codes_redeemed": 0, "code_reuse": 0, "refreshes": 0,
		               "refresh_reuse": 0, "access_issued": 0, "token_errors": 0,
		               "authorize_errors": 0, "access_expired_by_control": 0}

	def oauth_error(self, status, error, description, headers=None):
		return Response.json(status, {"error": error, "error_description": description}, headers)

	def authorize(self, req):
		if req.method != "GET":
			return self.oauth_error(405, "invalid_request", "use GET")
		params = {k: v[-1] for k, v in req.query.items()}
		for name in ("client_id", "redirect_uri", "response_type", "state", "audience", "scope"):
			if not params.get(name):
				self.counts["authorize_errors"] += 1
				return self.oauth_error(400, "invalid_request", "missing parameter %s" % name)
		if params["client_id"] != self.client_id:
			self.counts["authorize_errors"] += 1
			return self.oauth_error(400, "unauthorized_client", "unknown client_id")
		redirect = params["redirect_uri"]
		split = urllib.parse.urlsplit(redirect)
		if split.scheme not in ("http", "https") or not split.netloc or \
		   (self.redirect_uris and redirect not in self.redirect_uris):
			self.counts["authorize_errors"] += 1
			return self.oauth_error(400, "invalid_request", "redirect_uri is not registered")
		if params["response_type"] != "code":
			self.counts["authorize_errors"] += 1
			return self.oauth_error(400, "unsupported_response_type", "response_type must be code")
		audiences = {self.root + "/v1/"}
		host = req.header("Host")
		if host:
			audiences.add("http://%s/v1/" % host)
		if params["audience"] not in audiences:
			self.counts["authorize_errors"] += 1
			return self.oauth_error(400, "invalid_request", "audience must be %s/v1/" % self.root)
		sep = "&" if split.query else "?"
		if self.deny:
			query = urllib.parse.urlencode({"error": "access_denied",
			                                "error_description": "the user denied access",
			                                "state": params["state"]})
			return Response(302, b"", [("Location", redirect + sep + query)])
		code = secrets.token_urlsafe(24)
		with self.lock:
			self.codes[code] = {"redirect_uri": redirect, "scope": params["scope"],
			                    "expires": time.monotonic() + 600, "used": False}
			self.counts["codes_issued"] += 1
		query = urllib.parse.urlencode({"code": code, "state": params["state"]})
		return Response(302, b"", [("Location", redirect + sep + query)])

	def token(self, req):
		if req.method != "POST":
			return self.oauth_error(405, "invalid_request", "use POST")
		ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
		if ctype == "application/json":
			try:
				fields = req.json_body()
			except ValueError:
				fields = None
			if not isinstance(fields, dict):
				return self.oauth_error(400, "invalid_request", "body is not a JSON object")
		elif ctype == "application/x-www-form-urlencoded":
			fields = req.form_body()
		else:
			return self.oauth_error(400, "invalid_request",
			                        "content type must be application/x-www-form-urlencoded")
		headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
		with self.lock:
			resp = self.token_locked(fields, headers)
			if resp.status != 200:
				self.counts["token_errors"] += 1
			return resp

	def token_locked(self, fields, headers):
		grant = fields.get("grant_type")
		if grant not in ("authorization_code", "refresh_token"):
			return self.oauth_error(400, "unsupported_grant_type", "grant_type not supported", headers)
		if not fields.get("client_id") or not fields.get("client_secret"):
			return self.oauth_error(401, "invalid_client", "client authentication required", headers)
		if fields["client_id"] != self.client_id or \
		   not hmac.compare_digest(fields["client_secret"].encode(), self.client_secret.encode()):
			return self.oauth_error(401, "invalid_client", "client authentication failed", headers)
		if grant == "authorization_code":
			for name in ("code", "redirect_uri"):
				if not fields.get(name):
					return self.oauth_error(400, "invalid_request", "missing parameter %s" % name, headers)
			entry = self.codes.get(fields["code"])
			if entry is None:
				return self.oauth_error(400, "invalid_grant", "invalid authorization code", headers)
			if entry["used"]:
				self.counts["code_reuse"] += 1
				return self.oauth_error(400, "invalid_grant", "authorization code already used", headers)
			if entry["expires"] < time.monotonic():
				return self.oauth_error(400, "invalid_grant", "authorization code expired", headers)
			if entry["redirect_uri"] != fields["redirect_uri"]:
				return self.oauth_error(400, "invalid_grant", "redirect_uri mismatch", headers)
			entry["used"] = True
			self.counts["codes_redeemed"] += 1
			scope = entry["scope"]
		else:
			old = fields.get("refresh_token")
			if not old:
				return self.oauth_error(400, "invalid_request", "missing parameter refresh_token", headers)
			entry = self.refresh.get(old)
			if entry is None:
				return self.oauth_error(400, "invalid_grant", "unknown refresh token", headers)
			if entry["rotated"]:
				self.counts["refresh_reuse"] += 1
				return self.oauth_error(400, "invalid_grant", "refresh token already used", headers)
			entry["rotated"] = True
			self.counts["refreshes"] += 1
			scope = entry["scope"]
		return Response.json(200, self.issue(scope), headers)

	def issue(self, scope):
		now = time.time()
		claims = {"iss": "%s/" % self.root, "aud": "%s/v1/" % self.root, "iat": int(now),
		          "exp": int(now + self.ttl), "scope": scope, "jti": secrets.token_hex(8),
		          "https://oauth.lever.co/clientId": self.client_id}
		head = b64url(b'{"alg":"HS256","typ":"JWT"}')
		body = b64url(json.dumps(claims, separators=(",", ":")).encode())
		sig = b64url(hmac.new(self.secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest())
		access = "%s.%s.%s" % (head, body, sig)
		self.access[access] = {"scopes": set(scope.split()), "expires": time.monotonic() + self.ttl,
		                       "revoked": False}
		self.counts["access_issued"] += 1
		out = {"access_token": access, "token_type": "Bearer", "scope": scope,
		       "expires_in": int(self.ttl)}
		if "offline_access" in scope.split():
			refresh = "v1." + secrets.token_urlsafe(48)
			self.refresh[refresh] = {"scope": scope, "rotated": False}
			out["refresh_token"] = refresh
		return out

	def check_access(self, token):
		"""(scopes, None) for a live access token, else (None, why)."""
		if not token:
			return None, "Missing bearer token"
		with self.lock:
			entry = self.access.get(token)
			if entry is None:
				return None, "Invalid access token"
			if entry["revoked"] or entry["expires"] < time.monotonic():
				return None, "Access token expired"
			return entry["scopes"], None

	def control(self, req, parts, body):
		if parts in ([], [""]) and req.method == "GET":
			with self.lock:
				now = time.monotonic()
				out = dict(self.counts)
				out["live_access_tokens"] = sum(1 for e in self.access.values()
				                                if not e["revoked"] and e["expires"] >= now)
				out["live_refresh_tokens"] = sum(1 for e in self.refresh.values() if not e["rotated"])
				out["deny"] = self.deny
			return Response.json(200, out)
		if parts == ["expire-access"] and req.method == "POST":
			with self.lock:
				for entry in self.access.values():
					entry["revoked"] = True
				self.counts["access_expired_by_control"] += 1
			return Response.json(200, {"ok": True})
		if parts == ["deny"] and req.method == "POST":
			self.deny = bool(body.get("deny", True))
			return Response.json(200, {"deny": self.deny})
		return None


def main(argv=None):
	return run_app(Lever, "Emulator of the Lever Data API v1 for tests.", argv)


if __name__ == "__main__":
	sys.exit(main())
