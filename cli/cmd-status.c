#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "jsonw.h"
#include "log.h"
#include "status.h"
#include "timeutil.h"

/* The longest --max-age: beyond ten years the check would never fire anyway. */
#define MAX_AGE_LIMIT_MS (INT64_C(3650) * 86400 * 1000)

static const char *when(int64_t ms, char *buf, size_t size)
{
	return ms > 0 ? timeutil_format(ms, buf, size) : "never";
}

static const char *presence_name(enum snapshot_presence p)
{
	switch (p) {
	case SNAPSHOT_MISSING:
		return "missing";
	case SNAPSHOT_ZERO_BYTES:
		return "empty file";
	default:
		return "present";
	}
}

static void json_run(struct jsonw *w, const struct run_record *r)
{
	char t[40];
	jsonw_object_begin(w);
	jsonw_kv_int(w, "id", r->id);
	jsonw_kv_string(w, "command", r->command);
	jsonw_kv_string(w, "started_at", when(r->started_at, t, sizeof(t)));
	jsonw_kv_bool(w, "finished", r->finished_at > 0);
	jsonw_kv_bool(w, "interrupted", r->interrupted_by != NULL);
	jsonw_kv_string(w, "signal", r->interrupted_by);
	jsonw_kv_int(w, "exit_status", r->exit_code);
	jsonw_kv_int(w, "seen", r->seen);
	jsonw_kv_int(w, "changed", r->changed);
	jsonw_kv_int(w, "enrolled", r->enrolled);
	jsonw_kv_int(w, "sent", r->sent);
	jsonw_kv_int(w, "waiting_email", r->waiting);
	jsonw_kv_int(w, "skipped", r->skipped);
	jsonw_kv_int(w, "failed", r->failed);
	jsonw_kv_int(w, "pending", r->pending);
	jsonw_kv_bool(w, "healthy", r->healthy);
	jsonw_kv_string(w, "message", r->message);
	jsonw_object_end(w);
}

static void print_run(const struct run_record *r)
{
	char t[40];
	printf("  #%-5" PRId64 " %-8s %s  ", r->id, r->command, when(r->started_at, t, sizeof(t)));
	if (r->finished_at == 0) {
		printf("did not finish (still running, or killed)\n");
		return;
	}
	if (r->interrupted_by) {
		// Stopped cleanly before its work was done: the next run goes on from there.
		printf("interrupted by %s, ", r->interrupted_by);
	}
	printf("exit %d  seen %" PRId64 ", changed %" PRId64 ", enrolled %" PRId64 ", sent %" PRId64
	       ", waiting %" PRId64 ", skipped %" PRId64 ", failed %" PRId64 "\n",
		r->exit_code, r->seen, r->changed, r->enrolled, r->sent, r->waiting, r->skipped,
		r->failed);
	if (r->message) {
		char *why = log_sanitize(r->message);
		printf("         %s\n", why);
		free(why);
	}
}

static void print_quarantine(const char *label, const struct status_quarantine *q)
{
	printf("%s %" PRId64, label, q->n);
	for (size_t i = 0; i < STATUS_QUARANTINE_NAMED && q->ids[i]; i++) {
		printf("%s%s", i ? ", " : " (", q->ids[i]);
	}
	printf("%s\n", q->n > (int64_t)STATUS_QUARANTINE_NAMED ? ", ...)" : q->n ? ")" : "");
}

static void json_quarantine(struct jsonw *w, const char *key, const struct status_quarantine *q)
{
	jsonw_key(w, key);
	jsonw_object_begin(w);
	jsonw_kv_int(w, "count", q->n);
	jsonw_key(w, "first");
	jsonw_array_begin(w);
	for (size_t i = 0; i < STATUS_QUARANTINE_NAMED && q->ids[i]; i++) {
		jsonw_string(w, q->ids[i]);
	}
	jsonw_array_end(w);
	jsonw_object_end(w);
}

