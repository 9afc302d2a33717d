#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "signals.h"
#include "snapshot.h"
#include "xalloc.h"

static int cmd_help(struct cli_ctx *ctx, int argc, char **argv);

static const struct cli_command commands[] = {
	{
		.name = "sync",
		.run = cmd_sync,
		.needs = CLI_NEEDS_CONFIG | CLI_STOPPABLE, // sync_run opens the state itself
		.synopsis = "[--dry-run] [--json] [--max-actions N] [--seed] [--watch INTERVAL]",
		.summary = "poll Lever, diff against the snapshot, act in Refty (the cron job)",
		.help = "Polls Lever for opportunities updated since the last successful poll, compares\n"
			"each with the snapshot and performs what the rules say: candidates on covered\n"
			"jobs are created in Refty, and a candidate entering a linked stage is sent that\n"
			"step. Seeding is explicit: on a missing or empty state (no file, a 0-byte file,\n"
			"a seeding that did not finish) plain sync does nothing and exits 4, so that a\n"
			"state lost to an unmounted volume is never taken for a first run.\n"
			"\n"
			"  -n, --dry-run        print the plan; change nothing anywhere\n"
			"      --json           print JSON Lines on stdout (actions, then a summary)\n"
			"      --max-actions N  override max_actions for this run, 0..100000000\n"
			"                       (0 = no limit)\n"
			"      --seed           start a new state: record every opportunity's current\n"
			"                       state and send nothing (the first run; run it again if\n"
			"                       it was interrupted). Refused on a seeded state (exit 2)\n"
			"      --watch INTERVAL  keep running: a sync every INTERVAL (1s..1d, e.g. 15s,\n"
			"                       5m), each INTERVAL after the previous one started, with\n"
			"                       the lock held throughout; SIGHUP reloads the\n"
			"                       configuration (a broken one is logged and the running\n"
			"                       one kept); SIGTERM or SIGINT ends the sync in progress\n"
			"                       as below, then it exits 0\n"
			"\n"
			"SIGTERM, SIGINT or SIGHUP stops it cleanly: no new request starts, those in\n"
			"flight finish, everything done is recorded, and it exits 1 if work is left;\n"
			"a second signal stops it at once, losing nothing either.\n",
	},
	{
		.name = "backfill",
		.run = cmd_backfill,
		.needs = CLI_NEEDS_CONFIG | CLI_STOPPABLE, // sync_run opens the state itself
		.synopsis = "[--dry-run] [--json] [--rule NAME] [--since DATE] [--trigger-current] "
			    "[--max-actions N]",
		.summary = "enrol candidates that existed before refty-lever was set up",
		.help = "Enrols every active opportunity on a covered job in Refty, once. Resumable.\n"
			"On a missing or empty state it seeds it too, so it may be the first command.\n"
			"\n"
			"  -n, --dry-run        print the plan; change nothing anywhere\n"
			"      --json           print JSON Lines on stdout\n"
			"      --rule NAME      only the jobs of this rule\n"
			"      --since DATE     only opportunities created since DATE: YYYY-MM-DD (UTC\n"
			"                       midnight) or YYYY-MM-DDTHH:MM:SS[.mmm]Z, 1970 to 9999\n"
			"      --trigger-current  also send the step of a trigger stage a candidate is in\n"
			"      --max-actions N  override max_actions for this run, 0..100000000\n"
			"                       (0 = no limit)\n"
			"\n"
			"Signals stop it as they stop sync; the next backfill resumes where it stopped.\n",
	},
	{
		.name = "serve",
		.run = cmd_serve,
		.needs = CLI_NEEDS_CONFIG | CLI_STOPPABLE, // the watch loop opens the state itself
		.synopsis = "[--listen ADDR:PORT] [--poll-interval INTERVAL] [--json]",
		.summary = "take Lever's webhooks as hints, with polling underneath (seconds, not minutes)",
		.help = "Takes Lever's webhook deliveries (see 'webhooks register') on webhooks.path\n"
			"and syncs the opportunity each one names at once, through the same journal as\n"
			"a poll, so a duplicate, late or replayed delivery does nothing twice; and polls\n"
			"every poll interval underneath, which catches what no delivery announced.\n"
			"Deliveries must be signed by one of the signature tokens; GET /healthz answers\n"
			"200 while the last poll succeeded within twice the interval, else 503.\n"
			"Plain HTTP: put a TLS reverse proxy in front (Lever requires HTTPS).\n"
			"\n"
			"  --listen ADDR:PORT        where to listen instead of webhooks.listen\n"
			"                            (127.0.0.1:8722, [::1]:8722; port 0: any free one)\n"
			"  --poll-interval INTERVAL  the poll underneath instead of\n"
			"                            webhooks.poll_interval, 1s..1d (default 5m)\n"
			"  --json                    print JSON Lines on stdout (each sync's actions and\n"
			"                            summary)\n"
			"\n"
			"SIGHUP reloads the configuration (new signature tokens and max_age at once;\n"
			"listen, path and poll_interval at a restart); SIGTERM or SIGINT ends the sync in\n"
			"progress as it ends a one-shot sync, then it exits 0.\n",
	},
	{
		.name = "webhooks",
		.run = cmd_webhooks,
		// Register and delete open Lever themselves, once the token file is known to be
		// writable; list is a dry run.
		.needs = CLI_NEEDS_CONFIG | CLI_ONLY_LEVER | CLI_STOPPABLE,
		.synopsis = "register --url URL [--dry-run] | list [--json] | delete [--url URL] [--dry-run]",
		.summary = "set up Lever's webhooks for serve through Lever's API",
		.help = "  register  create the webhooks serve acts on (candidateStageChange,\n"
			"            applicationCreated, candidateArchiveChange, candidateDeleted) at\n"
			"            URL, and store their signature tokens where serve reads them:\n"
			"            webhooks.signature_tokens_file, else <state>.webhook-tokens (mode\n"
			"            0600). Idempotent: a webhook already at URL is kept when its token\n"
			"            is stored, replaced when it is not (it could not be verified)\n"
			"  list      Lever's webhooks: id, event, URL, whether the token is stored\n"
			"  delete    delete the webhooks at URL (default: those whose token is stored)\n"
			"            and their tokens\n"
			"\n"
			"  --url URL  https://, or plain http:// to 127.0.0.1 or localhost only\n"
			"  --dry-run  list and say what would change; change nothing\n"
			"  --json     list: print JSON Lines\n"
			"\n"
			"Needs the directory of the token file (the state's) to exist, and an API key\n"
			"or OAuth grant allowed to manage webhooks (scope webhooks:write:admin).\n"
			"Tokens are never printed. A Super Admin must still switch the webhooks and\n"
			"their signature token option on in Lever; then start or reload serve.\n",
	},
	{
		.name = "status",
		.run = cmd_status,
		.needs = CLI_NEEDS_STATE_READ,
		.synopsis = "[--json] [--max-age DURATION]",
		.summary = "last runs, cursor, snapshot size, pending and failed actions",
		.help = "  --json              print one JSON object\n"
			"  --max-age DURATION  for monitoring: exit 1 unless a healthy sync (exit 0,\n"
			"                      or 1 with only permanent failures) started within\n"
			"                      DURATION, and print one line, 'ok: ...' or 'stale: ...';\n"
			"                      whole numbers with units d, h, m, s, largest first\n"
			"                      (90s, 15m, 1h30m, 2d; a plain number is seconds), from\n"
			"                      1s to 3650d\n",
	},
	{
		.name = "explain",
		.run = cmd_explain,
		.needs = CLI_NEEDS_STATE_READ | CLI_DRY_RUN,
		.synopsis = "[--json] OPPORTUNITY-ID",
		.summary = "show the snapshot row, the rules evaluated and every action taken",
		.help = "Shows what refty-lever knows and did about one Lever opportunity.\n"
			"\n"
			"  --json  print one JSON object: the snapshot row, the rule evaluated and\n"
			"          why, the quarantine state and every journal entry\n",
	},
	{
		.name = "retry",
		.run = cmd_retry,
		.needs = CLI_NEEDS_STATE_WRITE,
		.synopsis = "[--json] [ACTION-ID... | --all]",
		.summary = "re-queue actions that failed permanently",
		.help = "  --all   re-queue every failed action\n"
			"  --json  print one JSON object: the ids re-queued, those unknown, and those\n"
			"          not failed with their states\n"
			"ACTION-ID is the number status shows after '#' (1 to 9223372036854775807).\n"
			"The next sync performs them again, with the same idempotency keys.\n",
	},
	{
		.name = "check",
		.run = cmd_check,
		.needs = CLI_NEEDS_CONFIG,
		.synopsis = "[--online] [--json]",
		.summary = "validate the configuration and print the rules",
		.help = "Validates the configuration file offline, reports every error as\n"
			"file:line: key: message, and prints the rules as understood.\n"
			"\n"
			"  --online  also resolve every job, stage, sequence and language against\n"
			"            Lever and Refty\n"
			"  --json    print one JSON object: whether it is valid, the rules as\n"
			"            understood (resolved, with --online) and each error as file,\n"
			"            line, key and message\n",
	},
	{
		.name = "lever",
		.run = cmd_lever,
		.needs = CLI_NEEDS_LEVER | CLI_ONLY_LEVER,
		.synopsis = "stages | postings [--json]",
		.summary = "list Lever stage and posting ids and names, to write rules with",
		.help = "Needs only the lever group of the configuration: the rules may be unwritten yet.\n"
			"\n"
			"  --json  print JSON Lines\n",
	},
	{
		.name = "refty",
		.run = cmd_refty,
		.needs = CLI_NEEDS_REFTY | CLI_DRY_RUN | CLI_ONLY_REFTY,
		.synopsis = "sequences | languages [--json]",
		.summary = "list Refty sequences and their stages, or the languages steps can use",
		.help = "  --json  print JSON Lines\n",
	},
	{
		.name = "auth",
		.run = cmd_auth,
		.needs = CLI_NEEDS_CONFIG | CLI_ONLY_LEVER, // status is a dry run; login opens Lever
		.synopsis = "login [--paste] | status | logout",
		.summary = "Lever OAuth (API keys need none of this)",
		.help = "  login   authorise refty-lever in Lever and store the tokens; the code\n"
			"          arrives on http://127.0.0.1:<redirect_port>/callback, or with\n"
			"          --paste is read from standard input\n"
			"  status  show the account and token expiry (never a token)\n"
			"  logout  delete the stored tokens\n",
	},
	{
		.name = "help",
		.run = cmd_help,
		.synopsis = "[COMMAND]",
		.summary = "this overview, or a command's help (as COMMAND --help)",
		.help = "Without COMMAND, the overview of commands and global options (as --help).\n",
	},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_usage[] =
	"usage: refty-lever [-c FILE] [-v|-q] [--log-format text|json] COMMAND [ARGS]\n";

static void print_global_help(FILE *out)
{
	fputs(global_usage, out);
	fputs("\nKeeps Refty in step with Lever: polls Lever, diffs every candidate's stage against a\n"
	      "local snapshot and applies the configured rules in Refty, exactly once.\n\n"
	      "Commands:\n",
		out);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	}
	fputs("\nOptions:\n"
	      "  -c, --config FILE      configuration file (default: $REFTY_LEVER_CONFIG,\n"
	      "                         $XDG_CONFIG_HOME/refty-lever/config, /etc/refty-lever.conf)\n"
	      "  -v, --verbose          decisions on stderr (repeat for HTTP requests)\n"
	      "  -q, --quiet            nothing on stdout (JSON Lines aside), warnings and\n"
	      "                         errors on stderr (-qq: errors only, -qqq: nothing)\n"
	      "      --log-format FMT   text (default) or json (one event per line on stderr)\n"
	      "  -h, --help             this help; 'refty-lever COMMAND --help' for a command\n"
	      "  -V, --version          print the version, and the libraries' versions\n"
	      "\nExit status: 0 success, 1 partial, 2 usage or configuration, 3 remote,\n"
	      "4 local, 5 locked by another run, 6 safety valve. See refty-lever(1).\n",
		out);
}

