/* net-load.c - cp_net() for the net_module=true build: loads the network
 * module (libcurl, libxml2, libcrypto and our code that uses them) on first
 * use, so that runs that need no network never map those libraries.
 *
 * The candidates, in this order; each is a top directory and a path below
 * it. <exe dir> comes from /proc/self/exe; the rest is compiled in. No
 * environment variable can add or change a candidate: a credential helper
 * must not load code from a path someone else chose.
 *   1. the build tree: top <exe dir>/.., module src/credproc-net.so; only
 *      when the build-tree marker src/credproc-net.build-tree is there too
 *      (and it passes the checks below, as the module must). Meson writes
 *      the marker into the build directory when it configures it; nothing
 *      installs it, so an installed tree has none and is not named in the
 *      error;
 *   2. installed, relative to the executable: top the prefix as seen from
 *      <exe dir> (<exe dir>/.. for bindir = bin), module
 *      <libdir>/aws-credproc/credproc-net.so (only when bindir and libdir
 *      are both inside the prefix);
 *   3. the configured install path: top "/", module
 *      <prefix>/<libdir>/aws-credproc/credproc-net.so.
 *
 * Each candidate is checked as OpenSSH's safe_path() checks a file, without
 * a window between check and use: the top is opened, then every directory
 * below it one at a time with openat(O_PATH|O_DIRECTORY|O_NOFOLLOW) relative
 * to the one before, and the file with openat(O_RDONLY|O_NOFOLLOW|O_CLOEXEC)
 * relative to its directory. Every directory (the top included) must be
 * owned by root or by the effective user and not writable by group or
 * others, unless it has the sticky bit (as /tmp: others may add entries but
 * cannot rename or remove ours, and any entry of theirs fails the owner
 * check). The module (and the marker) must be a regular file owned by root
 * or by the effective user and not writable by group or others. Above the
 * top of candidates 1 and 2 nothing is checked: whoever can change a
 * directory there can replace the executable itself. What dlopen() loads is
 * the checked descriptor itself (/proc/self/fd/N). Without /proc (then only
 * candidate 3 exists) the path is loaded, for candidate 3 only: every
 * component of it, from "/", was checked, and no other user can change any
 * of them.
 *
 * Why another user cannot make an installed tree look like a build tree (or
 * plant a module anywhere we look): in a prefix they can write they can
 * create src/, a marker and a module, but all are theirs, and the owner
 * check refuses them; in a directory that is writable by others without the
 * sticky bit nothing is loaded at all.
 *
 * A candidate that is absent, refused, or that dlopen() or the interface and
 * version check rejects is skipped (with --debug, a trace line says why) and
 * the next one is tried. Only when none loads does cp_net() fail, with
 * CP_EINTERNAL (exit 1: the installation is broken or unsafe, which no
 * configuration can fix) and one message naming each candidate and why it
 * was not used. */
#include "net.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp_config.h"
#include "cp_net_paths.h"

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static const cp_net_ops *s_ops;
static cp_error s_err;

/* Why each candidate was not used, for the error when none is. */
static char s_tried[768];

/* The directory of the running executable, or "" if unknown. */
static void s_exe_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	if (n <= 0 || (size_t)n >= size - 1) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash || buf[0] != '/')
		buf[0] = '\0';
	else if (slash == buf)
		buf[1] = '\0';
	else
		*slash = '\0';
}

/* Splits rel ("../../a/b") against dir (absolute, symlink-free: from
 * /proc/self/exe, so "../" resolves lexically): top gets dir without one
 * component per leading "../"; returns what is left of rel ("a/b"). */
static const char *s_split(const char *dir, const char *rel, char *top, size_t size)
{
	snprintf(top, size, "%s", dir);
	while (strncmp(rel, "../", 3) == 0) {
		char *slash = strrchr(top, '/');
		if (slash && slash != top)
			*slash = '\0';
		else
			snprintf(top, size, "/");
		rel += 3;
	}
	return rel;
}

