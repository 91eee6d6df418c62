/* sts-retry.c - which STS error codes are worth another attempt.
 *
 * Part of the core (no network libraries): credproc.c decides about retries
 * without loading the network side, and the network module's sts.c calls
 * this one (exported by the executable, see exe-exports.list). */
#include <stdbool.h>
#include <string.h>

#include "sts.h"

bool cp_sts_error_retryable(const char *code)
{
	/* Throttling codes from botocore's _retry.json (general and STS) and the
	 * SDKs' common throttling list. */
	static const char *const retryable[] = {
		"Throttling",
		"ThrottlingException",
		"ThrottledException",
		"RequestThrottledException",
		"RequestLimitExceeded",
		"TooManyRequestsException",
		"ProvisionedThroughputExceededException",
		"IDPCommunicationError",
	};
	if (!code)
		return false;
	for (size_t i = 0; i < sizeof retryable / sizeof retryable[0]; i++)
		if (strcmp(code, retryable[i]) == 0)
			return true;
	return false;
}
