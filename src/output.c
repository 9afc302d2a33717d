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
#include "timeutil.h"
#include "xalloc.h"

/* Standard output is written by listing threads, workers and the run alike: one line at a
 * time, whole. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* The readable form of l: the line on standard output, and the message of its log event. */
static char *line_text(const struct line *l)
{
	char *name = log_sanitize(l->candidate && *l->candidate ? l->candidate : "(no name)");
	struct strbuf b;
	strbuf_init(&b);
	strbuf_printf(&b, "%-8s %s '%s'", l->outcome, l->opportunity_id, name);
	if (l->to_stage) {
		strbuf_printf(&b, " %s -> %s", l->from_stage ? l->from_stage : "(new)", l->to_stage);
	} else if (l->at_stage) {
		strbuf_printf(&b, " at %s", l->at_stage);
	}
	strbuf_printf(&b, " rule '%s': %s", l->rule ? l->rule : "-", l->action);
	if (l->detail) {
		char *detail = log_sanitize(l->detail);
		strbuf_printf(&b, " (%s)", detail);
		free(detail);
	}
	free(name);
	return b.data;
}

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
	// -q: standard output stays empty; what needs a person is on standard error.
	if (!log_enabled(LOG_INFO)) {
		return;
	}
	char *text = line_text(l);
	puts(text);
	free(text);
}

/* The log event of a line's outcome, and its level; NULL when the outcome has its own event
 * (a record quarantined as unreadable is logged where it is found). */
static const char *event_of(const struct engine *e, const char *outcome, enum log_level *level)
{
	static const struct {
		const char *outcome, *event;
		enum log_level level;
	} events[] = {
		{"planned", "action_planned", LOG_DEBUG},
		{"skipped", "action_skipped", LOG_DEBUG},
		{"done", "action_done", LOG_INFO},
		{"failed", "action_failed", LOG_WARN},
		{"waiting", "action_waiting", LOG_INFO},
		{"abandoned", "action_skipped", LOG_INFO},
		{"untrusted", "time_untrusted", LOG_WARN},
	};
	if (strcmp(outcome, "pending") == 0) {
		// In a dry run a pending action is one that would be performed; in a real one it
		// failed this time and waits for the next run.
		*level = e->app->dry_run ? LOG_DEBUG : LOG_WARN;
		return e->app->dry_run ? "action_planned" : "action_failed";
	}
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		if (strcmp(events[i].outcome, outcome) == 0) {
			*level = events[i].level;
			return events[i].event;
		}
	}
	return NULL;
}

/* Logs l as an event; shown says whether standard output carries it too, so that the text
 * format repeats it only at -v. */
static void log_line(const struct engine *e, const struct line *l, const char *event,
	enum log_level level, bool shown)
{
	if (!log_enabled(level) || (shown && log_get_format() == LOG_FORMAT_TEXT &&
					   !log_enabled(LOG_DEBUG))) {
		return;
	}
	struct log_fields f = LOG_FIELDS_NONE;
	f.opportunity = l->opportunity_id;
	f.rule = l->rule;
	f.action = l->action;
	f.key = l->key;
	f.status = l->outcome;
	bool problem = strcmp(l->outcome, "failed") == 0 ||
		       (strcmp(l->outcome, "pending") == 0 && !e->app->dry_run);
	f.error = problem ? l->detail : NULL;
	char *text = line_text(l);
	log_ev(level, event, &f, "%s", text);
	free(text);
}

void output_line(const struct engine *e, const struct line *l)
{
	enum log_level level = LOG_INFO;
	const char *event = event_of(e, l->outcome, &level);
	pthread_mutex_lock(&out_lock);
	locked_line(e, l);
	pthread_mutex_unlock(&out_lock);
	if (event) {
		log_line(e, l, event, level, e->opts->json || log_enabled(LOG_INFO));
	}
}

