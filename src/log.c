#include "log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jsonw.h"
#include "timeutil.h"
#include "xalloc.h"

static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;
static char **secrets;
static size_t n_secrets;
/* The first error of a run, for its summary (guarded by lock). */
static char *first_error;
/* Guards the secrets and keeps lines from threads whole. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
	[LOG_TRACE] = "trace",
};
// A level added to enum log_level needs its name here.
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) == LOG_TRACE + 1,
	"level_names must name every log level");

/* What standard error is: it decides the prefix of text lines. */
enum stderr_kind {
	STDERR_FILE,     /* a file or a pipe (cron's mail, '2>>log'): a time on every line */
	STDERR_TERMINAL, /* a person watching: no time */
	STDERR_JOURNAL,  /* systemd's journal stream: a priority, and the journal's own time */
};
static enum stderr_kind stderr_kind = STDERR_FILE;

/* systemd sets JOURNAL_STREAM to "device:inode" of the stream it connects standard output and
 * error to; a child whose stderr was redirected since inherits the variable but not the
 * stream, hence the comparison. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char tail;
	if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2) {
		return false;
	}
	struct stat st;
	return fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level, enum log_format format)
{
	current_level = level;
	current_format = format;
	stderr_kind = stderr_is_journal()   ? STDERR_JOURNAL
		      : isatty(STDERR_FILENO) ? STDERR_TERMINAL
					      : STDERR_FILE;
}

enum log_format log_get_format(void)
{
	return current_format;
}

enum log_level log_get_level(void)
{
	return current_level;
}

bool log_enabled(enum log_level level)
{
	return level <= current_level;
}

void log_add_secret(const char *secret)
{
	if (!secret || strlen(secret) < 4) {
		return;
	}
	pthread_mutex_lock(&lock);
	bool known = false;
	for (size_t i = 0; i < n_secrets && !known; i++) {
		known = strcmp(secrets[i], secret) == 0;
	}
	if (!known) {
		secrets = xrealloc(secrets, (n_secrets + 1) * sizeof(*secrets));
		secrets[n_secrets++] = xstrdup(secret);
	}
	pthread_mutex_unlock(&lock);
}

void log_finish(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_secrets; i++) {
		memset(secrets[i], 0, strlen(secrets[i]));
		free(secrets[i]);
	}
	free(secrets);
	secrets = NULL;
	n_secrets = 0;
	free(first_error);
	first_error = NULL;
	pthread_mutex_unlock(&lock);
}

char *log_sanitize(const char *s)
{
	if (!s) {
		return xstrdup("(null)");
	}
	char *out = xstrdup(s);
	for (unsigned char *p = (unsigned char *)out; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			*p = '?';
		}
	}
	return out;
}

char *log_summary_text(const char *s)
{
	char *text = log_sanitize(s);
	if (strlen(text) > 200) {
		size_t cut = 197;
		while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80) {
			cut--;
		}
		memcpy(text + cut, "...", 4);
	}
	return text;
}

static void redact(struct strbuf *msg)
{
	for (size_t i = 0; i < n_secrets; i++) {
		const char *needle = secrets[i];
		size_t nlen = strlen(needle);
		char *hit;
		while ((hit = strstr(msg->data, needle))) {
			struct strbuf out;
			strbuf_init(&out);
			strbuf_append(&out, msg->data, (size_t)(hit - msg->data));
			strbuf_puts(&out, "[redacted]");
			strbuf_puts(&out, hit + nlen);
			strbuf_finish(msg);
			*msg = out;
		}
	}
}

static _Atomic int64_t current_run;

void log_set_run(int64_t run_id)
{
	current_run = run_id;
}

char *log_take_first_error(void)
{
	pthread_mutex_lock(&lock);
	char *e = first_error;
	first_error = NULL;
	pthread_mutex_unlock(&lock);
	return e;
}

/* A copy of s with the secrets redacted (lock held). */
static char *redacted(const char *s)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, s ? s : "");
	redact(&b);
	return b.data;
}

