#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "jsonw.h"
#include "refty.h"
#include "rules.h"
#include "xalloc.h"

/* Resolves every job, stage, sequence and language against Lever and Refty
 * as they are now; every name that does not resolve is reported with its
 * line. Changes nothing remotely. */
static int check_online(struct app *app)
{
	// The app is not a dry run, so that an OAuth token refresh can store its result;
	// only GET requests are made.
	const struct config *cfg = app->cfg;
	int rc = app_load_rules(app, APP_NAMES_REFRESH);
	// Languages are checked whatever else failed to resolve, so that one run
	// reports everything; only an unreachable Refty prevents it.
	char **langs = NULL;
	size_t n_langs = 0;
	if ((rc == EXIT_OK || rc == EXIT_USAGE) && app_open_refty(app) == EXIT_OK) {
		struct refty_result res;
		refty_result_init(&res);
		if (!refty_list_languages(app->refty, &langs, &n_langs, &res)) {
			rc = EXIT_REMOTE;
		} else {
			struct rules_errors errs;
			rules_errors_init(&errs);
			if (!rules_check_languages(cfg, (const char *const *)langs, n_langs, &errs)) {
				app_log_rule_errors(cfg, &errs);
				rc = EXIT_USAGE;
			}
			rules_errors_finish(&errs);
		}
		refty_result_finish(&res);
	}
	for (size_t i = 0; i < n_langs; i++) {
		free(langs[i]);
	}
	free(langs);
	return rc;
}

/* Every check there is, offline and, when asked, online; errors are logged (and collected). */
static int check_all(struct cli_ctx *ctx, bool online)
{
	int rc = cli_open(ctx);
	if (rc != EXIT_OK) {
		return rc;
	}
	const struct config *cfg = ctx->cfg;
	struct rules_errors errs;
	rules_errors_init(&errs);
	if (!rules_check_offline(cfg, &errs)) {
		app_log_rule_errors(cfg, &errs);
		rc = EXIT_USAGE;
	}
	rules_errors_finish(&errs);
	if (!conf_check_secrets(cfg)) {
		rc = EXIT_USAGE;
	}
	if (rc == EXIT_OK && online) {
		rc = check_online(&ctx->app);
	}
	return rc;
}

static void print_text(const struct cli_ctx *ctx, bool online)
{
	const struct config *cfg = ctx->cfg;
	struct strbuf out;
	strbuf_init(&out);
	if (online) {
		rules_describe_resolved(ctx->app.rules, &out);
		printf("configuration '%s' is valid, and every job, stage, sequence and language "
		       "resolves against Lever and Refty:\n%s",
			cfg->path, out.data ? out.data : "");
	} else {
		rules_describe(cfg, &out);
		printf("configuration '%s' is valid\n%s", cfg->path, out.data ? out.data : "");
	}
	strbuf_finish(&out);
}

