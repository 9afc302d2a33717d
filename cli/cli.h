#ifndef REFTY_LEVER_CLI_H
#define REFTY_LEVER_CLI_H

#include <stdbool.h>

#include <getopt.h>
#include <stdio.h>

#include "log.h"

struct config;

/* What the global options decided, handed to every command. */
struct cli {
	const char *config_arg; /* -c FILE, or NULL */
	enum log_level level;
	enum log_format log_format;
};

struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *synopsis; /* arguments after the command name */
	const char *summary;  /* one line for the global help */
	const char *help;     /* the command's own --help text, after its usage line */
};

/** Prints "usage: refty-lever NAME SYNOPSIS" and the help text to stdout. */
void cli_print_command_help(const struct cli_command *cmd);
/** Reports a usage error for cmd on stderr; returns EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/** Looks up a command by name; NULL when unknown. */
const struct cli_command *cli_find_command(const char *name);

/** Resolves -c/$REFTY_LEVER_CONFIG/defaults and loads the file; NULL on error (logged). */
struct config *cli_load_config(struct cli *cli);

/* Commands, one file each. */
int cmd_sync(struct cli *cli, int argc, char **argv);
int cmd_backfill(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_explain(struct cli *cli, int argc, char **argv);
int cmd_retry(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_lever(struct cli *cli, int argc, char **argv);
int cmd_refty(struct cli *cli, int argc, char **argv);
int cmd_auth(struct cli *cli, int argc, char **argv);

#endif
