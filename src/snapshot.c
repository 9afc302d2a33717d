#define LOG_MODULE "state"
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lever.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

/* Ordered migrations: index i brings user_version from i to i + 1. Never edit
 * a released step; append a new one. */
static const char *const migrations[] = {
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY,"
	"  value TEXT NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE opportunities ("
	"  id TEXT PRIMARY KEY,"
	"  posting_id TEXT,"
	"  stage_id TEXT NOT NULL,"
	"  seen_until_ms INTEGER NOT NULL,"
	"  archived INTEGER NOT NULL,"
	"  confidential INTEGER NOT NULL,"
	"  anonymized INTEGER NOT NULL,"
	"  name TEXT,"
	"  email TEXT,"
	"  phone TEXT,"
	"  updated_at INTEGER,"
	"  last_run INTEGER"
	") WITHOUT ROWID;"
	"CREATE TABLE actions ("
	"  id INTEGER PRIMARY KEY,"
	"  key TEXT NOT NULL UNIQUE,"
	"  kind TEXT NOT NULL,"
	"  state TEXT NOT NULL,"
	"  opportunity_id TEXT NOT NULL,"
	"  rule TEXT,"
	"  sequence_id TEXT,"
	"  refty_stage_id TEXT,"
	"  refty_stage_name TEXT,"
	"  lever_stage_id TEXT,"
	"  entry_at_ms INTEGER,"
	"  origin TEXT NOT NULL,"
	"  reason TEXT,"
	"  last_error TEXT,"
	"  refty_id TEXT,"
	"  payload TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  run_id INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE INDEX actions_by_state ON actions (state, id);"
	"CREATE INDEX actions_by_opportunity ON actions (opportunity_id, id);"
	"CREATE TABLE enrolments ("
	"  opportunity_id TEXT NOT NULL,"
	"  sequence_id TEXT NOT NULL,"
	"  refty_id TEXT,"
	"  name TEXT,"
	"  email TEXT,"
	"  phone TEXT,"
	"  PRIMARY KEY (opportunity_id, sequence_id)"
	") WITHOUT ROWID;"
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY,"
	"  command TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  finished_at INTEGER NOT NULL DEFAULT 0,"
	"  poll_started_ms INTEGER NOT NULL DEFAULT 0,"
	"  exit_code INTEGER NOT NULL DEFAULT -1,"
	"  dry_run INTEGER NOT NULL DEFAULT 0,"
	"  seen INTEGER NOT NULL DEFAULT 0,"
	"  changed INTEGER NOT NULL DEFAULT 0,"
	"  enrolled INTEGER NOT NULL DEFAULT 0,"
	"  sent INTEGER NOT NULL DEFAULT 0,"
	"  waiting INTEGER NOT NULL DEFAULT 0,"
	"  skipped INTEGER NOT NULL DEFAULT 0,"
	"  failed INTEGER NOT NULL DEFAULT 0,"
	"  message TEXT"
	");"
	"CREATE TABLE names ("
	"  kind TEXT NOT NULL,"
	"  id TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  parent TEXT,"
	"  extra TEXT,"
	"  position INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (kind, id)"
	") WITHOUT ROWID;"
	"CREATE TABLE names_fetched ("
	"  kind TEXT PRIMARY KEY,"
	"  fetched_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE oauth_tokens ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  access_token TEXT NOT NULL,"
	"  refresh_token TEXT NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  account TEXT,"
	"  scope TEXT,"
	"  updated_at INTEGER NOT NULL"
	");",
	// A failed action re-queued by 'retry': its request may follow the
	// configuration as it is now, since Refty kept nothing under its key.
	"ALTER TABLE actions ADD COLUMN requeued INTEGER NOT NULL DEFAULT 0;",
	// A run stopped by a signal before its work was done: the signal's name.
	"ALTER TABLE runs ADD COLUMN interrupted_by TEXT;",
	// Actions a run left pending: with them, a partial run is not a healthy one.
	"ALTER TABLE runs ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;",
	// Keyed by Lever's ids, which are random, the table took each new record on a page
	// of its own: a seeding's commit rewrote nearly a page per record. Rows now go in as
	// they come, and only the ids' index (a quarter of the size) takes them at random.
	"CREATE TABLE opportunities_in_order ("
	"  id TEXT NOT NULL UNIQUE,"
	"  posting_id TEXT,"
	"  stage_id TEXT NOT NULL,"
	"  seen_until_ms INTEGER NOT NULL,"
	"  archived INTEGER NOT NULL,"
	"  confidential INTEGER NOT NULL,"
	"  anonymized INTEGER NOT NULL,"
	"  name TEXT,"
	"  email TEXT,"
	"  phone TEXT,"
	"  updated_at INTEGER,"
	"  last_run INTEGER"
	");"
	"INSERT INTO opportunities_in_order SELECT id, posting_id, stage_id, seen_until_ms,"
	"  archived, confidential, anonymized, name, email, phone, updated_at, last_run"
	"  FROM opportunities;"
	"DROP TABLE opportunities;"
	"ALTER TABLE opportunities_in_order RENAME TO opportunities;",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

enum stmt_id {
	ST_OPP_GET,
	ST_OPP_PUT,
	ST_ACTION_INSERT,
	ST_ACTION_KEY,
	ST_ACTION_UPDATE,
	ST_ENROL_GET,
	ST_ENROL_PUT,
	ST_ACTION_GET,
	ST_META_GET,
	ST_META_SET,
	ST_COUNT,
};

#define ACTION_COLUMNS                                                                             \
	"id, key, kind, state, opportunity_id, rule, sequence_id, refty_stage_id,"                 \
	" refty_stage_name, lever_stage_id, entry_at_ms, origin, reason, last_error, refty_id,"    \
	" attempts, run_id, created_at, updated_at, payload, requeued"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_OPP_GET] = "SELECT posting_id, stage_id, seen_until_ms, archived, confidential, anonymized,"
		       " name, email, phone, updated_at FROM opportunities WHERE id = ?1",
	[ST_OPP_PUT] = "INSERT INTO opportunities (id, posting_id, stage_id, seen_until_ms, archived,"
		       " confidential, anonymized, name, email, phone, updated_at, last_run)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
		       " ON CONFLICT (id) DO UPDATE SET posting_id = ?2, stage_id = ?3,"
		       " seen_until_ms = ?4, archived = ?5, confidential = ?6, anonymized = ?7,"
		       " name = ?8, email = ?9, phone = ?10, updated_at = ?11, last_run = ?12",
	[ST_ACTION_INSERT] = "INSERT INTO actions (key, kind, state, opportunity_id, rule, sequence_id,"
			     " refty_stage_id, refty_stage_name, lever_stage_id, entry_at_ms, origin,"
			     " reason, last_error, refty_id, attempts, run_id, created_at, updated_at, payload)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0,"
			     " ?15, ?16, ?16, ?17) ON CONFLICT (key) DO NOTHING",
	[ST_ACTION_KEY] = "SELECT id FROM actions WHERE key = ?1",
	[ST_ACTION_UPDATE] = "UPDATE actions SET state = ?2, last_error = ?3,"
			     " refty_id = coalesce(?4, refty_id), attempts = attempts + ?5,"
			     " updated_at = ?6 WHERE id = ?1",
	[ST_ENROL_GET] = "SELECT refty_id, name, email, phone FROM enrolments"
			 " WHERE opportunity_id = ?1 AND sequence_id = ?2",
	[ST_ENROL_PUT] = "INSERT INTO enrolments (opportunity_id, sequence_id, refty_id, name, email,"
			 " phone) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (opportunity_id,"
			 " sequence_id) DO UPDATE SET refty_id = coalesce(?3, refty_id), name = ?4,"
			 " email = ?5, phone = ?6",
	[ST_ACTION_GET] = "SELECT " ACTION_COLUMNS " FROM actions WHERE id = ?1",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
			" ON CONFLICT (key) DO UPDATE SET value = ?2",
};

