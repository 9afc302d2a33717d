#define LOG_MODULE "files"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xalloc.h"

static void wipe_free(char *buf, size_t len)
{
	if (buf) {
		memset(buf, 0, len);
		free(buf);
	}
}

/* Reads fd to its end into a new buffer; false with errno set, EFBIG when above max. */
static bool read_all(int fd, size_t max, char **out, size_t *out_len)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		return false;
	}
	if (st.st_size < 0 || (size_t)st.st_size > max) {
		errno = EFBIG;
		return false;
	}
	size_t cap = (size_t)st.st_size + 1;
	char *buf = xmalloc(cap);
	size_t len = 0;
	for (;;) {
		if (len == cap) {
			// Grew since fstat: whatever it is now, it is not a file we wrote.
			wipe_free(buf, cap);
			errno = EFBIG;
			return false;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			int saved = errno;
			wipe_free(buf, cap);
			errno = saved;
			return false;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return true;
}

int file_read_whole(const char *path, size_t max, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			return 0;
		}
		log_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	bool got = read_all(fd, max, out, len);
	int saved = errno;
	close(fd);
	if (!got) {
		log_error("cannot read '%s': %s", path,
			saved == EFBIG ? "larger than any file refty-lever writes" : strerror(saved));
		return -1;
	}
	return 1;
}

static bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			return false;
		}
		data += n;
		len -= (size_t)n;
	}
	return true;
}

char *file_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		return xstrdup(".");
	}
	if (slash == path) {
		return xstrdup("/");
	}
	return xstrndup(path, (size_t)(slash - path));
}

/* Makes a rename in dir durable. */
static bool sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		log_error("cannot open directory '%s': %s", dir, strerror(errno));
		return false;
	}
	// Some file systems cannot sync a directory (EINVAL); they order renames themselves.
	bool ok = fsync(fd) == 0 || errno == EINVAL;
	if (!ok) {
		log_error("cannot sync directory '%s': %s", dir, strerror(errno));
	}
	close(fd);
	return ok;
}

bool file_replace_private(const char *path, const char *data, size_t len)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		log_error("cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return false;
	}
	// mkstemp() creates 0600 already; fchmod() says so whatever the umask or the libc.
	bool ok = fchmod(fd, 0600) == 0 && write_all(fd, data, len) && fsync(fd) == 0;
	int saved = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		saved = errno;
	}
	if (ok && rename(tmp, path) != 0) {
		ok = false;
		saved = errno;
	}
	if (!ok) {
		log_error("cannot write '%s': %s", path, strerror(saved));
		unlink(tmp);
		free(tmp);
		return false;
	}
	free(tmp);
	char *dir = file_dir_of(path);
	ok = sync_dir(dir);
	free(dir);
	return ok;
}
