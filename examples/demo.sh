#!/usr/bin/env bash
# The whole job on one machine, with no account anywhere: starts the bundled
# Lever and Refty emulators with sample data, then walks through
#   sync --seed -> changes in Lever -> sync --dry-run -> sync -> status -> explain.
#
# Usage: examples/demo.sh            (after: meson setup build && ninja -C build)
#        REFTY_LEVER=/path/to/refty-lever examples/demo.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${REFTY_LEVER:-$top/build/cli/refty-lever}
emulators=$top/tests/emulator
if [ ! -x "$bin" ]; then
	echo "demo: no refty-lever at '$bin': run 'meson setup build && ninja -C build' first" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/refty-lever-demo.XXXXXX")
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

start() { # name args...
	local name=$1
	shift
	python3 "$emulators/$name.py" --port-file "$work/$name.port" "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do
		[ -s "$work/$name.port" ] && return 0
		sleep 0.1
	done
	echo "demo: the $name emulator did not start; its log:" >&2
	cat "$work/$name.log" >&2
	exit 4
}

step() {
	if [ -t 1 ]; then
		printf '\n\033[1m== %s\033[0m\n' "$*"
	else
		printf '\n== %s\n' "$*"
	fi
}

# Talks to an emulator's control interface (JSON in, JSON out).
control() { # name method path [json]
	python3 - "$(cat "$work/$1.port")" "$2" "$3" "${4:-}" <<'PY'
import json, sys, urllib.request
port, method, path, body = sys.argv[1:5]
req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                             data=body.encode() if body else None,
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    print(r.read().decode())
PY
}

id_of() { # the control interface's answer about one opportunity
	python3 -c 'import json,sys; print(json.loads(sys.argv[1])["data"]["id"])' "$1"
}

step "starting the Lever emulator (200 candidates) and the Refty emulator"
start lever --opportunities 200 --covered-fraction 0.25 --seed 7
start refty

cat >"$work/demo.conf" <<EOF
lever: {
  url = "http://127.0.0.1:$(cat "$work/lever.port")/v1";
  api_key_env = "DEMO_LEVER_KEY";
};
refty: {
  url = "http://127.0.0.1:$(cat "$work/refty.port")/v1";
  api_key_env = "DEMO_REFTY_KEY";
};
state = "$work/state/state.db";
rules = (
  {
    name = "engineering";
    jobs = [ "Senior Backend Engineer" ];
    sequence = "Engineering references";
    stages = (
      { refty = "Self-assessment"; lever = "Phone screen"; },
      { refty = "Reference check"; lever = "References"; }
    );
    language = "en";
  }
);
EOF
chmod 600 "$work/demo.conf"
export DEMO_LEVER_KEY=test-lever-key DEMO_REFTY_KEY=test-refty-key
rl() {
	echo "\$ refty-lever $*"
	"$bin" -c "$work/demo.conf" "$@"
}

step "check: the rules as refty-lever understands them, resolved against Lever and Refty"
rl check --online

step "sync --seed: the first run records the current state and sends nothing"
rl sync --seed

step "meanwhile in Lever: a new candidate applies, and another moves through the pipeline"
posting=$(rl lever postings --json | python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        p = json.loads(line)
        if p["name"] == "Senior Backend Engineer":
            print(p["id"])')
stage_id() {
	rl lever stages --json | python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        s = json.loads(line)
        if s["name"] == sys.argv[1]:
            print(s["id"])' "$1"
}
phone_screen=$(stage_id "Phone screen")
references=$(stage_id "References")
ada=$(control lever POST /_control/opportunities \
	"{\"name\": \"Ada Lovelace\", \"emails\": [\"ada@example.org\"], \"posting\": \"$posting\", \"stage\": \"applicant-new\"}")
ada_id=$(id_of "$ada")
grace=$(control lever POST /_control/opportunities \
	"{\"name\": \"Grace Hopper\", \"emails\": [\"grace@example.org\"], \"posting\": \"$posting\", \"stage\": \"applicant-new\"}")
grace_id=$(id_of "$grace")
echo "new candidates: Ada Lovelace ($ada_id), Grace Hopper ($grace_id)"
rl sync >/dev/null
control lever POST "/_control/opportunities/$grace_id/move" "{\"stage\": \"$phone_screen\"}" >/dev/null
control lever POST "/_control/opportunities/$grace_id/move" "{\"stage\": \"$references\"}" >/dev/null
echo "Grace Hopper moved to Phone screen, then to References"

step "sync --dry-run: the plan, with nothing changed anywhere"
rl sync --dry-run

step "sync: the same plan, performed exactly once"
rl sync

step "sync again: nothing new, nothing sent twice"
rl sync

step "status"
rl status

step "explain: why Grace Hopper got what she got"
rl explain "$grace_id"

step "what the Refty emulator received"
control refty GET /_control/summary
