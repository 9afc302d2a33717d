#include "rules.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "xalloc.h"

#define LOG_MODULE "rules"
#include "log.h"

#define HINT_POSTINGS "run 'refty-lever lever postings' to list them"
#define HINT_STAGES "run 'refty-lever lever stages' to list them"
#define HINT_SEQUENCES "run 'refty-lever refty sequences' to list them"

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static bool is_wildcard(const char *job)
{
	return str_eq(job, "*");
}

/* Grows an array of elements of size elem to hold one more than *n. */
static void *grow(void *items, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap) {
		return items;
	}
	// An array filled by hand has no capacity recorded: grow past its count.
	while (*cap <= n) {
		*cap = *cap ? *cap * 2 : 8;
	}
	return xrealloc(items, *cap * elem);
}

/* ------------------------------------------------------------------------ */
/* Catalog                                                                   */

void catalog_init(struct catalog *cat)
{
	memset(cat, 0, sizeof(*cat));
}

static void item_finish(struct catalog_item *it)
{
	free(it->id);
	free(it->name);
}

static void sequence_finish(struct refty_sequence *seq)
{
	free(seq->id);
	free(seq->name);
	for (size_t i = 0; i < seq->n_stages; i++) {
		free(seq->stages[i].id);
		free(seq->stages[i].name);
		free(seq->stages[i].type);
	}
	free(seq->stages);
}

void catalog_finish(struct catalog *cat)
{
	for (size_t i = 0; i < cat->n_lever_stages; i++) {
		item_finish(&cat->lever_stages[i]);
	}
	free(cat->lever_stages);
	for (size_t i = 0; i < cat->n_postings; i++) {
		item_finish(&cat->postings[i]);
	}
	free(cat->postings);
	for (size_t i = 0; i < cat->n_sequences; i++) {
		sequence_finish(&cat->sequences[i]);
	}
	free(cat->sequences);
	memset(cat, 0, sizeof(*cat));
}

static void add_item(struct catalog_item **items, size_t *n, size_t *cap, const char *id,
	const char *name)
{
	*items = grow(*items, *n, cap, sizeof(**items));
	(*items)[*n].id = xstrdup(or_empty(id));
	(*items)[*n].name = xstrdup(or_empty(name));
	(*n)++;
}

void catalog_add_lever_stage(struct catalog *cat, const char *id, const char *text)
{
	add_item(&cat->lever_stages, &cat->n_lever_stages, &cat->cap_lever_stages, id, text);
}

void catalog_add_posting(struct catalog *cat, const char *id, const char *title)
{
	add_item(&cat->postings, &cat->n_postings, &cat->cap_postings, id, title);
}

struct refty_sequence *catalog_add_sequence(struct catalog *cat, const char *id, const char *name)
{
	cat->sequences =
		grow(cat->sequences, cat->n_sequences, &cat->cap_sequences, sizeof(*cat->sequences));
	struct refty_sequence *seq = &cat->sequences[cat->n_sequences++];
	memset(seq, 0, sizeof(*seq));
	seq->id = xstrdup(or_empty(id));
	seq->name = xstrdup(or_empty(name));
	return seq;
}

void refty_sequence_add_stage(struct refty_sequence *seq, const char *id, const char *name,
	const char *type, int position)
{
	seq->stages = grow(seq->stages, seq->n_stages, &seq->cap_stages, sizeof(*seq->stages));
	struct refty_stage *st = &seq->stages[seq->n_stages++];
	st->id = xstrdup(or_empty(id));
	st->name = xstrdup(or_empty(name));
	st->type = xstrdup(or_empty(type));
	st->position = position;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

void rules_errors_init(struct rules_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
}

void rules_errors_finish(struct rules_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		free(errs->items[i].key);
		free(errs->items[i].message);
	}
	free(errs->items);
	memset(errs, 0, sizeof(*errs));
}

