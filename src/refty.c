#define LOG_MODULE "refty"
#include "refty.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "jsonw.h"
#include "journal.h"
#include "log.h"
#include "opportunity.h"
#include "rules.h"
#include "signals.h"

struct refty_client {
	struct http_client *http;
	char *api_key;
	char *key_source;
};

void refty_result_init(struct refty_result *r)
{
	memset(r, 0, sizeof(*r));
}

void refty_result_finish(struct refty_result *r)
{
	free(r->code);
	free(r->message);
	memset(r, 0, sizeof(*r));
}

static void result_set(struct refty_result *r, enum refty_status status, long http_status,
	const char *code, char *message)
{
	free(r->code);
	free(r->message);
	r->status = status;
	r->http_status = http_status;
	r->code = xstrdup(code);
	r->message = message;
}

struct refty_client *refty_client_create(const struct refty_options *opts)
{
	struct http_options ho = {
		.base_url = opts->url,
		.auth = HTTP_AUTH_BEARER,
		.dry_run = opts->dry_run,
		.connect_timeout_ms = opts->connect_timeout_ms,
		.timeout_ms = opts->timeout_ms,
		.max_attempts = opts->max_attempts,
		.max_retry_time = opts->max_retry_time,
		.settings_group = opts->settings_group,
	};
	struct http_client *http = http_client_create(&ho);
	if (!http) {
		return NULL;
	}
	struct refty_client *c = xcalloc(1, sizeof(*c));
	c->http = http;
	c->api_key = xstrdup(opts->api_key);
	c->key_source = xstrdup(opts->key_source);
	log_add_secret(c->api_key);
	return c;
}

void refty_client_destroy(struct refty_client *c)
{
	if (!c) {
		return;
	}
	http_client_destroy(c->http);
	if (c->api_key) {
		memset(c->api_key, 0, strlen(c->api_key));
	}
	free(c->api_key);
	free(c->key_source);
	free(c);
}

/* Maps an HTTP answer to the journal's terms, following the error table of
 * Refty's contract: 401/403 stop the run, 409/429/5xx are retried later with
 * the same key, other 4xx are permanent. */
static enum refty_status classify(long status)
{
	if (status >= 200 && status < 300) {
		return REFTY_OK;
	}
	if (status == 401 || status == 403) {
		return REFTY_ERR_AUTH;
	}
	if (status == 408 || status == 409 || status == 429 || status >= 500) {
		return REFTY_ERR_TRANSIENT;
	}
	return REFTY_ERR_PERMANENT;
}

char *refty_error_text(const char *what, long http_status, const char *body, size_t len,
	char **code_out)
{
	const char *code = NULL, *message = NULL, *field = NULL;
	struct json_error err;
	struct json_object *root = json_parse(body, len, &err);
	if (root) {
		struct json_node top, e;
		json_root(&top, root);
		if (json_req_object(&top, "error", &e, &err)) {
			json_opt_string(&e, "code", &code, &err);
			json_opt_string(&e, "message", &message, &err);
			json_opt_string(&e, "field", &field, &err);
		}
	}
	char *clean_msg = message ? log_sanitize(message) : NULL;
	char *clean_code = code ? log_sanitize(code) : NULL;
	char *clean_field = field ? log_sanitize(field) : NULL;
	char *text = xasprintf("%s: Refty answered %s%s%s%s%s%s%s%s", what,
		http_status_text(http_status), clean_code ? " " : "", clean_code ? clean_code : "",
		clean_msg ? ": " : "", clean_msg ? clean_msg : "", clean_field ? " (field " : "",
		clean_field ? clean_field : "", clean_field ? ")" : "");
	free(clean_msg);
	free(clean_field);
	json_free(root);
	*code_out = clean_code;
	return text;
}

static void describe_error(const char *what, const struct http_response *resp,
	struct refty_result *res)
{
	char *code;
	char *text = refty_error_text(what, resp->status, resp->body.data, resp->body.len, &code);
	result_set(res, classify(resp->status), resp->status, code, text);
	free(code);
}

/* A successful answer that cannot be read: transient, so that the action is
 * retried under the same key. Logged here, once. */
static void malformed(struct refty_result *res, const char *what, const struct json_error *err)
{
	result_set(res, REFTY_ERR_TRANSIENT, res->http_status, NULL,
		xasprintf("%s: malformed answer from Refty: %s", what, err->text));
	log_error("%s", res->message);
}

