#ifndef REFTY_LEVER_LOCK_H
#define REFTY_LEVER_LOCK_H

#include <stdbool.h>

struct state_lock;

/**
 * Takes the exclusive lock beside the database ("<db path>.lock") without
 * waiting. flock() is used so that a process that dies releases it. On
 * failure *held_by_other tells whether another process holds it (whose pid is
 * logged) or a local error occurred. Returns NULL on failure.
 */
struct state_lock *state_lock_acquire(const char *db_path, bool *held_by_other);
void state_lock_release(struct state_lock *lock);

#endif
