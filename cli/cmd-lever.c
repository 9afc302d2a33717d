#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "exitcode.h"
#include "jsonw.h"
#include "lever.h"
#include "log.h"
#include "refty.h"
#include "rules.h"

/* Prints one id/name row as text or as a JSON line; text starts with a header
 * (only once there is something to show, so a failure prints none). */
static void row(bool json, const char *id, const char *name, const char *extra_key,
	const char *extra)
{
	static bool header;
	if (!json && !header) {
		header = true;
		if (extra_key) {
			printf("%-38s %-10s %s\n", "ID", "STATE", "TITLE");
		} else {
			printf("%-38s %s\n", "ID", "NAME");
		}
	}
	if (json) {
		struct strbuf out;
		struct jsonw w;
		jsonw_line_begin(&w, &out);
		jsonw_kv_string(&w, "id", id);
		jsonw_kv_string(&w, "name", name);
		if (extra_key) {
			jsonw_kv_string(&w, extra_key, extra);
		}
		jsonw_line_end(&w, stdout);
		return;
	}
	char *clean = log_sanitize(name);
	if (extra_key) {
		printf("%-38s %-10s %s\n", id, extra ? extra : "-", clean);
	} else {
		printf("%-38s %s\n", id, clean);
	}
	free(clean);
}

static bool on_stage(void *ud, const struct lever_stage *s)
{
	row(*(bool *)ud, s->id, s->text, NULL, NULL);
	return true;
}

static bool on_posting(void *ud, const struct lever_posting *p)
{
	row(*(bool *)ud, p->id, p->text, "state", p->state);
	return true;
}

/* Parses "WHAT [--json]" for the lever and refty listing commands. */
static int parse(const struct cli_command *self, int argc, char **argv, bool *json,
	const char **what)
{
	static const struct option options[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'j':
			*json = true;
			break;
		case 'h':
			cli_print_command_help(self);
			return -1;
		default:
			return cli_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc) {
		return cli_usage_error(self, "expected one of: %s", self->synopsis);
	}
	*what = argv[optind];
	return EXIT_OK;
}

int cmd_lever(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	bool json = false;
	const char *what = NULL;
	int rc = parse(self, argc, argv, &json, &what);
	if (rc != EXIT_OK) {
		return rc < 0 ? EXIT_OK : rc;
	}
	bool stages = strcmp(what, "stages") == 0;
	if (!stages && strcmp(what, "postings") != 0) {
		return cli_usage_error(self, "unknown listing '%s': expected 'stages' or 'postings'", what);
	}
	rc = cli_open(ctx);
	if (rc == EXIT_OK) {
		struct lever_client *lever = ctx->app.lever;
		int ls = stages ? lever_list_stages(lever, on_stage, &json)
				: lever_list_postings(lever, on_posting, &json);
		rc = app_lever_exit(ls);
	}
	return rc;
}

/* The languages Refty can send steps in: what a rule's 'language' may name. */
static int list_languages(struct refty_client *refty, bool json)
{
	char **langs = NULL;
	size_t n = 0;
	struct refty_result res;
	refty_result_init(&res);
	bool ok = refty_list_languages(refty, &langs, &n, &res); // a failure is logged there
	refty_result_finish(&res);
	for (size_t i = 0; i < n; i++) {
		if (json) {
			struct strbuf out;
			struct jsonw w;
			jsonw_line_begin(&w, &out);
			jsonw_kv_string(&w, "language", langs[i]);
			jsonw_line_end(&w, stdout);
		} else {
			char *clean = log_sanitize(langs[i]);
			printf("%s\n", clean);
			free(clean);
		}
		free(langs[i]);
	}
	free(langs);
	return ok ? EXIT_OK : EXIT_REMOTE;
}

int cmd_refty(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	bool json = false;
	const char *what = NULL;
	int rc = parse(self, argc, argv, &json, &what);
	if (rc != EXIT_OK) {
		return rc < 0 ? EXIT_OK : rc;
	}
	bool languages = strcmp(what, "languages") == 0;
	if (!languages && strcmp(what, "sequences") != 0) {
		return cli_usage_error(self, "unknown listing '%s': expected 'sequences' or 'languages'",
			what);
	}
	rc = cli_open(ctx);
	if (languages) {
		return rc == EXIT_OK ? list_languages(ctx->app.refty, json) : rc;
	}
	struct catalog cat;
	catalog_init(&cat);
	if (rc == EXIT_OK) {
		struct refty_result res;
		refty_result_init(&res);
		if (!refty_list_sequences(ctx->app.refty, &cat, &res)) {
			rc = EXIT_REMOTE; // logged by the Refty client
		}
		refty_result_finish(&res);
	}
	for (size_t i = 0; rc == EXIT_OK && i < cat.n_sequences; i++) {
		const struct refty_sequence *s = &cat.sequences[i];
		if (json) {
			struct strbuf out;
			struct jsonw w;
			jsonw_line_begin(&w, &out);
			jsonw_kv_string(&w, "id", s->id);
			jsonw_kv_string(&w, "name", s->name);
			jsonw_key(&w, "stages");
			jsonw_array_begin(&w);
			for (size_t j = 0; j < s->n_stages; j++) {
				jsonw_object_begin(&w);
				jsonw_kv_string(&w, "id", s->stages[j].id);
				jsonw_kv_string(&w, "name", s->stages[j].name);
				jsonw_kv_string(&w, "type", s->stages[j].type);
				jsonw_kv_int(&w, "position", s->stages[j].position);
				jsonw_object_end(&w);
			}
			jsonw_array_end(&w);
			jsonw_line_end(&w, stdout);
			continue;
		}
		char *name = log_sanitize(s->name);
		printf("%s  %s\n", s->id, name);
		free(name);
		for (size_t j = 0; j < s->n_stages; j++) {
			char *sn = log_sanitize(s->stages[j].name);
			printf("    %d. %-24s %-16s %s\n", s->stages[j].position, sn, s->stages[j].type,
				s->stages[j].id);
			free(sn);
		}
	}
	catalog_finish(&cat);
	return rc;
}
