/* test-fileio.c - the atomic file write and the home directory (fileio.h),
 * and the users of the home directory (cache, config, SSO). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "fileio.h"
#include "sso.h"
#include "tap.h"
#include "util.h"

static char s_dir[] = "/tmp/cp-test-fileio-XXXXXX";

/* The names in dir other than "." and "..", joined with ' ' (sorted order
 * not needed: the tests look for one name or for none). */
static void s_list(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	out[0] = '\0';
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n += (size_t)snprintf(out + n, n < outlen ? outlen - n : 0, "%s%s", n ? " " : "", de->d_name);
	}
	closedir(d);
}

static bool s_has_temp(const char *dir)
{
	char names[4096];
	s_list(dir, names, sizeof names);
	return strstr(names, ".tmp") != NULL;
}

static char *s_slurp(int dirfd, const char *name)
{
	static char buf[4096];
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static void s_put(int dirfd, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dirfd, name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, mode);
	if (fd >= 0) {
		if (cp_write_all(fd, text, strlen(text)))
			tap_diag("cannot write %s", name);
		fchmod(fd, mode);
		close(fd);
	}
}

/* What the hook saw of the temp file, just before the rename. */
typedef struct s_seen {
	bool called, locked_by_writer, complete, mode_0600, old_in_place, same_dir, name_ok;
	const char *final_name, *expect_text, *old_text;
	int fail_with;
} s_seen;

static int s_before_rename(void *ctx, int dirfd, const char *temp_name)
{
	s_seen *s = ctx;
	struct stat st;
	s->called = true;
	int fd = openat(dirfd, temp_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		s->locked_by_writer = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		s->mode_0600 = fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0600;
		close(fd);
	}
	const char *t = s_slurp(dirfd, temp_name);
	s->complete = t && strcmp(t, s->expect_text) == 0;
	t = s->old_text ? s_slurp(dirfd, s->final_name) : NULL;
	s->old_in_place = !s->old_text || (t && strcmp(t, s->old_text) == 0);
	/* Same directory as the final name; ".<stem>.<pid>.<16 hex>.tmp". */
	const char *fs = strrchr(s->final_name, '/'), *ts = strrchr(temp_name, '/');
	size_t fd_len = fs ? (size_t)(fs - s->final_name) : 0, td_len = ts ? (size_t)(ts - temp_name) : 0;
	s->same_dir = fd_len == td_len && strncmp(s->final_name, temp_name, fd_len) == 0;
	const char *fb = fs ? fs + 1 : s->final_name, *tb = ts ? ts + 1 : temp_name;
	const char *dot = strrchr(fb, '.');
	size_t stem = dot ? (size_t)(dot - fb) : strlen(fb);
	char pid[32];
	int pn = snprintf(pid, sizeof pid, ".%ld.", (long)getpid());
	size_t tl = strlen(tb);
	s->name_ok = tb[0] == '.' && strncmp(tb + 1, fb, stem) == 0 &&
		     strncmp(tb + 1 + stem, pid, (size_t)pn) == 0 && tl == 1 + stem + (size_t)pn + 16 + 4 &&
		     strcmp(tb + tl - 4, ".tmp") == 0;
	return s->fail_with;
}