struct snapshot {
	sqlite3 *db;
	char *path;
	bool read_only;
	bool in_tx;
	bool damage_reported; /* the advice for a damaged file is given once */
	char *last_error;     /* the last error logged, for the run's record */
	sqlite3_stmt *stmts[ST_COUNT];
};

/* The first problem PRAGMA quick_check finds, or NULL when it cannot run (a file that is not
 * a database at all) or finds none. Caller frees. */
static char *quick_check(struct snapshot *snap)
{
	sqlite3_stmt *s = NULL;
	char *found = NULL;
	if (sqlite3_prepare_v2(snap->db, "PRAGMA quick_check(1)", -1, &s, NULL) == SQLITE_OK &&
		sqlite3_step(s) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(s, 0);
		if (text && strcmp(text, "ok") != 0) {
			// Its report runs over lines; the log line must not.
			found = xstrdup(text);
			for (char *c = found; *c; c++) {
				*c = *c == '\n' ? ' ' : *c;
			}
		}
	}
	sqlite3_finalize(s);
	return found;
}

/* A damaged file is not fixed by running again: say so once, with the two ways back. */
static void report_damaged(struct snapshot *snap, const char *what, const char *detail)
{
	if (snap->damage_reported) {
		log_error("%s in '%s': %s", what, snap->path, detail);
		return;
	}
	snap->damage_reported = true;
	char *check = quick_check(snap);
	const char *p = snap->path;
	log_error("%s in '%s': %s%s%s. The state database is damaged; nothing more is done. "
		  "Restore it from a backup: stop the scheduled runs, copy the backup to '%s', "
		  "delete '%s-wal' and '%s-shm' if present, and run 'refty-lever sync' (it continues "
		  "from the backup's cursor; Refty keeps idempotency keys for at least 7 days, so what was "
		  "done since a backup that recent is not done twice). Without a backup, move the damaged "
		  "file away and "
		  "rebuild: 'refty-lever sync --seed' records every opportunity's current state and "
		  "sends nothing, then 'refty-lever backfill' enrols every active candidate on a "
		  "covered job (Refty matches those it already has); stage entries made since the "
		  "last good run are then not sent, and the journal and run history start empty",
		what, p, detail, check ? "; quick_check: " : "", check ? check : "", p, p, p);
	free(check);
}

static bool db_failure(struct snapshot *snap, const char *what, const char *why)
{
	// Copied first: quick_check replaces the connection's message that why may point to.
	int code = sqlite3_extended_errcode(snap->db) & 0xff;
	int sys = sqlite3_system_errno(snap->db);
	// "disk I/O error" alone does not tell a full disk (or a file size limit) from a failing one.
	char *detail = (code == SQLITE_IOERR || code == SQLITE_FULL) && sys
			       ? xasprintf("%s (%s)", why, strerror(sys))
			       : xstrdup(why);
	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
		report_damaged(snap, what, detail);
	} else if (code == SQLITE_IOERR || code == SQLITE_FULL) {
		log_error("%s in '%s': %s. Check the free space and any file size limit (ulimit -f) "
			  "where the state lives, then run again: what this run could not record, the "
			  "next one does again",
			what, snap->path, detail);
	} else {
		log_error("%s in '%s': %s", what, snap->path, detail);
	}
	free(snap->last_error);
	snap->last_error = xasprintf("%s in '%s': %s", what, snap->path, detail);
	free(detail);
	return false;
}

static bool db_error(struct snapshot *snap, const char *what)
{
	return db_failure(snap, what, sqlite3_errmsg(snap->db));
}

static bool exec(struct snapshot *snap, const char *sql, const char *what)
{
	char *err = NULL;
	if (sqlite3_exec(snap->db, sql, NULL, NULL, &err) != SQLITE_OK) {
		db_failure(snap, what, err ? err : sqlite3_errmsg(snap->db));
		sqlite3_free(err);
		return false;
	}
	return true;
}

/* Returns a cached prepared statement, reset and with bindings cleared. */
static sqlite3_stmt *stmt(struct snapshot *snap, enum stmt_id id)
{
	sqlite3_stmt *s = snap->stmts[id];
	if (!s) {
		if (sqlite3_prepare_v3(snap->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
			SQLITE_OK) {
			db_error(snap, "cannot prepare statement");
			return NULL;
		}
		snap->stmts[id] = s;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return s;
}

static sqlite3_stmt *prepare(struct snapshot *snap, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(snap->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_error(snap, "cannot prepare statement");
		return NULL;
	}
	return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v) {
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(s, i);
	}
}

static void bind_time(sqlite3_stmt *s, int i, int64_t v)
{
	if (v == OPP_TIME_NONE) {
		sqlite3_bind_null(s, i);
	} else {
		sqlite3_bind_int64(s, i, v);
	}
}

static char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *v = sqlite3_column_text(s, i);
	return v ? xstrdup((const char *)v) : NULL;
}

static int64_t col_time(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? OPP_TIME_NONE : sqlite3_column_int64(s, i);
}

enum snapshot_presence snapshot_presence(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		return errno == ENOENT ? SNAPSHOT_MISSING : SNAPSHOT_PRESENT;
	}
	if (st.st_size > 0) {
		return SNAPSHOT_PRESENT;
	}
	// SQLite writes the header before anything reaches the log, but a log
	// with pages beside an empty file is data all the same.
	char *wal = xasprintf("%s-wal", path);
	bool logged = stat(wal, &st) == 0 && st.st_size > 0;
	free(wal);
	return logged ? SNAPSHOT_PRESENT : SNAPSHOT_ZERO_BYTES;
}

/* Creates each missing directory of path's parent with mode 0700. */
bool snapshot_make_dirs(const char *path)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir) {
		free(dir);
		return true;
	}
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
				log_error("cannot create directory '%s': %s", dir, strerror(errno));
				free(dir);
				return false;
			}
			*p = saved;
			if (saved == '\0') {
				break;
			}
		}
	}
	free(dir);
	return true;
}

