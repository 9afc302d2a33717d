#include "json.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Deep enough for any API document we read; deeper input is refused rather than recursed. */
#define MAX_DEPTH 64

static void set_error(struct json_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct json_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
}

const char *json_library_version(void)
{
	return json_c_version();
}

struct json_object *json_parse(const char *buf, size_t len, struct json_error *err)
{
	err->text[0] = '\0';
	err->offset = 0;
	if (len > (size_t)INT32_MAX / 6) {
		set_error(err, "invalid JSON: document too large (%zu bytes)", len);
		return NULL;
	}
	// The tokenizer stops at a raw NUL byte. Inside a string one is as
	// unreadable as an escaped \u0000, so it becomes one: the string getters
	// then refuse that one value, not the whole document. Elsewhere the
	// document is invalid either way.
	char *copy = NULL;
	if (memchr(buf, '\0', len)) {
		copy = xmalloc(len * 6 + 1);
		size_t n = 0;
		for (size_t i = 0; i < len; i++) {
			if (buf[i] == '\0') {
				memcpy(copy + n, "\\u0000", 6);
				n += 6;
			} else {
				copy[n++] = buf[i];
			}
		}
		buf = copy;
		len = n;
	}
	struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
	if (!tok) {
		set_error(err, "cannot parse JSON: out of memory");
		free(copy);
		return NULL;
	}
	// UTF-8 is checked string by string (json_expect_string), so that one bad
	// value makes one record unreadable rather than the whole page.
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	struct json_object *root = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		// A complete document has been given: "continue" means it stopped short.
		err->offset = len;
		set_error(err, "invalid JSON at byte %zu: unexpected end of input", len);
	} else if (jerr != json_tokener_success) {
		err->offset = end;
		set_error(err, "invalid JSON at byte %zu: %s", end, json_tokener_error_desc(jerr));
	} else {
		while (end < len && strchr(" \t\r\n", buf[end])) {
			end++;
		}
		if (end < len) {
			err->offset = end;
			set_error(err, "invalid JSON at byte %zu: trailing data after the document", end);
		}
	}
	json_tokener_free(tok);
	free(copy);
	if (err->text[0]) {
		json_object_put(root);
		return NULL;
	}
	return root;
}

/* An element sits two levels down (the document, the array): its own nesting counts from 0. */
#define ELEMENT_MAX_DEPTH (MAX_DEPTH - 3)
/* Nesting past this ends a split: the whole document's parse then judges it. */
#define SPLIT_MAX_DEPTH (MAX_DEPTH - 8)
/* Digits in a number json-c surely reads as it stands (no overflow to judge). */
#define SPLIT_MAX_DIGITS 18

/* JSON's own whitespace: anything json-c may accept beyond it ends a split. */
static size_t skip_space(const char *buf, size_t len, size_t i)
{
	while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\t' || buf[i] == '\r')) {
		i++;
	}
	return i;
}

/* Bytes that end a run of a string's plain bytes: a quote, a backslash, a control character. */
static const bool special[256] = {
#define SPECIAL4(n) [n] = true, [n + 1] = true, [n + 2] = true, [n + 3] = true
#define SPECIAL16(n) SPECIAL4(n), SPECIAL4(n + 4), SPECIAL4(n + 8), SPECIAL4(n + 12)
	SPECIAL16(0x00), SPECIAL16(0x10), ['"'] = true, ['\\'] = true,
#undef SPECIAL16
#undef SPECIAL4
};

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * The end (past the closing quote) of the string opening at buf[i], or 0 unless it is plainly
 * valid: no control characters, known escapes only, no surrogate escapes. *escaped says
 * whether it holds any escape.
 */
static size_t scan_string(const char *buf, size_t len, size_t i, bool *escaped)
{
	*escaped = false;
	for (i++; i < len; i++) {
		while (i < len && !special[(unsigned char)buf[i]]) {
			i++;
		}
		if (i >= len) {
			return 0;
		}
		unsigned char c = (unsigned char)buf[i];
		if (c == '"') {
			return i + 1;
		}
		if (c < 0x20) {
			return 0;
		}
		if (c != '\\') {
			continue;
		}
		*escaped = true;
		if (++i >= len) {
			return 0;
		}
		c = (unsigned char)buf[i];
		if (c == 'u') {
			if (len - i <= 4 || !is_hex(buf[i + 1]) || !is_hex(buf[i + 2]) ||
				!is_hex(buf[i + 3]) || !is_hex(buf[i + 4])) {
				return 0;
			}
			char d = buf[i + 1];
			char e = buf[i + 2];
			if ((d == 'd' || d == 'D') && strchr("89abcdefABCDEF", e)) {
				return 0;
			}
			i += 4;
		} else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
			return 0;
		}
	}
	return 0;
}

