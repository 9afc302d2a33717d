#ifndef REFTY_LEVER_JSONW_H
#define REFTY_LEVER_JSONW_H

/*
 * A small streaming JSON writer for request bodies, --json output and JSON log lines: the one
 * owner of JSON string escaping (jsonw_quote). Writing needs no parser, so this stays apart
 * from json.c (the json-c wrapper). It never parses, never logs and never does I/O but
 * jsonw_line_end's write.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "xalloc.h"

#define JSONW_MAX_DEPTH 16

struct jsonw {
	struct strbuf *out;
	int depth;
	bool first[JSONW_MAX_DEPTH];
	bool after_key;
};

void jsonw_init(struct jsonw *w, struct strbuf *out);
void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
/**
 * Appends s to out as a quoted JSON string: '"', '\\', newline, carriage return and tab by
 * their short escapes, other control characters and DEL as \u00XX, everything else as is.
 * The one JSON string escaper: the writer below and the JSON log lines use it.
 */
void jsonw_quote(struct strbuf *out, const char *s);

/** Writes s as a JSON string, or null when s is NULL. */
void jsonw_string(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/*
 * JSON Lines output: line_begin starts an object in buf (initialised here);
 * line_end closes it, writes it and a newline to out, and frees buf.
 */
void jsonw_line_begin(struct jsonw *w, struct strbuf *buf);
void jsonw_line_end(struct jsonw *w, FILE *out);

/* key: value shorthands inside an object. */
void jsonw_kv_string(struct jsonw *w, const char *key, const char *s);
void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v);
void jsonw_kv_bool(struct jsonw *w, const char *key, bool v);

#endif
