#define LOG_MODULE "sync"
#include "engine.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "jsonw.h"
#include "log.h"
#include "rules.h"
#include "signals.h"
#include "xalloc.h"

/* Standard output is written by listing threads, workers and the run alike: one line at a
 * time, whole. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void locked_line(const struct engine *e, const struct line *l)
{
	if (e->opts->json) {
		struct strbuf out;
		struct jsonw w;
		jsonw_line_begin(&w, &out);
		jsonw_kv_string(&w, "type", "action");
		jsonw_kv_string(&w, "opportunity_id", l->opportunity_id);
		jsonw_kv_string(&w, "candidate", l->candidate);
		jsonw_kv_string(&w, "from_stage", l->from_stage);
		jsonw_kv_string(&w, "to_stage", l->to_stage);
		jsonw_kv_string(&w, "at_stage", l->at_stage);
		jsonw_kv_string(&w, "rule", l->rule);
		jsonw_kv_string(&w, "action", l->action);
		jsonw_kv_string(&w, "key", l->key);
		jsonw_kv_string(&w, "outcome", l->outcome);
		jsonw_kv_string(&w, "detail", l->detail);
		jsonw_line_end(&w, stdout);
		return;
	}
	char *name = log_sanitize(l->candidate && *l->candidate ? l->candidate : "(no name)");
	char *detail = l->detail ? log_sanitize(l->detail) : NULL;
	printf("%-8s %s '%s'", l->outcome, l->opportunity_id, name);
	if (l->to_stage) {
		printf(" %s -> %s", l->from_stage ? l->from_stage : "(new)", l->to_stage);
	} else if (l->at_stage) {
		printf(" at %s", l->at_stage);
	}
	printf(" rule '%s': %s", l->rule ? l->rule : "-", l->action);
	if (detail) {
		printf(" (%s)", detail);
	}
	putchar('\n');
	free(name);
	free(detail);
}

void output_line(const struct engine *e, const struct line *l)
{
	pthread_mutex_lock(&out_lock);
	locked_line(e, l);
	pthread_mutex_unlock(&out_lock);
}

/* What an action does, in words: one wording for planned and journalled actions alike. */
static char *describe(enum action_kind kind, const char *sequence, const char *stage,
	const char *reason)
{
	switch (kind) {
	case ACTION_CREATE_CANDIDATE:
		return xasprintf("enrol in '%s'", sequence ? sequence : "?");
	case ACTION_UPDATE_CONTACT:
		return xstrdup("update contact details");
	case ACTION_SEND_STEP:
		return xasprintf("send '%s'", stage ? stage : "?");
	case ACTION_SKIP:
		return xasprintf("skip: %s", reason ? reason : "");
	case ACTION_UNREADABLE:
		return xstrdup("quarantined");
	case ACTION_UNTRUSTED:
		return xstrdup("time not believed");
	}
	return xstrdup("?");
}

char *output_describe_plan(const struct plan_action *a, const struct resolved_rule *rule)
{
	return describe(a->kind, rule ? rule->sequence_name : a->sequence_id,
		a->refty_stage_name ? a->refty_stage_name : a->refty_stage_id, a->reason);
}

static const char *sequence_name(const struct app *app, const char *id)
{
	for (size_t i = 0; app->catalog && id && i < app->catalog->n_sequences; i++) {
		if (strcmp(app->catalog->sequences[i].id, id) == 0) {
			return app->catalog->sequences[i].name;
		}
	}
	return id;
}

static char *describe_action(const struct app *app, const struct action *a)
{
	return describe(a->kind, sequence_name(app, a->sequence_id),
		a->refty_stage_name ? a->refty_stage_name : a->refty_stage_id, a->reason);
}

void output_action(const struct engine *e, const struct action *a, const char *outcome,
	const char *detail)
{
	struct opportunity_state st;
	int found = snapshot_opp_get(e->app.snap, a->opportunity_id, &st);
	char *what = describe_action(&e->app, a);
	struct line l = {
		.opportunity_id = a->opportunity_id,
		.candidate = found == 1 ? st.contact.name : NULL,
		.at_stage = a->lever_stage_id ? app_stage_name(&e->app, a->lever_stage_id) : NULL,
		.rule = a->rule,
		.action = what,
		.key = a->key,
		.outcome = outcome,
		.detail = detail,
	};
	output_line(e, &l);
	free(what);
	if (found == 1) {
		opportunity_state_finish(&st);
	}
}

