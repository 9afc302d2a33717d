/* The run lock between two processes: the second gets "held by another" at
 * once and learns the holder's pid; the lock is free again when the holder
 * dies, even without unlocking. A lock file deleted or replaced under a run is
 * noticed; the file is never deleted by refty-lever itself. The waiting lock
 * waits for a holder that lets go, and gives up on one that does not. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"
#include "tap.h"
#include "xalloc.h"

/* A child that takes path's lock, says so on the pipe, holds it for hold_ms (forever when
 * negative), then exits. Returns its pid once it holds the lock. */
static pid_t hold_in_child(const char *path, int hold_ms)
{
	int ready[2];
	if (pipe(ready) != 0) {
		return -1;
	}
	pid_t child = fork();
	if (child == 0) {
		close(ready[0]);
		enum lock_status st;
		struct file_lock *lock = file_lock_acquire(path, 0, &st);
		char c = lock ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1) {
			_exit(2);
		}
		if (hold_ms < 0) {
			pause();
		}
		struct timespec ts = {hold_ms / 1000, (long)(hold_ms % 1000) * 1000 * 1000};
		nanosleep(&ts, NULL);
		_exit(0);
	}
	close(ready[1]);
	char c = 0;
	bool held = read(ready[0], &c, 1) == 1 && c == 'y';
	close(ready[0]);
	return held ? child : -1;
}

static void test_waiting_lock(const char *dir)
{
	char *path = xasprintf("%s/tokens.lock", dir);
	pid_t child = hold_in_child(path, -1);
	ok(child > 0, "a child holds the lock");
	enum lock_status st = LOCK_TAKEN;
	struct file_lock *lock = file_lock_acquire(path, 50, &st);
	ok(lock == NULL && st == LOCK_HELD, "a waiter gives up on a holder that does not let go");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	child = hold_in_child(path, 100);
	ok(child > 0, "a child holds the lock for a moment");
	lock = file_lock_acquire(path, 600 * 1000, &st);
	ok(lock != NULL && st == LOCK_TAKEN, "a waiter gets it once the holder lets go");
	file_lock_release(lock);
	waitpid(child, NULL, 0);
	ok(access(path, F_OK) == 0, "releasing keeps the file");

	char *sub = xasprintf("%s/a-directory.lock", dir);
	mkdir(sub, 0700);
	lock = file_lock_acquire(sub, 0, &st);
	ok(lock == NULL && st == LOCK_ERROR, "a directory at the path is an error, not a held lock");
	free(sub);
	free(path);
}

static void test_lost_lock(const char *dir)
{
	char *db = xasprintf("%s/lost.db", dir);
	char *path = xasprintf("%s.lock", db);
	bool other;
	struct state_lock *lock = state_lock_acquire(db, &other);
	ok(lock != NULL, "takes the run lock");
	ok(state_lock_check(lock), "still held while the file is in place");
	ok(state_lock_check(NULL), "a dry run, holding none, never loses it");
	unlink(path);
	ok(!state_lock_check(lock), "a deleted lock file is noticed");
	struct state_lock *second = state_lock_acquire(db, &other);
	ok(second != NULL, "which let another run take a lock of its own");
	ok(state_lock_check(second), "the other run's lock is its own");
	state_lock_release(second);
	ok(!state_lock_check(lock), "the first run's is still lost");
	state_lock_release(lock);

	lock = state_lock_acquire(db, &other);
	char *tmp = xasprintf("%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	close(fd);
	ok(rename(tmp, path) == 0 && !state_lock_check(lock), "a replaced lock file is noticed");
	state_lock_release(lock);
	ok(access(path, F_OK) == 0, "the run lock's file is kept after release");
	free(tmp);
	free(path);
	free(db);
}

/* A run lock this user may not write, held by another user's run, reads as held (exit 5),
 * not as a local error. File modes do not bind root, so the waiter runs as nobody. */
static void test_held_but_not_writable(const char *dir)
{
	if (geteuid() != 0) {
		printf("# not root: cannot run a second user, skipping the unwritable held lock\n");
		return;
	}
	char *db = xasprintf("%s/shared.db", dir);
	char *path = xasprintf("%s.lock", db);
	bool other;
	struct state_lock *lock = state_lock_acquire(db, &other);
	ok(lock != NULL && chmod(path, 0644) == 0 && chmod(dir, 0755) == 0,
		"the owner's run holds a lock only it may write");
	pid_t child = fork();
	if (child == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0) {
			_exit(3);
		}
		bool held = false;
		struct state_lock *mine = state_lock_acquire(db, &held);
		_exit(mine ? 2 : held ? 0 : 1);
	}
	int status = -1;
	waitpid(child, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0,
		"another user is told the lock is held");
	state_lock_release(lock);
	child = fork();
	if (child == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0) {
			_exit(3);
		}
		bool held = true;
		struct state_lock *mine = state_lock_acquire(db, &held);
		_exit(mine ? 2 : held ? 0 : 1);
	}
	waitpid(child, &status, 0);
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 1,
		"and once it is free, that it cannot write it: a local error");
	chmod(dir, 0700);
	free(path);
	free(db);
}

int main(void)
{
	log_init(LOG_QUIET, LOG_FORMAT_TEXT);
	char tmpl[] = "/tmp/refty-lever-lock-XXXXXX";
	char *dir = mkdtemp(tmpl);
	ok(dir != NULL, "temporary directory");
	char *db = xasprintf("%s/state.db", dir);

	int ready[2];
	if (pipe(ready) != 0) {
		return 1;
	}
	pid_t child = fork();
	if (child == 0) {
		close(ready[0]);
		bool other;
		struct state_lock *lock = state_lock_acquire(db, &other);
		char c = lock ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1) {
			_exit(2);
		}
		pause(); // hold the lock until killed
		_exit(0);
	}
	close(ready[1]);
	char c = 0;
	ok(read(ready[0], &c, 1) == 1 && c == 'y', "first process takes the lock");

	bool other = false;
	struct state_lock *lock = state_lock_acquire(db, &other);
	ok(lock == NULL, "second process is refused");
	ok(other, "refusal says another run holds it");

	char *lockfile = xasprintf("%s.lock", db);
	FILE *f = fopen(lockfile, "r");
	long pid = 0;
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1) {
			pid = 0;
		}
		fclose(f);
	}
	is_int(pid, child, "lock file names the holder's pid");

	// SIGKILL: no chance to unlock; flock is released by the kernel.
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	lock = state_lock_acquire(db, &other);
	ok(lock != NULL, "lock is free once the holder died");
	state_lock_release(lock);

	test_waiting_lock(dir);
	test_lost_lock(dir);
	test_held_but_not_writable(dir);

	free(lockfile);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", dir);
	}
	free(cmd);
	free(db);
	return tap_done();
}
