#define LOG_MODULE "signals"
#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"

// The handler touches these; only lock-free atomics are safe there.
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal handler needs lock-free atomic ints");

static atomic_int received; /* stop signals so far */
static atomic_int first;    /* the first one's number */
static atomic_int reported; /* levels logged so far */
/* One pipe per level, written once by the handler and never read: [level - 1][0 read, 1 write]. */
static int level_pipe[2][2] = {{-1, -1}, {-1, -1}};
/* A watcher's SIGHUP asks for a reload instead (signals_hup_reloads): counted here, and one
 * byte per signal in a pipe that the watcher drains when it takes the request. */
static atomic_bool hup_reloads;
static atomic_int reloads;
static int reload_pipe[2] = {-1, -1};

static const int stop_signals[] = {SIGTERM, SIGINT, SIGHUP};
#define N_STOP_SIGNALS (sizeof(stop_signals) / sizeof(stop_signals[0]))

static void on_stop_signal(int signo)
{
	int saved = errno;
	if (signo == SIGHUP && atomic_load(&hup_reloads)) {
		atomic_fetch_add(&reloads, 1);
		ssize_t w = write(reload_pipe[1], "", 1);
		(void)w; // a full pipe already wakes the watcher; the counter is the truth
		errno = saved;
		return;
	}
	// The name before the count, so that whoever sees the count can name the signal.
	int none = 0;
	atomic_compare_exchange_strong(&first, &none, signo);
	int n = atomic_fetch_add(&received, 1) + 1;
	if (n <= 2) {
		ssize_t w = write(level_pipe[n - 1][1], "", 1);
		(void)w; // nothing to do about it in a handler; the counter is the truth
	}
	errno = saved;
}

void signals_ignore_write_faults(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);
}

static bool open_pipe(int fds[2])
{
	if (pipe(fds) != 0) {
		return false;
	}
	for (int i = 0; i < 2; i++) {
		// Never inherited, and the handler's write never blocks.
		int fl = fcntl(fds[i], F_GETFL);
		if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0 || fl < 0 ||
			fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) != 0) {
			close(fds[0]);
			close(fds[1]);
			fds[0] = fds[1] = -1;
			return false;
		}
	}
	return true;
}

bool signals_install_stop(void)
{
	for (int level = 0; level < 3; level++) {
		int *fds = level < 2 ? level_pipe[level] : reload_pipe;
		if (fds[1] < 0 && !open_pipe(fds)) {
			log_error("cannot set up the handling of SIGTERM, SIGINT and SIGHUP: %s; they "
				  "will end the process at once",
				strerror(errno));
			return false;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_STOP_SIGNALS; i++) {
		sigaddset(&sa.sa_mask, stop_signals[i]);
	}
	for (size_t i = 0; i < N_STOP_SIGNALS; i++) {
		if (sigaction(stop_signals[i], &sa, NULL) != 0) {
			log_error("cannot handle signal %d: %s", stop_signals[i], strerror(errno));
			return false;
		}
	}
	return true;
}

const char *signals_name(void)
{
	switch (atomic_load(&first)) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	default:
		return NULL;
	}
}

/* Logs each level once, from whichever thread notices it first. */
static void report(int n)
{
	int seen = atomic_load(&reported);
	while (seen < n && seen < 2) {
		if (!atomic_compare_exchange_weak(&reported, &seen, seen + 1)) {
			continue;
		}
		if (seen == 0) {
			log_info("%s received: starting no new work; what is in flight finishes and "
				 "everything done is recorded (send the signal again to stop at once)",
				signals_name());
		} else {
			log_info("second stop signal received: stopping at once; what is in flight is "
				 "abandoned");
		}
		seen++;
	}
}

bool signals_requested(enum signals_level level)
{
	int n = atomic_load(&received);
	if (n > atomic_load(&reported)) {
		report(n);
	}
	return n >= (int)level;
}

bool signals_sleep(double seconds, enum signals_level level)
{
	if (signals_requested(level)) {
		return false;
	}
	if (!(seconds > 0)) {
		return true;
	}
	// Without the handlers the descriptor is -1, which poll() ignores: a plain sleep.
	struct pollfd p = {.fd = level_pipe[level - 1][0], .events = POLLIN};
	double deadline = timeutil_monotonic_seconds() + seconds;
	for (;;) {
		double left = deadline - timeutil_monotonic_seconds();
		if (left <= 0) {
			return true;
		}
		// Rounded up: a sleep may end late, never early (the rate limiter relies on it).
		double ms = ceil(left * 1000);
		int r = poll(&p, 1, ms > INT_MAX ? INT_MAX : (int)ms);
		if (signals_requested(level) || r > 0) {
			return false;
		}
	}
}

void signals_hup_reloads(void)
{
	atomic_store(&hup_reloads, true);
}

bool signals_take_reload(void)
{
	if (atomic_exchange(&reloads, 0) == 0) {
		return false;
	}
	char buf[64];
	while (reload_pipe[0] >= 0 && read(reload_pipe[0], buf, sizeof(buf)) > 0) {
	}
	return true;
}

void signals_wait(double seconds)
{
	if (signals_requested(SIGNALS_STOP) || atomic_load(&reloads) > 0 || !(seconds > 0)) {
		return;
	}
	struct pollfd p[2] = {
		{.fd = level_pipe[0][0], .events = POLLIN},
		{.fd = reload_pipe[0], .events = POLLIN},
	};
	double ms = ceil(seconds * 1000);
	int r = poll(p, 2, ms > INT_MAX ? INT_MAX : (int)ms);
	(void)r; // the caller looks at the clock and the requests, whatever woke it
	signals_requested(SIGNALS_STOP); // logs a stop that came in the wait
}
