#define LOG_MODULE "config"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"
#include "lever.h"
#include "confscan.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#define DEFAULT_REFTY_URL "https://api.refty.co/v1"
#define SECRET_MAX_BYTES 65536
/* Requests per second: one every 100 s up to far beyond any API's limit. */
#define RATE_MIN 0.01
#define RATE_MAX 1000.0

/* libconfig 1.5 refuses deeper nesting itself, with no file name. */
#define INCLUDE_DEPTH_MAX 10
/* Far above any real configuration; a bigger file is a mistake (a log, a disk image). */
#define CONFIG_BYTES_MAX (4 * 1024 * 1024)

/* An integer literal too large for 64 bits, which libconfig 1.5 silently wraps. */
struct big_literal {
	char *file;
	int line;
	char *text;
};

/* A file libconfig reads: the main one or one it includes. */
struct conf_file {
	char *path;    /* as libconfig names it (config_setting_source_file) */
	bool insecure; /* readable by group or others */
};

/* Walks the libconfig tree, collecting every problem before giving up, so one
 * run of 'check' shows the operator all of them. */
struct ctx {
	const char *path;
	int errors;
	unsigned flags; /* CONF_ONLY_* */
	struct conf_file *files;
	size_t n_files;
	struct big_literal *bigs; /* found in the text before libconfig read it */
	size_t n_bigs;
};

static void report_in(struct ctx *c, const char *file, int line, const char *key,
	const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report(struct ctx *c, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report_at(struct ctx *c, const config_setting_t *s, const char *key,
	const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Where problems are collected as well as logged, while conf_collect_problems says so. */
static struct conf_problems *collected;

void conf_collect_problems(struct conf_problems *into)
{
	collected = into;
}

void conf_problem_add(const char *file, int line, const char *key, const char *message)
{
	if (!collected) {
		return;
	}
	if (collected->n == collected->cap) {
		collected->cap = collected->cap ? 2 * collected->cap : 8;
		collected->items = xrealloc(collected->items,
			collected->cap * sizeof(*collected->items));
	}
	collected->items[collected->n++] = (struct conf_problem){
		.file = xstrdup(file),
		.line = line,
		.key = xstrdup(key),
		.message = xstrdup(message),
	};
}

void conf_problems_finish(struct conf_problems *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].file);
		free(p->items[i].key);
		free(p->items[i].message);
	}
	free(p->items);
	memset(p, 0, sizeof(*p));
}

static void vproblem(const char *file, int line, const char *key, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void vproblem(const char *file, int line, const char *key, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_error("%s:%d: %s: %s", file, line, key, msg);
	conf_problem_add(file, line, key, msg);
}

/* A problem found outside the parser (a secret that cannot be read, a syntax error). */
static void report_problem(const char *file, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void report_problem(const char *file, int line, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vproblem(file, line, key, fmt, ap);
	va_end(ap);
}

static void vreport(struct ctx *c, const char *file, int line, const char *key, const char *fmt,
	va_list ap) __attribute__((format(printf, 5, 0)));

static void vreport(struct ctx *c, const char *file, int line, const char *key, const char *fmt,
	va_list ap)
{
	vproblem(file, line, key, fmt, ap);
	c->errors++;
}

static void report_in(struct ctx *c, const char *file, int line, const char *key,
	const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, file ? file : c->path, line, key, fmt, ap);
	va_end(ap);
}

/* A problem on a line of the main file. */
static void report(struct ctx *c, int line, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, c->path, line, key, fmt, ap);
	va_end(ap);
}

/* The nearest setting, s or a parent, that libconfig knows the position of. */
static const config_setting_t *placed(const config_setting_t *s)
{
	while (s && config_setting_source_line(s) == 0) {
		s = config_setting_parent(s);
	}
	return s;
}

static int line_of(const config_setting_t *s)
{
	s = placed(s);
	return s ? (int)config_setting_source_line(s) : 0;
}

/* The file s was read from, which is an included one for settings that come from there. */
static const char *file_of(const struct ctx *c, const config_setting_t *s)
{
	s = placed(s);
	const char *f = s ? config_setting_source_file(s) : NULL;
	return f ? f : c->path;
}

/* A problem with setting s, at its own file and line. */
static void report_at(struct ctx *c, const config_setting_t *s, const char *key,
	const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vreport(c, file_of(c, s), line_of(s), key, fmt, ap);
	va_end(ap);
}

/* The literal that was too large for libconfig on s's line, which it then read wrapped. */
static const char *big_literal_at(const struct ctx *c, const config_setting_t *s)
{
	const char *file = file_of(c, s);
	int line = line_of(s);
	for (size_t i = 0; i < c->n_bigs; i++) {
		if (c->bigs[i].line == line && strcmp(c->bigs[i].file, file) == 0) {
			return c->bigs[i].text;
		}
	}
	return NULL;
}

static bool file_insecure(const struct ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_files; i++) {
		if (strcmp(c->files[i].path, path) == 0) {
			return c->files[i].insecure;
		}
	}
	// Every file libconfig read was checked first; should one be missing, look again.
	struct stat st;
	return stat(path, &st) != 0 || (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

/* Joins a parent key and a child name into a dotted key, e.g. "lever.burst". */
static char *key_join(const char *parent, const char *name)
{
	return parent && *parent ? xasprintf("%s.%s", parent, name) : xstrdup(name);
}

static bool known(const char *name, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++) {
		if (strcmp(name, keys[i]) == 0) {
			return true;
		}
	}
	return false;
}

/* Reports every member of group that is not in keys: a typo must never
 * silently disable a setting. */
