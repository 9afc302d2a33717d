/*
 * Refty's answers: the pages of GET /sequences, GET /languages, the id of a created candidate
 * or sent step, and the error bodies whose text goes to the journal and the log.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "json.h"
#include "log.h"
#include "refty.h"
#include "rules.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20) {
			return false;
		}
	}
	return true;
}

static void sequences(struct json_object *root)
{
	struct catalog cat;
	catalog_init(&cat);
	const char *next = NULL;
	struct json_error err;
	if (refty_parse_sequences(root, &cat, &next, &err)) {
		for (size_t i = 0; i < cat.n_sequences; i++) {
			const struct refty_sequence *s = &cat.sequences[i];
			FUZZ_CHECK(s->id && s->name);
			for (size_t j = 0; j < s->n_stages; j++) {
				const char *type = s->stages[j].type;
				FUZZ_CHECK(strcmp(type, "self_assessment") == 0 ||
					   strcmp(type, "reference_check") == 0);
			}
		}
	} else {
		FUZZ_CHECK(err.text[0]);
	}
	catalog_finish(&cat);
}

static void languages(struct json_object *root)
{
	char **langs;
	size_t n;
	struct json_error err;
	if (refty_parse_languages(root, &langs, &n, &err)) {
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(json_utf8_valid(langs[i], strlen(langs[i])));
			free(langs[i]);
		}
		free(langs);
	} else {
		FUZZ_CHECK(!langs && n == 0 && err.text[0]);
	}
}

static void id(struct json_object *root)
{
	char *v;
	struct json_error err;
	if (refty_parse_id(root, &v, &err)) {
		FUZZ_CHECK(v);
	} else {
		FUZZ_CHECK(!v && err.text[0]);
	}
	free(v);
}

/* The statuses whose bodies the client reads; the text goes to the terminal, so it is clean. */
static void error_text(const char *body, size_t len)
{
	static const long statuses[] = {400, 404, 409, 422, 429, 500, 503};
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		char *code;
		char *text = refty_error_text("cannot create candidate", statuses[i], body, len, &code);
		FUZZ_CHECK(text && printable(text));
		FUZZ_CHECK(!code || printable(code));
		free(text);
		free(code);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	error_text(body, size);
	struct json_error err;
	struct json_object *root = json_parse(body, size, &err);
	if (!root) {
		return 0;
	}
	sequences(root);
	languages(root);
	id(root);
	json_free(root);
	return 0;
}