void rules_errors_add(struct rules_errors *errs, int line, const char *key, const char *fmt, ...)
{
	errs->items = grow(errs->items, errs->n, &errs->cap, sizeof(*errs->items));
	struct rules_error *e = &errs->items[errs->n++];
	e->line = line;
	e->key = xstrdup(or_empty(key));
	va_list ap;
	va_start(ap, fmt);
	va_list ap2;
	va_copy(ap2, ap);
	int len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	e->message = xmalloc(len > 0 ? (size_t)len + 1 : 1);
	vsnprintf(e->message, len > 0 ? (size_t)len + 1 : 1, fmt, ap2);
	va_end(ap2);
}

void rules_errors_format(const struct rules_errors *errs, const char *path, struct strbuf *out)
{
	// A stable insertion sort by line: the lists are short, and errors on one
	// line keep the order in which they were found.
	size_t *order = xcalloc(errs->n ? errs->n : 1, sizeof(*order));
	for (size_t i = 0; i < errs->n; i++) {
		size_t j = i;
		while (j > 0 && errs->items[order[j - 1]].line > errs->items[i].line) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	for (size_t i = 0; i < errs->n; i++) {
		const struct rules_error *e = &errs->items[order[i]];
		strbuf_printf(out, "%s:%d: %s: %s\n", or_empty(path), e->line, e->key, e->message);
	}
	free(order);
}

/* ------------------------------------------------------------------------ */
/* Offline checks                                                            */

static char *rule_key(size_t i, const char *member)
{
	return xasprintf("rules[%zu].%s", i, member);
}

static char *link_key(size_t i, size_t j)
{
	return xasprintf("rules[%zu].stages[%zu]", i, j);
}

static int jobs_line(const struct config_rule *r)
{
	return r->jobs_line ? r->jobs_line : r->line;
}

static int sequence_line(const struct config_rule *r)
{
	return r->sequence_line ? r->sequence_line : r->line;
}

static bool rule_lists_job(const struct config_rule *r, const char *job)
{
	for (size_t k = 0; k < r->n_jobs; k++) {
		if (str_eq(r->jobs[k], job)) {
			return true;
		}
	}
	return false;
}

bool rules_config_cover_all(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		if (rule_lists_job(&cfg->rules[i], "*")) {
			return true;
		}
	}
	return false;
}

static void check_names(const struct config *cfg, struct rules_errors *errs)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		for (size_t j = 0; j < i; j++) {
			if (str_eq(r->name, cfg->rules[j].name)) {
				char *key = rule_key(i, "name");
				rules_errors_add(errs, r->line, key,
					"rule name '%s' is already used by the rule at line %d", r->name,
					cfg->rules[j].line);
				free(key);
				break;
			}
		}
	}
}

static void describe_job(char *buf, size_t size, const char *job)
{
	if (is_wildcard(job)) {
		snprintf(buf, size, "every job ('*')");
	} else {
		snprintf(buf, size, "job '%s'", job);
	}
}

static void report_job_conflict(struct rules_errors *errs, size_t i, const struct config_rule *r,
	const struct config_rule *other, const char *job)
{
	char what[512];
	describe_job(what, sizeof(what), job);
	char *key = rule_key(i, "jobs");
	if (!str_eq(r->sequence, other->sequence)) {
		rules_errors_add(errs, jobs_line(r), key,
			"%s is linked to sequence '%s' here and to sequence '%s' by rule '%s' (line %d)",
			what, or_empty(r->sequence), or_empty(other->sequence), or_empty(other->name),
			other->line);
	} else {
		rules_errors_add(errs, jobs_line(r), key,
			"%s is already covered by rule '%s' (line %d): only one rule can apply to a "
			"job, so merge the two rules",
			what, or_empty(other->name), other->line);
	}
	free(key);
}

static void check_jobs(const struct config *cfg, struct rules_errors *errs)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		for (size_t k = 0; k < r->n_jobs; k++) {
			const char *job = r->jobs[k];
			bool repeated = false;
			for (size_t m = 0; m < k && !repeated; m++) {
				repeated = str_eq(r->jobs[m], job);
			}
			if (repeated) {
				continue;
			}
			for (size_t j = 0; j < i; j++) {
				if (rule_lists_job(&cfg->rules[j], job)) {
					report_job_conflict(errs, i, r, &cfg->rules[j], job);
					break;
				}
			}
		}
	}
}