static void check_unknown(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *const *keys)
{
	int n = config_setting_length(group);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		if (!name || known(name, keys)) {
			continue;
		}
		char *key = key_join(prefix, name);
		report_at(c, s, key, "unknown key");
		free(key);
	}
}

static const config_setting_t *member(const config_setting_t *group, const char *name)
{
	return group ? config_setting_get_member(group, name) : NULL;
}

static bool is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static bool expect_type(struct ctx *c, const config_setting_t *s, const char *key, bool ok,
	const char *want)
{
	if (!ok) {
		report_at(c, s, key, "expected %s, got %s", want, type_name(config_setting_type(s)));
	}
	return ok;
}

/* Copies an optional string setting into *out (keeping the default when absent).
 * Empty strings are refused: they are always a mistake here. */
static void get_string(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *name, char **out, int *line)
{
	const config_setting_t *s = member(group, name);
	if (!s) {
		return;
	}
	char *key = key_join(prefix, name);
	if (expect_type(c, s, key, config_setting_type(s) == CONFIG_TYPE_STRING, "a string")) {
		const char *v = config_setting_get_string(s);
		if (!*v) {
			report_at(c, s, key, "must not be empty");
		} else {
			free(*out);
			*out = xstrdup(v);
			if (line) {
				*line = line_of(s);
			}
		}
	}
	free(key);
}

static void get_long(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *name, long min, long max, long *out)
{
	const config_setting_t *s = member(group, name);
	if (!s) {
		return;
	}
	char *key = key_join(prefix, name);
	const char *big = big_literal_at(c, s);
	if (big && is_int(s)) {
		report_at(c, s, key, "value %s is out of range %ld..%ld", big, min, max);
	} else if (expect_type(c, s, key, is_int(s), "an integer")) {
		long long v = config_setting_get_int64(s);
		if (v < min || v > max) {
			report_at(c, s, key, "value %lld is out of range %ld..%ld", v, min, max);
		} else {
			*out = (long)v;
		}
	}
	free(key);
}

static void get_int(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *name, int min, int max, int *out)
{
	long v = *out;
	get_long(c, group, prefix, name, min, max, &v);
	*out = (int)v;
}

/* A duration as the operator writes it: whole seconds, or a string timeutil reads ("90s",
 * "2m"), checked against [min_ms, max_ms] and reported in the form it was written in. */
static void get_duration(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *name, int64_t min_ms, int64_t max_ms, long *out_ms)
{
	const config_setting_t *s = member(group, name);
	if (!s) {
		return;
	}
	if (is_int(s)) {
		// Whole seconds: an integer like any other, with its range in seconds.
		long seconds = LONG_MIN;
		get_long(c, group, prefix, name, (long)(min_ms / 1000), (long)(max_ms / 1000),
			&seconds);
		if (seconds != LONG_MIN) {
			*out_ms = seconds * 1000;
		}
		return;
	}
	char *key = key_join(prefix, name);
	int64_t ms = 0;
	if (expect_type(c, s, key, config_setting_type(s) == CONFIG_TYPE_STRING,
			   "a duration (seconds, or a string such as \"90s\" or \"2m\")")) {
		const char *v = config_setting_get_string(s);
		enum number_status st = timeutil_parse_duration(v, &ms);
		char lo[32], hi[32];
		timeutil_format_duration(min_ms, lo, sizeof(lo));
		timeutil_format_duration(max_ms, hi, sizeof(hi));
		if (st == NUMBER_INVALID) {
			report_at(c, s, key, "expected a duration such as \"90s\", \"2m\" or \"1m30s\" "
				"(units d, h, m, s, largest first), got '%s'", v);
		} else if (st == NUMBER_RANGE || ms < min_ms || ms > max_ms) {
			report_at(c, s, key, "value %s is out of range %s..%s", v, lo, hi);
		} else {
			*out_ms = (long)ms;
		}
	}
	free(key);
}

/* The limits of lever.timeout and the like: a second at least (the finest unit a duration
 * has), and no more than would hide an outage from the next scheduled run. */
#define CONNECT_TIMEOUT_MAX_MS (INT64_C(300) * 1000)
#define TIMEOUT_MAX_MS (INT64_C(3600) * 1000)
#define MAX_RETRY_TIME_MAX_MS (INT64_C(3600) * 1000)
#define MAX_ATTEMPTS_MAX 20

static void get_http(struct ctx *c, const config_setting_t *s, const char *group,
	struct config_http *out)
{
	get_duration(c, s, group, "connect_timeout", 1000, CONNECT_TIMEOUT_MAX_MS,
		&out->connect_timeout_ms);
	get_duration(c, s, group, "timeout", 1000, TIMEOUT_MAX_MS, &out->timeout_ms);
	get_int(c, s, group, "max_attempts", 1, MAX_ATTEMPTS_MAX, &out->max_attempts);
	get_duration(c, s, group, "max_retry_time", 1000, MAX_RETRY_TIME_MAX_MS,
		&out->max_retry_time_ms);
}

static void get_bool(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *name, bool *out)
{
	const config_setting_t *s = member(group, name);
	if (!s) {
		return;
	}
	char *key = key_join(prefix, name);
	if (expect_type(c, s, key, config_setting_type(s) == CONFIG_TYPE_BOOL, "a boolean (true or false)")) {
		*out = config_setting_get_bool(s);
	}
	free(key);
}

