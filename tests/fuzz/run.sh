#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build directory and runs each one for
# SECONDS seconds, one after the other, from a scratch copy of its seed corpus (the committed
# corpus is never written to). Fails when any target finds a crash, a leak, undefined
# behaviour or a timeout; the input is kept under the work directory and named in the output.
#
#	bash tests/fuzz/run.sh SECONDS [TARGET...]
#
# Environment: FUZZ_BUILD (build directory, default build-fuzz), FUZZ_WORK (scratch directory,
# default a new one under ${TMPDIR:-/tmp}, kept when something was found), FUZZ_JOBS (ninja -j).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
	echo "usage: bash tests/fuzz/run.sh SECONDS [lever|refty|oauth|config...]" >&2
	exit 2
}
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
seconds=$1
shift
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(lever refty oauth config webhook)
for t in "${targets[@]}"; do
	[[ -d tests/fuzz/corpus/$t ]] || { echo "run.sh: no target '$t' (no tests/fuzz/corpus/$t)" >&2; exit 2; }
done

build=${FUZZ_BUILD:-build-fuzz}
if [[ ! -f $build/build.ninja ]]; then
	CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Dman-pages=disabled \
		-Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build" ${FUZZ_JOBS:+-j "$FUZZ_JOBS"} $(printf 'tests/fuzz/fuzz-%s ' "${targets[@]}") >/dev/null

work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/refty-lever-fuzz.XXXXXX")}
mkdir -p "$work"
failed=()
summary=()
for t in "${targets[@]}"; do
	rm -rf "$work/$t"
	mkdir -p "$work/$t/corpus" "$work/$t/findings"
	cp tests/fuzz/corpus/"$t"/* "$work/$t/corpus/"
	[[ -z $(ls -A tests/fuzz/regressions/"$t" 2>/dev/null) ]] ||
		cp tests/fuzz/regressions/"$t"/* "$work/$t/corpus/"
	echo "== fuzz-$t for ${seconds}s"
	rc=0
	# Leaks and undefined behaviour are findings too; a run that only finishes its time is not.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
	LSAN_OPTIONS=suppressions="$PWD/tests/fuzz/lsan.supp":print_suppressions=0 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$build/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/$t/findings/" \
		"$work/$t/corpus" >"$work/$t/log" 2>&1 || rc=$?
	stats=$(grep -E '^stat::number_of_executed_units' "$work/$t/log" | awk '{print $2}' || true)
	last=$(grep -E '#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$work/$t/log" | tail -n 1 || true)
	cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
	ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
	n=$(ls "$work/$t/corpus" | wc -l)
	finds=$(ls "$work/$t/findings")
	if [[ $rc -ne 0 || -n $finds ]]; then
		failed+=("$t")
		grep -E 'ERROR|SUMMARY|check failed|runtime error|Test unit written' "$work/$t/log" | head -n 20 || true
		echo "fuzz-$t: FAILED (exit $rc); log $work/$t/log, inputs in $work/$t/findings/"
	fi
	summary+=("$(printf '%-8s execs %-10s cov %-6s ft %-6s corpus %s' "$t" "${stats:-?}" "${cov:-?}" "${ft:-?}" "$n")")
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "run.sh: findings in: ${failed[*]}; replay one with $build/tests/fuzz/fuzz-TARGET FILE," \
		"then add it to tests/fuzz/regressions/TARGET/ with the fix" >&2
	exit 1
fi
[[ -n ${FUZZ_WORK:-} ]] || rm -rf "$work"
