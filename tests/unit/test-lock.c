/* The run lock between two processes: the second gets "held by another" at
 * once and learns the holder's pid; the lock is free again when the holder
 * dies, even without unlocking. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"
#include "tap.h"
#include "xalloc.h"

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

	free(lockfile);
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0) {
		printf("# could not remove %s\n", dir);
	}
	free(cmd);
	free(db);
	return tap_done();
}
