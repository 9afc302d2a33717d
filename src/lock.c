#define LOG_MODULE "lock"
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

struct state_lock {
	int fd;
	char *path;
};

static long read_pid(int fd)
{
	char buf[32] = {0};
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0) {
		return 0;
	}
	return strtol(buf, NULL, 10);
}

struct state_lock *state_lock_acquire(const char *db_path, bool *held_by_other)
{
	*held_by_other = false;
	char *path = xasprintf("%s.lock", db_path);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open lock file '%s': %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			*held_by_other = true;
			long pid = read_pid(fd);
			if (pid > 0) {
				log_error("another refty-lever run (pid %ld) holds the lock '%s': nothing done",
					pid, path);
			} else {
				log_error("another refty-lever run holds the lock '%s': nothing done", path);
			}
		} else {
			log_error("cannot lock '%s': %s", path, strerror(errno));
		}
		close(fd);
		free(path);
		return NULL;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		log_error("cannot write lock file '%s': %s", path, strerror(errno));
		close(fd);
		free(path);
		return NULL;
	}
	struct state_lock *lock = xcalloc(1, sizeof(*lock));
	lock->fd = fd;
	lock->path = path;
	return lock;
}

void state_lock_release(struct state_lock *lock)
{
	if (!lock) {
		return;
	}
	// Emptying the file first means a reader never sees a stale pid.
	if (ftruncate(lock->fd, 0) != 0) {
		log_debug("cannot truncate lock file '%s': %s", lock->path, strerror(errno));
	}
	close(lock->fd);
	free(lock->path);
	free(lock);
}
