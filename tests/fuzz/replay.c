/*
 * Runs a fuzz target over files, as the default test suite's replay of the committed corpus
 * and of every input that once made a target fail: each argument is a directory whose files
 * are fed to LLVMFuzzerTestOneInput one by one. A file that breaks a check aborts the
 * program (and sanitizers report memory errors), so the test fails on it. TAP, one line per
 * file; a directory that does not exist or holds no files fails, so that a moved corpus
 * cannot pass unnoticed, unless it follows --optional (a target that never failed has no
 * regressions).
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int count;
static int failed;

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned char *slurp(const char *file, size_t *size)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		return NULL;
	}
	size_t cap = 4096, len = 0;
	unsigned char *buf = malloc(cap);
	if (!buf) {
		abort();
	}
	size_t n;
	while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf) {
				abort();
			}
		}
	}
	bool broken = ferror(f);
	fclose(f);
	if (broken) {
		free(buf);
		return NULL;
	}
	*size = len;
	return buf;
}

/* The file names in dir, sorted, for a stable order; NULL when dir cannot be read. */
static char **list(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d) {
		return NULL;
	}
	char **names = NULL;
	size_t cap = 0;
	*n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') {
			continue;
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			char **grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				abort();
			}
			names = grown;
		}
		names[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	if (*n > 0) {
		qsort(names, *n, sizeof(*names), by_name);
	}
	return names;
}

static void replay_dir(const char *dir, bool optional)
{
	size_t n = 0;
	char **names = list(dir, &n);
	if ((!names || n == 0) && optional) {
		printf("# %s: no inputs\n", dir);
		free(names);
		return;
	}
	if (!names || n == 0) {
		failed++;
		printf("not ok %d - %s holds no inputs: pass a directory with files in it\n", ++count,
			dir);
		free(names);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char file[4096];
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		size_t size = 0;
		unsigned char *data = slurp(file, &size);
		if (!data) {
			failed++;
			printf("not ok %d - cannot read '%s'\n", ++count, file);
		} else {
			// Flushed first: an abort in the target then names the file it was given.
			printf("# %s\n", file);
			fflush(stdout);
			LLVMFuzzerTestOneInput(data, size);
			printf("ok %d - %s\n", ++count, file);
		}
		free(data);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIRECTORY... [--optional DIRECTORY...]\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	bool optional = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--optional") == 0) {
			optional = true;
		} else {
			replay_dir(argv[i], optional);
		}
	}
	printf("1..%d\n", count);
	return failed ? 1 : 0;
}
