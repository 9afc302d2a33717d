#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "jsonw.h"
#include "plan.h"
#include "snapshot.h"

/* "90", "90s", "15m", "2h", "1d" to milliseconds. */
static bool parse_duration(const char *s, int64_t *ms)
{
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (end == s || v <= 0) {
		return false;
	}
	int64_t unit = 1000;
	if (*end == 's' || *end == '\0') {
		unit = 1000;
	} else if (*end == 'm') {
		unit = 60 * 1000;
	} else if (*end == 'h') {
		unit = 3600 * 1000;
	} else if (*end == 'd') {
		unit = 86400 * 1000;
	} else {
		return false;
	}
	if (*end && end[1]) {
		return false;
	}
	*ms = (int64_t)v * unit;
	return true;
}

static const char *when(int64_t ms, char *buf, size_t size)
{
	return ms > 0 ? plan_format_time(ms, buf, size) : "never";
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

struct status {
	struct snapshot *snap;
	bool json;
	struct jsonw *w;
	int64_t oldest_pending_id;
};

static bool print_run(void *ud, const struct run_record *r)
{
	struct status *st = ud;
	char t[40];
	if (st->json) {
		jsonw_object_begin(st->w);
		jsonw_kv_int(st->w, "id", r->id);
		jsonw_kv_string(st->w, "command", r->command);
		jsonw_kv_string(st->w, "started_at", when(r->started_at, t, sizeof(t)));
		jsonw_kv_bool(st->w, "finished", r->finished_at > 0);
		jsonw_kv_int(st->w, "exit_status", r->exit_code);
		jsonw_kv_int(st->w, "seen", r->seen);
		jsonw_kv_int(st->w, "changed", r->changed);
		jsonw_kv_int(st->w, "enrolled", r->enrolled);
		jsonw_kv_int(st->w, "sent", r->sent);
		jsonw_kv_int(st->w, "waiting_email", r->waiting);
		jsonw_kv_int(st->w, "skipped", r->skipped);
		jsonw_kv_int(st->w, "failed", r->failed);
		jsonw_object_end(st->w);
		return true;
	}
	printf("  #%-5" PRId64 " %-8s %s  ", r->id, r->command, when(r->started_at, t, sizeof(t)));
	if (r->finished_at == 0) {
		printf("did not finish (still running, or killed)\n");
		return true;
	}
	printf("exit %d  seen %" PRId64 ", changed %" PRId64 ", enrolled %" PRId64 ", sent %" PRId64
	       ", waiting %" PRId64 ", skipped %" PRId64 ", failed %" PRId64 "\n",
		r->exit_code, r->seen, r->changed, r->enrolled, r->sent, r->waiting, r->skipped,
		r->failed);
	return true;
}

static bool first_id(void *ud, const struct action *a)
{
	*(int64_t *)ud = a->id;
	return false;
}

/* Records in quarantine: how many, and the first few ids to name. */
struct quarantine {
	int64_t n;
	char *ids[5];
};

static bool count_quarantine(void *ud, const struct action *a)
{
	struct quarantine *q = ud;
	if (q->n < (int64_t)(sizeof(q->ids) / sizeof(q->ids[0]))) {
		q->ids[q->n] = log_sanitize(a->opportunity_id);
	}
	q->n++;
	return true;
}

static void quarantine_finish(struct quarantine *q)
{
	for (size_t i = 0; i < sizeof(q->ids) / sizeof(q->ids[0]); i++) {
		free(q->ids[i]);
	}
}

static void print_quarantine(const char *label, const struct quarantine *q)
{
	printf("%s %" PRId64, label, q->n);
	for (size_t i = 0; i < sizeof(q->ids) / sizeof(q->ids[0]) && q->ids[i]; i++) {
		printf("%s%s", i ? ", " : " (", q->ids[i]);
	}
	printf("%s\n", q->n > (int64_t)(sizeof(q->ids) / sizeof(q->ids[0])) ? ", ...)" : q->n ? ")" : "");
}

static void json_quarantine(struct jsonw *w, const char *key, const struct quarantine *q)
{
	jsonw_key(w, key);
	jsonw_object_begin(w);
	jsonw_kv_int(w, "count", q->n);
	jsonw_key(w, "first");
	jsonw_array_begin(w);
	for (size_t i = 0; i < sizeof(q->ids) / sizeof(q->ids[0]) && q->ids[i]; i++) {
		jsonw_string(w, q->ids[i]);
	}
	jsonw_array_end(w);
	jsonw_object_end(w);
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	const struct cli_command *self = cli_find_command("status");
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
		case OPT_MAX_AGE:
			if (!parse_duration(optarg, &max_age)) {
				return cli_usage_error(self, "--max-age: expected a duration such as 90s, "
							     "15m, 2h or 1d, got '%s'",
					optarg);
			}
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
	struct config *cfg = cli_load_config(cli);
	if (!cfg) {
		return EXIT_USAGE;
	}
	struct app app;
	app_init(&app, cfg, false);
	// Before the open, which reads a missing or 0-byte file as an empty database.
	enum snapshot_presence presence = snapshot_presence(cfg->state);
	int rc = app_open_state(&app, APP_STATE_READ);
	if (rc != EXIT_OK) {
		goto out;
	}
	struct snapshot *snap = app.snap;
	bool err = false;
	char *cursor = snapshot_meta_get(snap, "cursor", &err);
	int64_t cursor_ms = cursor ? strtoll(cursor, NULL, 10) : 0;
	free(cursor);
	int64_t seeded_at = err ? -1 : snapshot_seeded_at(snap);
	err = err || seeded_at < 0;
	int64_t size = snapshot_opp_count(snap);
	int64_t counts[6];
	struct run_record last = {0};
	int have_last = snapshot_last_success(snap, "sync", &last);
	int64_t oldest_id = 0;
	struct action oldest = {0};
	int have_oldest = 0;
	struct quarantine unreadable = {0}, untrusted = {0};
	if (!snapshot_actions_of_kind(snap, ACTION_UNREADABLE, ACTION_FAILED, count_quarantine,
		    &unreadable) ||
		!snapshot_actions_of_kind(snap, ACTION_UNTRUSTED, ACTION_SKIPPED, count_quarantine,
			&untrusted)) {
		err = true;
	}
	if (err || size < 0 || have_last < 0 || !snapshot_action_counts(snap, counts) ||
		!snapshot_actions_in_state(snap, ACTION_PENDING, first_id, &oldest_id) ||
		(oldest_id > 0 && (have_oldest = snapshot_action_get(snap, oldest_id, &oldest)) < 0)) {
		rc = EXIT_LOCAL;
		run_record_finish(&last);
		quarantine_finish(&unreadable);
		quarantine_finish(&untrusted);
		goto out;
	}
	// Quarantine is not Refty work: it is shown on its own, not as failed or skipped actions.
	counts[ACTION_FAILED] -= unreadable.n;
	counts[ACTION_SKIPPED] -= untrusted.n;
	int64_t now = now_ms();
	bool stale = max_age > 0 && (have_last != 1 || now - last.started_at > max_age);
	char t1[40], t2[40];
	if (json) {
		struct strbuf out;
		struct jsonw w;
		jsonw_line_begin(&w, &out);
		jsonw_kv_string(&w, "state", cfg->state);
		jsonw_kv_string(&w, "state_file", presence_name(presence));
		jsonw_kv_bool(&w, "seeded", seeded_at > 0);
		jsonw_kv_string(&w, "seeded_at", seeded_at > 0 ? when(seeded_at, t1, sizeof(t1)) : NULL);
		jsonw_kv_int(&w, "snapshot_size", size);
		jsonw_kv_string(&w, "cursor", cursor_ms > 0 ? when(cursor_ms, t1, sizeof(t1)) : NULL);
		jsonw_kv_string(&w, "last_successful_sync",
			have_last == 1 ? when(last.started_at, t2, sizeof(t2)) : NULL);
		if (max_age > 0) {
			jsonw_kv_bool(&w, "stale", stale);
		}
		jsonw_key(&w, "actions");
		jsonw_object_begin(&w);
		for (int i = 0; i < 6; i++) {
			jsonw_kv_int(&w, action_state_name((enum action_state)i), counts[i]);
		}
		jsonw_object_end(&w);
		json_quarantine(&w, "unreadable", &unreadable);
		json_quarantine(&w, "untrusted_times", &untrusted);
		jsonw_key(&w, "oldest_pending");
		if (have_oldest == 1) {
			jsonw_object_begin(&w);
			jsonw_kv_int(&w, "id", oldest.id);
			jsonw_kv_string(&w, "kind", action_kind_name(oldest.kind));
			jsonw_kv_string(&w, "opportunity_id", oldest.opportunity_id);
			jsonw_kv_string(&w, "since", when(oldest.created_at, t1, sizeof(t1)));
			jsonw_kv_int(&w, "attempts", oldest.attempts);
			jsonw_kv_string(&w, "last_error", oldest.last_error);
			jsonw_object_end(&w);
		} else {
			jsonw_null(&w);
		}
		jsonw_key(&w, "runs");
		jsonw_array_begin(&w);
		struct status st = {.snap = snap, .json = true, .w = &w};
		if (!snapshot_runs_recent(snap, 10, print_run, &st)) {
			rc = EXIT_LOCAL;
		}
		jsonw_array_end(&w);
		jsonw_line_end(&w, stdout);
	} else {
		if (presence == SNAPSHOT_PRESENT) {
			printf("state:     %s (%" PRId64 " opportunities)\n", cfg->state, size);
		} else {
			printf("state:     %s (%s)\n", cfg->state, presence_name(presence));
		}
		if (seeded_at > 0) {
			printf("seeded:    %s\n", when(seeded_at, t1, sizeof(t1)));
		} else {
			printf("seeded:    not seeded: run 'refty-lever sync --seed' (or "
			       "'refty-lever backfill') on a first run or after an interrupted seeding; "
			       "if the state should exist, restore it instead\n");
		}
		printf("cursor:    %s\n", cursor_ms > 0 ? when(cursor_ms, t1, sizeof(t1)) : "none");
		if (have_last == 1) {
			printf("last sync: %s, %" PRId64 " min ago, exit %d\n",
				when(last.started_at, t2, sizeof(t2)), (now - last.started_at) / 60000,
				last.exit_code);
		} else {
			printf("last sync: never succeeded\n");
		}
		printf("actions:   %" PRId64 " pending, %" PRId64 " waiting for email, %" PRId64
		       " failed, %" PRId64 " done, %" PRId64 " skipped, %" PRId64 " abandoned\n",
			counts[ACTION_PENDING], counts[ACTION_WAITING_EMAIL], counts[ACTION_FAILED],
			counts[ACTION_DONE], counts[ACTION_SKIPPED], counts[ACTION_ABANDONED]);
		if (have_oldest == 1) {
			char *detail = oldest.last_error ? log_sanitize(oldest.last_error) : NULL;
			printf("oldest pending: #%" PRId64 " %s for %s since %s (%d attempts%s%s)\n",
				oldest.id, action_kind_name(oldest.kind), oldest.opportunity_id,
				when(oldest.created_at, t1, sizeof(t1)), oldest.attempts,
				detail ? "; last error: " : "", detail ? detail : "");
			free(detail);
		}
		if (counts[ACTION_FAILED] > 0) {
			printf("failed actions need attention: 'refty-lever explain ID' shows why, "
			       "'refty-lever retry --all' re-queues them\n");
		}
		if (unreadable.n > 0) {
			print_quarantine("unreadable records:", &unreadable);
			printf("  Lever sent records that cannot be read; every sync fetches them again "
			       "and handles them once they read cleanly ('refty-lever explain ID' says "
			       "what is wrong)\n");
		}
		if (untrusted.n > 0) {
			print_quarantine("times not believed:", &untrusted);
			printf("  stage entries or updates dated more than a day ahead or before 2000 "
			       "were not acted on ('refty-lever explain ID')\n");
		}
		printf("recent runs:\n");
		struct status st = {.snap = snap};
		if (!snapshot_runs_recent(snap, 5, print_run, &st)) {
			rc = EXIT_LOCAL;
		}
	}
	if (rc == EXIT_OK && stale) {
		if (seeded_at == 0) {
			log_error("no sync has succeeded yet: state '%s' is not seeded", cfg->state);
		} else if (have_last == 1) {
			log_error("the last successful sync is older than the allowed maximum age");
		} else {
			log_error("no sync has succeeded yet");
		}
		rc = EXIT_PARTIAL;
	}
	run_record_finish(&last);
	quarantine_finish(&unreadable);
	quarantine_finish(&untrusted);
	if (have_oldest == 1) {
		action_finish(&oldest);
	}
out:
	app_finish(&app);
	conf_destroy(cfg);
	return rc;
}
