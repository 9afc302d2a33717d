#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "http.h"
#include "log.h"

static const struct cli_command commands[] = {
	{
		.name = "sync",
		.run = cmd_sync,
		.needs = CLI_NEEDS_CONFIG, // sync_run opens the state itself
		.synopsis = "[--dry-run] [--json] [--max-actions N] [--seed]",
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
			"                       it was interrupted). Refused on a seeded state (exit 2)\n",
	},
	{
		.name = "backfill",
		.run = cmd_backfill,
		.needs = CLI_NEEDS_CONFIG, // sync_run opens the state itself
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
			"                       (0 = no limit)\n",
	},
	{
		.name = "status",
		.run = cmd_status,
		.needs = CLI_NEEDS_STATE_READ,
		.synopsis = "[--json] [--max-age DURATION]",
		.summary = "last runs, cursor, snapshot size, pending and failed actions",
		.help = "  --json              print one JSON object\n"
			"  --max-age DURATION  exit 1 when the last successful sync is older than\n"
			"                      DURATION, for monitoring: whole numbers with units d,\n"
			"                      h, m, s, largest first (90s, 15m, 1h30m, 2d; a plain\n"
			"                      number is seconds), from 1s to 3650d\n",
	},
	{
		.name = "explain",
		.run = cmd_explain,
		.needs = CLI_NEEDS_STATE_READ | CLI_DRY_RUN,
		.synopsis = "OPPORTUNITY-ID",
		.summary = "show the snapshot row, the rules evaluated and every action taken",
		.help = "Shows what refty-lever knows and did about one Lever opportunity.\n",
	},
	{
		.name = "retry",
		.run = cmd_retry,
		.needs = CLI_NEEDS_STATE_WRITE,
		.synopsis = "[ACTION-ID... | --all]",
		.summary = "re-queue actions that failed permanently",
		.help = "  --all  re-queue every failed action\n"
			"ACTION-ID is the number status shows after '#' (1 to 9223372036854775807).\n"
			"The next sync performs them again, with the same idempotency keys.\n",
	},
	{
		.name = "check",
		.run = cmd_check,
		.needs = CLI_NEEDS_CONFIG,
		.synopsis = "[--online]",
		.summary = "validate the configuration and print the rules",
		.help = "Validates the configuration file offline, reports every error as\n"
			"file:line: key: message, and prints the rules as understood.\n"
			"\n"
			"  --online  also resolve every job, stage, sequence and language against\n"
			"            Lever and Refty\n",
	},
	{
		.name = "lever",
		.run = cmd_lever,
		.needs = CLI_NEEDS_LEVER,
		.synopsis = "stages | postings [--json]",
		.summary = "list Lever stage and posting ids and names, to write rules with",
		.help = "  --json  print JSON Lines\n",
	},
	{
		.name = "refty",
		.run = cmd_refty,
		.needs = CLI_NEEDS_REFTY | CLI_DRY_RUN,
		.synopsis = "sequences [--json]",
		.summary = "list Refty sequences and their stages",
		.help = "  --json  print JSON Lines\n",
	},
	{
		.name = "auth",
		.run = cmd_auth,
		.needs = CLI_NEEDS_CONFIG, // auth status is a dry run; login opens Lever
		.synopsis = "login [--paste] | status | logout",
		.summary = "Lever OAuth (API keys need none of this)",
		.help = "  login   authorise refty-lever in Lever and store the tokens; the code\n"
			"          arrives on http://127.0.0.1:<redirect_port>/callback, or with\n"
			"          --paste is read from standard input\n"
			"  status  show the account and token expiry (never a token)\n"
			"  logout  delete the stored tokens\n",
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
	      "  -v, --verbose          more detail on stderr (repeat for HTTP traces)\n"
	      "  -q, --quiet            errors only (repeat for silence)\n"
	      "      --log-format FMT   text (default) or json (JSON Lines on stderr)\n"
	      "  -h, --help             this help; 'refty-lever COMMAND --help' for a command\n"
	      "  -V, --version          print the version\n"
	      "\nExit status: 0 success, 1 partial, 2 usage or configuration, 3 remote,\n"
	      "4 local, 5 locked by another run, 6 safety valve. See refty-lever(1).\n",
		out);
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

int main(int argc, char **argv)
{
	// A closed pipe (refty-lever status | head) must not kill a run midway.
	signal(SIGPIPE, SIG_IGN);
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
			printf("refty-lever %s\n", REFTY_LEVER_VERSION);
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
		fprintf(stderr, "refty-lever: error: unknown command '%s'\n%s", argv[optind],
			global_usage);
		return EXIT_USAGE;
	}
	int sub_argc = argc - optind;
	char **sub_argv = argv + optind;
	optind = 0; // glibc: 0 re-initialises getopt for the command's own options
	opterr = 0; // commands report bad options themselves, naming the command
	if (!http_global_init()) {
		return EXIT_LOCAL;
	}
	struct cli_ctx ctx = {.cli = &cli, .cmd = cmd, .dry_run = cmd->needs & CLI_DRY_RUN};
	int rc = cmd->run(&ctx, sub_argc, sub_argv);
	cli_close(&ctx);
	http_global_cleanup();
	log_finish();
	return rc;
}
