#ifndef REFTY_LEVER_WEBHOOKS_SETUP_H
#define REFTY_LEVER_WEBHOOKS_SETUP_H

/*
 * 'webhooks register | list | delete': Lever's webhooks for the events serve acts on, set up
 * through Lever's API, and their signature tokens kept where serve reads them (webhook-store.h):
 * webhooks.signature_tokens_file when set, else app_webhook_token_path. A token source that
 * refty-lever cannot write (_env, _command, inline) is refused before anything is changed.
 *
 * Register is idempotent: it lists Lever's webhooks first and creates only what is missing at
 * the URL. A webhook there whose token is not stored could never be verified (Lever documents
 * the token only in the answer to its creation), so register replaces it: deletes it and
 * creates it again. Running register twice therefore changes nothing the second time.
 *
 * The functions log their failures and return what happened, step by step, for the command
 * to print; nothing here prints, and no token ever leaves the store.
 */

#include <stdbool.h>
#include <stddef.h>

#include "exitcode.h"

struct app;

/** The events serve acts on, in the order register creates them. */
extern const char *const webhooks_events[];
#define WEBHOOKS_N_EVENTS 4

enum webhooks_step_kind {
	WEBHOOKS_KEEP,    /* a webhook at the URL whose token is stored: nothing to do */
	WEBHOOKS_CREATE,  /* none at the URL: created */
	WEBHOOKS_REPLACE, /* one at the URL whose token is not stored: deleted, created again */
	WEBHOOKS_DELETE,  /* deleted, with its token */
};

struct webhooks_step {
	enum webhooks_step_kind kind;
	char *event;
	char *url;
	char *old_id; /* KEEP, REPLACE, DELETE: the webhook that was there; else NULL */
	char *new_id; /* CREATE, REPLACE, once done; else NULL */
	char *why;    /* DELETE by register: why it goes; else NULL */
	bool done;    /* false in a dry run, and for the steps after a failure */
};

struct webhooks_report {
	struct webhooks_step *steps;
	size_t n;
	char *token_path; /* where the tokens are kept */
	size_t stored;    /* tokens in that file afterwards (as it would be, in a dry run) */
	bool written;     /* the file was replaced */
};

void webhooks_report_finish(struct webhooks_report *r);

/**
 * NULL when url may receive Lever's webhooks: https://, or plain http:// to a loopback host
 * (http_url_is_loopback). Otherwise why not, in static storage.
 */
const char *webhooks_url_problem(const char *url);

/**
 * Registers the webhooks of webhooks_events at url (see above), opening the Lever client of
 * app itself once the token file is known to be writable. In a dry run it only lists and
 * plans. The report says what was done, or would be; on a failure part-way, the tokens of
 * the webhooks created until then are still stored.
 */
enum exit_code webhooks_register(struct app *app, const char *url, bool dry_run,
	struct webhooks_report *out);

/**
 * Deletes the webhooks at url, or with url NULL those whose token is stored, and their tokens.
 * Tokens stored for url whose webhook Lever no longer has go too.
 */
enum exit_code webhooks_delete(struct app *app, const char *url, bool dry_run,
	struct webhooks_report *out);

/** One of Lever's webhooks, as list shows it. */
struct webhooks_row {
	char *id;
	char *event;
	char *url;
	bool stored; /* its signature token is among those serve verifies with */
};

/**
 * Lists Lever's webhooks (every event, every URL) into a new array (webhooks_rows_free).
 * Any token source may be read here, since nothing is written.
 */
enum exit_code webhooks_list(struct app *app, struct webhooks_row **rows, size_t *n);
void webhooks_rows_free(struct webhooks_row *rows, size_t n);

#endif