static void check_links(const struct config *cfg, struct rules_errors *errs)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		for (size_t b = 0; b < r->n_stages; b++) {
			const struct config_stage_link *lb = &r->stages[b];
			for (size_t a = 0; a < b; a++) {
				const struct config_stage_link *la = &r->stages[a];
				char *key = NULL;
				if (str_eq(la->refty, lb->refty)) {
					key = link_key(i, b);
					rules_errors_add(errs, lb->line, key,
						"Refty stage '%s' is linked twice (also at line %d): a "
						"stage can be sent by one Lever stage only",
						lb->refty, la->line);
				} else if (str_eq(la->lever, lb->lever)) {
					key = link_key(i, b);
					rules_errors_add(errs, lb->line, key,
						"Lever stage '%s' sends Refty stage '%s' here and '%s' at "
						"line %d: link it to one Refty stage",
						lb->lever, lb->refty, or_empty(la->refty), la->line);
				}
				if (key) {
					free(key);
					break;
				}
			}
		}
	}
}

bool rules_check_offline(const struct config *cfg, struct rules_errors *errs)
{
	size_t before = errs->n;
	check_names(cfg, errs);
	check_jobs(cfg, errs);
	check_links(cfg, errs);
	return errs->n == before;
}

/* ------------------------------------------------------------------------ */
/* Resolution                                                                */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_item(const void *a, const void *b)
{
	return strcmp(((const struct catalog_item *)a)->id, ((const struct catalog_item *)b)->id);
}

/* bsearch: a plain id against a catalog item. */
static int cmp_id_item(const void *key, const void *elem)
{
	return strcmp(key, ((const struct catalog_item *)elem)->id);
}

static void link_finish(struct resolved_link *l)
{
	free(l->lever_stage_id);
	free(l->lever_stage_name);
	free(l->refty_stage_id);
	free(l->refty_stage_name);
	free(l->type);
}

static void resolved_rule_finish(struct resolved_rule *rr)
{
	free(rr->name);
	free(rr->sequence_id);
	free(rr->sequence_name);
	free(rr->language);
	for (size_t i = 0; i < rr->n_postings; i++) {
		free(rr->posting_ids[i]);
	}
	free(rr->posting_ids);
	for (size_t i = 0; i < rr->n_links; i++) {
		link_finish(&rr->links[i]);
	}
	free(rr->links);
}

void rule_set_destroy(struct rule_set *set)
{
	if (!set) {
		return;
	}
	for (size_t i = 0; i < set->n_rules; i++) {
		resolved_rule_finish(&set->rules[i]);
	}
	free(set->rules);
	for (size_t i = 0; i < set->n_postings; i++) {
		item_finish(&set->postings[i]);
	}
	free(set->postings);
	free(set);
}

/* How a name resolved: the item found by id, else the only item by name. */
struct lookup {
	size_t index;
	size_t matches; /* 0: none; 1: found; more: ambiguous name */
	size_t second;  /* another match, for the message */
	const char *near; /* none found: a name that differs only in case or spacing, or NULL */
};

/* name in lower case, its white space trimmed and each run of it made one space. Caller frees. */
static char *loose_form(const char *name)
{
	char *out = xmalloc(strlen(name) + 1), *o = out;
	bool space = false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isspace(*p)) {
			space = o > out;
			continue;
		}
		if (space) {
			*o++ = ' ';
			space = false;
		}
		*o++ = (char)tolower(*p);
	}
	*o = '\0';
	return out;
}

/* Whether a and b are the same name but for letter case and white space. */
static bool loose_eq(const char *a, const char *b)
{
	if (!a || !b) {
		return false;
	}
	char *la = loose_form(a), *lb = loose_form(b);
	bool same = la[0] && strcmp(la, lb) == 0;
	free(la);
	free(lb);
	return same;
}

/* "; did you mean 'x'?" for a lookup that found a near name, else "". Caller frees. */
static char *did_you_mean(const struct lookup *lk)
{
	return lk->near ? xasprintf(": did you mean '%s'?", lk->near) : xstrdup("");
}

/*
 * Finds want among n elements of an array (stride bytes apart) whose id and name are the char *
 * members at id_off and name_off: by id first, else by name. One routine serves Lever stages,
 * postings, Refty sequences and their stages alike.
 */
