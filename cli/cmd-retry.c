#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "exitcode.h"
#include "snapshot.h"
#include "xalloc.h"

int cmd_retry(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	static const struct option options[] = {
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool all = false;
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'h':
			cli_print_command_help(self);
			return EXIT_OK;
		default:
			return cli_usage_error(self, "unknown option");
		}
	}
	size_t n = (size_t)(argc - optind);
	if (all == (n > 0)) {
		return cli_usage_error(self, "give action ids or --all (not both)");
	}
	int64_t *ids = xcalloc(n, sizeof(*ids));
	for (size_t i = 0; i < n; i++) {
		int rc = cli_parse_int(self, "action id", argv[optind + (int)i], 1, INT64_MAX, &ids[i]);
		if (rc != EXIT_OK) {
			free(ids);
			return rc;
		}
	}
	int rc = cli_open(ctx);
	if (rc == EXIT_OK) {
		int64_t done = snapshot_actions_requeue(ctx->app.snap, all ? NULL : ids, n);
		if (done < 0) {
			rc = EXIT_LOCAL;
		} else {
			printf("re-queued %" PRId64 " failed action%s; the next sync performs %s with the "
			       "same idempotency keys\n",
				done, done == 1 ? "" : "s", done == 1 ? "it" : "them");
			if (!all && (size_t)done < n) {
				log_warn("%zu of the given ids are not failed actions (see 'refty-lever status')",
					n - (size_t)done);
			}
		}
	}
	free(ids);
	return rc;
}