static void get_rate(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *name, double *out)
{
	const config_setting_t *s = member(group, name);
	if (!s) {
		return;
	}
	char *key = key_join(prefix, name);
	bool number = is_int(s) || config_setting_type(s) == CONFIG_TYPE_FLOAT;
	const char *big = big_literal_at(c, s);
	if (big && is_int(s)) {
		report_at(c, s, key, "value %s is out of range %g..%g", big, RATE_MIN, RATE_MAX);
	} else if (expect_type(c, s, key, number, "a number")) {
		double v = is_int(s) ? (double)config_setting_get_int64(s) : config_setting_get_float(s);
		if (!(v >= RATE_MIN) || v > RATE_MAX || !isfinite(v)) {
			report_at(c, s, key, "value %g is out of range %g..%g", v, RATE_MIN, RATE_MAX);
		} else {
			*out = v;
		}
	}
	free(key);
}

static void secret_finish(struct config_secret *s)
{
	free(s->ref);
	free(s->key);
	free(s->file);
	memset(s, 0, sizeof(*s));
}

/* Reads one of the four secret sources named base, base_file, base_env and
 * base_command from group. Exactly one may be set. */
static void get_secret(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *base, struct config_secret *out)
{
	static const struct {
		const char *suffix;
		enum secret_source source;
	} kinds[] = {
		{"", SECRET_INLINE},
		{"_file", SECRET_FILE},
		{"_env", SECRET_ENV},
		{"_command", SECRET_COMMAND},
	};
	// Every source but SECRET_NONE has its key suffix here.
	_Static_assert(sizeof(kinds) / sizeof(kinds[0]) == SECRET_COMMAND,
		"kinds must list every secret source");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s%s", base, kinds[i].suffix);
		char *value = NULL;
		int line = 0;
		get_string(c, group, prefix, name, &value, &line);
		if (!value) {
			continue;
		}
		char *key = key_join(prefix, name);
		const char *file = file_of(c, member(group, name));
		if (out->source != SECRET_NONE) {
			if (strcmp(file, out->file) == 0) {
				report_in(c, file, line, key,
					"conflicts with '%s' (line %d): give exactly one secret source",
					out->key, out->line);
			} else {
				report_in(c, file, line, key,
					"conflicts with '%s' (%s:%d): give exactly one secret source",
					out->key, out->file, out->line);
			}
			free(value);
			free(key);
			continue;
		}
		out->source = kinds[i].source;
		out->ref = value;
		out->key = key;
		out->line = line;
		out->file = xstrdup(file);
		// An included file holding the secret is as exposed as the main one would be.
		if (out->source == SECRET_INLINE && file_insecure(c, file)) {
			report_in(c, file, line, key,
				"inline secret in a file readable by group or others: run 'chmod 600 %s' or "
				"use %s_file, %s_env or %s_command",
				file, base, base, base);
		}
	}
}

static void parse_oauth(struct ctx *c, const config_setting_t *s, struct config_oauth *o)
{
	static const char *const keys[] = {"client_id", "client_secret", "client_secret_file",
		"client_secret_env", "client_secret_command", "auth_url", "redirect_port", NULL};
	const char *prefix = "lever.oauth";
	if (!expect_type(c, s, prefix, config_setting_is_group(s), "a group")) {
		return;
	}
	o->enabled = true;
	check_unknown(c, s, prefix, keys);
	get_string(c, s, prefix, "client_id", &o->client_id, NULL);
	if (!o->client_id) {
		report_at(c, s, prefix, "missing 'client_id'");
	}
	get_secret(c, s, prefix, "client_secret", &o->client_secret);
	if (o->client_secret.source == SECRET_NONE) {
		report_at(c, s, prefix,
			"missing client secret: set client_secret_file, client_secret_env, "
			"client_secret_command or client_secret");
	}
	get_string(c, s, prefix, "auth_url", &o->auth_url, NULL);
	get_int(c, s, prefix, "redirect_port", 1, 65535, &o->redirect_port);
}

static void check_url(struct ctx *c, const config_setting_t *group, const char *prefix,
	const char *url)
{
	bool https = strncmp(url, "https://", 8) == 0;
	bool http = strncmp(url, "http://", 7) == 0;
	// Plain HTTP carries credentials in the clear, so it is only allowed to this machine (the
	// test emulators); the HTTP layer decides what "this machine" is.
	if (https || (http && http_url_is_loopback(url))) {
		return;
	}
	char *key = key_join(prefix, "url");
	report_at(c, member(group, "url"), key,
		http ? "plain http is only allowed to this machine (127.0.0.1, localhost): use https, got '%s'"
		     : "expected an https:// URL, got '%s'",
		url);
	free(key);
}

static void parse_lever(struct ctx *c, const config_setting_t *s, struct config *cfg)
{
	static const char *const keys[] = {"url", "api_key", "api_key_file", "api_key_env",
		"api_key_command", "oauth", "confidential", "requests_per_second", "burst",
		"max_in_flight", "max_pages", "connect_timeout", "timeout", "max_attempts",
		"max_retry_time", NULL};
	if (!expect_type(c, s, "lever", config_setting_is_group(s), "a group")) {
		return;
	}
	check_unknown(c, s, "lever", keys);
	get_string(c, s, "lever", "url", &cfg->lever.url, NULL);
	check_url(c, s, "lever", cfg->lever.url);
	get_secret(c, s, "lever", "api_key", &cfg->lever.key);
	const config_setting_t *oauth = member(s, "oauth");
	if (oauth) {
		parse_oauth(c, oauth, &cfg->lever.oauth);
	}
	if (cfg->lever.key.source != SECRET_NONE && cfg->lever.oauth.enabled) {
		report_in(c, cfg->lever.key.file, cfg->lever.key.line, cfg->lever.key.key,
			"conflicts with 'lever.oauth' (line %d): use an API key or OAuth, not both",
			line_of(oauth));
	} else if (cfg->lever.key.source == SECRET_NONE && !cfg->lever.oauth.enabled) {
		report_at(c, s, "lever",
			"no credentials: set api_key_file, api_key_env, api_key_command, api_key or an "
			"oauth group");
	}
	get_bool(c, s, "lever", "confidential", &cfg->lever.confidential);
	get_rate(c, s, "lever", "requests_per_second", &cfg->lever.requests_per_second);
	get_int(c, s, "lever", "burst", 1, 1000, &cfg->lever.burst);
	get_int(c, s, "lever", "max_in_flight", 1, 64, &cfg->lever.max_in_flight);
	get_int(c, s, "lever", "max_pages", 1, 1000000000, &cfg->lever.max_pages);
	get_http(c, s, "lever", &cfg->lever.http);
}