static void s_atomic(void)
{
	char names[4096], path[512];
	cp_error err = {0};
	struct stat st;
	int dirfd = open(s_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	mode_t old_umask = umask(022);

	/* A new file: content, mode, nothing else in the directory. */
	const char *text = "{\"secret\":\"s3cr3t\"}";
	int r = cp_write_file_atomic(dirfd, "new.json", text, strlen(text), NULL, &err);
	tap_ok(r == 0, "atomic write: a new file (%s)", err.msg);
	const char *got = s_slurp(dirfd, "new.json");
	tap_ok(got && strcmp(got, text) == 0, "atomic write: the content is the data");
	tap_ok(fstatat(dirfd, "new.json", &st, 0) == 0 && (st.st_mode & 07777) == 0600,
	       "atomic write: mode 0600 by default (umask 022)");
	s_list(s_dir, names, sizeof names);
	tap_ok(strcmp(names, "new.json") == 0, "atomic write: no temp file left: [%s]", names);

	/* Replacing an existing file (another mode, longer content): a new
	 * inode with the new content only, and the asked mode. */
	s_put(dirfd, "old.json", "the old content, longer than the new one", 0644);
	struct stat before;
	fstatat(dirfd, "old.json", &before, 0);
	s_seen seen = {.final_name = "old.json", .expect_text = "new", .old_text = "the old content, longer than the new one"};
	cp_atomic_write how = {.mode = 0600, .before_rename = s_before_rename, .ctx = &seen};
	tap_ok(cp_write_file_atomic(dirfd, "old.json", "new", 3, &how, &err) == 0,
	       "atomic write: replaces an existing file (%s)", err.msg);
	got = s_slurp(dirfd, "old.json");
	tap_ok(got && strcmp(got, "new") == 0, "atomic write: the replaced file holds the new data only");
	tap_ok(fstatat(dirfd, "old.json", &st, 0) == 0 && (st.st_mode & 07777) == 0600 &&
	       st.st_ino != before.st_ino, "atomic write: the replacement is a new 0600 file");
	tap_ok(seen.called && seen.complete && seen.mode_0600 && seen.old_in_place,
	       "atomic write: before the rename, the temp file is complete, 0600, and the old file still in place");
	tap_ok(seen.same_dir && seen.name_ok, "atomic write: temp file .<stem>.<pid>.<16 hex>.tmp next to the file");
	tap_ok(!seen.locked_by_writer, "atomic write: no lock on the temp file unless asked");

	/* Asked for: the temp file is locked until the rename. */
	seen = (s_seen){.final_name = "locked.json", .expect_text = "locked data"};
	how = (cp_atomic_write){.mode = 0600, .lock = true, .before_rename = s_before_rename, .ctx = &seen};
	tap_ok(cp_write_file_atomic(dirfd, "locked.json", "locked data", 11, &how, &err) == 0 && seen.called &&
	       seen.locked_by_writer && seen.complete,
	       "atomic write: the temp file is flocked by the writer up to the rename, when asked (%s)", err.msg);
	tap_ok(!s_has_temp(s_dir), "atomic write: locked, no temp file left");

	/* Another mode. */
	tap_ok(cp_write_file_atomic(dirfd, "mode.txt", "x", 1, &(cp_atomic_write){.mode = 0640}, &err) == 0 &&
	       fstatat(dirfd, "mode.txt", &st, 0) == 0 && (st.st_mode & 07777) == 0640,
	       "atomic write: the mode asked for");

	/* A path with a directory part, relative to AT_FDCWD (the SSO token
	 * file): the temp file in that directory, not in the working one. */
	snprintf(path, sizeof path, "%s/sub", s_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/sub/token.json", s_dir);
	seen = (s_seen){.final_name = path, .expect_text = "{}"};
	how = (cp_atomic_write){.before_rename = s_before_rename, .ctx = &seen};
	tap_ok(cp_write_file_atomic(AT_FDCWD, path, "{}", 2, &how, &err) == 0 && seen.same_dir && seen.name_ok,
	       "atomic write: AT_FDCWD and a path: temp file in the file's directory (%s)", err.msg);
	got = s_slurp(AT_FDCWD, path);
	tap_ok(got && strcmp(got, "{}") == 0, "atomic write: AT_FDCWD and a path: the content");
	snprintf(path, sizeof path, "%s/sub", s_dir);
	s_list(path, names, sizeof names);
	tap_ok(strcmp(names, "token.json") == 0, "atomic write: AT_FDCWD: no temp file left: [%s]", names);

	/* Failures: nothing left behind, the old file untouched. */
	cp_error_clear(&err);
	tap_ok(cp_write_file_atomic(dirfd, "missing/x.json", "x", 1, NULL, &err) == CP_ESOURCE &&
	       strcmp(err.msg, strerror(ENOENT)) == 0,
	       "atomic write: no such directory: CP_ESOURCE with the reason alone: %s", err.msg);

	s_put(dirfd, "keep.json", "old", 0600);
	seen = (s_seen){.final_name = "keep.json", .expect_text = "new data", .old_text = "old", .fail_with = EIO};
	how = (cp_atomic_write){.lock = true, .before_rename = s_before_rename, .ctx = &seen};
	cp_error_clear(&err);
	tap_ok(cp_write_file_atomic(dirfd, "keep.json", "new data", 8, &how, &err) == CP_ESOURCE &&
	       strcmp(err.msg, strerror(EIO)) == 0, "atomic write: a failure at the last step: %s", err.msg);
	got = s_slurp(dirfd, "keep.json");
	tap_ok(got && strcmp(got, "old") == 0 && !s_has_temp(s_dir),
	       "atomic write: after a failure, the old file untouched and no temp file left");

	/* The rename fails (the name is a non-empty directory). */
	mkdirat(dirfd, "adir", 0700);
	s_put(dirfd, "adir/inside", "x", 0600);
	cp_error_clear(&err);
	tap_ok(cp_write_file_atomic(dirfd, "adir", "data", 4, NULL, &err) == CP_ESOURCE && !s_has_temp(s_dir) &&
	       fstatat(dirfd, "adir", &st, 0) == 0 && S_ISDIR(st.st_mode),
	       "atomic write: the rename fails (%s): no temp file left, the directory untouched", err.msg);

	/* The write fails half-way (a file size limit): no temp file left. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl;
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &rl);
		rl.rlim_cur = 4096;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(3);
		static char big[65536];
		memset(big, 'x', sizeof big);
		cp_error e = {0};
		r = cp_write_file_atomic(dirfd, "keep.json", big, sizeof big, NULL, &e);
		_exit(r == CP_ESOURCE && strcmp(e.msg, strerror(EFBIG)) == 0 ? 0 : 2);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	got = s_slurp(dirfd, "keep.json");
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && got && strcmp(got, "old") == 0 && !s_has_temp(s_dir),
	       "atomic write: a write that fails half-way (EFBIG) leaves the old file and no temp file (status %d)",
	       status);

	/* A read-only directory (not for root, who may write anyway). */
	if (geteuid() != 0) {
		snprintf(path, sizeof path, "%s/ro", s_dir);
		mkdir(path, 0700);
		chmod(path, 0500);
		snprintf(path, sizeof path, "%s/ro/x.json", s_dir);
		cp_error_clear(&err);
		tap_ok(cp_write_file_atomic(AT_FDCWD, path, "x", 1, NULL, &err) == CP_ESOURCE &&
		       strcmp(err.msg, strerror(EACCES)) == 0,
		       "atomic write: a read-only directory: %s", err.msg);
		snprintf(path, sizeof path, "%s/ro", s_dir);
		chmod(path, 0700);
	}
	umask(old_umask);
	close(dirfd);
}

/* cp_home_dir(sub) as a string, or "ERR <status>: <msg>". */
static const char *s_home(const char *sub)
{
	static char out[1200];
	char *p = NULL;
	cp_error err = {0};
	int r = cp_home_dir(sub, &p, &err);
	if (r)
		snprintf(out, sizeof out, "ERR %d: %s", r, err.msg);
	else
		snprintf(out, sizeof out, "%s", p);
	free(p);
	return out;
}

static void s_home_dir(void)
{
	char *saved = getenv("HOME") ? cp_strdup(getenv("HOME")) : NULL;
	char want[1200], *p = NULL;
	struct passwd *pw = getpwuid(geteuid());
	const char *pwhome = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
	cp_error err = {0};

	setenv("HOME", "/home/u", 1);
	tap_ok(strcmp(s_home(NULL), "/home/u") == 0, "home: HOME");
	tap_ok(strcmp(s_home(".aws/config"), "/home/u/.aws/config") == 0, "home: a path under HOME");
	setenv("HOME", "/home/u//", 1);
	tap_ok(strcmp(s_home(NULL), "/home/u") == 0 && strcmp(s_home(".cache/x"), "/home/u/.cache/x") == 0,
	       "home: trailing slashes of HOME dropped");
	setenv("HOME", "/", 1);
	tap_ok(strcmp(s_home(NULL), "/") == 0 && strcmp(s_home(".aws/config"), "/.aws/config") == 0,
	       "home: HOME=/: '/' and '/.aws/config'");
	setenv("HOME", "///", 1);
	tap_ok(strcmp(s_home(NULL), "/") == 0, "home: HOME=/// is '/'");
	setenv("HOME", "/h", 1);
	tap_ok(strcmp(s_home(""), "/h") == 0, "home: an empty sub is the directory itself");

	if (pwhome) {
		size_t n = strlen(pwhome);
		while (n > 1 && pwhome[n - 1] == '/')
			n--;
		snprintf(want, sizeof want, "%.*s", (int)n, pwhome);
		unsetenv("HOME");
		tap_ok(strcmp(s_home(NULL), want) == 0, "home: no HOME: the passwd entry of the euid (%s)", want);
		setenv("HOME", "", 1);
		tap_ok(strcmp(s_home(NULL), want) == 0, "home: an empty HOME: the passwd entry");
		setenv("HOME", "relative/home", 1);
		tap_ok(strcmp(s_home(NULL), want) == 0, "home: a relative HOME is ignored: the passwd entry");

		/* The same rule for the three users of ~. */
		snprintf(want, sizeof want, "%.*s/.cache/aws-credproc", n > 1 ? (int)n : 0, pwhome);
		unsetenv("AWS_CREDPROC_CACHE_DIR");
		unsetenv("XDG_CACHE_HOME");
		int r = cp_cache_default_dir(NULL, &p, &err);
		tap_ok(r == 0 && strcmp(p, want) == 0,
		       "home: the cache directory ignores a relative HOME (%s)", p ? p : err.msg);
		free(p);
		p = NULL;
		char *k = NULL;
		unsetenv("AWS_CONFIG_FILE");
		unsetenv("AWS_SHARED_CREDENTIALS_FILE");
		snprintf(want, sizeof want, "%.*s/.aws/config", n > 1 ? (int)n : 0, pwhome);
		r = cp_config_paths(&p, &k, &err);
		tap_ok(r == 0 && strcmp(p, want) == 0,
		       "home: the config path ignores a relative HOME (%s)", p ? p : err.msg);
		free(p);
		free(k);
		p = NULL;
		snprintf(want, sizeof want, "%.*s/.aws/sso/cache/34c6fceca75e456f25e7e99531e2425c6c1de443.json",
			 n > 1 ? (int)n : 0, pwhome);
		r = cp_sso_token_path(NULL, "dev", NULL, &p, &err);
		tap_ok(r == 0 && strcmp(p, want) == 0,
		       "home: the SSO token path ignores a relative HOME (%s)", p ? p : err.msg);
		free(p);
		p = NULL;
	} else {
		tap_diag("the euid has no passwd entry with a home directory: its cases are not run");
	}

	/* No HOME and no passwd entry (a uid nobody has, when we may take one):
	 * CP_ECONFIG, reworded by each user. */
	if (geteuid() == 0) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			unsetenv("HOME");
			unsetenv("AWS_CREDPROC_CACHE_DIR");
			unsetenv("XDG_CACHE_HOME");
			unsetenv("AWS_CONFIG_FILE");
			unsetenv("AWS_SHARED_CREDENTIALS_FILE");
			uid_t nobody = 54321;
			while (getpwuid(nobody))
				nobody++;
			if (setuid(nobody) < 0)
				_exit(9);
			char *q = NULL, *k = NULL;
			cp_error e = {0};
			int bad = 0;
			if (cp_home_dir(NULL, &q, &e) != CP_ECONFIG || !strstr(e.msg, "HOME"))
				bad |= 1;
			if (cp_cache_default_dir(NULL, &q, &e) != CP_ECONFIG ||
			    !strstr(e.msg, "cannot find a cache directory") || !strstr(e.msg, "AWS_CREDPROC_CACHE_DIR"))
				bad |= 2;
			if (cp_config_paths(&q, &k, &e) != CP_ECONFIG || !strstr(e.msg, "cannot expand '~'"))
				bad |= 4;
			if (cp_sso_token_path(NULL, "dev", NULL, &q, &e) != CP_ESOURCE ||
			    !strstr(e.msg, "cannot find the SSO token cache"))
				bad |= 8;
			_exit(bad);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "home: none at all: CP_ECONFIG, reworded by the cache, the config and SSO (status %d)", status);
	}
	if (saved)
		setenv("HOME", saved, 1);
	else
		unsetenv("HOME");
	free(saved);
}

static int s_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

int main(void)
{
	if (!mkdtemp(s_dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	s_atomic();
	s_home_dir();
	nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
