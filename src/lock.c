#define LOG_MODULE "lock"
#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"
#include "xalloc.h"

/* How often a waiter tries a held lock again. */
#define LOCK_POLL_MS 20

struct file_lock {
	int fd;
	bool writable; /* opened for writing (a lock taken read-only can hold no pid) */
	char *path;
};

struct state_lock {
	struct file_lock *file;
	atomic_bool lost; /* reported once, whichever thread notices */
};

static void log_open_error(const char *path, int err)
{
	if (err == EISDIR) {
		log_error("cannot use the lock file '%s': it is a directory. Move it away; "
			  "refty-lever creates the file itself",
			path);
	} else if (err == EACCES || err == EPERM || err == EROFS) {
		char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = '\0';
		}
		log_error("cannot create or write the lock file '%s': %s. The user that runs "
			  "refty-lever needs write access to it and to its directory '%s'",
			path, strerror(err), slash ? dir : ".");
		free(dir);
	} else {
		log_error("cannot open the lock file '%s': %s", path, strerror(err));
	}
}

/* Opens path for locking: for writing when allowed, else for reading, which still tells
 * whether another process holds the lock. -1 (errno set) when neither works. */
static int open_lock_file(const char *path, bool *writable)
{
	*writable = true;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS)) {
		int saved = errno;
		*writable = false;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			errno = saved;
		}
	}
	return fd;
}

struct file_lock *file_lock_acquire(const char *path, int timeout_ms, enum lock_status *status)
{
	bool writable;
	int fd = open_lock_file(path, &writable);
	if (fd < 0) {
		log_open_error(path, errno);
		*status = LOCK_ERROR;
		return NULL;
	}
	// flock() cannot time out by itself; polling keeps the wait bounded without signals,
	// which would reach whichever thread they please.
	int64_t deadline = timeutil_monotonic_ms() + timeout_ms;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			break;
		}
		if (errno == EINTR) {
			continue;
		}
		*status = errno == EWOULDBLOCK ? LOCK_HELD : LOCK_ERROR;
		if (*status == LOCK_ERROR) {
			log_error("cannot lock '%s': %s", path, strerror(errno));
		}
		if (*status == LOCK_ERROR || timeutil_monotonic_ms() >= deadline) {
			close(fd);
			return NULL;
		}
		struct timespec ts = {0, LOCK_POLL_MS * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	struct file_lock *lock = xcalloc(1, sizeof(*lock));
	lock->fd = fd;
	lock->writable = writable;
	lock->path = xstrdup(path);
	*status = LOCK_TAKEN;
	return lock;
}

void file_lock_release(struct file_lock *lock)
{
	if (!lock) {
		return;
	}
	// Closing the only descriptor releases the flock.
	close(lock->fd);
	free(lock->path);
	free(lock);
}

static long read_pid(const char *path)
{
	char buf[32] = {0};
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf) - 1, 0);
	if (fd >= 0) {
		close(fd);
	}
	return n > 0 ? strtol(buf, NULL, 10) : 0;
}

struct state_lock *state_lock_acquire(const char *db_path, bool *held_by_other)
{
	*held_by_other = false;
	char *path = xasprintf("%s.lock", db_path);
	enum lock_status status;
	struct file_lock *file = file_lock_acquire(path, 0, &status);
	if (status == LOCK_HELD) {
		*held_by_other = true;
		long pid = read_pid(path);
		if (pid > 0) {
			log_error("another refty-lever run (pid %ld) holds the lock '%s': nothing done",
				pid, path);
		} else {
			log_error("another refty-lever run holds the lock '%s': nothing done", path);
		}
	}
	if (file && !file->writable) {
		log_open_error(path, EACCES);
		file_lock_release(file);
		file = NULL;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (file && (ftruncate(file->fd, 0) != 0 || pwrite(file->fd, pid, (size_t)len, 0) != len)) {
		log_error("cannot write the lock file '%s': %s", path, strerror(errno));
		file_lock_release(file);
		file = NULL;
	}
	free(path);
	if (!file) {
		return NULL;
	}
	struct state_lock *lock = xcalloc(1, sizeof(*lock));
	lock->file = file;
	atomic_init(&lock->lost, false);
	return lock;
}

bool state_lock_check(struct state_lock *lock)
{
	if (!lock) {
		return true;
	}
	struct stat held, named;
	if (fstat(lock->file->fd, &held) != 0) {
		log_error("cannot examine the lock on '%s': %s", lock->file->path, strerror(errno));
		return false;
	}
	bool gone = stat(lock->file->path, &named) != 0;
	if (!gone && named.st_dev == held.st_dev && named.st_ino == held.st_ino) {
		return true;
	}
	if (!atomic_exchange(&lock->lost, true)) {
		log_error("the lock file '%s' was %s while this run held it, so another run may have "
			  "started alongside: stopped before the next change. Nothing is lost: the next "
			  "run continues from the journal. Never delete or replace the lock file; "
			  "refty-lever keeps it on purpose",
			lock->file->path, gone ? "removed" : "replaced");
	}
	return false;
}

void state_lock_release(struct state_lock *lock)
{
	if (!lock) {
		return;
	}
	// Emptying the file first means a reader never sees a stale pid.
	if (ftruncate(lock->file->fd, 0) != 0) {
		log_debug("cannot truncate lock file '%s': %s", lock->file->path, strerror(errno));
	}
	file_lock_release(lock->file);
	free(lock);
}
