#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "signals.h"
#include "tap.h"
#include "timeutil.h"

/* A thread blocked in a long signals_sleep: the test checks that a signal delivered to
 * another thread (raise() targets the caller) ends it. The long sleep is only a hang guard. */
struct sleeper {
	enum signals_level level;
	atomic_bool started;
	atomic_bool returned;
	bool full; /* what signals_sleep returned */
	pthread_t thread;
};

static void *sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	atomic_store(&s->started, true);
	s->full = signals_sleep(600, s->level);
	atomic_store(&s->returned, true);
	return NULL;
}

static void start(struct sleeper *s, enum signals_level level)
{
	s->level = level;
	atomic_store(&s->started, false);
	atomic_store(&s->returned, false);
	pthread_create(&s->thread, NULL, sleeper_main, s);
	while (!atomic_load(&s->started)) {
		sched_yield();
	}
	// Let it get into poll(); the outcome does not depend on it, only what is tested does.
	struct timespec nap = {0, 50 * 1000 * 1000};
	nanosleep(&nap, NULL);
}

static void test_before_any_signal(void)
{
	ok(!signals_requested(SIGNALS_STOP), "no stop before a signal");
	ok(!signals_requested(SIGNALS_ABORT), "no abort before a signal");
	ok(signals_name() == NULL, "no signal named before one");
	ok(signals_sleep(0.01, SIGNALS_STOP), "a sleep runs its whole time without a stop");
	ok(signals_sleep(0, SIGNALS_STOP), "a zero sleep is a whole sleep");
}

static void test_write_faults_ignored(void)
{
	signals_ignore_write_faults();
	raise(SIGPIPE);
	raise(SIGXFSZ);
	ok(true, "SIGPIPE and SIGXFSZ do not end the process");
}

/* A watcher's SIGHUP: a reload request, taken once, that wakes a wait and stops nothing. */
static void test_hup_reloads_for_a_watcher(void)
{
	ok(signals_install_stop(), "the stop handlers install");
	ok(!signals_take_reload(), "no reload before a signal");
	signals_hup_reloads();
	raise(SIGHUP);
	ok(!signals_requested(SIGNALS_STOP), "SIGHUP asks no stop of a watcher");
	double t0 = timeutil_monotonic_seconds();
	signals_wait(600);
	ok(timeutil_monotonic_seconds() - t0 < 60, "a pending reload ends a wait at once");
	ok(signals_take_reload(), "the reload is taken");
	ok(!signals_take_reload(), "once");
	t0 = timeutil_monotonic_seconds();
	signals_wait(0.05);
	ok(timeutil_monotonic_seconds() - t0 >= 0.05, "a wait without a request runs its time");
	raise(SIGHUP);
	raise(SIGHUP);
	ok(signals_take_reload(), "two SIGHUPs before a take are one reload");
	ok(!signals_take_reload(), "and no more");
}

static void test_first_signal_stops_second_aborts(void)
{
	struct sleeper stop, abort_;
	start(&stop, SIGNALS_STOP);
	start(&abort_, SIGNALS_ABORT);

	raise(SIGTERM);
	pthread_join(stop.thread, NULL);
	ok(!stop.full, "the first signal ends a stop-level sleep in another thread");
	ok(signals_requested(SIGNALS_STOP), "a stop is requested after the first signal");
	ok(!signals_requested(SIGNALS_ABORT), "no abort after one signal");
	is_str(signals_name(), "SIGTERM", "the first signal is named");
	ok(!signals_sleep(0.01, SIGNALS_STOP), "a stop-level sleep after a stop ends at once");
	ok(signals_sleep(0.01, SIGNALS_ABORT), "an abort-level sleep still runs after one signal");
	struct timespec nap = {0, 50 * 1000 * 1000};
	nanosleep(&nap, NULL);
	ok(!atomic_load(&abort_.returned), "an abort-level sleep goes on after the first signal");

	raise(SIGINT);
	pthread_join(abort_.thread, NULL);
	ok(!abort_.full, "the second signal ends an abort-level sleep in another thread");
	ok(signals_requested(SIGNALS_ABORT), "an abort is requested after the second signal");
	is_str(signals_name(), "SIGTERM", "the name stays the first signal's");
	raise(SIGINT);
	ok(signals_requested(SIGNALS_ABORT), "a third signal changes nothing (and kills nothing)");
}

int main(void)
{
	test_before_any_signal();
	test_write_faults_ignored();
	test_hup_reloads_for_a_watcher();
	test_first_signal_stops_second_aborts();
	return tap_done();
}