static void parse_refty(struct ctx *c, const config_setting_t *s, struct config *cfg)
{
	static const char *const keys[] = {"url", "api_key", "api_key_file", "api_key_env",
		"api_key_command", "max_in_flight", "connect_timeout", "timeout", "max_attempts",
		"max_retry_time", NULL};
	if (!expect_type(c, s, "refty", config_setting_is_group(s), "a group")) {
		return;
	}
	check_unknown(c, s, "refty", keys);
	get_string(c, s, "refty", "url", &cfg->refty.url, NULL);
	check_url(c, s, "refty", cfg->refty.url);
	get_secret(c, s, "refty", "api_key", &cfg->refty.key);
	if (cfg->refty.key.source == SECRET_NONE) {
		report_at(c, s, "refty",
			"no credentials: set api_key_file, api_key_env, api_key_command or api_key");
	}
	get_int(c, s, "refty", "max_in_flight", 1, 64, &cfg->refty.max_in_flight);
	get_http(c, s, "refty", &cfg->refty.http);
}

/* A required, non-empty string member of a rule. */
static char *rule_string(struct ctx *c, const config_setting_t *rule, const char *prefix,
	const char *name, int *line)
{
	char *v = NULL;
	get_string(c, rule, prefix, name, &v, line);
	if (!v && !member(rule, name)) {
		report_at(c, rule, prefix, "missing '%s'", name);
	}
	return v;
}

static void parse_jobs(struct ctx *c, const config_setting_t *s, const char *prefix,
	struct config_rule *r)
{
	char *key = key_join(prefix, "jobs");
	r->jobs_line = line_of(s);
	if (!expect_type(c, s, key,
		    config_setting_is_array(s) || config_setting_is_list(s) ||
			    config_setting_type(s) == CONFIG_TYPE_STRING,
		    "an array of strings")) {
		free(key);
		return;
	}
	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		r->jobs = xcalloc(1, sizeof(*r->jobs));
		r->jobs[r->n_jobs++] = xstrdup(config_setting_get_string(s));
		free(key);
		return;
	}
	int n = config_setting_length(s);
	if (n == 0) {
		report_at(c, s, key, "must name at least one job (a posting id, title, or \"*\")");
	}
	r->jobs = xcalloc((size_t)n, sizeof(*r->jobs));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING || !*config_setting_get_string(e)) {
			report_at(c, e, key, "element %d: expected a non-empty string", i + 1);
			continue;
		}
		r->jobs[r->n_jobs++] = xstrdup(config_setting_get_string(e));
	}
	free(key);
}

static void parse_stages(struct ctx *c, const config_setting_t *s, const char *prefix,
	struct config_rule *r)
{
	static const char *const keys[] = {"refty", "lever", NULL};
	char *key = key_join(prefix, "stages");
	if (!expect_type(c, s, key, config_setting_is_list(s) || config_setting_is_group(s),
		    "a list of { refty = \"...\"; lever = \"...\"; } groups")) {
		free(key);
		return;
	}
	bool single = config_setting_is_group(s);
	int n = single ? 1 : config_setting_length(s);
	r->stages = xcalloc((size_t)n, sizeof(*r->stages));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = single ? s : config_setting_get_elem(s, (unsigned)i);
		char *ekey = xasprintf("%s[%d]", key, i);
		if (!expect_type(c, e, ekey, config_setting_is_group(e),
			    "a group { refty = \"...\"; lever = \"...\"; }")) {
			free(ekey);
			continue;
		}
		check_unknown(c, e, ekey, keys);
		struct config_stage_link *l = &r->stages[r->n_stages];
		l->line = line_of(e);
		l->refty = rule_string(c, e, ekey, "refty", NULL);
		l->lever = rule_string(c, e, ekey, "lever", NULL);
		if (l->refty && l->lever) {
			r->n_stages++;
		} else {
			free(l->refty);
			free(l->lever);
			memset(l, 0, sizeof(*l));
		}
		free(ekey);
	}
	free(key);
}

static void parse_rules(struct ctx *c, const config_setting_t *s, struct config *cfg)
{
	static const char *const keys[] = {"name", "jobs", "sequence", "stages", "language", NULL};
	if (!expect_type(c, s, "rules", config_setting_is_list(s), "a list of rule groups ( {...}, {...} )")) {
		return;
	}
	int n = config_setting_length(s);
	cfg->rules = xcalloc((size_t)n, sizeof(*cfg->rules));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		char *prefix = xasprintf("rules[%d]", i);
		if (!expect_type(c, e, prefix, config_setting_is_group(e), "a group")) {
			free(prefix);
			continue;
		}
		check_unknown(c, e, prefix, keys);
		struct config_rule *r = &cfg->rules[cfg->n_rules++];
		r->line = line_of(e);
		r->name = rule_string(c, e, prefix, "name", NULL);
		const config_setting_t *jobs = member(e, "jobs");
		if (jobs) {
			parse_jobs(c, jobs, prefix, r);
		} else {
			report_at(c, e, prefix, "missing 'jobs'");
		}
		r->sequence = rule_string(c, e, prefix, "sequence", &r->sequence_line);
		const config_setting_t *stages = member(e, "stages");
		if (stages) {
			parse_stages(c, stages, prefix, r);
		} else {
			report_at(c, e, prefix, "missing 'stages' (use stages = (); to only enrol candidates)");
		}
		r->language = rule_string(c, e, prefix, "language", &r->language_line);
		free(prefix);
	}
	if (n == 0 && !(c->flags & CONF_ONLY)) {
		report_at(c, s, "rules", "no rules: nothing would ever be sent");
	}
}