void output_decision(const struct engine *e, const struct line *l)
{
	if (e->app->dry_run || strcmp(l->outcome, "skipped") == 0) {
		return; // output_line logged it
	}
	log_line(e, l, "action_planned", LOG_DEBUG, false);
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
	int found = snapshot_opp_get(e->app->snap, a->opportunity_id, &st);
	char *what = describe_action(e->app, a);
	struct line l = {
		.opportunity_id = a->opportunity_id,
		.candidate = found == 1 ? st.contact.name : NULL,
		.at_stage = a->lever_stage_id ? app_stage_name(e->app, a->lever_stage_id) : NULL,
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

/* "done", "partial" or "failed": what the exit status says of the run. */
static const char *run_outcome(enum exit_code rc)
{
	return rc == EXIT_OK ? "done" : rc == EXIT_PARTIAL ? "partial" : "failed";
}

/* A run's counts by name: the summary's in --json, and the run_summary event's. */
#define RUN_COUNTS 14
static void run_counts(const struct engine *e, struct log_count out[RUN_COUNTS])
{
	const struct log_count counts[RUN_COUNTS] = {
		{"seen", e->n.seen}, {"changed", e->n.changed}, {"planned", e->n.planned},
		{"enrolled", e->n.enrolled}, {"sent", e->n.sent}, {"updated", e->n.updated},
		{"waiting_email", e->n.waiting}, {"skipped", e->n.skipped}, {"failed", e->n.failed},
		{"pending", e->n.pending}, {"abandoned", e->n.abandoned}, {"deleted", e->n.deleted},
		{"unreadable", e->n.unreadable}, {"untrusted", e->n.untrusted},
	};
	memcpy(out, counts, sizeof(counts));
}

static void json_summary(const struct engine *e, enum exit_code rc, const char *stopped_by)
{
	struct strbuf out;
	struct jsonw w;
	jsonw_line_begin(&w, &out);
	jsonw_kv_string(&w, "type", "summary");
	jsonw_kv_string(&w, "command", e->command);
	jsonw_kv_bool(&w, "dry_run", e->app->dry_run);
	jsonw_kv_bool(&w, "seeding", e->ctx.seeding);
	struct log_count counts[RUN_COUNTS];
	run_counts(e, counts);
	for (size_t i = 0; i < RUN_COUNTS; i++) {
		jsonw_kv_int(&w, counts[i].name, counts[i].value);
	}
	jsonw_kv_bool(&w, "interrupted", e->interrupted);
	jsonw_kv_string(&w, "signal", stopped_by);
	jsonw_kv_int(&w, "exit_status", rc);
	jsonw_kv_string(&w, "error", rc >= EXIT_USAGE ? e->error : NULL);
	jsonw_line_end(&w, stdout);
}

/* The summary line's text after "sync: done (exit 0): ". */
static char *summary_counts(const struct engine *e)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_printf(&b,
		"seen %" PRId64 ", changed %" PRId64 ", enrolled %" PRId64 ", sent %" PRId64
		", waiting for email %" PRId64 ", skipped %" PRId64 ", failed %" PRId64,
		e->n.seen, e->n.changed, e->app->dry_run ? 0 : e->n.enrolled,
		e->app->dry_run ? 0 : e->n.sent, e->n.waiting, e->n.skipped, e->n.failed);
	if (e->app->dry_run) {
		strbuf_printf(&b, ", planned %" PRId64, e->n.planned);
	}
	if (e->n.pending) {
		strbuf_printf(&b, ", pending retry %" PRId64, e->n.pending);
	}
	if (e->n.unreadable) {
		strbuf_printf(&b, ", unreadable %" PRId64, e->n.unreadable);
	}
	if (e->n.untrusted) {
		strbuf_printf(&b, ", untrusted times %" PRId64, e->n.untrusted);
	}
	return b.data;
}

/* "sync (dry run): failed (exit 3): <error>; seen ...": the one line that says how it went. */
static char *summary_text(const struct engine *e, enum exit_code rc, const char *stopped_by)
{
	char *counts = summary_counts(e);
	struct strbuf b;
	strbuf_init(&b);
	strbuf_printf(&b, "%s%s: %s (exit %d): ", e->command, e->app->dry_run ? " (dry run)" : "",
		run_outcome(rc), rc);
	if (rc >= EXIT_USAGE) {
		strbuf_printf(&b, "%s; ", e->error ? e->error : "see the errors above");
	} else if (stopped_by) {
		strbuf_printf(&b, "interrupted by %s; ", stopped_by);
	}
	strbuf_puts(&b, counts);
	free(counts);
	return b.data;
}

/* The run's one run_summary event. The text format writes it only when standard output does
 * not carry the summary (-q), and then only for news: a run that did not go well. */
static void log_summary(const struct engine *e, enum exit_code rc, const char *text,
	bool printed)
{
	enum log_level level = rc == EXIT_OK ? LOG_INFO : rc == EXIT_PARTIAL ? LOG_WARN : LOG_ERROR;
	if (log_get_format() == LOG_FORMAT_TEXT && (printed || rc == EXIT_OK)) {
		return;
	}
	// Machines count on exactly one per run: JSON logs carry it at any -q short of silence.
	if (log_get_format() == LOG_FORMAT_JSON && log_enabled(LOG_ERROR) && !log_enabled(level)) {
		level = LOG_ERROR;
	}
	struct log_count counts[RUN_COUNTS];
	run_counts(e, counts);
	struct log_fields f = LOG_FIELDS_NONE;
	f.status = run_outcome(rc);
	f.exit_status = rc;
	f.duration_ms = timeutil_now_ms() - e->began_ms;
	f.error = rc >= EXIT_USAGE ? e->error : NULL;
	f.counts = counts;
	f.n_counts = RUN_COUNTS;
	log_ev(level, "run_summary", &f, "%s", text);
}

static void print_summary(const struct engine *e, enum exit_code rc)
{
	const char *stopped_by = e->interrupted ? signals_name() : NULL;
	char *text = summary_text(e, rc, stopped_by);
	bool printed = false;
	if (e->opts->json) {
		json_summary(e, rc, stopped_by);
		printed = true;
	} else if (log_enabled(LOG_INFO)) {
		// -q: nothing on standard output, so that cron mails only news (on stderr).
		printf("%s\n", text);
		printed = true;
	}
	log_summary(e, rc, text, printed);
	free(text);
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
