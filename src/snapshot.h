#ifndef REFTY_LEVER_SNAPSHOT_H
#define REFTY_LEVER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "opportunity.h"

/* The state database: the opportunity snapshot, the action journal, the run
 * history and the name cache. The only user of sqlite. */

struct snapshot;

enum snapshot_mode {
	SNAPSHOT_READ_WRITE, /* creates the file and its directory, migrates */
	SNAPSHOT_READ_ONLY,  /* never writes; a missing database reads as empty */
};

/**
 * Opens (and in read-write mode creates and migrates) the database at path.
 * Directories are created 0700 and the file 0600. Returns NULL after logging:
 * a path that is not a regular file, a directory or file that is not writable
 * (read-write), a schema newer than this build's, a damaged file (with how to
 * restore or rebuild it) are each named as such.
 *
 * Read-only needs read access alone: SQLite's shared reading of a database in
 * WAL mode creates "-shm" and "-wal" beside it, so when the user cannot, the
 * file is read by itself (see snapshot_read_plan).
 */
/** SQLite's version ("3.40.1"): for --version. */
const char *snapshot_library_version(void);
struct snapshot *snapshot_open(const char *path, enum snapshot_mode mode);
void snapshot_close(struct snapshot *snap);

enum snapshot_presence {
	SNAPSHOT_MISSING,    /* no file at the path */
	SNAPSHOT_ZERO_BYTES, /* a file of 0 bytes (and no write-ahead log with pages) */
	SNAPSHOT_PRESENT,    /* anything else, including a path that cannot be examined */
};

/**
 * What is at the database path, without opening or creating anything: a
 * read-write open would silently turn a missing or 0-byte file (a volume
 * that failed to mount, a truncated file) into a new, empty database. An
 * error other than a missing file reads as present, for the open to report.
 */
enum snapshot_presence snapshot_presence(const char *path);

enum snapshot_read_plan {
	SNAPSHOT_READ_SHARED,    /* through SQLite's locks and log: sees a sync's commits whole */
	SNAPSHOT_READ_IMMUTABLE, /* the file alone, without locks */
	SNAPSHOT_READ_REFUSED,   /* the log holds pages that the file alone would miss */
};

/**
 * How a read-only open reads: shared unless that failed for want of creating or writing
 * the log's files (shared_failed), then the file alone unless the log has pages.
 */
enum snapshot_read_plan snapshot_read_plan(bool shared_failed, bool log_has_pages);

/** Creates the missing directories above the database path, mode 0700. */
bool snapshot_make_dirs(const char *path);

/** The schema version this build writes (PRAGMA user_version). */
int snapshot_schema_version(void);
/** The schema version found in the open database. */
int snapshot_user_version(struct snapshot *snap);
const char *snapshot_path(const struct snapshot *snap);
/** The last error logged about the database ("what in 'path': why"), or NULL. Borrowed. */
const char *snapshot_last_error(const struct snapshot *snap);
bool snapshot_is_read_only(const struct snapshot *snap);

/* Transactions: BEGIN IMMEDIATE ... COMMIT; rollback is safe to call when no
 * transaction is open. */
bool snapshot_begin(struct snapshot *snap);
bool snapshot_commit(struct snapshot *snap);
void snapshot_rollback(struct snapshot *snap);

/* Small key/value settings (cursor, seeded flag, backfill checkpoints). */
/** Returns a new string, or NULL when absent (not an error) or on error (logged, *err set). */
char *snapshot_meta_get(struct snapshot *snap, const char *key, bool *err);
bool snapshot_meta_set(struct snapshot *snap, const char *key, const char *value);
bool snapshot_meta_delete(struct snapshot *snap, const char *key);
/**
 * When seeding completed (ms), or 0 if it never did: the database is new, or
 * a seeding run was interrupted. -1 on error (logged).
 */
int64_t snapshot_seeded_at(struct snapshot *snap);
/**
 * The poll cursor the sync engine keeps (unix ms): where its next poll starts. 0 when there is
 * none, -1 on error (logged).
 */
int64_t snapshot_cursor(struct snapshot *snap);
/** A meta value that holds ms since the epoch: 0 when absent or not such a time, -1 on error. */
int64_t snapshot_meta_ms(struct snapshot *snap, const char *key);

/* The opportunity snapshot. */
/** 1 found (out filled, caller finishes it), 0 absent, -1 error (logged). */
int snapshot_opp_get(struct snapshot *snap, const char *id, struct opportunity_state *out);
bool snapshot_opp_put(struct snapshot *snap, const struct opportunity_state *s, int64_t run_id);
/**
 * snapshot_opp_put for a caller that read the row first: prev is what snapshot_opp_get gave
 * (NULL when it found none). A row that would not change is not written again, which spares
 * SQLite the page write and its log frame; *written (may be NULL) says whether it was.
 */
bool snapshot_opp_update(struct snapshot *snap, const struct opportunity_state *prev,
	const struct opportunity_state *next, int64_t run_id, bool *written);
bool snapshot_opp_delete(struct snapshot *snap, const char *id);
/** Number of opportunities in the snapshot, or -1 on error. */
int64_t snapshot_opp_count(struct snapshot *snap);

/* The action journal (design: intent, then effect, then outcome). */

struct action {
	int64_t id;
	char *key; /* unique; the Idempotency-Key for Refty */
	enum action_kind kind;
	enum action_state state;
	char *opportunity_id;
	char *rule;
	char *sequence_id;
	char *refty_stage_id;
	char *refty_stage_name;
	char *lever_stage_id;
	int64_t entry_at_ms;
	char *origin; /* "sync" or "backfill" */
	char *reason;
	char *last_error;
	char *refty_id; /* Refty candidate or step id once known */
	char *payload;  /* request body frozen with the intent, so retries send the same */
	bool requeued;  /* failed, then re-queued by 'retry': the body may be refreshed */
	int attempts;
	int64_t run_id;
	int64_t created_at; /* unix ms */
	int64_t updated_at;
};

