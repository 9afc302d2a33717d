#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "config.h"
#include "signals.h"
#include "exitcode.h"
#include "sync.h"
#include "timeutil.h"
#include "watch.h"

/* sync --watch: the watcher takes the configuration over, to swap it at a reload. */
static int watch(struct cli_ctx *ctx, const struct sync_options *o, int64_t interval_ms)
{
	struct watch_options wo = {
		.config_path = ctx->cfg->path,
		.interval_ms = interval_ms,
		.json = o->json,
		.max_actions = o->max_actions,
	};
	struct watch *w = watch_create(ctx->cfg, &wo);
	ctx->cfg = NULL;
	int rc = (int)watch_run(w);
	watch_destroy(w);
	return rc;
}

static int run(struct cli_ctx *ctx, int argc, char **argv, bool backfill)
{
	const struct cli_command *self = ctx->cmd;
	enum { OPT_JSON = 256, OPT_MAX, OPT_RULE, OPT_SINCE, OPT_TRIGGER, OPT_SEED, OPT_WATCH };
	static const struct option sync_options[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, OPT_JSON},
		{"max-actions", required_argument, NULL, OPT_MAX},
		{"seed", no_argument, NULL, OPT_SEED},
		{"watch", required_argument, NULL, OPT_WATCH},
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
	int64_t watch_ms = 0;
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
		case OPT_MAX: {
			int64_t v = 0;
			int rc = cli_parse_int(self, "--max-actions", optarg, 0, CONF_MAX_ACTIONS_LIMIT, &v);
			if (rc != EXIT_OK) {
				return rc;
			}
			o.max_actions = (long)v;
			break;
		}
		case OPT_RULE:
			o.only_rule = optarg;
			break;
		case OPT_SINCE:
			if (!timeutil_parse_time(optarg, &o.since_ms)) {
				return cli_usage_error(self,
					"--since: expected a date as YYYY-MM-DD or a UTC time as "
					"YYYY-MM-DDTHH:MM:SSZ, from 1970 to 9999, got '%s'",
					optarg);
			}
			break;
		case OPT_TRIGGER:
			o.trigger_current = true;
			break;
		case OPT_SEED:
			o.seed = true;
			break;
		case OPT_WATCH: {
			int rc = cli_parse_duration(self, "--watch", optarg, 1000, 86400000, &watch_ms);
			if (rc != EXIT_OK) {
				return rc;
			}
			break;
		}
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
	if (watch_ms && (o.dry_run || o.seed)) {
		return cli_usage_error(self, "--watch cannot be combined with %s: seed once, or try a "
					     "dry run, then start the watcher",
			o.dry_run ? "--dry-run" : "--seed");
	}
	if (watch_ms) {
		signals_hup_reloads(); // as early as it is known
	}
	int rc = cli_open(ctx);
	if (rc != EXIT_OK) {
		return rc;
	}
	return watch_ms ? watch(ctx, &o, watch_ms) : (int)sync_run(ctx->cfg, &o);
}

int cmd_sync(struct cli_ctx *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, false);
}

int cmd_backfill(struct cli_ctx *ctx, int argc, char **argv)
{
	return run(ctx, argc, argv, true);
}