/* The directory a service manager gave us comes first: under systemd's
 * DynamicUser HOME is "/", and a state under it could never be created. With no
 * usable place at all this says which setting to give rather than guess one. */
static char *default_state_path(const char *config_path)
{
	const char *sd = getenv("STATE_DIRECTORY");
	if (sd && *sd == '/') {
		// systemd joins several StateDirectory= entries with ':'; ours is the first.
		size_t len = strcspn(sd, ":");
		return xasprintf("%.*s/state.db", (int)len, sd);
	}
	const char *xdg = getenv("XDG_STATE_HOME");
	if (xdg && *xdg == '/') {
		return xasprintf("%s/refty-lever/state.db", xdg);
	}
	const char *home = getenv("HOME");
	size_t home_len = home ? strlen(home) : 0;
	while (home_len > 0 && home[home_len - 1] == '/') {
		home_len--;
	}
	if (home && *home == '/' && home_len > 0) {
		return xasprintf("%.*s/.local/state/refty-lever/state.db", (int)home_len, home);
	}
	log_error("'%s': no state database path: HOME is %s%s%s and neither STATE_DIRECTORY nor "
		  "XDG_STATE_HOME is set; add state = \"/var/lib/refty-lever/state.db\"; (any "
		  "writable path) to the file, or set STATE_DIRECTORY",
		config_path, home ? "'" : "", home ? home : "unset", home ? "'" : "");
	return NULL;
}

/* Relative paths in the file are taken relative to the file's directory, so
 * the same config works from cron and from a shell. A relative secret file is
 * taken from $CREDENTIALS_DIRECTORY instead when the service manager set one
 * (systemd's LoadCredential=, or a mounted secret), so that one file names the
 * keys the same way under systemd, Kubernetes and cron. */
static char *resolve_path(const char *config_path, const char *p, bool secret)
{
	if (p[0] == '/') {
		return xstrdup(p);
	}
	const char *creds = secret ? getenv("CREDENTIALS_DIRECTORY") : NULL;
	if (creds && *creds) {
		return xasprintf("%s/%s", creds, p);
	}
	const char *slash = strrchr(config_path, '/');
	if (!slash) {
		return xstrdup(p);
	}
	return xasprintf("%.*s/%s", (int)(slash - config_path), config_path, p);
}

/* ADDR:PORT with a port of 1..65535 (the command line alone may ask for any free port). */
static bool listen_valid(const char *v)
{
	char *addr = NULL;
	int port = 0;
	bool ok = http_parse_listen(v, &addr, &port) && port > 0;
	free(addr);
	return ok;
}

static void parse_webhooks(struct ctx *c, const config_setting_t *s, struct config *cfg)
{
	static const char *const keys[] = {"listen", "path", "signature_tokens",
		"signature_tokens_file", "signature_tokens_env", "signature_tokens_command", "max_age",
		"poll_interval", NULL};
	struct config_webhooks *w = &cfg->webhooks;
	if (!expect_type(c, s, "webhooks", config_setting_is_group(s), "a group")) {
		return;
	}
	w->present = true;
	check_unknown(c, s, "webhooks", keys);
	get_string(c, s, "webhooks", "listen", &w->listen, NULL);
	if (member(s, "listen") && !listen_valid(w->listen)) {
		report_at(c, member(s, "listen"), "webhooks.listen",
			"expected ADDR:PORT such as \"127.0.0.1:8722\" or \"[::1]:8722\" (port "
			"1..65535), got '%s'",
			w->listen);
	}
	get_string(c, s, "webhooks", "path", &w->path, NULL);
	if (member(s, "path") && (w->path[0] != '/' || strpbrk(w->path, "?# \t"))) {
		report_at(c, member(s, "path"), "webhooks.path",
			"expected a path starting with '/' (no query, no spaces), got '%s'", w->path);
	}
	get_secret(c, s, "webhooks", "signature_tokens", &w->tokens);
	get_duration(c, s, "webhooks", "max_age", 10 * 1000, 86400 * 1000, &w->max_age_ms);
	get_duration(c, s, "webhooks", "poll_interval", 1000, 86400 * 1000, &w->poll_interval_ms);
}

