/* Numeric arguments, parsed and reported the same way by every command. */
#include <inttypes.h>

#include "cli.h"
#include "exitcode.h"
#include "number.h"
#include "timeutil.h"

int cli_parse_int(const struct cli_command *cmd, const char *name, const char *value, int64_t min,
	int64_t max, int64_t *out)
{
	switch (number_parse(value, min, max, out)) {
	case NUMBER_OK:
		return EXIT_OK;
	case NUMBER_RANGE:
		return cli_usage_error(cmd, "%s: value '%s' is out of range %" PRId64 "..%" PRId64, name,
			value, min, max);
	case NUMBER_INVALID:
		break;
	}
	return cli_usage_error(cmd, "%s: expected a whole number in %" PRId64 "..%" PRId64 ", got '%s'",
		name, min, max, value);
}

int cli_parse_duration(const struct cli_command *cmd, const char *name, const char *value,
	int64_t min_ms, int64_t max_ms, int64_t *out_ms)
{
	char lo[32], hi[32];
	timeutil_format_duration(min_ms, lo, sizeof(lo));
	timeutil_format_duration(max_ms, hi, sizeof(hi));
	int64_t ms = 0;
	enum number_status st = timeutil_parse_duration(value, &ms);
	if (st == NUMBER_OK && (ms < min_ms || ms > max_ms)) {
		st = NUMBER_RANGE;
	}
	switch (st) {
	case NUMBER_OK:
		*out_ms = ms;
		return EXIT_OK;
	case NUMBER_RANGE:
		return cli_usage_error(cmd, "%s: value '%s' is out of range %s..%s", name, value, lo, hi);
	case NUMBER_INVALID:
		break;
	}
	return cli_usage_error(cmd,
		"%s: expected a duration in %s..%s such as 90s, 15m, 1h30m or 2d, got '%s'", name, lo,
		hi, value);
}
