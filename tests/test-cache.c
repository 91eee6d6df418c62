/* test-cache.c - the on-disk credential cache: directory choice and checks,
 * round trips, the tamper matrix, locking, unwritable directories, clear,
 * prune and concurrent writers. Runs as root (the ownership cases chown to
 * 65534; the read-only case drops to 65534 in a child). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "tap.h"
#include "util.h"
#include "retry.h"

#define NOBODY 65534

static char s_root[64];
static int s_nwarn;
static char s_lastwarn[1024];

static void s_on_warn(void *userdata, const char *msg)
{
	(void)userdata;
	s_nwarn++;
	snprintf(s_lastwarn, sizeof s_lastwarn, "%s", msg);
}

static void s_reset_warn(void)
{
	s_nwarn = 0;
	s_lastwarn[0] = '\0';
}

static char *s_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *s_path(const char *fmt, ...)
{
	static char bufs[8][4096];
	static int i;
	char *b = bufs[i++ % 8];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof bufs[0], fmt, ap);
	va_end(ap);
	return b;
}

/* dir/<hash of key>.<ext>. Like s_path: a ring of 8 static buffers, so
 * never keep the result across more calls. */
static char *s_file(const char *dir, const char *key, const char *ext)
{
	char stem[17];
	cp_cache_name(key, stem);
	return s_path("%s/%s.%s", dir, stem, ext);
}

static int s_put(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	int ok = write(fd, data, len) == (ssize_t)len;
	close(fd);
	return ok && chmod(path, mode) == 0 ? 0 : -1;
}

static bool s_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static mode_t s_mode(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static int s_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(p) : unlink(p);
}

static void s_rm_rf(const char *path)
{
	nftw(path, s_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Counts directory entries (besides . and ..) whose name contains sub. */
static int s_count(const char *dir, const char *sub)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 && strstr(de->d_name, sub))
			n++;
	closedir(d);
	return n;
}

static cp_cache_entry s_entry(const char *id, const char *secret, const char *token, const char *account,
			      int64_t exp, int64_t issued)
{
	cp_cache_entry e = {0};
	e.creds.access_key_id = (char *)id;
	e.creds.secret_access_key = (char *)secret;
	e.creds.session_token = (char *)token;
	e.creds.account_id = (char *)account;
	e.creds.expiration = exp;
	e.issued = issued;
	return e;
}

static bool s_streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool s_entry_eq(const cp_cache_entry *a, const cp_cache_entry *b)
{
	return s_streq(a->creds.access_key_id, b->creds.access_key_id) &&
	       s_streq(a->creds.secret_access_key, b->creds.secret_access_key) &&
	       s_streq(a->creds.session_token, b->creds.session_token) &&
	       s_streq(a->creds.account_id, b->creds.account_id) && a->creds.expiration == b->creds.expiration &&
	       a->issued == b->issued;
}

static void s_open(cp_cache *c, const char *dir)
{
	cp_error err = {0};
	if (cp_cache_open(c, dir, &err) != 0 || !c->usable)
		tap_diag("cannot open cache '%s': %s / %s", dir, err.msg, s_lastwarn);
}

/* ---------------------------------------------------------------------- */

/* cp_cache_default_dir(override) equals want? */
static bool s_dir_is(const char *override, const char *want, const char *name)
{
	char *d = NULL;
	bool ok = cp_cache_default_dir(override, &d, NULL) == 0 && d &&
		  (want[0] == '*' ? d[0] == '/' && strstr(d, want + 1) != NULL : strcmp(d, want) == 0);
	tap_ok(ok, "dir: %s: %s", name, d ? d : "(error)");
	free(d);
	return ok;
}

static void s_default_dir(void)
{
	setenv("HOME", "/h", 1);
	setenv("XDG_CACHE_HOME", "/x", 1);
	setenv("AWS_CREDPROC_CACHE_DIR", "/e", 1);
	s_dir_is("/o", "/o", "the override first");
	s_dir_is(NULL, "/e", "then AWS_CREDPROC_CACHE_DIR");
	s_dir_is("", "/e", "an empty override is ignored");
	setenv("AWS_CREDPROC_CACHE_DIR", "", 1);
	s_dir_is(NULL, "/x/aws-credproc", "then XDG_CACHE_HOME (an empty AWS_CREDPROC_CACHE_DIR is ignored)");
	unsetenv("AWS_CREDPROC_CACHE_DIR");
	setenv("XDG_CACHE_HOME", "relative/dir", 1);
	s_dir_is(NULL, "/h/.cache/aws-credproc", "a relative XDG_CACHE_HOME is ignored");
	unsetenv("XDG_CACHE_HOME");
	s_dir_is(NULL, "/h/.cache/aws-credproc", "then ~/.cache/aws-credproc");
	unsetenv("HOME");
	s_dir_is(NULL, "*/.cache/aws-credproc", "no HOME: the passwd home directory");
	s_dir_is("/o/p//", "/o/p", "trailing slashes dropped");
	setenv("HOME", s_root, 1);
}

