#include "opportunity.h"

#include <stdlib.h>
#include <string.h>

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

void opportunity_state_finish(struct opportunity_state *s)
{
	free(s->id);
	free(s->posting_id);
	free(s->stage_id);
	free(s->name);
	free(s->email);
	free(s->phone);
	memset(s, 0, sizeof(*s));
}

const char *opportunity_email(const struct opportunity *o)
{
	return o->n_emails ? o->emails[0] : NULL;
}

const char *opportunity_phone(const struct opportunity *o)
{
	return o->n_phones ? o->phones[0] : NULL;
}

bool opportunity_same_value(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

bool opportunity_state_waits_in(const struct opportunity_state *s, const char *stage_id)
{
	return s->stage_id && stage_id && strcmp(s->stage_id, stage_id) == 0 && !s->archived &&
	       !s->anonymized;
}
