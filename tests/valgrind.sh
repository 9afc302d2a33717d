#!/bin/sh
# The exe_wrapper of 'meson test --setup valgrind': runs a test program under memcheck with its
# errors and definite leaks fatal. meson wraps every test, the Python drivers of the
# integration suite too; those are not worth checking (and would take minutes), so they run
# as they are, with $REFTY_LEVER pointing back at this script, which then runs the real binary
# under memcheck each time a test starts it. The binary's runs fail with status 125, because 1
# is one of its own exit statuses (partial) that tests expect.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
memcheck() {
	code=$1
	shift
	exec valgrind --quiet --error-exitcode="$code" --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--suppressions="$here/valgrind.supp" "$@"
}
if [ -n "${REFTY_LEVER_UNWRAPPED:-}" ]; then
	memcheck 125 "$REFTY_LEVER_UNWRAPPED" "$@"
fi
case $(basename "$1") in
python*)
	if [ -n "${REFTY_LEVER:-}" ]; then
		REFTY_LEVER_UNWRAPPED=$REFTY_LEVER
		REFTY_LEVER=$here/valgrind.sh
		export REFTY_LEVER REFTY_LEVER_UNWRAPPED
	fi
	exec "$@"
	;;
esac
memcheck 1 "$@"