/* A newer schema is never migrated down nor read: this build cannot know what it means. */
static void log_newer(const char *path, int version)
{
	log_error("%s: written by a newer refty-lever (schema %d, this one knows %d): upgrade "
		  "refty-lever",
		path, version, SCHEMA_VERSION);
}

static bool migrate(struct snapshot *snap)
{
	int version = snapshot_user_version(snap);
	if (version < 0) {
		return false;
	}
	if (version > SCHEMA_VERSION) {
		log_newer(snap->path, version);
		return false;
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		if (!exec(snap, "BEGIN IMMEDIATE", "cannot start migration")) {
			return false;
		}
		// Another process may have migrated while we waited for the lock.
		v = snapshot_user_version(snap);
		if (v < 0 || v >= SCHEMA_VERSION) {
			exec(snap, "ROLLBACK", "cannot roll back migration");
			return v >= 0;
		}
		char *bump = xasprintf("PRAGMA user_version = %d", v + 1);
		bool ok = exec(snap, migrations[v], "cannot migrate database") &&
			  exec(snap, bump, "cannot migrate database") &&
			  exec(snap, "COMMIT", "cannot commit migration");
		free(bump);
		if (!ok) {
			exec(snap, "ROLLBACK", "cannot roll back migration");
			return false;
		}
		log_debug("migrated '%s' to schema version %d", snap->path, v + 1);
	}
	return true;
}

static struct snapshot *open_memory(const char *path)
{
	// A dry run before the first real run still shows a plan: an empty,
	// private, in-memory database stands in for the missing file.
	struct snapshot *snap = xcalloc(1, sizeof(*snap));
	snap->path = xstrdup(path);
	if (sqlite3_open_v2(":memory:", &snap->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
			SQLITE_OK ||
		!migrate(snap)) {
		log_error("cannot create an in-memory database");
		snapshot_close(snap);
		return NULL;
	}
	snap->read_only = true;
	return snap;
}

/* The directory part of path ("." when it has none). Caller frees. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		return xstrdup(".");
	}
	return slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
}

/* Something other than a regular file at the path (a directory, say) is named as such, rather
 * than left to SQLite's "disk I/O error". A missing path is fine here. */
static bool check_file_kind(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || S_ISREG(st.st_mode)) {
		return true;
	}
	log_error("state '%s' is %s, not a database file: set 'state' in the configuration to the "
		  "database's file path, or move what is there away",
		path, S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
	return false;
}

/* A read-write open needs the directory too: SQLite creates the write-ahead log beside the
 * file, and the lock lives there. */
static bool check_writable(const char *path)
{
	char *dir = dir_of(path);
	const char *what = dir;
	bool ok = access(dir, W_OK | X_OK) == 0;
	if (ok && access(path, W_OK) != 0 && errno != ENOENT) {
		what = path;
		ok = false;
	}
	if (!ok) {
		log_error("'%s' is not writable (%s): refty-lever keeps its database, write-ahead log "
			  "and lock there. Give the user that runs it write access, or run it as the "
			  "user that owns the state; status, explain and dry runs need read access only",
			what, strerror(errno));
	}
	free(dir);
	return ok;
}

/* user_version without logging: the caller decides what a failure means. */
static int read_version(struct snapshot *snap, int *rc)
{
	sqlite3_stmt *s = NULL;
	int v = -1;
	*rc = sqlite3_prepare_v2(snap->db, "PRAGMA user_version", -1, &s, NULL);
	if (*rc == SQLITE_OK) {
		*rc = sqlite3_step(s);
		if (*rc == SQLITE_ROW) {
			v = sqlite3_column_int(s, 0);
			*rc = SQLITE_OK;
		} else {
			*rc = sqlite3_extended_errcode(snap->db);
		}
	}
	sqlite3_finalize(s);
	return v;
}

enum snapshot_read_plan snapshot_read_plan(bool shared_failed, bool log_has_pages)
{
	if (!shared_failed) {
		return SNAPSHOT_READ_SHARED;
	}
	// An immutable read sees the main file alone: pages still in the log would be missed.
	return log_has_pages ? SNAPSHOT_READ_REFUSED : SNAPSHOT_READ_IMMUTABLE;
}

static bool log_has_pages(const char *path)
{
	char *wal = xasprintf("%s-wal", path);
	struct stat st;
	bool pages = stat(wal, &st) == 0 && st.st_size > 0;
	free(wal);
	return pages;
}

/* "file:" URI of path with immutable=1: every byte that could end the path is escaped. */
static char *immutable_uri(const char *path)
{
	struct strbuf b;
	strbuf_init(&b);
	strbuf_puts(&b, "file:");
	for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			strchr("/._-~", *c)) {
			strbuf_append(&b, (const char *)c, 1);
		} else {
			strbuf_printf(&b, "%%%02X", *c);
		}
	}
	strbuf_puts(&b, "?immutable=1");
	return strbuf_steal(&b);
}

static bool connect_db(struct snapshot *snap, const char *name, int flags)
{
	if (snap->db) {
		sqlite3_close(snap->db);
		snap->db = NULL;
	}
	if (sqlite3_open_v2(name, &snap->db, flags, NULL) != SQLITE_OK) {
		if (!snap->db) {
			log_error("cannot open database '%s': out of memory", snap->path);
			return false;
		}
		return db_error(snap, "cannot open database");
	}
	sqlite3_extended_result_codes(snap->db, 1);
	sqlite3_busy_timeout(snap->db, 5000);
	return true;
}

/* Read-only: through SQLite's locks when this user may create the log's index beside the file
 * (so that a sync's commits are seen whole), else the file alone (status for a user with read
 * access only, while no log holds pages). Returns the schema version, or -1 (logged). */
