/* cache.c - the locked on-disk credential cache (DESIGN.md "The cache").
 *
 * Core library only: cJSON for the entry, no libcrypto/libcurl/libxml2, so
 * the hit path (open the directory, open + fstat + read + parse one entry)
 * loads nothing heavy. Every file is reached relative to the directory fd
 * with O_NOFOLLOW, checked with fstat, and read with a size cap; anything
 * odd is a miss with one warning. See cache.h for the calling sequence.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fileio.h"
#include "json.h"
#include "retry.h"

#define S_STALE_SECONDS 3600      /* lock/temp files older than this may be pruned */
#define S_PRUNE_MAX_FILES 4096    /* directory entries a prune looks at, at most */
#define S_LOCK_POLL_MIN_MS 20     /* lock polling interval: 20..49 ms, jittered */
#define S_LOCK_POLL_JITTER_MS 30
#define S_LOCK_MAX_REOPENS 64     /* lock file replaced under us this often: give up */
#define S_LOCK_WARN_AFTER_MS 1000 /* a wait this long is reported (once), naming the holder */
#define S_MAX_SAFE_INT 9007199254740992.0 /* 2^53: integers a double holds exactly */

/* The kinds of file names that are ours. Nothing else is ever removed. */
enum s_kind {
	S_FOREIGN = 0,
	S_ENTRY,  /* <16 hex>.json */
	S_LOCK,   /* <16 hex>.lock */
	S_TEMP,   /* .<16 hex>.<pid>.<16 hex>.tmp */
	S_INDEX,  /* <16 hex>.idx, a config file's index (config.c): only clear removes it */
};

