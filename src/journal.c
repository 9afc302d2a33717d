#include "journal.h"

#include <inttypes.h>
#include <string.h>

#include "xalloc.h"

#define EXTERNAL_PREFIX "lever:"

char *journal_key_candidate(const char *opportunity_id, const char *sequence_id)
{
	return xasprintf(EXTERNAL_PREFIX "%s:%s:candidate", opportunity_id, sequence_id);
}

char *journal_key_step(const char *opportunity_id, const char *refty_stage_id, int64_t entry_ms)
{
	return xasprintf(EXTERNAL_PREFIX "%s:%s:%" PRId64, opportunity_id, refty_stage_id, entry_ms);
}

char *journal_key_contact(const char *opportunity_id, const char *sequence_id, int64_t updated_ms)
{
	return xasprintf(EXTERNAL_PREFIX "%s:%s:contact:%" PRId64, opportunity_id, sequence_id,
		updated_ms);
}

char *journal_key_contact_hash(const char *opportunity_id, const char *sequence_id,
	uint64_t hash)
{
	return xasprintf(EXTERNAL_PREFIX "%s:%s:contact:h%016" PRIx64, opportunity_id, sequence_id,
		hash);
}

char *journal_key_skip(const char *why, const char *key)
{
	return xasprintf("skip:%s:%s", why, key);
}

char *journal_key_unreadable(const char *opportunity_id)
{
	return xasprintf(EXTERNAL_PREFIX "%s:unreadable", opportunity_id);
}

char *journal_key_untrusted(const char *opportunity_id, const char *field, const char *stage_id,
	int64_t at_ms)
{
	return xasprintf(EXTERNAL_PREFIX "%s:untrusted:%s:%s:%" PRId64, opportunity_id, field,
		stage_id ? stage_id : "-", at_ms);
}

char *journal_external_id(const char *opportunity_id)
{
	return xasprintf(EXTERNAL_PREFIX "%s", opportunity_id);
}

const char *journal_external_opportunity(const char *external_id)
{
	size_t n = strlen(EXTERNAL_PREFIX);
	if (!external_id || strncmp(external_id, EXTERNAL_PREFIX, n) != 0 || !external_id[n]) {
		return NULL;
	}
	return external_id + n;
}

static const char *const kind_names[] = {
	[ACTION_CREATE_CANDIDATE] = "create_candidate",
	[ACTION_UPDATE_CONTACT] = "update_contact",
	[ACTION_SEND_STEP] = "send_step",
	[ACTION_SKIP] = "skip",
	[ACTION_UNREADABLE] = "unreadable",
	[ACTION_UNTRUSTED] = "untrusted",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == ACTION_KIND_COUNT,
	"a name for every action kind");

const char *action_kind_name(enum action_kind kind)
{
	return kind_names[kind];
}

static const char *const state_names[] = {
	[ACTION_PENDING] = "pending",
	[ACTION_WAITING_EMAIL] = "waiting_email",
	[ACTION_DONE] = "done",
	[ACTION_FAILED] = "failed",
	[ACTION_SKIPPED] = "skipped",
	[ACTION_ABANDONED] = "abandoned",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == ACTION_STATE_COUNT,
	"a name for every action state");

const char *action_state_name(enum action_state state)
{
	return state_names[state];
}

static int from_name(const char *const *names, int n, const char *name)
{
	for (int i = 0; name && i < n; i++) {
		if (strcmp(names[i], name) == 0) {
			return i;
		}
	}
	return -1;
}

int action_kind_from_name(const char *name)
{
	return from_name(kind_names, ACTION_KIND_COUNT, name);
}

int action_state_from_name(const char *name)
{
	return from_name(state_names, ACTION_STATE_COUNT, name);
}
