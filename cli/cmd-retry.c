#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "exitcode.h"
#include "jsonw.h"
#include "log.h"
#include "snapshot.h"
#include "xalloc.h"

/* What retry did with each id, for its summary line or its JSON object. */
struct retry_outcome {
	struct id_list {
		int64_t *ids;
		size_t n;
	} requeued, unknown, not_failed, kept;
	enum action_state *not_failed_states; /* parallel to not_failed */
};

static bool id_listed(const struct id_list *l, int64_t id)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->ids[i] == id) {
			return true;
		}
	}
	return false;
}

static void id_push(struct id_list *l, int64_t id)
{
	l->ids = xrealloc(l->ids, (l->n + 1) * sizeof(*l->ids));
	l->ids[l->n++] = id;
}

static void outcome_finish(struct retry_outcome *o)
{
	free(o->requeued.ids);
	free(o->unknown.ids);
	free(o->not_failed.ids);
	free(o->kept.ids);
	free(o->not_failed_states);
}

/*
 * Every id must name a journal entry: an unknown one is an error naming it, and nothing is
 * re-queued; one that has not failed is named in a warning (it is left as it is).
 */
static int check_ids(struct snapshot *snap, const int64_t *ids, size_t n, struct retry_outcome *o)
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
			id_push(&o->unknown, ids[i]);
			rc = EXIT_USAGE;
			continue;
		}
		if (a.state != ACTION_FAILED) {
			log_warn("action #%" PRId64 " is %s, not failed: left as it is", ids[i],
				action_state_name(a.state));
			o->not_failed_states = xrealloc(o->not_failed_states,
				(o->not_failed.n + 1) * sizeof(*o->not_failed_states));
			o->not_failed_states[o->not_failed.n] = a.state;
			id_push(&o->not_failed, ids[i]);
		}
		action_finish(&a);
	}
	return rc;
}

static bool collect_failed(void *ud, const struct action *a)
{
	id_push(ud, a->id);
	return true;
}

/* Re-queues the failed ones among ids, one at a time so that the answer names each; a
 * quarantine entry is failed too but is never re-queued (every sync fetches it again). */
static int requeue(struct snapshot *snap, const int64_t *ids, size_t n, struct retry_outcome *o)
{
	for (size_t i = 0; i < n; i++) {
		// An id given twice is answered once.
		if (id_listed(&o->not_failed, ids[i]) || id_listed(&o->requeued, ids[i])
			|| id_listed(&o->kept, ids[i])) {
			continue;
		}
		int64_t done = snapshot_actions_requeue(snap, &ids[i], 1);
		if (done < 0) {
			return EXIT_LOCAL;
		}
		id_push(done ? &o->requeued : &o->kept, ids[i]);
	}
	return EXIT_OK;
}

static void json_ids(struct jsonw *w, const char *key, const struct id_list *l)
{
	jsonw_key(w, key);
	jsonw_array_begin(w);
	for (size_t i = 0; i < l->n; i++) {
		jsonw_int(w, l->ids[i]);
	}
	jsonw_array_end(w);
}

static void print_json(const struct retry_outcome *o)
{
	struct strbuf buf;
	struct jsonw w;
	jsonw_line_begin(&w, &buf);
	json_ids(&w, "requeued", &o->requeued);
	json_ids(&w, "unknown", &o->unknown);
	jsonw_key(&w, "not_failed");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < o->not_failed.n; i++) {
		jsonw_object_begin(&w);
		jsonw_kv_int(&w, "id", o->not_failed.ids[i]);
		jsonw_kv_string(&w, "state", action_state_name(o->not_failed_states[i]));
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	json_ids(&w, "quarantined", &o->kept);
	jsonw_line_end(&w, stdout);
}

int cmd_retry(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	enum { OPT_JSON = 256 };
	static const struct option options[] = {
		{"all", no_argument, NULL, 'a'},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool all = false, json = false;
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case OPT_JSON:
			json = true;
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
	struct id_list given = {.ids = xcalloc(n ? n : 1, sizeof(int64_t)), .n = n};
	for (size_t i = 0; i < n; i++) {
		int rc = cli_parse_int(self, "action id", argv[optind + (int)i], 1, INT64_MAX,
			&given.ids[i]);
		if (rc != EXIT_OK) {
			free(given.ids);
			return rc;
		}
	}
	struct retry_outcome o = {0};
	int rc = cli_open(ctx);
	if (rc == EXIT_OK && all) {
		given.n = 0;
		if (!snapshot_actions_in_state(ctx->app.snap, ACTION_FAILED, collect_failed, &given)) {
			rc = EXIT_LOCAL;
		}
	} else if (rc == EXIT_OK) {
		rc = check_ids(ctx->app.snap, given.ids, given.n, &o);
	}
	if (rc == EXIT_OK) {
		rc = requeue(ctx->app.snap, given.ids, given.n, &o);
	}
	if (rc == EXIT_OK && !json) {
		size_t done = o.requeued.n;
		printf("re-queued %zu failed action%s; the next sync performs %s with the same "
		       "idempotency keys\n",
			done, done == 1 ? "" : "s", done == 1 ? "it" : "them");
	}
	// An unknown id still gets its answer: nothing re-queued, and which id it was.
	if (json && (rc == EXIT_OK || rc == EXIT_USAGE) && ctx->opened) {
		print_json(&o);
	}
	outcome_finish(&o);
	free(given.ids);
	return rc;
}
