#ifndef REFTY_LEVER_TAP_H
#define REFTY_LEVER_TAP_H

/* A minimal TAP producer for the unit tests (meson test protocol: 'tap'). */

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_count;
static int tap_failed;

static inline bool tap_ok(bool cond, const char *file, int line, const char *what)
{
	tap_count++;
	if (cond) {
		printf("ok %d - %s\n", tap_count, what);
	} else {
		tap_failed++;
		printf("not ok %d - %s\n# at %s:%d\n", tap_count, what, file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, what) tap_ok((cond), __FILE__, __LINE__, (what))
#define is_str(got, want, what)                                                                   \
	do {                                                                                      \
		const char *g_ = (got), *w_ = (want);                                             \
		bool same_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0);     \
		if (!tap_ok(same_, __FILE__, __LINE__, (what))) {                                 \
			printf("#   got:  '%s'\n#   want: '%s'\n", g_ ? g_ : "(null)",            \
				w_ ? w_ : "(null)");                                              \
		}                                                                                 \
	} while (0)
#define is_int(got, want, what)                                                                   \
	do {                                                                                      \
		long long g_ = (long long)(got), w_ = (long long)(want);                          \
		if (!tap_ok(g_ == w_, __FILE__, __LINE__, (what))) {                              \
			printf("#   got:  %lld\n#   want: %lld\n", g_, w_);                       \
		}                                                                                 \
	} while (0)

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
