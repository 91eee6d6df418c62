/* retry.c - the clock, and attempts with backoff inside one deadline. */
#include "retry.h"

#include <limits.h>
#include <sys/random.h>
#include <time.h>

int64_t cp_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cp_sleep_ms(long ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0)
		;
}

static int64_t s_sys_now(const cp_clock *c)
{
	(void)c;
	return cp_now();
}

static int64_t s_sys_mono(const cp_clock *c)
{
	(void)c;
	return cp_mono_ms();
}

static void s_sys_sleep(const cp_clock *c, long ms)
{
	(void)c;
	cp_sleep_ms(ms);
}

const cp_clock cp_clock_system = {
	.now = s_sys_now,
	.mono_ms = s_sys_mono,
	.sleep_ms = s_sys_sleep,
};

/* The backoff before attempt `attempt` + 1. */
static long s_backoff_ms(const cp_retry *p, int attempt)
{
	long ceiling = p->base_ms << (attempt < 16 ? attempt : 16);
	if (ceiling > p->cap_ms)
		ceiling = p->cap_ms;
	if (ceiling <= 0)
		return 0;
	unsigned int rnd = 0;
	if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
		rnd = (unsigned int)cp_mono_ms() * 2654435761u + (unsigned int)attempt;
	return (long)(rnd % (unsigned long)ceiling);
}

int cp_retry_run(const cp_retry *p, cp_attempt_fn fn, cp_error *err)
{
	const cp_clock *clock = p->clock ? p->clock : &cp_clock_system;
	int attempts = p->attempts > 0 ? p->attempts : 1;
	for (int attempt = 1;; attempt++) {
		long left = LONG_MAX;
		if (p->deadline_ms) {
			int64_t l = p->deadline_ms - clock->mono_ms(clock);
			if (l <= 0) {
				int r = cp_error_set(err, CP_ETRANSPORT, "no time left");
				err->cause = CP_CAUSE_NO_ANSWER;
				return r;
			}
			left = l < LONG_MAX ? (long)l : LONG_MAX;
		}
		cp_error_clear(err);
		int r = fn(p->ctx, attempt, left, err);
		if (!r || attempt >= attempts)
			return r;
		if (!(p->retryable ? p->retryable(p->ctx, r, err) : cp_error_retryable(err)))
			return r;
		long delay = s_backoff_ms(p, attempt);
		if (p->deadline_ms && clock->mono_ms(clock) + delay >= p->deadline_ms)
			return r;
		cp_debug("%s: attempt %d failed (%s); retrying in %ld ms", p->what ? p->what : "request",
			 attempt, err->msg, delay);
		clock->sleep_ms(clock, delay);
	}
}
