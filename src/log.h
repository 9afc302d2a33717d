#ifndef REFTY_LEVER_LOG_H
#define REFTY_LEVER_LOG_H

/*
 * Diagnostics on standard error, as text or JSON Lines, at the level -q/-v chose, with every
 * registered secret redacted and lines from threads kept whole. Everything the tool reports
 * goes through it (backfill's progress line and usage errors are not reports). It never
 * writes standard output (output.c and the commands do) and never exits.
 */

#include <stdbool.h>

enum log_level {
	LOG_QUIET = -1, /* nothing at all */
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,  /* default */
	LOG_DEBUG = 3, /* -v */
	LOG_TRACE = 4, /* -vv: every HTTP request */
};

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

void log_init(enum log_level level, enum log_format format);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/**
 * Registers a secret (copied) that must never reach the log: any occurrence in
 * a message is replaced by "[redacted]". Defence in depth; callers still must
 * not log secrets on purpose. Strings shorter than 4 bytes are ignored.
 */
void log_add_secret(const char *secret);
/** Forgets every registered secret. */
void log_finish(void);

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Each .c file defines LOG_MODULE before including this header. */
#ifndef LOG_MODULE
#define LOG_MODULE "main"
#endif

#define log_error(...) log_msg(LOG_ERROR, LOG_MODULE, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, LOG_MODULE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, LOG_MODULE, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, LOG_MODULE, __VA_ARGS__)
#define log_trace(...) log_msg(LOG_TRACE, LOG_MODULE, __VA_ARGS__)

/**
 * Copies s into a new string with control characters replaced by '?', for
 * printing text that came from a remote server. Caller frees.
 */
char *log_sanitize(const char *s);

#endif
