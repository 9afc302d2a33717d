#ifndef REFTY_LEVER_NUMBER_H
#define REFTY_LEVER_NUMBER_H

#include <stdint.h>

/*
 * Whole numbers as operators type them, on the command line and in durations. One parser, so
 * that every option refuses the same things: empty strings, spaces, signs where none make
 * sense, trailing junk, and values that do not fit (never clamped, never wrapped). Pure: no
 * logging, no allocation; the caller words the error.
 */

enum number_status {
	NUMBER_OK,
	NUMBER_INVALID, /* not a decimal integer */
	NUMBER_RANGE,   /* an integer, but outside [min, max] (or outside int64_t) */
};

/**
 * Parses s, an optional '-' (only when min < 0) followed by decimal digits and nothing else,
 * into *out when it lies in [min, max]. *out is left alone unless NUMBER_OK.
 */
enum number_status number_parse(const char *s, int64_t min, int64_t max, int64_t *out);

/**
 * Reads the decimal digits at the start of *s into *out, advancing *s past them. NUMBER_INVALID
 * when there are none, NUMBER_RANGE when they exceed max (the digits are still consumed).
 */
enum number_status number_scan_digits(const char **s, int64_t max, int64_t *out);

#endif