static void parse_root(struct ctx *c, const config_setting_t *root, struct config *cfg)
{
	static const char *const keys[] = {"lever", "refty", "state", "overlap", "max_actions", "rules",
		"webhooks", NULL};
	check_unknown(c, root, "", keys);
	const config_setting_t *s = member(root, "lever");
	if (s) {
		parse_lever(c, s, cfg);
	} else if (!(c->flags & CONF_ONLY_REFTY)) {
		report(c, 1, "lever", "missing group 'lever'");
	}
	s = member(root, "refty");
	if (s) {
		parse_refty(c, s, cfg);
	} else if (!(c->flags & CONF_ONLY_LEVER)) {
		report(c, 1, "refty", "missing group 'refty'");
	}
	char *state = NULL;
	get_string(c, root, "", "state", &state, NULL);
	if (state) {
		cfg->state = resolve_path(c->path, state, false);
		free(state);
	}
	s = member(root, "webhooks");
	if (s) {
		parse_webhooks(c, s, cfg);
	}
	get_long(c, root, "", "overlap", 0, 7L * 24 * 3600, &cfg->overlap);
	get_long(c, root, "", "max_actions", 0, CONF_MAX_ACTIONS_LIMIT, &cfg->max_actions);
	s = member(root, "rules");
	if (s) {
		parse_rules(c, s, cfg);
	} else if (!(c->flags & CONF_ONLY)) {
		report(c, 1, "rules", "missing list 'rules'");
	}
	if (cfg->lever.key.source == SECRET_FILE) {
		char *p = resolve_path(c->path, cfg->lever.key.ref, true);
		free(cfg->lever.key.ref);
		cfg->lever.key.ref = p;
	}
	if (cfg->refty.key.source == SECRET_FILE) {
		char *p = resolve_path(c->path, cfg->refty.key.ref, true);
		free(cfg->refty.key.ref);
		cfg->refty.key.ref = p;
	}
	if (cfg->lever.oauth.client_secret.source == SECRET_FILE) {
		struct config_secret *cs = &cfg->lever.oauth.client_secret;
		char *p = resolve_path(c->path, cs->ref, true);
		free(cs->ref);
		cs->ref = p;
	}
	if (cfg->webhooks.tokens.source == SECRET_FILE) {
		struct config_secret *cs = &cfg->webhooks.tokens;
		char *p = resolve_path(c->path, cs->ref, true);
		free(cs->ref);
		cs->ref = p;
	}
}

/*
 * Every file libconfig reads passes the checks the main file does, before libconfig opens it:
 * libconfig 1.5 has no include hook, hangs on a FIFO, and exits the process on a directory
 * (flex's "input in flex scanner failed"). confscan.h finds the files a text includes.
 */

/* The files being read, innermost first: an include that comes back to one is a cycle. */
struct include_chain {
	dev_t dev;
	ino_t ino;
	const struct include_chain *up;
};

static void file_error(struct ctx *c, const char *from, int from_line, const char *path,
	const char *why)
{
	if (from) {
		report_in(c, from, from_line, "@include", "cannot read '%s': %s", path, why);
	} else {
		log_error("cannot read config file '%s': %s", path, why);
		c->errors++;
	}
}

static const char *not_regular(mode_t mode)
{
	if (S_ISDIR(mode)) {
		return "not a regular file (a directory)";
	}
	if (S_ISFIFO(mode)) {
		return "not a regular file (a named pipe, which would block the read)";
	}
	return "not a regular file";
}

/* Reads path when it is still the regular file want describes, without blocking on anything
 * else (a FIFO swapped in since). NULL, with why filled, if not. */
static char *read_regular(const char *path, const struct stat *want, size_t *len, char *why,
	size_t size)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(why, size, "%s", strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_dev != want->st_dev || st.st_ino != want->st_ino) {
		snprintf(why, size, "%s",
			S_ISREG(st.st_mode) ? "replaced while being read" : not_regular(st.st_mode));
		close(fd);
		return NULL;
	}
	struct strbuf text;
	strbuf_init(&text);
	char buf[8192];
	ssize_t n = 0;
	while (text.len <= CONFIG_BYTES_MAX) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		strbuf_append(&text, buf, (size_t)n);
	}
	int saved = errno;
	bool failed = n < 0;
	close(fd);
	if (failed || text.len > CONFIG_BYTES_MAX) {
		snprintf(why, size, "%s", failed ? strerror(saved) : "larger than 4 MiB");
		strbuf_finish(&text);
		return NULL;
	}
	*len = text.len;
	return text.data ? strbuf_steal(&text) : xstrdup("");
}