static void s_open_creates(void)
{
	cp_cache c = {.dirfd = -1};
	char dir[512];
	mode_t old = umask(022);

	snprintf(dir, sizeof dir, "%s/a/b/c", s_root);
	s_reset_warn();
	tap_ok(cp_cache_open(&c, dir, NULL) == 0 && c.usable && c.dirfd >= 0 && s_nwarn == 0,
	       "open: creates a missing path");
	tap_ok(c.dir && strcmp(c.dir, dir) == 0, "open: c.dir is the path");
	tap_ok(s_mode(s_path("%s/a", s_root)) == 0700 && s_mode(s_path("%s/a/b", s_root)) == 0700 &&
	       s_mode(dir) == 0700, "open: every created component is 0700");
	cp_cache_close(&c);
	tap_ok(c.dirfd == -1 && c.dir == NULL && !c.usable, "close resets");
	cp_cache_close(&c);

	/* An existing 0755 directory is acceptable and is never chmod-ed. */
	snprintf(dir, sizeof dir, "%s/d755", s_root);
	mkdir(dir, 0755);
	tap_ok(cp_cache_open(&c, dir, NULL) == 0 && c.usable && s_nwarn == 0 && s_mode(dir) == 0755,
	       "open: an existing 0755 directory is used as is");
	cp_cache_close(&c);
	umask(old);

	cp_cache z = {.dirfd = -1};
	cp_cache_close(&z); /* never opened: fine */
}

static void s_round_trip(void)
{
	cp_cache c = {.dirfd = -1};
	cp_cache_entry in, out = {0};
	cp_error err = {0};
	char dir[512];
	snprintf(dir, sizeof dir, "%s/rt", s_root);
	const char *key = "aws-credproc cache key v1\nrole_arn=arn:aws:iam::222222222222:role/x\n\"quoted\"\t\\";

	s_open(&c, dir);
	s_reset_warn();
	tap_ok(cp_cache_read(&c, key, &out, &err) == CP_CACHE_MISS && s_nwarn == 0, "read: absent is a silent miss");

	in = s_entry("ASIAFULL", "secret/with+chars=", "token-\"q\"-\\-\xc3\xa9", "222222222222", 1900000000,
		     1899996400);
	tap_ok(cp_cache_write(&c, key, &in, &err) == 0 && s_nwarn == 0, "write: ok");
	tap_ok(s_mode(s_file(dir, key, "json")) == 0600, "write: entry is 0600");
	tap_ok(s_count(dir, ".tmp") == 0, "write: no temp file left");
	tap_ok(cp_cache_read(&c, key, &out, &err) == 0 && s_entry_eq(&in, &out) && s_nwarn == 0,
	       "read: round trip of every field");
	cp_creds_clear(&out.creds);

	char *text = tap_slurp(s_file(dir, key, "json"), NULL);
	tap_ok(text && strstr(text, "\"Format\":1") && strstr(text, "\"Issued\":1899996400") &&
	       strstr(text, "\"Expiration\":1900000000"), "entry: versioned JSON with integer times");
	free(text);

	/* Times past 2^31 stay integers. */
	in = s_entry("ASIABIG", "s", NULL, NULL, 4102444800, 4102441200);
	tap_ok(cp_cache_write(&c, "big", &in, &err) == 0 && cp_cache_read(&c, "big", &out, &err) == 0 &&
	       s_entry_eq(&in, &out), "round trip after 2038");
	cp_creds_clear(&out.creds);

	const char *key2 = "another key";
	in = s_entry("AKIANOTOKEN", "s2", NULL, NULL, 2000, 1000);
	tap_ok(cp_cache_write(&c, key2, &in, &err) == 0 && cp_cache_read(&c, key2, &out, &err) == 0 &&
	       s_entry_eq(&in, &out) && !out.creds.session_token && !out.creds.account_id,
	       "round trip without token and account");
	cp_creds_clear(&out.creds);

	/* Overwrite replaces. */
	in = s_entry("AKIANEWER", "s3", "t3", NULL, 3000, 2000);
	tap_ok(cp_cache_write(&c, key2, &in, &err) == 0 && cp_cache_read(&c, key2, &out, &err) == 0 &&
	       s_entry_eq(&in, &out), "a second write replaces the entry");
	cp_creds_clear(&out.creds);

	/* Not cacheable: silently skipped, nothing written. */
	in = s_entry("AKIA", "s", NULL, NULL, 1000, 1000);
	tap_ok(cp_cache_write(&c, "uncacheable", &in, &err) == 0 && !s_exists(s_file(dir, "uncacheable", "json")) &&
	       s_nwarn == 0, "expiration <= issued: not written");
	in = s_entry("", "s", NULL, NULL, 2000, 1000);
	tap_ok(cp_cache_write(&c, "uncacheable", &in, &err) == 0 && !s_exists(s_file(dir, "uncacheable", "json")),
	       "empty key id: not written");

	/* Too large to ever be read back: refused with a warning. */
	char *huge = malloc(CP_CACHE_MAX_ENTRY + 10);
	memset(huge, 'T', CP_CACHE_MAX_ENTRY + 9);
	huge[CP_CACHE_MAX_ENTRY + 9] = '\0';
	in = s_entry("AKIA", "s", huge, NULL, 2000, 1000);
	s_reset_warn();
	tap_ok(cp_cache_write(&c, "huge", &in, &err) == 0 && !s_exists(s_file(dir, "huge", "json")) &&
	       s_nwarn == 1 && strstr(s_lastwarn, "larger than"), "oversized entry not written: %s", s_lastwarn);
	free(huge);

	/* Key mismatch: another key's entry under this key's name is a miss. */
	in = s_entry("AKIAALPHA", "alpha", NULL, NULL, 2000, 1000);
	cp_cache_write(&c, "alpha", &in, &err);
	rename(s_file(dir, "alpha", "json"), s_file(dir, "beta", "json"));
	s_reset_warn();
	out = (cp_cache_entry){0};
	tap_ok(cp_cache_read(&c, "beta", &out, &err) == CP_CACHE_MISS && !out.creds.access_key_id && s_nwarn == 1 &&
	       strstr(s_lastwarn, "written for another cache key"), "key mismatch: a miss with a warning: %s",
	       s_lastwarn);
	tap_ok(cp_cache_read(&c, "beta", &out, &err) == CP_CACHE_MISS && s_nwarn == 1,
	       "the same bad entry read again (the re-read under the lock): no second warning");
	s_put(s_file(dir, "beta", "json"), "{", 1, 0600);
	tap_ok(cp_cache_read(&c, "beta", &out, &err) == CP_CACHE_MISS && s_nwarn == 2 &&
	       strstr(s_lastwarn, "malformed"), "a different problem is reported again");
	in = s_entry("AKIABETA", "beta", NULL, NULL, 2000, 1000);
	cp_cache_write(&c, "beta", &in, &err);
	tap_ok(cp_cache_read(&c, "beta", &out, &err) == 0 && s_entry_eq(&in, &out), "replaced: a hit");
	cp_creds_clear(&out.creds);
	s_put(s_file(dir, "beta", "json"), "{", 1, 0600);
	tap_ok(cp_cache_read(&c, "beta", &out, &err) == CP_CACHE_MISS && s_nwarn == 3,
	       "after a hit, the same problem is reported again");
	cp_cache_close(&c);
}