/* What Lever and Refty made of a rule's names: ids, titles and stage types. */
static void json_resolved(struct jsonw *w, const struct rule_set *set,
	const struct resolved_rule *r)
{
	jsonw_key(w, "resolved");
	jsonw_object_begin(w);
	jsonw_kv_bool(w, "every_job", r->wildcard);
	jsonw_key(w, "postings");
	jsonw_array_begin(w);
	for (size_t k = 0; k < r->n_postings; k++) {
		jsonw_object_begin(w);
		jsonw_kv_string(w, "id", r->posting_ids[k]);
		jsonw_kv_string(w, "title", rules_posting_title(set, r->posting_ids[k]));
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_key(w, "sequence");
	jsonw_object_begin(w);
	jsonw_kv_string(w, "id", r->sequence_id);
	jsonw_kv_string(w, "name", r->sequence_name);
	jsonw_object_end(w);
	jsonw_key(w, "stages");
	jsonw_array_begin(w);
	for (size_t k = 0; k < r->n_links; k++) {
		const struct resolved_link *l = &r->links[k];
		jsonw_object_begin(w);
		jsonw_kv_int(w, "line", l->line);
		jsonw_kv_string(w, "lever_stage_id", l->lever_stage_id);
		jsonw_kv_string(w, "lever_stage_name", l->lever_stage_name);
		jsonw_kv_string(w, "refty_stage_id", l->refty_stage_id);
		jsonw_kv_string(w, "refty_stage_name", l->refty_stage_name);
		jsonw_kv_string(w, "type", l->type);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_object_end(w);
}

/* A rule as written, and as resolved when set has it. */
static void json_rule(struct jsonw *w, const struct config_rule *r, const struct rule_set *set)
{
	jsonw_object_begin(w);
	jsonw_kv_string(w, "name", r->name);
	jsonw_kv_int(w, "line", r->line);
	jsonw_key(w, "jobs");
	jsonw_array_begin(w);
	for (size_t k = 0; k < r->n_jobs; k++) {
		jsonw_string(w, r->jobs[k]);
	}
	jsonw_array_end(w);
	jsonw_kv_string(w, "sequence", r->sequence);
	jsonw_key(w, "stages");
	jsonw_array_begin(w);
	for (size_t k = 0; k < r->n_stages; k++) {
		jsonw_object_begin(w);
		jsonw_kv_string(w, "lever", r->stages[k].lever);
		jsonw_kv_string(w, "refty", r->stages[k].refty);
		jsonw_kv_int(w, "line", r->stages[k].line);
		jsonw_object_end(w);
	}
	jsonw_array_end(w);
	jsonw_kv_string(w, "language", r->language);
	const struct resolved_rule *res = set ? rules_find(set, r->name) : NULL;
	if (res) {
		json_resolved(w, set, res);
	}
	jsonw_object_end(w);
}

/* One object: the verdict, the rules as understood and every problem found. */
static void print_json(const struct cli_ctx *ctx, bool online, int rc,
	const struct conf_problems *problems)
{
	const struct config *cfg = ctx->cfg;
	const struct rule_set *set = online && rc == EXIT_OK ? ctx->app.rules : NULL;
	struct strbuf buf;
	struct jsonw w;
	jsonw_line_begin(&w, &buf);
	jsonw_kv_string(&w, "config", cfg ? cfg->path : NULL);
	jsonw_kv_bool(&w, "valid", rc == EXIT_OK);
	jsonw_kv_bool(&w, "online", online);
	jsonw_kv_int(&w, "exit_status", rc);
	jsonw_key(&w, "rules");
	jsonw_array_begin(&w);
	for (size_t i = 0; cfg && rc == EXIT_OK && i < cfg->n_rules; i++) {
		json_rule(&w, &cfg->rules[i], set);
	}
	jsonw_array_end(&w);
	jsonw_key(&w, "errors");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < problems->n; i++) {
		const struct conf_problem *p = &problems->items[i];
		jsonw_object_begin(&w);
		jsonw_kv_string(&w, "file", p->file);
		jsonw_kv_int(&w, "line", p->line);
		jsonw_kv_string(&w, "key", p->key);
		jsonw_kv_string(&w, "message", p->message);
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_line_end(&w, stdout);
}

int cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	enum { OPT_JSON = 256 };
	static const struct option options[] = {
		{"online", no_argument, NULL, 'o'},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool online = false, json = false;
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case 'o':
			online = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			cli_print_command_help(self);
			return EXIT_OK;
		default:
			return cli_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	}
	struct conf_problems problems = {0};
	if (json) {
		conf_collect_problems(&problems);
	}
	// Online, "valid" waits for Lever and Refty: a verdict followed by errors reads as both.
	int rc = check_all(ctx, online);
	conf_collect_problems(NULL);
	if (json) {
		print_json(ctx, online, rc, &problems);
	} else if (rc == EXIT_OK) {
		print_text(ctx, online);
	}
	conf_problems_finish(&problems);
	return rc;
}