static bool s_hex16(const char *s)
{
	for (int i = 0; i < 16; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static enum s_kind s_classify(const char *name)
{
	size_t n = strlen(name);
	if (n == 20 && s_hex16(name) && strcmp(name + 16, ".idx") == 0)
		return S_INDEX;
	if (n == 21 && s_hex16(name)) {
		if (strcmp(name + 16, ".json") == 0)
			return S_ENTRY;
		if (strcmp(name + 16, ".lock") == 0)
			return S_LOCK;
		return S_FOREIGN;
	}
	/* ".<16 hex>.<1-10 digits>.<16 hex>.tmp" */
	if (n < 1 + 16 + 1 + 1 + 1 + 16 + 4 || name[0] != '.' || !s_hex16(name + 1) || name[17] != '.')
		return S_FOREIGN;
	const char *p = name + 18;
	size_t digits = 0;
	while (*p >= '0' && *p <= '9') {
		p++;
		digits++;
	}
	if (digits < 1 || digits > 10 || *p != '.' || !s_hex16(p + 1) || strcmp(p + 17, ".tmp") != 0)
		return S_FOREIGN;
	return S_TEMP;
}

static bool s_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Still the file at dirfd/name (nobody renamed or unlinked it meanwhile)? */
static bool s_still_there(int dirfd, const char *name, int fd)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && s_same_file(&a, &b);
}

/* Reads at most max bytes from fd into a NUL-terminated heap buffer.
 * 0, EFBIG (more than max), ENOMEM or the read errno. */
static int s_read_capped(int fd, size_t max, char **ret_text, size_t *ret_len)
{
	char *buf = malloc(max + 2);
	size_t len = 0;
	int r = 0;
	if (!buf)
		return ENOMEM;
	while (len <= max) {
		ssize_t n = read(fd, buf + len, max + 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		r = EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret_text = buf; /* transferred */
	*ret_len = len;
	buf = NULL;
out:
	if (buf)
		cp_freezero(buf, len);
	return r;
}

/* An integer-valued JSON number that a double holds exactly. */
static bool s_json_int(const cJSON *o, const char *name, int64_t *ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsNumber(v))
		return false;
	double d = v->valuedouble;
	if (!(d >= -S_MAX_SAFE_INT && d <= S_MAX_SAFE_INT) || d != (double)(int64_t)d)
		return false;
	*ret = (int64_t)d;
	return true;
}

/* A string member: absent is NULL (an error when required, as is ""). */
static bool s_json_str(const cJSON *o, const char *name, bool required, const char **ret)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	*ret = NULL;
	if (!v)
		return !required;
	if (!cJSON_IsString(v) || !v->valuestring || (required && !v->valuestring[0]))
		return false;
	*ret = v->valuestring;
	return true;
}

/* Checks a parsed entry and copies it out. 0; CP_CACHE_MISS with *why set;
 * CP_EINTERNAL. */
static int s_entry_from_json(const cJSON *j, const char *key, cp_cache_entry *ret, char *why, size_t whysz)
{
	const char *k, *id, *secret, *token, *account;
	int64_t format, exp, issued;
	cp_cache_entry e = {0};

	why[0] = '\0';
	if (!cJSON_IsObject(j)) {
		snprintf(why, whysz, "not a JSON object");
		return CP_CACHE_MISS;
	}
	if (!s_json_int(j, "Format", &format)) {
		snprintf(why, whysz, "missing or invalid \"Format\"");
		return CP_CACHE_MISS;
	}
	if (format != CP_CACHE_FORMAT) {
		snprintf(why, whysz, "format %" PRId64 " is not supported (expected %d)", format, CP_CACHE_FORMAT);
		return CP_CACHE_MISS;
	}
	if (!s_json_str(j, "Key", true, &k)) {
		snprintf(why, whysz, "missing or invalid \"Key\"");
		return CP_CACHE_MISS;
	}
	if (strcmp(k, key) != 0) {
		/* A 64-bit hash collision is improbable enough to be worth a line. */
		snprintf(why, whysz, "written for another cache key");
		return CP_CACHE_MISS;
	}
	if (!s_json_str(j, "AccessKeyId", true, &id) || !s_json_str(j, "SecretAccessKey", true, &secret) ||
	    !s_json_str(j, "SessionToken", false, &token) || !s_json_str(j, "AccountId", false, &account)) {
		snprintf(why, whysz, "missing or invalid credential fields");
		return CP_CACHE_MISS;
	}
	if (!s_json_int(j, "Expiration", &exp) || !s_json_int(j, "Issued", &issued) || issued <= 0 ||
	    exp <= issued) {
		snprintf(why, whysz, "missing or invalid \"Expiration\"/\"Issued\"");
		return CP_CACHE_MISS;
	}
	if (cp_creds_set(&e.creds, id, secret, token, exp, account))
		return CP_EINTERNAL;
	e.issued = issued;
	*ret = e; /* transferred */
	return 0;
}

int cp_cache_default_dir(const char *dir_override, char **ret, cp_error *err)
{
	const char *v;
	char *p = NULL;

	if (dir_override && *dir_override)
		p = cp_strdup(dir_override);
	else if ((v = cp_env("AWS_CREDPROC_CACHE_DIR")))
		p = cp_strdup(v);
	else if ((v = cp_env("XDG_CACHE_HOME")) && v[0] == '/') /* relative: ignored (XDG spec) */
		p = cp_asprintf("%s/aws-credproc", v);
	else {
		cp_error e = {0};
		int r = cp_home_dir(".cache/aws-credproc", &p, &e);
		if (r == CP_EINTERNAL)
			return cp_error_set(err, r, "out of memory");
		if (r)
			return cp_error_set(err, CP_ECONFIG,
					    "cannot find a cache directory: %s (set AWS_CREDPROC_CACHE_DIR)", e.msg);
	}
	if (!p)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	/* "/x/y/" -> "/x/y" (messages join names with '/') */
	for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
		p[n - 1] = '\0';
	*ret = p;
	return 0;
}

/* mkdir -p with mode 0700 for every missing component (never chmod: an
 * existing directory keeps its mode and is judged by the caller). Returns
 * 0 or the errno of the last mkdir that failed other than with EEXIST (an
 * ENOENT below a component that failed keeps that one's errno). */
static int s_mkdir_parents(const char *path)
{
	char *p = cp_strdup(path);
	int last = 0;
	if (!p)
		return ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char save = *s;
		*s = '\0';
		if (s[-1] != '/') {
			if (mkdir(p, 0700) == 0)
				last = 0;
			else if (errno == ENOENT && last)
				; /* the parent could not be made: keep why (EACCES...) */
			else if (errno != EEXIST)
				last = errno;
		}
		*s = save;
		if (!save)
			break;
	}
	free(p);
	return last;
}