static bool s_owner_ok(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* Checks the directory open as fd (named path); false with why set. */
static bool s_dir_ok(int fd, const char *path, char *why, size_t whylen)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		snprintf(why, whylen, "cannot stat directory '%s': %s", path, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		snprintf(why, whylen, "'%s' is not a directory", path);
	else if (!s_owner_ok(st.st_uid))
		snprintf(why, whylen, "refusing directory '%s' owned by uid %u (neither root nor the "
			 "effective user)", path, (unsigned)st.st_uid);
	else if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		snprintf(why, whylen, "refusing directory '%s' writable by group or others (mode %04o)",
			 path, (unsigned)(st.st_mode & 07777));
	else
		return true;
	return false;
}

/* Checks the file open as fd; false with why set. */
static bool s_file_ok(int fd, char *why, size_t whylen)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		snprintf(why, whylen, "%s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, whylen, "not a regular file");
	else if (!s_owner_ok(st.st_uid))
		snprintf(why, whylen, "refusing a file owned by uid %u (neither root nor the effective user)",
			 (unsigned)st.st_uid);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, whylen, "refusing a file writable by group or others (mode %04o)",
			 (unsigned)(st.st_mode & 07777));
	else
		return true;
	return false;
}

/* Words why openat() of name (named path) below dirfd failed. */
static void s_open_failed(int dirfd, const char *name, const char *path, int e, char *why,
			  size_t whylen)
{
	struct stat st;
	if ((e == ELOOP || e == ENOTDIR) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		snprintf(why, whylen, "refusing '%s': a symbolic link", path);
	else if (e == ENOENT)
		snprintf(why, whylen, "no such file");
	else
		snprintf(why, whylen, "cannot open '%s': %s", path, strerror(e));
}

/* Opens top/rel as described at the top of this file: the file's descriptor,
 * or -1 with why set and *ret_absent telling whether something on the way
 * does not exist. */
static int s_open_checked(const char *top, const char *rel, char *why, size_t whylen,
			  bool *ret_absent)
{
	char path[PATH_MAX + 256], comp[NAME_MAX + 1];
	int fd = -1, dirfd;
	*ret_absent = false;
	snprintf(path, sizeof path, "%s", strcmp(top, "/") == 0 ? "" : top);
	if ((dirfd = open(top, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		*ret_absent = errno == ENOENT;
		snprintf(why, whylen, "cannot open '%s': %s", top, strerror(errno));
		return -1;
	}
	if (!s_dir_ok(dirfd, top, why, whylen))
		goto out;
	for (const char *p = rel;;) {
		p += strspn(p, "/");
		size_t n = strcspn(p, "/");
		if (n == 0 || n > NAME_MAX) {
			snprintf(why, whylen, "invalid module path '%s'", rel);
			goto out;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		size_t used = strlen(path);
		snprintf(path + used, sizeof path - used, "/%s", comp);
		bool last = p[strspn(p, "/")] == '\0';
		int nfd = last ? openat(dirfd, comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
			       : openat(dirfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int e = errno;
			*ret_absent = e == ENOENT;
			s_open_failed(dirfd, comp, path, e, why, whylen);
			goto out;
		}
		if (last) {
			if (s_file_ok(nfd, why, whylen))
				fd = nfd;
			else
				close(nfd);
			goto out;
		}
		close(dirfd);
		dirfd = nfd;
		if (!s_dir_ok(dirfd, path, why, whylen))
			goto out;
	}
out:
	close(dirfd);
	return fd;
}

/* top/rel, for messages and the trace. */
static void s_name(char *buf, size_t size, const char *top, const char *rel)
{
	snprintf(buf, size, "%s/%s", strcmp(top, "/") == 0 ? "" : top, rel + strspn(rel, "/"));
}

/* dlerror() names the file it was given (/proc/self/fd/N); drop that. */
static const char *s_dlerror(const char *given)
{
	const char *e = dlerror();
	if (!e)
		return "unknown dynamic loader error";
	size_t n = strlen(given);
	if (strncmp(e, given, n) == 0 && e[n] == ':' && e[n + 1] == ' ')
		e += n + 2;
	return e;
}

/* Notes that the candidate path was not used, and why. */
static void s_skip(const char *path, const char *why)
{
	size_t n = strlen(s_tried);
	cp_debug("network module '%s' not used: %s", path, why);
	snprintf(s_tried + n, sizeof s_tried - n, "%s'%s': %s", n ? "; " : "", path, why);
}

/* Loads the checked file fd (named path). 0 and *ret_ops, or -1 with why.
 * from_root: every component of path was checked, from "/". */
static int s_dlopen(int fd, const char *path, bool from_root, const cp_net_ops **ret_ops, char *why,
		    size_t whylen)
{
	char fdpath[32];
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	const char *given = access(fdpath, F_OK) == 0 ? fdpath : from_root ? path : NULL;
	if (!given) {
		snprintf(why, whylen, "cannot load the file checked: /proc/self/fd is unavailable");
		return -1;
	}
	cp_debug("loading the network module %s", path);
	void *h = dlopen(given, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(why, whylen, "%s", s_dlerror(given));
		return -1;
	}
	void *sym = dlsym(h, CP_NET_MODULE_ENTRY);
	cp_net_module_entry_fn entry;
	_Static_assert(sizeof entry == sizeof sym, "function and object pointers differ in size");
	memcpy(&entry, &sym, sizeof entry);
	const cp_net_ops *ops = entry ? entry() : NULL;
	if (!ops)
		snprintf(why, whylen, "it has no %s()", CP_NET_MODULE_ENTRY);
	else if (ops->abi != CP_NET_ABI)
		snprintf(why, whylen, "it has interface %u, this aws-credproc %s needs %u; reinstall",
			 ops->abi, CP_VERSION, (unsigned)CP_NET_ABI);
	else if (!ops->version || strcmp(ops->version, CP_VERSION) != 0)
		snprintf(why, whylen, "it is version %.32s, this aws-credproc is %s; reinstall",
			 ops->version ? ops->version : "?", CP_VERSION);
	else {
		*ret_ops = ops; /* the module stays loaded for the life of the process */
		return 0;
	}
	dlclose(h);
	return -1;
}

/* Tries the candidate top/rel. 0 once loaded; -1 (noted) otherwise. */
static int s_try(const char *top, const char *rel)
{
	char path[PATH_MAX + 256], why[PATH_MAX + 512];
	bool absent;
	s_name(path, sizeof path, top, rel);
	int fd = s_open_checked(top, rel, why, sizeof why, &absent);
	int r = fd < 0 ? -1 : s_dlopen(fd, path, strcmp(top, "/") == 0, &s_ops, why, sizeof why);
	if (fd >= 0)
		close(fd);
	if (r)
		s_skip(path, why);
	return r;
}

/* Tries the build tree above dir, when there is a marker. */
static int s_try_build_tree(const char *dir)
{
	char top[PATH_MAX], path[PATH_MAX + 256], why[PATH_MAX + 512];
	struct stat st;
	bool absent;
	const char *marker = s_split(dir, CP_NET_BUILD_MARKER_REL, top, sizeof top);
	const char *module = s_split(dir, CP_NET_BUILD_MODULE_REL, top, sizeof top); /* same top */
	s_name(path, sizeof path, top, marker);
	if (lstat(path, &st) < 0) /* only says whether to look: nothing is trusted yet */
		return -1;
	int fd = s_open_checked(top, marker, why, sizeof why, &absent);
	if (fd >= 0) {
		close(fd);
		return s_try(top, module);
	}
	char what[sizeof why + 32];
	snprintf(what, sizeof what, "build-tree marker: %s", why);
	s_name(path, sizeof path, top, module);
	s_skip(path, what);
	return -1;
}

static void s_init(void)
{
	char dir[PATH_MAX], top[PATH_MAX];
	int r = -1;
	s_exe_dir(dir, sizeof dir);
	if (dir[0]) {
		/* 1. the build tree */
		r = s_try_build_tree(dir);
		/* 2. installed, relative to the executable */
		if (r && sizeof CP_NET_INSTALL_MODULE_REL > 1) {
			const char *rel = s_split(dir, CP_NET_INSTALL_MODULE_REL, top, sizeof top);
			r = s_try(top, rel);
		}
	}
	/* 3. the configured install path, checked from the root */
	if (r)
		r = s_try("/", CP_NET_INSTALL_MODULE_PATH);
	if (r)
		cp_error_set(&s_err, CP_EINTERNAL, "cannot load the network module: %s", s_tried);
}

const cp_net_ops *cp_net(cp_error *err)
{
	pthread_once(&s_once, s_init);
	if (!s_ops && err)
		*err = s_err;
	return s_ops;
}
