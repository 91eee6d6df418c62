/* net-load.c - cp_net() for the net_module=true build: loads the network
 * module (libcurl, libxml2, libcrypto and our code that uses them) on first
 * use, so that runs that need no network never map those libraries.
 *
 * Where the module is looked for, first existing file wins:
 *   1. the build tree: <exe dir>/../src/credproc-net.so, only when the
 *      executable runs from a Meson build tree (<exe dir>/../meson-private);
 *   2. the install location relative to the executable:
 *      <exe dir>/<bindir -> libdir>/aws-credproc/credproc-net.so;
 *   3. the configured install path, <prefix>/<libdir>/aws-credproc/credproc-net.so.
 * <exe dir> comes from /proc/self/exe. No environment variable can change
 * this: a credential helper must not load code from a path someone else
 * chose. The file must be a regular file owned by root or by the effective
 * user and not writable by group or others; the checked file descriptor
 * itself is what gets loaded (/proc/self/fd/N), so the checked file cannot
 * be swapped before dlopen. */
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

/* dir (absolute, symlink-free: from /proc/self/exe) joined with rel, whose
 * leading "../" are resolved lexically, which is exact for such a dir. */
static void s_join(char *buf, size_t size, const char *dir, const char *rel)
{
	char d[PATH_MAX];
	snprintf(d, sizeof d, "%s", dir);
	while (strncmp(rel, "../", 3) == 0 || strcmp(rel, "..") == 0) {
		char *slash = strrchr(d, '/');
		if (slash && slash != d)
			*slash = '\0';
		else
			strcpy(d, "/");
		rel += rel[2] ? 3 : 2;
	}
	snprintf(buf, size, "%s%s%s", d, strcmp(d, "/") == 0 || !*rel ? "" : "/", rel);
}

static bool s_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
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

static int s_fail(const char *path, const char *why)
{
	return cp_error_set(&s_err, CP_EINTERNAL, "cannot load the network module '%s': %s", path, why);
}

#define S_ABSENT (-1)

/* Loads path. 0 and *ret_ops; S_ABSENT when there is no such file (try the
 * next candidate); otherwise s_err is set and CP_EINTERNAL returned. */
static int s_load(const char *path, const cp_net_ops **ret_ops)
{
	char why[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* never wait on a FIFO */
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? S_ABSENT : s_fail(path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		snprintf(why, sizeof why, "%s", strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(why, sizeof why, "not a regular file");
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		snprintf(why, sizeof why, "refusing a file owned by uid %u (neither root nor the effective user)",
			 (unsigned)st.st_uid);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(why, sizeof why, "refusing a file writable by group or others (mode %04o)",
			 (unsigned)(st.st_mode & 07777));
	else
		why[0] = '\0';
	if (why[0]) {
		close(fd);
		return s_fail(path, why);
	}

	/* Load exactly the file checked above. Without /proc (then the
	 * executable's directory was unknown too, and this is the configured
	 * install path) fall back to the path itself. */
	char fdpath[32];
	snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
	const char *given = access(fdpath, F_OK) == 0 ? fdpath : path;
	cp_debug("loading the network module %s", path);
	void *h = dlopen(given, RTLD_NOW | RTLD_LOCAL);
	close(fd);
	if (!h)
		return s_fail(path, s_dlerror(given));

	void *sym = dlsym(h, CP_NET_MODULE_ENTRY);
	cp_net_module_entry_fn entry;
	_Static_assert(sizeof entry == sizeof sym, "function and object pointers differ in size");
	memcpy(&entry, &sym, sizeof entry);
	const cp_net_ops *ops = entry ? entry() : NULL;
	if (!ops)
		snprintf(why, sizeof why, "it has no %s()", CP_NET_MODULE_ENTRY);
	else if (ops->abi != CP_NET_ABI)
		snprintf(why, sizeof why, "it has interface %u, this aws-credproc %s needs %u; reinstall",
			 ops->abi, CP_VERSION, (unsigned)CP_NET_ABI);
	else if (!ops->version || strcmp(ops->version, CP_VERSION) != 0)
		snprintf(why, sizeof why, "it is version %.32s, this aws-credproc is %s; reinstall",
			 ops->version ? ops->version : "?", CP_VERSION);
	if (why[0]) {
		dlclose(h);
		return s_fail(path, why);
	}
	*ret_ops = ops; /* the module stays loaded for the life of the process */
	return 0;
}

static void s_init(void)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	int r = S_ABSENT;
	s_exe_dir(dir, sizeof dir);
	if (dir[0]) {
		/* 1. the build tree */
		s_join(path, sizeof path, dir, CP_NET_BUILD_ROOT_REL "/meson-private");
		if (s_is_dir(path)) {
			s_join(path, sizeof path, dir, CP_NET_BUILD_MODULE_REL);
			r = s_load(path, &s_ops);
		}
		/* 2. installed, relative to the executable */
		if (r == S_ABSENT && sizeof CP_NET_INSTALL_MODULE_REL > 1) {
			s_join(path, sizeof path, dir, CP_NET_INSTALL_MODULE_REL);
			r = s_load(path, &s_ops);
		}
	}
	/* 3. the configured install path */
	if (r == S_ABSENT)
		r = s_load(CP_NET_INSTALL_MODULE_PATH, &s_ops);
	if (r == S_ABSENT)
		s_fail(CP_NET_INSTALL_MODULE_PATH, strerror(ENOENT));
}

const cp_net_ops *cp_net(cp_error *err)
{
	pthread_once(&s_once, s_init);
	if (!s_ops && err)
		*err = s_err;
	return s_ops;
}
