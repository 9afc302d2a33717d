/* The state database: creation with safe permissions, migration, re-open,
 * the journal's once-only insert, and read-only behaviour. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lever.h"
#include "log.h"
#include "snapshot.h"
#include "tap.h"
#include "xalloc.h"

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/refty-lever-snapshot-XXXXXX";
	char *d = mkdtemp(tmpl);
	return d ? xstrdup(d) : NULL;
}

static bool count_cb(void *ud, const struct action *a)
{
	(*(int *)ud)++;
	return true;
}

static void test_create_and_reopen(const char *dir)
{
	char *path = xasprintf("%s/nested/state/state.db", dir);
	struct snapshot *snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	ok(snap != NULL, "creates a database in missing directories");
	if (!snap) {
		free(path);
		return;
	}
	is_int(snapshot_user_version(snap), snapshot_schema_version(), "schema at current version");

	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "database file is 0600");
	char *parent = xasprintf("%s/nested/state", dir);
	ok(stat(parent, &st) == 0 && (st.st_mode & 0777) == 0700, "created directory is 0700");
	free(parent);

	struct opportunity_state s = {
		.id = (char[]){"opp-1"},
		.posting_id = (char[]){"post-1"},
		.stage_id = (char[]){"stage-a"},
		.seen_until_ms = 1700000000000,
		.contact = {.name = (char[]){"Ada"}, .email = (char[]){"ada@example.org"}},
		.updated_at = OPP_TIME_NONE,
	};
	ok(snapshot_begin(snap), "begin");
	ok(snapshot_opp_put(snap, &s, 1), "put opportunity");
	ok(snapshot_meta_set(snap, "cursor", "1700000000000"), "set cursor");
	ok(snapshot_commit(snap), "commit");
	snapshot_close(snap);

	snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	ok(snap != NULL, "re-opens");
	struct opportunity_state got;
	is_int(snapshot_opp_get(snap, "opp-1", &got), 1, "opportunity survives re-open");
	is_str(got.stage_id, "stage-a", "stage kept");
	is_str(got.contact.phone, NULL, "null phone kept as null");
	ok(got.updated_at == OPP_TIME_NONE, "null updatedAt kept as null");
	// An unchanged row is not written again; a changed one is.
	bool written = true;
	ok(snapshot_begin(snap) && snapshot_opp_update(snap, &got, &got, 2, &written) && !written,
		"an unchanged row is not rewritten");
	struct opportunity_state moved = got;
	moved.stage_id = (char[]){"stage-b"};
	ok(snapshot_opp_update(snap, &got, &moved, 2, &written) && written, "a changed row is");
	struct opportunity_state fresh = moved;
	fresh.id = (char[]){"opp-2"};
	ok(snapshot_opp_update(snap, NULL, &fresh, 2, &written) && written, "a new row is");
	ok(snapshot_commit(snap), "commit updates");
	opportunity_state_finish(&got);
	is_int(snapshot_opp_get(snap, "opp-1", &got), 1, "updated opportunity read back");
	is_str(got.stage_id, "stage-b", "the changed stage stored");
	opportunity_state_finish(&got);
	ok(snapshot_opp_delete(snap, "opp-2"), "remove the new row again");
	bool err;
	char *cursor = snapshot_meta_get(snap, "cursor", &err);
	is_str(cursor, "1700000000000", "cursor survives re-open");
	free(cursor);
	is_int(snapshot_opp_count(snap), 1, "count");

	// The journal records an intent once, whatever the number of attempts.
	struct action a = {
		.key = (char[]){"lever:opp-1:seq-1:candidate"},
		.kind = ACTION_CREATE_CANDIDATE,
		.state = ACTION_PENDING,
		.opportunity_id = (char[]){"opp-1"},
		.sequence_id = (char[]){"seq-1"},
		.entry_at_ms = OPP_TIME_NONE,
	};
	bool inserted = false;
	ok(snapshot_action_add(snap, &a, &inserted) && inserted, "first intent recorded");
	int64_t first = a.id;
	ok(snapshot_action_add(snap, &a, &inserted) && !inserted, "same key is not recorded twice");
	is_int(a.id, first, "duplicate returns the existing id");
	ok(snapshot_action_update(snap, first, ACTION_FAILED, "422 validation_failed", NULL, true),
		"mark failed");
	int64_t counts[6];
	ok(snapshot_action_counts(snap, counts), "counts");
	is_int(counts[ACTION_FAILED], 1, "one failed");
	is_int(snapshot_actions_requeue(snap, NULL, 0), 1, "retry --all re-queues it");
	int n = 0;
	ok(snapshot_actions_in_state(snap, ACTION_PENDING, count_cb, &n), "list pending");
	is_int(n, 1, "one pending after re-queue");
	struct action back;
	is_int(snapshot_action_get(snap, first, &back), 1, "get by id");
	is_int(back.attempts, 1, "attempt counted");
	is_str(back.key, "lever:opp-1:seq-1:candidate", "key kept");
	action_finish(&back);
	snapshot_close(snap);

	// Read-only mode never writes, and sees the same data.
	snap = snapshot_open(path, SNAPSHOT_READ_ONLY);
	ok(snap != NULL && snapshot_is_read_only(snap), "opens read-only");
	ok(!snapshot_meta_set(snap, "x", "y"), "read-only refuses writes");
	is_int(snapshot_opp_count(snap), 1, "read-only sees the snapshot");
	snapshot_close(snap);
	free(path);
}

static void test_read_only_missing(const char *dir)
{
	char *path = xasprintf("%s/absent/state.db", dir);
	struct snapshot *snap = snapshot_open(path, SNAPSHOT_READ_ONLY);
	ok(snap != NULL, "read-only open of a missing database reads as empty");
	is_int(snapshot_opp_count(snap), 0, "empty");
	snapshot_close(snap);
	ok(access(path, F_OK) != 0, "and creates nothing");
	free(path);
}

static void test_newer_schema_refused(const char *dir)
{
	char *path = xasprintf("%s/future.db", dir);
	struct snapshot *snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	snapshot_close(snap);
	// Simulate a database written by a newer release.
	char *cmd = xasprintf("sqlite3 '%s' 'PRAGMA user_version = 999' 2>/dev/null", path);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0) {
		printf("# sqlite3 shell not available, skipping newer-schema check\n");
		free(path);
		return;
	}
	snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	ok(snap == NULL, "a newer schema is refused, not downgraded");
	snapshot_close(snap);
	snap = snapshot_open(path, SNAPSHOT_READ_ONLY);
	ok(snap == NULL, "and is not read either");
	snapshot_close(snap);
	free(path);
}

static void test_read_plan(void)
{
	is_int(snapshot_read_plan(false, false), SNAPSHOT_READ_SHARED, "shared reading when it works");
	is_int(snapshot_read_plan(false, true), SNAPSHOT_READ_SHARED, "whatever the log holds");
	is_int(snapshot_read_plan(true, false), SNAPSHOT_READ_IMMUTABLE,
		"the file alone when the log's files cannot be made and the log is empty");
	is_int(snapshot_read_plan(true, true), SNAPSHOT_READ_REFUSED,
		"refused when the file alone would miss the log's pages");
}

/* The bytes of a file, for comparing before and after; caller frees. */
static char *slurp(const char *path, long *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	*len = ftell(f);
	rewind(f);
	char *buf = xmalloc((size_t)*len + 1);
	size_t got = fread(buf, 1, (size_t)*len, f);
	fclose(f);
	if (got != (size_t)*len) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void test_read_only_changes_nothing(const char *dir)
{
	char *path = xasprintf("%s/reader.db", dir);
	struct snapshot *snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	ok(snap && snapshot_meta_set(snap, "cursor", "1700000000000"), "a database to read");
	snapshot_close(snap);
	long before_len = 0, after_len = 0;
	char *before = slurp(path, &before_len);
	snap = snapshot_open(path, SNAPSHOT_READ_ONLY);
	is_int(snapshot_cursor(snap), 1700000000000, "read-only reads it");
	ok(!snapshot_meta_set(snap, "cursor", "1"), "and cannot write");
	ok(snapshot_last_error(snap) && strstr(snapshot_last_error(snap), path),
		"the refused write is kept for the run's record, naming the file");
	snapshot_close(snap);
	char *after = slurp(path, &after_len);
	ok(before && after && before_len == after_len && memcmp(before, after, (size_t)before_len) == 0,
		"the file is unchanged");
	free(before);
	free(after);
	free(path);
}

static void test_not_a_database(const char *dir)
{
	char *path = xasprintf("%s/a-directory.db", dir);
	mkdir(path, 0700);
	ok(snapshot_open(path, SNAPSHOT_READ_ONLY) == NULL, "a directory is not read");
	ok(snapshot_open(path, SNAPSHOT_READ_WRITE) == NULL, "nor written");
	free(path);

	path = xasprintf("%s/garbage.db", dir);
	FILE *f = fopen(path, "wb");
	for (int i = 0; i < 200; i++) {
		fputs("not an SQLite database at all ", f);
	}
	fclose(f);
	long before_len = 0, after_len = 0;
	char *before = slurp(path, &before_len);
	ok(snapshot_open(path, SNAPSHOT_READ_ONLY) == NULL, "a file that is not a database is refused");
	ok(snapshot_open(path, SNAPSHOT_READ_WRITE) == NULL, "also for writing");
	char *after = slurp(path, &after_len);
	ok(before && after && before_len == after_len && memcmp(before, after, (size_t)before_len) == 0,
		"and left as it was, for restoring or inspection");
	free(before);
	free(after);
	free(path);
}

static void test_migrates_old_file(const char *dir)
{
	// An empty file is a database at version 0: opening migrates it.
	char *path = xasprintf("%s/old.db", dir);
	FILE *f = fopen(path, "w");
	fclose(f);
	chmod(path, 0600);
	struct snapshot *snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	ok(snap != NULL, "opens a version-0 database");
	is_int(snapshot_user_version(snap), snapshot_schema_version(), "migrated to current");
	snapshot_close(snap);
	free(path);
}

static void test_tokens(const char *dir)
{
	// Tokens live in the token file now; the old table is only read to move them out
	// (tested with a real row in tests/integration/test_auth.py).
	char *path = xasprintf("%s/tokens.db", dir);
	struct snapshot *snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	struct lever_tokens got;
	is_int(snapshot_tokens_load(snap, &got), 0, "no tokens in a new database");
	ok(got.access_token == NULL && got.refresh_token == NULL, "nothing filled in");
	ok(snapshot_tokens_delete(snap), "deleting none is fine");
	snapshot_close(snap);
	free(path);
}

static int64_t add_run(struct snapshot *snap, const char *command, int64_t at, int exit_code)
{
	struct run_record r = {.command = xstrdup(command), .started_at = at, .exit_code = -1};
	int64_t id = 0;
	if (snapshot_run_start(snap, &r)) {
		r.finished_at = at + 1000;
		r.exit_code = exit_code;
		id = snapshot_run_finish(snap, &r) ? r.id : 0;
	}
	run_record_finish(&r);
	return id;
}

struct find_run {
	int64_t id;
	int found;
};

static bool find_run_cb(void *ud, const struct run_record *r)
{
	struct find_run *f = ud;
	f->found += r->id == f->id;
	return true;
}

static int run_exists(struct snapshot *snap, int64_t id)
{
	struct find_run f = {id, 0};
	return snapshot_runs_recent(snap, 1000, find_run_cb, &f) ? f.found : -1;
}

/* A watcher records a run every few seconds: runs older than 30 days go, except the last of a
 * command and its last healthy one. */
static void test_old_runs_are_forgotten(const char *dir)
{
	char *path = xasprintf("%s/runs.db", dir);
	struct snapshot *snap = snapshot_open(path, SNAPSHOT_READ_WRITE);
	ok(snap != NULL, "runs: a new database");
	if (snap) {
		int64_t day = 24 * 3600 * 1000LL, now = 1800000000000LL;
		int64_t old_healthy = add_run(snap, "sync", now - 90 * day, 0);
		int64_t old_failed = add_run(snap, "sync", now - 80 * day, 3);
		int64_t recent = add_run(snap, "sync", now - 2 * day, 3);
		int64_t last_webhook = add_run(snap, "webhook", now - 60 * day, 0);
		int64_t fresh = add_run(snap, "sync", now, 3);
		ok(old_healthy && old_failed && recent && last_webhook && fresh, "runs: recorded");
		ok(run_exists(snap, old_healthy), "runs: the last healthy sync is kept, however old");
		ok(!run_exists(snap, old_failed), "runs: an old failed run is forgotten");
		ok(run_exists(snap, recent), "runs: a recent run is kept");
		ok(run_exists(snap, last_webhook), "runs: the last run of a command is kept");
		ok(run_exists(snap, fresh), "runs: the new run");
		snapshot_close(snap);
	}
	free(path);
}

int main(void)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	char *dir = tmpdir();
	ok(dir != NULL, "temporary directory");
	if (dir) {
		test_create_and_reopen(dir);
		test_read_only_missing(dir);
		test_newer_schema_refused(dir);
		test_read_plan();
		test_read_only_changes_nothing(dir);
		test_not_a_database(dir);
		test_migrates_old_file(dir);
		test_tokens(dir);
		test_old_runs_are_forgotten(dir);
		char *cmd = xasprintf("rm -rf '%s'", dir);
		if (system(cmd) != 0) {
			printf("# could not remove %s\n", dir);
		}
		free(cmd);
		free(dir);
	}
	return tap_done();
}
