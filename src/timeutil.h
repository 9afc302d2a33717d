#ifndef REFTY_LEVER_TIMEUTIL_H
#define REFTY_LEVER_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "number.h"

/*
 * Time, in one place: the clocks, the one way times are printed (RFC 3339, UTC) and the one
 * way operators write them (dates for --since, durations for --max-age).
 *
 * Times are milliseconds since the Unix epoch (int64_t) everywhere in the program; a
 * duration is a number of milliseconds. Only the two clock functions read the system; the
 * rest is pure. Nothing here logs, allocates or knows about time zones: everything is UTC.
 */

/** Real time: milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t timeutil_now_ms(void);
/** A clock for measuring intervals, unaffected by changes to the real-time clock. */
int64_t timeutil_monotonic_ms(void);
uint64_t timeutil_monotonic_ns(void);
/** The same clock in seconds, for intervals that are fractions (backoff, timeouts). */
double timeutil_monotonic_seconds(void);

/**
 * Seconds to milliseconds, for times kept in seconds by others (token files, Lever's
 * expires_in). False, *out_ms untouched, when the result would not fit in int64_t.
 */
bool timeutil_ms_from_seconds(int64_t seconds, int64_t *out_ms);

/** The time that stands for "none" (OPP_TIME_NONE): formatted as "an unknown time". */
#define TIMEUTIL_NONE INT64_MIN

/**
 * Formats ms as RFC 3339 in UTC into buf and returns buf: "2026-01-02T10:00:00Z", with
 * ".123" before the Z only when the milliseconds are not zero. TIMEUTIL_NONE gives
 * "an unknown time". 32 bytes hold any result.
 */
char *timeutil_format(int64_t ms, char *buf, size_t size);
/** The same, always with milliseconds: "2026-01-02T10:00:00.000Z" (log records). */
char *timeutil_format_ms(int64_t ms, char *buf, size_t size);

/**
 * Parses a date as YYYY-MM-DD (UTC midnight) or a UTC time as YYYY-MM-DDTHH:MM:SS[.mmm]Z,
 * years 1970 to 9999, into milliseconds since the epoch. False when s is neither or names a
 * day that does not exist.
 */
bool timeutil_parse_time(const char *s, int64_t *out_ms);

/**
 * Parses a duration: a sequence of <integer><unit> with units d, h, m and s, each at most once
 * and in that order ("1h30m", "90s", "2d", "1d12h"), or a plain integer of seconds ("90").
 * NUMBER_RANGE when the total exceeds INT64_MAX milliseconds; NUMBER_INVALID otherwise
 * when s is not a duration. The caller checks the total against its own range.
 */
enum number_status timeutil_parse_duration(const char *s, int64_t *out_ms);

/** Formats a duration in ms as the parser reads it, largest units first: "1h30m", "0s". */
char *timeutil_format_duration(int64_t ms, char *buf, size_t size);

#endif