static struct lookup find_by(const void *base, size_t n, size_t stride, size_t id_off,
	size_t name_off, const char *want)
{
	struct lookup lk = {0};
	const char *p = base;
	for (size_t i = 0; i < n; i++) {
		if (str_eq(*(char *const *)(p + i * stride + id_off), want)) {
			lk.index = i;
			lk.matches = 1;
			return lk;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (str_eq(*(char *const *)(p + i * stride + name_off), want)) {
			if (lk.matches == 0) {
				lk.index = i;
			} else if (lk.matches == 1) {
				lk.second = i;
			}
			lk.matches++;
		}
	}
	for (size_t i = 0; lk.matches == 0 && !lk.near && i < n; i++) {
		const char *name = *(char *const *)(p + i * stride + name_off);
		if (loose_eq(name, want)) {
			lk.near = name;
		}
	}
	return lk;
}

static struct lookup find_item(const struct catalog_item *items, size_t n, const char *want)
{
	return find_by(items, n, sizeof(*items), offsetof(struct catalog_item, id),
		offsetof(struct catalog_item, name), want);
}

static struct lookup find_sequence(const struct catalog *cat, const char *want)
{
	return find_by(cat->sequences, cat->n_sequences, sizeof(*cat->sequences),
		offsetof(struct refty_sequence, id), offsetof(struct refty_sequence, name), want);
}

static struct lookup find_refty_stage(const struct refty_sequence *seq, const char *want)
{
	return find_by(seq->stages, seq->n_stages, sizeof(*seq->stages),
		offsetof(struct refty_stage, id), offsetof(struct refty_stage, name), want);
}

static bool rule_has_posting(const struct resolved_rule *rr, const char *id)
{
	return rr->n_postings &&
	       bsearch(&id, rr->posting_ids, rr->n_postings, sizeof(*rr->posting_ids), cmp_str);
}

/* Before the rule's posting list is sorted: a linear look. */
static bool rule_has_posting_unsorted(const struct resolved_rule *rr, const char *id)
{
	for (size_t i = 0; i < rr->n_postings; i++) {
		if (str_eq(rr->posting_ids[i], id)) {
			return true;
		}
	}
	return false;
}

/* A posting that an earlier rule also covers, named there by a different
 * string (the same string was reported by the offline checks). */
static void check_posting_conflict(const struct config *cfg, const struct rule_set *set, size_t i,
	const char *job, const char *posting_id, const char *title, struct rules_errors *errs)
{
	const struct config_rule *r = &cfg->rules[i];
	for (size_t j = 0; j < i; j++) {
		const struct resolved_rule *other = &set->rules[j];
		if (!rule_has_posting(other, posting_id) || rule_lists_job(&cfg->rules[j], job)) {
			continue;
		}
		char *key = rule_key(i, "jobs");
		if (!str_eq(other->sequence_id, set->rules[i].sequence_id)) {
			rules_errors_add(errs, jobs_line(r), key,
				"job '%s' is posting '%s' (%s), which rule '%s' (line %d) links to "
				"sequence '%s': a posting can be linked to one sequence only",
				job, title, posting_id, or_empty(other->name), other->line,
				or_empty(other->sequence_name));
		} else {
			rules_errors_add(errs, jobs_line(r), key,
				"job '%s' is posting '%s' (%s), which rule '%s' (line %d) already "
				"covers: only one rule can apply to a job, so merge the two rules",
				job, title, posting_id, or_empty(other->name), other->line);
		}
		free(key);
		return;
	}
}

static void resolve_jobs(const struct config *cfg, const struct catalog *cat, struct rule_set *set,
	size_t i, struct rules_errors *errs)
{
	const struct config_rule *r = &cfg->rules[i];
	struct resolved_rule *rr = &set->rules[i];
	size_t cap = 0;
	for (size_t k = 0; k < r->n_jobs; k++) {
		const char *job = r->jobs[k];
		if (is_wildcard(job)) {
			rr->wildcard = true;
			continue;
		}
		struct lookup lk = find_item(cat->postings, cat->n_postings, job);
		if (lk.matches != 1) {
			char *key = rule_key(i, "jobs");
			if (lk.matches == 0) {
				char *hint = did_you_mean(&lk);
				// Lever lists confidential postings only to a key allowed to see them.
				rules_errors_add(errs, jobs_line(r), key,
					"no posting has the id or title '%s'%s (" HINT_POSTINGS "%s)", job, hint,
					cfg->lever.confidential ? ""
								: "; a confidential posting is listed only "
								  "with lever.confidential = true");
				free(hint);
			} else {
				rules_errors_add(errs, jobs_line(r), key,
					"title '%s' matches %zu postings ('%s', '%s'%s): name the job "
					"by its posting id",
					job, lk.matches, cat->postings[lk.index].id,
					cat->postings[lk.second].id, lk.matches > 2 ? ", ..." : "");
			}
			free(key);
			continue;
		}
		const struct catalog_item *p = &cat->postings[lk.index];
		if (rule_has_posting_unsorted(rr, p->id)) {
			continue; // the same posting by title and by id within one rule is harmless
		}
		check_posting_conflict(cfg, set, i, job, p->id, p->name, errs);
		rr->posting_ids = grow(rr->posting_ids, rr->n_postings, &cap, sizeof(*rr->posting_ids));
		rr->posting_ids[rr->n_postings++] = xstrdup(p->id);
	}
	if (rr->n_postings) {
		qsort(rr->posting_ids, rr->n_postings, sizeof(*rr->posting_ids), cmp_str);
	}
}

static const struct refty_sequence *resolve_sequence(const struct config *cfg,
	const struct catalog *cat, struct resolved_rule *rr, size_t i, struct rules_errors *errs)
{
	const struct config_rule *r = &cfg->rules[i];
	if (!r->sequence) {
		return NULL; // config.c reported it missing
	}
	struct lookup lk = find_sequence(cat, r->sequence);
	if (lk.matches == 1) {
		const struct refty_sequence *seq = &cat->sequences[lk.index];
		rr->sequence_id = xstrdup(seq->id);
		rr->sequence_name = xstrdup(seq->name);
		return seq;
	}
	char *key = rule_key(i, "sequence");
	if (lk.matches == 0) {
		char *hint = did_you_mean(&lk);
		rules_errors_add(errs, sequence_line(r), key,
			"no Refty sequence has the id or name '%s'%s (" HINT_SEQUENCES ")", r->sequence,
			hint);
		free(hint);
	} else {
		rules_errors_add(errs, sequence_line(r), key,
			"name '%s' matches %zu Refty sequences ('%s', '%s'%s): name the sequence by "
			"its id",
			r->sequence, lk.matches, cat->sequences[lk.index].id,
			cat->sequences[lk.second].id, lk.matches > 2 ? ", ..." : "");
	}
	free(key);
	return NULL;
}

/* Two links of one rule that name the same stage by different strings; src[a]
 * is the config link that resolved link a came from. */
static bool link_conflicts(const struct config_rule *r, const struct resolved_rule *rr,
	const size_t *src, const struct resolved_link *l, size_t i, size_t b,
	struct rules_errors *errs)
{
	const struct config_stage_link *lb = &r->stages[b];
	for (size_t a = 0; a < rr->n_links; a++) {
		const struct resolved_link *la = &rr->links[a];
		const struct config_stage_link *ca = &r->stages[src[a]];
		bool same_refty = str_eq(la->refty_stage_id, l->refty_stage_id);
		bool same_lever = str_eq(la->lever_stage_id, l->lever_stage_id);
		// Equal strings were reported by the offline checks.
		bool written_same = str_eq(ca->refty, lb->refty) || str_eq(ca->lever, lb->lever);
		if (written_same || (!same_refty && !same_lever)) {
			continue;
		}
		char *key = link_key(i, b);
		if (same_refty) {
			rules_errors_add(errs, lb->line, key,
				"'%s' is Refty stage '%s' (%s), already linked at line %d: a stage can "
				"be sent by one Lever stage only",
				lb->refty, l->refty_stage_name, l->refty_stage_id, la->line);
		} else {
			rules_errors_add(errs, lb->line, key,
				"'%s' is Lever stage '%s' (%s), which already sends '%s' at line %d: "
				"link it to one Refty stage",
				lb->lever, l->lever_stage_name, l->lever_stage_id, la->refty_stage_name,
				la->line);
		}
		free(key);
		return true;
	}
	return false;
}

static void resolve_links(const struct config *cfg, const struct catalog *cat,
	const struct refty_sequence *seq, struct resolved_rule *rr, size_t i,
	struct rules_errors *errs)
{
	const struct config_rule *r = &cfg->rules[i];
	rr->links = xcalloc(r->n_stages ? r->n_stages : 1, sizeof(*rr->links));
	size_t *src = xcalloc(r->n_stages ? r->n_stages : 1, sizeof(*src));
	for (size_t b = 0; b < r->n_stages; b++) {
		const struct config_stage_link *cl = &r->stages[b];
		const struct refty_stage *rs = NULL;
		const struct catalog_item *ls = NULL;
		char *key = link_key(i, b);
		if (seq) {
			struct lookup lk = find_refty_stage(seq, cl->refty);
			if (lk.matches == 1) {
				rs = &seq->stages[lk.index];
			} else if (lk.matches == 0) {
				char *hint = did_you_mean(&lk);
				rules_errors_add(errs, cl->line, key,
					"sequence '%s' has no stage with the id or name '%s'%s ("
					HINT_SEQUENCES ")",
					seq->name, or_empty(cl->refty), hint);
				free(hint);
			} else {
				rules_errors_add(errs, cl->line, key,
					"name '%s' matches %zu stages of sequence '%s' ('%s', '%s'%s): "
					"name the stage by its id",
					cl->refty, lk.matches, seq->name, seq->stages[lk.index].id,
					seq->stages[lk.second].id, lk.matches > 2 ? ", ..." : "");
			}
		}
		struct lookup lk = find_item(cat->lever_stages, cat->n_lever_stages, cl->lever);
		if (lk.matches == 1) {
			ls = &cat->lever_stages[lk.index];
		} else if (lk.matches == 0) {
			char *hint = did_you_mean(&lk);
			rules_errors_add(errs, cl->line, key,
				"no Lever stage has the id or name '%s'%s (" HINT_STAGES ")",
				or_empty(cl->lever), hint);
			free(hint);
		} else {
			rules_errors_add(errs, cl->line, key,
				"name '%s' matches %zu Lever stages ('%s', '%s'%s): name the stage by "
				"its id",
				cl->lever, lk.matches, cat->lever_stages[lk.index].id,
				cat->lever_stages[lk.second].id, lk.matches > 2 ? ", ..." : "");
		}
		free(key);
		if (!rs || !ls) {
			continue;
		}
		struct resolved_link l = {
			.lever_stage_id = ls->id,
			.lever_stage_name = ls->name,
			.refty_stage_id = rs->id,
			.refty_stage_name = rs->name,
			.type = rs->type,
			.line = cl->line,
		};
		if (link_conflicts(r, rr, src, &l, i, b, errs)) {
			continue;
		}
		src[rr->n_links] = b;
		struct resolved_link *dst = &rr->links[rr->n_links++];
		dst->lever_stage_id = xstrdup(ls->id);
		dst->lever_stage_name = xstrdup(ls->name);
		dst->refty_stage_id = xstrdup(rs->id);
		dst->refty_stage_name = xstrdup(rs->name);
		dst->type = xstrdup(rs->type);
		dst->line = cl->line;
	}
	free(src);
}

struct rule_set *rules_resolve(const struct config *cfg, const struct catalog *cat,
	struct rules_errors *errs)
{
	size_t before = errs->n;
	rules_check_offline(cfg, errs);

	struct rule_set *set = xcalloc(1, sizeof(*set));
	set->rules = xcalloc(cfg->n_rules ? cfg->n_rules : 1, sizeof(*set->rules));
	set->n_rules = cfg->n_rules;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		struct resolved_rule *rr = &set->rules[i];
		rr->name = xstrdup(or_empty(r->name));
		rr->language = xstrdup(r->language);
		rr->language_line = r->language_line ? r->language_line : r->line;
		rr->line = r->line;
		rr->index = i;
		// The sequence first: posting conflicts compare sequence ids.
		const struct refty_sequence *seq = resolve_sequence(cfg, cat, rr, i, errs);
		resolve_jobs(cfg, cat, set, i, errs);
		resolve_links(cfg, cat, seq, rr, i, errs);
	}

	set->postings = xcalloc(cat->n_postings ? cat->n_postings : 1, sizeof(*set->postings));
	for (size_t i = 0; i < cat->n_postings; i++) {
		set->postings[i].id = xstrdup(cat->postings[i].id);
		set->postings[i].name = xstrdup(cat->postings[i].name);
	}
	set->n_postings = cat->n_postings;
	if (set->n_postings) {
		qsort(set->postings, set->n_postings, sizeof(*set->postings), cmp_item);
	}

	if (errs->n != before) {
		rule_set_destroy(set);
		return NULL;
	}
	return set;
}