/* Sends one request and sorts out the outcome. On REFTY_OK the parsed body is
 * returned in *root_out (caller frees); on anything else res says what. */
static bool call(struct refty_client *c, const char *what, const char *method, const char *path,
	const char *key, const char *body, struct refty_result *res, struct json_object **root_out)
{
	struct http_header headers[2];
	size_t n_headers = 0;
	if (body) {
		headers[n_headers++] = (struct http_header){"Content-Type", "application/json"};
	}
	if (key) {
		headers[n_headers++] = (struct http_header){"Idempotency-Key", key};
	}
	struct http_request req = {
		.method = method,
		.path = path,
		.headers = headers,
		.n_headers = n_headers,
		.bearer = c->api_key,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		// Refty deduplicates by key, and PATCH sets absolute values.
		.idempotent = key != NULL || (method && strcmp(method, "PATCH") == 0),
	};
	struct http_response resp;
	http_response_init(&resp);
	*root_out = NULL;
	bool answered = http_request(c->http, &req, &resp);
	// 409: the first request under this key is still being processed. It
	// usually finishes within moments, so wait a little before leaving the
	// action for the next run.
	for (int wait = 1; answered && resp.status == 409 && key && wait <= 4; wait *= 2) {
		log_debug("%s: Refty is still processing key '%s'; asking again in %d s", what, key, wait);
		if (!signals_sleep(wait, SIGNALS_STOP)) {
			break; // a stop: the action stays pending, and the next run asks again
		}
		answered = http_request(c->http, &req, &resp);
	}
	if (!answered) {
		// Already logged by the HTTP layer.
		enum refty_status st = resp.error == HTTP_ERR_DRY_RUN       ? REFTY_ERR_DRY_RUN
				       : resp.error == HTTP_ERR_INTERRUPTED ? REFTY_ERR_INTERRUPTED
									    : REFTY_ERR_TRANSIENT;
		result_set(res, st, 0, NULL,
			xasprintf("%s: %s", what, resp.error_text ? resp.error_text : "no answer"));
		http_response_finish(&resp);
		return false;
	}
	if (resp.status < 200 || resp.status >= 300) {
		describe_error(what, &resp, res);
		if (res->status == REFTY_ERR_AUTH) {
			log_error("%s: check the key from %s and that it is still active", res->message,
				c->key_source ? c->key_source : "refty.api_key");
		} else {
			log_error("%s", res->message);
		}
		http_response_finish(&resp);
		return false;
	}
	const char *replayed = http_response_header(&resp, "Idempotent-Replayed");
	res->replayed = replayed && strcmp(replayed, "true") == 0;
	struct json_error err;
	struct json_object *root = json_parse(resp.body.data, resp.body.len, &err);
	if (!root) {
		// A success we cannot read: the effect may have happened, so retry
		// later under the same key and let Refty replay the answer.
		res->http_status = resp.status;
		malformed(res, what, &err);
		http_response_finish(&resp);
		return false;
	}
	http_response_finish(&resp);
	result_set(res, REFTY_OK, 200, NULL, xstrdup("ok"));
	*root_out = root;
	return true;
}

bool refty_parse_sequences(struct json_object *root, struct catalog *cat,
	const char **next_cursor, struct json_error *err)
{
	struct json_node top, data;
	json_root(&top, root);
	*next_cursor = NULL;
	bool ok = json_req_array(&top, "data", &data, err);
	for (size_t i = 0; ok && i < json_array_len(&data); i++) {
		struct json_node seq, stages;
		const char *id, *name;
		ok = json_array_object(&data, i, &seq, err) && json_req_string(&seq, "id", &id, err) &&
		     json_req_string(&seq, "name", &name, err) &&
		     json_req_array(&seq, "stages", &stages, err);
		if (!ok) {
			break;
		}
		struct refty_sequence *s = catalog_add_sequence(cat, id, name);
		for (size_t j = 0; ok && j < json_array_len(&stages); j++) {
			struct json_node st;
			const char *sid, *sname, *type;
			int64_t position = 0;
			ok = json_array_object(&stages, j, &st, err) &&
			     json_req_string(&st, "id", &sid, err) &&
			     json_req_string(&st, "name", &sname, err) &&
			     json_req_string(&st, "type", &type, err) &&
			     json_opt_int64(&st, "position", (int64_t)j + 1, &position, err);
			if (ok && strcmp(type, "self_assessment") != 0 &&
				strcmp(type, "reference_check") != 0) {
				ok = json_fail(err, &st, "unknown stage type '%s'", type);
			}
			if (ok) {
				refty_sequence_add_stage(s, sid, sname, type, (int)position);
			}
		}
	}
	return ok && json_opt_string(&top, "next_cursor", next_cursor, err);
}

