/* fileio.h - files written whole or not at all, and the home directory.
 *
 * Core functions (the network module reaches them through the executable's
 * exports): the cache entry and the SSO token file are both replaced with
 * cp_write_file_atomic(); every default path under ~ starts at
 * cp_home_dir().
 */
#ifndef CP_FILEIO_H
#define CP_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util.h"

/* Writes all n bytes at p to fd, restarting after signals: 0, or an errno
 * (EIO when write() makes no progress). */
int cp_write_all(int fd, const void *p, size_t n);

typedef struct cp_atomic_write {
	mode_t mode; /* of the new file, given to open() (the umask applies); 0: 0600 */
	/* flock(LOCK_EX) on the temp file from before its first byte until it
	 * has been renamed (the cache: a non-empty temp file nobody holds is one
	 * whose writer died, and may be pruned). */
	bool lock;
	/* Tests: called with the temp file written and synced, just before the
	 * rename (dirfd as given, temp_name in the same directory as name); an
	 * errno returned aborts the write. NULL otherwise. */
	int (*before_rename)(void *ctx, int dirfd, const char *temp_name);
	void *ctx;
} cp_atomic_write;

/* Replaces name (relative to dirfd, or AT_FDCWD; it may have a directory
 * part) with the n bytes at data, so that a reader or a crash sees the old
 * file or the new one, never a part: a new temp file in the same directory
 * (O_EXCL, O_NOFOLLOW), ".<base without its last extension>.<pid>.<16 hex>
 * .tmp", written in full, fsync'ed, renamed over name, then the directory
 * fsync'ed (a failure of that last step is only a debug line: the file is
 * in place). how may be NULL (0600, no lock). On failure no temp file is
 * left, name is untouched, and err gets CP_ESOURCE (CP_EINTERNAL out of
 * memory) with the reason alone in err->msg (the strerror text), for the
 * caller's own sentence. */
int cp_write_file_atomic(int dirfd, const char *name, const void *data, size_t n,
			 const cp_atomic_write *how, cp_error *err);

/* The home directory, as botocore's os.path.expanduser("~") finds it but
 * stricter: $HOME when it is an absolute path, else the directory of the
 * passwd entry of geteuid() (whose files the cache's ownership checks
 * expect); trailing '/' dropped ("/" stays "/"). With sub (a relative path
 * such as ".aws/config"), the path of sub under it instead ("/.aws/config"
 * for the root). Heap string in *ret; CP_ECONFIG when neither gives a
 * directory (callers reword it), CP_EINTERNAL out of memory. */
int cp_home_dir(const char *sub, char **ret, cp_error *err);

/* Opens a file that another program left for us and that we trust with
 * our credentials (the SSO and console sign-in token caches): it must be a
 * regular file, not a symbolic link, owned by the effective user, not
 * writable by group or others, and at most max bytes. The fd (O_RDONLY,
 * close-on-exec; st filled), or -1 with errno set: ENOENT when the file
 * does not exist (why is ""), else why holds the reason for a message ("it
 * is a symbolic link", "owned by uid 0, not by uid 1000", ...). */
int cp_open_private_file(const char *path, size_t max, struct stat *st, char *why, size_t whylen);
/* Reads the whole of such an fd from its start into *ret_data (NUL added,
 * not counted in *ret_len): 0, or -1 with why set. */
int cp_read_private_fd(int fd, const struct stat *st, size_t max, char **ret_data, size_t *ret_len,
		       char *why, size_t whylen);

#endif