bool rules_check_languages(const struct config *cfg, const char *const *langs, size_t n_langs,
	struct rules_errors *errs)
{
	size_t before = errs->n;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		char *key = rule_key(i, "language");
		bool found = false;
		for (size_t k = 0; k < n_langs && r->language && !found; k++) {
			found = str_eq(langs[k], r->language);
		}
		if (!r->language) {
			rules_errors_add(errs, r->line, key, "missing 'language'");
		} else if (!found) {
			struct strbuf list;
			strbuf_init(&list);
			for (size_t k = 0; k < n_langs; k++) {
				strbuf_printf(&list, "%s%s", k ? ", " : "", langs[k]);
			}
			rules_errors_add(errs, r->language_line, key,
				"Refty does not support language '%s' (supported: %s)", r->language,
				n_langs ? list.data : "none");
			strbuf_finish(&list);
		}
		free(key);
	}
	return errs->n == before;
}

/* ------------------------------------------------------------------------ */
/* Matching                                                                  */

const struct resolved_rule *rules_match(const struct rule_set *set, const char *posting_id)
{
	if (!set || !posting_id) {
		return NULL;
	}
	const struct resolved_rule *wildcard = NULL;
	for (size_t i = 0; i < set->n_rules; i++) {
		const struct resolved_rule *rr = &set->rules[i];
		if (rule_has_posting(rr, posting_id)) {
			return rr;
		}
		if (rr->wildcard && !wildcard) {
			wildcard = rr;
		}
	}
	return wildcard;
}

