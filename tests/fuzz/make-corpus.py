#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from what the emulators really answer.

    python3 tests/fuzz/make-corpus.py [OUTPUT_DIR]     (default: tests/fuzz/corpus)

Starts the Lever and Refty emulators on 127.0.0.1, asks them for the pages and answers the tool
reads (opportunities with the unreadable records and odd times the emulator can serve, deleted
opportunities, stages, postings, one opportunity, OAuth tokens, Refty sequences, languages,
created candidates and steps, error bodies) and saves each body as one file, so that fuzzing
starts from real shapes. The configuration seeds are the example configuration and a few
variants of it. Files are small: pages are asked for with a small limit. Standard library only.
"""

import os
import shutil
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "emulator"))

from harness import Emulator, http_request  # noqa: E402


def save(out, target, name, body):
	d = os.path.join(out, target)
	os.makedirs(d, exist_ok=True)
	if isinstance(body, str):
		body = body.encode("utf-8")
	with open(os.path.join(d, name), "wb") as f:
		f.write(body)


def lever_get(lever, path):
	res = lever.request("GET", path)
	return res.body


def lever_corpus(out):
	with Emulator("lever", "--opportunities", "6", "--seed", "7") as lever:
		save(out, "lever", "opportunities-page-1", lever_get(lever, "/opportunities?limit=2&expand=applications"))
		first = lever.request("GET", "/opportunities?limit=2&expand=applications").json()
		offset = urllib.parse.quote(first["next"], safe="")
		save(out, "lever", "opportunities-page-2",
		     lever_get(lever, "/opportunities?limit=2&expand=applications&offset=" + offset))
		save(out, "lever", "opportunities-last-page", lever_get(lever, "/opportunities?limit=100&expand=applications&archived=true"))
		save(out, "lever", "stages", lever_get(lever, "/stages"))
		save(out, "lever", "postings", lever_get(lever, "/postings?limit=3"))
		save(out, "lever", "deleted", lever_get(lever, "/opportunities/deleted"))

		# One record of each shape the tool must cope with.
		made = lever.control("POST", "opportunities", {"name": "Odd Times", "emails": ["odd@example.com"],
		                                                "phones": [{"type": "mobile", "value": "+1 555 0100"}]})
		oid = made["data"]["id"] if "data" in made else made["id"]
		save(out, "lever", "opportunity-one", lever_get(lever, "/opportunities/%s?expand=applications" % oid))
		lever.control("POST", "opportunities/%s/move" % oid, {"stage": "Phone screen"})
		lever.control("POST", "opportunities/%s/times" % oid,
		              {"createdAt": 946684799000, "updatedAt": 9223372036854775807,
		               "lastAdvancedAt": 4102444800000, "stageChanges": [None, -1]})
		save(out, "lever", "opportunity-odd-times", lever_get(lever, "/opportunities/%s?expand=applications" % oid))
		legacy = lever.control("POST", "opportunities", {"name": "Legacy Shape", "legacy": True, "posting": None})
		lid = legacy["data"]["id"] if "data" in legacy else legacy["id"]
		save(out, "lever", "opportunity-legacy", lever_get(lever, "/opportunities/%s?expand=applications" % lid))
		spoilings = [
			("invalid-utf8", {"kind": "invalid-utf8", "field": "name"}),
			("nul", {"kind": "nul", "field": "emails.0"}),
			("escaped-nul", {"kind": "escaped-nul", "field": "stage"}),
			("wrong-type-created", {"kind": "wrong-type", "field": "createdAt", "value": "yesterday"}),
			("wrong-type-change", {"kind": "wrong-type", "field": "stageChanges.1.updatedAt", "value": 1.5}),
		]
		for name, spec in spoilings:
			bad = lever.control("POST", "opportunities", {"name": "Unreadable " + name, "emails": ["u@example.com"]})
			bid = bad["data"]["id"] if "data" in bad else bad["id"]
			lever.control("POST", "opportunities/%s/move" % bid, {"stage": "Phone screen"})
			lever.control("POST", "opportunities/%s/unreadable" % bid, spec)
			save(out, "lever", "unreadable-" + name,
			     lever_get(lever, "/opportunities/%s?expand=applications" % bid))
		save(out, "lever", "opportunities-hostile-page",
		     lever_get(lever, "/opportunities?limit=100&expand=applications"))
		lever.fault(path="/v1/opportunities", kind="json", body={"data": [], "hasNext": True, "next": ""})
		save(out, "lever", "fault-empty-next", lever_get(lever, "/opportunities?limit=2"))
		lever.control("DELETE", "faults")

		# OAuth: a login's code exchange and a refresh, as the token endpoint answers them.
		redirect = "http://127.0.0.1:1/callback"
		query = urllib.parse.urlencode({"client_id": "test-client", "redirect_uri": redirect,
		                                "response_type": "code", "state": "s",
		                                "audience": lever.root_url + "/v1/", "scope": "offline_access"})
		res = http_request("GET", lever.root_url + "/authorize?" + query)
		code = urllib.parse.parse_qs(urllib.parse.urlsplit(res.header("Location")).query)["code"][0]
		form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
		                               "redirect_uri": redirect, "client_id": "test-client",
		                               "client_secret": "test-secret"})
		ctype = {"Content-Type": "application/x-www-form-urlencoded"}
		tokens = http_request("POST", lever.root_url + "/oauth/token", form, ctype)
		save(out, "oauth", "exchange", tokens.body)
		form = urllib.parse.urlencode({"grant_type": "refresh_token",
		                               "refresh_token": tokens.json()["refresh_token"],
		                               "client_id": "test-client", "client_secret": "test-secret"})
		save(out, "oauth", "refresh", http_request("POST", lever.root_url + "/oauth/token", form, ctype).body)
		save(out, "oauth", "refused", http_request("POST", lever.root_url + "/oauth/token", form, ctype).body)
		save(out, "oauth", "no-refresh-token", '{"access_token": "a.b.c", "token_type": "Bearer"}')
		save(out, "oauth", "negative-expiry", '{"access_token": "x", "expires_in": -1}')


def refty_corpus(out):
	with Emulator("refty") as refty:
		save(out, "refty", "sequences", refty.request("GET", "/sequences?limit=100").body)
		save(out, "refty", "sequences-paged", refty.request("GET", "/sequences?limit=1").body)
		save(out, "refty", "languages", refty.request("GET", "/languages").body)
		seq = refty.request("GET", "/sequences?limit=100").json()["data"][0]
		body = {"external_id": "lever:opp-1", "sequence_id": seq["id"], "language": "en",
		        "name": "Ada", "email": "ada@example.com", "phone": None,
		        "job": {"external_id": "posting-1", "title": "Engineer"}}
		made = refty.request("POST", "/candidates", body, {"Idempotency-Key": "k1"})
		save(out, "refty", "candidate-created", made.body)
		cid = made.json()["data"]["id"]
		step = refty.request("POST", "/candidates/%s/steps" % cid, {"stage_id": seq["stages"][0]["id"]},
		                     {"Idempotency-Key": "k2"})
		save(out, "refty", "step-sent", step.body)
		save(out, "refty", "error-missing-email",
		     refty.request("POST", "/candidates/%s/steps" % cid, {"stage_id": "nope"},
		                   {"Idempotency-Key": "k3"}).body)
		save(out, "refty", "error-not-found", refty.request("GET", "/candidates/unknown").body)
		save(out, "refty", "error-unauthorised", refty.request("GET", "/sequences", auth=False).body)
		save(out, "refty", "error-validation", refty.request("POST", "/candidates", {"external_id": 5},
		                                                      {"Idempotency-Key": "k4"}).body)
		save(out, "refty", "proxy-page", "<html><body>502 Bad Gateway</body></html>")


def config_corpus(out):
	with open(os.path.join(ROOT, "examples", "refty-lever.conf"), encoding="utf-8") as f:
		example = f.read()
	save(out, "config", "example", example)
	save(out, "config", "minimal", """lever: { api_key = "k"; };