static void s_names(void)
{
	char n[17];
	cp_cache_name("", n);
	tap_ok(strcmp(n, "cbf29ce484222325") == 0, "FNV-1a 64 of \"\": %s", n);
	cp_cache_name("a", n);
	tap_ok(strcmp(n, "af63dc4c8601ec8c") == 0, "FNV-1a 64 of \"a\": %s", n);
	cp_cache_name("foobar", n);
	tap_ok(strcmp(n, "85944171f73967e8") == 0, "FNV-1a 64 of \"foobar\": %s", n);
	cp_cache_name("role_arn=arn:aws:iam::222222222222:role/report-writer", n);
	tap_ok(strcmp(n, "7d23164a792970d6") == 0, "file name stable for a fixed key: %s", n);
}

/* ---------------------------------------------------------------------- */

#define TKEY "tamper key role_arn=arn:aws:iam::1:role/x"

static char *s_planted(const char *fmt_fields)
{
	return cp_asprintf("{\"Format\":1,\"Key\":\"" TKEY "\",%s}", fmt_fields);
}

#define PLANTED_OK "\"AccessKeyId\":\"AKIAPLANTED\",\"SecretAccessKey\":\"planted-secret\"," \
		   "\"SessionToken\":\"planted-token\",\"Expiration\":4000000000,\"Issued\":3999996400"

enum {
	T_EMPTY, T_TRUNCATED, T_NUL_GARBAGE, T_GARBAGE, T_ID_NUMBER, T_EXP_STRING, T_FORMAT_STRING, T_FORMAT_2,
	T_NO_SECRET, T_EMPTY_ID, T_EXP_LE_ISSUED, T_NO_ISSUED, T_EXP_FRACTION, T_TOKEN_NUMBER, T_ARRAY,
	T_TRAILING, T_KEY_NUMBER, T_OVERSIZED, T_SYMLINK, T_DIRECTORY, T_FIFO, T_GROUP_WRITABLE,
	T_WORLD_WRITABLE, T_OTHER_OWNER, T_OTHER_KEY, T_COUNT
};

static const char *s_tamper_names[T_COUNT] = {
	"empty", "truncated", "NUL + garbage", "garbage", "AccessKeyId a number", "Expiration a string",
	"Format a string", "Format 2", "no SecretAccessKey", "empty AccessKeyId", "Expiration <= Issued",
	"no Issued", "fractional Expiration", "SessionToken a number", "top-level array", "trailing garbage",
	"Key a number", "oversized (> 64 KiB)", "symlink to a valid entry elsewhere", "a directory",
	"a FIFO", "group-writable (0660)", "world-writable (0606)", "owned by uid 65534",
	"written for another key",
};

