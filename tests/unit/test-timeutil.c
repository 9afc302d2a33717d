/* The one place time is formatted and parsed, and the one integer parser (number.h). */
#include <stdint.h>
#include <string.h>

#include "number.h"
#include "opportunity.h"
#include "tap.h"
#include "timeutil.h"

static void test_format(void)
{
	char buf[48];
	is_str(timeutil_format(1767348000000, buf, sizeof(buf)), "2026-01-02T10:00:00Z",
		"format: whole seconds");
	is_str(timeutil_format(1767348000123, buf, sizeof(buf)), "2026-01-02T10:00:00.123Z",
		"format: milliseconds");
	is_str(timeutil_format(-1, buf, sizeof(buf)), "1969-12-31T23:59:59.999Z",
		"format: before the epoch");
	is_str(timeutil_format(OPP_TIME_NONE, buf, sizeof(buf)), "an unknown time",
		"format: the no-time sentinel of opportunities");
	is_str(timeutil_format_ms(1767348000000, buf, sizeof(buf)), "2026-01-02T10:00:00.000Z",
		"format_ms: always three digits (log records)");
	is_str(timeutil_format_ms(1767348000007, buf, sizeof(buf)), "2026-01-02T10:00:00.007Z",
		"format_ms: padded");
	char small[8];
	timeutil_format(1767348000000, small, sizeof(small));
	is_str(small, "2026-01", "format: truncated to the buffer, terminated");
}