/* The number of single-character edits from a to b, for short words. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t lb = strlen(b);
	if (lb > 31) {
		return SIZE_MAX;
	}
	size_t row[32];
	for (size_t j = 0; j <= lb; j++) {
		row[j] = j;
	}
	for (size_t i = 1; a[i - 1]; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			best = up + 1 < best ? up + 1 : best;
			best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(commands[i].name, name) == 0) {
			return &commands[i];
		}
	}
	return NULL;
}

/* Says so when name is not a command, suggesting the nearest one; returns EXIT_USAGE. */
static int unknown_command(const char *name)
{
	const struct cli_command *near = NULL;
	size_t best = 3; // more edits than this is not a typo
	for (size_t i = 0; i < N_COMMANDS; i++) {
		size_t d = edit_distance(name, commands[i].name);
		if (d < best) {
			best = d;
			near = &commands[i];
		}
	}
	char *clean = log_sanitize(name);
	if (near) {
		fprintf(stderr, "refty-lever: error: unknown command '%s': did you mean '%s'?\n%s",
			clean, near->name, global_usage);
	} else {
		fprintf(stderr, "refty-lever: error: unknown command '%s' ('refty-lever help' lists "
				"them)\n%s",
			clean, global_usage);
	}
	free(clean);
	return EXIT_USAGE;
}

