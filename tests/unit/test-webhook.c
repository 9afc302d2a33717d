/* Webhook deliveries: HMAC, the envelope, signatures, age, replays, what a delivery asks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"
#include "json.h"
#include "tap.h"
#include "webhook.h"

#define TOKEN "5a8ef0b8c2f44d6c9e3f1a7b2d4c6e8f0a1b3c5d7e9f1a2b"
#define AT 1767225600000LL
/* hex(HMAC-SHA256("sig-token-one", TOKEN "1767225600000")), computed independently. */
#define SIGNATURE "8e781609177b2a2b3345c3d31314ecf7fe1ab12e8d57e32ec9b9f373497c333b"

static char *envelope(const char *event, const char *token, long long at, const char *signature,
	const char *data)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	fprintf(f, "{\"triggeredAt\":%lld,\"event\":\"%s\",\"token\":\"%s\",\"signature\":\"%s\","
		   "\"data\":%s}",
		at, event, token, signature, data);
	fclose(f);
	return s;
}

static enum webhook_verdict judge(const char *body, struct webhook_replay *r, long long now,
	struct webhook_delivery *d)
{
	static const char *const tokens[] = {"another-event-token", "sig-token-one"};
	return webhook_judge(body, strlen(body), tokens, 2, r, now, 300000, d, NULL);
}

int main(void)
{
	char mac[HMAC_SHA256_HEX_LEN + 1];
	ok(hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, mac), "hmac computes");
	is_str(mac, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		"hmac: RFC 4231 test case 2");
	ok(hmac_equal("abc", "abc", 3) && !hmac_equal("abc", "abd", 3), "constant-time compare");

	struct webhook_replay *r = webhook_replay_create();
	struct webhook_delivery d;
	const char *stage = "{\"opportunityId\":\"opp-1\",\"toStageId\":\"st-2\"}";
	char *good = envelope("candidateStageChange", TOKEN, AT, SIGNATURE, stage);
	is_int(judge(good, r, AT + 1000, &d), WEBHOOK_OK, "signed by the second token: accepted");
	is_str(webhook_opportunity(&d), "opp-1", "a stage change asks for its opportunity");
	webhook_delivery_finish(&d);
	is_int(judge(good, r, AT + 2000, &d), WEBHOOK_REPLAYED, "the same delivery again: replay");
	is_int(webhook_http_status(WEBHOOK_REPLAYED), 401, "a replay is answered 401");
	webhook_replay_destroy(r);

	r = webhook_replay_create();
	is_int(judge(good, r, AT + 300001, &d), WEBHOOK_STALE, "older than max_age: stale");
	is_int(judge(good, r, AT - 60001, &d), WEBHOOK_STALE, "more than a minute ahead: stale");
	is_int(judge(good, r, AT - 59000, &d), WEBHOOK_OK, "less than a minute ahead: accepted");
	webhook_delivery_finish(&d);
	is_int(judge(good, r, AT + 300000 + 300001, &d), WEBHOOK_STALE,
		"stale again once its token is forgotten");
	free(good);

	char *upper = envelope("candidateStageChange", TOKEN, AT,
		"8E781609177B2A2B3345C3D31314ECF7FE1AB12E8D57E32EC9B9F373497C333B", stage);
	webhook_replay_destroy(r);
	r = webhook_replay_create();
	is_int(judge(upper, r, AT, &d), WEBHOOK_OK, "an uppercase signature is the same");
	webhook_delivery_finish(&d);
	free(upper);

	struct {
		const char *what;
		char *body;
		enum webhook_verdict want;
	} bad[] = {
		{"another triggeredAt than signed",
			envelope("candidateStageChange", TOKEN, AT + 1, SIGNATURE, stage),
			WEBHOOK_BAD_SIGNATURE},
		{"another token than signed",
			envelope("candidateStageChange", TOKEN "x", AT, SIGNATURE, stage),
			WEBHOOK_BAD_SIGNATURE},
		{"a truncated signature",
			envelope("candidateStageChange", TOKEN, AT, "8e781609", stage),
			WEBHOOK_BAD_SIGNATURE},
		{"no signature", strdup("{\"triggeredAt\":1,\"token\":\"t\",\"data\":{}}"),
			WEBHOOK_MALFORMED},
		{"no token", strdup("{\"triggeredAt\":1,\"signature\":\"s\"}"), WEBHOOK_MALFORMED},
		{"triggeredAt as a string",
			strdup("{\"triggeredAt\":\"1\",\"token\":\"t\",\"signature\":\"s\"}"),
			WEBHOOK_MALFORMED},
		{"not JSON", strdup("token=t&signature=s"), WEBHOOK_MALFORMED},
		{"an array", strdup("[1,2]"), WEBHOOK_MALFORMED},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		is_int(judge(bad[i].body, r, AT, &d), bad[i].want, bad[i].what);
		free(bad[i].body);
	}
	is_int(webhook_http_status(WEBHOOK_MALFORMED), 400, "malformed is answered 400");
	is_int(webhook_http_status(WEBHOOK_BAD_SIGNATURE), 401, "a bad signature is answered 401");

	struct json_error err;
	char *ping = strdup("{\"triggeredAt\":1,\"event\":\"candidateHired\",\"token\":\"t\","
			    "\"signature\":\"s\",\"data\":{}}");
	ok(webhook_parse(ping, strlen(ping), &d, &err), "Lever's test ping reads");
	ok(webhook_opportunity(&d) == NULL, "the test ping asks for nothing");
	webhook_delivery_finish(&d);
	free(ping);
	const char *events[] = {"applicationCreated", "candidateArchiveChange", "candidateDeleted",
		"contactUpdated"};
	for (size_t i = 0; i < 4; i++) {
		char *body = envelope(events[i], "t", 1, "s", "{\"candidateId\":\"opp-9\"}");
		ok(webhook_parse(body, strlen(body), &d, &err), events[i]);
		const char *id = webhook_opportunity(&d);
		char what[96];
		snprintf(what, sizeof(what), "%s %s", events[i], i < 3 ? "asks (legacy id)" : "is ignored");
		ok(i < 3 ? id && strcmp(id, "opp-9") == 0 : id == NULL, what);
		webhook_delivery_finish(&d);
		free(body);
	}
	webhook_replay_destroy(r);
	return tap_done();
}