/* Whether cp_cache_default_dir() takes the directory under the home. */
static bool s_dir_from_home(const char *dir_override)
{
	const char *v;
	if ((dir_override && *dir_override) || cp_env("AWS_CREDPROC_CACHE_DIR"))
		return false;
	return !((v = cp_env("XDG_CACHE_HOME")) && v[0] == '/');
}

int cp_cache_open(cp_cache *c, const char *dir_override, cp_error *err)
{
	cp_error e = {0};
	struct stat st;
	char *dir = NULL;
	int fd = -1, r, mkerr = 0;

	c->usable = false;
	c->dirfd = -1;
	c->dir = NULL;
	c->warned = 0;
	r = cp_cache_default_dir(dir_override, &dir, &e);
	if (r == CP_EINTERNAL)
		return cp_error_set(err, r, "%s", e.msg);
	if (r) {
		cp_warn("%s; running without a cache", e.msg);
		return 0;
	}
	c->dir = dir; /* transferred */

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int open_errno = fd < 0 ? errno : 0;
	if (open_errno == ENOENT && s_dir_from_home(dir_override)) {
		/* ~/.cache/aws-credproc: created under an existing home only,
		 * never the home itself or its parents (cron, systemd units
		 * with a HOME that does not exist). */
		char *home = NULL;
		cp_error he = {0};
		if (cp_home_dir(NULL, &home, &he) == CP_EINTERNAL)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		if (home && stat(home, &st) < 0 && (errno == ENOENT || errno == ENOTDIR)) {
			cp_warn("the home directory '%s' does not exist, so neither does the cache "
				"directory '%s' (not created); running without a cache", home, dir);
			free(home);
			return 0;
		}
		free(home);
	}
	if (open_errno == ENOENT) {
		mkerr = s_mkdir_parents(dir);
		if (mkerr == ENOMEM)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		int oerr = errno;
		if (oerr == ELOOP || (oerr == ENOTDIR && fstatat(AT_FDCWD, dir, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
				      S_ISLNK(st.st_mode)))
			cp_warn("cache directory '%s' is a symbolic link; running without a cache", dir);
		else if (oerr == ENOENT && mkerr)
			cp_warn("cannot create the cache directory '%s': %s; running without a cache", dir,
				strerror(mkerr));
		else
			cp_warn("cannot open the cache directory '%s': %s; running without a cache", dir,
				strerror(oerr));
		return 0;
	}
	if (fstat(fd, &st) < 0) {
		cp_warn("cannot open the cache directory '%s': %s; running without a cache", dir, strerror(errno));
		close(fd);
		return 0;
	}
	if (st.st_uid != geteuid()) {
		cp_warn("cache directory '%s' is owned by uid %u, not by uid %u; running without a cache", dir,
			(unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return 0;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		cp_warn("cache directory '%s' is group- or world-writable; running without a cache", dir);
		close(fd);
		return 0;
	}
	c->dirfd = fd;
	c->usable = true;
	return 0;
}

int cp_cache_index_dir(const char *dir_override)
{
	cp_error e = {0};
	struct stat st;
	char *dir = NULL;
	const char *why = NULL;
	int fd = -1;
	if (cp_cache_default_dir(dir_override, &dir, &e)) {
		cp_debug("config: no index: %s", e.msg);
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		why = errno == ELOOP ? "a symbolic link" : strerror(errno);
	else if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (st.st_uid != geteuid())
		why = "owned by another user";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		why = "group- or world-writable";
	if (why) {
		cp_debug("config: no index in the cache directory '%s': %s", dir, why);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(dir);
	return fd;
}

void cp_cache_close(cp_cache *c)
{
	if (!c)
		return;
	if (c->dirfd >= 0)
		close(c->dirfd);
	free(c->dir);
	c->dirfd = -1;
	c->dir = NULL;
	c->usable = false;
}

/* FNV-1a 64, continued from h (start: the offset basis 0xcbf29ce484222325). */
static uint64_t s_fnv1a(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL; /* FNV 64 prime */
	}
	return h;
}

void cp_cache_name(const char *key, char ret[static 17])
{
	snprintf(ret, 17, "%016" PRIx64, s_fnv1a(0xcbf29ce484222325ULL, key));
}

/* Opens dirfd/name for reading without following a symlink or blocking on
 * a FIFO, and checks it: a regular file of ours, not group/world-writable,
 * at most CP_CACHE_MAX_ENTRY bytes. fd, or -1 with errno (ENOENT) or with
 * *why set. */
static int s_open_checked(int dirfd, const char *name, struct stat *st, char *why, size_t whysz)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	why[0] = '\0';
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(why, whysz, "it is a symbolic link");
		else if (e != ENOENT)
			snprintf(why, whysz, "%s", strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, st) < 0)
		snprintf(why, whysz, "%s", strerror(errno));
	else if (S_ISDIR(st->st_mode))
		snprintf(why, whysz, "it is a directory");
	else if (!S_ISREG(st->st_mode))
		snprintf(why, whysz, "not a regular file");
	else if (st->st_uid != geteuid())
		snprintf(why, whysz, "not owned by uid %u", (unsigned)geteuid());
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, whysz, "group- or world-writable");
	else if (st->st_size > CP_CACHE_MAX_ENTRY)
		snprintf(why, whysz, "larger than %d bytes", CP_CACHE_MAX_ENTRY);
	if (why[0]) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Parses entry text (need not be NUL-terminated). The tree or NULL with
 * *why set. */
static cJSON *s_parse_text(const char *text, size_t len, char *why, size_t whysz)
{
	const char *end = NULL;
	cJSON *j = NULL;

	why[0] = '\0';
	if (len == 0)
		snprintf(why, whysz, "empty");
	else if (len > CP_CACHE_MAX_ENTRY)
		snprintf(why, whysz, "larger than %d bytes", CP_CACHE_MAX_ENTRY);
	else if (memchr(text, '\0', len))
		snprintf(why, whysz, "malformed (a NUL byte)");
	else if ((j = cJSON_ParseWithLengthOpts(text, len, &end, 0))) {
		/* Only whitespace may follow the value. */
		while (end < text + len && (unsigned char)*end <= ' ')
			end++;
		if (end != text + len) {
			cp_json_free_secret(j);
			j = NULL;
		}
	}
	if (!j && !why[0])
		snprintf(why, whysz, "malformed or truncated JSON");
	return j;
}

/* Reads and parses a checked entry file. The tree or NULL with *why set
 * (or ENOMEM in *ret_errno). */
static cJSON *s_parse_entry(int fd, char *why, size_t whysz, int *ret_errno)
{
	char *text = NULL;
	size_t len = 0;
	cJSON *j = NULL;
	int e;

	*ret_errno = 0;
	e = s_read_capped(fd, CP_CACHE_MAX_ENTRY, &text, &len);
	if (e == EFBIG)
		snprintf(why, whysz, "larger than %d bytes", CP_CACHE_MAX_ENTRY);
	else if (e == ENOMEM)
		*ret_errno = ENOMEM;
	else if (e)
		snprintf(why, whysz, "%s", strerror(e));
	else
		j = s_parse_text(text, len, why, whysz);
	if (text)
		cp_freezero(text, len);
	return j;
}

int cp_cache_parse_entry(const char *text, size_t len, const char *key, cp_cache_entry *ret, cp_error *err)
{
	char why[160] = "";
	cJSON *j;
	int r;

	if (!text || !key)
		return cp_error_set(err, CP_CACHE_MISS, "no entry text or key");
	if (!(j = s_parse_text(text, len, why, sizeof why)))
		return cp_error_set(err, CP_CACHE_MISS, "%s", why);
	r = s_entry_from_json(j, key, ret, why, sizeof why);
	cp_json_free_secret(j);
	if (r == CP_EINTERNAL)
		return cp_error_set(err, r, "out of memory");
	if (r == CP_CACHE_MISS)
		return cp_error_set(err, r, "%s", why);
	return r;
}

int cp_cache_read(cp_cache *c, const char *key, cp_cache_entry *ret, cp_error *err)
{
	cp_error perr = {0};
	char stem[17], name[32], why[sizeof perr.msg] = "";
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd = -1, r = CP_CACHE_MISS, e;

	if (!c || !c->usable || c->dirfd < 0 || !key)
		return CP_CACHE_MISS;
	cp_cache_name(key, stem);
	snprintf(name, sizeof name, "%s.json", stem);

	if ((fd = s_open_checked(c->dirfd, name, &st, why, sizeof why)) < 0)
		goto out; /* ENOENT leaves why empty: a silent miss */
	e = s_read_capped(fd, CP_CACHE_MAX_ENTRY, &text, &len);
	if (e == ENOMEM) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	if (e == EFBIG) {
		snprintf(why, sizeof why, "larger than %d bytes", CP_CACHE_MAX_ENTRY);
		goto out;
	}
	if (e) {
		snprintf(why, sizeof why, "%s", strerror(e));
		goto out;
	}
	r = cp_cache_parse_entry(text, len, key, ret, &perr);
	if (r == CP_EINTERNAL)
		cp_error_set(err, r, "%s", perr.msg);
	else if (r == CP_CACHE_MISS)
		memcpy(why, perr.msg, sizeof why);
	else if (r == 0)
		c->warned = 0;
out:
	if (r == CP_CACHE_MISS && why[0]) {
		/* Once per problem: the caller re-reads after taking the lock. */
		uint64_t h = s_fnv1a(s_fnv1a(0xcbf29ce484222325ULL, name), why);
		if (h != c->warned)
			cp_warn("ignoring cache entry '%s/%s': %s", c->dir, name, why);
		c->warned = h;
	}
	if (text)
		cp_freezero(text, len);
	if (fd >= 0)
		close(fd);
	return r;
}

/* The pid a lock holder wrote into its lock file ("<pid>\n"), or 0. */
static long s_lock_pid(int fd)
{
	char buf[24];
	ssize_t n;
	do
		n = pread(fd, buf, sizeof buf - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *end;
	errno = 0;
	long pid = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || pid <= 0)
		return 0;
	return pid;
}

/* The new holder says who it is (best effort: the lock works without it). */
static void s_lock_write_pid(int fd)
{
	char buf[24];
	int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) != n)
		cp_debug("cache: cannot write our pid into the lock file");
}