/* ------------------------------------------------------------------------ */
/* The run.                                                                  */

static void print_summary(const struct engine *e, enum exit_code rc)
{
	const char *stopped_by = e->interrupted ? signals_name() : NULL;
	if (e->opts->json) {
		struct strbuf out;
		struct jsonw w;
		jsonw_line_begin(&w, &out);
		jsonw_kv_string(&w, "type", "summary");
		jsonw_kv_string(&w, "command", e->command);
		jsonw_kv_bool(&w, "dry_run", e->app.dry_run);
		jsonw_kv_bool(&w, "seeding", e->ctx.seeding);
		jsonw_kv_int(&w, "seen", e->n.seen);
		jsonw_kv_int(&w, "changed", e->n.changed);
		jsonw_kv_int(&w, "planned", e->n.planned);
		jsonw_kv_int(&w, "enrolled", e->n.enrolled);
		jsonw_kv_int(&w, "sent", e->n.sent);
		jsonw_kv_int(&w, "updated", e->n.updated);
		jsonw_kv_int(&w, "waiting_email", e->n.waiting);
		jsonw_kv_int(&w, "skipped", e->n.skipped);
		jsonw_kv_int(&w, "failed", e->n.failed);
		jsonw_kv_int(&w, "pending", e->n.pending);
		jsonw_kv_int(&w, "abandoned", e->n.abandoned);
		jsonw_kv_int(&w, "deleted", e->n.deleted);
		jsonw_kv_int(&w, "unreadable", e->n.unreadable);
		jsonw_kv_int(&w, "untrusted", e->n.untrusted);
		jsonw_kv_bool(&w, "interrupted", e->interrupted);
		jsonw_kv_string(&w, "signal", stopped_by);
		jsonw_kv_int(&w, "exit_status", rc);
		jsonw_line_end(&w, stdout);
		return;
	}
	// Under -q a run that did nothing says nothing, so cron mails only news.
	bool eventless = e->n.planned == 0 && e->n.failed == 0 && e->n.pending == 0 &&
			 e->n.waiting == 0 && e->n.abandoned == 0 && e->n.skipped == 0 &&
			 e->n.unreadable == 0 && e->n.untrusted == 0;
	if (!log_enabled(LOG_INFO) && rc == EXIT_OK && eventless) {
		return;
	}
	printf("%s%s%s%s: seen %" PRId64 ", changed %" PRId64 ", enrolled %" PRId64
	       ", sent %" PRId64 ", waiting for email %" PRId64 ", skipped %" PRId64
	       ", failed %" PRId64,
		e->command, e->app.dry_run ? " (dry run)" : "", stopped_by ? " interrupted by " : "",
		stopped_by ? stopped_by : "", e->n.seen, e->n.changed,
		e->app.dry_run ? 0 : e->n.enrolled, e->app.dry_run ? 0 : e->n.sent, e->n.waiting,
		e->n.skipped, e->n.failed);
	if (e->app.dry_run) {
		printf(", planned %" PRId64, e->n.planned);
	}
	if (e->n.pending) {
		printf(", pending retry %" PRId64, e->n.pending);
	}
	if (e->n.unreadable) {
		printf(", unreadable %" PRId64, e->n.unreadable);
	}
	if (e->n.untrusted) {
		printf(", untrusted times %" PRId64, e->n.untrusted);
	}
	putchar('\n');
}

bool output_summary(const struct engine *e, enum exit_code rc)
{
	pthread_mutex_lock(&out_lock);
	print_summary(e, rc);
	// No flush here: main's flush at exit is the one that reports why a write failed (a
	// failed flush would lose errno with the data); this sees what failed on the way.
	bool ok = !ferror(stdout);
	pthread_mutex_unlock(&out_lock);
	return ok;
}
