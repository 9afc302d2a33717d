#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_PER_SECOND INT64_C(1000)
#define MS_PER_DAY (INT64_C(86400) * MS_PER_SECOND)

int64_t timeutil_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t timeutil_monotonic_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double timeutil_monotonic_seconds(void)
{
	return (double)timeutil_monotonic_ns() / 1e9;
}

int64_t timeutil_monotonic_ms(void)
{
	return (int64_t)(timeutil_monotonic_ns() / 1000000u);
}

bool timeutil_ms_from_seconds(int64_t seconds, int64_t *out_ms)
{
	if (seconds > INT64_MAX / 1000 || seconds < INT64_MIN / 1000 + 1) {
		return false;
	}
	*out_ms = seconds * 1000;
	return true;
}

/* Days since 1970-01-01 of a civil date, without a time zone or mktime() in the way. */
static int64_t days_from_civil(int y, int m, int d)
{
	int yy = y - (m <= 2);
	int era = (yy >= 0 ? yy : yy - 399) / 400;
	int yoe = yy - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

static bool format_parts(int64_t ms, char *date, size_t size, int *millis)
{
	// Floor division, so times before 1970 still format sensibly.
	int64_t secs = ms / 1000;
	int64_t rem = ms % 1000;
	if (rem < 0) {
		rem += 1000;
		secs--;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		return false;
	}
	strftime(date, size, "%Y-%m-%dT%H:%M:%S", &tm);
	*millis = (int)rem;
	return true;
}

static char *format(int64_t ms, char *buf, size_t size, bool always_millis)
{
	if (size == 0) {
		return buf;
	}
	if (ms == TIMEUTIL_NONE) {
		snprintf(buf, size, "an unknown time");
		return buf;
	}
	char date[32];
	int millis = 0;
	if (!format_parts(ms, date, sizeof(date), &millis)) {
		snprintf(buf, size, "%lld ms", (long long)ms);
	} else if (millis || always_millis) {
		snprintf(buf, size, "%s.%03dZ", date, millis);
	} else {
		snprintf(buf, size, "%sZ", date);
	}
	return buf;
}

char *timeutil_format(int64_t ms, char *buf, size_t size)
{
	return format(ms, buf, size, false);
}

char *timeutil_format_ms(int64_t ms, char *buf, size_t size)
{
	return format(ms, buf, size, true);
}

/* Exactly n digits (at most n when up_to) at *s into *out. */
static bool digits(const char **s, int n, bool up_to, int *out)
{
	int v = 0, got = 0;
	for (; got < n && (*s)[got] >= '0' && (*s)[got] <= '9'; got++) {
		v = v * 10 + ((*s)[got] - '0');
	}
	if (got == 0 || (!up_to && got < n)) {
		return false;
	}
	*s += got;
	*out = v;
	return true;
}

static bool literal(const char **s, char c)
{
	if (**s != c) {
		return false;
	}
	(*s)++;
	return true;
}

/* "THH:MM:SS[.mmm]Z" after a date, as milliseconds into the day. */
static bool parse_clock(const char *s, int64_t *out)
{
	int h, mi, sec, ms = 0;
	if (!digits(&s, 2, false, &h) || !literal(&s, ':') || !digits(&s, 2, false, &mi) ||
		!literal(&s, ':') || !digits(&s, 2, false, &sec)) {
		return false;
	}
	if (literal(&s, '.') && !digits(&s, 3, false, &ms)) {
		return false;
	}
	if (!literal(&s, 'Z') || *s || h > 23 || mi > 59 || sec > 59) {
		return false;
	}
	*out = ((int64_t)h * 3600 + mi * 60 + sec) * MS_PER_SECOND + ms;
	return true;
}

bool timeutil_parse_time(const char *s, int64_t *out_ms)
{
	int y, m, d;
	// One- and two-digit months and days were always accepted ("2025-1-5").
	if (!digits(&s, 4, false, &y) || !literal(&s, '-') || !digits(&s, 2, true, &m) ||
		!literal(&s, '-') || !digits(&s, 2, true, &d)) {
		return false;
	}
	static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || m < 1 || m > 12 || d < 1) {
		return false;
	}
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > days_in[m - 1] + (m == 2 && leap)) {
		return false;
	}
	int64_t in_day = 0;
	if (*s && !(literal(&s, 'T') && parse_clock(s, &in_day))) {
		return false;
	}
	*out_ms = days_from_civil(y, m, d) * MS_PER_DAY + in_day;
	return true;
}

/* Largest first: the order a duration's parts must come in. */
static const struct {
	char unit;
	int64_t ms;
} units[] = {
	{'d', MS_PER_DAY},
	{'h', 3600 * MS_PER_SECOND},
	{'m', 60 * MS_PER_SECOND},
	{'s', MS_PER_SECOND},
};
#define N_UNITS (sizeof(units) / sizeof(units[0]))

enum number_status timeutil_parse_duration(const char *s, int64_t *out_ms)
{
	int64_t total = 0;
	bool over = false;
	size_t next = 0; // units must come largest first, each once
	const char *p = s;
	do {
		int64_t v = 0;
		enum number_status st = number_scan_digits(&p, INT64_MAX, &v);
		if (st == NUMBER_INVALID) {
			return NUMBER_INVALID;
		}
		over = over || st == NUMBER_RANGE;
		size_t u = next;
		if (*p == '\0' && p != s && next == 0 && total == 0) {
			u = N_UNITS - 1; // a plain integer: seconds
		} else {
			while (u < N_UNITS && units[u].unit != *p) {
				u++;
			}
			if (u == N_UNITS) {
				return NUMBER_INVALID;
			}
			p++;
		}
		if (!over && (v > INT64_MAX / units[u].ms || total > INT64_MAX - v * units[u].ms)) {
			over = true;
		}
		if (!over) {
			total += v * units[u].ms;
		}
		next = u + 1;
	} while (*p);
	if (over) {
		return NUMBER_RANGE;
	}
	*out_ms = total;
	return NUMBER_OK;
}

char *timeutil_format_duration(int64_t ms, char *buf, size_t size)
{
	if (size == 0) {
		return buf;
	}
	buf[0] = '\0';
	size_t len = 0;
	int64_t left = ms < 0 ? 0 : ms / MS_PER_SECOND * MS_PER_SECOND;
	for (size_t i = 0; i < N_UNITS; i++) {
		int64_t v = left / units[i].ms;
		bool last = i + 1 == N_UNITS;
		if (v == 0 && !(last && len == 0)) {
			continue;
		}
		left -= v * units[i].ms;
		int n = snprintf(buf + len, size - len, "%lld%c", (long long)v, units[i].unit);
		if (n < 0 || (size_t)n >= size - len) {
			break;
		}
		len += (size_t)n;
	}
	return buf;
}
