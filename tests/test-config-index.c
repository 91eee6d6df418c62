/* test-config-index.c - the checked-config index (cp_config_load_indexed):
 * written for a large file only, after a clean read; a load from it gives
 * what a whole read gives; it is not used once the file changed, when it
 * is damaged or truncated, or when it or its directory is not safe. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "tap.h"

#define SECRET "SECRETindex1234"

static char s_root[] = "/tmp/test-config-index.XXXXXX";
static char *s_cache; /* the index directory */
static int s_ixfd = -1;
static int s_serial;

/* ---- helpers ------------------------------------------------------------ */

static char *s_path(const char *name)
{
	return cp_asprintf("%s/%s", s_root, name);
}

/* A fresh path for each file written, so that no index of an earlier
 * file of that path can be mistaken for its own (an index names the path). */
static char *s_fresh(const char *stem)
{
	return cp_asprintf("%s/%s-%d", s_root, stem, s_serial++);
}

static bool s_write(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The kernel's file timestamps tick every few ms: a change right after an
 * index was written must be seen as one (the library waits 3 s before
 * indexing a file; these tests tune that to 0 and wait a tick instead). */
static void s_tick(void)
{
	usleep(30 * 1000);
}

static int s_count_indexes(void)
{
	DIR *d = opendir(s_cache);
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 20 && strcmp(de->d_name + 16, ".idx") == 0)
			n++;
	closedir(d);
	return n;
}