static int cmd_help(struct cli_ctx *ctx, int argc, char **argv)
{
	bool self = argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
	if (argc > 2 || (argc == 2 && argv[1][0] == '-' && !self)) {
		return cli_usage_error(ctx->cmd, "expected at most one command name");
	}
	if (self) {
		cli_print_command_help(ctx->cmd);
		return EXIT_OK;
	}
	if (argc == 1) {
		print_global_help(stdout);
		return EXIT_OK;
	}
	const struct cli_command *cmd = find_command(argv[1]);
	if (!cmd) {
		return unknown_command(argv[1]);
	}
	if (cmd->run == cmd_help) {
		print_global_help(stdout);
	} else {
		cli_print_command_help(cmd);
	}
	return EXIT_OK;
}

/* How many argv entries a global option at argv[i] takes (0: it is not one). */
static int global_option_width(int argc, char **argv, int i)
{
	const char *a = argv[i];
	if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0 || strcmp(a, "--log-format") == 0) {
		return i + 1 < argc ? 2 : 1;
	}
	if (strncmp(a, "--config=", 9) == 0 || strncmp(a, "--log-format=", 13) == 0 ||
		strcmp(a, "--verbose") == 0 || strcmp(a, "--quiet") == 0 ||
		(strncmp(a, "-c", 2) == 0 && a[2])) {
		return 1;
	}
	if (a[0] == '-' && (a[1] == 'v' || a[1] == 'q')) {
		return strspn(a + 1, "vq") == strlen(a + 1) ? 1 : 0;
	}
	return 0;
}