static int open_reader(struct snapshot *snap)
{
	if (access(snap->path, R_OK) != 0) {
		log_error("cannot read the state '%s': %s. The user that runs this command needs read "
			  "access to it",
			snap->path, strerror(errno));
		return -1;
	}
	if (!connect_db(snap, snap->path, SQLITE_OPEN_READONLY)) {
		return -1;
	}
	int rc = SQLITE_OK;
	int v = read_version(snap, &rc);
	if (v >= 0) {
		return v;
	}
	bool cannot = (rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY;
	switch (snapshot_read_plan(cannot, log_has_pages(snap->path))) {
	case SNAPSHOT_READ_SHARED:
		db_error(snap, "cannot read database");
		return -1;
	case SNAPSHOT_READ_REFUSED:
		log_error("cannot read '%s': its write-ahead log '%s-wal' holds changes that this user "
			  "cannot read without creating or writing '%s-shm' (%s). Run this command as the "
			  "user that runs sync, or give this one write access to the directory",
			snap->path, snap->path, snap->path, sqlite3_errmsg(snap->db));
		return -1;
	case SNAPSHOT_READ_IMMUTABLE:
		break;
	}
	log_debug("cannot set up shared reading of '%s' (%s): reading the file alone", snap->path,
		sqlite3_errmsg(snap->db));
	char *uri = immutable_uri(snap->path);
	bool ok = connect_db(snap, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
	free(uri);
	v = ok ? read_version(snap, &rc) : -1;
	if (ok && v < 0) {
		db_error(snap, "cannot read database");
	}
	return v;
}

static bool check_read_version(struct snapshot *snap, int v)
{
	if (v > SCHEMA_VERSION) {
		log_newer(snap->path, v);
		return false;
	}
	if (v < SCHEMA_VERSION) {
		log_error("database '%s' has schema version %d, this refty-lever needs %d: run a "
			  "normal (not dry) command once to migrate it",
			snap->path, v, SCHEMA_VERSION);
		return false;
	}
	return true;
}

/* Read-write: the file is created here, 0600 from its first byte. */
/*
 * A sync writes its batches to pages spread over the whole of the ids' index (ids are random;
 * until schema 5, over the whole table), so with SQLite's defaults (a 2 MiB cache, a checkpoint every 1,000 log pages) it re-reads pages it
 * just evicted and copies the same interior pages back into the database at every second
 * batch. A 4 MiB cache and a checkpoint every 10,000 pages (a log of up to 40 MiB, folded
 * back when the database is closed) took the kernel's share of a 100,000-opportunity seeding
 * sync from about 29% to 20% of its CPU, for 2 MiB more memory at most. An 8 MiB cache
 * (with the larger batches of intake.c) took that sync from about 46 to 41 us of CPU per
 * opportunity (means of 3 and 4 runs), for 4.5 MiB more at its peak; 16 MiB reached 35 us in
 * one run, past the memory budget at 32.7 MiB. Keeping the rows in insertion order (schema 5)
 * then took it from about 39.5 to 32 us (two paired runs each).
 */
#define WRITER_TUNING "PRAGMA cache_size = -8192; PRAGMA wal_autocheckpoint = 10000"

static bool open_writer(struct snapshot *snap)
{
	const char *path = snap->path;
	if (!snapshot_make_dirs(path) || !check_writable(path)) {
		return false;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open database '%s': %s", path, strerror(errno));
		return false;
	}
	close(fd);
	return connect_db(snap, path, SQLITE_OPEN_READWRITE) &&
	       exec(snap, "PRAGMA journal_mode = WAL", "cannot enable WAL") &&
	       exec(snap, "PRAGMA synchronous = NORMAL", "cannot set synchronous mode") &&
	       exec(snap, "PRAGMA foreign_keys = ON", "cannot enable foreign keys") &&
	       exec(snap, WRITER_TUNING, "cannot size the page cache and log") && migrate(snap);
}

const char *snapshot_library_version(void)
{
	return sqlite3_libversion();
}

struct snapshot *snapshot_open(const char *path, enum snapshot_mode mode)
{
	if (!check_file_kind(path)) {
		return NULL;
	}
	if (mode == SNAPSHOT_READ_ONLY && snapshot_presence(path) != SNAPSHOT_PRESENT) {
		log_debug("no database at '%s', or an empty file: reading as empty", path);
		return open_memory(path);
	}
	struct snapshot *snap = xcalloc(1, sizeof(*snap));
	snap->path = xstrdup(path);
	snap->read_only = mode == SNAPSHOT_READ_ONLY;
	bool ok;
	if (snap->read_only) {
		int v = open_reader(snap);
		ok = v >= 0 && check_read_version(snap, v);
	} else {
		ok = open_writer(snap);
	}
	if (!ok) {
		snapshot_close(snap);
		return NULL;
	}
	return snap;
}

void snapshot_close(struct snapshot *snap)
{
	if (!snap) {
		return;
	}
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(snap->stmts[i]);
	}
	if (snap->db) {
		sqlite3_close(snap->db);
	}
	free(snap->path);
	free(snap->last_error);
	free(snap);
}

int snapshot_schema_version(void)
{
	return SCHEMA_VERSION;
}

int snapshot_user_version(struct snapshot *snap)
{
	sqlite3_stmt *s = prepare(snap, "PRAGMA user_version");
	if (!s) {
		return -1;
	}
	int v = -1;
	if (sqlite3_step(s) == SQLITE_ROW) {
		v = sqlite3_column_int(s, 0);
	} else {
		db_error(snap, "cannot read schema version");
	}
	sqlite3_finalize(s);
	return v;
}

const char *snapshot_path(const struct snapshot *snap)
{
	return snap->path;
}

const char *snapshot_last_error(const struct snapshot *snap)
{
	return snap->last_error;
}

bool snapshot_is_read_only(const struct snapshot *snap)
{
	return snap->read_only;
}

bool snapshot_begin(struct snapshot *snap)
{
	if (!exec(snap, "BEGIN IMMEDIATE", "cannot start transaction")) {
		return false;
	}
	snap->in_tx = true;
	return true;
}

bool snapshot_commit(struct snapshot *snap)
{
	if (!exec(snap, "COMMIT", "cannot commit")) {
		return false;
	}
	snap->in_tx = false;
	return true;
}

void snapshot_rollback(struct snapshot *snap)
{
	if (snap->in_tx) {
		// A failed COMMIT (a full disk) may have rolled back by itself already.
		if (!sqlite3_get_autocommit(snap->db)) {
			exec(snap, "ROLLBACK", "cannot roll back");
		}
		snap->in_tx = false;
	}
}

/* Runs a statement that returns no rows, then finalizes it. */
static bool run_done(struct snapshot *snap, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	bool ok = rc == SQLITE_DONE;
	if (!ok) {
		db_error(snap, what);
	}
	return ok;
}

char *snapshot_meta_get(struct snapshot *snap, const char *key, bool *err)
{
	*err = false;
	sqlite3_stmt *s = stmt(snap, ST_META_GET);
	if (!s) {
		*err = true;
		return NULL;
	}
	bind_text(s, 1, key);
	char *v = NULL;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		v = col_text(s, 0);
	} else if (rc != SQLITE_DONE) {
		*err = true;
		db_error(snap, "cannot read setting");
	}
	sqlite3_reset(s);
	return v;
}

bool snapshot_meta_set(struct snapshot *snap, const char *key, const char *value)
{
	sqlite3_stmt *s = stmt(snap, ST_META_SET);
	if (!s) {
		return false;
	}
	bind_text(s, 1, key);
	bind_text(s, 2, value);
	bool ok = run_done(snap, s, "cannot write setting");
	sqlite3_reset(s);
	return ok;
}

bool snapshot_meta_delete(struct snapshot *snap, const char *key)
{
	sqlite3_stmt *s = prepare(snap, "DELETE FROM meta WHERE key = ?1");
	if (!s) {
		return false;
	}
	bind_text(s, 1, key);
	bool ok = run_done(snap, s, "cannot delete setting");
	sqlite3_finalize(s);
	return ok;
}

/* A setting holding a time in ms: its value when positive, else 0; -1 on error (logged). */
int64_t snapshot_meta_ms(struct snapshot *snap, const char *key)
{
	bool err = false;
	char *v = snapshot_meta_get(snap, key, &err);
	if (err) {
		return -1;
	}
	char *end = NULL;
	long long ms = v ? strtoll(v, &end, 10) : 0;
	// Only what refty-lever writes (decimal ms) is a time; anything else is none.
	bool whole = v && end != v && *end == '\0';
	free(v);
	return whole && ms > 0 ? ms : 0;
}

