#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "snapshot.h"
#include "xalloc.h"

/*
 * Every id must name a journal entry: an unknown one is an error naming it, and nothing is
 * re-queued; one that has not failed is named in a warning (it is left as it is).
 */
static int check_ids(struct snapshot *snap, const int64_t *ids, size_t n)
{
	int rc = EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		struct action a;
		int found = snapshot_action_get(snap, ids[i], &a);
		if (found < 0) {
			return EXIT_LOCAL;
		}
		if (!found) {
			log_error("retry: no action #%" PRId64 " in the journal ('refty-lever status' "
				  "lists the failed ones): nothing re-queued",
				ids[i]);
			rc = EXIT_USAGE;
			continue;
		}
		if (a.state != ACTION_FAILED) {
			log_warn("action #%" PRId64 " is %s, not failed: left as it is", ids[i],
				action_state_name(a.state));
		}
		action_finish(&a);
	}
	return rc;
}

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
	if (rc == EXIT_OK && !all) {
		rc = check_ids(ctx->app.snap, ids, n);
	}
	if (rc == EXIT_OK) {
		int64_t done = snapshot_actions_requeue(ctx->app.snap, all ? NULL : ids, n);
		if (done < 0) {
			rc = EXIT_LOCAL;
		} else {
			printf("re-queued %" PRId64 " failed action%s; the next sync performs %s with the "
			       "same idempotency keys\n",
				done, done == 1 ? "" : "s", done == 1 ? "it" : "them");

		}
	}
	free(ids);
	return rc;
}