bool refty_list_sequences(struct refty_client *c, struct catalog *cat, struct refty_result *res)
{
	char *cursor = NULL;
	bool ok = true;
	do {
		struct strbuf path;
		strbuf_init(&path);
		strbuf_puts(&path, "/sequences");
		http_query_add(&path, "limit", "100");
		if (cursor) {
			http_query_add(&path, "cursor", cursor);
		}
		free(cursor);
		cursor = NULL;
		struct json_object *root = NULL;
		ok = call(c, "cannot list Refty sequences", NULL, path.data, NULL, NULL, res, &root);
		strbuf_finish(&path);
		if (!ok) {
			break;
		}
		struct json_error err;
		const char *next_cursor = NULL;
		ok = refty_parse_sequences(root, cat, &next_cursor, &err);
		if (!ok) {
			malformed(res, "cannot list Refty sequences", &err);
		} else if (next_cursor && *next_cursor) {
			cursor = xstrdup(next_cursor);
		}
		json_free(root);
	} while (ok && cursor);
	free(cursor);
	return ok;
}

bool refty_parse_languages(struct json_object *root, char ***langs, size_t *n_langs,
	struct json_error *err)
{
	*langs = NULL;
	*n_langs = 0;
	struct json_node top, data;
	json_root(&top, root);
	bool ok = json_req_array(&top, "data", &data, err);
	size_t n = ok ? json_array_len(&data) : 0;
	char **v = xcalloc(n, sizeof(*v));
	size_t got = 0;
	for (size_t i = 0; ok && i < n; i++) {
		const char *lang;
		ok = json_array_string(&data, i, &lang, err);
		if (ok) {
			v[got++] = xstrdup(lang);
		}
	}
	if (!ok) {
		for (size_t i = 0; i < got; i++) {
			free(v[i]);
		}
		free(v);
		return false;
	}
	*langs = v;
	*n_langs = got;
	return true;
}

bool refty_list_languages(struct refty_client *c, char ***langs, size_t *n_langs,
	struct refty_result *res)
{
	*langs = NULL;
	*n_langs = 0;
	struct json_object *root = NULL;
	if (!call(c, "cannot list Refty languages", NULL, "/languages", NULL, NULL, res, &root)) {
		return false;
	}
	struct json_error err;
	bool ok = refty_parse_languages(root, langs, n_langs, &err);
	json_free(root);
	if (!ok) {
		malformed(res, "cannot list Refty languages", &err);
	}
	return ok;
}

/* The contact details as Refty takes them, in a create and an update alike. */
static void contact_fields(struct jsonw *w, const struct contact *c)
{
	jsonw_kv_string(w, "name", c->name ? c->name : "");
	jsonw_kv_string(w, "email", c->email);
	jsonw_kv_string(w, "phone", c->phone);
}

char *refty_candidate_body(const struct refty_candidate_input *in)
{
	struct strbuf out;
	strbuf_init(&out);
	struct jsonw w;
	jsonw_init(&w, &out);
	char *external_id = journal_external_id(in->opportunity_id);
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "external_id", external_id);
	jsonw_kv_string(&w, "sequence_id", in->sequence_id);
	jsonw_kv_string(&w, "language", in->language);
	contact_fields(&w, in->contact);
	jsonw_key(&w, "job");
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "external_id", in->posting_id);
	jsonw_kv_string(&w, "title", in->posting_title ? in->posting_title : "");
	jsonw_object_end(&w);
	if (in->profile_url) {
		jsonw_kv_string(&w, "profile_url", in->profile_url);
	}
	jsonw_object_end(&w);
	free(external_id);
	return strbuf_steal(&out);
}

