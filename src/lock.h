#ifndef REFTY_LEVER_LOCK_H
#define REFTY_LEVER_LOCK_H

#include <stdbool.h>

/*
 * File locks: flock() on a file that is never deleted, held by the open descriptor, so that a
 * process that dies releases its lock. Every lock refty-lever takes goes through here.
 */

enum lock_status {
	LOCK_TAKEN,
	LOCK_HELD,  /* another process holds it (after timeout_ms, for a waiting lock) */
	LOCK_ERROR, /* the file cannot be opened or locked (logged, naming it) */
};

struct file_lock;

/**
 * Takes the exclusive lock on path (created 0600; the directory must exist), waiting up to
 * timeout_ms for another process to release it (0: not at all). A held lock is not logged
 * here: what it means is the caller's to say. Returns NULL unless *status is LOCK_TAKEN.
 */
struct file_lock *file_lock_acquire(const char *path, int timeout_ms, enum lock_status *status);
/** Releases the lock (the file stays); accepts NULL. */
void file_lock_release(struct file_lock *lock);

struct state_lock;

/**
 * Takes the run lock beside the database ("<db path>.lock") without waiting, and writes the
 * pid into it. On failure *held_by_other tells whether another process holds it (whose pid
 * is logged) or a local error occurred (logged, naming the file and what to do). Returns NULL
 * on failure.
 */
struct state_lock *state_lock_acquire(const char *db_path, bool *held_by_other);

/**
 * Whether the run lock is still this run's: the lock file's path still names the file the
 * lock is held on. Deleting or replacing it lets another run take a lock of its own, so a run
 * calls this before each side effect and before moving the cursor, and stops (exit 5) when
 * it returns false (logged). A NULL lock (a dry run holds none) is always still held.
 * Thread-safe.
 */
bool state_lock_check(struct state_lock *lock);

/** Empties the lock file and releases the lock; the file is kept. Accepts NULL. */
void state_lock_release(struct state_lock *lock);

#endif