/*
 * Moves global options given after the command to before it ('sync -v' is '-v sync'), so
 * they work anywhere on the line; "--" ends the options. No command has an option of the
 * same name.
 */
static void hoist_global_options(int argc, char **argv)
{
	int cmd = 1;
	while (cmd < argc && argv[cmd][0] == '-' && strcmp(argv[cmd], "--") != 0) {
		int w = global_option_width(argc, argv, cmd);
		cmd += w ? w : 1;
	}
	if (cmd >= argc) {
		return;
	}
	char **rest = xcalloc((size_t)argc, sizeof(*rest));
	int n_globals = 0, n_rest = 0;
	char **globals = xcalloc((size_t)argc, sizeof(*globals));
	for (int i = cmd + 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (i < argc) {
				rest[n_rest++] = argv[i++];
			}
			break;
		}
		int w = global_option_width(argc, argv, i);
		if (!w) {
			rest[n_rest++] = argv[i];
			continue;
		}
		for (int k = 0; k < w; k++) {
			globals[n_globals++] = argv[i + k];
		}
		i += w - 1;
	}
	char *name = argv[cmd];
	int at = cmd;
	for (int k = 0; k < n_globals; k++) {
		argv[at++] = globals[k];
	}
	argv[at++] = name;
	for (int k = 0; k < n_rest; k++) {
		argv[at++] = rest[k];
	}
	free(globals);
	free(rest);
}

void cli_print_command_help(const struct cli_command *cmd)
{
	printf("usage: refty-lever %s %s\n\n%s\n%s", cmd->name, cmd->synopsis, cmd->summary, cmd->help);
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s: %s", cmd->name, msg);
	fprintf(stderr, "usage: refty-lever %s %s\n", cmd->name, cmd->synopsis);
	return EXIT_USAGE;
}