/* Plants the tampered entry at path. 0 or -1. */
static int s_plant(int t, const char *path)
{
	char *ok = s_planted(PLANTED_OK);
	char *text = NULL;
	int r = -1;

	switch (t) {
	case T_EMPTY: r = s_put(path, "", 0, 0600); break;
	case T_TRUNCATED: r = s_put(path, ok, strlen(ok) / 2, 0600); break;
	case T_NUL_GARBAGE: r = s_put(path, "\0garbage{not json", 17, 0600); break;
	case T_GARBAGE: r = s_put(path, "hello, world\n", 13, 0600); break;
	case T_ID_NUMBER:
		text = s_planted("\"AccessKeyId\":12,\"SecretAccessKey\":\"planted-secret\",\"Expiration\":4000000000,"
				 "\"Issued\":3999996400");
		break;
	case T_EXP_STRING:
		text = s_planted("\"AccessKeyId\":\"AKIAPLANTED\",\"SecretAccessKey\":\"planted-secret\","
				 "\"Expiration\":\"4000000000\",\"Issued\":3999996400");
		break;
	case T_FORMAT_STRING:
		text = cp_asprintf("{\"Format\":\"1\",\"Key\":\"" TKEY "\"," PLANTED_OK "}");
		break;
	case T_FORMAT_2: text = cp_asprintf("{\"Format\":2,\"Key\":\"" TKEY "\"," PLANTED_OK "}"); break;
	case T_NO_SECRET:
		text = s_planted("\"AccessKeyId\":\"AKIAPLANTED\",\"Expiration\":4000000000,\"Issued\":3999996400");
		break;
	case T_EMPTY_ID:
		text = s_planted("\"AccessKeyId\":\"\",\"SecretAccessKey\":\"planted-secret\",\"Expiration\":4000000000,"
				 "\"Issued\":3999996400");
		break;
	case T_EXP_LE_ISSUED:
		text = s_planted("\"AccessKeyId\":\"AKIAPLANTED\",\"SecretAccessKey\":\"planted-secret\","
				 "\"Expiration\":3999996400,\"Issued\":3999996400");
		break;
	case T_NO_ISSUED:
		text = s_planted("\"AccessKeyId\":\"AKIAPLANTED\",\"SecretAccessKey\":\"planted-secret\","
				 "\"Expiration\":4000000000");
		break;
	case T_EXP_FRACTION:
		text = s_planted("\"AccessKeyId\":\"AKIAPLANTED\",\"SecretAccessKey\":\"planted-secret\","
				 "\"Expiration\":4000000000.5,\"Issued\":3999996400");
		break;
	case T_TOKEN_NUMBER:
		text = s_planted("\"AccessKeyId\":\"AKIAPLANTED\",\"SecretAccessKey\":\"planted-secret\","
				 "\"SessionToken\":7,\"Expiration\":4000000000,\"Issued\":3999996400");
		break;
	case T_ARRAY: text = cp_asprintf("[%s]", ok); break;
	case T_TRAILING: text = cp_asprintf("%s x", ok); break;
	case T_OTHER_KEY:
		text = cp_asprintf("{\"Format\":1,\"Key\":\"" TKEY "profile=attacker\"," PLANTED_OK "}");
		break;
	case T_KEY_NUMBER: text = cp_asprintf("{\"Format\":1,\"Key\":5," PLANTED_OK "}"); break;
	case T_OVERSIZED: {
		size_t n = strlen(ok), total = 70000;
		text = malloc(total + 1);
		memcpy(text, ok, n - 1);
		memset(text + n - 1, ' ', total - n);
		text[total - 1] = '}';
		text[total] = '\0';
		break;
	}
	case T_SYMLINK: {
		char *target = s_path("%s/elsewhere.json", s_root);
		if (s_put(target, ok, strlen(ok), 0600) == 0 && symlink(target, path) == 0)
			r = 0;
		break;
	}
	case T_DIRECTORY: r = mkdir(path, 0700); break;
	case T_FIFO: r = mkfifo(path, 0600); break;
	case T_GROUP_WRITABLE: r = s_put(path, ok, strlen(ok), 0660); break;
	case T_WORLD_WRITABLE: r = s_put(path, ok, strlen(ok), 0606); break;
	case T_OTHER_OWNER:
		if (s_put(path, ok, strlen(ok), 0600) == 0 && chown(path, NOBODY, NOBODY) == 0)
			r = 0;
		break;
	}
	if (text)
		r = s_put(path, text, strlen(text), 0600);
	free(text);
	free(ok);
	return r;
}

static void s_tamper(void)
{
	cp_cache c = {.dirfd = -1};
	cp_cache_entry out = {0};
	cp_error err = {0};
	char dir[512];
	snprintf(dir, sizeof dir, "%s/tamper", s_root);
	char path[4096];

	s_open(&c, dir);
	snprintf(path, sizeof path, "%s", s_file(dir, TKEY, "json"));

	/* Positive control: the untampered planted entry is a hit. */
	char *ok = s_planted(PLANTED_OK);
	s_put(path, ok, strlen(ok), 0600);
	free(ok);
	s_reset_warn();
	tap_ok(cp_cache_read(&c, TKEY, &out, &err) == 0 && strcmp(out.creds.access_key_id, "AKIAPLANTED") == 0 &&
	       s_nwarn == 0, "control: the untampered entry is a hit");
	cp_creds_clear(&out.creds);

	for (int t = 0; t < T_COUNT; t++) {
		s_rm_rf(path);
		if (s_plant(t, path) != 0) {
			tap_ok(0, "tamper %s: cannot plant: %s", s_tamper_names[t], strerror(errno));
			continue;
		}
		s_reset_warn();
		out = (cp_cache_entry){0};
		alarm(10); /* a FIFO must not block */
		int r = cp_cache_read(&c, TKEY, &out, &err);
		alarm(0);
		tap_ok(r == CP_CACHE_MISS && !out.creds.access_key_id && s_nwarn == 1 &&
		       strstr(s_lastwarn, "ignoring cache entry '") && strstr(s_lastwarn, dir),
		       "tamper %s: a miss with one warning: %s", s_tamper_names[t], s_lastwarn);
		cp_creds_clear(&out.creds);

		/* The next write replaces it (a directory cannot be replaced by rename). */
		cp_cache_entry good = s_entry("AKIAGOOD", "good-secret", NULL, NULL, 5000, 4000);
		s_reset_warn();
		cp_cache_write(&c, TKEY, &good, &err);
		if (t == T_DIRECTORY) {
			tap_ok(s_nwarn == 1 && strstr(s_lastwarn, "cannot write the cache entry"),
			       "tamper %s: the write warns: %s", s_tamper_names[t], s_lastwarn);
			continue;
		}
		tap_ok(s_nwarn == 0 && cp_cache_read(&c, TKEY, &out, &err) == 0 && s_entry_eq(&good, &out) &&
		       s_nwarn == 0 && s_mode(path) == 0600,
		       "tamper %s: a write replaces it, then a hit", s_tamper_names[t]);
		cp_creds_clear(&out.creds);
	}
	tap_ok(s_exists(s_path("%s/elsewhere.json", s_root)), "the symlink target was not touched");
	s_rm_rf(path);
	cp_cache_close(&c);
}

