/* The OAuth token file: what it keeps, that it is private and replaced whole, what it
 * refuses to read; and the token lock between two processes, whose wait is bounded. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lever.h"
#include "log.h"
#include "tap.h"
#include "tokens.h"
#include "xalloc.h"

static char *dir;

static int mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Entries of dir other than "." and "..". */
static int count_entries(void)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	}
	if (d) {
		closedir(d);
	}
	return n;
}

static void test_path(void)
{
	char *p = token_file_path("/var/lib/refty-lever/state.db");
	is_str(p, "/var/lib/refty-lever/state.db.tokens", "beside the state database");
	free(p);
}

static void test_round_trip(void)
{
	char *path = xasprintf("%s/state.db.tokens", dir);
	struct lever_tokens got;
	is_int(token_file_load(path, &got), 0, "no file: nothing stored");
	ok(got.access_token == NULL && got.refresh_token == NULL, "nothing filled in");

	struct lever_tokens t = {
		.access_token = (char[]){"access-1"},
		.refresh_token = (char[]){"refresh-\"1\"\\"},
		.expires_at = INT64_C(1900000000123),
		.account = (char[]){"acct"},
		.scope = (char[]){"offline_access stages:read:admin"},
	};
	int64_t before = (int64_t)time(NULL) * 1000;
	ok(token_file_save(path, &t), "save");
	is_int(mode_of(path), 0600, "file is 0600");
	is_int(count_entries(), 1, "no temporary file left");
	is_int(token_file_load(path, &got), 1, "load");
	is_str(got.access_token, "access-1", "access token");
	is_str(got.refresh_token, "refresh-\"1\"\\", "refresh token, escaped and back");
	is_int(got.expires_at, INT64_C(1900000000000), "expiry in ms, kept to the second");
	is_str(got.account, "acct", "account");
	is_str(got.scope, "offline_access stages:read:admin", "scope");
	ok(got.updated_at >= before && got.updated_at <= (int64_t)time(NULL) * 1000, "stored now, in ms");
	lever_tokens_finish(&got);
	ok(got.access_token == NULL && got.refresh_token == NULL && got.expires_at == 0,
		"finish leaves the struct empty");

	// A rotation replaces the whole pair; absent fields read as absent.
	struct lever_tokens rotated = {.access_token = (char[]){"access-2"}, .expires_at = 5};
	ok(token_file_save(path, &rotated), "save the rotated pair over it");
	is_int(token_file_load(path, &got), 1, "load again");
	is_str(got.access_token, "access-2", "new access token");
	ok(got.refresh_token == NULL && got.account == NULL && got.scope == NULL,
		"nothing of the old pair left");
	lever_tokens_finish(&got);
	is_int(count_entries(), 1, "still one file");

	struct lever_tokens none = {.refresh_token = (char[]){"r"}};
	ok(!token_file_save(path, &none), "a pair without an access token is refused");

	ok(token_file_delete(path), "delete");
	is_int(token_file_load(path, &got), 0, "gone");
	ok(token_file_delete(path), "deleting a missing file is fine");

	char *nowhere = xasprintf("%s/missing/state.db.tokens", dir);
	ok(!token_file_save(nowhere, &t), "a missing directory is an error");
	free(nowhere);
	free(path);
}

/* Files written before the in-memory times became milliseconds read the same. */
static void test_seconds_on_disk(void)
{
	char *path = xasprintf("%s/old.tokens", dir);
	write_file(path, "{\"version\": 1, \"access_token\": \"a\", \"refresh_token\": \"r\", "
			 "\"expires_at\": 1900000000, \"account\": null, \"scope\": null, "
			 "\"updated_at\": 1800000000}\n");
	struct lever_tokens got;
	is_int(token_file_load(path, &got), 1, "a file of the current format loads");
	is_int(got.expires_at, INT64_C(1900000000000), "its expiry in seconds reads as ms");
	is_int(got.updated_at, INT64_C(1800000000000), "its store time in seconds reads as ms");
	ok(token_file_save(path, &got), "and is written back");
	lever_tokens_finish(&got);
	FILE *f = fopen(path, "r");
	char text[512] = {0};
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f) {
		fclose(f);
	}
	text[n] = '\0';
	ok(strstr(text, "\"expires_at\":1900000000,") != NULL, "in seconds, as before");
	unlink(path);
	free(path);
}

static void test_refused(void)
{
	static const struct {
		const char *text;
		const char *what;
	} cases[] = {
		{"", "an empty file"},
		{"{\"version\": 1, \"access_token\": \"a\"", "a truncated file"},
		{"[1, 2]", "not an object"},
		{"{\"version\": 2, \"access_token\": \"a\"}", "a newer format"},
		{"{\"access_token\": \"a\"}", "no version"},
		{"{\"version\": 1}", "no access token"},
		{"{\"version\": 1, \"access_token\": 7}", "an access token that is not a string"},
		{"{\"version\": 1, \"access_token\": \"a\", \"expires_at\": \"soon\"}",
			"an expiry that is not a number"},
		{"{\"version\": 1, \"access_token\": \"a\", \"expires_at\": 9223372036854775807}",
			"an expiry too far out for a millisecond clock"},
	};
	char *path = xasprintf("%s/bad.tokens", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(path, cases[i].text);
		struct lever_tokens got;
		is_int(token_file_load(path, &got), -1, cases[i].what);
		ok(got.access_token == NULL, "and nothing filled in");
	}
	char *big = xmalloc(100 * 1024);
	memset(big, ' ', 100 * 1024 - 1);
	big[100 * 1024 - 1] = '\0';
	write_file(path, big);
	free(big);
	struct lever_tokens got;
	is_int(token_file_load(path, &got), -1, "a file far larger than any pair");
	unlink(path);
	free(path);
}

static void test_lock(void)
{
	char *path = xasprintf("%s/state.db.tokens", dir);
	int ready[2];
	if (pipe(ready) != 0) {
		return;
	}
	pid_t child = fork();
	if (child == 0) {
		close(ready[0]);
		struct token_lock *lock = token_lock_acquire(path, 1000);
		char c = lock ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1) {
			_exit(2);
		}
		pause(); // hold the lock until killed
		_exit(0);
	}
	close(ready[1]);
	char c = 0;
	ok(read(ready[0], &c, 1) == 1 && c == 'y', "one process takes the lock");
	char *lock_path = xasprintf("%s.lock", path);
	is_int(mode_of(lock_path), 0600, "lock file is 0600");

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct token_lock *lock = token_lock_acquire(path, 300);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ok(lock == NULL, "another waits, then gives up");
	ok(waited >= 0.29 && waited < 5, "after the time it was given");

	// Released when the holder dies, as a crash mid-refresh would.
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	lock = token_lock_acquire(path, 1000);
	ok(lock != NULL, "free once the holder died");
	token_lock_release(lock);
	lock = token_lock_acquire(path, 0);
	ok(lock != NULL, "and again after a release");
	token_lock_release(lock);
	token_lock_release(NULL);
	close(ready[0]);
	unlink(lock_path);
	free(lock_path);
	free(path);
}

int main(void)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	char tmpl[] = "/tmp/refty-lever-tokens-XXXXXX";
	dir = mkdtemp(tmpl);
	ok(dir != NULL, "temporary directory");
	if (!dir) {
		return tap_done();
	}
	test_path();
	test_round_trip();
	test_seconds_on_disk();
	test_refused();
	test_lock();
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", dir);
	}
	free(cmd);
	return tap_done();
}