static void s_clear_indexes(void)
{
	DIR *d = opendir(s_cache);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 20 && strcmp(de->d_name + 16, ".idx") == 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

/* The one index file there is (heap path), or NULL. */
static char *s_the_index(void)
{
	DIR *d = opendir(s_cache);
	struct dirent *de;
	char *p = NULL;
	if (!d)
		return NULL;
	while ((de = readdir(d)))
		if (strlen(de->d_name) == 20 && strcmp(de->d_name + 16, ".idx") == 0) {
			free(p);
			p = cp_asprintf("%s/%s", s_cache, de->d_name);
		}
	closedir(d);
	return p;
}

static bool s_same_section(const cp_section *a, const cp_section *b, const char *what,
			   const char *name)
{
	if (!a || !b) {
		if (a != b)
			tap_diag("%s '%s': %s", what, name, a ? "missing with the index" : "extra with the index");
		return a == b;
	}
	if (strcmp(a->name, b->name) != 0 || a->nprops != b->nprops) {
		tap_diag("%s '%s': %zu properties, with the index %zu", what, name, a->nprops,
			 b->nprops);
		return false;
	}
	for (size_t i = 0; i < a->nprops; i++)
		if (strcmp(a->props[i].name, b->props[i].name) != 0 ||
		    strcmp(a->props[i].value, b->props[i].value) != 0) {
			tap_diag("%s '%s': property %zu is '%s', with the index '%s'", what, name, i,
				 a->props[i].name, b->props[i].name);
			return false;
		}
	return true;
}

static const char *const s_absent[] = {"absent", "p", "p-1", "default ", "corp", "svc", ""};

/* Every section of `full` (read whole) is the same looked up in `ix`, and
 * names it does not have are absent from both. */
static bool s_same_config(const cp_config *full, const cp_config *ix)
{
	bool ok = true;
	for (size_t i = 0; i < full->nprofiles && ok; i++) {
		const char *n = full->profiles[i].name;
		ok = s_same_section(cp_config_profile(full, n), cp_config_profile(ix, n), "profile", n);
	}
	for (size_t i = 0; i < full->nsso && ok; i++) {
		const char *n = full->sso_sessions[i].name;
		ok = s_same_section(cp_config_sso_session(full, n), cp_config_sso_session(ix, n),
				    "sso-session", n);
	}
	for (size_t i = 0; i < full->nservices && ok; i++) {
		const char *n = full->services[i].name;
		ok = s_same_section(cp_config_services(full, n), cp_config_services(ix, n),
				    "services", n);
	}
	for (size_t i = 0; i < sizeof s_absent / sizeof *s_absent && ok; i++) {
		const char *n = s_absent[i];
		ok = s_same_section(cp_config_profile(full, n), cp_config_profile(ix, n), "profile", n) &&
		     s_same_section(cp_config_sso_session(full, n), cp_config_sso_session(ix, n),
				    "sso-session", n) &&
		     s_same_section(cp_config_services(full, n), cp_config_services(ix, n),
				    "services", n);
	}
	return ok;
}

typedef struct s_outcome {
	cp_config cfg;
	cp_error err;
	int rc;
	int indexed;
} s_outcome;

static void s_load(s_outcome *o, const char *conf, const char *cred, int ixfd)
{
	memset(&o->err, 0, sizeof o->err);
	cp_config_init(&o->cfg);
	o->rc = cp_config_load_indexed(&o->cfg, conf, cred, ixfd, &o->err);
	o->indexed = cp_config_indexed(&o->cfg);
}

/* Loads conf and cred whole and with the index: same outcome, same
 * message, same sections. *ret_indexed: how many came from an index. */
static bool s_matches_whole(const char *conf, const char *cred, int *ret_indexed)
{
	s_outcome w, x;
	s_load(&w, conf, cred, -1);
	s_load(&x, conf, cred, s_ixfd);
	bool ok = w.rc == x.rc && strcmp(w.err.msg, x.err.msg) == 0 &&
		  (w.rc || s_same_config(&w.cfg, &x.cfg));
	if (w.rc != x.rc || strcmp(w.err.msg, x.err.msg) != 0)
		tap_diag("whole: %d '%s'; indexed: %d '%s'", w.rc, w.err.msg, x.rc, x.err.msg);
	if (ret_indexed)
		*ret_indexed = x.indexed;
	cp_config_free(&w.cfg);
	cp_config_free(&x.cfg);
	return ok;
}

/* An IAM Identity Center config of n profiles p0..p(n-1) with what a span
 * can get wrong around it: a byte order mark and a bare [default] first,
 * an sso-session, a services section with sub-properties, continuation
 * lines, comments, an ignored section, CRLF lines, p0's header repeated
 * at the end (overriding region, adding a key), and a last line without
 * its newline. */
static void s_big_config(cp_buf *b, int n, bool bom)
{
	if (bom)
		cp_buf_puts(b, "\xEF\xBB\xBF");
	cp_buf_puts(b, "[default]\nregion = eu-central-1\n\n"
		       "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
		       "sso_region = us-east-1\n\n"
		       "[services svc]\nsts =\n  endpoint_url = http://127.0.0.1:1\n\n");
	for (int i = 0; i < n; i++) {
		cp_buf_printf(b, "[profile p%d]\nsso_session = corp\nsso_account_id = %012d\n"
			      "sso_role_name = Role%d\nregion = us-east-1\noutput = json\n\n",
			      i, 100000 + i, i % 7);
		if (i == n / 3)
			cp_buf_puts(b, "[ignored section]\nk = v\n# a comment\n\n");
		if (i == n / 2)
			cp_buf_puts(b, "[profile cont]\r\nk = first\r\n  second line\r\nsub =\r\n"
				       "  a = b\r\n; comment\r\n\r\n");
	}
	cp_buf_puts(b, "[profile p0]\n# again\nregion = eu-west-1\nextra = " SECRET);
}

static const char s_small_cred[] = "[p19999]\nregion = ap-south-1\naws_access_key_id = AKID\n"
				   "[p10000]\nregion = sa-east-1\n[credonly]\nk = v\n";

/* ---- cases -------------------------------------------------------------- */

static void s_dir_checks(void)
{
	char *ok = s_path("dir-ok"), *gw = s_path("dir-gw"), *link = s_path("dir-link"),
	     *missing = s_path("dir-missing/sub"), *foreign = s_path("dir-foreign");
	mkdir(ok, 0700);
	mkdir(gw, 0700);
	chmod(gw, 0770);
	if (symlink(ok, link) < 0)
		tap_diag("symlink: %s", strerror(errno));
	int fd = cp_cache_index_dir(ok);
	tap_ok(fd >= 0, "index directory: an existing one of ours, mode 0700, is used");
	if (fd >= 0)
		close(fd);
	tap_ok(cp_cache_index_dir(gw) < 0, "index directory: a group-writable one is not used");
	tap_ok(cp_cache_index_dir(link) < 0, "index directory: a symbolic link is not used");
	struct stat st;
	tap_ok(cp_cache_index_dir(missing) < 0 && stat(missing, &st) < 0 && errno == ENOENT,
	       "index directory: a missing one is not used, and not created");
	/* Owned by another user: one we chown when root, else "/". */
	const char *other = "/";
	if (geteuid() == 0)
		other = mkdir(foreign, 0700) == 0 && chown(foreign, 65534, 65534) == 0 ? foreign : NULL;
	tap_ok(other && cp_cache_index_dir(other) < 0,
	       "index directory: one owned by another user is not used (%s)", other ? other : "?");
	rmdir(ok);
	rmdir(gw);
	unlink(link);
	rmdir(foreign);
	free(ok);
	free(gw);
	free(link);
	free(missing);
	free(foreign);
}

/* Written for a large file only, only once its ctime has settled, never
 * in eager mode or without a directory. */
static void s_written(const cp_buf *big)
{
	s_outcome o;
	char *small = s_fresh("small"), *conf = s_fresh("config");
	cp_buf sb = {0};
	s_big_config(&sb, 100, false);
	s_write(small, sb.data, sb.len);
	s_write(conf, big->data, big->len);
	s_clear_indexes();

	cp_config_index_tune(CP_CONFIG_INDEX_MIN, 3);
	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(o.rc == 0 && o.indexed == 0 && s_count_indexes() == 0,
	       "a large file changed less than 3 s ago gets no index yet");
	cp_config_free(&o.cfg);
	cp_config_index_tune(CP_CONFIG_INDEX_MIN, 0);

	s_load(&o, small, NULL, s_ixfd);
	tap_ok(o.rc == 0 && o.indexed == 0 && s_count_indexes() == 0 && sb.len < CP_CONFIG_INDEX_MIN,
	       "a file of %zu bytes (under %d) gets no index", sb.len, CP_CONFIG_INDEX_MIN);
	cp_config_free(&o.cfg);

	s_load(&o, conf, NULL, -1);
	tap_ok(o.rc == 0 && s_count_indexes() == 0, "no directory: no index");
	cp_config_free(&o.cfg);

	cp_config_parse_eagerly(true);
	s_load(&o, conf, NULL, s_ixfd);
	cp_config_parse_eagerly(false);
	tap_ok(o.rc == 0 && s_count_indexes() == 0, "parsing eagerly: no index");
	cp_config_free(&o.cfg);

	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(o.rc == 0 && o.indexed == 0 && s_count_indexes() == 1,
	       "a file of %zu bytes gets an index after a whole read", big->len);
	cp_config_free(&o.cfg);
	char *ix = s_the_index();
	struct stat st;
	tap_ok(ix && stat(ix, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600 &&
		       st.st_uid == geteuid(),
	       "the index is a regular file of ours, mode 0600");
	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(o.rc == 0 && o.indexed == 1 && o.cfg.nprofiles < 10,
	       "the next load answers from it (%zu profiles parsed of %d)", o.cfg.nprofiles, 20000);
	cp_config_free(&o.cfg);

	/* cache clear --all removes it; a prune does not. */
	cp_cache c;
	cp_error err = {0};
	int removed = -1;
	if (cp_cache_open(&c, s_cache, &err) == 0 && c.usable) {
		cp_cache_prune(&c, INT64_MAX / 2);
		tap_ok(s_count_indexes() == 1, "a cache prune leaves the index");
		cp_cache_clear(&c, NULL, &removed, &err);
		tap_ok(s_count_indexes() == 0 && removed == 0,
		       "cache clear --all removes the index (and counts entries only: %d)", removed);
	} else {
		tap_ok(0, "cannot open the cache: %s", err.msg);
	}
	cp_cache_close(&c);

	unlink(small);
	unlink(conf);
	free(ix);
	free(small);
	free(conf);
	cp_buf_free(&sb);
}

/* With a valid index the lookups are those of the whole read: the large
 * config file and a small credentials file; both large; only the
 * credentials file large. */
static void s_same_lookups(const cp_buf *big)
{
	char *conf = s_fresh("config"), *cred = s_fresh("credentials");
	cp_buf bc = {0};
	int indexed = -1;
	s_write(conf, big->data, big->len);
	s_write(cred, s_small_cred, strlen(s_small_cred));
	s_matches_whole(conf, cred, NULL); /* writes the index */
	tap_ok(s_matches_whole(conf, cred, &indexed) && indexed == 1,
	       "a 20,000-profile config (index) and a small credentials file: every profile, "
	       "sso-session and services section, and absent names, as read whole");

	/* First, middle, last, repeated header, credentials precedence. */
	s_outcome o;
	s_load(&o, conf, cred, s_ixfd);
	const cp_section *p0 = cp_config_profile(&o.cfg, "p0"), *last, *mid, *d;
	const char *v;
	tap_ok(o.indexed == 1 && p0 && p0->nprops == 6 &&
		       strcmp(cp_section_get(p0, "region"), "eu-west-1") == 0 &&
		       strcmp(p0->props[3].name, "region") == 0 &&
		       (v = cp_section_get(p0, "extra")) && strcmp(v, SECRET) == 0,
	       "indexed: the first profile, its header repeated at the end of the file");
	last = cp_config_profile(&o.cfg, "p19999");
	mid = cp_config_profile(&o.cfg, "p10000");
	tap_ok(last && strcmp(cp_section_get(last, "region"), "ap-south-1") == 0 &&
		       strcmp(cp_section_get(last, "aws_access_key_id"), "AKID") == 0 &&
		       strcmp(last->props[3].name, "region") == 0 && mid &&
		       strcmp(cp_section_get(mid, "region"), "sa-east-1") == 0 &&
		       strcmp(cp_section_get(mid, "sso_account_id"), "000000110000") == 0,
	       "indexed: the last and a middle profile, the credentials file winning per key");
	d = cp_config_profile(&o.cfg, "default");
	tap_ok(d && strcmp(cp_section_get(d, "region"), "eu-central-1") == 0 &&
		       cp_config_profile(&o.cfg, "credonly") &&
		       cp_config_sso_session(&o.cfg, "corp") && cp_config_services(&o.cfg, "svc"),
	       "indexed: [default], a credentials-only profile, the sso-session and services");
	tap_ok(cp_config_profile(&o.cfg, "p0") == p0 && cp_config_profile(&o.cfg, "p19999") == last &&
		       cp_config_profile(&o.cfg, "p10000") == mid && p0->nprops == 6,
	       "indexed: a repeated lookup gives the same section, whole");
	/* cp_config_set on a profile not looked up yet keeps its properties. */
	int rc = cp_config_set(&o.cfg, "p12345", "region", "me-south-1");
	const cp_section *s = cp_config_profile(&o.cfg, "p12345");
	tap_ok(rc == 0 && s && s->nprops == 5 && strcmp(cp_section_get(s, "region"), "me-south-1") == 0 &&
		       strcmp(cp_section_get(s, "sso_role_name"), "Role4") == 0,
	       "indexed: cp_config_set on a profile not looked up yet");
	cp_config_free(&o.cfg);

	/* Both files large: the credentials file overrides every third profile. */
	cp_buf_puts(&bc, "[p5]\nregion = cred-5\n");
	for (int i = 0; i < 20000; i += 3)
		cp_buf_printf(&bc, "[p%d]\nregion = cred-%d\naws_access_key_id = AKIDCRED%d\n", i, i, i);
	cp_buf_puts(&bc, "[p5]\nnew = last\n[credonly]\nk = v\n[default]\nk = cred\n");
	char *bigcred = s_fresh("credentials");
	s_write(bigcred, bc.data, bc.len);
	s_matches_whole(conf, bigcred, NULL);
	tap_ok(s_matches_whole(conf, bigcred, &indexed) && indexed == 2,
	       "both files large (%zu bytes of credentials), both indexed: as read whole", bc.len);
	char *smallconf = s_fresh("config");
	static const char sc[] = "[profile p5]\nregion = conf\nk = c\n[sso-session x]\na = b\n";
	s_write(smallconf, sc, strlen(sc));
	s_matches_whole(smallconf, bigcred, NULL);
	tap_ok(s_matches_whole(smallconf, bigcred, &indexed) && indexed == 1,
	       "a small config and a large credentials file (indexed): as read whole");

	unlink(conf);
	unlink(cred);
	unlink(bigcred);
	unlink(smallconf);
	free(conf);
	free(cred);
	free(bigcred);
	free(smallconf);
	cp_buf_free(&bc);
}

/* The index is not used once the file changed: edited in place (same
 * size), appended to, renamed over; and a file that changes after it
 * was loaded has its sections not looked up yet left out. */
static void s_changes(const cp_buf *big)
{
	char *conf = s_fresh("config"), *next = s_fresh("config-new");
	s_outcome o;
	s_write(conf, big->data, big->len);
	s_matches_whole(conf, NULL, NULL);
	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(o.indexed == 1, "changes: indexed before the change");
	cp_config_free(&o.cfg);

	/* Same size: p19999's role name (Role0) edited in place. */
	const char *at = strstr(big->data, "[profile p19999]\n");
	at = at ? strstr(at, "sso_role_name = ") : NULL;
	s_tick();
	int fd = open(conf, O_WRONLY | O_CLOEXEC);
	off_t off = at ? (off_t)(at - big->data + strlen("sso_role_name = ")) : 0;
	bool wrote = at && fd >= 0 && pwrite(fd, "X", 1, off) == 1;
	if (fd >= 0)
		close(fd);
	s_load(&o, conf, NULL, s_ixfd);
	const cp_section *p = cp_config_profile(&o.cfg, "p19999");
	const char *v = p ? cp_section_get(p, "sso_role_name") : NULL;
	tap_ok(wrote && o.indexed == 0 && v && strcmp(v, "Xole0") == 0,
	       "changes: edited in place, same size: not used (the new value: %s)", v ? v : "(none)");
	cp_config_free(&o.cfg);
	s_load(&o, conf, NULL, s_ixfd);
	p = cp_config_profile(&o.cfg, "p19999");
	v = p ? cp_section_get(p, "sso_role_name") : NULL;
	tap_ok(o.indexed == 1 && v && strcmp(v, "Xole0") == 0 && s_matches_whole(conf, NULL, NULL),
	       "changes: the index written again is used, with the new value");
	cp_config_free(&o.cfg);

	/* Appended. */
	s_tick();
	fd = open(conf, O_WRONLY | O_APPEND | O_CLOEXEC);
	wrote = fd >= 0 && write(fd, "\n[profile appended]\nk = v\n", 26) == 26;
	if (fd >= 0)
		close(fd);
	s_load(&o, conf, NULL, s_ixfd);
	p = cp_config_profile(&o.cfg, "appended");
	tap_ok(wrote && o.indexed == 0 && p && strcmp(cp_section_get(p, "k"), "v") == 0,
	       "changes: appended to: not used, the new profile found");
	cp_config_free(&o.cfg);
	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(o.indexed == 1 && cp_config_profile(&o.cfg, "appended"),
	       "changes: appended to: indexed again");
	cp_config_free(&o.cfg);

	/* Renamed over by a file of the same size with another value. */
	cp_buf b = {0};
	cp_buf_append(&b, big->data, big->len);
	char *r = strstr(b.data, "[profile p7]\nsso_session = corp");
	if (r)
		memcpy(r + strlen("[profile p7]\nsso_session = "), "CORP", 4);
	s_write(next, b.data, b.len);
	s_tick();
	bool renamed = rename(next, conf) == 0;
	s_load(&o, conf, NULL, s_ixfd);
	p = cp_config_profile(&o.cfg, "p7");
	tap_ok(r && renamed && o.indexed == 0 && p &&
		       strcmp(cp_section_get(p, "sso_session"), "CORP") == 0 &&
		       !cp_config_profile(&o.cfg, "appended"),
	       "changes: renamed over (same size): not used, the new file's values");
	cp_config_free(&o.cfg);

	/* Changed after it was loaded (chmod changes the ctime): what was
	 * looked up stays, the rest is left out. */
	s_load(&o, conf, NULL, s_ixfd);
	const cp_section *p1 = cp_config_profile(&o.cfg, "p1");
	s_tick();
	chmod(conf, 0644);
	tap_ok(o.indexed == 1 && p1 && cp_config_profile(&o.cfg, "p1") == p1 &&
		       cp_config_profile(&o.cfg, "p2") == NULL &&
		       cp_config_profile(&o.cfg, "p3") == NULL,
	       "changes: after the load, sections not looked up yet are left out");
	cp_config_free(&o.cfg);

	unlink(conf);
	unlink(next);
	free(conf);
	free(next);
	cp_buf_free(&b);
}

/* A file with an error never gets an index: the error comes every time;
 * near the property limit (within a file, across files) the outcome is
 * the whole read's. */
static void s_errors_and_limits(const cp_buf *big)
{
	char *conf = s_fresh("config"), *cred = s_fresh("credentials");
	cp_buf b = {0}, k = {0};
	cp_buf_append(&b, big->data, big->len);
	cp_buf_puts(&b, "\nregion us-west-2\n");
	s_write(conf, b.data, b.len);
	s_clear_indexes();
	s_outcome o;
	bool same = true;
	for (int i = 0; i < 2; i++) {
		s_load(&o, conf, NULL, s_ixfd);
		same = same && o.rc == CP_ECONFIG && strstr(o.err.msg, "expected 'name = value'");
		cp_config_free(&o.cfg);
	}
	tap_ok(same && s_count_indexes() == 0,
	       "a large file with an error: the error on every load, no index");

	/* A section of 600 property lines in the config, 500 in the
	 * credentials file: near the limit across the files. */
	cp_buf_free(&b);
	cp_buf_append(&b, big->data, big->len);
	cp_buf_puts(&b, "\n[profile wide]\n");
	for (int i = 0; i < 600; i++)
		cp_buf_printf(&b, "c%d = v\n", i);
	cp_buf_puts(&k, "[wide]\n");
	for (int i = 0; i < 500; i++)
		cp_buf_printf(&k, "k%d = v\n", i);
	s_write(conf, b.data, b.len);
	s_write(cred, k.data, k.len);
	s_matches_whole(conf, cred, NULL);
	int indexed = -1;
	bool ok1 = s_matches_whole(conf, cred, &indexed);
	s_outcome w;
	s_load(&w, conf, cred, s_ixfd);
	tap_ok(ok1 && w.rc == CP_ECONFIG && strstr(w.err.msg, "more than 1000 properties"),
	       "across the files past the property limit: the whole read's error: %s", w.err.msg);
	cp_config_free(&w.cfg);
	cp_buf_free(&k);
	cp_buf_puts(&k, "[wide]\nc1 = again\nk = v\n");
	s_write(cred, k.data, k.len);
	tap_ok(s_matches_whole(conf, cred, &indexed) && s_matches_whole(conf, cred, &indexed),
	       "near the property limit across the files, within it: as read whole");

	unlink(conf);
	unlink(cred);
	free(conf);
	free(cred);
	cp_buf_free(&b);
	cp_buf_free(&k);
}

/* An index that is not safe to use (not 0600, someone else's, a link) is
 * not used. */
static void s_unsafe_index(const cp_buf *big)
{
	char *conf = s_fresh("config");
	s_outcome o;
	s_write(conf, big->data, big->len);
	s_clear_indexes();
	s_matches_whole(conf, NULL, NULL);
	char *ix = s_the_index(), *moved = cp_asprintf("%s.moved", ix ? ix : "x");

	struct stat st;
	chmod(ix, 0620);
	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(ix && o.indexed == 0 && stat(ix, &st) == 0 && (st.st_mode & 07777) == 0600,
	       "an index writable by the group is not used (and is replaced)");
	cp_config_free(&o.cfg);
	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(o.indexed == 1, "the replaced one is used");
	cp_config_free(&o.cfg);

	if (geteuid() == 0) {
		bool chowned = chown(ix, 65534, 65534) == 0;
		s_load(&o, conf, NULL, s_ixfd);
		tap_ok(chowned && o.indexed == 0, "an index owned by another user is not used");
		cp_config_free(&o.cfg);
	}
	s_load(&o, conf, NULL, s_ixfd);
	cp_config_free(&o.cfg);
	bool linked = rename(ix, moved) == 0 && symlink(moved, ix) == 0;
	s_load(&o, conf, NULL, s_ixfd);
	tap_ok(linked && o.indexed == 0, "an index that is a symbolic link is not used");
	cp_config_free(&o.cfg);

	unlink(moved);
	unlink(conf);
	free(ix);
	free(moved);
	free(conf);
}

/* A damaged index: every byte flipped (two ways), and truncated at many
 * lengths, for a small index (files of any size indexed): never used
 * wrongly, the lookups those of the whole read. */
static void s_damaged(void)
{
	static const char text[] =
		"\xEF\xBB\xBF[default]\nregion = d\n[profile a]\nk = 1\n\n[sso-session s]\nx = y\n"
		"[services v]\nsts =\n  endpoint_url = e\n[profile b]\r\nk = 2\r\n[profile a]\nk = 3\n"
		"j = 4\n[profile default]\nk = pd\n[profile c]";
	char *conf = s_fresh("config");
	char *data = NULL;
	size_t len = 0;
	int bad = 0, used = 0, n = 0;
	cp_config_index_tune(0, 0);
	s_write(conf, text, sizeof text - 1);
	s_clear_indexes();
	s_matches_whole(conf, NULL, NULL);
	char *ix = s_the_index();
	if (!ix || cp_read_file(ix, 1 << 20, &data, &len) < 0) {
		tap_ok(0, "a small file is indexed");
		goto out;
	}
	for (int how = 0; how < 3; how++) {
		for (size_t i = 0; i < len; i++) {
			char *d = malloc(len);
			memcpy(d, data, len);
			d[i] ^= how == 0 ? 0xFF : how == 1 ? 0x01 : 0x80;
			int indexed = 0;
			if (!s_write(ix, d, len) || !s_matches_whole(conf, NULL, &indexed)) {
				if (bad++ < 3)
					tap_diag("byte %zu flipped (%d): lookups differ", i, how);
			}
			used += indexed;
			n++;
			free(d);
		}
	}
	for (size_t cut = 0; cut < len; cut += cut < 160 ? 1 : 7) {
		int indexed = 0;
		if (!s_write(ix, data, cut) || !s_matches_whole(conf, NULL, &indexed) || indexed)
			if (bad++ < 3)
				tap_diag("truncated to %zu bytes: used or lookups differ", cut);
		n++;
	}
	{
		int indexed = 0;
		cp_buf b = {0};
		cp_buf_append(&b, data, len);
		cp_buf_puts(&b, "trailing");
		if (!s_write(ix, b.data, b.len) || !s_matches_whole(conf, NULL, &indexed) || indexed)
			if (bad++ < 3)
				tap_diag("with bytes appended: used or lookups differ");
		cp_buf_free(&b);
	}
	tap_ok(bad == 0,
	       "a damaged index (%zu bytes: each flipped 3 ways, truncated, appended to; %d "
	       "loads, %d still from the index): lookups as read whole", len, n, used);
	/* The pristine index is used. */
	int indexed = 0;
	s_write(ix, data, len);
	tap_ok(s_matches_whole(conf, NULL, &indexed) && indexed == 1,
	       "the undamaged index is used");
out:
	cp_config_index_tune(CP_CONFIG_INDEX_MIN, 0);
	if (data)
		cp_freezero(data, len);
	unlink(conf);
	free(conf);
	free(ix);
}

/* Random small files (indexed whatever their size): the index gives what
 * the whole read gives. */
static uint64_t s_seed = 0x2545F4914F6CDD1Dull;
static uint32_t s_rand(void)
{
	s_seed ^= s_seed << 13;
	s_seed ^= s_seed >> 7;
	s_seed ^= s_seed << 17;
	return (uint32_t)s_seed;
}

static void s_random_files(void)
{
	static const char *const atoms[] = {
		"[profile a]\n", "[default]\n", "[profile default]\n", "[a]\n", "[sso-session a]\n",
		"[services a]\n", "[profile b]\n", "[b]\n", "k = v\n", "K = w\n", "s3 =\n x = y\n",
		"k =#c\n", "a#b = c\n", "\n", "# c\n", "\r\n", "[ x y ]\n", "j = 1\n",
		"[profile  a ]  # c\n", "k = v\n\n -c\n",
	};
	static const char *const errors[] = {"[bad\n", "=\n", "\0", "x\n"};
	int bad = 0, indexed_runs = 0;
	cp_config_index_tune(0, 0);
	for (int it = 0; it < 300; it++) {
		char *f[2];
		for (int k = 0; k < 2; k++) {
			cp_buf b = {0};
			size_t target = s_rand() % 200;
			cp_buf_puts(&b, k ? "[a]\n" : "[profile a]\n");
			while (b.len < target) {
				if (s_rand() % 60 == 0) {
					const char *e = errors[s_rand() % (sizeof errors / sizeof *errors)];
					cp_buf_append(&b, e, *e ? strlen(e) : 1);
				}
				cp_buf_puts(&b, atoms[s_rand() % (sizeof atoms / sizeof *atoms)]);
			}
			f[k] = s_fresh(k ? "rcred" : "rconf");
			s_write(f[k], b.data ? b.data : "", b.len);
			cp_buf_free(&b);
		}
		int indexed = 0;
		s_matches_whole(f[0], f[1], NULL);
		if (!s_matches_whole(f[0], f[1], &indexed) && bad++ < 3)
			tap_diag("random files %s and %s differ", f[0], f[1]);
		indexed_runs += indexed > 0;
		for (int k = 0; k < 2; k++) {
			unlink(f[k]);
			free(f[k]);
		}
	}
	cp_config_index_tune(CP_CONFIG_INDEX_MIN, 0);
	s_clear_indexes();
	tap_ok(bad == 0 && indexed_runs > 100,
	       "300 random pairs of small files indexed: as read whole (%d from an index, %d differ)",
	       indexed_runs, bad);
}

int main(void)
{
	if (!mkdtemp(s_root)) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return tap_done();
	}
	s_cache = s_path("cache");
	mkdir(s_cache, 0700);
	s_ixfd = cp_cache_index_dir(s_cache);
	tap_ok(s_ixfd >= 0, "the index directory opens");
	cp_config_index_tune(CP_CONFIG_INDEX_MIN, 0);

	cp_buf big = {0};
	s_big_config(&big, 20000, true);
	s_dir_checks();
	s_written(&big);
	s_same_lookups(&big);
	s_changes(&big);
	s_errors_and_limits(&big);
	s_unsafe_index(&big);
	s_damaged();
	s_random_files();

	cp_buf_free(&big);
	s_clear_indexes();
	close(s_ixfd);
	rmdir(s_cache);
	rmdir(s_root);
	free(s_cache);
	return tap_done();
}