int64_t snapshot_seeded_at(struct snapshot *snap)
{
	// Both are written in one transaction at the very end of a seeding run,
	// so either marks a completed one; the cursor is read too so that a
	// database that has one is never taken for a new one.
	static const char *const keys[] = {"seeded_at", "cursor"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int64_t ms = snapshot_meta_ms(snap, keys[i]);
		if (ms != 0) {
			return ms;
		}
	}
	return 0;
}

int64_t snapshot_cursor(struct snapshot *snap)
{
	return snapshot_meta_ms(snap, "cursor");
}

int snapshot_opp_get(struct snapshot *snap, const char *id, struct opportunity_state *out)
{
	sqlite3_stmt *s = stmt(snap, ST_OPP_GET);
	if (!s) {
		return -1;
	}
	bind_text(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		return 0;
	}
	if (rc != SQLITE_ROW) {
		db_error(snap, "cannot read opportunity");
		return -1;
	}
	memset(out, 0, sizeof(*out));
	out->id = xstrdup(id);
	out->posting_id = col_text(s, 0);
	out->stage_id = col_text(s, 1);
	out->seen_until_ms = sqlite3_column_int64(s, 2);
	out->archived = sqlite3_column_int(s, 3);
	out->confidential = sqlite3_column_int(s, 4);
	out->anonymized = sqlite3_column_int(s, 5);
	out->contact.name = col_text(s, 6);
	out->contact.email = col_text(s, 7);
	out->contact.phone = col_text(s, 8);
	out->updated_at = col_time(s, 9);
	sqlite3_reset(s);
	return 1;
}

bool snapshot_opp_put(struct snapshot *snap, const struct opportunity_state *st, int64_t run_id)
{
	sqlite3_stmt *s = stmt(snap, ST_OPP_PUT);
	if (!s) {
		return false;
	}
	bind_text(s, 1, st->id);
	bind_text(s, 2, st->posting_id);
	bind_text(s, 3, st->stage_id);
	sqlite3_bind_int64(s, 4, st->seen_until_ms);
	sqlite3_bind_int(s, 5, st->archived);
	sqlite3_bind_int(s, 6, st->confidential);
	sqlite3_bind_int(s, 7, st->anonymized);
	bind_text(s, 8, st->contact.name);
	bind_text(s, 9, st->contact.email);
	bind_text(s, 10, st->contact.phone);
	bind_time(s, 11, st->updated_at);
	sqlite3_bind_int64(s, 12, run_id);
	bool ok = run_done(snap, s, "cannot write opportunity");
	sqlite3_reset(s);
	return ok;
}

bool snapshot_opp_update(struct snapshot *snap, const struct opportunity_state *prev,
	const struct opportunity_state *next, int64_t run_id, bool *written)
{
	// last_run is never read back, so a row that differs only there need not be written.
	bool write = !prev || !opportunity_state_equal(prev, next);
	if (written) {
		*written = write;
	}
	return !write || snapshot_opp_put(snap, next, run_id);
}

bool snapshot_opp_delete(struct snapshot *snap, const char *id)
{
	sqlite3_stmt *s = prepare(snap, "DELETE FROM opportunities WHERE id = ?1");
	if (!s) {
		return false;
	}
	bind_text(s, 1, id);
	bool ok = run_done(snap, s, "cannot delete opportunity");
	sqlite3_finalize(s);
	return ok;
}

static int64_t count_query(struct snapshot *snap, const char *sql)
{
	sqlite3_stmt *s = prepare(snap, sql);
	if (!s) {
		return -1;
	}
	int64_t n = -1;
	if (sqlite3_step(s) == SQLITE_ROW) {
		n = sqlite3_column_int64(s, 0);
	} else {
		db_error(snap, "cannot count");
	}
	sqlite3_finalize(s);
	return n;
}

int64_t snapshot_opp_count(struct snapshot *snap)
{
	return count_query(snap, "SELECT count(*) FROM opportunities");
}

void action_copy(struct action *dst, const struct action *src)
{
	*dst = *src;
	dst->key = xstrdup(src->key);
	dst->opportunity_id = xstrdup(src->opportunity_id);
	dst->rule = xstrdup(src->rule);
	dst->sequence_id = xstrdup(src->sequence_id);
	dst->refty_stage_id = xstrdup(src->refty_stage_id);
	dst->refty_stage_name = xstrdup(src->refty_stage_name);
	dst->lever_stage_id = xstrdup(src->lever_stage_id);
	dst->origin = xstrdup(src->origin);
	dst->reason = xstrdup(src->reason);
	dst->last_error = xstrdup(src->last_error);
	dst->refty_id = xstrdup(src->refty_id);
	dst->payload = xstrdup(src->payload);
}

void action_finish(struct action *a)
{
	free(a->key);
	free(a->opportunity_id);
	free(a->rule);
	free(a->sequence_id);
	free(a->refty_stage_id);
	free(a->refty_stage_name);
	free(a->lever_stage_id);
	free(a->origin);
	free(a->reason);
	free(a->last_error);
	free(a->refty_id);
	free(a->payload);
	memset(a, 0, sizeof(*a));
}

bool snapshot_action_add(struct snapshot *snap, struct action *a, bool *inserted)
{
	sqlite3_stmt *s = stmt(snap, ST_ACTION_INSERT);
	if (!s) {
		return false;
	}
	int64_t now = timeutil_now_ms();
	bind_text(s, 1, a->key);
	bind_text(s, 2, action_kind_name(a->kind));
	bind_text(s, 3, action_state_name(a->state));
	bind_text(s, 4, a->opportunity_id);
	bind_text(s, 5, a->rule);
	bind_text(s, 6, a->sequence_id);
	bind_text(s, 7, a->refty_stage_id);
	bind_text(s, 8, a->refty_stage_name);
	bind_text(s, 9, a->lever_stage_id);
	bind_time(s, 10, a->entry_at_ms);
	bind_text(s, 11, a->origin ? a->origin : "sync");
	bind_text(s, 12, a->reason);
	bind_text(s, 13, a->last_error);
	bind_text(s, 14, a->refty_id);
	sqlite3_bind_int64(s, 15, a->run_id);
	sqlite3_bind_int64(s, 16, now);
	bind_text(s, 17, a->payload);
	if (!run_done(snap, s, "cannot record action")) {
		sqlite3_reset(s);
		return false;
	}
	*inserted = sqlite3_changes(snap->db) > 0;
	sqlite3_reset(s);
	a->created_at = a->updated_at = now;
	if (*inserted) {
		a->id = sqlite3_last_insert_rowid(snap->db);
		return true;
	}
	s = stmt(snap, ST_ACTION_KEY);
	if (!s) {
		return false;
	}
	bind_text(s, 1, a->key);
	if (sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_reset(s);
		return db_error(snap, "cannot find action");
	}
	a->id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return true;
}

