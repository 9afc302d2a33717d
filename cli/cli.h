#ifndef REFTY_LEVER_CLI_H
#define REFTY_LEVER_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <getopt.h>
#include <stdio.h>

#include "context.h"

/* The command table and the commands, one file each: a command parses its own options and
 * prints its results; the work is done in src/, and what it needs is opened for it (context.h). */

struct cli_command {
	const char *name;
	/* Parses argv, calls cli_open once the arguments are known, then does the work. */
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
	unsigned needs;       /* enum cli_needs */
	const char *synopsis; /* arguments after the command name */
	const char *summary;  /* one line for the global help */
	const char *help;     /* the command's own --help text, after its usage line */
};

/** Prints "usage: refty-lever NAME SYNOPSIS" and the help text to stdout. */
void cli_print_command_help(const struct cli_command *cmd);
/** Reports a usage error for cmd on stderr; returns EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * Parses the integer argument value of name (an option such as "--max-actions", or a name
 * for an operand) into *out when it lies in [min, max]. Otherwise reports, naming the option,
 * the value and the range, and returns EXIT_USAGE; EXIT_OK on success.
 */
int cli_parse_int(const struct cli_command *cmd, const char *name, const char *value, int64_t min,
	int64_t max, int64_t *out);
/** The same for a duration (timeutil.h), with the range given in milliseconds. */
int cli_parse_duration(const struct cli_command *cmd, const char *name, const char *value,
	int64_t min_ms, int64_t max_ms, int64_t *out_ms);

/* Commands, one file each. */
int cmd_sync(struct cli_ctx *ctx, int argc, char **argv);
int cmd_backfill(struct cli_ctx *ctx, int argc, char **argv);
int cmd_status(struct cli_ctx *ctx, int argc, char **argv);
int cmd_explain(struct cli_ctx *ctx, int argc, char **argv);
int cmd_retry(struct cli_ctx *ctx, int argc, char **argv);
int cmd_check(struct cli_ctx *ctx, int argc, char **argv);
int cmd_lever(struct cli_ctx *ctx, int argc, char **argv);
int cmd_refty(struct cli_ctx *ctx, int argc, char **argv);
int cmd_auth(struct cli_ctx *ctx, int argc, char **argv);
int cmd_serve(struct cli_ctx *ctx, int argc, char **argv);
int cmd_webhooks(struct cli_ctx *ctx, int argc, char **argv);

#endif
