/*
 * An LD_PRELOAD library that gives a C program what every busy Go process
 * has: a thread that wakes every 10 ms, reads the monotonic clock twice and
 * sleeps again, as the Go runtime's monitor thread (sysmon) does while a
 * goroutine runs or is in a call into C. hack/bench.sh -m runs the C tools
 * with it, to tell the binding's own cost from the runtime's.
 */
#include <pthread.h>
#include <time.h>

static void *monitor(void *arg)
{
	struct timespec now, period = {0, 10 * 1000 * 1000};

	(void)arg;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		clock_gettime(CLOCK_MONOTONIC, &now);
		nanosleep(&period, NULL);
	}
	return NULL;
}

__attribute__((constructor)) static void start_monitor(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, monitor, NULL) == 0)
		pthread_detach(t);
}