/* Checks path, a file libconfig will read, and everything it includes. */
static void check_file(struct ctx *c, const char *path, const char *from, int from_line,
	const struct include_chain *up, int depth)
{
	if (depth > INCLUDE_DEPTH_MAX) {
		report_in(c, from, from_line, "@include",
			"cannot read '%s': includes nested more than %d deep", path, INCLUDE_DEPTH_MAX);
		return;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		file_error(c, from, from_line, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		file_error(c, from, from_line, path, not_regular(st.st_mode));
		return;
	}
	for (const struct include_chain *p = up; p; p = p->up) {
		if (p->dev == st.st_dev && p->ino == st.st_ino) {
			report_in(c, from, from_line, "@include",
				"cannot read '%s': it includes itself, directly or through other files", path);
			return;
		}
	}
	char why[256];
	size_t len = 0;
	char *text = read_regular(path, &st, &len, why, sizeof(why));
	if (!text) {
		file_error(c, from, from_line, path, why);
		return;
	}
	c->files = xrealloc(c->files, (c->n_files + 1) * sizeof(*c->files));
	bool insecure = (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
	c->files[c->n_files++] = (struct conf_file){xstrdup(path), insecure};
	struct confscan sc;
	if (!confscan_run(text, len, &sc)) {
		report_in(c, path, sc.error_line, "@include", "%s", sc.error);
	}
	free(text);
	for (size_t i = 0; i < sc.n_bigs; i++) {
		c->bigs = xrealloc(c->bigs, (c->n_bigs + 1) * sizeof(*c->bigs));
		struct big_literal *b = &c->bigs[c->n_bigs++];
		*b = (struct big_literal){xstrdup(path), sc.bigs[i].line, sc.bigs[i].text};
		sc.bigs[i].text = NULL;
	}
	struct include_chain me = {st.st_dev, st.st_ino, up};
	for (size_t i = 0; i < sc.n_includes; i++) {
		check_file(c, sc.includes[i].path, path, sc.includes[i].line, &me, depth + 1);
	}
	confscan_finish(&sc);
}

static void ctx_finish(struct ctx *c)
{
	for (size_t i = 0; i < c->n_files; i++) {
		free(c->files[i].path);
	}
	free(c->files);
	for (size_t i = 0; i < c->n_bigs; i++) {
		free(c->bigs[i].file);
		free(c->bigs[i].text);
	}
	free(c->bigs);
}

static void set_defaults(struct config *cfg)
{
	cfg->lever.url = xstrdup(LEVER_DEFAULT_URL);
	cfg->lever.requests_per_second = 10.0;
	cfg->lever.burst = 10;
	cfg->lever.max_in_flight = 16;
	cfg->lever.max_pages = 100000;
	cfg->lever.oauth.auth_url = xstrdup(LEVER_DEFAULT_AUTH_URL);
	cfg->lever.oauth.redirect_port = 8721;
	cfg->refty.url = xstrdup(DEFAULT_REFTY_URL);
	cfg->refty.max_in_flight = 8;
	const struct config_http http = {
		.connect_timeout_ms = HTTP_DEFAULT_CONNECT_TIMEOUT_MS,
		.timeout_ms = HTTP_DEFAULT_TIMEOUT_MS,
		.max_attempts = HTTP_DEFAULT_MAX_ATTEMPTS,
		.max_retry_time_ms = (long)(HTTP_DEFAULT_MAX_RETRY_TIME * 1000),
	};
	cfg->lever.http = http;
	cfg->refty.http = http;
	cfg->overlap = 300;
	cfg->max_actions = 500;
	cfg->webhooks.listen = xstrdup("127.0.0.1:8722");
	cfg->webhooks.path = xstrdup("/lever/webhook");
	cfg->webhooks.max_age_ms = 300 * 1000;
	cfg->webhooks.poll_interval_ms = 300 * 1000;
}

static void normalize_url(char **url)
{
	char *n = http_url_normalize(*url);
	free(*url);
	*url = n;
}

#define STR_(x) #x
#define STR(x) STR_(x)

const char *conf_library_version(void)
{
	// libconfig 1.5 has no run-time version call; the headers' is the one linked on Debian.
	return STR(LIBCONFIG_VER_MAJOR) "." STR(LIBCONFIG_VER_MINOR) "." STR(LIBCONFIG_VER_REVISION);
}

struct config *conf_load(const char *path)
{
	return conf_load_with(path, 0);
}

struct config *conf_load_with(const char *path, unsigned flags)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	set_defaults(cfg);

	struct ctx c = {.path = path, .flags = flags};
	check_file(&c, path, NULL, 0, NULL, 0);
	if (c.errors) {
		if (c.n_files) {
			log_error("'%s': %d error%s in configuration", path, c.errors,
				c.errors == 1 ? "" : "s");
		}
		ctx_finish(&c);
		conf_destroy(cfg);
		return NULL;
	}

	config_t lc;
	config_init(&lc);
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
			log_error("cannot read config file '%s': %s", path, strerror(errno));
		} else {
			const char *file = config_error_file(&lc);
			report_problem(file ? file : path, config_error_line(&lc), "syntax", "%s",
				config_error_text(&lc));
		}
		config_destroy(&lc);
		ctx_finish(&c);
		conf_destroy(cfg);
		return NULL;
	}
	parse_root(&c, config_root_setting(&lc), cfg);
	config_destroy(&lc);
	ctx_finish(&c);

	if (c.errors) {
		log_error("'%s': %d error%s in configuration", path, c.errors, c.errors == 1 ? "" : "s");
		conf_destroy(cfg);
		return NULL;
	}
	if (!cfg->state) {
		cfg->state = default_state_path(path);
		if (!cfg->state) {
			conf_destroy(cfg);
			return NULL;
		}
	}
	normalize_url(&cfg->lever.url);
	normalize_url(&cfg->refty.url);
	normalize_url(&cfg->lever.oauth.auth_url);
	return cfg;
}

void conf_destroy(struct config *cfg)
{
	if (!cfg) {
		return;
	}
	free(cfg->path);
	free(cfg->lever.url);
	secret_finish(&cfg->lever.key);
	free(cfg->lever.oauth.client_id);
	secret_finish(&cfg->lever.oauth.client_secret);
	free(cfg->lever.oauth.auth_url);
	free(cfg->refty.url);
	secret_finish(&cfg->refty.key);
	free(cfg->webhooks.listen);
	free(cfg->webhooks.path);
	secret_finish(&cfg->webhooks.tokens);
	free(cfg->state);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		struct config_rule *r = &cfg->rules[i];
		free(r->name);
		for (size_t j = 0; j < r->n_jobs; j++) {
			free(r->jobs[j]);
		}
		free(r->jobs);
		free(r->sequence);
		for (size_t j = 0; j < r->n_stages; j++) {
			free(r->stages[j].refty);
			free(r->stages[j].lever);
		}
		free(r->stages);
		free(r->language);
	}
	free(cfg->rules);
	free(cfg);
}

