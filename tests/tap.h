/* tap.h - a tiny TAP producer for the unit tests, plus conformance-data
 * helpers. Header-only; each test program includes it once.
 *
 *   tap_ok(cond, "name %s", arg);   one test line
 *   tap_skip_all("reason");         whole program skipped (exits 0 or, under CI=true, 1)
 *   tap_skip_data("what %s", arg);  one case's conformance data missing: a skip,
 *                                   a failure under CI=true
 *   return tap_done();              prints the plan, returns the exit status
 *
 * The conformance data is read from $AWS_CREDPROC_CONFORMANCE_DIR, else from
 * ../shared/conformance next to the source tree (CP_SOURCE_ROOT). CI always
 * has it (tests/check.sh points the variable at it), so under CI=true a
 * missing corpus is a failure, never a skip.
 */
#ifndef CP_TAP_H
#define CP_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

static int tap_n, tap_failed;

__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int cond, const char *fmt, ...)
{
	/* One line, whatever the description holds (a message with its
	 * newline): a TAP reader takes any other line for garbage. */
	char desc[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(desc, sizeof desc, fmt, ap);
	va_end(ap);
	for (char *p = desc; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	printf("%s %d - %s\n", cond ? "ok" : "not ok", ++tap_n, desc);
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

__attribute__((format(printf, 1, 2), unused))
static void tap_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("ok %d - # SKIP ", ++tap_n);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/* Is this a CI run (CI=true), where the conformance data must be present? */
__attribute__((unused)) static int tap_ci(void)
{
	const char *ci = getenv("CI");
	return ci && strcmp(ci, "true") == 0;
}

__attribute__((format(printf, 1, 2), unused))
static void tap_skip_data(const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (tap_ci())
		tap_ok(0, "%s: conformance data required under CI=true", what);
	else
		tap_skip("%s", what);
}

__attribute__((unused)) static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

/* Exits: the conformance data is absent. A failure under CI=true. Tests
 * already reported stay valid TAP: the rest becomes one skipped line. */
__attribute__((noreturn, unused)) static void tap_skip_all(const char *reason)
{
	if (tap_ci()) {
		printf("not ok %d - conformance data required under CI=true: %s\n1..%d\n", tap_n + 1,
		       reason, tap_n + 1);
		exit(1);
	}
	if (tap_n) {
		printf("ok %d - # SKIP %s\n1..%d\n", tap_n + 1, reason, tap_n + 1);
		exit(tap_failed ? 1 : 0);
	}
	printf("1..0 # SKIP %s\n", reason);
	exit(0);
}

/* Returns a static path to the conformance directory, or NULL. */
__attribute__((unused)) static const char *tap_conformance_dir(void)
{
	static char path[4096];
	const char *env = getenv("AWS_CREDPROC_CONFORMANCE_DIR");
	struct stat st;
	if (env && *env)
		snprintf(path, sizeof path, "%s", env);
	else
		snprintf(path, sizeof path, "%s/../shared/conformance", CP_SOURCE_ROOT);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return path;
	return NULL;
}

/* Reads a whole file into a heap string (NULL on failure). */
__attribute__((unused)) static char *tap_slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		size_t n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

/* Loads a JSON file under the conformance dir; skips everything if absent. */
__attribute__((unused)) static cJSON *tap_load_conformance_json(const char *relpath)
{
	const char *dir = tap_conformance_dir();
	if (!dir)
		tap_skip_all("conformance data not found (set AWS_CREDPROC_CONFORMANCE_DIR)");
	char path[8192];
	snprintf(path, sizeof path, "%s/%s", dir, relpath);
	char *text = tap_slurp(path, NULL);
	if (!text)
		tap_skip_all("conformance file missing");
	cJSON *j = cJSON_Parse(text);
	free(text);
	if (!j) {
		printf("not ok 1 - %s is not valid JSON\n1..1\n", relpath);
		exit(1);
	}
	return j;
}

#endif