bool snapshot_action_update(struct snapshot *snap, int64_t id, enum action_state state,
	const char *last_error, const char *refty_id, bool attempted)
{
	sqlite3_stmt *s = stmt(snap, ST_ACTION_UPDATE);
	if (!s) {
		return false;
	}
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, action_state_name(state));
	bind_text(s, 3, last_error);
	bind_text(s, 4, refty_id);
	sqlite3_bind_int(s, 5, attempted ? 1 : 0);
	sqlite3_bind_int64(s, 6, timeutil_now_ms());
	bool ok = run_done(snap, s, "cannot update action");
	sqlite3_reset(s);
	return ok;
}

static bool read_action(struct snapshot *snap, sqlite3_stmt *s, struct action *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(s, 0);
	a->key = col_text(s, 1);
	int kind = action_kind_from_name((const char *)sqlite3_column_text(s, 2));
	int state = action_state_from_name((const char *)sqlite3_column_text(s, 3));
	if (kind < 0 || state < 0) {
		log_error("database '%s': action %lld has an unknown kind or state", snap->path,
			(long long)a->id);
		free(a->key);
		a->key = NULL;
		return false;
	}
	a->kind = (enum action_kind)kind;
	a->state = (enum action_state)state;
	a->opportunity_id = col_text(s, 4);
	a->rule = col_text(s, 5);
	a->sequence_id = col_text(s, 6);
	a->refty_stage_id = col_text(s, 7);
	a->refty_stage_name = col_text(s, 8);
	a->lever_stage_id = col_text(s, 9);
	a->entry_at_ms = col_time(s, 10);
	a->origin = col_text(s, 11);
	a->reason = col_text(s, 12);
	a->last_error = col_text(s, 13);
	a->refty_id = col_text(s, 14);
	a->attempts = sqlite3_column_int(s, 15);
	a->run_id = sqlite3_column_int64(s, 16);
	a->created_at = sqlite3_column_int64(s, 17);
	a->updated_at = sqlite3_column_int64(s, 18);
	a->payload = col_text(s, 19);
	a->requeued = sqlite3_column_int(s, 20);
	return true;
}

static bool each_action(struct snapshot *snap, sqlite3_stmt *s, snapshot_action_cb cb, void *ud)
{
	bool ok = true;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct action a;
		if (!read_action(snap, s, &a)) {
			ok = false;
			break;
		}
		bool more = cb(ud, &a);
		action_finish(&a);
		if (!more) {
			break;
		}
	}
	if (ok && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ok = db_error(snap, "cannot read actions");
	}
	sqlite3_finalize(s);
	return ok;
}

bool snapshot_actions_in_state(struct snapshot *snap, enum action_state state,
	snapshot_action_cb cb, void *ud)
{
	sqlite3_stmt *s = prepare(snap, "SELECT " ACTION_COLUMNS " FROM actions WHERE state = ?1"
					" ORDER BY id");
	if (!s) {
		return false;
	}
	bind_text(s, 1, action_state_name(state));
	return each_action(snap, s, cb, ud);
}

bool snapshot_actions_of_kind(struct snapshot *snap, enum action_kind kind,
	enum action_state state, snapshot_action_cb cb, void *ud)
{
	sqlite3_stmt *s = prepare(snap, "SELECT " ACTION_COLUMNS " FROM actions WHERE state = ?1"
					" AND kind = ?2 ORDER BY id");
	if (!s) {
		return false;
	}
	bind_text(s, 1, action_state_name(state));
	bind_text(s, 2, action_kind_name(kind));
	return each_action(snap, s, cb, ud);
}

bool snapshot_actions_for_opp(struct snapshot *snap, const char *opportunity_id,
	snapshot_action_cb cb, void *ud)
{
	sqlite3_stmt *s = prepare(snap, "SELECT " ACTION_COLUMNS " FROM actions"
					" WHERE opportunity_id = ?1 ORDER BY id");
	if (!s) {
		return false;
	}
	bind_text(s, 1, opportunity_id);
	return each_action(snap, s, cb, ud);
}

int64_t snapshot_action_id_by_key(struct snapshot *snap, const char *key)
{
	sqlite3_stmt *s = stmt(snap, ST_ACTION_KEY);
	if (!s) {
		return -1;
	}
	bind_text(s, 1, key);
	int rc = sqlite3_step(s);
	int64_t id = 0;
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(s, 0);
	} else if (rc != SQLITE_DONE) {
		db_error(snap, "cannot find action");
		id = -1;
	}
	sqlite3_reset(s);
	return id;
}

int snapshot_action_get(struct snapshot *snap, int64_t id, struct action *out)
{
	sqlite3_stmt *s = stmt(snap, ST_ACTION_GET);
	if (!s) {
		return -1;
	}
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	int result;
	if (rc == SQLITE_ROW) {
		result = read_action(snap, s, out) ? 1 : -1;
	} else if (rc == SQLITE_DONE) {
		result = 0;
	} else {
		db_error(snap, "cannot read action");
		result = -1;
	}
	sqlite3_reset(s);
	return result;
}

bool snapshot_action_counts(struct snapshot *snap, int64_t counts[6])
{
	memset(counts, 0, 6 * sizeof(counts[0]));
	sqlite3_stmt *s = prepare(snap, "SELECT state, count(*) FROM actions GROUP BY state");
	if (!s) {
		return false;
	}
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int st = action_state_from_name((const char *)sqlite3_column_text(s, 0));
		if (st >= 0) {
			counts[st] = sqlite3_column_int64(s, 1);
		}
	}
	bool ok = rc == SQLITE_DONE || db_error(snap, "cannot count actions");
	sqlite3_finalize(s);
	return ok;
}

bool snapshot_action_set_payload(struct snapshot *snap, int64_t id, const char *payload)
{
	sqlite3_stmt *s = prepare(snap, "UPDATE actions SET payload = ?2, requeued = 0, updated_at = ?3"
					" WHERE id = ?1");
	if (!s) {
		return false;
	}
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, payload);
	sqlite3_bind_int64(s, 3, timeutil_now_ms());
	bool ok = run_done(snap, s, "cannot update action");
	sqlite3_finalize(s);
	return ok;
}

/* Quarantine entries are not Refty work: every sync fetches those records again itself. */
#define NOT_QUARANTINE " AND kind NOT IN ('unreadable', 'untrusted')"

int64_t snapshot_actions_requeue(struct snapshot *snap, const int64_t *ids, size_t n_ids)
{
	int64_t total = 0;
	sqlite3_stmt *s;
	if (!ids) {
		s = prepare(snap, "UPDATE actions SET state = 'pending', requeued = 1, updated_at = ?1"
				  " WHERE state = 'failed'" NOT_QUARANTINE);
		if (!s) {
			return -1;
		}
		sqlite3_bind_int64(s, 1, timeutil_now_ms());
		bool ok = run_done(snap, s, "cannot re-queue actions");
		sqlite3_finalize(s);
		return ok ? sqlite3_changes(snap->db) : -1;
	}
	s = prepare(snap, "UPDATE actions SET state = 'pending', requeued = 1, updated_at = ?1"
			  " WHERE state = 'failed' AND id = ?2" NOT_QUARANTINE);
	if (!s) {
		return -1;
	}
	for (size_t i = 0; i < n_ids; i++) {
		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, timeutil_now_ms());
		sqlite3_bind_int64(s, 2, ids[i]);
		if (!run_done(snap, s, "cannot re-queue action")) {
			sqlite3_finalize(s);
			return -1;
		}
		total += sqlite3_changes(snap->db);
	}
	sqlite3_finalize(s);
	return total;
}