char *refty_candidate_body_relanguage(const char *body, const char *language)
{
	struct json_error err;
	struct json_object *root = json_parse(body, strlen(body), &err);
	if (!root) {
		log_error("cannot read a journalled candidate body: %s", err.text);
		return NULL;
	}
	struct json_node top, job;
	json_root(&top, root);
	const char *external_id = NULL, *name = NULL, *email = NULL, *phone = NULL;
	struct refty_candidate_input in = {.language = language};
	bool ok = json_req_string(&top, "external_id", &external_id, &err) &&
		  json_req_string(&top, "sequence_id", &in.sequence_id, &err) &&
		  json_opt_string(&top, "name", &name, &err) &&
		  json_opt_string(&top, "email", &email, &err) &&
		  json_opt_string(&top, "phone", &phone, &err) &&
		  json_req_object(&top, "job", &job, &err) &&
		  json_opt_string(&job, "external_id", &in.posting_id, &err) &&
		  json_opt_string(&job, "title", &in.posting_title, &err) &&
		  json_opt_string(&top, "profile_url", &in.profile_url, &err);
	if (ok && !(in.opportunity_id = journal_external_opportunity(external_id))) {
		ok = json_fail(&err, &top, "external_id '%s' is not a Lever one", external_id);
	}
	char *out = NULL;
	if (ok) {
		struct contact was = {xstrdup(name), xstrdup(email), xstrdup(phone)};
		in.contact = &was;
		out = refty_candidate_body(&in);
		contact_finish(&was);
	} else {
		log_error("cannot read a journalled candidate body: %s", err.text);
	}
	json_free(root);
	return out;
}

bool refty_parse_id(struct json_object *root, char **id, struct json_error *err)
{
	struct json_node top, data;
	const char *v;
	json_root(&top, root);
	*id = NULL;
	if (!json_req_object(&top, "data", &data, err) || !json_req_string(&data, "id", &v, err)) {
		return false;
	}
	*id = xstrdup(v);
	return true;
}

/* Takes data.id from a successful answer. */
static bool take_id(struct json_object *root, const char *what, char **id, struct refty_result *res)
{
	struct json_error err;
	bool ok = refty_parse_id(root, id, &err);
	if (!ok) {
		malformed(res, what, &err);
	}
	json_free(root);
	return ok;
}

bool refty_create_candidate(struct refty_client *c, const char *key, const char *body,
	char **candidate_id, struct refty_result *res)
{
	struct json_object *root;
	*candidate_id = NULL;
	if (!call(c, "cannot create candidate", "POST", "/candidates", key, body, res, &root)) {
		return false;
	}
	return take_id(root, "cannot create candidate", candidate_id, res);
}

bool refty_update_candidate(struct refty_client *c, const char *candidate_id,
	const struct contact *contact, struct refty_result *res)
{
	struct strbuf body;
	strbuf_init(&body);
	struct jsonw w;
	jsonw_init(&w, &body);
	jsonw_object_begin(&w);
	contact_fields(&w, contact);
	jsonw_object_end(&w);
	char *esc = http_url_escape(candidate_id);
	char *path = xasprintf("/candidates/%s", esc);
	struct json_object *root = NULL;
	bool ok = call(c, "cannot update candidate", "PATCH", path, NULL, body.data, res, &root);
	json_free(root);
	free(path);
	free(esc);
	strbuf_finish(&body);
	return ok;
}

bool refty_send_step(struct refty_client *c, const char *candidate_id, const char *key,
	const char *stage_id, const char *language, char **step_id, struct refty_result *res)
{
	struct strbuf body;
	strbuf_init(&body);
	struct jsonw w;
	jsonw_init(&w, &body);
	jsonw_object_begin(&w);
	jsonw_kv_string(&w, "stage_id", stage_id);
	if (language) {
		jsonw_kv_string(&w, "language", language);
	}
	jsonw_object_end(&w);
	char *esc = http_url_escape(candidate_id);
	char *path = xasprintf("/candidates/%s/steps", esc);
	struct json_object *root = NULL;
	*step_id = NULL;
	bool ok = call(c, "cannot send step", "POST", path, key, body.data, res, &root);
	free(path);
	free(esc);
	strbuf_finish(&body);
	if (!ok) {
		return false;
	}
	return take_id(root, "cannot send step", step_id, res);
}
