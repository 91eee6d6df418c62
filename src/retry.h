/* retry.h - the clock, and attempts with backoff inside one deadline.
 *
 * Every repeated remote call (STS, IMDS, the container endpoint, SSO) goes
 * through cp_retry_run(): at most `attempts` tries, full-jitter exponential
 * backoff between them, nothing started after the deadline, the decision
 * to try again taken from the failure's class (cp_error_retryable) unless
 * the caller says otherwise. Time is read and slept through a cp_clock, so
 * that the tests run the whole chain on a fake clock without sleeping.
 */
#ifndef CP_RETRY_H
#define CP_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

typedef struct cp_clock cp_clock;
struct cp_clock {
	int64_t (*now)(const cp_clock *c);           /* Unix seconds */
	int64_t (*mono_ms)(const cp_clock *c);       /* monotonic milliseconds */
	void (*sleep_ms)(const cp_clock *c, long ms); /* sleeps ms (restarted on EINTR) */
	void *data;                                  /* the clock's own state (fakes) */
};

/* The system's clocks: CLOCK_REALTIME, CLOCK_MONOTONIC, nanosleep. */
extern const cp_clock cp_clock_system;

/* The monotonic clock in milliseconds (CLOCK_MONOTONIC). */
int64_t cp_mono_ms(void);
/* Sleeps ms milliseconds, restarting after signals. */
void cp_sleep_ms(long ms);

/* One attempt (attempt counts from 1; left_ms is the time before the
 * deadline, > 0, or LONG_MAX without one): 0, or a CP_E* status with err
 * set. */
typedef int (*cp_attempt_fn)(void *ctx, int attempt, long left_ms, cp_error *err);
/* Whether another attempt may help after one that returned r (r != 0).
 * NULL: cp_error_retryable(err). */
typedef bool (*cp_retryable_fn)(void *ctx, int r, const cp_error *err);

typedef struct cp_retry {
	int attempts;        /* at most; < 1 counts as 1 */
	long base_ms;        /* backoff before attempt n+1: random in [0, min(cap, base * 2^n)) */
	long cap_ms;
	int64_t deadline_ms; /* on clock->mono_ms; 0: none */
	const cp_clock *clock; /* NULL: cp_clock_system */
	cp_retryable_fn retryable;
	void *ctx;           /* passed to fn and retryable */
	const char *what;    /* names the call in debug lines */
} cp_retry;

/* Runs fn until it succeeds, fails in a way another attempt cannot help,
 * the attempts run out, or the next backoff would end past the deadline;
 * returns the last attempt's status (its err kept). When no time is left
 * before the first attempt, returns CP_ETRANSPORT with cause
 * CP_CAUSE_NO_ANSWER and "no time left" in err->msg (callers reword it). */
int cp_retry_run(const cp_retry *p, cp_attempt_fn fn, cp_error *err);

#endif
