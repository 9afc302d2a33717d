#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "tap.h"

static struct json_object *parse(const char *text)
{
	struct json_error err;
	struct json_object *root = json_parse(text, strlen(text), &err);
	if (!root) {
		printf("# unexpected parse error: %s\n", err.text);
	}
	return root;
}

static void test_parse_errors(void)
{
	static const struct {
		const char *text;
		size_t offset;
		const char *prefix;
	} cases[] = {
		{"{\"a\": 1", 7, "invalid JSON at byte 7: unexpected end of input"},
		{"", 0, "invalid JSON at byte 0: unexpected end of input"},
		{"{\"a\": tru}", 9, "invalid JSON at byte 9"},
		{"{\"a\": 1} x", 9, "invalid JSON at byte 9: trailing data after the document"},
		{"{\"a\": 1}{}", 8, "invalid JSON at byte 8: trailing data after the document"},
		{"{\"a\": 1,}", 8, "invalid JSON at byte 8"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_error err;
		struct json_object *root = json_parse(cases[i].text, strlen(cases[i].text), &err);
		char what[128];
		snprintf(what, sizeof(what), "parse error for case %zu", i);
		ok(root == NULL, what);
		json_free(root);
		ok(strncmp(err.text, cases[i].prefix, strlen(cases[i].prefix)) == 0, err.text);
		is_int(err.offset, cases[i].offset, "error offset");
	}

	struct json_error err;
	// A raw NUL or bad UTF-8 inside a string spoils that value, not the document.
	struct json_node r, v;
	const char *str;
	const char with_nul[] = "{\"a\": \"x\0y\", \"b\": \"ok\"}";
	struct json_object *doc = json_parse(with_nul, sizeof(with_nul) - 1, &err);
	ok(doc != NULL, "a raw NUL inside a string leaves the document readable");
	json_root(&r, doc);
	ok(!json_req_string(&r, "a", &str, &err), "the string with a raw NUL is refused");
	is_str(err.text, "a: contains a NUL character", "raw NUL message");
	ok(json_req_string(&r, "b", &str, &err) && strcmp(str, "ok") == 0, "its neighbour reads");
	json_free(doc);

	const char nul_outside[] = "{\"a\": 1\0}";
	ok(json_parse(nul_outside, sizeof(nul_outside) - 1, &err) == NULL,
		"a raw NUL outside a string is invalid JSON");

	const char escaped_nul[] = "{\"a\": \"x\\u0000y\"}";
	doc = json_parse(escaped_nul, strlen(escaped_nul), &err);
	json_root(&r, doc);
	ok(doc && !json_req_string(&r, "a", &str, &err), "an escaped NUL is refused, not truncated");
	json_free(doc);

	const char bad_utf8[] = "{\"a\": [\"\xff\"]}";
	doc = json_parse(bad_utf8, strlen(bad_utf8), &err);
	ok(doc != NULL, "invalid UTF-8 inside a string leaves the document readable");
	json_root(&r, doc);
	ok(json_req_array(&r, "a", &v, &err) && !json_array_string(&v, 0, &str, &err),
		"the string with invalid UTF-8 is refused");
	is_str(err.text, "a[0]: is not valid UTF-8", "invalid UTF-8 message");
	json_free(doc);

	static const struct {
		const char *bytes;
		bool valid;
	} utf8[] = {
		{"plain ascii", true},
		{"caf\xc3\xa9", true},
		{"\xe2\x82\xac \xf0\x9f\x98\x80", true},
		{"\xc0\xaf", false},         // overlong '/'
		{"\xed\xa0\x80", false},     // a UTF-16 surrogate
		{"\xf4\x90\x80\x80", false}, // past U+10FFFF
		{"\xe2\x82", false},         // cut short
		{"\x80", false},             // a lone continuation byte
	};
	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++) {
		char what[64];
		snprintf(what, sizeof(what), "UTF-8 case %zu", i);
		ok(json_utf8_valid(utf8[i].bytes, strlen(utf8[i].bytes)) == utf8[i].valid, what);
	}

	// Only len bytes count: what follows is not part of the document.
	const char *prefix = "{\"a\": 1}garbage";
	struct json_object *root = json_parse(prefix, 8, &err);
	ok(root != NULL, "length bounds the input");
	json_free(root);

	root = json_parse("  {\"a\": [1, 2]}\n", 16, &err);
	ok(root != NULL, "surrounding whitespace accepted");
	json_free(root);
}