/* The end of the number at buf[i], or 0 unless it is a plain JSON number json-c reads as is. */
static size_t scan_number(const char *buf, size_t len, size_t i)
{
	size_t digits = 0;
	if (i < len && buf[i] == '-') {
		if (++i < len && buf[i] == '0') {
			return 0; // -0 and -0.5: valid, but rare enough to leave to json-c
		}
	}
	if (i < len && buf[i] == '0') {
		i++, digits++;
	} else {
		while (i < len && buf[i] >= '0' && buf[i] <= '9') {
			i++, digits++;
		}
	}
	if (digits == 0) {
		return 0;
	}
	if (i < len && buf[i] == '.') {
		size_t before = digits;
		for (i++; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
			digits++;
		}
		if (digits == before) {
			return 0;
		}
	}
	if (digits > SPLIT_MAX_DIGITS || (i < len && (buf[i] == 'e' || buf[i] == 'E'))) {
		return 0;
	}
	return i;
}

static size_t scan_value(const char *buf, size_t len, size_t i, int depth);

/* The end of the object or array opening at buf[i], or 0. */
static size_t scan_container(const char *buf, size_t len, size_t i, int depth)
{
	bool object = buf[i] == '{';
	char close = object ? '}' : ']';
	bool escaped;
	if (depth >= SPLIT_MAX_DEPTH) {
		return 0;
	}
	i = skip_space(buf, len, i + 1);
	if (i < len && buf[i] == close) {
		return i + 1;
	}
	while (i < len) {
		if (object) {
			if (buf[i] != '"' || (i = scan_string(buf, len, i, &escaped)) == 0) {
				return 0;
			}
			i = skip_space(buf, len, i);
			if (i >= len || buf[i] != ':') {
				return 0;
			}
			i = skip_space(buf, len, i + 1);
		}
		if ((i = scan_value(buf, len, i, depth + 1)) == 0) {
			return 0;
		}
		i = skip_space(buf, len, i);
		if (i < len && buf[i] == close) {
			return i + 1;
		}
		if (i >= len || buf[i] != ',') {
			return 0;
		}
		i = skip_space(buf, len, i + 1);
	}
	return 0;
}

/* The end of the value at buf[i], or 0 unless it is plainly valid JSON (see json_split). */
static size_t scan_value(const char *buf, size_t len, size_t i, int depth)
{
	bool escaped;
	if (i >= len) {
		return 0;
	}
	switch (buf[i]) {
	case '"':
		return scan_string(buf, len, i, &escaped);
	case '{':
	case '[':
		return scan_container(buf, len, i, depth);
	case 't':
		return len - i >= 4 && memcmp(buf + i, "true", 4) == 0 ? i + 4 : 0;
	case 'f':
		return len - i >= 5 && memcmp(buf + i, "false", 5) == 0 ? i + 5 : 0;
	case 'n':
		return len - i >= 4 && memcmp(buf + i, "null", 4) == 0 ? i + 4 : 0;
	default:
		return scan_number(buf, len, i);
	}
}

/* Where a split writes the elements it keeps. */
struct reduced {
	struct json_split *s;
	size_t used;
};

static void put(struct reduced *r, const char *text, size_t len)
{
	struct json_split *s = r->s;
	if (r->used + len > s->scratch_cap) {
		s->scratch_cap = (r->used + len) * 2 + 4096;
		s->scratch = xrealloc(s->scratch, s->scratch_cap);
	}
	memcpy(s->scratch + r->used, text, len);
	r->used += len;
}

static const struct json_keep *find_keep(const struct json_keep *keep, const char *name,
	size_t len)
{
	for (; keep->name; keep++) {
		if (keep->name[0] == name[0] && strncmp(keep->name, name, len) == 0 &&
			keep->name[len] == '\0') {
			return keep;
		}
	}
	return NULL;
}

