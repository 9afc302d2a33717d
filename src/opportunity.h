#ifndef REFTY_LEVER_OPPORTUNITY_H
#define REFTY_LEVER_OPPORTUNITY_H

/*
 * Plain data shared by the Lever client (which fills it), the snapshot (which stores a digest
 * of it) and the pure diff, plan and rules logic, with the rules every one of them must judge
 * alike (what the first email is, when two contact values are the same). No library types;
 * it never does I/O and never logs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Times are milliseconds since the Unix epoch; OPP_TIME_NONE stands for null. */
#define OPP_TIME_NONE INT64_MIN

/** One entry of an opportunity into a stage: Lever's stageChanges element. */
struct stage_entry {
	char *stage_id;
	int64_t at_ms;
};

/** An opportunity as Lever returned it, validated. */
struct opportunity {
	char *id;
	char *name;            /* may be "" */
	char **emails;         /* n_emails strings */
	size_t n_emails;
	char **phones;         /* phone values, n_phones strings */
	size_t n_phones;
	char *stage_id;        /* current stage, never NULL */
	struct stage_entry *changes; /* stageChanges in Lever's order */
	size_t n_changes;
	bool has_changes;      /* false when Lever sent no stageChanges field */
	char *posting_id;      /* NULL: no application, so no job */
	int64_t applied_at;    /* the application's createdAt: on this job since; OPP_TIME_NONE */
	bool archived;
	bool confidential;
	bool anonymized;
	int64_t created_at;
	int64_t updated_at;       /* OPP_TIME_NONE when null */
	int64_t last_advanced_at; /* OPP_TIME_NONE when null */
	char *profile_url;     /* urls.show, may be NULL */
};

/** Frees what o holds (not o itself) and zeroes it. Accepts a zeroed struct. */
void opportunity_finish(struct opportunity *o);

/** An element of /opportunities/deleted. */
struct deleted_opportunity {
	char *id;
	int64_t deleted_at;
};

/**
 * How a candidate is reached: what the snapshot keeps of Lever's contact details and what
 * Refty is given. Strings may be NULL where there is none.
 */
struct contact {
	char *name;
	char *email; /* the first email */
	char *phone; /* the first phone */
};

/** Fills out with copies of o's name, first email and first phone. */
void contact_of(const struct opportunity *o, struct contact *out);
void contact_copy(struct contact *dst, const struct contact *src);
void contact_finish(struct contact *c);

/**
 * What the snapshot remembers of one opportunity: the state the last poll saw.
 * Strings may be NULL where Lever had none.
 */
struct opportunity_state {
	char *id;
	char *posting_id;
	char *stage_id;
	int64_t seen_until_ms; /* newest stage-entry time already handled */
	bool archived;
	bool confidential;
	bool anonymized;
	struct contact contact;
	int64_t updated_at;
};

void opportunity_state_copy(struct opportunity_state *dst, const struct opportunity_state *src);
void opportunity_state_finish(struct opportunity_state *s);
/** Whether a and b hold the same values, field by field (NULL and "" differ, as stored). */
bool opportunity_state_equal(const struct opportunity_state *a, const struct opportunity_state *b);

/**
 * A candidate refty-lever enrolled (or is enrolling) in a Refty sequence, with the contact
 * details it gave (or is giving) Refty: later diffs compare with them, and an update sends them.
 */
struct enrolment {
	char *opportunity_id;
	char *sequence_id;
	char *refty_id; /* NULL until Refty answered */
	struct contact contact;
};

void enrolment_finish(struct enrolment *e);

/**
 * Whether a step parked for want of an email may still be sent: the opportunity is still in
 * stage_id, and neither archived nor anonymized since. The one statement of "still in the stage".
 */
bool opportunity_state_waits_in(const struct opportunity_state *s, const char *stage_id);

/** The first email/phone of o, or NULL. Borrowed from o. */
const char *opportunity_email(const struct opportunity *o);
const char *opportunity_phone(const struct opportunity *o);

/* Which contact details differ, as bits. */
enum {
	CONTACT_NAME = 1,
	CONTACT_EMAIL = 2,
	CONTACT_PHONE = 4,
};

/**
 * Which of had's details differ from o's now (0: none). NULL and "" are the same: Lever sends ""
 * where the snapshot or Refty may hold nothing. The one rule for "did the contact change", for
 * the diff and the plan alike.
 */
unsigned contact_changes(const struct contact *had, const struct opportunity *o);

#endif