static void test_getters(void)
{
	struct json_object *root = parse("{"
					 "\"s\": \"text\", \"empty\": \"\", \"n\": null,"
					 "\"i\": 1767830401234, \"neg\": -5, \"f\": 1.5, \"e\": 1e3,"
					 "\"si\": \"12\", \"b\": true, \"o\": {\"x\": 1}, \"a\": [1, \"two\"],"
					 "\"big\": 9223372036854775807, \"huge\": 18446744073709551615"
					 "}");
	struct json_node top;
	json_root(&top, root);
	struct json_error err;
	const char *s;
	int64_t i;
	bool b;
	struct json_node node;
	bool present;

	ok(json_req_string(&top, "s", &s, &err), "required string");
	is_str(s, "text", "string value");
	ok(json_req_string(&top, "empty", &s, &err), "empty string is a string");
	is_str(s, "", "empty string value");
	ok(!json_req_string(&top, "missing", &s, &err), "missing required string");
	is_str(err.text, "missing: missing", "missing message");
	ok(!json_req_string(&top, "n", &s, &err), "null required string");
	is_str(err.text, "n: must not be null", "null message");
	ok(!json_req_string(&top, "i", &s, &err), "integer is not a string");
	is_str(err.text, "i: expected a string, got integer", "type message");

	ok(json_opt_string(&top, "missing", &s, &err) && s == NULL, "optional string missing");
	ok(json_opt_string(&top, "n", &s, &err) && s == NULL, "optional string null");
	ok(!json_opt_string(&top, "b", &s, &err), "optional string of the wrong type");
	is_str(err.text, "b: expected a string, got boolean", "optional type message");

	ok(json_req_int64(&top, "i", &i, &err), "required integer");
	is_int(i, INT64_C(1767830401234), "13-digit milliseconds");
	ok(json_req_int64(&top, "neg", &i, &err) && i == -5, "negative integer");
	ok(json_req_int64(&top, "big", &i, &err) && i == INT64_MAX, "INT64_MAX");
	ok(!json_req_int64(&top, "huge", &i, &err), "beyond int64 refused");
	is_str(err.text, "huge: integer out of range", "range message");
	ok(!json_req_int64(&top, "f", &i, &err), "float refused");
	is_str(err.text, "f: expected an integer, got a non-integer number", "float message");
	ok(!json_req_int64(&top, "e", &i, &err), "exponent form refused");
	ok(!json_req_int64(&top, "si", &i, &err), "numeric string refused");
	is_str(err.text, "si: expected an integer, got string", "string message");
	ok(json_opt_int64(&top, "n", -1, &i, &err) && i == -1, "optional integer null");
	ok(json_opt_int64(&top, "missing", -2, &i, &err) && i == -2, "optional integer missing");
	ok(!json_opt_int64(&top, "s", -3, &i, &err), "optional integer of the wrong type");

	ok(json_req_bool(&top, "b", &b, &err) && b, "required boolean");
	ok(!json_req_bool(&top, "i", &b, &err), "integer is not a boolean");
	is_str(err.text, "i: expected a boolean, got integer", "boolean message");
	ok(json_opt_bool(&top, "missing", true, &b, &err) && b, "optional boolean fallback");

	ok(json_req_object(&top, "o", &node, &err), "required object");
	ok(json_req_int64(&node, "x", &i, &err) && i == 1, "member of nested object");
	ok(!json_req_object(&top, "a", &node, &err), "array is not an object");
	is_str(err.text, "a: expected an object, got array", "object message");
	ok(json_opt_object(&top, "n", &node, &present, &err) && !present, "optional object null");
	ok(json_opt_object(&top, "o", &node, &present, &err) && present, "optional object present");

	ok(json_req_array(&top, "a", &node, &err), "required array");
	is_int(json_array_len(&node), 2, "array length");
	ok(!json_array_string(&node, 0, &s, &err), "element of the wrong type");
	is_str(err.text, "a[0]: expected a string, got integer", "element message");
	ok(json_array_string(&node, 1, &s, &err), "string element");
	is_str(s, "two", "string element value");
	struct json_node elem;
	ok(!json_array_object(&node, 1, &elem, &err), "string element is not an object");
	is_str(err.text, "a[1]: expected an object, got string", "element object message");
	ok(json_opt_array(&top, "missing", &node, &present, &err) && !present,
		"optional array missing");
	ok(!json_opt_array(&top, "o", &node, &present, &err), "object is not an array");

	ok(json_has(&top, "n"), "json_has sees a null member");
	ok(!json_has(&top, "missing"), "json_has misses a missing member");

	// A getter on a parent that is not an object reports the parent.
	struct json_node s_node;
	ok(json_get(&top, "s", &s_node, &err), "json_get");
	ok(!json_req_string(&s_node, "x", &s, &err), "member of a string");
	is_str(err.text, "s: expected an object, got string", "parent type message");
	json_free(root);
}