static void s_bad_dirs(void)
{
	cp_cache c = {.dirfd = -1};
	cp_cache_entry out = {0};
	cp_error err = {0};
	char dir[512];

	snprintf(dir, sizeof dir, "%s/world", s_root);
	mkdir(dir, 0700);
	chmod(dir, 0777);
	s_reset_warn();
	tap_ok(cp_cache_open(&c, dir, &err) == 0 && !c.usable && c.dirfd == -1 && s_nwarn == 1 &&
	       strstr(s_lastwarn, "is group- or world-writable; running without a cache"),
	       "world-writable dir: unusable, one warning: %s", s_lastwarn);
	tap_ok(s_mode(dir) == 0777, "world-writable dir: not chmod-ed");
	cp_cache_close(&c);

	snprintf(dir, sizeof dir, "%s/group", s_root);
	mkdir(dir, 0700);
	chmod(dir, 0770);
	s_reset_warn();
	tap_ok(cp_cache_open(&c, dir, &err) == 0 && !c.usable && s_nwarn == 1, "group-writable dir: unusable");
	cp_cache_close(&c);

	snprintf(dir, sizeof dir, "%s/theirs", s_root);
	mkdir(dir, 0700);
	if (chown(dir, NOBODY, NOBODY) < 0)
		tap_diag("chown: %s", strerror(errno));
	s_reset_warn();
	tap_ok(cp_cache_open(&c, dir, &err) == 0 && !c.usable && s_nwarn == 1 && strstr(s_lastwarn, "owned by uid"),
	       "dir owned by another uid: unusable: %s", s_lastwarn);
	cp_cache_close(&c);

	mkdir(s_path("%s/real", s_root), 0700);
	snprintf(dir, sizeof dir, "%s/link", s_root);
	if (symlink(s_path("%s/real", s_root), dir) < 0)
		tap_diag("symlink: %s", strerror(errno));
	s_reset_warn();
	tap_ok(cp_cache_open(&c, dir, &err) == 0 && !c.usable && s_nwarn == 1 && strstr(s_lastwarn, "symbolic link"),
	       "dir is a symlink: unusable: %s", s_lastwarn);
	cp_cache_close(&c);

	/* A path under a regular file: unusable; everything else is a no-op. */
	s_put(s_path("%s/a-file", s_root), "x", 1, 0600);
	snprintf(dir, sizeof dir, "%s/a-file/aws-credproc", s_root);
	s_reset_warn();
	tap_ok(cp_cache_open(&c, dir, &err) == 0 && !c.usable && s_nwarn == 1 && strstr(s_lastwarn, "a-file"),
	       "path under a regular file: unusable: %s", s_lastwarn);
	cp_cache_entry e = s_entry("AKIA", "s", NULL, NULL, 2000, 1000);
	cp_cache_lockfile lk = {.fd = 7};
	int removed = -1;
	s_reset_warn();
	tap_ok(cp_cache_write(&c, "k", &e, &err) == 0 && cp_cache_read(&c, "k", &out, &err) == CP_CACHE_MISS &&
	       cp_cache_lock(&c, "k", 100, &lk, &err) == 0 && lk.fd == -1 &&
	       cp_cache_clear(&c, NULL, &removed, &err) == 0 && removed == 0 && s_nwarn == 0,
	       "unusable cache: write 0, read miss, lock fd -1, clear 0, no more warnings");
	cp_cache_prune(&c, 0);
	cp_cache_unlock(&lk);
	cp_cache_close(&c);
}

/* ---------------------------------------------------------------------- */

