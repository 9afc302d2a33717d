#ifndef REFTY_LEVER_JOURNAL_H
#define REFTY_LEVER_JOURNAL_H

#include <stdint.h>

/*
 * The journal's vocabulary: the kinds and states of an entry and their names, the formats of its keys
 * (which are also Refty's Idempotency-Keys, so they may never change for an intent already
 * recorded) and of the external id a Refty candidate carries. Every module that names a
 * journal entry or a candidate builds or reads the name here. Pure: no I/O, no logging, no
 * storage (snapshot.c stores entries). Every builder returns a new string (caller frees).
 */

/* What an entry records. The first four are what plan.c plans and perform.c does in Refty
 * (a skip stands for one of them, not done). */
enum action_kind {
	ACTION_CREATE_CANDIDATE,
	ACTION_UPDATE_CONTACT,
	ACTION_SEND_STEP,
	ACTION_SKIP,
	/* Quarantine, not Refty work: a record Lever sent that cannot be read (state failed
	 * until a later fetch reads it, then done), and a time that cannot be true (skipped). */
	ACTION_UNREADABLE,
	ACTION_UNTRUSTED,
};
#define ACTION_KIND_COUNT (ACTION_UNTRUSTED + 1)

/* Where an entry stands. */
enum action_state {
	ACTION_PENDING,       /* intended, not yet confirmed done */
	ACTION_WAITING_EMAIL, /* a step parked until the candidate has an email */
	ACTION_DONE,
	ACTION_FAILED,        /* permanent failure; 'retry' re-queues */
	ACTION_SKIPPED,       /* recorded but deliberately not performed */
	ACTION_ABANDONED,     /* waited for an email, candidate left the stage */
};
#define ACTION_STATE_COUNT (ACTION_ABANDONED + 1)

/** "pending", "done", ...: the name stored in the state and printed. */
const char *action_state_name(enum action_state state);
/** The state a name stands for, or -1 for none (a damaged or newer state). */
int action_state_from_name(const char *name);

/** "create_candidate", "send_step", ...: the name stored in the state and printed. */
const char *action_kind_name(enum action_kind kind);
/** The kind a name stands for, or -1 for none (a damaged or newer state). */
int action_kind_from_name(const char *name);

/** "lever:<opportunity>:<sequence>:candidate": enrolling the candidate in a sequence. */
char *journal_key_candidate(const char *opportunity_id, const char *sequence_id);
/** "lever:<opportunity>:<refty stage>:<entry ms>": the step a stage entry sends. */
char *journal_key_step(const char *opportunity_id, const char *refty_stage_id, int64_t entry_ms);
/** "lever:<opportunity>:<sequence>:contact:<updatedAt ms>": a contact update. */
char *journal_key_contact(const char *opportunity_id, const char *sequence_id, int64_t updated_ms);
/** "...:contact:h<16 hex digits>": the same, for a record without a believable updatedAt. */
char *journal_key_contact_hash(const char *opportunity_id, const char *sequence_id,
	uint64_t hash);
/** "skip:<why>:<key>": what was not done, and why, in place of the key it stands for. */
char *journal_key_skip(const char *why, const char *key);
/** "lever:<opportunity>:unreadable": the quarantine of a record that cannot be read. */
char *journal_key_unreadable(const char *opportunity_id);
/** "lever:<opportunity>:untrusted:<field>:<stage or ->:<ms>": a time not believed. */
char *journal_key_untrusted(const char *opportunity_id, const char *field, const char *stage_id,
	int64_t at_ms);

/** "lever:<opportunity>": the external id of the Refty candidate of an opportunity. */
char *journal_external_id(const char *opportunity_id);
/** The opportunity id inside an external id, borrowed from it; NULL when it is not one. */
const char *journal_external_opportunity(const char *external_id);


#endif