int snapshot_enrolment_get(struct snapshot *snap, const char *opportunity_id,
	const char *sequence_id, struct enrolment *out)
{
	sqlite3_stmt *s = stmt(snap, ST_ENROL_GET);
	if (!s) {
		return -1;
	}
	bind_text(s, 1, opportunity_id);
	bind_text(s, 2, sequence_id);
	int rc = sqlite3_step(s);
	int result = 0;
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		out->opportunity_id = xstrdup(opportunity_id);
		out->sequence_id = xstrdup(sequence_id);
		out->refty_id = col_text(s, 0);
		out->contact.name = col_text(s, 1);
		out->contact.email = col_text(s, 2);
		out->contact.phone = col_text(s, 3);
		result = 1;
	} else if (rc != SQLITE_DONE) {
		db_error(snap, "cannot read enrolment");
		result = -1;
	}
	sqlite3_reset(s);
	return result;
}

bool snapshot_enrolment_put(struct snapshot *snap, const struct enrolment *e)
{
	sqlite3_stmt *s = stmt(snap, ST_ENROL_PUT);
	if (!s) {
		return false;
	}
	bind_text(s, 1, e->opportunity_id);
	bind_text(s, 2, e->sequence_id);
	bind_text(s, 3, e->refty_id);
	bind_text(s, 4, e->contact.name);
	bind_text(s, 5, e->contact.email);
	bind_text(s, 6, e->contact.phone);
	bool ok = run_done(snap, s, "cannot write enrolment");
	sqlite3_reset(s);
	return ok;
}

void run_record_copy(struct run_record *dst, const struct run_record *src)
{
	*dst = *src;
	dst->command = src->command ? xstrdup(src->command) : NULL;
	dst->message = src->message ? xstrdup(src->message) : NULL;
	dst->interrupted_by = src->interrupted_by ? xstrdup(src->interrupted_by) : NULL;
}

void run_record_finish(struct run_record *r)
{
	free(r->command);
	free(r->message);
	free(r->interrupted_by);
	memset(r, 0, sizeof(*r));
}

static bool prune_runs(struct snapshot *snap, int64_t now_ms);

bool snapshot_run_start(struct snapshot *snap, struct run_record *r)
{
	if (!prune_runs(snap, r->started_at)) {
		return false;
	}
	sqlite3_stmt *s = prepare(snap, "INSERT INTO runs (command, started_at, poll_started_ms,"
					" dry_run) VALUES (?1, ?2, ?3, ?4)");
	if (!s) {
		return false;
	}
	bind_text(s, 1, r->command);
	sqlite3_bind_int64(s, 2, r->started_at);
	sqlite3_bind_int64(s, 3, r->poll_started_ms);
	sqlite3_bind_int(s, 4, r->dry_run);
	bool ok = run_done(snap, s, "cannot record run");
	sqlite3_finalize(s);
	if (ok) {
		r->id = sqlite3_last_insert_rowid(snap->db);
	}
	return ok;
}

bool snapshot_run_finish(struct snapshot *snap, const struct run_record *r)
{
	sqlite3_stmt *s = prepare(snap, "UPDATE runs SET finished_at = ?2, exit_code = ?3, seen = ?4,"
					" changed = ?5, enrolled = ?6, sent = ?7, waiting = ?8,"
					" skipped = ?9, failed = ?10, message = ?11,"
					" poll_started_ms = ?12, interrupted_by = ?13, pending = ?14"
					" WHERE id = ?1");
	if (!s) {
		return false;
	}
	sqlite3_bind_int64(s, 1, r->id);
	sqlite3_bind_int64(s, 2, r->finished_at);
	sqlite3_bind_int(s, 3, r->exit_code);
	sqlite3_bind_int64(s, 4, r->seen);
	sqlite3_bind_int64(s, 5, r->changed);
	sqlite3_bind_int64(s, 6, r->enrolled);
	sqlite3_bind_int64(s, 7, r->sent);
	sqlite3_bind_int64(s, 8, r->waiting);
	sqlite3_bind_int64(s, 9, r->skipped);
	sqlite3_bind_int64(s, 10, r->failed);
	bind_text(s, 11, r->message);
	sqlite3_bind_int64(s, 12, r->poll_started_ms);
	bind_text(s, 13, r->interrupted_by);
	sqlite3_bind_int64(s, 14, r->pending);
	bool ok = run_done(snap, s, "cannot record run");
	sqlite3_finalize(s);
	return ok;
}

/*
 * A healthy run: the one rule for "the last successful sync" and for status --max-age. It
 * completed (not a dry run, not stopped by a signal) and exited 0, or 1 with nothing left
 * pending: only permanent failures (per action, or records Lever sends unreadable), which
 * need a person, not a working Refty. A run that left work pending, or could not reach
 * Lever or Refty (exit 3), or failed locally, is not healthy.
 */
#define RUN_HEALTHY                                                                                \
	"(finished_at > 0 AND dry_run = 0 AND interrupted_by IS NULL AND"                           \
	" (exit_code = 0 OR (exit_code = 1 AND pending = 0)))"

 /* How long the runs table remembers a run: a watcher records thousands a day. */
#define RUN_KEEP_MS (INT64_C(30) * 24 * 3600 * 1000)

/* Forgets runs older than RUN_KEEP_MS, but never the last of a command, nor its last healthy
 * one (status --max-age names it). */
static bool prune_runs(struct snapshot *snap, int64_t now_ms)
{
	sqlite3_stmt *s = prepare(snap, "DELETE FROM runs WHERE started_at < ?1"
					" AND id NOT IN (SELECT max(id) FROM runs GROUP BY command)"
					" AND id NOT IN (SELECT max(id) FROM runs WHERE " RUN_HEALTHY
					" GROUP BY command)");
	if (!s) {
		return false;
	}
	sqlite3_bind_int64(s, 1, now_ms - RUN_KEEP_MS);
	bool ok = run_done(snap, s, "cannot forget old runs");
	sqlite3_finalize(s);
	return ok;
}

#define RUN_COLUMNS                                                                                \
	"id, command, started_at, finished_at, poll_started_ms, exit_code, dry_run, seen, changed,"  \
	" enrolled, sent, waiting, skipped, failed, message, interrupted_by, pending, " RUN_HEALTHY

