#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "config.h"
#include "exitcode.h"
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

int cmd_explain(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	static const struct option options[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
		if (c == 'h') {
			cli_print_command_help(self);
			return EXIT_OK;
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
	const struct config *cfg = ctx->cfg;
	struct app *app = &ctx->app;
	struct opportunity_state st;
	int found = snapshot_opp_get(app->snap, id, &st);
	int64_t n_actions = 0;
	if (found < 0 || !snapshot_actions_for_opp(app->snap, id, count_action, &n_actions)) {
		return EXIT_LOCAL;
	}
	if (!found && n_actions == 0) {
		char *clean = log_sanitize(id);
		log_error("no opportunity '%s' in the state '%s': refty-lever has never seen it. Check "
			  "the id (Lever's opportunity id, the last part of its profile URL); an "
			  "opportunity updated since the last sync is seen by the next one",
			clean, cfg->state);
		free(clean);
		return EXIT_USAGE;
	}
	// Names make the answer readable; without a cache the ids still explain.
	int rules_rc = app_load_rules(app, APP_NAMES_CACHED);
	printf("opportunity %s\n", id);
	if (found) {
		char t[40];
		char *name = log_sanitize(st.contact.name ? st.contact.name : "");
		printf("  snapshot: '%s', stage '%s', job %s%s%s%s%s\n", name,
			app_stage_name(app, st.stage_id), st.posting_id ? st.posting_id : "(none)",
			st.archived ? ", archived" : "", st.anonymized ? ", anonymized" : "",
			st.confidential ? ", confidential" : "", st.contact.email ? "" : ", no email");
		printf("  stage entries handled up to %s\n",
			st.seen_until_ms > 0 ? timeutil_format(st.seen_until_ms, t, sizeof(t)) : "(none)");
		free(name);
		if (rules_rc == EXIT_OK) {
			const struct resolved_rule *r = rules_match(app->rules, st.posting_id);
			if (!st.posting_id) {
				printf("  rules: none applies: the opportunity has no application, so no job\n");
			} else if (r) {
				const char *title = rules_posting_title(app->rules, st.posting_id);
				printf("  rules: '%s' (line %d) covers job '%s' -> sequence '%s', language %s\n",
					r->name, r->line, title ? title : st.posting_id, r->sequence_name,
					r->language ? r->language : "-");
				for (size_t i = 0; i < r->n_links; i++) {
					printf("    entering '%s' sends '%s'\n", r->links[i].lever_stage_name,
						r->links[i].refty_stage_name);
				}
			} else {
				const char *title = rules_posting_title(app->rules, st.posting_id);
				printf("  rules: none covers job '%s'\n", title ? title : st.posting_id);
			}
			const char *blocked = plan_blocked_reason(st.archived, st.anonymized,
				st.confidential, cfg->lever.confidential);
			if (blocked) {
				printf("  nothing is sent while it is %s\n", blocked);
			}
		} else {
			printf("  rules: not evaluated (no usable name cache)\n");
		}
		opportunity_state_finish(&st);
	} else {
		printf("  not in the snapshot: Lever has not shown it to refty-lever (yet), or it was "
		       "deleted\n");
	}
	struct action q;
	char *key = journal_key_unreadable(id);
	int64_t qid = snapshot_action_id_by_key(app->snap, key);
	free(key);
	if (qid > 0 && snapshot_action_get(app->snap, qid, &q) == 1) {
		if (q.state == ACTION_FAILED) {
			char *why = log_sanitize(q.last_error ? q.last_error : "");
			printf("  quarantined: Lever's record cannot be read (%s); every sync fetches it "
			       "again and handles it once it reads cleanly\n",
				why);
			free(why);
		}
		action_finish(&q);
	}
	printf("  journal:\n");
	if (!snapshot_actions_for_opp(app->snap, id, print_action, app)) {
		rc = EXIT_LOCAL;
	}
	return rc;
}
