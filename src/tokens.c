#define LOG_MODULE "tokens"
#include "tokens.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "json.h"
#include "jsonw.h"
#include "lever.h"
#include "lock.h"
#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

#define FORMAT_VERSION 1
/* Far more than any pair Lever hands out; a bigger file is not ours. */
#define MAX_FILE_SIZE (64 * 1024)

struct token_lock {
	struct file_lock *file;
};

char *token_file_path(const char *state_path)
{
	return xasprintf("%s.tokens", state_path);
}

static void wipe(char *buf, size_t len)
{
	if (buf) {
		memset(buf, 0, len);
	}
}

static bool parse(const char *buf, size_t len, struct lever_tokens *out, struct json_error *err)
{
	struct json_object *root = json_parse(buf, len, err);
	if (!root) {
		return false;
	}
	struct json_node node;
	json_root(&node, root);
	int64_t version = 0;
	const char *access = NULL, *refresh = NULL, *account = NULL, *scope = NULL;
	bool ok = json_req_int64(&node, "version", &version, err);
	if (ok && version != FORMAT_VERSION) {
		ok = json_fail(err, &node, "format version %lld, this refty-lever reads %d",
			(long long)version, FORMAT_VERSION);
	}
	int64_t expires_s = 0, updated_s = 0;
	ok = ok && json_req_string(&node, "access_token", &access, err) &&
	     json_opt_string(&node, "refresh_token", &refresh, err) &&
	     json_opt_int64(&node, "expires_at", 0, &expires_s, err) &&
	     json_opt_string(&node, "account", &account, err) &&
	     json_opt_string(&node, "scope", &scope, err) &&
	     json_opt_int64(&node, "updated_at", 0, &updated_s, err);
	// The file keeps seconds (it always has); the program works in milliseconds.
	if (ok && (!timeutil_ms_from_seconds(expires_s, &out->expires_at) ||
			  !timeutil_ms_from_seconds(updated_s, &out->updated_at))) {
		ok = json_fail(err, &node, "a time outside the range of a millisecond clock");
	}
	if (ok) {
		out->access_token = xstrdup(access);
		out->refresh_token = refresh && refresh[0] ? xstrdup(refresh) : NULL;
		out->account = xstrdup(account);
		out->scope = xstrdup(scope);
	}
	json_free(root);
	return ok;
}

int token_file_load(const char *path, struct lever_tokens *out)
{
	memset(out, 0, sizeof(*out));
	char *buf = NULL;
	size_t len = 0;
	int got = file_read_whole(path, MAX_FILE_SIZE, &buf, &len);
	if (got <= 0) {
		return got;
	}
	struct json_error err;
	bool ok = parse(buf, len, out, &err);
	wipe(buf, len);
	free(buf);
	if (!ok) {
		log_error("cannot read the OAuth tokens in '%s': %s; run 'refty-lever auth login' to "
			  "store new ones",
			path, err.text);
		lever_tokens_finish(out);
		return -1;
	}
	log_add_secret(out->access_token);
	log_add_secret(out->refresh_token);
	return 1;
}

static size_t bound(const char *s)
{
	// The worst case of JSON escaping is six bytes (\u00XX) per byte.
	return s ? 6 * strlen(s) + 2 : 4;
}

/* Times are written in seconds, rounded down: the format of every version so far. */
static int64_t seconds_of(int64_t ms)
{
	return ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1;
}

static void format(const struct lever_tokens *t, int64_t now_ms, struct strbuf *out)
{
	// Sized once, so the buffer holding the secrets is never reallocated (which would
	// leave a copy of them in freed memory).
	size_t cap = 256 + bound(t->access_token) + bound(t->refresh_token) + bound(t->account) +
		     bound(t->scope);
	out->data = xmalloc(cap);
	out->cap = cap;
	out->len = 0;
	out->data[0] = '\0';
	struct jsonw w;
	jsonw_init(&w, out);
	jsonw_object_begin(&w);
	jsonw_kv_int(&w, "version", FORMAT_VERSION);
	jsonw_kv_string(&w, "access_token", t->access_token);
	jsonw_kv_string(&w, "refresh_token", t->refresh_token);
	jsonw_kv_int(&w, "expires_at", seconds_of(t->expires_at));
	jsonw_kv_string(&w, "account", t->account);
	jsonw_kv_string(&w, "scope", t->scope);
	jsonw_kv_int(&w, "updated_at", seconds_of(now_ms));
	jsonw_object_end(&w);
	strbuf_puts(out, "\n");
}

bool token_file_save(const char *path, const struct lever_tokens *t)
{
	if (!t->access_token) {
		log_error("cannot write '%s': no access token to store", path);
		return false;
	}
	struct strbuf text;
	format(t, timeutil_now_ms(), &text);
	bool ok = file_replace_private(path, text.data, text.len);
	wipe(text.data, text.cap);
	strbuf_finish(&text);
	return ok;
}

bool token_file_delete(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT) {
		log_error("cannot remove '%s': %s", path, strerror(errno));
		return false;
	}
	return true;
}

struct token_lock *token_lock_acquire(const char *path, int timeout_ms)
{
	char *lock_path = xasprintf("%s.lock", path);
	enum lock_status status;
	struct file_lock *file = file_lock_acquire(lock_path, timeout_ms, &status);
	if (status == LOCK_HELD) {
		log_error("cannot lock '%s': another refty-lever process has held it for %g s "
			  "while refreshing the Lever tokens; if none is stuck, try again",
			lock_path, timeout_ms / 1000.0);
	}
	free(lock_path);
	if (!file) {
		return NULL;
	}
	struct token_lock *lock = xcalloc(1, sizeof(*lock));
	lock->file = file;
	return lock;
}

void token_lock_release(struct token_lock *lock)
{
	if (!lock) {
		return;
	}
	file_lock_release(lock->file);
	free(lock);
}