static size_t reduce_value(const char *buf, size_t len, size_t i, int depth,
	const struct json_keep *keep, struct reduced *r);

/*
 * Checks the object opening at buf[i] and writes it with only the members keep names (their
 * own members reduced as it says). Returns its end, or 0 unless it is plainly valid and no
 * member's name has escapes (one could spell a kept name).
 */
static size_t reduce_object(const char *buf, size_t len, size_t i, int depth,
	const struct json_keep *keep, struct reduced *r)
{
	bool escaped, first = true;
	if (depth >= SPLIT_MAX_DEPTH) {
		return 0;
	}
	put(r, "{", 1);
	i = skip_space(buf, len, i + 1);
	if (i < len && buf[i] == '}') {
		put(r, "}", 1);
		return i + 1;
	}
	while (i < len && buf[i] == '"') {
		size_t name = i;
		size_t name_end = scan_string(buf, len, i, &escaped);
		if (name_end == 0 || escaped) {
			return 0;
		}
		i = skip_space(buf, len, name_end);
		if (i >= len || buf[i] != ':') {
			return 0;
		}
		i = skip_space(buf, len, i + 1);
		const struct json_keep *k = find_keep(keep, buf + name + 1, name_end - name - 2);
		if (k) {
			if (!first) {
				put(r, ",", 1);
			}
			first = false;
			put(r, buf + name, name_end - name);
			put(r, ":", 1);
			i = reduce_value(buf, len, i, depth + 1, k->members, r);
		} else {
			i = scan_value(buf, len, i, depth + 1);
		}
		if (i == 0) {
			return 0;
		}
		i = skip_space(buf, len, i);
		if (i < len && buf[i] == '}') {
			put(r, "}", 1);
			return i + 1;
		}
		if (i >= len || buf[i] != ',') {
			return 0;
		}
		i = skip_space(buf, len, i + 1);
	}
	return 0;
}

/* Checks the array opening at buf[i] and writes it, its objects reduced to keep. */
static size_t reduce_array(const char *buf, size_t len, size_t i, int depth,
	const struct json_keep *keep, struct reduced *r)
{
	if (depth >= SPLIT_MAX_DEPTH) {
		return 0;
	}
	put(r, "[", 1);
	i = skip_space(buf, len, i + 1);
	if (i < len && buf[i] == ']') {
		put(r, "]", 1);
		return i + 1;
	}
	while (i < len) {
		if ((i = reduce_value(buf, len, i, depth + 1, keep, r)) == 0) {
			return 0;
		}
		i = skip_space(buf, len, i);
		if (i < len && buf[i] == ']') {
			put(r, "]", 1);
			return i + 1;
		}
		if (i >= len || buf[i] != ',') {
			return 0;
		}
		put(r, ",", 1);
		i = skip_space(buf, len, i + 1);
	}
	return 0;
}

/* Checks the value at buf[i] and writes it: whole, or reduced to keep when that is given. */
static size_t reduce_value(const char *buf, size_t len, size_t i, int depth,
	const struct json_keep *keep, struct reduced *r)
{
	if (keep && i < len && buf[i] == '{') {
		return reduce_object(buf, len, i, depth, keep, r);
	}
	if (keep && i < len && buf[i] == '[') {
		return reduce_array(buf, len, i, depth, keep, r);
	}
	size_t end = scan_value(buf, len, i, depth);
	if (end != 0) {
		put(r, buf + i, end - i);
	}
	return end;
}

/* Reduces the elements of the array opening at buf[i]; *close receives its ']'. */
static bool reduce_elements(const char *buf, size_t len, size_t i,
	const struct json_keep *keep, struct reduced *r, size_t *close)
{
	struct json_split *out = r->s;
	size_t cap = 0;
	i = skip_space(buf, len, i + 1);
	if (i < len && buf[i] == ']') {
		*close = i;
		return true;
	}
	while (i < len) {
		size_t from = r->used;
		size_t end = reduce_value(buf, len, i, 2, keep, r);
		if (end == 0) {
			return false;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 128;
			out->start = xrealloc(out->start, cap * sizeof(*out->start));
			out->len = xrealloc(out->len, cap * sizeof(*out->len));
		}
		out->start[out->n] = from;
		out->len[out->n] = r->used - from;
		out->n++;
		i = skip_space(buf, len, end);
		if (i < len && buf[i] == ']') {
			*close = i;
			return true;
		}
		if (i >= len || buf[i] != ',') {
			return false;
		}
		i = skip_space(buf, len, i + 1);
	}
	return false;
}

