/*
 * The configuration loader, through the file it reads: each input is written to a private
 * file of mode 0600 (so that inline secrets are allowed) and loaded with conf_load.
 *
 * Inputs that could reach outside the file are skipped, so that a run depends on its input
 * alone: libconfig's @include reads other files, and a *_command secret names a shell
 * command (conf_load only records it today, but the loader's contract lets it check that
 * the command runs). The environment the loader reads for its defaults is fixed at start.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

static char path[64];

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	setenv("HOME", "/nonexistent", 1);
	unsetenv("XDG_STATE_HOME");
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("REFTY_LEVER_CONFIG");
	snprintf(path, sizeof(path), "/tmp/fuzz-config-XXXXXX");
	int fd = mkstemp(path); // 0600
	if (fd < 0) {
		perror("cannot create the fuzz config file in /tmp");
		exit(1);
	}
	close(fd);
	atexit(remove_file);
	return 0;
}

static bool mentions(const uint8_t *data, size_t size, const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i + n <= size; i++) {
		if (strncasecmp((const char *)data + i, word, n) == 0) {
			return true;
		}
	}
	return false;
}

/* What a loaded configuration promises its users. */
static void check(const struct config *cfg)
{
	FUZZ_CHECK(cfg->path && strcmp(cfg->path, path) == 0);
	FUZZ_CHECK(cfg->state && cfg->lever.url && cfg->refty.url);
	FUZZ_CHECK(cfg->lever.key.source != SECRET_NONE || cfg->lever.oauth.enabled);
	FUZZ_CHECK(!cfg->lever.oauth.enabled || cfg->lever.oauth.client_id);
	FUZZ_CHECK(cfg->refty.key.source != SECRET_NONE && cfg->refty.key.ref);
	FUZZ_CHECK(cfg->lever.burst >= 0 && cfg->lever.max_in_flight >= 0);
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct config_rule *r = &cfg->rules[i];
		FUZZ_CHECK(r->name && r->sequence);
		FUZZ_CHECK(r->n_jobs == 0 || r->jobs);
		for (size_t j = 0; j < r->n_jobs; j++) {
			FUZZ_CHECK(r->jobs[j]);
		}
		for (size_t j = 0; j < r->n_stages; j++) {
			FUZZ_CHECK(r->stages[j].refty && r->stages[j].lever);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (mentions(data, size, "@include") || mentions(data, size, "_command")) {
		return -1; // not kept in the corpus
	}
	FILE *f = fopen(path, "w");
	if (!f) {
		perror("cannot write the fuzz config file");
		abort();
	}
	if (size && fwrite(data, 1, size, f) != size) {
		perror("cannot write the fuzz config file");
		abort();
	}
	if (fclose(f) != 0) {
		perror("cannot write the fuzz config file");
		abort();
	}
	struct config *cfg = conf_load(path);
	if (cfg) {
		check(cfg);
	}
	conf_destroy(cfg);
	return 0;
}
