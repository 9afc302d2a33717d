#include "opportunity.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i]);
	}
	free(v);
}

void opportunity_finish(struct opportunity *o)
{
	free(o->id);
	free(o->name);
	free_strv(o->emails, o->n_emails);
	free_strv(o->phones, o->n_phones);
	free(o->stage_id);
	for (size_t i = 0; i < o->n_changes; i++) {
		free(o->changes[i].stage_id);
	}
	free(o->changes);
	free(o->posting_id);
	free(o->profile_url);
	memset(o, 0, sizeof(*o));
}

void contact_of(const struct opportunity *o, struct contact *out)
{
	out->name = xstrdup(o->name);
	out->email = xstrdup(opportunity_email(o));
	out->phone = xstrdup(opportunity_phone(o));
}

void contact_copy(struct contact *dst, const struct contact *src)
{
	dst->name = xstrdup(src->name);
	dst->email = xstrdup(src->email);
	dst->phone = xstrdup(src->phone);
}

void contact_finish(struct contact *c)
{
	free(c->name);
	free(c->email);
	free(c->phone);
	memset(c, 0, sizeof(*c));
}

void opportunity_state_copy(struct opportunity_state *dst, const struct opportunity_state *src)
{
	*dst = *src;
	dst->id = xstrdup(src->id);
	dst->posting_id = xstrdup(src->posting_id);
	dst->stage_id = xstrdup(src->stage_id);
	contact_copy(&dst->contact, &src->contact);
}

static bool same_text(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool opportunity_state_equal(const struct opportunity_state *a, const struct opportunity_state *b)
{
	return same_text(a->id, b->id) && same_text(a->posting_id, b->posting_id) &&
	       same_text(a->stage_id, b->stage_id) && a->seen_until_ms == b->seen_until_ms &&
	       a->archived == b->archived && a->confidential == b->confidential &&
	       a->anonymized == b->anonymized && same_text(a->contact.name, b->contact.name) &&
	       same_text(a->contact.email, b->contact.email) &&
	       same_text(a->contact.phone, b->contact.phone) && a->updated_at == b->updated_at;
}

void opportunity_state_finish(struct opportunity_state *s)
{
	free(s->id);
	free(s->posting_id);
	free(s->stage_id);
	contact_finish(&s->contact);
	memset(s, 0, sizeof(*s));
}

void enrolment_finish(struct enrolment *e)
{
	free(e->opportunity_id);
	free(e->sequence_id);
	free(e->refty_id);
	contact_finish(&e->contact);
	memset(e, 0, sizeof(*e));
}

const char *opportunity_email(const struct opportunity *o)
{
	return o->n_emails ? o->emails[0] : NULL;
}

const char *opportunity_phone(const struct opportunity *o)
{
	return o->n_phones ? o->phones[0] : NULL;
}

static bool same_value(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

unsigned contact_changes(const struct contact *had, const struct opportunity *o)
{
	return (same_value(had->name, o->name) ? 0u : CONTACT_NAME) |
	       (same_value(had->email, opportunity_email(o)) ? 0u : CONTACT_EMAIL) |
	       (same_value(had->phone, opportunity_phone(o)) ? 0u : CONTACT_PHONE);
}

bool opportunity_state_waits_in(const struct opportunity_state *s, const char *stage_id)
{
	return s->stage_id && stage_id && strcmp(s->stage_id, stage_id) == 0 && !s->archived &&
	       !s->anonymized;
}