static void json_field(struct strbuf *line, const char *key, const char *value)
{
	if (!value) {
		return;
	}
	char *clean = redacted(value);
	strbuf_printf(line, ",\"%s\":", key);
	jsonw_quote(line, clean);
	free(clean);
}

static void json_line(struct strbuf *line, enum log_level level, const char *module,
	const char *event, const struct log_fields *f, const char *msg)
{
	char when[40];
	timeutil_format_ms(timeutil_now_ms(), when, sizeof(when));
	strbuf_printf(line, "{\"time\":\"%s\",\"level\":\"%s\",\"event\":", when, level_names[level]);
	jsonw_quote(line, event);
	strbuf_puts(line, ",\"module\":");
	jsonw_quote(line, module);
	int64_t run = current_run;
	if (run > 0) {
		strbuf_printf(line, ",\"run\":%" PRId64, run);
	}
	if (f) {
		json_field(line, "opportunity", f->opportunity);
		json_field(line, "rule", f->rule);
		json_field(line, "action", f->action);
		json_field(line, "key", f->key);
		json_field(line, "status", f->status);
		if (f->exit_status >= 0) {
			strbuf_printf(line, ",\"exit_status\":%d", f->exit_status);
		}
		if (f->duration_ms >= 0) {
			strbuf_printf(line, ",\"duration_ms\":%" PRId64, f->duration_ms);
		}
		for (size_t i = 0; i < f->n_counts; i++) {
			strbuf_printf(line, "%s\"%s\":%" PRId64, i ? "," : ",\"counts\":{",
				f->counts[i].name, f->counts[i].value);
		}
		if (f->n_counts) {
			strbuf_puts(line, "}");
		}
		json_field(line, "error", f->error);
	}
	strbuf_puts(line, ",\"message\":");
	jsonw_quote(line, msg);
	strbuf_puts(line, "}\n");
}

/* syslog priorities, as the journal reads them at the start of a line (sd-daemon.h). */
static const char *const priorities[] = {
	[LOG_ERROR] = "<3>",
	[LOG_WARN] = "<4>",
	[LOG_INFO] = "<6>",
	[LOG_DEBUG] = "<7>",
	[LOG_TRACE] = "<7>",
};

static void text_line(struct strbuf *line, enum log_level level, const char *msg)
{
	if (stderr_kind == STDERR_JOURNAL) {
		strbuf_puts(line, priorities[level]);
	} else if (stderr_kind == STDERR_FILE) {
		char when[40];
		strbuf_printf(line, "%s ", timeutil_format_ms(timeutil_now_ms(), when, sizeof(when)));
	}
	if (level == LOG_INFO) {
		strbuf_printf(line, "refty-lever: %s\n", msg);
	} else {
		strbuf_printf(line, "refty-lever: %s: %s\n", level_names[level], msg);
	}
}

static void keep_first_error(const char *msg)
{
	if (first_error) {
		return;
	}
	first_error = log_summary_text(msg);
}

static void emit(enum log_level level, const char *module, const char *event,
	const struct log_fields *f, const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void emit(enum log_level level, const char *module, const char *event,
	const struct log_fields *f, const char *fmt, va_list ap)
{
	char *text = xvasprintf(fmt, ap);
	pthread_mutex_lock(&lock);
	char *msg = redacted(text);
	free(text);
	if (level == LOG_ERROR) {
		keep_first_error(f && f->error ? f->error : msg);
	}
	if (!log_enabled(level) || level < LOG_ERROR) {
		pthread_mutex_unlock(&lock);
		free(msg);
		return;
	}
	struct strbuf line;
	strbuf_init(&line);
	if (current_format == LOG_FORMAT_JSON) {
		json_line(&line, level, module, event, f, msg);
	} else {
		text_line(&line, level, msg);
	}
	fputs(line.data, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&lock);
	strbuf_finish(&line);
	free(msg);
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, module, "message", NULL, fmt, ap);
	va_end(ap);
}

void log_event(enum log_level level, const char *module, const char *event,
	const struct log_fields *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(level, module, event, f, fmt, ap);
	va_end(ap);
}