static void test_paths(void)
{
	struct json_object *root = parse("{\"data\": [{}, {\"stageChanges\": [{}, {}, "
					 "{\"updatedAt\": \"soon\"}]}]}");
	struct json_node top, data, opp, changes, change;
	json_root(&top, root);
	struct json_error err;
	int64_t i;
	ok(json_req_array(&top, "data", &data, &err), "data");
	ok(json_array_object(&data, 1, &opp, &err), "data[1]");
	ok(json_req_array(&opp, "stageChanges", &changes, &err), "stageChanges");
	ok(json_array_object(&changes, 2, &change, &err), "stageChanges[2]");
	ok(!json_req_int64(&change, "updatedAt", &i, &err), "mistyped leaf");
	is_str(err.text, "data[1].stageChanges[2].updatedAt: expected an integer, got string",
		"full path of a mistyped leaf");
	ok(!json_req_string(&change, "toStageId", &(const char *){NULL}, &err), "missing leaf");
	is_str(err.text, "data[1].stageChanges[2].toStageId: missing", "full path of a missing leaf");

	char path[64];
	json_path(&top, path, sizeof(path));
	is_str(path, "(root)", "root path");
	json_path(&change, path, sizeof(path));
	is_str(path, "data[1].stageChanges[2]", "element path");
	json_path(&change, path, 10);
	is_str(path, "data[1].s", "truncated path");

	ok(!json_fail(&err, &change, "bad value %d", 7), "json_fail returns false");
	is_str(err.text, "data[1].stageChanges[2]: bad value 7", "json_fail message");

	struct json_node elem;
	json_array_at(&data, 0, &elem);
	ok(json_is_object(&elem) && !json_is_null(&elem), "json_array_at");
	json_free(root);

	root = parse("[1]");
	json_root(&top, root);
	ok(!json_req_array(&top, "data", &data, &err), "root that is not an object");
	is_str(err.text, "(root): expected an object, got array", "root type message");
	json_free(root);
}

static const struct json_keep inner[] = {{"keep", NULL}, {NULL, NULL}};
static const struct json_keep members[] = {{"id", NULL}, {"list", inner}, {NULL, NULL}};

static bool split(const char *text, struct json_split *s)
{
	return json_split(text, strlen(text), "data", members, s);
}

static void test_split(void)
{
	struct json_split s;
	const char *page = "{\"hasNext\": true, \"data\": [ {\"id\": \"a\", \"drop\": {\"x\": [1, 2.5,"
			   " null]}, \"list\": [{\"keep\": 1, \"drop\": \"\\u00e9\"}, 7], \"id\": \"b\"},"
			   " 3 ], \"next\": \"t\"}";
	ok(split(page, &s), "a plain page splits");
	is_int(s.n, 2, "two elements");
	struct json_object *obj = json_split_element(&s, 0);
	struct json_node root, list, first;
	json_root(&root, obj);
	const char *id = NULL;
	int64_t v = 0;
	ok(obj && json_req_string(&root, "id", &id, &(struct json_error){0}), "kept member read");
	is_str(id, "b", "a repeated member reads as its last, as in the whole document");
	ok(!json_has(&root, "drop"), "a member not kept is not built");
	ok(json_req_array(&root, "list", &list, &(struct json_error){0}) &&
			json_array_object(&list, 0, &first, &(struct json_error){0}) &&
			json_req_int64(&first, "keep", &v, &(struct json_error){0}) && v == 1 &&
			!json_has(&first, "drop") && json_array_len(&list) == 2,
		"an array's objects are kept as the list says");
	json_free(obj);
	obj = json_split_element(&s, 1);
	// json-c cannot tell that a number at the end of its input has ended.
	ok(obj == NULL, "a number element is left to the whole document's parse");
	json_free(obj);
	json_root(&root, s.rest);
	ok(json_req_string(&root, "next", &id, &(struct json_error){0}) && strcmp(id, "t") == 0,
		"the rest of the page is parsed");
	json_split_finish(&s);

	// Whatever a split cannot vouch for is left to the whole document's parse.
	static const char *const whole[] = {
		"{\"data\": [{\"id\": \"a\", \"drop\": tru}]}",
		"{\"data\": [{\"id\": \"a\", \"drop\": [1,]}]}",
		"{\"data\": [{\"\\u0069d\": \"a\"}]}",
		"{\"data\": [{\"id\": \"a\", \"drop\": 1e3}]}",
		"{\"data\": [{\"id\": \"a\", \"drop\": \"\\ud800\"}]}",
		"{\"data\": [{\"id\": \"a\", \"drop\": 12345678901234567890}]}",
		"{\"data\": [{\"id\": \"a\", \"drop\": 01}]}",
		"{\"data\": [{\"id\": \"a\", \"drop\": \"\t\"}]}",
		"{\"data\": [{\"id\": \"a\"} /* c */]}",
		"{\"data\": [], \"data\": [{\"id\": \"a\"}]}",
		"{\"data\": {}}",
		"{\"next\": 1}",
		"{\"data\": [{\"id\": \"a\"}]} x",
		"{\"data\": [{\"id\": \"a\"}], \"next\": tru}",
	};
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
		char what[160];
		snprintf(what, sizeof(what), "not split: %s", whole[i]);
		ok(!split(whole[i], &s) && s.n == 0 && !s.rest, what);
	}
}

int main(void)
{
	test_parse_errors();
	test_split();
	test_getters();
	test_paths();
	return tap_done();
}