refty: { api_key_env = "REFTY_KEY"; };
rules = ( { name = "r"; jobs = ["*"]; sequence = "s"; stages = (); language = "en"; } );
""")
	save(out, "config", "oauth", """lever: {
	url = "http://127.0.0.1:8080/v1";
	oauth: { client_id = "c"; client_secret_file = "secret"; redirect_port = 9000; };
	confidential = true; requests_per_second = 2.5; burst = 3; max_in_flight = 4; max_pages = 10;
};
refty: { url = "https://api.refty.co/v1"; api_key_file = "/run/refty"; max_in_flight = 2; };
state = "state.db"; overlap = 600; max_actions = 10;
rules = (
	{ name = "a"; jobs = ["Senior Backend Engineer", "p-1"]; sequence = "Engineering references";
	  stages = ( { refty = "Self-assessment"; lever = "Phone screen"; },
	             { refty = "Reference check"; lever = "References"; } ); language = "de"; },
	{ name = "b"; jobs = "*"; sequence = "x"; stages = (); language = "en"; }
);
""")
	save(out, "config", "errors", """lever: { api_key = 5; url = "http://example.com"; burst = 0; oauth = 1; };
refty = "x";
unknown = 1;
rules = ( 1, { name = ""; jobs = []; stages = ( { refty = 1; } ); } );
""")
	save(out, "config", "syntax-error", "lever: { api_key = \"k\"\n")


def main():
	out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
	for target in ("lever", "refty", "oauth", "config"):
		shutil.rmtree(os.path.join(out, target), ignore_errors=True)
	lever_corpus(out)
	refty_corpus(out)
	config_corpus(out)
	for target in sorted(os.listdir(out)):
		files = os.listdir(os.path.join(out, target))
		size = sum(os.path.getsize(os.path.join(out, target, f)) for f in files)
		print("%s: %d files, %d bytes" % (target, len(files), size))


if __name__ == "__main__":
	main()