static void s_locks(void)
{
	cp_cache c = {.dirfd = -1};
	cp_cache_lockfile lk = {.fd = -1};
	cp_error err = {0};
	char dir[512];
	snprintf(dir, sizeof dir, "%s/locks", s_root);
	const char *key = "lock key";
	int p[2];
	char b;

	s_open(&c, dir);
	if (pipe(p) < 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		cp_cache_lockfile l = {.fd = -1};
		close(p[0]);
		if (cp_cache_lock(&c, key, 1000, &l, NULL) != 0 || l.fd < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	tap_ok(read(p[0], &b, 1) == 1, "lock: a child holds the lock");
	int64_t t0 = cp_mono_ms();
	int r = cp_cache_lock(&c, key, 300, &lk, &err);
	int64_t dt = cp_mono_ms() - t0;
	tap_ok(r == CP_ETRANSPORT && lk.fd == -1 && dt >= 290 && dt < 3000, "lock: wait 300 ms -> CP_ETRANSPORT (%lld ms)",
	       (long long)dt);
	tap_ok(strstr(err.msg, "timed out after 0.3 s waiting for the cache lock '") &&
	       strstr(err.msg, s_file(dir, key, "lock")) && strstr(err.msg, "held by another aws-credproc"),
	       "lock: clear message: %s", err.msg);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	cp_error_clear(&err);
	tap_ok(cp_cache_lock(&c, key, 0, &lk, &err) == 0 && lk.fd >= 0,
	       "lock: acquired at once (no wait) after the holder was killed");
	tap_ok(s_mode(s_file(dir, key, "lock")) == 0600, "lock file is 0600");
	cp_cache_unlock(&lk);
	tap_ok(lk.fd == -1, "unlock resets the fd");
	cp_cache_unlock(&lk);

	/* A waiter whose lock file is unlinked under it (prune, clear) must
	 * not end up holding the orphan: it re-opens the current file. */
	cp_cache_lock(&c, key, 0, &lk, &err);
	if (pipe(p) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		cp_cache_lockfile l = {.fd = -1};
		close(p[0]);
		cp_cache_unlock(&lk); /* fork shares the parent's open file description */
		if (cp_cache_lock(&c, key, 10000, &l, NULL) != 0 || l.fd < 0)
			_exit(1);
		if (write(p[1], "y", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	usleep(300 * 1000); /* the child has opened the file and polls */
	unlink(s_file(dir, key, "lock"));
	cp_cache_unlock(&lk);
	tap_ok(read(p[0], &b, 1) == 1, "lock: the waiter got a lock after the file was unlinked");
	r = cp_cache_lock(&c, key, 150, &lk, &err);
	tap_ok(r == CP_ETRANSPORT && lk.fd == -1,
	       "lock: the waiter holds the file at the path, not the orphan (we time out)");
	cp_cache_unlock(&lk);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	cp_cache_close(&c);
}

/* ---------------------------------------------------------------------- */

static void s_unwritable(void)
{
	cp_cache c = {.dirfd = -1};
	cp_cache_entry out = {0};
	cp_error err = {0};
	char dir[512];
	int status;

	/* The directory vanishes after open: the write warns, returns 0. */
	snprintf(dir, sizeof dir, "%s/gone", s_root);
	s_open(&c, dir);
	rmdir(dir);
	cp_cache_entry e = s_entry("AKIA", "s", NULL, NULL, 2000, 1000);
	s_reset_warn();
	tap_ok(cp_cache_write(&c, "k", &e, &err) == 0 && s_nwarn == 1 &&
	       strstr(s_lastwarn, "cannot write the cache entry '") && strstr(s_lastwarn, "No such file"),
	       "write into a removed directory: 0 and one warning: %s", s_lastwarn);
	cp_cache_close(&c);

	/* A real read-only directory, as uid 65534 (root ignores modes). */
	chmod(s_root, 0711);
	snprintf(dir, sizeof dir, "%s/ro", s_root);
	mkdir(dir, 0500);
	if (chown(dir, NOBODY, NOBODY) < 0)
		tap_diag("chown: %s", strerror(errno));
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		cp_cache_lockfile lk = {.fd = 5};
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		s_reset_warn();
		s_open(&c, dir);
		if (!c.usable)
			bad |= 1;
		if (s_nwarn != 0)
			bad |= 2;
		if (cp_cache_lock(&c, "k", 100, &lk, &err) != 0 || lk.fd != -1)
			bad |= 4;
		if (cp_cache_write(&c, "k", &e, &err) != 0 || s_nwarn != 1 || !strstr(s_lastwarn, "Permission denied"))
			bad |= 8;
		if (cp_cache_read(&c, "k", &out, &err) != CP_CACHE_MISS || s_nwarn != 1)
			bad |= 16;
		cp_cache_close(&c);
		_exit(bad);
	}
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	       "read-only dir as uid 65534: usable for reads, lock fd -1, write 0 with one warning (status %d)",
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	chmod(s_root, 0700);

	/* A write that fails midway (file size limit, like a full disk): the
	 * old entry survives and no temp file is left. */
	snprintf(dir, sizeof dir, "%s/full", s_root);
	s_open(&c, dir);
	cp_cache_entry old = s_entry("AKIAOLD", "old", NULL, NULL, 2000, 1000);
	cp_cache_write(&c, "k", &old, &err);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = {64, 64};
		char big[4096];
		memset(big, 'n', sizeof big - 1);
		big[sizeof big - 1] = '\0';
		cp_cache_entry neu = s_entry("AKIANEW", "new", big, NULL, 3000, 2000);
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		s_reset_warn();
		int r = cp_cache_write(&c, "k", &neu, &err);
		_exit(r == 0 && s_nwarn == 1 && strstr(s_lastwarn, "cannot write the cache entry") ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a failing write: 0 with one warning");
	tap_ok(cp_cache_read(&c, "k", &out, &err) == 0 && s_entry_eq(&old, &out), "a failing write keeps the old entry");
	cp_creds_clear(&out.creds);
	tap_ok(s_count(dir, ".tmp") == 0, "a failing write leaves no temp file");
	cp_cache_close(&c);
}

/* ---------------------------------------------------------------------- */

static const char *s_foreign[] = {
	"notes.txt", "0123.json", "0123456789abcdeg.json", "0123456789ABCDEF.json", ".hidden",
	"0123456789abcdef.json.bak", "x0123456789abcdef.lock", ".0123456789abcdef.tmp",
	".0123456789abcdef.12.0123456789abcdef.tmpx", "0123456789abcdef.lockx",
};

static void s_put_foreign(const char *dir)
{
	for (size_t i = 0; i < sizeof s_foreign / sizeof *s_foreign; i++)
		s_put(s_path("%s/%s", dir, s_foreign[i]), "x", 1, 0600);
	mkdir(s_path("%s/sub", dir), 0700);
	s_put(s_path("%s/sub/0123456789abcdef.json", dir), "x", 1, 0600);
}

static bool s_foreign_intact(const char *dir)
{
	for (size_t i = 0; i < sizeof s_foreign / sizeof *s_foreign; i++)
		if (!s_exists(s_path("%s/%s", dir, s_foreign[i])))
			return false;
	return s_exists(s_path("%s/sub/0123456789abcdef.json", dir));
}

static void s_clear(void)
{
	cp_cache c = {.dirfd = -1};
	cp_cache_lockfile lk = {.fd = -1};
	cp_error err = {0};
	char dir[512];
	snprintf(dir, sizeof dir, "%s/clear", s_root);
	cp_cache_entry e = s_entry("AKIA", "s", NULL, NULL, 2000, 1000);
	int removed = -1;

	s_open(&c, dir);
	cp_cache_write(&c, "A", &e, &err);
	cp_cache_write(&c, "B", &e, &err);
	cp_cache_write(&c, "C", &e, &err);
	cp_cache_lock(&c, "A", 0, &lk, &err);
	cp_cache_unlock(&lk);
	cp_cache_lock(&c, "B", 0, &lk, &err);
	cp_cache_unlock(&lk);
	s_put_foreign(dir);
	s_put(s_path("%s/.0123456789abcdef.123.0123456789abcdef.tmp", dir), "x", 1, 0600);
	s_put(s_path("%s/fedcba9876543210.lock", dir), "", 0, 0600);

	s_reset_warn();
	tap_ok(cp_cache_clear(&c, "A", &removed, &err) == 0 && removed == 1 && s_nwarn == 0, "clear A: one removed");
	tap_ok(!s_exists(s_file(dir, "A", "json")) && !s_exists(s_file(dir, "A", "lock")) &&
	       s_exists(s_file(dir, "B", "json")) && s_exists(s_file(dir, "B", "lock")),
	       "clear A: its entry and lock gone, B kept");
	tap_ok(cp_cache_clear(&c, "A", &removed, &err) == 0 && removed == 0 && s_nwarn == 0, "clear A again: 0");
	tap_ok(cp_cache_clear(&c, NULL, &removed, &err) == 0 && removed == 2 && s_nwarn == 0,
	       "clear all: the two remaining entries (%d)", removed);
	tap_ok(s_count(dir, ".json") == 4 && s_count(dir, ".lock") == 2 && s_count(dir, ".tmp") == 2 &&
	       s_foreign_intact(dir), "clear all: ours gone (entries, locks, temps), foreign files kept");
	cp_cache_close(&c);
}

static void s_set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = {{t, 0}, {t, 0}};
	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static void s_prune(void)
{
	cp_cache c = {.dirfd = -1};
	cp_cache_lockfile held = {.fd = -1}, lk = {.fd = -1};
	cp_error err = {0};
	char dir[512];
	snprintf(dir, sizeof dir, "%s/prune", s_root);
	int64_t now = cp_now();

	s_open(&c, dir);
	cp_cache_entry expired = s_entry("AKIAOLD", "s", NULL, NULL, now - 10, now - 3610);
	cp_cache_entry fresh = s_entry("AKIANEW", "s", NULL, NULL, now + 3600, now);
	cp_cache_write(&c, "expired", &expired, &err);
	cp_cache_write(&c, "expired-held", &expired, &err);
	cp_cache_entry at_now = s_entry("AKIAATNOW", "s", NULL, NULL, now, now - 60);
	cp_cache_write(&c, "expired-at-now", &at_now, &err);
	cp_cache_write(&c, "fresh", &fresh, &err);
	s_put(s_file(dir, "malformed", "json"), "{garbage", 8, 0600);
	cp_cache_lock(&c, "expired-held", 0, &held, &err); /* someone refreshing it */
	cp_cache_lock(&c, "old-free", 0, &lk, &err);
	cp_cache_unlock(&lk);
	cp_cache_lock(&c, "new-free", 0, &lk, &err);
	cp_cache_unlock(&lk);
	cp_cache_lock(&c, "old-held", 0, &lk, &err);
	s_set_mtime(s_file(dir, "old-free", "lock"), (time_t)(now - 7200));
	s_set_mtime(s_file(dir, "old-held", "lock"), (time_t)(now - 7200));
	/* Temp files: a writer holds its own (flock) from before the first byte
	 * until the rename; a non-empty one nobody holds is a dead writer's. */
	char oldtmp[600], deadtmp[600], heldtmp[600], emptytmp[600];
	snprintf(oldtmp, sizeof oldtmp, "%s/.0123456789abcdef.42.0123456789abcdef.tmp", dir);
	snprintf(deadtmp, sizeof deadtmp, "%s/.0123456789abcdef.43.0123456789abcdef.tmp", dir);
	snprintf(heldtmp, sizeof heldtmp, "%s/.0123456789abcdef.44.0123456789abcdef.tmp", dir);
	snprintf(emptytmp, sizeof emptytmp, "%s/.0123456789abcdef.45.0123456789abcdef.tmp", dir);
	s_put(oldtmp, "", 0, 0600);
	s_put(deadtmp, "x", 1, 0600);
	s_put(heldtmp, "x", 1, 0600);
	s_put(emptytmp, "", 0, 0600);
	s_set_mtime(oldtmp, (time_t)(now - 7200));
	int heldfd = open(heldtmp, O_RDONLY | O_CLOEXEC);
	flock(heldfd, LOCK_EX);
	s_put_foreign(dir);
	for (size_t i = 0; i < sizeof s_foreign / sizeof *s_foreign; i++)
		s_set_mtime(s_path("%s/%s", dir, s_foreign[i]), (time_t)(now - 7200));

	s_reset_warn();
	cp_cache_prune(&c, now);
	tap_ok(s_nwarn == 0, "prune: never warns");
	tap_ok(!s_exists(s_file(dir, "expired", "json")) && !s_exists(s_file(dir, "expired-at-now", "json")),
	       "prune: expired entries removed");
	tap_ok(s_exists(s_file(dir, "fresh", "json")), "prune: a fresh entry kept");
	tap_ok(s_exists(s_file(dir, "expired-held", "json")), "prune: an expired entry whose lock is held kept");
	tap_ok(s_exists(s_file(dir, "malformed", "json")), "prune: a malformed entry left for the next read");
	tap_ok(!s_exists(s_file(dir, "old-free", "lock")), "prune: an old unheld lock removed");
	tap_ok(s_exists(s_file(dir, "old-held", "lock")), "prune: an old held lock kept");
	tap_ok(s_exists(s_file(dir, "new-free", "lock")) && s_exists(s_file(dir, "expired-held", "lock")),
	       "prune: recent locks kept");
	tap_ok(!s_exists(oldtmp), "prune: an old unheld temp removed");
	tap_ok(!s_exists(deadtmp), "prune: a recent non-empty temp nobody holds (a dead writer's) removed");
	tap_ok(s_exists(heldtmp), "prune: a temp its writer holds kept");
	tap_ok(s_exists(emptytmp), "prune: a recent empty temp (a writer before its flock) kept");
	close(heldfd);
	tap_ok(s_foreign_intact(dir), "prune: foreign files kept");
	cp_cache_unlock(&lk);
	cp_cache_unlock(&held);
	cp_cache_close(&c);
}

/* ---------------------------------------------------------------------- */

#define NWRITERS 8
#define NREADS 2000

static void s_writer(cp_cache *c, const char *key, int i)
{
	char id[64], secret[128], token[3000];
	for (long n = 0;; n++) {
		snprintf(id, sizeof id, "AKIAW%dN%ld", i, n);
		snprintf(secret, sizeof secret, "secret-%d-%ld", i, n);
		int k = snprintf(token, sizeof token, "token-%d-%ld-", i, n);
		memset(token + k, 'a' + i, sizeof token - (size_t)k - 1);
		token[sizeof token - 1] = '\0';
		cp_cache_entry e = s_entry(id, secret, token, NULL, 5000 + n, 1000);
		cp_cache_write(c, key, &e, NULL);
	}
}

static void s_concurrent(void)
{
	cp_cache c = {.dirfd = -1};
	cp_error err = {0};
	char dir[512];
	snprintf(dir, sizeof dir, "%s/conc", s_root);
	const char *key = "concurrent key";
	pid_t pids[NWRITERS];
	int hits = 0, misses = 0, torn = 0, other = 0;

	s_open(&c, dir);
	for (int i = 0; i < NWRITERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			s_writer(&c, key, i);
			_exit(0);
		}
	}
	s_reset_warn();
	for (int n = 0; n < NREADS; n++) {
		cp_cache_entry e = {0};
		int r = cp_cache_read(&c, key, &e, &err);
		if (r == CP_CACHE_MISS) {
			misses++;
		} else if (r == 0) {
			int i;
			long k;
			char want[128];
			hits++;
			if (sscanf(e.creds.access_key_id, "AKIAW%dN%ld", &i, &k) != 2)
				torn++;
			else {
				snprintf(want, sizeof want, "secret-%d-%ld", i, k);
				size_t tl = e.creds.session_token ? strlen(e.creds.session_token) : 0;
				if (strcmp(want, e.creds.secret_access_key) != 0 || tl != 2999 ||
				    e.creds.session_token[tl - 1] != 'a' + i || e.creds.expiration != 5000 + k)
					torn++;
			}
		} else {
			other++;
		}
		cp_creds_clear(&e.creds);
		usleep(100);
	}
	for (int i = 0; i < NWRITERS; i++)
		kill(pids[i], SIGKILL);
	for (int i = 0; i < NWRITERS; i++)
		waitpid(pids[i], NULL, 0);
	tap_ok(torn == 0 && other == 0 && s_nwarn == 0 && hits > NREADS / 2,
	       "8 concurrent writers, %d reads: %d complete hits, %d clean misses, %d torn, %d warnings", NREADS,
	       hits, misses, torn, s_nwarn);
	if (s_nwarn)
		tap_diag("last warning: %s", s_lastwarn);
	int removed = -1;
	cp_cache_clear(&c, NULL, &removed, &err);
	tap_ok(s_count(dir, "") == 0, "killed writers left only our temp files: clear removed everything");
	cp_cache_close(&c);
}

int main(void)
{
	snprintf(s_root, sizeof s_root, "/tmp/test-cache-XXXXXX");
	if (!mkdtemp(s_root)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	cp_set_warn_handler(s_on_warn, NULL);
	unsetenv("AWS_CREDPROC_CACHE_DIR");

	s_default_dir();
	s_open_creates();
	s_names();
	s_round_trip();
	s_tamper();
	s_bad_dirs();
	s_locks();
	s_unwritable();
	s_clear();
	s_prune();
	s_concurrent();

	s_rm_rf(s_root);
	return tap_done();
}