static void test_parse_time(void)
{
	static const struct {
		const char *text;
		bool ok;
		int64_t ms;
		const char *what;
	} cases[] = {
		{"2026-01-02", true, 1767312000000, "a date is UTC midnight"},
		{"1970-01-01", true, 0, "the epoch"},
		{"2024-02-29", true, 1709164800000, "a leap day"},
		{"2026-1-2", true, 1767312000000, "one-digit month and day, as always accepted"},
		{"2026-01-02T10:00:00Z", true, 1767348000000, "a UTC time"},
		{"2026-01-02T10:00:00.123Z", true, 1767348000123, "a UTC time with milliseconds"},
		{"2023-02-29", false, 0, "not a leap year"},
		{"2026-13-01", false, 0, "month 13"},
		{"2026-04-31", false, 0, "April 31"},
		{"1969-12-31", false, 0, "before 1970"},
		{"2026-01-02x", false, 0, "trailing junk"},
		{"2026-01-02T10:00:00", false, 0, "a time without Z (no time zones)"},
		{"2026-01-02T10:00:00+01:00", false, 0, "an offset"},
		{"2026-01-02T24:00:00Z", false, 0, "hour 24"},
		{"2026-01-02T10:00:00.12Z", false, 0, "two digits of milliseconds"},
		{" 2026-01-02", false, 0, "a leading space"},
		{"20260102", false, 0, "no dashes"},
		{"", false, 0, "empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -42;
		bool ok_ = timeutil_parse_time(cases[i].text, &got);
		ok(ok_ == cases[i].ok, cases[i].what);
		if (cases[i].ok) {
			is_int(got, cases[i].ms, cases[i].what);
		} else {
			is_int(got, -42, "a refused time leaves the output alone");
		}
	}
}

static void test_duration(void)
{
	static const struct {
		const char *text;
		enum number_status st;
		int64_t ms;
		const char *what;
	} cases[] = {
		{"90", NUMBER_OK, 90000, "a plain integer is seconds"},
		{"90s", NUMBER_OK, 90000, "seconds"},
		{"15m", NUMBER_OK, 900000, "minutes"},
		{"2h", NUMBER_OK, 7200000, "hours"},
		{"2d", NUMBER_OK, 172800000, "days"},
		{"1h30m", NUMBER_OK, 5400000, "hours and minutes"},
		{"1d2h3m4s", NUMBER_OK, 93784000, "every unit"},
		{"0s", NUMBER_OK, 0, "zero (the caller's range refuses it)"},
		{"106751991167d", NUMBER_OK, INT64_C(106751991167) * 86400000, "the most days that fit"},
		{"200000000000d", NUMBER_RANGE, 0, "days that overflow"},
		{"99999999999999999999s", NUMBER_RANGE, 0, "digits that overflow"},
		{"106751991167d23h", NUMBER_RANGE, 0, "a sum that overflows"},
		{"30m1h", NUMBER_INVALID, 0, "units out of order"},
		{"1m1m", NUMBER_INVALID, 0, "a unit twice"},
		{"1h30", NUMBER_INVALID, 0, "a number without a unit after a unit"},
		{"1w", NUMBER_INVALID, 0, "an unknown unit"},
		{"-5m", NUMBER_INVALID, 0, "negative"},
		{"+5m", NUMBER_INVALID, 0, "a sign"},
		{"5 m", NUMBER_INVALID, 0, "a space"},
		{"m", NUMBER_INVALID, 0, "a unit without a number"},
		{"1.5h", NUMBER_INVALID, 0, "a fraction"},
		{"", NUMBER_INVALID, 0, "empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -42;
		enum number_status st = timeutil_parse_duration(cases[i].text, &got);
		is_int(st, cases[i].st, cases[i].what);
		is_int(got, cases[i].st == NUMBER_OK ? cases[i].ms : -42, cases[i].what);
	}
	char buf[40];
	is_str(timeutil_format_duration(5400000, buf, sizeof(buf)), "1h30m", "format: 1h30m");
	is_str(timeutil_format_duration(0, buf, sizeof(buf)), "0s", "format: zero");
	is_str(timeutil_format_duration(3650 * INT64_C(86400000), buf, sizeof(buf)), "3650d",
		"format: days");
	is_str(timeutil_format_duration(93784000, buf, sizeof(buf)), "1d2h3m4s", "format: all units");
}

static void test_seconds(void)
{
	int64_t ms = -42;
	ok(timeutil_ms_from_seconds(1900000000, &ms) && ms == INT64_C(1900000000000),
		"seconds to ms");
	ms = -42;
	ok(!timeutil_ms_from_seconds(INT64_MAX / 1000 + 1, &ms) && ms == -42,
		"seconds that do not fit are refused, not wrapped");
	ok(!timeutil_ms_from_seconds(INT64_MIN / 1000, &ms) && ms == -42, "nor negative ones");
}

static void test_clocks(void)
{
	int64_t real = timeutil_now_ms();
	ok(real > INT64_C(1767225600000), "real time is after 2026");
	int64_t a = timeutil_monotonic_ms();
	int64_t b = timeutil_monotonic_ms();
	ok(b >= a, "the monotonic clock does not go back");
	uint64_t n = timeutil_monotonic_ns();
	ok(n / 1000000u >= (uint64_t)a, "ns and ms are the same clock");
}

static void test_number(void)
{
	static const struct {
		const char *text;
		int64_t min, max;
		enum number_status st;
		int64_t v;
		const char *what;
	} cases[] = {
		{"0", 0, 10, NUMBER_OK, 0, "zero"},
		{"10", 0, 10, NUMBER_OK, 10, "the maximum"},
		{"007", 0, 10, NUMBER_OK, 7, "leading zeros"},
		{"11", 0, 10, NUMBER_RANGE, 0, "above the maximum"},
		{"0", 1, 10, NUMBER_RANGE, 0, "below the minimum"},
		{"-1", 0, 10, NUMBER_RANGE, 0, "negative for a count: out of range"},
		{"-5", -10, 10, NUMBER_OK, -5, "negative where allowed"},
		{"-11", -10, 10, NUMBER_RANGE, 0, "below a negative minimum"},
		{"99999999999999999999", 0, INT64_MAX, NUMBER_RANGE, 0, "more than int64_t: not clamped"},
		{"9223372036854775807", 0, INT64_MAX, NUMBER_OK, INT64_MAX, "INT64_MAX"},
		{"9223372036854775808", 0, INT64_MAX, NUMBER_RANGE, 0, "INT64_MAX + 1"},
		{"-9223372036854775808", INT64_MIN, 0, NUMBER_OK, INT64_MIN, "INT64_MIN"},
		{"-9223372036854775809", INT64_MIN, 0, NUMBER_RANGE, 0, "INT64_MIN - 1"},
		{"", 0, 10, NUMBER_INVALID, 0, "empty"},
		{"-", -10, 10, NUMBER_INVALID, 0, "a sign alone"},
		{"+5", 0, 10, NUMBER_INVALID, 0, "a plus sign"},
		{" 5", 0, 10, NUMBER_INVALID, 0, "a leading space"},
		{"5 ", 0, 10, NUMBER_INVALID, 0, "a trailing space"},
		{"5x", 0, 10, NUMBER_INVALID, 0, "trailing junk"},
		{"0x10", 0, 100, NUMBER_INVALID, 0, "hexadecimal"},
		{"1e3", 0, 10000, NUMBER_INVALID, 0, "an exponent"},
		{"-x", 0, 10, NUMBER_INVALID, 0, "a sign and junk for a count"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t got = -42;
		enum number_status st = number_parse(cases[i].text, cases[i].min, cases[i].max, &got);
		is_int(st, cases[i].st, cases[i].what);
		is_int(got, cases[i].st == NUMBER_OK ? cases[i].v : -42, cases[i].what);
	}
}

int main(void)
{
	test_format();
	test_parse_time();
	test_duration();
	test_seconds();
	test_clocks();
	test_number();
	return tap_done();
}
