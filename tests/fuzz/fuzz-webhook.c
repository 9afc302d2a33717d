/* A webhook delivery's body, judged as the receiver judges it. */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "webhook.h"

/* A fixed clock and tokens, so that an input means the same on every run. */
#define NOW 1767225600000LL
#define MAX_AGE 300000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tokens[] = {"sig-token-one", "another-event-token"};
	struct webhook_replay *replay = webhook_replay_create();
	struct webhook_delivery d;
	struct json_error err;
	enum webhook_verdict v = webhook_judge((const char *)data, size, tokens, 2, replay, NOW,
		MAX_AGE, &d, &err);
	if (v == WEBHOOK_OK) {
		FUZZ_CHECK(d.token && d.signature);
		FUZZ_CHECK(d.triggered_at >= NOW - MAX_AGE && d.triggered_at <= NOW + WEBHOOK_MAX_SKEW_MS);
		FUZZ_CHECK(webhook_signed_by(&d, tokens, 2));
		const char *opp = webhook_opportunity(&d);
		FUZZ_CHECK(!opp || opp[0]);
		// Accepted once, refused the second time.
		struct webhook_delivery again;
		FUZZ_CHECK(webhook_judge((const char *)data, size, tokens, 2, replay, NOW, MAX_AGE,
				   &again, NULL) == WEBHOOK_REPLAYED);
		FUZZ_CHECK(!again.token);
		webhook_delivery_finish(&d);
	} else {
		FUZZ_CHECK(!d.token && !d.signature && !d.event && !d.opportunity_id);
		FUZZ_CHECK(webhook_http_status(v) == 400 || webhook_http_status(v) == 401);
	}
	webhook_replay_destroy(replay);
	return 0;
}
