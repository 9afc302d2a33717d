#include "confscan.h"

#include <stdlib.h>
#include <string.h>

#include "number.h"
#include "xalloc.h"

void confscan_finish(struct confscan *sc)
{
	for (size_t i = 0; i < sc->n_includes; i++) {
		free(sc->includes[i].path);
	}
	free(sc->includes);
	for (size_t i = 0; i < sc->n_bigs; i++) {
		free(sc->bigs[i].text);
	}
	free(sc->bigs);
	memset(sc, 0, sizeof(*sc));
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Part of a libconfig name, or of a number that is not a decimal integer (1.5, 0x1f). */
static bool word_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' ||
	       ch == '-' || ch == '*' || ch == '.';
}

/* Skips the number at text[i]; records it when it is an integer that does not fit in 64 bits. */
static size_t scan_number(const char *text, size_t len, size_t i, int line, struct confscan *sc)
{
	size_t start = i;
	if (text[i] == '-' || text[i] == '+') {
		i++;
	}
	while (i < len && is_digit(text[i])) {
		i++;
	}
	if (i < len && (text[i] == '.' || text[i] == 'e' || text[i] == 'E' || text[i] == 'x' ||
			       text[i] == 'X')) {
		return i; // a float or a hexadecimal number: the rest is skipped as a word
	}
	char *lit = xstrndup(text + start, i - start);
	int64_t ignored;
	if (number_parse(lit[0] == '+' ? lit + 1 : lit, INT64_MIN, INT64_MAX, &ignored) != NUMBER_OK) {
		sc->bigs = xrealloc(sc->bigs, (sc->n_bigs + 1) * sizeof(*sc->bigs));
		sc->bigs[sc->n_bigs++] = (struct confscan_big){line, lit};
	} else {
		free(lit);
	}
	return i;
}

static bool blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Reads the quoted path of a directive from text[*i] (just past the opening quote). */
static bool include_path(const char *text, size_t len, size_t *i, int *line,
	struct confscan *sc)
{
	struct strbuf path;
	strbuf_init(&path);
	int start = *line;
	size_t k = *i;
	for (; k < len && text[k] != '"'; k++) {
		char ch = text[k];
		if (ch == '\\') {
			if (k + 1 >= len || (text[k + 1] != '\\' && text[k + 1] != '"')) {
				sc->error = "a backslash in an @include path may only escape \\ or \"";
				break;
			}
			ch = text[++k];
		} else if (ch == '\0') {
			sc->error = "a NUL byte in an @include path";
			break;
		} else if (ch == '\n') {
			(*line)++;
		}
		strbuf_append(&path, &ch, 1);
	}
	if (!sc->error && k >= len) {
		sc->error = "the @include path has no closing quote";
	}
	if (sc->error || !path.data) {
		sc->error = sc->error ? sc->error : "an empty @include path";
		sc->error_line = start;
		strbuf_finish(&path);
		return false;
	}
	sc->includes = xrealloc(sc->includes, (sc->n_includes + 1) * sizeof(*sc->includes));
	sc->includes[sc->n_includes++] = (struct confscan_include){start, strbuf_steal(&path)};
	*i = k + 1;
	return true;
}

/* Skips what the directive scan must not look into: comments and strings. */
static size_t skip_inert(const char *text, size_t len, size_t i, int *line)
{
	if (text[i] == '#' || (text[i] == '/' && i + 1 < len && text[i + 1] == '/')) {
		while (i < len && text[i] != '\n') {
			i++;
		}
		return i;
	}
	if (text[i] == '/' && i + 1 < len && text[i + 1] == '*') {
		for (i += 2; i < len && !(text[i] == '*' && i + 1 < len && text[i + 1] == '/'); i++) {
			*line += text[i] == '\n';
		}
		return i + 2 < len ? i + 2 : len;
	}
	if (text[i] == '"') {
		for (i++; i < len && text[i] != '"'; i++) {
			if (text[i] == '\\' && i + 1 < len && (text[i + 1] == '"' || text[i + 1] == '\\')) {
				i++;
			}
			*line += text[i] == '\n';
		}
		return i < len ? i + 1 : len;
	}
	return i + 1;
}

bool confscan_run(const char *text, size_t len, struct confscan *sc)
{
	memset(sc, 0, sizeof(*sc));
	int line = 1;
	bool line_start = true;
	size_t i = 0;
	while (i < len) {
		if (line_start) {
			line_start = false;
			size_t j = i;
			while (j < len && blank(text[j])) {
				j++;
			}
			size_t k = j + 8;
			if (len - j > 8 && memcmp(text + j, "@include", 8) == 0 && blank(text[k])) {
				while (k < len && blank(text[k])) {
					k++;
				}
				if (k < len && text[k] == '"') {
					k++;
					if (!include_path(text, len, &k, &line, sc)) {
						return false;
					}
					i = k;
					continue;
				}
			}
		}
		if (text[i] == '\n') {
			line++;
			line_start = true;
			i++;
			continue;
		}
		bool after_word = i > 0 && word_char(text[i - 1]);
		bool number_start = is_digit(text[i]) ||
				    ((text[i] == '-' || text[i] == '+') && i + 1 < len && is_digit(text[i + 1]));
		if (number_start && !after_word) {
			i = scan_number(text, len, i, line, sc);
			continue;
		}
		if (word_char(text[i])) {
			while (i < len && word_char(text[i])) {
				i++;
			}
			continue;
		}
		i = skip_inert(text, len, i, &line);
	}
	return true;
}
