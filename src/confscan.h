#ifndef REFTY_LEVER_CONFSCAN_H
#define REFTY_LEVER_CONFSCAN_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What the text of a configuration file holds that libconfig 1.5 would act on unchecked, found
 * before libconfig reads it: the files it includes, and integer literals too large for 64 bits
 * (libconfig wraps them silently). Pure: no I/O, no logging; config.c checks what is found.
 *
 * An include is what libconfig's scanner takes for one: at the start of a line, after optional
 * blanks, "@include", at least one blank and a double-quoted path in which a backslash escapes
 * only a backslash or a double quote; never inside a comment (#, //, slash-star) or a string.
 * The path is returned as written: libconfig opens it so, relative to the current directory.
 */

struct confscan_include {
	int line; /* of the directive, counting from 1 */
	char *path;
};

struct confscan_big {
	int line;
	char *text; /* the literal as written, e.g. "99999999999999999999" */
};

struct confscan {
	struct confscan_include *includes;
	size_t n_includes;
	struct confscan_big *bigs;
	size_t n_bigs;
	int error_line;    /* when confscan_run failed */
	const char *error; /* static text: what is wrong with that directive */
};

/**
 * Scans text (len bytes, NUL bytes allowed) into out, which the caller finishes either way.
 * False when a directive cannot be read (no closing quote, a bad escape, an empty path); what
 * was found before it is kept.
 */
bool confscan_run(const char *text, size_t len, struct confscan *out);
void confscan_finish(struct confscan *sc);

#endif
