#include "listing.h"

#include <stdlib.h>
#include <string.h>

#include "lever.h"
#include "rules.h"
#include "xalloc.h"

void posting_filter_init(struct posting_filter *f, const struct rule_set *rules,
	const struct resolved_rule *only, bool full_listing)
{
	memset(f, 0, sizeof(*f));
	if (only && !only->wildcard) {
		f->ids = xcalloc(only->n_postings ? only->n_postings : 1, sizeof(*f->ids));
		for (size_t i = 0; i < only->n_postings; i++) {
			f->ids[i] = only->posting_ids[i];
		}
		f->n = only->n_postings;
		return;
	}
	if (only || full_listing || !rules_covered_postings(rules, &f->ids, &f->n)) {
		f->all = true;
	}
}

void posting_filter_finish(struct posting_filter *f)
{
	free(f->ids);
	memset(f, 0, sizeof(*f));
}

size_t posting_filter_batches(const struct posting_filter *f)
{
	return f->all ? 1 : (f->n + LISTING_BATCH - 1) / LISTING_BATCH;
}

void posting_filter_apply(const struct posting_filter *f, size_t i, struct lever_opportunity_query *q)
{
	if (f->all) {
		q->posting_ids = NULL;
		q->n_posting_ids = 0;
		return;
	}
	size_t start = i * LISTING_BATCH;
	size_t n = f->n - start < LISTING_BATCH ? f->n - start : LISTING_BATCH;
	q->posting_ids = f->ids + start;
	q->n_posting_ids = n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool posting_filter_has(const struct posting_filter *f, const char *posting_id)
{
	if (f->all) {
		return true;
	}
	return posting_id && f->n &&
	       bsearch(&posting_id, f->ids, f->n, sizeof(*f->ids), cmp_str) != NULL;
}

char *posting_filter_seed_text(const struct posting_filter *f, bool active_only)
{
	struct strbuf out;
	strbuf_init(&out);
	strbuf_printf(&out, "%s ", active_only ? "active" : "any");
	if (f->all) {
		strbuf_printf(&out, "*");
	}
	for (size_t i = 0; !f->all && i < f->n; i++) {
		strbuf_printf(&out, "%s%s", i ? "," : "", f->ids[i]);
	}
	char *s = xstrdup(out.data ? out.data : "");
	strbuf_finish(&out);
	return s;
}

void seed_listing_parse(const char *text, struct seed_listing *out)
{
	memset(out, 0, sizeof(*out));
	const char *sp = text ? strchr(text, ' ') : NULL;
	if (!sp || strcmp(sp + 1, "*") == 0) {
		return;
	}
	out->filtered = true;
	out->active_only = strncmp(text, "active ", 7) == 0;
	for (const char *p = sp + 1; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0) {
			out->ids = xrealloc(out->ids, (out->n + 1) * sizeof(*out->ids));
			out->ids[out->n++] = xstrndup(p, len);
		}
		p = end ? end + 1 : p + len;
	}
	if (out->n) {
		qsort(out->ids, out->n, sizeof(*out->ids), cmp_str);
	}
}

void seed_listing_finish(struct seed_listing *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->ids[i]);
	}
	free(s->ids);
	memset(s, 0, sizeof(*s));
}

bool seed_listing_has(const struct seed_listing *s, const char *posting_id)
{
	return posting_id && s->n &&
	       bsearch(&posting_id, s->ids, s->n, sizeof(*s->ids), cmp_str) != NULL;
}