char *conf_find(const char *explicit_path)
{
	if (explicit_path) {
		return xstrdup(explicit_path);
	}
	const char *env = getenv("REFTY_LEVER_CONFIG");
	if (env && *env) {
		return xstrdup(env);
	}
	char *candidates[3] = {NULL, NULL, NULL};
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	size_t n = 0;
	if (xdg && *xdg == '/') {
		candidates[n++] = xasprintf("%s/refty-lever/config", xdg);
	} else if (home && *home) {
		candidates[n++] = xasprintf("%s/.config/refty-lever/config", home);
	}
	candidates[n++] = xstrdup("/etc/refty-lever.conf");
	char *found = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!found && access(candidates[i], F_OK) == 0) {
			found = candidates[i];
		} else {
			free(candidates[i]);
		}
	}
	if (!found) {
		log_error("no configuration file: pass -c FILE, set REFTY_LEVER_CONFIG, or create "
			  "'%s/refty-lever/config' or '/etc/refty-lever.conf'",
			xdg && *xdg == '/' ? xdg : "~/.config");
	}
	return found;
}

static char *strip_newlines(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) {
		s[--n] = '\0';
	}
	return s;
}

/* The file that names the secret source, for messages. */
static const char *secret_where(const struct config *cfg, const struct config_secret *s)
{
	return s->file ? s->file : cfg->path;
}

static char *read_secret_file(const struct config *cfg, const struct config_secret *s)
{
	FILE *f = fopen(s->ref, "r");
	if (!f) {
		report_problem(secret_where(cfg, s), s->line, s->key, "cannot read secret file '%s': %s", s->ref, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH)) {
		log_warn("%s:%d: %s: secret file '%s' is readable by others: run 'chmod 600 %s'",
			secret_where(cfg, s), s->line, s->key, s->ref, s->ref);
	}
	struct strbuf sb;
	strbuf_init(&sb);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && sb.len <= SECRET_MAX_BYTES) {
		strbuf_append(&sb, buf, n);
	}
	bool err = ferror(f);
	fclose(f);
	if (err || sb.len > SECRET_MAX_BYTES) {
		report_problem(secret_where(cfg, s), s->line, s->key, "cannot read secret file '%s': %s", s->ref, err ? "read error" : "file too large");
		strbuf_finish(&sb);
		return NULL;
	}
	return strip_newlines(strbuf_steal(&sb));
}

/* Runs the command through /bin/sh with stdout captured; its stderr passes
 * through so the operator sees why a password manager refused. */
static char *run_secret_command(const struct config *cfg, const struct config_secret *s)
{
	int fds[2];
	if (pipe(fds) != 0) {
		report_problem(secret_where(cfg, s), s->line, s->key, "cannot run secret command: %s", strerror(errno));
		return NULL;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		report_problem(secret_where(cfg, s), s->line, s->key, "cannot run secret command: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) < 0) {
			_exit(127);
		}
		close(fds[1]);
		// An ignored signal stays ignored across exec: give the command the usual ones back.
		signal(SIGPIPE, SIG_DFL);
		signal(SIGXFSZ, SIG_DFL);
		execl("/bin/sh", "sh", "-c", s->ref, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	struct strbuf sb;
	strbuf_init(&sb);
	char buf[4096];
	ssize_t n;
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		if (sb.len <= SECRET_MAX_BYTES) {
			strbuf_append(&sb, buf, (size_t)n);
		}
	}
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		report_problem(secret_where(cfg, s), s->line, s->key, "secret command failed (%s %d): check that '%s' works in this "
			  "environment",
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), s->ref);
		strbuf_finish(&sb);
		return NULL;
	}
	char *v = strip_newlines(strbuf_steal(&sb));
	if (!*v) {
		report_problem(secret_where(cfg, s), s->line, s->key, "secret command '%s' printed nothing", s->ref);
		free(v);
		return NULL;
	}
	return v;
}

char *conf_secret_read(const struct config *cfg, const struct config_secret *s)
{
	char *v = NULL;
	switch (s->source) {
	case SECRET_NONE:
		log_error("%s: no secret configured", cfg->path);
		return NULL;
	case SECRET_INLINE:
		v = xstrdup(s->ref);
		break;
	case SECRET_FILE:
		v = read_secret_file(cfg, s);
		if (v && !*v) {
			report_problem(secret_where(cfg, s), s->line, s->key, "secret file '%s' is empty", s->ref);
			free(v);
			v = NULL;
		}
		break;
	case SECRET_ENV: {
		const char *e = getenv(s->ref);
		if (!e || !*e) {
			report_problem(secret_where(cfg, s), s->line, s->key, "environment variable '%s' is not set", s->ref);
			return NULL;
		}
		v = strip_newlines(xstrdup(e));
		break;
	}
	case SECRET_COMMAND:
		v = run_secret_command(cfg, s);
		break;
	}
	if (v) {
		log_add_secret(v);
	}
	return v;
}

static bool check_one(const struct config *cfg, const struct config_secret *s)
{
	char *v = conf_secret_read(cfg, s);
	if (!v) {
		return false;
	}
	memset(v, 0, strlen(v));
	free(v);
	return true;
}

bool conf_check_secrets(const struct config *cfg)
{
	bool ok = true;
	if (cfg->lever.oauth.enabled) {
		ok = check_one(cfg, &cfg->lever.oauth.client_secret) && ok;
	} else {
		ok = check_one(cfg, &cfg->lever.key) && ok;
	}
	ok = check_one(cfg, &cfg->refty.key) && ok;
	return ok;
}

char *conf_secret_describe(const struct config_secret *s)
{
	switch (s->source) {
	case SECRET_FILE:
		return xasprintf("%s '%s' (line %d)", s->key, s->ref, s->line);
	case SECRET_ENV:
		return xasprintf("%s: $%s (line %d)", s->key, s->ref, s->line);
	case SECRET_COMMAND:
	case SECRET_INLINE:
		return xasprintf("%s (line %d)", s->key, s->line);
	case SECRET_NONE:
		break;
	}
	return xstrdup("the key");
}
