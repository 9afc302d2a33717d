#ifndef REFTY_LEVER_CONFIG_H
#define REFTY_LEVER_CONFIG_H

/*
 * The configuration file, parsed and validated into plain C data. Only config.c knows
 * libconfig, and no libconfig type leaves it. It owns the file's defaults except those of
 * the clients (Lever's URLs come from lever.h) and asks the HTTP layer what counts as a
 * loopback URL. It never talks to the network and never keeps a secret's value, only where
 * it comes from (the inline value aside). Every failure is logged here. Functions use the
 * prefix conf_ because libconfig already owns config_init, config_destroy and friends.
 */

#include <stdbool.h>
#include <stddef.h>

enum secret_source {
	SECRET_NONE,
	SECRET_INLINE,  /* api_key = "..." */
	SECRET_FILE,    /* api_key_file = "path" */
	SECRET_ENV,     /* api_key_env = "NAME" */
	SECRET_COMMAND, /* api_key_command = "shell command" */
};

/** Where a secret comes from; never the secret itself except for SECRET_INLINE. */
struct config_secret {
	enum secret_source source;
	char *ref;   /* the inline value, file path, variable name or command */
	char *key;   /* the config key that set it, e.g. "lever.api_key_file" */
	int line;    /* its line in the config file */
	char *file;  /* that file: the main one or an included one */
};

struct config_oauth {
	bool enabled;
	char *client_id;
	struct config_secret client_secret;
	char *auth_url;      /* default LEVER_DEFAULT_AUTH_URL */
	int redirect_port;   /* default 8721 */
};

struct config_stage_link {
	char *refty; /* Refty sequence stage id or name */
	char *lever; /* Lever stage id or name */
	int line;
};

struct config_rule {
	char *name;
	char **jobs; /* posting ids, exact titles, or "*" */
	size_t n_jobs;
	int jobs_line;
	char *sequence; /* Refty sequence id or name */
	int sequence_line;
	struct config_stage_link *stages;
	size_t n_stages;
	char *language;
	int language_line;
	int line;
};

/* How long a service may take and how often it is asked again: lever.timeout and friends. */
struct config_http {
	long connect_timeout_ms;
	long timeout_ms;
	int max_attempts;
	long max_retry_time_ms;
};

/* serve: where it listens for Lever's webhooks, what it verifies them with, the poll under them. */
struct config_webhooks {
	bool present;                 /* a webhooks group was given */
	char *listen;                 /* "ADDR:PORT" */
	char *path;                   /* the deliveries' path, starting with '/' */
	struct config_secret tokens;  /* signature_tokens_file/_env/_command; SECRET_NONE: the
	                                 file 'webhooks register' writes beside the state */
	long max_age_ms;              /* older deliveries, and tokens seen within it, are refused */
	long poll_interval_ms;        /* the safety-net poll */
};

struct config {
	char *path; /* the file it was read from */
	struct {
		char *url;
		struct config_secret key;
		struct config_oauth oauth;
		bool confidential;
		double requests_per_second;
		int burst;
		int max_in_flight;
		int max_pages; /* a chain of pages longer than this is a broken listing */
		struct config_http http;
	} lever;
	struct {
		char *url;
		struct config_secret key;
		int max_in_flight;
		struct config_http http;
	} refty;
	struct config_webhooks webhooks;
	char *state;     /* database path, defaults applied */
	long overlap;    /* seconds */
	long max_actions;
	struct config_rule *rules;
	size_t n_rules;
};

/* The largest max_actions, in the file and on the command line. */
#define CONF_MAX_ACTIONS_LIMIT 100000000L

/**
 * Finds the configuration file: explicit (from -c) if not NULL, else
 * $REFTY_LEVER_CONFIG, $XDG_CONFIG_HOME/refty-lever/config,
 * ~/.config/refty-lever/config, /etc/refty-lever.conf. Returns a new string,
 * or NULL (logged) when none exists.
 */
char *conf_find(const char *explicit_path);

/**
 * Reads and validates path. Every problem is logged as "file:line: key:
 * message"; all of them are reported before it returns NULL. Secrets are
 * checked for availability (file readable, variable set, command succeeds)
 * but not kept.
 */
/** libconfig's version ("1.5.0"), as built against: for --version. */
const char *conf_library_version(void);

struct config *conf_load(const char *path);

/* For the commands that help write a configuration: only one service's group is needed, and
 * no rules (an empty list is fine too). What is there is still checked. */
enum {
	CONF_ONLY_LEVER = 1 << 0,
	CONF_ONLY_REFTY = 1 << 1,
	CONF_ONLY = CONF_ONLY_LEVER | CONF_ONLY_REFTY,
};
/** conf_load with flags. */
struct config *conf_load_with(const char *path, unsigned flags);
void conf_destroy(struct config *cfg);

/* A problem in a configuration, as it is reported: "file:line: key: message". */
struct conf_problem {
	char *file;
	int line;
	char *key;
	char *message;
};

struct conf_problems {
	struct conf_problem *items;
	size_t n;
	size_t cap;
};

/**
 * While into is not NULL, every problem reported with a file and line (by conf_load, the
 * secret checks, and conf_problem_add) is appended to it as well as logged: for 'check
 * --json'. NULL stops collecting. One collector for the process: loading is single-threaded.
 */
void conf_collect_problems(struct conf_problems *into);
/** Appends a problem found elsewhere (a rule that does not resolve) to the collector, if any;
 * it is not logged here. */
void conf_problem_add(const char *file, int line, const char *key, const char *message);
void conf_problems_finish(struct conf_problems *p);

/**
 * Reads every secret the configuration uses (the Lever API key or OAuth client
 * secret, and the Refty API key), logging each one that is unavailable with
 * its file:line. Returns true when all are readable. Used by 'check'.
 */
bool conf_check_secrets(const struct config *cfg);

/**
 * Fetches a secret's value. Returns a new string, or NULL after logging an
 * error that names the source (never the value). Trailing newlines are
 * stripped.
 */
char *conf_secret_read(const struct config *cfg, const struct config_secret *secret);

/**
 * Where a secret comes from, for a message that sends the operator to it, e.g.
 * "refty.api_key_file '/etc/refty-lever/refty.key' (line 7)"; never the secret. Caller frees.
 */
char *conf_secret_describe(const struct config_secret *secret);

#endif