/* One JSON object on stdout. */
static void render_json(const struct status_report *r, const char *state, int64_t max_age)
{
	char t1[40], t2[40];
	struct strbuf out;
	struct jsonw w;
	jsonw_line_begin(&w, &out);
	jsonw_kv_string(&w, "state", state);
	jsonw_kv_string(&w, "state_file", presence_name(r->presence));
	jsonw_kv_bool(&w, "seeded", r->seeded_at > 0);
	jsonw_kv_string(&w, "seeded_at", r->seeded_at > 0 ? when(r->seeded_at, t1, sizeof(t1)) : NULL);
	jsonw_kv_int(&w, "snapshot_size", r->size);
	jsonw_kv_string(&w, "cursor", r->cursor_ms > 0 ? when(r->cursor_ms, t1, sizeof(t1)) : NULL);
	jsonw_kv_string(&w, "last_successful_sync",
		r->have_last ? when(r->last.started_at, t2, sizeof(t2)) : NULL);
	if (max_age > 0) {
		jsonw_kv_bool(&w, "stale", status_stale(r, max_age));
	}
	jsonw_key(&w, "actions");
	jsonw_object_begin(&w);
	for (int i = 0; i < ACTION_STATE_COUNT; i++) {
		jsonw_kv_int(&w, action_state_name((enum action_state)i), r->counts[i]);
	}
	jsonw_object_end(&w);
	json_quarantine(&w, "unreadable", &r->unreadable);
	json_quarantine(&w, "untrusted_times", &r->untrusted);
	jsonw_key(&w, "oldest_pending");
	if (r->have_oldest) {
		const struct action *o = &r->oldest;
		jsonw_object_begin(&w);
		jsonw_kv_int(&w, "id", o->id);
		jsonw_kv_string(&w, "kind", action_kind_name(o->kind));
		jsonw_kv_string(&w, "opportunity_id", o->opportunity_id);
		jsonw_kv_string(&w, "since", when(o->created_at, t1, sizeof(t1)));
		jsonw_kv_int(&w, "attempts", o->attempts);
		jsonw_kv_string(&w, "last_error", o->last_error);
		jsonw_object_end(&w);
	} else {
		jsonw_null(&w);
	}
	jsonw_key(&w, "failed");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < r->n_failed; i++) {
		const struct action *f = &r->failed[i];
		jsonw_object_begin(&w);
		jsonw_kv_int(&w, "id", f->id);
		jsonw_kv_string(&w, "kind", action_kind_name(f->kind));
		jsonw_kv_string(&w, "opportunity_id", f->opportunity_id);
		jsonw_kv_string(&w, "key", f->key);
		jsonw_kv_int(&w, "attempts", f->attempts);
		jsonw_kv_string(&w, "error", f->last_error);
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_key(&w, "runs");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < r->n_runs; i++) {
		json_run(&w, &r->runs[i]);
	}
	jsonw_array_end(&w);
	jsonw_line_end(&w, stdout);
}