int cp_cache_lock(cp_cache *c, const char *key, long wait_ms, cp_cache_lockfile *lock, cp_error *err)
{
	char stem[17], name[32];
	int64_t deadline;
	int fd = -1;

	lock->fd = -1;
	if (!c || !c->usable || c->dirfd < 0 || !key)
		return 0;
	cp_cache_name(key, stem);
	snprintf(name, sizeof name, "%s.lock", stem);
	int64_t start = cp_mono_ms();
	bool warned = false;
	deadline = start + (wait_ms > 0 ? wait_ms : 0);

	for (int reopen = 0; reopen < S_LOCK_MAX_REOPENS; reopen++) {
		struct stat st;
		fd = openat(c->dirfd, name, O_CREAT | O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
			    0600);
		if (fd < 0) {
			int e = errno;
			if (e == EROFS || e == EACCES || e == EPERM || e == ENOSPC || e == EDQUOT || e == ENOENT)
				cp_debug("cache: cannot create the lock '%s/%s': %s; proceeding unlocked", c->dir,
					 name, strerror(e));
			else
				cp_warn("cannot open the cache lock '%s/%s': %s; proceeding unlocked", c->dir, name,
					strerror(e));
			return 0;
		}
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			cp_warn("cache lock '%s/%s' is not a regular file; proceeding unlocked", c->dir, name);
			close(fd);
			return 0;
		}
		for (;;) {
			if (flock(fd, LOCK_EX | LOCK_NB) == 0)
				break;
			if (errno == EINTR)
				continue;
			if (errno != EWOULDBLOCK) {
				cp_debug("cache: cannot lock '%s/%s': %s; proceeding unlocked", c->dir, name,
					 strerror(errno));
				close(fd);
				return 0;
			}
			int64_t now = cp_mono_ms();
			if (!warned && now - start > S_LOCK_WARN_AFTER_MS && now < deadline) {
				long pid = s_lock_pid(fd);
				char who[48] = "another aws-credproc";
				if (pid)
					snprintf(who, sizeof who, "aws-credproc (pid %ld)", pid);
				if (c->wait_may_be_for_a_person)
					cp_progress("waiting for %s holding the cache lock '%s/%s' (an MFA "
						    "prompt may be open)", who, c->dir, name);
				else
					cp_warn("waiting for %s holding the cache lock '%s/%s'", who, c->dir,
						name);
				warned = true;
			}
			if (now >= deadline) {
				close(fd);
				return cp_error_set(err, CP_ETRANSPORT,
						    "timed out after %g s waiting for the cache lock '%s/%s' held by "
						    "another aws-credproc", (double)(wait_ms > 0 ? wait_ms : 0) / 1000.0,
						    c->dir, name);
			}
			long nap = S_LOCK_POLL_MIN_MS + (long)(cp_random64() % S_LOCK_POLL_JITTER_MS);
			if (nap > deadline - now)
				nap = (long)(deadline - now);
			cp_sleep_ms(nap);
		}
		/* A prune or clear may have unlinked the file between our open and
		 * our flock: then we hold a lock nobody else will see. Retry. */
		if (s_still_there(c->dirfd, name, fd)) {
			s_lock_write_pid(fd);
			lock->fd = fd;
			return 0;
		}
		close(fd);
	}
	cp_debug("cache: the lock '%s/%s' keeps being replaced; proceeding unlocked", c->dir, name);
	return 0;
}