/* Finds the array under the top-level member key: its '[' and ']', and its elements. */
static bool locate_array(const char *buf, size_t len, const char *key,
	const struct json_keep *keep, struct reduced *r, size_t *open, size_t *close)
{
	size_t key_len = strlen(key);
	bool found = false, escaped;
	size_t i = skip_space(buf, len, 0);
	if (i >= len || buf[i] != '{') {
		return false;
	}
	i = skip_space(buf, len, i + 1);
	while (i < len && buf[i] == '"') {
		size_t key_end = scan_string(buf, len, i, &escaped);
		if (key_end == 0 || escaped) {
			return false;
		}
		bool is_key = key_end - i - 2 == key_len && memcmp(buf + i + 1, key, key_len) == 0;
		i = skip_space(buf, len, key_end);
		if (i >= len || buf[i] != ':') {
			return false;
		}
		i = skip_space(buf, len, i + 1);
		if (is_key) {
			if (found || i >= len || buf[i] != '[') {
				return false; // json-c would keep the last of two
			}
			found = true;
			*open = i;
			if (!reduce_elements(buf, len, i, keep, r, close)) {
				return false;
			}
			i = *close + 1;
		} else if ((i = scan_value(buf, len, i, 1)) == 0) {
			return false;
		}
		i = skip_space(buf, len, i);
		if (i < len && buf[i] == ',') {
			i = skip_space(buf, len, i + 1);
		} else {
			break;
		}
	}
	return found && i < len && buf[i] == '}';
}

