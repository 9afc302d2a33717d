#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
#include "jsonw.h"
#include "journal.h"
#include "log.h"
#include "plan.h"
#include "rules.h"
#include "snapshot.h"
#include "timeutil.h"
#include "xalloc.h"

static bool count_action(void *ud, const struct action *a)
{
	(*(int64_t *)ud)++;
	return true;
}

static bool print_action(void *ud, const struct action *a)
{
	const struct app *app = ud;
	char t1[40], t2[40], t3[40];
	printf("  #%" PRId64 " %s %s (from %s", a->id, action_kind_name(a->kind),
		action_state_name(a->state), a->origin ? a->origin : "sync");
	if (a->rule) {
		printf(", rule '%s'", a->rule);
	}
	printf(")\n");
	printf("      key: %s\n", a->key);
	if (a->refty_stage_name || a->refty_stage_id) {
		printf("      Refty stage: %s", a->refty_stage_name ? a->refty_stage_name : a->refty_stage_id);
		if (a->lever_stage_id) {
			printf(", on entering '%s'", app_stage_name(app, a->lever_stage_id));
		}
		if (a->entry_at_ms > 0) {
			printf(" at %s", timeutil_format(a->entry_at_ms, t3, sizeof(t3)));
		}
		printf("\n");
	}
	if (a->reason) {
		char *r = log_sanitize(a->reason);
		printf("      why: %s\n", r);
		free(r);
	}
	printf("      recorded %s, updated %s, %d attempt%s\n",
		timeutil_format(a->created_at, t1, sizeof(t1)),
		timeutil_format(a->updated_at, t2, sizeof(t2)), a->attempts, a->attempts == 1 ? "" : "s");
	if (a->refty_id) {
		printf("      Refty id: %s\n", a->refty_id);
	}
	if (a->last_error) {
		char *e = log_sanitize(a->last_error);
		printf("      last error: %s\n", e);
		free(e);
	}
	return true;
}

static void json_action(struct jsonw *w, const struct app *app, const struct action *a)
{
	char t[40];
	jsonw_object_begin(w);
	jsonw_kv_int(w, "id", a->id);
	jsonw_kv_string(w, "kind", action_kind_name(a->kind));
	jsonw_kv_string(w, "state", action_state_name(a->state));
	jsonw_kv_string(w, "origin", a->origin ? a->origin : "sync");
	jsonw_kv_string(w, "rule", a->rule);
	jsonw_kv_string(w, "key", a->key);
	jsonw_kv_string(w, "sequence_id", a->sequence_id);
	jsonw_kv_string(w, "refty_stage_id", a->refty_stage_id);
	jsonw_kv_string(w, "refty_stage_name", a->refty_stage_name);
	jsonw_kv_string(w, "lever_stage_id", a->lever_stage_id);
	jsonw_kv_string(w, "lever_stage_name",
		a->lever_stage_id ? app_stage_name(app, a->lever_stage_id) : NULL);
	jsonw_kv_string(w, "entered_at",
		a->entry_at_ms > 0 ? timeutil_format(a->entry_at_ms, t, sizeof(t)) : NULL);
	jsonw_kv_string(w, "reason", a->reason);
	jsonw_kv_string(w, "created_at", timeutil_format(a->created_at, t, sizeof(t)));
	jsonw_kv_string(w, "updated_at", timeutil_format(a->updated_at, t, sizeof(t)));
	jsonw_kv_int(w, "attempts", a->attempts);
	jsonw_kv_bool(w, "requeued", a->requeued);
	jsonw_kv_string(w, "refty_id", a->refty_id);
	jsonw_kv_string(w, "last_error", a->last_error);
	jsonw_object_end(w);
}

struct json_actions {
	struct jsonw *w;
	const struct app *app;
};

static bool json_action_cb(void *ud, const struct action *a)
{
	const struct json_actions *j = ud;
	json_action(j->w, j->app, a);
	return true;
}

/* What explain found, for the text and the JSON renderings alike. */
struct explanation {
	const char *id;
	bool found;                /* in the snapshot */
	struct opportunity_state st;
	bool rules_evaluated;      /* a usable name cache */
	const struct resolved_rule *rule;
	const char *job_title;     /* borrowed from the rules, or NULL */
	const char *blocked;       /* why nothing is sent, or NULL */
	bool quarantined;
	char *quarantine_error;
};

