/* The signature token file: what serve reads (a token a line) and what list and delete read
 * (the comment naming each token's webhook), written and read back the same. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "webhook-store.h"
#include "webhooks-setup.h"

static void test_parse(void)
{
	struct webhook_store s;
	webhook_store_init(&s);
	webhook_store_parse(&s, "# a header\n"
				"\n"
				"# webhook w1 candidateStageChange https://h.example/lever\n"
				"  tok-one \r\n"
				"by-hand\n"
				"# webhook w2 candidateDeleted\n"
				"tok-two\n"
				"# webhook w3 applicationCreated https://h.example/lever\n"
				"# webhook w4 candidateDeleted https://h.example/lever\n"
				"tok-four\n");
	is_int(s.n, 4, "parse: every line that is neither blank nor a comment is a token");
	is_str(s.tokens[0].token, "tok-one", "parse: tokens are trimmed");
	is_str(s.tokens[0].id, "w1", "parse: the comment before a token names its webhook");
	is_str(s.tokens[0].event, "candidateStageChange", "parse: its event");
	is_str(s.tokens[0].url, "https://h.example/lever", "parse: its URL");
	ok(s.tokens[1].id == NULL && s.tokens[1].url == NULL,
		"parse: a token written by hand belongs to no webhook");
	ok(s.tokens[2].id == NULL, "parse: an incomplete comment names nothing");
	is_str(s.tokens[3].id, "w4", "parse: the last comment before a token is the one that counts");
	is_int(webhook_store_find(&s, "w4", NULL), 3, "find: by id");
	is_int(webhook_store_find(&s, "w9", "by-hand"), 1, "find: by the token's value");
	is_int(webhook_store_find(&s, "w3", NULL), -1, "find: a webhook without a stored token");
	webhook_store_remove(&s, 1);
	is_int(s.n, 3, "remove: one fewer");
	is_str(s.tokens[1].token, "tok-two", "remove: the rest keep their order");
	webhook_store_finish(&s);
	is_int(s.n, 0, "finish: empty");
}

static void test_round_trip(void)
{
	struct webhook_store s, back;
	webhook_store_init(&s);
	webhook_store_init(&back);
	webhook_store_add(&s, "w1", "candidateStageChange", "https://h.example/l", "t1");
	webhook_store_add(&s, NULL, NULL, NULL, "t2");
	struct strbuf text;
	webhook_store_format(&s, &text);
	ok(text.data[0] == '#', "format: starts with a comment saying what the file is");
	ok(strstr(text.data, "# webhook w1 candidateStageChange https://h.example/l\nt1\n") != NULL,
		"format: each token after the comment naming its webhook");
	ok(strstr(text.data, "\nt2\n") != NULL, "format: a token of no known webhook as it is");
	webhook_store_parse(&back, text.data);
	is_int(back.n, 2, "round trip: the same tokens");
	is_str(back.tokens[0].id, "w1", "round trip: the same webhook");
	ok(back.tokens[1].id == NULL, "round trip: no webhook invented");
	strbuf_finish(&text);
	webhook_store_finish(&s);
	webhook_store_finish(&back);
}

static void test_urls(void)
{
	ok(webhooks_url_problem("https://refty-lever.example.com/lever/webhook") == NULL,
		"url: https");
	ok(webhooks_url_problem("http://127.0.0.1:8722/lever/webhook") == NULL, "url: loopback http");
	ok(webhooks_url_problem("http://localhost/h") == NULL, "url: localhost http");
	ok(webhooks_url_problem("http://example.com/h") != NULL, "url: remote plain http refused");
	ok(webhooks_url_problem("ftp://example.com/h") != NULL, "url: another scheme refused");
	ok(webhooks_url_problem("https://") != NULL, "url: no host refused");
	ok(webhooks_url_problem("https://h.example/a b") != NULL,
		"url: a space refused (the token file's comment holds the URL)");
}

int main(void)
{
	test_parse();
	test_round_trip();
	test_urls();
	return tap_done();
}
