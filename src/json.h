#ifndef REFTY_LEVER_JSON_H
#define REFTY_LEVER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Typed access to parsed JSON. Every getter knows where its value sits in the document, so a
 * missing or mistyped field is reported with its full path, e.g.
 * "data[37].stageChanges[2].updatedAt: expected an integer, got string". Getters never log:
 * they fill a struct json_error and the caller, which knows the context (which page, which
 * request), logs once.
 *
 * Values are borrowed from the parsed root and live until json_free(root).
 */

struct json_object;
struct json_tokener;

/** What went wrong; text is a complete message starting with the JSON path. */
struct json_error {
	char text[512];
	size_t offset; /* json_parse only: byte offset of a syntax error */
};

/**
 * A value and where it sits: its parent and its key (or index, when key is NULL). Nodes live on
 * the stack of the code walking the document and point at their parent, so building a path
 * costs nothing until an error needs it.
 */
struct json_node {
	struct json_object *obj; /* NULL for JSON null */
	const struct json_node *parent;
	const char *key;
	size_t index;
};

/**
 * Parses exactly len bytes of buf (NUL bytes and trailing garbage are errors). Returns the
 * root, to be released with json_free(), or NULL with err filled in.
 */
/** json-c's version ("0.16"): for --version. */
const char *json_library_version(void);

struct json_object *json_parse(const char *buf, size_t len, struct json_error *err);
/**
 * A list page read without building what its caller never reads: the document split around
 * one top-level array, the rest parsed, each element checked and rewritten with only the
 * members its caller reads, to be parsed on its own. Building and freeing json-c's tree of
 * every member of every element was most of a sync's CPU.
 */
struct json_split {
	struct json_object *rest; /* the document with the array emptied */
	size_t n;                 /* elements */
	size_t *start;            /* element i, rewritten, is scratch[start[i] .. + len[i]) */
	size_t *len;
	char *scratch;
	size_t scratch_cap;
	struct json_tokener *tok;
};

/**
 * The members of an object to keep, in a list ended by a NULL name; members, when not NULL,
 * is what to keep of the member's value (of an object, or of each object in an array).
 */
struct json_keep {
	const char *name;
	const struct json_keep *members;
};

/**
 * Splits len bytes of buf around the array under the top-level member key, keeping of each
 * object element what keep names (NULL: everything), in its order and with its repeats, so
 * that reading a kept member gives what the whole document would have. Returns false (out
 * zeroed, nothing to free) unless the document is plainly of that shape and plainly valid
 * JSON: for anything unusual (the member missing, repeated or not an array, a member name
 * written with escapes, a NUL byte, a comment, a surrogate escape, a number json-c could read
 * otherwise) or wrong, the caller parses it whole with json_parse(), which says what is wrong.
 * A split never reports an error itself.
 */
bool json_split(const char *buf, size_t len, const char *key, const struct json_keep *keep,
	struct json_split *out);
/**
 * Element i of a split, parsed, to be released with json_free(); NULL when json-c refuses it
 * (the caller then parses the document whole).
 */
struct json_object *json_split_element(struct json_split *s, size_t i);
void json_split_finish(struct json_split *s);

/** Releases a root returned by json_parse(). Accepts NULL. */
void json_free(struct json_object *root);

/** Makes node the document's root. */
void json_root(struct json_node *node, struct json_object *root);

/** Writes node's path ("data[3].id"; "(root)" for the root) into buf, truncating if needed. */
void json_path(const struct json_node *node, char *buf, size_t size);

/**
 * Fills err with "<path of node>: <message>" and returns false, for checks the getters cannot
 * make (a value out of its allowed set, say).
 */
bool json_fail(struct json_error *err, const struct json_node *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** True when parent (an object) has the member key, even if it is null. */
bool json_has(const struct json_node *parent, const char *key);

/**
 * The member key of parent, of any type: out->obj is NULL when it is missing or null. Fails
 * only when parent is not an object.
 */
bool json_get(const struct json_node *parent, const char *key, struct json_node *out,
	struct json_error *err);

/*
 * Required getters (json_req_*) fail when the member is missing, null or of another type.
 * Optional getters (json_opt_*) accept a missing or null member and then report it absent
 * (a NULL string, the fallback number, present = false); a member of the wrong type still fails.
 * All of them return true on success. parent must be an object node; a non-object parent is
 * reported as a type error on the parent. A string holding a NUL character (escaped as \u0000
 * or raw) or bytes that are not UTF-8 is refused: C would truncate the one and pass on the
 * other.
 */

bool json_req_string(const struct json_node *parent, const char *key, const char **out,
	struct json_error *err);
bool json_opt_string(const struct json_node *parent, const char *key, const char **out,
	struct json_error *err);

/** Integers only: 1.0, "1" and 1e3 are type errors, as is anything outside int64_t. */
bool json_req_int64(const struct json_node *parent, const char *key, int64_t *out,
	struct json_error *err);
bool json_opt_int64(const struct json_node *parent, const char *key, int64_t fallback,
	int64_t *out, struct json_error *err);

bool json_req_bool(const struct json_node *parent, const char *key, bool *out,
	struct json_error *err);
bool json_opt_bool(const struct json_node *parent, const char *key, bool fallback, bool *out,
	struct json_error *err);

bool json_req_object(const struct json_node *parent, const char *key, struct json_node *out,
	struct json_error *err);
bool json_opt_object(const struct json_node *parent, const char *key, struct json_node *out,
	bool *present, struct json_error *err);

bool json_req_array(const struct json_node *parent, const char *key, struct json_node *out,
	struct json_error *err);
bool json_opt_array(const struct json_node *parent, const char *key, struct json_node *out,
	bool *present, struct json_error *err);

/** Number of elements of an array node (0 for anything else). */
size_t json_array_len(const struct json_node *array);

/** Element i of an array node, of any type (obj NULL for null). i must be < json_array_len. */
void json_array_at(const struct json_node *array, size_t i, struct json_node *out);

/** Whether text[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool json_utf8_valid(const char *text, size_t len);

/** Element i, which must be an object / a string. */
bool json_array_object(const struct json_node *array, size_t i, struct json_node *out,
	struct json_error *err);
bool json_array_string(const struct json_node *array, size_t i, const char **out,
	struct json_error *err);

/** Checks the type of a node itself (for elements taken with json_array_at). */
bool json_expect_object(const struct json_node *node, struct json_error *err);
bool json_expect_string(const struct json_node *node, const char **out, struct json_error *err);
bool json_is_null(const struct json_node *node);
bool json_is_object(const struct json_node *node);

#endif