static void explain_gather(struct app *app, const char *id, int found, int rules_rc,
	struct explanation *e)
{
	e->id = id;
	e->found = found > 0;
	e->rules_evaluated = rules_rc == EXIT_OK;
	if (e->found && e->rules_evaluated && e->st.posting_id) {
		e->rule = rules_match(app->rules, e->st.posting_id);
		e->job_title = rules_posting_title(app->rules, e->st.posting_id);
	}
	if (e->found && e->rules_evaluated) {
		e->blocked = plan_blocked_reason(e->st.archived, e->st.anonymized, e->st.confidential,
			app->cfg->lever.confidential);
	}
	struct action q;
	char *key = journal_key_unreadable(id);
	int64_t qid = snapshot_action_id_by_key(app->snap, key);
	free(key);
	if (qid > 0 && snapshot_action_get(app->snap, qid, &q) == 1) {
		if (q.state == ACTION_FAILED) {
			e->quarantined = true;
			e->quarantine_error = xstrdup(q.last_error ? q.last_error : "");
		}
		action_finish(&q);
	}
}

static void print_rules_text(const struct explanation *e)
{
	const struct opportunity_state *st = &e->st;
	if (!e->rules_evaluated) {
		printf("  rules: not evaluated (no usable name cache)\n");
		return;
	}
	if (!st->posting_id) {
		printf("  rules: none applies: the opportunity has no application, so no job\n");
	} else if (e->rule) {
		const struct resolved_rule *r = e->rule;
		printf("  rules: '%s' (line %d) covers job '%s' -> sequence '%s', language %s\n",
			r->name, r->line, e->job_title ? e->job_title : st->posting_id,
			r->sequence_name, r->language ? r->language : "-");
		for (size_t i = 0; i < r->n_links; i++) {
			printf("    entering '%s' sends '%s'\n", r->links[i].lever_stage_name,
				r->links[i].refty_stage_name);
		}
	} else {
		printf("  rules: none covers job '%s'\n", e->job_title ? e->job_title : st->posting_id);
	}
	if (e->blocked) {
		printf("  nothing is sent while it is %s\n", e->blocked);
	}
}

static bool print_text(struct app *app, const struct explanation *e)
{
	const struct opportunity_state *st = &e->st;
	printf("opportunity %s\n", e->id);
	if (e->found) {
		char t[40];
		char *name = log_sanitize(st->contact.name ? st->contact.name : "");
		printf("  snapshot: '%s', stage '%s', job %s%s%s%s%s\n", name,
			app_stage_name(app, st->stage_id), st->posting_id ? st->posting_id : "(none)",
			st->archived ? ", archived" : "", st->anonymized ? ", anonymized" : "",
			st->confidential ? ", confidential" : "", st->contact.email ? "" : ", no email");
		printf("  stage entries handled up to %s\n",
			st->seen_until_ms > 0 ? timeutil_format(st->seen_until_ms, t, sizeof(t)) : "(none)");
		free(name);
		print_rules_text(e);
	} else {
		printf("  not in the snapshot: Lever has not shown it to refty-lever (yet), or it was "
		       "deleted\n");
	}
	if (e->quarantined) {
		char *why = log_sanitize(e->quarantine_error);
		printf("  quarantined: Lever's record cannot be read (%s); every sync fetches it "
		       "again and handles it once it reads cleanly\n",
			why);
		free(why);
	}
	printf("  journal:\n");
	return snapshot_actions_for_opp(app->snap, e->id, print_action, app);
}

static void json_snapshot(struct jsonw *w, const struct app *app, const struct explanation *e)
{
	const struct opportunity_state *st = &e->st;
	char t[40];
	jsonw_key(w, "snapshot");
	if (!e->found) {
		jsonw_null(w);
		return;
	}
	jsonw_object_begin(w);
	jsonw_kv_string(w, "name", st->contact.name);
	jsonw_kv_bool(w, "has_email", st->contact.email != NULL);
	jsonw_kv_string(w, "stage_id", st->stage_id);
	jsonw_kv_string(w, "stage_name", st->stage_id ? app_stage_name(app, st->stage_id) : NULL);
	jsonw_kv_string(w, "posting_id", st->posting_id);
	jsonw_kv_string(w, "posting_title", e->job_title);
	jsonw_kv_bool(w, "archived", st->archived);
	jsonw_kv_bool(w, "anonymized", st->anonymized);
	jsonw_kv_bool(w, "confidential", st->confidential);
	jsonw_kv_string(w, "handled_until",
		st->seen_until_ms > 0 ? timeutil_format(st->seen_until_ms, t, sizeof(t)) : NULL);
	jsonw_object_end(w);
}

