#include "number.h"

#include <stdbool.h>

enum number_status number_scan_digits(const char **s, int64_t max, int64_t *out)
{
	const char *p = *s;
	int64_t v = 0;
	bool over = false;
	for (; *p >= '0' && *p <= '9'; p++) {
		int d = *p - '0';
		if (over || v > (max - d) / 10) {
			over = true;
			continue;
		}
		v = v * 10 + d;
	}
	if (p == *s) {
		return NUMBER_INVALID;
	}
	*s = p;
	if (over) {
		return NUMBER_RANGE;
	}
	*out = v;
	return NUMBER_OK;
}

enum number_status number_parse(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool negative = s[0] == '-';
	if (negative && min >= 0) {
		// "-1" for a count is out of range, not gibberish: say what is accepted.
		const char *p = s + 1;
		int64_t ignored;
		enum number_status st = number_scan_digits(&p, INT64_MAX, &ignored);
		return st != NUMBER_INVALID && *p == '\0' ? NUMBER_RANGE : NUMBER_INVALID;
	}
	const char *p = negative ? s + 1 : s;
	// Scanning the magnitude against -(min + 1) + 1 would overflow for INT64_MIN; scan
	// against the larger of the two bounds' magnitudes, kept in int64_t by treating
	// INT64_MIN's magnitude as INT64_MAX and fixing up the one value that differs.
	int64_t limit = negative ? (min == INT64_MIN ? INT64_MAX : -min) : (max < 0 ? 0 : max);
	int64_t mag = 0;
	enum number_status st = number_scan_digits(&p, limit, &mag);
	if (st == NUMBER_INVALID || *p != '\0') {
		return NUMBER_INVALID;
	}
	if (st == NUMBER_RANGE) {
		if (negative && min == INT64_MIN && p - s == 20) {
			// Only "-9223372036854775808" itself: the magnitude one past INT64_MAX.
			const char *want = "-9223372036854775808";
			for (int i = 0; i < 20; i++) {
				if (s[i] != want[i]) {
					return NUMBER_RANGE;
				}
			}
			*out = INT64_MIN;
			return NUMBER_OK;
		}
		return NUMBER_RANGE;
	}
	int64_t v = negative ? -mag : mag;
	if (v < min || v > max) {
		return NUMBER_RANGE;
	}
	*out = v;
	return NUMBER_OK;
}
