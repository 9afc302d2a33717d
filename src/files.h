#ifndef REFTY_LEVER_FILES_H
#define REFTY_LEVER_FILES_H

/*
 * Small private files kept beside the state (the OAuth tokens, the webhook signature tokens):
 * read whole, and replaced whole so that a reader or a crash sees the old content or the new,
 * never a mix. Every function logs its own failures, naming the file.
 */

#include <stdbool.h>
#include <stddef.h>

/**
 * Reads the whole of path, at most max bytes, into *out (new, NUL-terminated; *len without
 * the NUL). Returns 1 when read, 0 when there is no such file (nothing logged), -1 on error
 * (logged). The caller wipes the buffer when it holds secrets.
 */
int file_read_whole(const char *path, size_t max, char **out, size_t *len);

/**
 * Replaces path with data, durably, mode 0600 whatever the umask: a temporary file in the same
 * directory is written and fsynced, renamed over path, and the directory fsynced. The
 * directory must exist.
 */
bool file_replace_private(const char *path, const char *data, size_t len);

/** The directory part of path ("." when it has none, "/" for the root). Caller frees. */
char *file_dir_of(const char *path);

#endif