static void read_run(sqlite3_stmt *s, struct run_record *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(s, 0);
	r->command = col_text(s, 1);
	r->started_at = sqlite3_column_int64(s, 2);
	r->finished_at = sqlite3_column_int64(s, 3);
	r->poll_started_ms = sqlite3_column_int64(s, 4);
	r->exit_code = sqlite3_column_int(s, 5);
	r->dry_run = sqlite3_column_int(s, 6);
	r->seen = sqlite3_column_int64(s, 7);
	r->changed = sqlite3_column_int64(s, 8);
	r->enrolled = sqlite3_column_int64(s, 9);
	r->sent = sqlite3_column_int64(s, 10);
	r->waiting = sqlite3_column_int64(s, 11);
	r->skipped = sqlite3_column_int64(s, 12);
	r->failed = sqlite3_column_int64(s, 13);
	r->message = col_text(s, 14);
	r->interrupted_by = col_text(s, 15);
	r->pending = sqlite3_column_int64(s, 16);
	r->healthy = sqlite3_column_int(s, 17) != 0;
}

bool snapshot_runs_recent(struct snapshot *snap, int n,
	bool (*cb)(void *ud, const struct run_record *r), void *ud)
{
	sqlite3_stmt *s = prepare(snap, "SELECT " RUN_COLUMNS " FROM runs ORDER BY id DESC LIMIT ?1");
	if (!s) {
		return false;
	}
	sqlite3_bind_int(s, 1, n);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct run_record r;
		read_run(s, &r);
		bool more = cb(ud, &r);
		run_record_finish(&r);
		if (!more) {
			rc = SQLITE_DONE;
			break;
		}
	}
	bool ok = rc == SQLITE_DONE || db_error(snap, "cannot read runs");
	sqlite3_finalize(s);
	return ok;
}

int snapshot_last_healthy(struct snapshot *snap, const char *command, struct run_record *out)
{
	sqlite3_stmt *s = prepare(snap, "SELECT " RUN_COLUMNS " FROM runs WHERE command = ?1"
					" AND " RUN_HEALTHY " ORDER BY id DESC LIMIT 1");
	if (!s) {
		return -1;
	}
	bind_text(s, 1, command);
	int rc = sqlite3_step(s);
	int result = 0;
	if (rc == SQLITE_ROW) {
		read_run(s, out);
		result = 1;
	} else if (rc != SQLITE_DONE) {
		db_error(snap, "cannot read runs");
		result = -1;
	}
	sqlite3_finalize(s);
	return result;
}

void cached_name_finish(struct cached_name *c)
{
	free(c->kind);
	free(c->id);
	free(c->name);
	free(c->parent);
	free(c->extra);
	memset(c, 0, sizeof(*c));
}

bool snapshot_names_replace(struct snapshot *snap, const char *kind, const struct cached_name *items,
	size_t n)
{
	sqlite3_stmt *del = prepare(snap, "DELETE FROM names WHERE kind = ?1");
	if (!del) {
		return false;
	}
	bind_text(del, 1, kind);
	bool ok = run_done(snap, del, "cannot update name cache");
	sqlite3_finalize(del);
	sqlite3_stmt *ins = ok ? prepare(snap, "INSERT OR REPLACE INTO names (kind, id, name, parent,"
					       " extra, position) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
			       : NULL;
	for (size_t i = 0; ok && ins && i < n; i++) {
		sqlite3_reset(ins);
		bind_text(ins, 1, kind);
		bind_text(ins, 2, items[i].id);
		bind_text(ins, 3, items[i].name ? items[i].name : "");
		bind_text(ins, 4, items[i].parent);
		bind_text(ins, 5, items[i].extra);
		sqlite3_bind_int(ins, 6, items[i].position);
		ok = run_done(snap, ins, "cannot update name cache");
	}
	sqlite3_finalize(ins);
	if (!ok || !ins) {
		return false;
	}
	sqlite3_stmt *f = prepare(snap, "INSERT INTO names_fetched (kind, fetched_at) VALUES (?1, ?2)"
					" ON CONFLICT (kind) DO UPDATE SET fetched_at = ?2");
	if (!f) {
		return false;
	}
	bind_text(f, 1, kind);
	sqlite3_bind_int64(f, 2, timeutil_now_ms());
	ok = run_done(snap, f, "cannot update name cache");
	sqlite3_finalize(f);
	return ok;
}

bool snapshot_names_list(struct snapshot *snap, const char *kind,
	bool (*cb)(void *ud, const struct cached_name *c), void *ud)
{
	sqlite3_stmt *s = prepare(snap, "SELECT kind, id, name, parent, extra, position FROM names"
					" WHERE kind = ?1 ORDER BY parent, position, name, id");
	if (!s) {
		return false;
	}
	bind_text(s, 1, kind);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct cached_name c = {
			.kind = col_text(s, 0),
			.id = col_text(s, 1),
			.name = col_text(s, 2),
			.parent = col_text(s, 3),
			.extra = col_text(s, 4),
			.position = sqlite3_column_int(s, 5),
		};
		bool more = cb(ud, &c);
		cached_name_finish(&c);
		if (!more) {
			rc = SQLITE_DONE;
			break;
		}
	}
	bool ok = rc == SQLITE_DONE || db_error(snap, "cannot read name cache");
	sqlite3_finalize(s);
	return ok;
}

int64_t snapshot_names_fetched_at(struct snapshot *snap, const char *kind)
{
	sqlite3_stmt *s = prepare(snap, "SELECT fetched_at FROM names_fetched WHERE kind = ?1");
	if (!s) {
		return -1;
	}
	bind_text(s, 1, kind);
	int rc = sqlite3_step(s);
	int64_t v = 0;
	if (rc == SQLITE_ROW) {
		v = sqlite3_column_int64(s, 0);
	} else if (rc != SQLITE_DONE) {
		db_error(snap, "cannot read name cache");
		v = -1;
	}
	sqlite3_finalize(s);
	return v;
}

int snapshot_tokens_load(struct snapshot *snap, struct lever_tokens *out)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *s = prepare(snap, "SELECT access_token, refresh_token, expires_at, account,"
					" scope, updated_at FROM oauth_tokens WHERE id = 1");
	if (!s) {
		return -1;
	}
	int rc = sqlite3_step(s);
	int result = 0;
	if (rc == SQLITE_ROW) {
		out->access_token = col_text(s, 0);
		out->refresh_token = col_text(s, 1);
		// Kept in seconds there, as in the token file.
		if (!timeutil_ms_from_seconds(sqlite3_column_int64(s, 2), &out->expires_at)) {
			out->expires_at = 0; // refreshed before use
		}
		out->account = col_text(s, 3);
		out->scope = col_text(s, 4);
		if (!timeutil_ms_from_seconds(sqlite3_column_int64(s, 5), &out->updated_at)) {
			out->updated_at = 0;
		}
		result = 1;
	} else if (rc != SQLITE_DONE) {
		db_error(snap, "cannot read OAuth tokens");
		result = -1;
	}
	sqlite3_finalize(s);
	return result;
}

bool snapshot_tokens_delete(struct snapshot *snap)
{
	return exec(snap, "DELETE FROM oauth_tokens", "cannot delete OAuth tokens");
}
