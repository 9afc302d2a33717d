/* Registered secrets never reach the log, in either format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	char *clean = log_sanitize("evil\x1b[31mred\nline");
	is_str(clean, "evil?[31mred?line", "control characters are neutralised");
	free(clean);
	log_finish();
	return tap_done();
}