void cp_cache_unlock(cp_cache_lockfile *lock)
{
	/* Closing releases the flock. The file stays: unlinking a lock file
	 * on release races with the next holder. Prune removes stale ones. */
	if (lock && lock->fd >= 0) {
		/* Still holding it: nobody reads a stale pid afterwards. */
		if (ftruncate(lock->fd, 0) < 0)
			cp_debug("cache: cannot empty the lock file: %s", strerror(errno));
		close(lock->fd);
		lock->fd = -1;
	}
}

int cp_cache_write(cp_cache *c, const char *key, const cp_cache_entry *e, cp_error *err)
{
	const cp_creds *cr = &e->creds;
	char stem[17], name[32];
	char *text = NULL;
	cJSON *j = NULL;
	int r = 0, pr = 0;

	if (!c || !c->usable || c->dirfd < 0)
		return 0;
	if (!key || !cr->access_key_id || !cr->access_key_id[0] || !cr->secret_access_key ||
	    !cr->secret_access_key[0] || e->issued <= 0 || cr->expiration <= e->issued) {
		cp_debug("cache: not caching credentials without keys or with expiration <= issue time");
		return 0;
	}
	cp_cache_name(key, stem);
	snprintf(name, sizeof name, "%s.json", stem);

	/* String references: the tree holds no copy of a secret. */
	if (!(j = cJSON_CreateObject()) || !cJSON_AddNumberToObject(j, "Format", CP_CACHE_FORMAT) ||
	    !cJSON_AddItemToObjectCS(j, "Key", cJSON_CreateStringReference(key)) ||
	    !cJSON_AddItemToObjectCS(j, "AccessKeyId", cJSON_CreateStringReference(cr->access_key_id)) ||
	    !cJSON_AddItemToObjectCS(j, "SecretAccessKey", cJSON_CreateStringReference(cr->secret_access_key)) ||
	    (cr->session_token &&
	     !cJSON_AddItemToObjectCS(j, "SessionToken", cJSON_CreateStringReference(cr->session_token))) ||
	    (cr->account_id &&
	     !cJSON_AddItemToObjectCS(j, "AccountId", cJSON_CreateStringReference(cr->account_id))) ||
	    !cJSON_AddNumberToObject(j, "Expiration", (double)cr->expiration) ||
	    !cJSON_AddNumberToObject(j, "Issued", (double)e->issued) ||
	    (pr = cp_json_print_secret(j, false, CP_CACHE_MAX_ENTRY, &text)) == ENOMEM) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	/* Never write what a read would refuse as oversized. */
	if (pr) {
		cp_warn("cannot write the cache entry '%s/%s': larger than %d bytes", c->dir, name,
			CP_CACHE_MAX_ENTRY);
		goto out;
	}
	/* The temp file ".<stem>.<pid>.<16 hex>.tmp" is locked until the rename:
	 * a prune removes a non-empty temp file that nobody holds, which is then
	 * one whose writer died mid-write. */
	cp_atomic_write how = {.mode = 0600, .lock = true};
	cp_error werr = {0};
	if (cp_write_file_atomic(c->dirfd, name, text, strlen(text), &how, &werr))
		cp_warn("cannot write the cache entry '%s/%s': %s", c->dir, name, werr.msg);
out:
	cp_free_secret(text);
	cJSON_Delete(j); /* references only: nothing secret to wipe */
	return r;
}