static int cmp_borrowed(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool rules_covered_postings(const struct rule_set *set, const char ***ids, size_t *n)
{
	*ids = NULL;
	*n = 0;
	size_t total = 0;
	for (size_t i = 0; set && i < set->n_rules; i++) {
		if (set->rules[i].wildcard) {
			return false;
		}
		total += set->rules[i].n_postings;
	}
	if (!set) {
		return false;
	}
	const char **out = xcalloc(total ? total : 1, sizeof(*out));
	size_t k = 0;
	for (size_t i = 0; i < set->n_rules; i++) {
		for (size_t j = 0; j < set->rules[i].n_postings; j++) {
			out[k++] = set->rules[i].posting_ids[j];
		}
	}
	qsort(out, k, sizeof(*out), cmp_borrowed);
	size_t m = 0;
	for (size_t i = 0; i < k; i++) {
		if (m == 0 || strcmp(out[m - 1], out[i]) != 0) {
			out[m++] = out[i];
		}
	}
	*ids = out;
	*n = m;
	return true;
}

const struct resolved_link *rules_link_for_stage(const struct resolved_rule *rule,
	const char *lever_stage_id)
{
	if (!rule || !lever_stage_id) {
		return NULL;
	}
	for (size_t i = 0; i < rule->n_links; i++) {
		if (str_eq(rule->links[i].lever_stage_id, lever_stage_id)) {
			return &rule->links[i];
		}
	}
	return NULL;
}

const struct resolved_rule *rules_find(const struct rule_set *set, const char *name)
{
	for (size_t i = 0; set && i < set->n_rules; i++) {
		if (str_eq(set->rules[i].name, name)) {
			return &set->rules[i];
		}
	}
	return NULL;
}

const char *rules_posting_title(const struct rule_set *set, const char *posting_id)
{
	if (!set || !posting_id || !set->n_postings) {
		return NULL;
	}
	const struct catalog_item *it =
		bsearch(posting_id, set->postings, set->n_postings, sizeof(*set->postings), cmp_id_item);
	return it ? it->name : NULL;
}

/* ------------------------------------------------------------------------ */
/* Descriptions                                                              */

static void put_quoted(struct strbuf *out, const char *s)
{
	// Names come from Lever and Refty: no control characters on a terminal.
	char *clean = log_sanitize(or_empty(s));
	strbuf_printf(out, "'%s'", clean);
	free(clean);
}

static void put_plain(struct strbuf *out, const char *s)
{
	char *clean = log_sanitize(or_empty(s));
	strbuf_puts(out, clean);
	free(clean);
}

static const char *type_words(const char *type)
{
	if (str_eq(type, "self_assessment")) {
		return "self-assessment";
	}
	if (str_eq(type, "reference_check")) {
		return "reference check";
	}
	return type;
}

static void put_language(struct strbuf *out, const char *language)
{
	if (language) {
		strbuf_puts(out, ", language ");
		put_plain(out, language);
	} else {
		strbuf_puts(out, ", no language");
	}
}

void rules_describe(const struct config *cfg, struct strbuf *out)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		strbuf_puts(out, "rule ");
		put_quoted(out, r->name);
		strbuf_printf(out, " (line %d): ", r->line);
		if (rule_lists_job(r, "*")) {
			strbuf_puts(out, "every job");
		} else {
			strbuf_puts(out, r->n_jobs == 1 ? "job " : "jobs ");
			for (size_t k = 0; k < r->n_jobs; k++) {
				strbuf_puts(out, k ? ", " : "");
				put_quoted(out, r->jobs[k]);
			}
		}
		strbuf_puts(out, " -> sequence ");
		put_quoted(out, r->sequence);
		put_language(out, r->language);
		for (size_t k = 0; k < r->n_stages; k++) {
			strbuf_puts(out, "; ");
			put_quoted(out, r->stages[k].lever);
			strbuf_puts(out, " sends ");
			put_quoted(out, r->stages[k].refty);
		}
		if (r->n_stages == 0) {
			strbuf_puts(out, "; no stage sends anything (candidates are only enrolled)");
		}
		strbuf_puts(out, "\n");
	}
}