bool json_split(const char *buf, size_t len, const char *key, const struct json_keep *keep,
	struct json_split *out)
{
	memset(out, 0, sizeof(*out));
	struct reduced r = {out, 0};
	size_t open = 0, close = 0;
	if (memchr(buf, '\0', len) || !locate_array(buf, len, key, keep, &r, &open, &close)) {
		json_split_finish(out);
		return false;
	}
	// The rest is parsed as it stands, with the array emptied: json-c judges it.
	size_t rest_len = open + 1 + (len - close);
	char *rest = xmalloc(rest_len);
	memcpy(rest, buf, open + 1);
	memcpy(rest + open + 1, buf + close, len - close);
	struct json_error err;
	out->rest = json_parse(rest, rest_len, &err);
	free(rest);
	out->tok = out->rest ? json_tokener_new_ex(ELEMENT_MAX_DEPTH) : NULL;
	if (!out->tok) {
		json_split_finish(out);
		return false;
	}
	json_tokener_set_flags(out->tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
	return true;
}

struct json_object *json_split_element(struct json_split *s, size_t i)
{
	const char *text = s->scratch + s->start[i];
	size_t len = s->len[i];
	json_tokener_reset(s->tok);
	struct json_object *obj = json_tokener_parse_ex(s->tok, text, (int)len);
	if (json_tokener_get_error(s->tok) != json_tokener_success ||
		json_tokener_get_parse_end(s->tok) != len) {
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

void json_split_finish(struct json_split *s)
{
	if (s->tok) {
		json_tokener_free(s->tok);
	}
	json_object_put(s->rest);
	free(s->start);
	free(s->len);
	free(s->scratch);
	memset(s, 0, sizeof(*s));
}

void json_free(struct json_object *root)
{
	json_object_put(root);
}

void json_root(struct json_node *node, struct json_object *root)
{
	node->obj = root;
	node->parent = NULL;
	node->key = NULL;
	node->index = 0;
}

static size_t append_path(const struct json_node *node, char *buf, size_t size, size_t len,
	int depth)
{
	if (!node->parent) {
		return len;
	}
	if (depth < MAX_DEPTH + 2) {
		len = append_path(node->parent, buf, size, len, depth + 1);
	}
	int n;
	if (node->key) {
		n = snprintf(buf + len, size - len, "%s%s", node->parent->parent ? "." : "",
			node->key);
	} else {
		n = snprintf(buf + len, size - len, "[%zu]", node->index);
	}
	if (n < 0) {
		return len;
	}
	len += (size_t)n;
	return len < size ? len : size - 1;
}

void json_path(const struct json_node *node, char *buf, size_t size)
{
	if (size == 0) {
		return;
	}
	buf[0] = '\0';
	if (!node->parent) {
		snprintf(buf, size, "(root)");
		return;
	}
	append_path(node, buf, size, 0, 0);
}

static const char *type_name(struct json_object *obj)
{
	switch (json_object_get_type(obj)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "boolean";
	case json_type_double:
		return "a non-integer number";
	case json_type_int:
		return "integer";
	case json_type_object:
		return "object";
	case json_type_array:
		return "array";
	case json_type_string:
		return "string";
	}
	return "unknown";
}

bool json_fail(struct json_error *err, const struct json_node *node, const char *fmt, ...)
{
	char path[256];
	json_path(node, path, sizeof(path));
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_error(err, "%s: %s", path, msg);
	return false;
}

static bool type_error(struct json_error *err, const struct json_node *node, const char *want)
{
	return json_fail(err, node, "expected %s, got %s", want, type_name(node->obj));
}

static void child(const struct json_node *parent, const char *key, struct json_object *obj,
	struct json_node *out)
{
	out->obj = obj;
	out->parent = parent;
	out->key = key;
	out->index = 0;
}

/*
 * Looks key up in parent. Returns false (with err set) if parent is not an object. On success
 * *found tells whether the member exists and is not null, and node describes it either way so
 * that a later error can name it.
 */
static bool lookup(const struct json_node *parent, const char *key, struct json_node *node,
	bool *found, struct json_error *err)
{
	if (!json_object_is_type(parent->obj, json_type_object)) {
		return type_error(err, parent, "an object");
	}
	struct json_object *obj = NULL;
	json_object_object_get_ex(parent->obj, key, &obj);
	child(parent, key, obj, node);
	*found = obj != NULL;
	return true;
}

static bool require(const struct json_node *parent, const char *key, struct json_node *node,
	struct json_error *err)
{
	bool found = false;
	if (!lookup(parent, key, node, &found, err)) {
		return false;
	}
	if (!found) {
		if (json_has(parent, key)) {
			return json_fail(err, node, "must not be null");
		}
		return json_fail(err, node, "missing");
	}
	return true;
}

bool json_get(const struct json_node *parent, const char *key, struct json_node *out,
	struct json_error *err)
{
	bool found = false;
	return lookup(parent, key, out, &found, err);
}

bool json_has(const struct json_node *parent, const char *key)
{
	return json_object_is_type(parent->obj, json_type_object)
		&& json_object_object_get_ex(parent->obj, key, NULL);
}

bool json_utf8_valid(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t n;
		unsigned min, cp;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1, min = 0x80, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, min = 0x800, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n) {
			return false;
		}
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return false;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		// Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
		if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
			return false;
		}
		i += n + 1;
	}
	return true;
}

bool json_expect_string(const struct json_node *node, const char **out, struct json_error *err)
{
	if (!json_object_is_type(node->obj, json_type_string)) {
		return type_error(err, node, "a string");
	}
	const char *s = json_object_get_string(node->obj);
	size_t len = (size_t)json_object_get_string_len(node->obj);
	if (strlen(s) != len) {
		return json_fail(err, node, "contains a NUL character");
	}
	if (!json_utf8_valid(s, len)) {
		return json_fail(err, node, "is not valid UTF-8");
	}
	*out = s;
	return true;
}

bool json_expect_object(const struct json_node *node, struct json_error *err)
{
	if (!json_object_is_type(node->obj, json_type_object)) {
		return type_error(err, node, "an object");
	}
	return true;
}

bool json_is_null(const struct json_node *node)
{
	return node->obj == NULL;
}

bool json_is_object(const struct json_node *node)
{
	return json_object_is_type(node->obj, json_type_object);
}

static bool expect_int64(const struct json_node *node, int64_t *out, struct json_error *err)
{
	if (!json_object_is_type(node->obj, json_type_int)) {
		return type_error(err, node, "an integer");
	}
	int64_t v = json_object_get_int64(node->obj);
	// json-c keeps integers above INT64_MAX as unsigned and clamps them when asked for int64.
	if (v == INT64_MAX && json_object_get_uint64(node->obj) != (uint64_t)INT64_MAX) {
		return json_fail(err, node, "integer out of range");
	}
	*out = v;
	return true;
}

