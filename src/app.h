#ifndef REFTY_LEVER_APP_H
#define REFTY_LEVER_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "exitcode.h"

/* What a command works with, opened on demand and closed in one place: the
 * state database and its lock, the Lever and Refty clients, and the rules
 * resolved against the name cache. Every opener returns an exit code
 * (EXIT_OK or the status to exit with) after logging what went wrong. */

struct config;
struct snapshot;
struct state_lock;
struct lever_client;
struct refty_client;
struct rule_set;
struct catalog;
struct ratelimit;

struct token_lock;
struct lever_tokens;
struct names_fetch;

struct app {
	const struct config *cfg;
	bool dry_run;
	struct snapshot *snap;
	struct state_lock *lock;
	char *token_path;              /* see app_token_path */
	struct token_lock *token_lock; /* held by the Lever client around a refresh */
	struct ratelimit *limiter;
	struct lever_client *lever;
	struct refty_client *refty;
	struct rule_set *rules;
	struct catalog *catalog;
	char *refty_key; /* kept to create one client per worker thread */
	struct names_fetch *fetch; /* names being fetched beside a listing (app_rules_fetch_start) */
};

void app_init(struct app *app, const struct config *cfg, bool dry_run);
void app_finish(struct app *app);
/**
 * Switches to cfg, which names the same state: the state and its lock stay open, the clients
 * and the rules are closed, to be opened again from cfg by the next opener.
 */
void app_reconfigure(struct app *app, const struct config *cfg);

enum app_state_mode {
	APP_STATE_READ,  /* read-only, no lock: status, explain, dry runs */
	APP_STATE_WRITE, /* read-write under the run lock */
};

enum exit_code app_open_state(struct app *app, enum app_state_mode mode);
/**
 * With OAuth, the client keeps its tokens in the token file beside the state database (see
 * tokens.h), which it refreshes under the token lock; the first such command that is not a
 * dry run moves tokens an older version kept in the state database there.
 */
enum exit_code app_open_lever(struct app *app);
enum exit_code app_open_refty(struct app *app);
/** Creates another Refty client (one per thread), owned by the caller. */
enum exit_code app_new_refty(struct app *app, struct refty_client **out);

enum app_names {
	APP_NAMES_AUTO,    /* the cache when younger than an hour, else fetch */
	APP_NAMES_REFRESH, /* always fetch */
	APP_NAMES_CACHED,  /* the cache whatever its age; never the network */
};

/**
 * Resolves the configured rules to ids against the name cache or, as source
 * says, Lever's stages and postings and Refty's sequences fetched now (and
 * stored unless read-only). A name that does not resolve against a cached
 * catalog is fetched once more before it is called an error. Opens the
 * clients as needed. Errors are logged as file:line: key: message
 * (EXIT_USAGE).
 */
enum exit_code app_load_rules(struct app *app, enum app_names source);

/**
 * The rules, resolved against names fetched while a listing begins: a listing that asks Lever
 * for every job needs no name to start, so its first pages need not wait for the names' round
 * trip. app_rules_fetch_start starts the fetch (and the rules' resolution) in a thread when
 * the cache is missing or stale (*started; otherwise load them with app_load_rules).
 * app_rules_await, from any thread, waits for it and makes the rules app's; it returns the
 * fetch's exit status (logged there) to every caller alike. app_rules_fetch_store writes the
 * fetched names to the cache in the caller's transaction (nothing to do: true);
 * app_rules_fetch_end joins the thread and frees what app did not take (app_finish calls it).
 */
enum exit_code app_rules_fetch_start(struct app *app, bool *started);
enum exit_code app_rules_await(struct app *app);
bool app_rules_fetch_store(struct app *app);
void app_rules_fetch_end(struct app *app);

struct rules_errors;
/** Logs each rule error as file:line: key: message. */
void app_log_rule_errors(const struct config *cfg, const struct rules_errors *errs);

/** Lever stage name for an id from the catalog, or the id itself. Borrowed. */
const char *app_stage_name(const struct app *app, const char *stage_id);

/** The OAuth token file: "<state>.tokens". Borrowed from app. */
const char *app_token_path(struct app *app);
/**
 * Loads the stored OAuth tokens into out (the caller finishes it): from the token file or, in
 * a dry run before they were moved there, from the state database. 1 found, 0 none, -1 error
 * (logged).
 */
int app_tokens_load(struct app *app, struct lever_tokens *out);
/** Removes the stored OAuth tokens: the token file and any copy in the state database. */
enum exit_code app_tokens_delete(struct app *app);

/** Where 'webhooks register' keeps the signature tokens: "<state>.webhook-tokens". New string. */
char *app_webhook_token_path(const struct app *app);
/**
 * The signature tokens deliveries are verified with: from webhooks.signature_tokens_* when
 * set, else from the file 'webhooks register' writes. One per line; blank lines and lines
 * starting with '#' are skipped. EXIT_USAGE (logged, saying how to get some) when there are
 * none. *tokens is a new array of new strings (app_webhook_tokens_free).
 */
enum exit_code app_webhook_tokens(struct app *app, char ***tokens, size_t *n);
void app_webhook_tokens_free(char **tokens, size_t n);

/** Maps a Lever client status to the exit code of design: remote errors are 3. */
enum exit_code app_lever_exit(int lever_status);

#endif