static void put_named(struct strbuf *out, const char *name, const char *id)
{
	put_quoted(out, name);
	strbuf_puts(out, " (");
	put_plain(out, id);
	strbuf_puts(out, ")");
}

void rules_describe_resolved(const struct rule_set *set, struct strbuf *out)
{
	for (size_t i = 0; i < set->n_rules; i++) {
		const struct resolved_rule *rr = &set->rules[i];
		strbuf_puts(out, "rule ");
		put_quoted(out, rr->name);
		strbuf_printf(out, " (line %d): ", rr->line);
		if (rr->wildcard) {
			strbuf_puts(out, "every job");
		} else {
			strbuf_puts(out, rr->n_postings == 1 ? "job " : "jobs ");
			for (size_t k = 0; k < rr->n_postings; k++) {
				const char *title = rules_posting_title(set, rr->posting_ids[k]);
				strbuf_puts(out, k ? ", " : "");
				if (title) {
					put_named(out, title, rr->posting_ids[k]);
				} else {
					put_quoted(out, rr->posting_ids[k]);
				}
			}
		}
		strbuf_puts(out, " -> sequence ");
		put_named(out, rr->sequence_name, rr->sequence_id);
		put_language(out, rr->language);
		for (size_t k = 0; k < rr->n_links; k++) {
			const struct resolved_link *l = &rr->links[k];
			strbuf_puts(out, "; ");
			put_named(out, l->lever_stage_name, l->lever_stage_id);
			strbuf_puts(out, " sends ");
			put_plain(out, type_words(l->type));
			strbuf_puts(out, " ");
			put_named(out, l->refty_stage_name, l->refty_stage_id);
		}
		if (rr->n_links == 0) {
			strbuf_puts(out, "; no stage sends anything (candidates are only enrolled)");
		}
		strbuf_puts(out, "\n");
	}
}
