#include "context.h"

#include <stdlib.h>

#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "log.h"
#include "snapshot.h"

/* A command that works on the state never creates it: a missing one may be a volume that
 * failed to mount, and an empty new file there would hide that. */
static int check_state_exists(const struct cli_ctx *ctx)
{
	const char *state = ctx->cfg->state;
	if (snapshot_presence(state) != SNAPSHOT_MISSING) {
		return EXIT_OK;
	}
	log_error("state '%s' does not exist: nothing to %s. On a first run, run 'refty-lever sync "
		  "--seed' (or 'refty-lever backfill') to create it; if it should exist (a volume "
		  "not mounted, a moved file), mount or restore it, and check 'state' in '%s'",
		state, ctx->cmd->needs & CLI_NEEDS_STATE_WRITE ? "change" : "show", ctx->cfg->path);
	return EXIT_LOCAL;
}

int cli_open(struct cli_ctx *ctx)
{
	unsigned needs = ctx->cmd->needs;
	char *path = conf_find(ctx->cli->config_arg);
	unsigned only = (needs & CLI_ONLY_LEVER ? CONF_ONLY_LEVER : 0u) |
			(needs & CLI_ONLY_REFTY ? CONF_ONLY_REFTY : 0u);
	ctx->cfg = path ? conf_load_with(path, only) : NULL;
	free(path);
	if (!ctx->cfg) {
		return EXIT_USAGE;
	}
	app_init(&ctx->app, ctx->cfg, ctx->dry_run);
	ctx->opened = true;
	int rc = EXIT_OK;
	if (needs & (CLI_NEEDS_STATE_READ | CLI_NEEDS_STATE_WRITE)) {
		rc = check_state_exists(ctx);
	}
	if (rc == EXIT_OK && (needs & (CLI_NEEDS_STATE_READ | CLI_NEEDS_STATE_WRITE))) {
		rc = app_open_state(&ctx->app,
			needs & CLI_NEEDS_STATE_WRITE ? APP_STATE_WRITE : APP_STATE_READ);
	}
	if (rc == EXIT_OK && (needs & CLI_NEEDS_LEVER)) {
		rc = app_open_lever(&ctx->app);
	}
	if (rc == EXIT_OK && (needs & CLI_NEEDS_REFTY)) {
		rc = app_open_refty(&ctx->app);
	}
	return rc;
}

void cli_close(struct cli_ctx *ctx)
{
	if (ctx->opened) {
		app_finish(&ctx->app);
	}
	conf_destroy(ctx->cfg);
	ctx->cfg = NULL;
	ctx->opened = false;
}
