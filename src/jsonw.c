#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void jsonw_init(struct jsonw *w, struct strbuf *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->first[0] = true;
}

/* Emits the comma between members or elements, except right after a key. */
static void separate(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth]) {
		strbuf_puts(w->out, ",");
	}
	w->first[w->depth] = false;
}

static void open(struct jsonw *w, const char *bracket)
{
	separate(w);
	strbuf_puts(w->out, bracket);
	if (w->depth + 1 < JSONW_MAX_DEPTH) {
		w->depth++;
	}
	w->first[w->depth] = true;
}

static void close_(struct jsonw *w, const char *bracket)
{
	strbuf_puts(w->out, bracket);
	if (w->depth > 0) {
		w->depth--;
	}
}

void jsonw_object_begin(struct jsonw *w)
{
	open(w, "{");
}

void jsonw_object_end(struct jsonw *w)
{
	close_(w, "}");
}

void jsonw_array_begin(struct jsonw *w)
{
	open(w, "[");
}

void jsonw_array_end(struct jsonw *w)
{
	close_(w, "]");
}

void jsonw_quote(struct strbuf *out, const char *s)
{
	strbuf_puts(out, "\"");
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *run = p;
	for (; *p; p++) {
		const char *esc = NULL;
		char hex[8];
		switch (*p) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(hex, sizeof(hex), "\\u%04x", *p);
				esc = hex;
			}
		}
		if (esc) {
			strbuf_append(out, (const char *)run, (size_t)(p - run));
			strbuf_puts(out, esc);
			run = p + 1;
		}
	}
	strbuf_append(out, (const char *)run, (size_t)(p - run));
	strbuf_puts(out, "\"");
}

void jsonw_key(struct jsonw *w, const char *key)
{
	separate(w);
	jsonw_quote(w->out, key);
	strbuf_puts(w->out, ":");
	w->after_key = true;
}

void jsonw_string(struct jsonw *w, const char *s)
{
	separate(w);
	if (s) {
		jsonw_quote(w->out, s);
	} else {
		strbuf_puts(w->out, "null");
	}
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	separate(w);
	strbuf_printf(w->out, "%" PRId64, v);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	separate(w);
	strbuf_puts(w->out, v ? "true" : "false");
}

void jsonw_null(struct jsonw *w)
{
	separate(w);
	strbuf_puts(w->out, "null");
}

void jsonw_line_begin(struct jsonw *w, struct strbuf *buf)
{
	strbuf_init(buf);
	jsonw_init(w, buf);
	jsonw_object_begin(w);
}

void jsonw_line_end(struct jsonw *w, FILE *out)
{
	jsonw_object_end(w);
	fputs(w->out->data, out);
	fputc('\n', out);
	strbuf_finish(w->out);
}

void jsonw_kv_string(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_string(w, s);
}

void jsonw_kv_int(struct jsonw *w, const char *key, int64_t v)
{
	jsonw_key(w, key);
	jsonw_int(w, v);
}

void jsonw_kv_bool(struct jsonw *w, const char *key, bool v)
{
	jsonw_key(w, key);
	jsonw_bool(w, v);
}
