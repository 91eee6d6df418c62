/* fileio.c - files written whole or not at all, and the home directory (fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int cp_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (w == 0)
			return EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* err from the errno of the step that failed: the reason alone. */
static int s_fail(cp_error *err, int e)
{
	return cp_error_set(err, e == ENOMEM ? CP_EINTERNAL : CP_ESOURCE, "%s", strerror(e));
}

int cp_write_file_atomic(int dirfd, const char *name, const void *data, size_t n,
			 const cp_atomic_write *how, cp_error *err)
{
	static const cp_atomic_write defaults = {.mode = 0600};
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	const char *dot = strrchr(base, '.');
	size_t dirlen = slash ? (size_t)(slash - name) + 1 : 0; /* with its '/' */
	size_t stemlen = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	char *tmp = NULL;
	int fd = -1, e = 0;
	bool created = false;

	if (!how)
		how = &defaults;
	for (int attempt = 0; attempt < 3; attempt++) {
		free(tmp);
		if (!(tmp = cp_asprintf("%.*s.%.*s.%ld.%016" PRIx64 ".tmp", (int)dirlen, name, (int)stemlen,
					base, (long)getpid(), cp_random64()))) {
			e = ENOMEM;
			goto out;
		}
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
			    how->mode ? how->mode : 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		e = errno;
		goto out;
	}
	created = true;
	if (how->lock && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		goto out;
	}
	if ((e = cp_write_all(fd, data, n)))
		goto out;
	if (fsync(fd) < 0) {
		e = errno;
		goto out;
	}
	if (!how->lock) {
		/* Nothing to hold: a failing close fails the write. */
		int cfd = fd;
		fd = -1;
		if (close(cfd) < 0 && errno != EINTR) {
			e = errno;
			goto out;
		}
	}
	if (how->before_rename && (e = how->before_rename(how->ctx, dirfd, tmp)))
		goto out;
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		e = errno;
		goto out;
	}
	created = false;
	if (fd >= 0) {
		/* The lock is released only now, with the file in place. */
		int cfd = fd;
		fd = -1;
		if (close(cfd) < 0 && errno != EINTR)
			cp_debug("closing the new '%s': %s", name, strerror(errno));
	}
	/* The file is in place; the directory fsync makes the rename durable. */
	int dfd = dirfd;
	if (dirlen || dirfd == AT_FDCWD) {
		char *dir = dirlen ? cp_strndup(name, dirlen > 1 ? dirlen - 1 : 1) : cp_strdup(".");
		dfd = dir ? openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		free(dir);
	}
	if (dfd < 0 || fsync(dfd) < 0)
		cp_debug("fsync of the directory of '%s': %s", name, strerror(errno));
	if (dfd >= 0 && dfd != dirfd)
		close(dfd);
out:
	if (fd >= 0)
		close(fd);
	if (created)
		unlinkat(dirfd, tmp, 0);
	free(tmp);
	return e ? s_fail(err, e) : 0;
}

/* The passwd entry's home directory of uid (heap, NULL if none or out of memory). */
static char *s_passwd_home(uid_t uid)
{
	struct passwd pw, *res = NULL;
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t bufsz = sz > 0 && sz < 1024 * 1024 ? (size_t)sz : 16384;
	char *buf = malloc(bufsz), *out = NULL;
	if (!buf)
		return NULL;
	if (getpwuid_r(uid, &pw, buf, bufsz, &res) == 0 && res && res->pw_dir && res->pw_dir[0] == '/')
		out = cp_strdup(res->pw_dir);
	free(buf);
	return out;
}

int cp_home_dir(const char *sub, char **ret, cp_error *err)
{
	const char *h = getenv("HOME");
	char *pw = NULL, *out;
	if (!h || h[0] != '/') {
		if (!(h = pw = s_passwd_home(geteuid())))
			return cp_error_set(err, CP_ECONFIG,
					    "HOME is not set to an absolute path and uid %u has no home directory",
					    (unsigned)geteuid());
	}
	size_t n = strlen(h);
	while (n > 1 && h[n - 1] == '/')
		n--;
	if (sub && *sub)
		out = cp_asprintf("%.*s/%s", n > 1 ? (int)n : 0, h, sub);
	else
		out = cp_strndup(h, n);
	free(pw);
	if (!out)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	*ret = out;
	return 0;
}

int cp_open_private_file(const char *path, size_t max, struct stat *st, char *why, size_t whylen)
{
	why[0] = '\0';
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			snprintf(why, whylen, "it is a symbolic link");
		else if (e != ENOENT)
			snprintf(why, whylen, "%s", strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, st) < 0)
		snprintf(why, whylen, "%s", strerror(errno));
	else if (S_ISDIR(st->st_mode))
		snprintf(why, whylen, "it is a directory");
	else if (!S_ISREG(st->st_mode))
		snprintf(why, whylen, "not a regular file");
	else if (st->st_uid != geteuid())
		snprintf(why, whylen, "owned by uid %u, not by uid %u", (unsigned)st->st_uid,
			 (unsigned)geteuid());
	else if (st->st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, whylen, "writable by group or others (mode %04o)",
			 (unsigned)(st->st_mode & 07777));
	else if ((uintmax_t)st->st_size > max)
		snprintf(why, whylen, "larger than %zu KiB", max / 1024);
	if (why[0]) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

int cp_read_private_fd(int fd, const struct stat *st, size_t max, char **ret_data, size_t *ret_len,
		       char *why, size_t whylen)
{
	if (lseek(fd, 0, SEEK_SET) < 0 ||
	    cp_read_fd(fd, (size_t)st->st_size, max, ret_data, ret_len) < 0) {
		snprintf(why, whylen, "%s", errno == EFBIG ? "it is too large" : strerror(errno));
		return -1;
	}
	return 0;
}
