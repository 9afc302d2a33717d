#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
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
	if (rc == EXIT_OK) {
		struct strbuf out;
		strbuf_init(&out);
		rules_describe_resolved(app->rules, &out);
		printf("configuration '%s' is valid, and every job, stage, sequence and language "
		       "resolves against Lever and Refty:\n%s",
			cfg->path, out.data ? out.data : "");
		strbuf_finish(&out);
	}
	for (size_t i = 0; i < n_langs; i++) {
		free(langs[i]);
	}
	free(langs);
	return rc;
}

int cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	static const struct option options[] = {
		{"online", no_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool online = false;
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case 'o':
			online = true;
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
	// Online, "valid" waits for Lever and Refty: a verdict followed by errors reads as both.
	if (rc == EXIT_OK && online) {
		rc = check_online(&ctx->app);
	} else if (rc == EXIT_OK) {
		struct strbuf out;
		strbuf_init(&out);
		rules_describe(cfg, &out);
		printf("configuration '%s' is valid\n%s", cfg->path, out.data ? out.data : "");
		strbuf_finish(&out);
	}
	return rc;
}
