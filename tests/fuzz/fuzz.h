/* fuzz.h - shared bits of the libFuzzer targets (tests/fuzz/fuzz-*.c).
 *
 * Each target parses untrusted bytes with the library's real parser, checks
 * a few invariants the parser's contract promises (a violation aborts, which
 * libFuzzer reports as a crash), and frees everything: leak detection is on
 * under AddressSanitizer.
 */
#ifndef CP_FUZZ_H
#define CP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__,    \
				__LINE__, #cond);                                          \
			abort();                                                           \
		}                                                                          \
	} while (0)

static void fuzz_quiet(void *userdata, const char *msg)
{
	(void)userdata;
	(void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	cp_set_warn_handler(fuzz_quiet, NULL); /* warnings are expected: keep the log readable */
	cp_set_debug(false);
	return 0;
}

#endif
