#ifndef REFTY_LEVER_RULES_H
#define REFTY_LEVER_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* The rules of the configuration: checked as written, resolved from names to
 * ids against a catalog of what Lever and Refty hold, and matched against
 * opportunities. Pure logic: no I/O, no library types. */

struct config;
struct strbuf;

/* ------------------------------------------------------------------------ */
/* Catalog: the remote names, filled by the caller from its caches.          */

/** A Lever stage (id, text) or posting (id, title). */
struct catalog_item {
	char *id;
	char *name;
};

/** A stage of a Refty sequence. */
struct refty_stage {
	char *id;
	char *name;
	char *type; /* "self_assessment" or "reference_check" */
	int position;
};

struct refty_sequence {
	char *id;
	char *name;
	struct refty_stage *stages;
	size_t n_stages;
	size_t cap_stages; /* for refty_sequence_add_stage; 0 when filled by hand */
};

struct catalog {
	struct catalog_item *lever_stages;
	size_t n_lever_stages;
	struct catalog_item *postings;
	size_t n_postings;
	struct refty_sequence *sequences;
	size_t n_sequences;
	/* Capacities for the catalog_add_* helpers; 0 when filled by hand. */
	size_t cap_lever_stages;
	size_t cap_postings;
	size_t cap_sequences;
};

void catalog_init(struct catalog *cat);
/** Frees everything cat holds and leaves it empty. */
void catalog_finish(struct catalog *cat);
/** Each add copies its strings; NULL strings are stored as "". */
void catalog_add_lever_stage(struct catalog *cat, const char *id, const char *text);
void catalog_add_posting(struct catalog *cat, const char *id, const char *title);
/**
 * Adds a sequence with no stages and returns it, for refty_sequence_add_stage.
 * The pointer is valid until the next catalog_add_sequence.
 */
struct refty_sequence *catalog_add_sequence(struct catalog *cat, const char *id, const char *name);
void refty_sequence_add_stage(struct refty_sequence *seq, const char *id, const char *name,
	const char *type, int position);

/* ------------------------------------------------------------------------ */
/* Errors: every problem found, each printed as "file:line: key: message".   */

struct rules_error {
	int line;
	char *key;     /* e.g. "rules[0].jobs", as config.c names keys */
	char *message; /* no file, line or key in it */
};

struct rules_errors {
	struct rules_error *items;
	size_t n;
	size_t cap;
};

void rules_errors_init(struct rules_errors *errs);
void rules_errors_finish(struct rules_errors *errs);
void rules_errors_add(struct rules_errors *errs, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** Appends one "path:line: key: message\n" line per error, in line order. */
void rules_errors_format(const struct rules_errors *errs, const char *path, struct strbuf *out);

/* ------------------------------------------------------------------------ */
/* Resolved rules.                                                           */

/** A Lever stage that sends a Refty sequence stage. */
struct resolved_link {
	char *lever_stage_id;
	char *lever_stage_name;
	char *refty_stage_id;
	char *refty_stage_name;
	char *type; /* "self_assessment" or "reference_check" */
	int line;
};

struct resolved_rule {
	char *name;
	char *sequence_id;
	char *sequence_name;
	char *language; /* as written; NULL when the config had none */
	int language_line;
	bool wildcard;      /* "*": every job */
	char **posting_ids; /* explicit postings, sorted; may be empty with wildcard */
	size_t n_postings;
	struct resolved_link *links;
	size_t n_links;
	int line;
	size_t index; /* position in the config's rules list */
};

struct rule_set {
	struct resolved_rule *rules;
	size_t n_rules;
	/* Posting titles by id, sorted by id, for messages. */
	struct catalog_item *postings;
	size_t n_postings;
};

void rule_set_destroy(struct rule_set *set);

/**
 * Checks the rules as written, without any remote data: duplicate rule names;
 * a job string (exact, case-sensitive; "*" included) listed by two rules; a
 * Lever stage linked to two different Refty stages in one rule; a Refty stage
 * linked twice in one rule. Appends one error per problem to errs, with the
 * config line of the later occurrence. Returns true when it found none.
 *
 * A job listed by two rules is an error even with the same sequence: only one
 * rule can apply to a candidate, so the other rule's stages and language
 * would be silently ignored.
 */
bool rules_check_offline(const struct config *cfg, struct rules_errors *errs);

/**
 * Runs rules_check_offline, then resolves every rule against cat: each job
 * (posting id, else exact title; "*" is every job), the sequence (id, else
 * exact name), and each stage link (Refty stage id or name within that
 * sequence; Lever stage id, else exact text). Names that match more than one
 * item, and values that match none, are errors naming the config line and the
 * value, with a hint on how to list the valid ones. After resolution, two
 * rules covering the same posting (say one by title, one by id), or two links
 * of one rule that name the same stage differently, are errors too.
 *
 * Returns a new rule set, or NULL when errs received any error.
 */
struct rule_set *rules_resolve(const struct config *cfg, const struct catalog *cat,
	struct rules_errors *errs);

/**
 * Checks each configured rule's language against the languages Refty
 * supports (independently of whether the rest resolves). Appends an error per
 * unsupported or missing language; returns true when there is none.
 */
bool rules_check_languages(const struct config *cfg, const char *const *langs, size_t n_langs,
	struct rules_errors *errs);

/**
 * The rule covering posting_id: a rule naming the posting wins over a "*"
 * rule. NULL when none covers it, or when posting_id is NULL (no application,
 * so no job). Borrowed from set.
 */
const struct resolved_rule *rules_match(const struct rule_set *set, const char *posting_id);

/** Whether a rule of cfg names "*" (every job): a listing for the rules then needs no posting
 * id, so it can begin before any name is resolved. */
bool rules_config_cover_all(const struct config *cfg);

/**
 * The postings the rules cover, sorted and each once, for listings that ask Lever for them
 * alone. False when a "*" rule covers every job (or set is NULL): *ids is then NULL. The
 * strings are borrowed from set; the caller frees the array only.
 */
bool rules_covered_postings(const struct rule_set *set, const char ***ids, size_t *n);

/** The link that lever_stage_id triggers in rule, or NULL. Borrowed from rule. */
const struct resolved_link *rules_link_for_stage(const struct resolved_rule *rule,
	const char *lever_stage_id);

/** The rule with that name, or NULL. */
const struct resolved_rule *rules_find(const struct rule_set *set, const char *name);

/** The title of a posting the catalog knew, or NULL. Borrowed from set. */
const char *rules_posting_title(const struct rule_set *set, const char *posting_id);

/**
 * Appends a plain-English line per rule, as written in the config, e.g.
 * rule 'engineering' (line 31): jobs 'Senior Backend Engineer' -> sequence
 * 'Engineering references', language en; 'Phone screen' sends 'Self-assessment'
 */
void rules_describe(const struct config *cfg, struct strbuf *out);

/** The same for a resolved set, with names and ids. */
void rules_describe_resolved(const struct rule_set *set, struct strbuf *out);

#endif