void action_copy(struct action *dst, const struct action *src);
void action_finish(struct action *a);

/**
 * Records an intended action. When an action with the same key exists the
 * journal is left as it is and *inserted is false: the same intent is never
 * recorded twice. a->id is set to the row id either way.
 */
bool snapshot_action_add(struct snapshot *snap, struct action *a, bool *inserted);
/** Sets state, last_error (may be NULL), refty_id (NULL keeps it); bumps attempts when attempted. */
bool snapshot_action_update(struct snapshot *snap, int64_t id, enum action_state state,
	const char *last_error, const char *refty_id, bool attempted);

typedef bool (*snapshot_action_cb)(void *ud, const struct action *a);
/** Calls cb for every action in state (oldest first). cb returning false stops. */
bool snapshot_actions_in_state(struct snapshot *snap, enum action_state state,
	snapshot_action_cb cb, void *ud);
/** Calls cb for every action of kind in state (oldest first). */
bool snapshot_actions_of_kind(struct snapshot *snap, enum action_kind kind,
	enum action_state state, snapshot_action_cb cb, void *ud);
/** Every journal entry of one opportunity, oldest first. */
bool snapshot_actions_for_opp(struct snapshot *snap, const char *opportunity_id,
	snapshot_action_cb cb, void *ud);
/** The id of the action with key: 0 when absent, -1 on error. */
int64_t snapshot_action_id_by_key(struct snapshot *snap, const char *key);
/** 1 found, 0 absent, -1 error. */
int snapshot_action_get(struct snapshot *snap, int64_t id, struct action *out);
/** Counts by state, indexed by enum action_state (6 entries). */
bool snapshot_action_counts(struct snapshot *snap, int64_t counts[6]);
/** Replaces an action's journalled request body (and clears requeued). */
bool snapshot_action_set_payload(struct snapshot *snap, int64_t id, const char *payload);
/**
 * Moves failed actions back to pending: all when ids is NULL. Quarantine entries are left as
 * they are. Returns how many, or -1.
 */
int64_t snapshot_actions_requeue(struct snapshot *snap, const int64_t *ids, size_t n_ids);

/* Enrolments (opportunity.h), one per opportunity and sequence. */
/** 1 found, 0 absent, -1 error. */
int snapshot_enrolment_get(struct snapshot *snap, const char *opportunity_id,
	const char *sequence_id, struct enrolment *out);
bool snapshot_enrolment_put(struct snapshot *snap, const struct enrolment *e);

/* Runs. */
struct run_record {
	int64_t id;
	char *command; /* sync, backfill */
	int64_t started_at;  /* unix ms */
	int64_t finished_at; /* 0 while running or when it died */
	int64_t poll_started_ms;
	int exit_code;   /* -1 while running */
	bool dry_run;
	int64_t seen, changed, enrolled, sent, waiting, skipped, failed;
	char *message;
	char *interrupted_by; /* "SIGTERM", ...: stopped by a signal before its work was done */
	int64_t pending;      /* actions it left pending */
	bool healthy;         /* read only: see snapshot_last_healthy */
};

/** Fills dst with a deep copy of src; the caller finishes dst. */
void run_record_copy(struct run_record *dst, const struct run_record *src);
void run_record_finish(struct run_record *r);
/** Inserts a run (id set on return). */
bool snapshot_run_start(struct snapshot *snap, struct run_record *r);
bool snapshot_run_finish(struct snapshot *snap, const struct run_record *r);
/** The last n runs, newest first. */
bool snapshot_runs_recent(struct snapshot *snap, int n,
	bool (*cb)(void *ud, const struct run_record *r), void *ud);
/**
 * The newest healthy run of command: one that completed (not a dry run, not stopped by a
 * signal) and exited 0, or 1 with no action left pending (only permanent failures). A run that
 * could not reach Lever or Refty exits 3 and is not healthy, nor one that left work pending.
 * The one definition of a "successful sync" (run_record.healthy reads the same rule);
 * 1 found, 0 none, -1 error.
 */
int snapshot_last_healthy(struct snapshot *snap, const char *command, struct run_record *out);

/* The name cache: Lever stages and postings, Refty sequences and their stages. */
struct cached_name {
	char *kind;   /* "lever_stage", "posting", "sequence", "refty_stage" */
	char *id;
	char *name;
	char *parent; /* refty_stage: its sequence id */
	char *extra;  /* posting: state; refty_stage: type */
	int position;
};

void cached_name_finish(struct cached_name *c);
/** Replaces every cached entry of kind with the given ones. */
bool snapshot_names_replace(struct snapshot *snap, const char *kind, const struct cached_name *items,
	size_t n);
bool snapshot_names_list(struct snapshot *snap, const char *kind,
	bool (*cb)(void *ud, const struct cached_name *c), void *ud);
/** When kind was last refreshed (unix ms), 0 if never, -1 on error. */
int64_t snapshot_names_fetched_at(struct snapshot *snap, const char *kind);

/*
 * OAuth tokens as older versions kept them, in the table oauth_tokens. They live in the token
 * file now (tokens.h); these are only for moving them there and for removing what is left.
 */
struct lever_tokens;
/** 1 found (out filled; the caller finishes it), 0 none, -1 error (logged). */
int snapshot_tokens_load(struct snapshot *snap, struct lever_tokens *out);
bool snapshot_tokens_delete(struct snapshot *snap);

#endif