static bool expect_bool(const struct json_node *node, bool *out, struct json_error *err)
{
	if (!json_object_is_type(node->obj, json_type_boolean)) {
		return type_error(err, node, "a boolean");
	}
	*out = json_object_get_boolean(node->obj);
	return true;
}

bool json_req_string(const struct json_node *parent, const char *key, const char **out,
	struct json_error *err)
{
	struct json_node node;
	return require(parent, key, &node, err) && json_expect_string(&node, out, err);
}

bool json_opt_string(const struct json_node *parent, const char *key, const char **out,
	struct json_error *err)
{
	struct json_node node;
	bool found = false;
	*out = NULL;
	if (!lookup(parent, key, &node, &found, err)) {
		return false;
	}
	return !found || json_expect_string(&node, out, err);
}

bool json_req_int64(const struct json_node *parent, const char *key, int64_t *out,
	struct json_error *err)
{
	struct json_node node;
	return require(parent, key, &node, err) && expect_int64(&node, out, err);
}

bool json_opt_int64(const struct json_node *parent, const char *key, int64_t fallback,
	int64_t *out, struct json_error *err)
{
	struct json_node node;
	bool found = false;
	*out = fallback;
	if (!lookup(parent, key, &node, &found, err)) {
		return false;
	}
	return !found || expect_int64(&node, out, err);
}

bool json_req_bool(const struct json_node *parent, const char *key, bool *out,
	struct json_error *err)
{
	struct json_node node;
	return require(parent, key, &node, err) && expect_bool(&node, out, err);
}

bool json_opt_bool(const struct json_node *parent, const char *key, bool fallback, bool *out,
	struct json_error *err)
{
	struct json_node node;
	bool found = false;
	*out = fallback;
	if (!lookup(parent, key, &node, &found, err)) {
		return false;
	}
	return !found || expect_bool(&node, out, err);
}

static bool get_typed(const struct json_node *parent, const char *key, struct json_node *out,
	bool required, bool *present, enum json_type type, const char *want,
	struct json_error *err)
{
	bool found = false;
	if (present) {
		*present = false;
	}
	if (required ? !require(parent, key, out, err) : !lookup(parent, key, out, &found, err)) {
		return false;
	}
	if (!required && !found) {
		return true;
	}
	if (!json_object_is_type(out->obj, type)) {
		return type_error(err, out, want);
	}
	if (present) {
		*present = true;
	}
	return true;
}

bool json_req_object(const struct json_node *parent, const char *key, struct json_node *out,
	struct json_error *err)
{
	return get_typed(parent, key, out, true, NULL, json_type_object, "an object", err);
}

bool json_opt_object(const struct json_node *parent, const char *key, struct json_node *out,
	bool *present, struct json_error *err)
{
	return get_typed(parent, key, out, false, present, json_type_object, "an object", err);
}

bool json_req_array(const struct json_node *parent, const char *key, struct json_node *out,
	struct json_error *err)
{
	return get_typed(parent, key, out, true, NULL, json_type_array, "an array", err);
}

bool json_opt_array(const struct json_node *parent, const char *key, struct json_node *out,
	bool *present, struct json_error *err)
{
	return get_typed(parent, key, out, false, present, json_type_array, "an array", err);
}

size_t json_array_len(const struct json_node *array)
{
	if (!json_object_is_type(array->obj, json_type_array)) {
		return 0;
	}
	return json_object_array_length(array->obj);
}

void json_array_at(const struct json_node *array, size_t i, struct json_node *out)
{
	out->obj = json_object_array_get_idx(array->obj, i);
	out->parent = array;
	out->key = NULL;
	out->index = i;
}

bool json_array_object(const struct json_node *array, size_t i, struct json_node *out,
	struct json_error *err)
{
	json_array_at(array, i, out);
	return json_expect_object(out, err);
}

bool json_array_string(const struct json_node *array, size_t i, const char **out,
	struct json_error *err)
{
	struct json_node node;
	json_array_at(array, i, &node);
	return json_expect_string(&node, out, err);
}
