/* The token endpoint's answer, after a code exchange or a refresh. */
#include <stdbool.h>

#include "fuzz.h"
#include "json.h"
#include "lever.h"
#include "log.h"
#include "oauth.h"

/* A fixed clock, so that an input means the same on every run. */
#define NOW 1700000000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lever_tokens t;
	struct json_error err;
	if (oauth_parse_token_response((const char *)data, size, NOW, &t, &err)) {
		FUZZ_CHECK(t.access_token && t.access_token[0]);
		FUZZ_CHECK(!t.refresh_token || t.refresh_token[0]);
		FUZZ_CHECK(t.expires_at >= NOW);
	} else {
		FUZZ_CHECK(!t.access_token && !t.refresh_token && !t.account && err.text[0]);
	}
	lever_tokens_finish(&t);
	return 0;
}
