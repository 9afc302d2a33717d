#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cli.h"
#include "exitcode.h"
#include "jsonw.h"
#include "log.h"
#include "webhooks-setup.h"

static void print_step(const struct webhooks_step *s, bool done)
{
	char *url = log_sanitize(s->url);
	switch (s->kind) {
	case WEBHOOKS_KEEP:
		printf("kept      %-22s %s (its signature token is stored)\n", s->event, s->old_id);
		break;
	case WEBHOOKS_CREATE:
		if (done) {
			printf("created   %-22s %s\n", s->event, s->new_id);
		} else {
			printf("to create %-22s at %s\n", s->event, url);
		}
		break;
	case WEBHOOKS_REPLACE:
		if (done) {
			printf("replaced  %-22s %s by %s: %s\n", s->event, s->old_id, s->new_id, s->why);
		} else {
			printf("to replace %-21s %s: %s\n", s->event, s->old_id, s->why);
		}
		break;
	case WEBHOOKS_DELETE:
		printf("%-9s %-22s %s at %s%s%s\n", done ? "deleted" : "to delete", s->event, s->old_id,
			url, s->why ? ": " : "", s->why ? s->why : "");
		break;
	}
	free(url);
}

/* Prints the steps, and what the operator must still do once something changed. */
static void print_report(const struct webhooks_report *r, bool dry_run, bool reg, int rc)
{
	size_t changed = 0, pending = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct webhooks_step *s = &r->steps[i];
		if (s->kind == WEBHOOKS_KEEP || s->done || dry_run) {
			print_step(s, s->done);
		}
		changed += s->kind != WEBHOOKS_KEEP && s->done;
		pending += s->kind != WEBHOOKS_KEEP && !s->done;
	}
	if (rc != EXIT_OK && changed == 0 && !r->written) {
		return; // nothing happened: the error says why
	}
	if (!reg && r->n == 0) {
		printf("no webhooks to delete\n");
	}
	if (dry_run) {
		printf("dry run: nothing changed; %zu signature token%s would be stored in '%s'\n",
			r->stored, r->stored == 1 ? "" : "s", r->token_path);
		return;
	}
	if (r->written) {
		printf("%zu signature token%s stored in '%s' (mode 0600)\n", r->stored,
			r->stored == 1 ? "" : "s", r->token_path);
	} else if (pending == 0) {
		printf("nothing to change: %zu signature token%s stored in '%s'\n", r->stored,
			r->stored == 1 ? "" : "s", r->token_path);
	}
	if (pending > 0) {
		printf("%zu change%s not made, after the error above: run the same command again "
		       "once it is fixed\n",
			pending, pending == 1 ? "" : "s");
		return;
	}
	if (reg) {
		printf("\nStill to do in Lever, once, by a Super Admin (Settings > Integrations and API >\n"
		       "Webhooks): switch these webhooks on, with the signature token option; Lever\n"
		       "delivers nothing until then.\n");
	}
	if (reg && (changed > 0 || r->written)) {
		printf("Then start 'refty-lever serve', or reload a running one (SIGHUP, or 'systemctl\n"
		       "reload' with the example unit) so that it verifies with the new tokens.\n");
	} else if (changed > 0 || r->written) {
		printf("Reload a running 'refty-lever serve' (SIGHUP, or 'systemctl reload' with the\n"
		       "example unit) so that it stops taking the deleted webhooks' deliveries.\n");
	}
}

static int list(struct cli_ctx *ctx, bool json)
{
	struct webhooks_row *rows = NULL;
	size_t n = 0;
	int rc = webhooks_list(&ctx->app, &rows, &n);
	if (rc == EXIT_OK && !json) {
		printf("%-36s %-22s %-7s %s\n", "ID", "EVENT", "TOKEN", "URL");
	}
	for (size_t i = 0; i < n; i++) {
		const struct webhooks_row *w = &rows[i];
		if (json) {
			struct strbuf out;
			struct jsonw jw;
			jsonw_line_begin(&jw, &out);
			jsonw_kv_string(&jw, "id", w->id);
			jsonw_kv_string(&jw, "event", w->event);
			jsonw_kv_string(&jw, "url", w->url);
			jsonw_kv_bool(&jw, "token_stored", w->stored);
			jsonw_line_end(&jw, stdout);
		} else {
			char *id = log_sanitize(w->id), *event = log_sanitize(w->event);
			char *url = log_sanitize(w->url);
			printf("%-36s %-22s %-7s %s\n", id, event, w->stored ? "stored" : "missing", url);
			free(id);
			free(event);
			free(url);
		}
	}
	webhooks_rows_free(rows, n);
	return rc;
}

int cmd_webhooks(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_command *self = ctx->cmd;
	static const struct option options[] = {
		{"url", required_argument, NULL, 'u'},
		{"dry-run", no_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *url = NULL;
	bool dry_run = false, json = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'u':
			url = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			cli_print_command_help(self);
			return EXIT_OK;
		default:
			return cli_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind + 1 != argc) {
		return cli_usage_error(self, "expected one of: register, list, delete");
	}
	const char *what = argv[optind];
	bool reg = strcmp(what, "register") == 0, del = strcmp(what, "delete") == 0;
	if (!reg && !del && strcmp(what, "list") != 0) {
		return cli_usage_error(self, "unknown subcommand '%s': expected register, list or delete",
			what);
	}
	if (reg && !url) {
		return cli_usage_error(self, "register needs --url URL: where Lever is to deliver");
	}
	if (!reg && !del && (url || dry_run)) {
		return cli_usage_error(self, "list takes only --json");
	}
	if ((reg || del) && json) {
		return cli_usage_error(self, "--json is for list only");
	}
	// Listing changes nothing, so it runs as a dry run: any write would be a bug.
	ctx->dry_run = dry_run || (!reg && !del);
	int rc = cli_open(ctx);
	if (rc != EXIT_OK) {
		return rc;
	}
	if (!reg && !del) {
		return list(ctx, json);
	}
	struct webhooks_report report;
	rc = reg ? webhooks_register(&ctx->app, url, dry_run, &report)
		 : webhooks_delete(&ctx->app, url, dry_run, &report);
	if (report.token_path) {
		print_report(&report, dry_run, reg, rc);
	}
	webhooks_report_finish(&report);
	return rc;
}
