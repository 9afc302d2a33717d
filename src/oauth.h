#ifndef REFTY_LEVER_OAUTH_H
#define REFTY_LEVER_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lever.h"

/*
 * Pieces of the OAuth 2.0 authorization-code flow: the authorize URL, a one-shot loopback
 * receiver for the redirect, parsing a pasted redirect URL or code, the state check, and the
 * token endpoint (code exchange and refresh). lever.c uses the token endpoint to refresh; the
 * login command strings the rest together:
 *
 *	receiver = oauth_receiver_create(port);
 *	state = oauth_random_state();
 *	redirect = oauth_redirect_uri(oauth_receiver_port(receiver));
 *	url = lever_oauth_authorize_url(&opts, redirect, state);   -> show it to the user
 *	oauth_receiver_wait(receiver, timeout, &cb)  or  oauth_parse_callback(pasted, &cb);
 *	oauth_callback_check(&cb, state);
 *	lever_oauth_exchange(client, cb.code, redirect);           -> tokens saved in the store
 */

struct http_client;
struct json_error;

/** What came back to the redirect URI. Strings are owned; any may be NULL. */
struct oauth_callback {
	char *code;
	char *state;
	char *error;             /* e.g. "access_denied" */
	char *error_description;
	bool bare_code;          /* a pasted code on its own, which carries no state to check */
};

void oauth_callback_finish(struct oauth_callback *cb);

struct oauth_authorize_params {
	const char *auth_url;     /* e.g. https://auth.lever.co */
	const char *client_id;
	const char *redirect_uri;
	const char *state;
	const char *audience;
	const char *scope;        /* space-separated */
};

/** "<auth_url>/authorize?client_id=...&...", every value escaped. Caller frees. */
char *oauth_authorize_url(const struct oauth_authorize_params *p);

/** "http://127.0.0.1:<port>/callback". Caller frees. */
char *oauth_redirect_uri(int port);

/** 32 hex characters from /dev/urandom, or NULL (logged). Caller frees. */
char *oauth_random_state(void);

/**
 * Parses what a user pasted: the full redirect URL, its query string, or the bare code.
 * Returns false (logged) for input that is none of these.
 */
bool oauth_parse_callback(const char *input, struct oauth_callback *out);

/**
 * Parses a query string ("code=...&state=...") into out; unknown parameters are ignored.
 * Returns false for a malformed escape.
 */
bool oauth_parse_query(const char *query, struct oauth_callback *out);

/**
 * Checks a callback: no error from the authorization server, a code, and the expected state
 * (a bare pasted code has none to check). Logs what is wrong and returns false.
 */
bool oauth_callback_check(const struct oauth_callback *cb, const char *expected_state);

/** A listening socket on 127.0.0.1 waiting for the browser's redirect. */
struct oauth_receiver;

/** Listens on 127.0.0.1:port (0 picks a free port). Returns NULL (logged) on failure. */
struct oauth_receiver *oauth_receiver_create(int port);
void oauth_receiver_destroy(struct oauth_receiver *r);
/** The port actually listened on. */
int oauth_receiver_port(const struct oauth_receiver *r);

/**
 * Serves HTTP on the socket until a GET /callback arrives or timeout_ms passes (other paths get
 * 404 and the wait goes on). Answers the browser with a short page and fills out with the
 * callback's parameters (check them with oauth_callback_check). Returns false (logged) on
 * timeout or socket failure.
 */
bool oauth_receiver_wait(struct oauth_receiver *r, int timeout_ms, struct oauth_callback *out);

/** A request to the token endpoint. */
struct oauth_token_params {
	const char *token_url;     /* <auth_url>/oauth/token */
	const char *client_id;
	const char *client_secret;
	/* Either code and redirect_uri (grant_type=authorization_code) or refresh_token
	 * (grant_type=refresh_token). */
	const char *code;
	const char *redirect_uri;
	const char *refresh_token;
};

/**
 * Posts to the token endpoint through http (whose origin may differ: no credentials of the
 * client's own are sent there) and fills out with the new tokens; expires_at is computed from
 * expires_in, account is read from the access token when it is a JWT carrying Lever's account
 * id claim. A missing refresh_token in the answer leaves out->refresh_token NULL. Every
 * returned token is registered with log_add_secret(). Errors are logged; returns LEVER_OK,
 * LEVER_ERR_AUTH (the server refused the grant), LEVER_ERR_REMOTE, LEVER_ERR_DATA or
 * LEVER_ERR_DRY_RUN.
 */
enum lever_status oauth_token_request(struct http_client *http,
	const struct oauth_token_params *p, struct lever_tokens *out);

/**
 * Reads a successful answer of the token endpoint into out (zeroed first; release it with
 * lever_tokens_finish): access_token (required, not empty), refresh_token (NULL when missing
 * or empty), scope, expires_at = now_ms + expires_in seconds, in ms (3600 s when missing;
 * negative is refused; saturated rather than wrapped),
 * and account from the access token when it is a JWT carrying Lever's account id claim.
 * Returns false with err filled for anything else. Logs nothing and registers no secret:
 * oauth_token_request does both.
 */
bool oauth_parse_token_response(const char *body, size_t len, int64_t now_ms,
	struct lever_tokens *out, struct json_error *err);

#endif
