/* Registered secrets never reach the log, in either format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "xalloc.h"

static char *capture_messages(enum log_format format, const char *secret, const char *message)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), STDERR_FILENO);
	log_init(LOG_TRACE, format);
	if (message) {
		log_error("%s", message);
	} else {
		log_trace("authorization 'Basic %s' sent", secret);
		log_error("cannot connect with key '%s%s': refused", secret, secret);
	}
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fseek(tmp, 0, SEEK_END);
	long n = ftell(tmp);
	rewind(tmp);
	char *buf = xcalloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, tmp) != (size_t)n) {
		buf[0] = '\0';
	}
	fclose(tmp);
	return buf;
}

static char *capture(enum log_format format, const char *secret)
{
	return capture_messages(format, secret, NULL);
}

/* Runs write with stderr on a temporary file; journal: JOURNAL_STREAM names that file. */
static char *capture_with(enum log_level level, enum log_format format, bool journal,
	void (*write)(const char *secret), const char *secret)
{
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	FILE *tmp = tmpfile();
	dup2(fileno(tmp), STDERR_FILENO);
	struct stat st;
	fstat(STDERR_FILENO, &st);
	char stream[64];
	snprintf(stream, sizeof(stream), "%llu:%llu", (unsigned long long)st.st_dev,
		(unsigned long long)st.st_ino);
	if (journal) {
		setenv("JOURNAL_STREAM", stream, 1);
	} else {
		unsetenv("JOURNAL_STREAM");
	}
	log_init(level, format);
	write(secret);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	fseek(tmp, 0, SEEK_END);
	long n = ftell(tmp);
	rewind(tmp);
	char *buf = xcalloc(1, (size_t)n + 1);
	if (fread(buf, 1, (size_t)n, tmp) != (size_t)n) {
		buf[0] = '\0';
	}
	fclose(tmp);
	return buf;
}

static void write_event(const char *secret)
{
	const struct log_count counts[] = {{"seen", 3}, {"failed", 1}};
	struct log_fields f = LOG_FIELDS_NONE;
	f.opportunity = "opp-1";
	f.key = "key-1";
	f.status = "failed";
	f.error = secret;
	f.exit_status = 3;
	f.duration_ms = 42;
	f.counts = counts;
	f.n_counts = 2;
	log_set_run(7);
	log_ev(LOG_WARN, "run_summary", &f, "sync: failed (exit 3)");
	log_set_run(0);
}

static void write_levels(const char *secret)
{
	log_error("an error");
	log_warn("a warning");
	log_info("some news");
	log_debug("a decision");
}

static void test_events(const char *secret)
{
	char *json = capture_with(LOG_INFO, LOG_FORMAT_JSON, false, write_event, secret);
	ok(strstr(json, "\"event\":\"run_summary\",\"module\":\"main\",\"run\":7,"
			"\"opportunity\":\"opp-1\",\"key\":\"key-1\",\"status\":\"failed\","
			"\"exit_status\":3,\"duration_ms\":42,\"counts\":{\"seen\":3,\"failed\":1},"
			"\"error\":\"[redacted]\",\"message\":\"sync: failed (exit 3)\"}\n") != NULL,
		"a JSON event carries its fields, with secrets redacted in them too");
	free(json);
	char *text = capture_with(LOG_INFO, LOG_FORMAT_TEXT, false, write_event, secret);
	ok(strstr(text, " refty-lever: warning: sync: failed (exit 3)\n") != NULL &&
			strstr(text, "opp-1") == NULL,
		"a text event is its readable message");
	ok(text[4] == '-' && text[10] == 'T' && text[23] == 'Z',
		"text lines off a terminal start with an RFC 3339 time");
	free(text);
}

static void test_journal(const char *secret)
{
	char *text = capture_with(LOG_DEBUG, LOG_FORMAT_TEXT, true, write_levels, secret);
	is_str(text,
		"<3>refty-lever: error: an error\n<4>refty-lever: warning: a warning\n"
		"<6>refty-lever: some news\n<7>refty-lever: debug: a decision\n",
		"to the journal: syslog priorities and no time");
	free(text);
}

static void write_errors(const char *secret)
{
	char longer[400];
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	log_warn("not an error");
	log_error("first: %s\x01 %s", secret, longer);
	log_error("second");
}

static void test_first_error(const char *secret)
{
	free(log_take_first_error());
	free(capture_with(LOG_QUIET, LOG_FORMAT_TEXT, false, write_errors, secret));
	char *first = log_take_first_error();
	ok(first && strncmp(first, "first: [redacted]? xxx", 22) == 0,
		"the first error is kept, redacted and sanitised, even when not shown");
	ok(first && strlen(first) == 200 && strcmp(first + 197, "...") == 0,
		"and cut to a summary's length");
	free(first);
	ok(log_take_first_error() == NULL, "taking it forgets it");
}

int main(void)
{
	const char *secret = "s3cr3t-lever-key-0a1b2c";
	log_add_secret(secret);
	char *text = capture(LOG_FORMAT_TEXT, secret);
	ok(strstr(text, secret) == NULL, "text log never shows the secret");
	ok(strstr(text, "[redacted]") != NULL, "text log marks the redaction");
	ok(strstr(text, "refty-lever: error: cannot connect") != NULL, "error line format");
	free(text);
	char *json = capture(LOG_FORMAT_JSON, secret);
	ok(strstr(json, secret) == NULL, "JSON log never shows the secret");
	ok(strstr(json, "\"level\":\"error\"") != NULL, "JSON lines carry the level");
	free(json);
	char *escaped = capture_messages(LOG_FORMAT_JSON, secret, "a \"b\" \\ c\nd\te\x01" "f");
	ok(strstr(escaped, "\"module\":\"main\",\"message\":\"a \\\"b\\\" \\\\ c\\nd\\te\\u0001f\"}\n")
			!= NULL,
		"JSON lines escape quotes, backslashes and control characters");
	free(escaped);

	test_events(secret);
	test_journal(secret);
	test_first_error(secret);

	char *clean = log_sanitize("evil\x1b[31mred\nline");
	is_str(clean, "evil?[31mred?line", "control characters are neutralised");
	free(clean);
	log_finish();
	return tap_done();
}
