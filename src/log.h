#ifndef REFTY_LEVER_LOG_H
#define REFTY_LEVER_LOG_H

/*
 * Diagnostics on standard error, as text or JSON Lines, at the level -q/-v chose, with every
 * registered secret redacted and lines from threads kept whole. Everything the tool reports
 * goes through it (backfill's progress line and usage errors are not reports). It never
 * writes standard output (output.c and the commands do) and never exits.
 *
 * Every line is an event: log_msg's lines are the event "message", and the engine names its
 * events (run_start, action_done, run_summary, ...: the vocabulary is in the man page,
 * LOGGING) with fields that the JSON format writes as keys of their own and the text format
 * leaves to the readable message. Text lines start with an RFC 3339 time when standard error
 * is neither a terminal nor the systemd journal; to the journal (JOURNAL_STREAM names the
 * very stream standard error is) they start with a syslog priority, <3> to <7>, and no time,
 * since the journal keeps its own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/** Sets the level and the format, and looks at what standard error is (see above). */
void log_init(enum log_level level, enum log_format format);
enum log_format log_get_format(void);
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
#define log_ev(level, event, fields, ...) log_event(level, LOG_MODULE, event, fields, __VA_ARGS__)

/* The fields an event may carry besides its message; NULL strings and negative numbers are
 * left out. Strings are borrowed for the call. */
struct log_count {
	const char *name;
	int64_t value;
};

struct log_fields {
	const char *opportunity;
	const char *rule;
	const char *action;
	const char *key;
	const char *status; /* an action's outcome, or a run's "done", "partial" or "failed" */
	const char *error;
	int64_t duration_ms;      /* -1: none */
	int exit_status;          /* -1: none */
	const struct log_count *counts; /* run_summary: the run's counts, under "counts" */
	size_t n_counts;
};
#define LOG_FIELDS_NONE ((struct log_fields){.duration_ms = -1, .exit_status = -1})

/**
 * Writes one event: its name (a fixed vocabulary, see above), its fields (f may be NULL) and
 * a readable message, which is all the text format shows.
 */
void log_event(enum log_level level, const char *module, const char *event,
	const struct log_fields *f, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/** The run id the events carry as "run" from now on; 0 for none. */
void log_set_run(int64_t run_id);

/**
 * The first error logged since the last call to log_take_first_error, as a new string (redacted,
 * sanitised, at most about 200 bytes), or NULL when none was; it forgets it. For a run's summary,
 * when nothing more precise is known of what stopped it. Caller frees.
 */
char *log_take_first_error(void);

/**
 * Copies s into a new string with control characters replaced by '?', for
 * printing text that came from a remote server. Caller frees.
 */
char *log_sanitize(const char *s);

/**
 * log_sanitize(s), cut to fit one line of a run's summary (at most 200 bytes, "..." at the cut,
 * which falls on a character boundary). Caller frees.
 */
char *log_summary_text(const char *s);

#endif
