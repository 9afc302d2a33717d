#ifndef REFTY_LEVER_CONTEXT_H
#define REFTY_LEVER_CONTEXT_H

#include <stdbool.h>

#include "app.h"
#include "log.h"

/* What a command works with: the global options, the configuration and the app, opened as the
 * command's table entry declares (git's RUN_SETUP) and closed in one place by main.c after the
 * command returns. A command never loads the configuration itself nor closes what was opened
 * for it; it only says when its arguments are read (cli_open). */

struct config;
struct cli_command;

/* What the global options decided, handed to every command. */
struct cli {
	const char *config_arg; /* -c FILE, or NULL */
	enum log_level level;
	enum log_format log_format;
};

/* What a command needs opened before its work; each implies the configuration. A command that
 * opens the state database itself (sync_run) declares only CLI_NEEDS_CONFIG. */
enum cli_needs {
	CLI_NEEDS_CONFIG = 1 << 0,      /* the configuration file, and an app over it */
	CLI_NEEDS_STATE_READ = 1 << 1,  /* the state database, read-only and without the lock */
	CLI_NEEDS_STATE_WRITE = 1 << 2, /* the state database under the run lock (read in a dry run) */
	CLI_NEEDS_LEVER = 1 << 3,       /* the Lever client */
	CLI_NEEDS_REFTY = 1 << 4,       /* a Refty client */
	CLI_DRY_RUN = 1 << 5,           /* the app in dry-run mode (a command may change it first) */
	/* Discovery: the configuration needs only this service's group, no rules (CONF_ONLY_*). */
	CLI_ONLY_LEVER = 1 << 6,
	CLI_ONLY_REFTY = 1 << 7,
	CLI_STOPPABLE = 1 << 8, /* a one-shot run: SIGTERM, SIGINT, SIGHUP ask it to stop (signals.h) */
};

struct cli_ctx {
	const struct cli *cli;
	const struct cli_command *cmd;
	bool dry_run;       /* for app_init; set from CLI_DRY_RUN, changed only before cli_open */
	struct config *cfg; /* after cli_open */
	struct app app;     /* after cli_open: what it opened, and what the command opens */
	bool opened;
};

/**
 * Loads the configuration and opens what ctx->cmd->needs declares. A command calls it once,
 * after reading its arguments, so that --help and usage errors need no configuration. Returns
 * EXIT_OK or the status to exit with (logged).
 */
int cli_open(struct cli_ctx *ctx);
/** Closes everything in ctx, whether or not cli_open was called or succeeded. */
void cli_close(struct cli_ctx *ctx);

#endif
