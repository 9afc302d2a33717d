#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "lever.h"
#include "oauth.h"
#include "timeutil.h"
#include "xalloc.h"

#define LOGIN_TIMEOUT_MS (5 * 60 * 1000)

static int login(struct app *app, bool paste)
{
	const struct config *cfg = app->cfg;
	int rc = app_open_lever(app);
	if (rc != EXIT_OK) {
		return rc;
	}
	struct oauth_receiver *receiver = NULL;
	if (!paste) {
		receiver = oauth_receiver_create(cfg->lever.oauth.redirect_port);
		if (!receiver) {
			log_error("use 'refty-lever auth login --paste' to paste the code instead");
			return EXIT_LOCAL;
		}
	}
	char *redirect_uri = oauth_redirect_uri(cfg->lever.oauth.redirect_port);
	char *state = oauth_random_state();
	char *audience = xasprintf("%s/", cfg->lever.url);
	// With a webhooks group, 'webhooks register' will need to manage them.
	char *scope = lever_oauth_scope(cfg->lever.confidential, cfg->webhooks.present);
	struct oauth_authorize_params p = {
		.auth_url = cfg->lever.oauth.auth_url,
		.client_id = cfg->lever.oauth.client_id,
		.redirect_uri = redirect_uri,
		.state = state,
		.audience = audience,
		.scope = scope,
	};
	char *url = state ? oauth_authorize_url(&p) : NULL;
	struct oauth_callback cb = {0};
	bool got = false;
	if (url) {
		printf("Open this address in a browser, sign in to Lever as a Super Admin and accept:\n\n"
		       "  %s\n\n",
			url);
		if (paste) {
			printf("Then paste the address Lever redirected to (or just its code) here: ");
			fflush(stdout);
			char line[8192];
			got = fgets(line, sizeof(line), stdin) && oauth_parse_callback(line, &cb);
			if (!got) {
				log_error("no code read from standard input");
			}
		} else {
			printf("Waiting for Lever to redirect to %s ...\n", redirect_uri);
			fflush(stdout);
			got = oauth_receiver_wait(receiver, LOGIN_TIMEOUT_MS, &cb);
		}
	}
	if (got && oauth_callback_check(&cb, state)) {
		int ls = lever_oauth_exchange(app->lever, cb.code, redirect_uri);
		rc = app_lever_exit(ls);
		if (rc == EXIT_OK) {
			struct lever_tokens t;
			if (app_tokens_load(app, &t) == 1) {
				printf("logged in to Lever%s%s; tokens are stored in '%s' and refreshed "
				       "automatically\n",
					t.account ? " as account " : "", t.account ? t.account : "",
					app_token_path(app));
			}
			lever_tokens_finish(&t);
		}
	} else {
		rc = rc == EXIT_OK ? EXIT_REMOTE : rc;
	}
	oauth_callback_finish(&cb);
	free(url);
	free(audience);
	free(scope);
	free(state);
	free(redirect_uri);
	oauth_receiver_destroy(receiver);
	return rc;
}

static int status(struct app *app)
{
	struct lever_tokens t;
	int found = app_tokens_load(app, &t);
	int rc = EXIT_OK;
	if (found < 0) {
		rc = EXIT_LOCAL;
	} else if (found == 0) {
		printf("not logged in: run 'refty-lever auth login'\n");
		rc = EXIT_PARTIAL;
	} else {
		char when[40], updated[40];
		int64_t now = timeutil_now_ms();
		timeutil_format(t.expires_at, when, sizeof(when));
		timeutil_format(t.updated_at, updated, sizeof(updated));
		printf("logged in to Lever%s%s\n", t.account ? " as account " : "",
			t.account ? t.account : "");
		printf("access token %s %s (refreshed automatically)\n",
			t.expires_at > now ? "expires" : "expired", when);
		printf("tokens last stored %s; scope: %s\n", updated, t.scope ? t.scope : "(unknown)");
		if (access(app_token_path(app), F_OK) == 0) {
			printf("stored in '%s'\n", app_token_path(app));
		} else {
			printf("stored in the state database '%s'; the next command that uses Lever moves "
			       "them to '%s'\n",
				app->cfg->state, app_token_path(app));
		}
	}
	lever_tokens_finish(&t);
	return rc;
}

static int logout(struct app *app)
{
	int rc = app_tokens_delete(app);
	if (rc == EXIT_OK) {
		printf("deleted the stored Lever tokens. Revoke the app in Lever as well: Settings "
		       "> Integrations and API > Authorized Apps\n");
	}
	return rc;
}

int cmd_auth(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	static const struct option options[] = {
		{"paste", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool paste = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'p':
			paste = true;
			break;
		case 'h':
			cli_print_command_help(self);
			return EXIT_OK;
		default:
			return cli_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc) {
		return cli_usage_error(self, "expected one of: login, status, logout");
	}
	const char *what = argv[optind];
	if (strcmp(what, "login") != 0 && strcmp(what, "status") != 0 && strcmp(what, "logout") != 0) {
		return cli_usage_error(self, "unknown subcommand '%s': expected login, status or logout",
			what);
	}
	// Reading the token status changes nothing: it reads tokens an older version left in the
	// state database where they are.
	ctx->dry_run = strcmp(what, "status") == 0;
	int rc = cli_open(ctx);
	if (rc != EXIT_OK) {
		return rc;
	}
	const struct config *cfg = ctx->cfg;
	if (!cfg->lever.oauth.enabled) {
		log_error("'%s' has no lever.oauth group: with an API key there is nothing to log in to",
			cfg->path);
		rc = EXIT_USAGE;
	} else if (strcmp(what, "login") == 0) {
		rc = login(&ctx->app, paste);
	} else if (strcmp(what, "status") == 0) {
		rc = status(&ctx->app);
	} else {
		rc = logout(&ctx->app);
	}
	return rc;
}