/* 1 removed, 0 absent or not removable (warned). */
static int s_unlink(const cp_cache *c, const char *name)
{
	if (unlinkat(c->dirfd, name, 0) == 0)
		return 1;
	if (errno != ENOENT)
		cp_warn("cannot remove '%s/%s': %s", c->dir, name, strerror(errno));
	return 0;
}

/* A second descriptor of the directory for readdir (its own offset). */
static DIR *s_opendir(const cp_cache *c)
{
	int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	if (fd < 0)
		return NULL;
	if (!(d = fdopendir(fd))) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

int cp_cache_clear(cp_cache *c, const char *key, int *ret_removed, cp_error *err)
{
	int removed = 0;

	if (!c || !c->usable || c->dirfd < 0) {
		*ret_removed = 0;
		return 0;
	}
	if (key) {
		char stem[17], name[32];
		cp_cache_name(key, stem);
		snprintf(name, sizeof name, "%s.json", stem);
		removed += s_unlink(c, name);
		snprintf(name, sizeof name, "%s.lock", stem);
		s_unlink(c, name);
	} else {
		DIR *d = s_opendir(c);
		struct dirent *de;
		if (!d) {
			if (errno == ENOMEM)
				return cp_error_set(err, CP_EINTERNAL, "out of memory");
			cp_warn("cannot list the cache directory '%s': %s", c->dir, strerror(errno));
			*ret_removed = 0;
			return 0;
		}
		while ((de = readdir(d))) {
			enum s_kind k = s_classify(de->d_name);
			if (k != S_FOREIGN && s_unlink(c, de->d_name) && k == S_ENTRY)
				removed++;
		}
		closedir(d);
	}
	*ret_removed = removed;
	return 0;
}

/* Removes an entry whose stored Expiration <= now, under its key's lock
 * when a lock file exists (so no writer is replacing it right now). */
static void s_prune_entry(const cp_cache *c, const char *name, int64_t now)
{
	char why[160], lockname[32];
	struct stat st;
	cJSON *j = NULL;
	int64_t exp;
	int fd, lfd = -1, e;

	if ((fd = s_open_checked(c->dirfd, name, &st, why, sizeof why)) < 0)
		return;
	if (!(j = s_parse_entry(fd, why, sizeof why, &e)) || !s_json_int(j, "Expiration", &exp) || exp > now)
		goto out; /* fresh, or malformed: a read reports and replaces it */
	snprintf(lockname, sizeof lockname, "%.16s.lock", name);
	lfd = openat(c->dirfd, lockname, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (lfd < 0 && errno != ENOENT)
		goto out;
	if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0)
		goto out; /* someone is refreshing it */
	if (s_still_there(c->dirfd, name, fd) && unlinkat(c->dirfd, name, 0) == 0)
		cp_debug("cache: pruned the expired entry '%s/%s'", c->dir, name);
out:
	cp_json_free_secret(j);
	if (lfd >= 0)
		close(lfd);
	close(fd);
}

/* Removes a lock or temp file that nobody holds when it is older than
 * S_STALE_SECONDS, or, for a temp file, as soon as it has content: a writer
 * holds its temp file from before the first byte until the rename, so a
 * non-empty one that nobody holds belongs to a writer that died. */
static void s_prune_stale(const cp_cache *c, const char *name, bool temp, int64_t now)
{
	struct stat st;
	int fd = openat(c->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
	    ((temp && st.st_size > 0) || (int64_t)st.st_mtime <= now - S_STALE_SECONDS) &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0 && s_still_there(c->dirfd, name, fd) &&
	    unlinkat(c->dirfd, name, 0) == 0)
		cp_debug("cache: pruned the %s '%s/%s'", temp ? "abandoned temp file" : "stale lock",
			 c->dir, name);
	close(fd);
}

void cp_cache_prune(cp_cache *c, int64_t now)
{
	struct dirent *de;
	DIR *d;
	int seen = 0;

	if (!c || !c->usable || c->dirfd < 0)
		return;
	if (!(d = s_opendir(c)))
		return;
	while (seen++ < S_PRUNE_MAX_FILES && (de = readdir(d))) {
		switch (s_classify(de->d_name)) {
		case S_ENTRY:
			s_prune_entry(c, de->d_name, now);
			break;
		case S_LOCK:
			s_prune_stale(c, de->d_name, false, now);
			break;
		case S_TEMP:
			s_prune_stale(c, de->d_name, true, now);
			break;
		default:
			break;
		}
	}
	closedir(d);
}
