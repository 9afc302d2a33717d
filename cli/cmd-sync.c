#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "exitcode.h"
#include "sync.h"

static bool parse_count(const char *s, long *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < 0) {
		return false;
	}
	*out = v;
	return true;
}

/* YYYY-MM-DD (UTC midnight) to ms since the epoch. */
static bool parse_date(const char *s, int64_t *out)
{
	int y, m, d;
	char tail;
	if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 ||
		y < 1970) {
		return false;
	}
	static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > days_in[m - 1] + (m == 2 && leap)) {
		return false;
	}
	// Days from the civil date, so no time zone enters the computation.
	int yy = y - (m <= 2);
	int era = yy / 400;
	int yoe = yy - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = (int64_t)era * 146097 + doe - 719468;
	*out = days * 86400 * 1000;
	return true;
}

static int run(struct cli_ctx *ctx, int argc, char **argv, bool backfill)
{
	const struct cli_command *self = ctx->cmd;
	enum { OPT_JSON = 256, OPT_MAX, OPT_RULE, OPT_SINCE, OPT_TRIGGER, OPT_SEED };
	static const struct option sync_options[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, OPT_JSON},
		{"max-actions", required_argument, NULL, OPT_MAX},
		{"seed", no_argument, NULL, OPT_SEED},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const struct option backfill_options[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, OPT_JSON},
		{"max-actions", required_argument, NULL, OPT_MAX},
		{"rule", required_argument, NULL, OPT_RULE},
		{"since", required_argument, NULL, OPT_SINCE},
		{"trigger-current", no_argument, NULL, OPT_TRIGGER},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sync_options o = {.max_actions = -1, .backfill = backfill};
	int c;
	while ((c = getopt_long(argc, argv, "+nh", backfill ? backfill_options : sync_options,
			NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = true;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_MAX:
			if (!parse_count(optarg, &o.max_actions)) {
				return cli_usage_error(self, "--max-actions: expected a whole number, got '%s'",
					optarg);
			}
			break;
		case OPT_RULE:
			o.only_rule = optarg;
			break;
		case OPT_SINCE:
			if (!parse_date(optarg, &o.since_ms)) {
				return cli_usage_error(self, "--since: expected a date as YYYY-MM-DD, got '%s'",
					optarg);
			}
			break;
		case OPT_TRIGGER:
			o.trigger_current = true;
			break;
		case OPT_SEED:
			o.seed = true;
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
	return rc == EXIT_OK ? (int)sync_run(ctx->cfg, &o) : rc;
}

int cmd_sync(struct cli_ctx *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, false);
}

int cmd_backfill(struct cli_ctx *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, true);
}
