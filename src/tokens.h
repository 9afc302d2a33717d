#ifndef REFTY_LEVER_TOKENS_H
#define REFTY_LEVER_TOKENS_H

#include <stdbool.h>

/*
 * The OAuth token file: the only place Lever's OAuth tokens are kept. It sits beside the state
 * database ("<state>.tokens", mode 0600) rather than inside it, so that storing a rotated pair
 * never waits behind a sync's batch transaction: Lever has retired the old refresh token by
 * then, and a pair that cannot be stored is a lost login.
 *
 * The file is one JSON object:
 *
 *	{"version": 1, "access_token": "...", "refresh_token": "...", "expires_at": <unix s>,
 *	 "account": "..." or null, "scope": "..." or null, "updated_at": <unix s>}
 *
 * The file keeps seconds; struct lever_tokens holds milliseconds like every other time in the
 * program, so times are converted on the way in and rounded down on the way out.
 *
 * It is replaced whole: a temporary file in the same directory is written and fsynced,
 * renamed over the old one, and the directory fsynced, so a reader or a crash sees the old
 * pair or the new one, never a mix, and the new one is on disk before anyone relies on it.
 *
 * A refresh is serialised across processes by the token lock, flock() on "<file>.lock", held
 * around re-reading the pair, refreshing it at Lever if no other process has, and storing
 * the result. The run lock is no use for this: a sync holds it for its whole run.
 *
 * Every function logs its own failures.
 */

struct lever_tokens;

/** The token file that belongs to the state database at state_path. Caller frees. */
char *token_file_path(const char *state_path);

/**
 * Reads the token file into out (zeroed here; the caller finishes it). Returns 1 when read,
 * 0 when there is no file, -1 on error (logged, out left empty). The tokens read are
 * registered with log_add_secret().
 */
int token_file_load(const char *path, struct lever_tokens *out);

/**
 * Replaces the token file with t, durably, creating it 0600 (the directory must exist).
 * updated_at is set to now; t->updated_at is ignored. t->access_token must not be NULL.
 */
bool token_file_save(const char *path, const struct lever_tokens *t);

/** Removes the token file; a missing one is not an error. */
bool token_file_delete(const char *path);

struct token_lock;

/**
 * Takes the exclusive token lock "<path>.lock" (created 0600; the directory must exist),
 * waiting at most timeout_ms for another process to release it. A process that dies releases
 * it. Returns NULL after logging, naming the lock file, when it cannot be had.
 */
struct token_lock *token_lock_acquire(const char *path, int timeout_ms);
/** Releases the lock; accepts NULL. */
void token_lock_release(struct token_lock *lock);

#endif