/* The rule evaluated and why: "covered", "not_covered", "no_job" or "not_evaluated". */
static void json_rules(struct jsonw *w, const struct explanation *e)
{
	jsonw_key(w, "rule");
	jsonw_object_begin(w);
	const char *verdict = !e->found ? "not_in_snapshot"
		: !e->rules_evaluated       ? "not_evaluated"
		: !e->st.posting_id         ? "no_job"
		: e->rule                   ? "covered"
					    : "not_covered";
	jsonw_kv_string(w, "verdict", verdict);
	const struct resolved_rule *r = e->rule;
	jsonw_kv_string(w, "name", r ? r->name : NULL);
	if (r) {
		jsonw_kv_int(w, "line", r->line);
		jsonw_kv_string(w, "sequence_id", r->sequence_id);
		jsonw_kv_string(w, "sequence_name", r->sequence_name);
		jsonw_kv_string(w, "language", r->language);
		jsonw_key(w, "stages");
		jsonw_array_begin(w);
		for (size_t i = 0; i < r->n_links; i++) {
			jsonw_object_begin(w);
			jsonw_kv_string(w, "lever_stage_id", r->links[i].lever_stage_id);
			jsonw_kv_string(w, "lever_stage_name", r->links[i].lever_stage_name);
			jsonw_kv_string(w, "refty_stage_id", r->links[i].refty_stage_id);
			jsonw_kv_string(w, "refty_stage_name", r->links[i].refty_stage_name);
			jsonw_object_end(w);
		}
		jsonw_array_end(w);
	}
	jsonw_kv_string(w, "blocked", e->blocked);
	jsonw_object_end(w);
}

static bool print_json(struct app *app, const struct explanation *e)
{
	struct strbuf buf;
	struct jsonw w;
	jsonw_line_begin(&w, &buf);
	jsonw_kv_string(&w, "opportunity", e->id);
	json_snapshot(&w, app, e);
	json_rules(&w, e);
	jsonw_key(&w, "quarantine");
	jsonw_object_begin(&w);
	jsonw_kv_bool(&w, "quarantined", e->quarantined);
	jsonw_kv_string(&w, "error", e->quarantine_error);
	jsonw_object_end(&w);
	jsonw_key(&w, "journal");
	jsonw_array_begin(&w);
	struct json_actions j = {.w = &w, .app = app};
	bool ok = snapshot_actions_for_opp(app->snap, e->id, json_action_cb, &j);
	jsonw_array_end(&w);
	if (!ok) {
		// Half an object is no answer; the error is on stderr.
		strbuf_finish(&buf);
		return false;
	}
	jsonw_line_end(&w, stdout);
	return true;
}

int cmd_explain(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	enum { OPT_JSON = 256 };
	static const struct option options[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		if (c == 'h') {
			cli_print_command_help(self);
			return EXIT_OK;
		}
		if (c == OPT_JSON) {
			json = true;
			continue;
		}
		return cli_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
	}
	if (optind + 1 != argc) {
		return cli_usage_error(self, "expected exactly one opportunity id");
	}
	const char *id = argv[optind];
	int rc = cli_open(ctx);
	if (rc != EXIT_OK) {
		return rc;
	}
	struct app *app = &ctx->app;
	struct explanation e = {0};
	int found = snapshot_opp_get(app->snap, id, &e.st);
	int64_t n_actions = 0;
	if (found < 0 || !snapshot_actions_for_opp(app->snap, id, count_action, &n_actions)) {
		if (found > 0) {
			opportunity_state_finish(&e.st);
		}
		return EXIT_LOCAL;
	}
	if (!found && n_actions == 0) {
		char *clean = log_sanitize(id);
		log_error("no opportunity '%s' in the state '%s': refty-lever has never seen it. Check "
			  "the id (Lever's opportunity id, the last part of its profile URL); an "
			  "opportunity updated since the last sync is seen by the next one",
			clean, ctx->cfg->state);
		free(clean);
		return EXIT_USAGE;
	}
	// Names make the answer readable; without a cache the ids still explain.
	int rules_rc = app_load_rules(app, APP_NAMES_CACHED);
	explain_gather(app, id, found, rules_rc, &e);
	if (!(json ? print_json(app, &e) : print_text(app, &e))) {
		rc = EXIT_LOCAL;
	}
	if (e.found) {
		opportunity_state_finish(&e.st);
	}
	free(e.quarantine_error);
	return rc;
}