/*
 * Standard output and error are checked here, once, for every command and every way out:
 * whatever failed to be written (a full disk, a closed pipe, a file size limit) makes the exit
 * status 4. By now a command has committed whatever it recorded, so the message comes after
 * the state is safe. glibc keeps what it could not write and tries again at the flush, so
 * the flush's errno says why; a failing standard error can only change the exit status.
 */
static int finish_output(int rc)
{
	bool failed = ferror(stdout) != 0;
	errno = 0;
	if (fflush(stdout) != 0) {
		failed = true;
	}
	int err = errno;
	if (fclose(stdout) != 0 && !failed) {
		failed = true;
		err = errno;
	}
	if (failed) {
		if (err) {
			log_error("writing standard output: %s: the output is incomplete (the state "
				  "database is not affected)",
				strerror(err));
		} else {
			log_error("writing standard output failed: the output is incomplete (the state "
				  "database is not affected)");
		}
		rc = EXIT_LOCAL;
	}
	if (ferror(stderr) || fflush(stderr) != 0) {
		rc = EXIT_LOCAL;
	}
	return rc;
}

static int run(int argc, char **argv)
{
#ifdef M_ARENA_MAX
	// glibc gives each thread its own malloc arena; with a backfill's
	// listing and Refty threads that fragmentation, not data, dominated
	// peak memory. Two arenas keep it flat at no measurable CPU cost.
	mallopt(M_ARENA_MAX, 2);
#endif

	struct cli cli = {.level = LOG_INFO, .log_format = LOG_FORMAT_TEXT};
	enum { OPT_LOG_FORMAT = 256 };
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"log-format", required_argument, NULL, OPT_LOG_FORMAT},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int verbose = 0, quiet = 0;
	int c;
	opterr = 0;
	hoist_global_options(argc, argv);
	while ((c = getopt_long(argc, argv, "+c:vqhV", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli.config_arg = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'q':
			quiet++;
			break;
		case OPT_LOG_FORMAT:
			if (strcmp(optarg, "text") == 0) {
				cli.log_format = LOG_FORMAT_TEXT;
			} else if (strcmp(optarg, "json") == 0) {
				cli.log_format = LOG_FORMAT_JSON;
			} else {
				fprintf(stderr, "refty-lever: error: --log-format: expected 'text' or "
						"'json', got '%s'\n%s",
					optarg, global_usage);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			print_global_help(stdout);
			return EXIT_OK;
		case 'V':
			printf("refty-lever %s\n%s, json-c %s, libconfig %s, SQLite %s\n",
				REFTY_LEVER_VERSION, http_library_version(), json_library_version(),
				conf_library_version(), snapshot_library_version());
			return EXIT_OK;
		default:
			fprintf(stderr, "refty-lever: error: unknown or incomplete option '%s'\n%s",
				argv[optind - 1], global_usage);
			return EXIT_USAGE;
		}
	}
	int level = LOG_INFO + verbose - quiet;
	if (level > LOG_TRACE) {
		level = LOG_TRACE;
	}
	if (level < LOG_QUIET) {
		level = LOG_QUIET;
	}
	cli.level = (enum log_level)level;
	log_init(cli.level, cli.log_format);

	if (optind >= argc) {
		fputs("refty-lever: error: no command given\n", stderr);
		print_global_help(stderr);
		return EXIT_USAGE;
	}
	const struct cli_command *cmd = find_command(argv[optind]);
	if (!cmd) {
		return unknown_command(argv[optind]);
	}
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0; // glibc: 0 re-initialises getopt for the command's own options
	opterr = 0; // commands report bad options themselves, naming the command
	if (!http_global_init()) {
		return EXIT_LOCAL;
	}
	// Before any thread starts, and only for one-shot runs: other commands end on these
	// signals as any program does (and so does a run whose handlers failed, logged).
	if (cmd->needs & CLI_STOPPABLE) {
		signals_install_stop();
	}
	struct cli_ctx ctx = {.cli = &cli, .cmd = cmd, .dry_run = cmd->needs & CLI_DRY_RUN};
	int rc = cmd->run(&ctx, sub_argc, sub_argv);
	cli_close(&ctx);
	http_global_cleanup();
	return rc;
}

int main(int argc, char **argv)
{
	// A closed pipe or a file size limit must not kill a run midway: the write fails
	// instead, and is reported.
	signals_ignore_write_faults();
	int rc = finish_output(run(argc, argv));
	log_finish();
	return rc;
}
