#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonw.h"
#include "timeutil.h"
#include "xalloc.h"

static enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;
static char **secrets;
static size_t n_secrets;
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

void log_init(enum log_level level, enum log_format format)
{
	current_level = level;
	current_format = format;
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

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
	if (!log_enabled(level) || level < LOG_ERROR) {
		return;
	}
	struct strbuf msg;
	strbuf_init(&msg);
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	strbuf_puts(&msg, text);
	free(text);
	if (!msg.data) {
		strbuf_puts(&msg, "");
	}
	pthread_mutex_lock(&lock);
	redact(&msg);

	struct strbuf line;
	strbuf_init(&line);
	if (current_format == LOG_FORMAT_JSON) {
		char when[40];
		timeutil_format_ms(timeutil_now_ms(), when, sizeof(when));
		strbuf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"module\":", when,
			level_names[level]);
		jsonw_quote(&line, module);
		strbuf_puts(&line, ",\"message\":");
		jsonw_quote(&line, msg.data);
		strbuf_puts(&line, "}\n");
	} else if (level == LOG_INFO) {
		strbuf_printf(&line, "refty-lever: %s\n", msg.data);
	} else {
		strbuf_printf(&line, "refty-lever: %s: %s\n", level_names[level], msg.data);
	}
	fputs(line.data, stderr);
	fflush(stderr);
	pthread_mutex_unlock(&lock);
	strbuf_finish(&line);
	strbuf_finish(&msg);
}