/* Lines of text on stdout. */
static void render_text(const struct status_report *r, const char *state)
{
	char t1[40], t2[40];
	if (r->presence == SNAPSHOT_PRESENT) {
		printf("state:     %s (%" PRId64 " opportunities)\n", state, r->size);
	} else {
		printf("state:     %s (%s)\n", state, presence_name(r->presence));
	}
	if (r->seeded_at > 0) {
		printf("seeded:    %s\n", when(r->seeded_at, t1, sizeof(t1)));
	} else {
		printf("seeded:    not seeded: run 'refty-lever sync --seed' (or "
		       "'refty-lever backfill') on a first run or after an interrupted seeding; "
		       "if the state should exist, restore it instead\n");
	}
	printf("cursor:    %s\n", r->cursor_ms > 0 ? when(r->cursor_ms, t1, sizeof(t1)) : "none");
	if (r->have_last) {
		printf("last healthy sync: %s, %" PRId64 " min ago, exit %d\n",
			when(r->last.started_at, t2, sizeof(t2)), (r->now - r->last.started_at) / 60000,
			r->last.exit_code);
	} else {
		printf("last healthy sync: never\n");
	}
	const int64_t *counts = r->counts;
	printf("actions:   %" PRId64 " pending, %" PRId64 " waiting for email, %" PRId64
	       " failed, %" PRId64 " done, %" PRId64 " skipped, %" PRId64 " abandoned\n",
		counts[ACTION_PENDING], counts[ACTION_WAITING_EMAIL], counts[ACTION_FAILED],
		counts[ACTION_DONE], counts[ACTION_SKIPPED], counts[ACTION_ABANDONED]);
	if (r->have_oldest) {
		const struct action *o = &r->oldest;
		char *detail = o->last_error ? log_sanitize(o->last_error) : NULL;
		printf("oldest pending: #%" PRId64 " %s for %s since %s (%d attempts%s%s)\n", o->id,
			action_kind_name(o->kind), o->opportunity_id, when(o->created_at, t1, sizeof(t1)),
			o->attempts, detail ? "; last error: " : "", detail ? detail : "");
		free(detail);
	}
	if (counts[ACTION_FAILED] > 0) {
		printf("failed actions (%" PRId64 "), which need attention:\n", counts[ACTION_FAILED]);
		for (size_t i = 0; i < r->n_failed; i++) {
			const struct action *f = &r->failed[i];
			char *why = log_sanitize(f->last_error ? f->last_error : "(no error recorded)");
			printf("  #%" PRId64 " %s for %s: %s\n", f->id, action_kind_name(f->kind),
				f->opportunity_id, why);
			free(why);
		}
		if (counts[ACTION_FAILED] > (int64_t)r->n_failed) {
			printf("  ... and %" PRId64 " more\n", counts[ACTION_FAILED] - (int64_t)r->n_failed);
		}
		printf("  'refty-lever explain OPPORTUNITY' shows the history; once the cause is "
		       "fixed, 'refty-lever retry ID...' or 'retry --all' re-queues them\n");
	}
	if (r->unreadable.n > 0) {
		print_quarantine("unreadable records:", &r->unreadable);
		printf("  Lever sent records that cannot be read; every sync fetches them again "
		       "and handles them once they read cleanly ('refty-lever explain ID' says "
		       "what is wrong)\n");
	}
	if (r->untrusted.n > 0) {
		print_quarantine("times not believed:", &r->untrusted);
		printf("  stage entries or updates dated more than a day ahead or before 2000 "
		       "were not acted on ('refty-lever explain ID')\n");
	}
	printf("recent runs:\n");
	for (size_t i = 0; i < r->n_runs; i++) {
		print_run(&r->runs[i]);
	}
}

/*
 * --max-age: exit 1 unless a healthy sync (snapshot_last_healthy) started within max_age. Alone
 * it prints one line: "ok: ..." on stdout (not under -q), or "stale: ..." as an error, so
 * that the scheduler's log and mail show it at any -q.
 */
static int report_age(const struct status_report *r, const char *state, int64_t max_age,
	bool line)
{
	char limit[32], ago[48];
	timeutil_format_duration(max_age, limit, sizeof(limit));
	if (r->have_last) {
		status_format_age(r->now - r->last.started_at, ago, sizeof(ago));
	}
	if (!status_stale(r, max_age)) {
		if (line && log_enabled(LOG_INFO)) {
			printf("ok: last healthy sync %s ago\n", ago);
		}
		return EXIT_OK;
	}
	if (r->seeded_at == 0) {
		log_error("stale: no healthy sync yet: state '%s' is not seeded", state);
	} else if (r->have_last) {
		log_error("stale: last healthy sync %s ago, more than %s (older than --max-age)", ago,
			limit);
	} else {
		log_error("stale: no healthy sync yet (a run that cannot reach Lever or Refty, or "
			  "leaves work pending, is not healthy: 'refty-lever status' shows the runs)");
	}
	return EXIT_PARTIAL;
}

int cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	enum { OPT_JSON = 256, OPT_MAX_AGE };
	static const struct option options[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"max-age", required_argument, NULL, OPT_MAX_AGE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	int64_t max_age = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_MAX_AGE: {
			int rc = cli_parse_duration(self, "--max-age", optarg, 1000, MAX_AGE_LIMIT_MS,
				&max_age);
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
	int rc = cli_open(ctx);
	if (rc != EXIT_OK) {
		return rc;
	}
	const char *state = ctx->cfg->state;
	struct status_report r;
	if (!status_read(ctx->app.snap, state, json ? 10 : 5, &r)) {
		return EXIT_LOCAL;
	}
	if (json) {
		render_json(&r, state, max_age);
	} else if (max_age == 0) {
		render_text(&r, state);
	}
	rc = r.runs_failed ? EXIT_LOCAL : EXIT_OK;
	if (rc == EXIT_OK && max_age > 0) {
		rc = report_age(&r, state, max_age, !json);
	}
	status_report_finish(&r);
	return rc;
}
