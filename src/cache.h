/* cache.h - the locked on-disk credential cache (DESIGN.md "The cache").
 *
 * Calling sequence (the caller is src/credproc.c):
 *
 *   cp_cache c;
 *   cp_cache_open(&c, dir_override, &err);      // never fails the command:
 *                                               // an unusable dir warns once and
 *                                               // leaves c.usable = false
 *   cp_cache_read(&c, key, &entry, &err);       // hit path: no lock, no libcrypto
 *   ... miss:
 *   cp_cache_lock(&c, key, wait_ms, &lock, &err);  // exclusive, bounded wait
 *   cp_cache_read(&c, key, &entry, &err);       // re-read: someone may have refreshed
 *   ... fetch from STS ...
 *   cp_cache_write(&c, key, &entry, &err);      // temp + fsync + rename + fsync(dir)
 *   cp_cache_unlock(&lock);
 *   cp_cache_close(&c);
 *
 * Files: the entry "<hash>.json" and its lock "<hash>.lock", where <hash> is
 * a 64-bit FNV-1a of the key text in hex. The entry stores the key text, and
 * a read compares it, so a hash collision is a miss. Entries are opened
 * O_NOFOLLOW|O_CLOEXEC, checked with fstat (regular file, owned by us, not
 * group/world-writable, at most CP_CACHE_MAX_ENTRY bytes). Anything
 * unreadable, truncated, malformed or hostile is a miss, reported once
 * through cp_warn(), and later replaced by a fresh write (rename over it).
 *
 * The entry (versioned JSON, written by cJSON, at most CP_CACHE_MAX_ENTRY):
 *   {"Format": 1, "Key": "<key text>", "AccessKeyId": "...",
 *    "SecretAccessKey": "...", "SessionToken": "..." (optional),
 *    "AccountId": "..." (optional), "Expiration": <Unix s>, "Issued": <Unix s>}
 * A read requires Format == CP_CACHE_FORMAT, Key equal byte for byte,
 * strings and integers of the right types, non-empty key id and secret,
 * and Expiration > Issued > 0. Temp files are ".<hash>.<pid>.<random>.tmp".
 * Only names of exactly these three shapes are ever removed, and, by
 * cp_cache_clear(NULL) only, "<16 hex>.idx": the indexes of large config
 * files (config.h, cp_config_load_indexed), kept here too.
 *
 * Locks are flock()s on an O_CLOEXEC descriptor: a holder that dies or execs
 * releases it, but a fork()ed child shares it until it closes its copy.
 *
 * Return values: 0 on success; CP_CACHE_MISS from cp_cache_read when there
 * is no usable entry. The cache never produces an exit
 * status by itself except CP_EINTERNAL (out of memory) and, from
 * cp_cache_lock, CP_ETRANSPORT when the wait for another process's lock
 * timed out (err says who waited how long).
 */
#ifndef CP_CACHE_H
#define CP_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "creds.h"
#include "util.h"

/* A result, not a failure: no usable entry. Outside the exit statuses (1-6)
 * and positive like them, so that no status is ever negative; it never
 * reaches the process's exit status (the chain turns a miss into a fetch). */
#define CP_CACHE_MISS 64
#define CP_CACHE_MAX_ENTRY (64 * 1024)   /* bytes */
#define CP_CACHE_FORMAT 1                 /* on-disk format version */

typedef struct cp_cache {
	bool usable;     /* false: run uncached (after one warning) */
	int dirfd;       /* O_DIRECTORY|O_CLOEXEC, -1 when unusable */
	char *dir;       /* the directory path (for messages and explain) */
	uint64_t warned; /* private: hash of the last entry warning, so that the
			  * re-read under the lock does not repeat it (0: none) */
	bool wait_may_be_for_a_person; /* set by the caller when a lock holder may
			  * be asking for an MFA code: the wait note is then a
			  * cp_progress(), shown at once, not a deferred cp_warn() */
} cp_cache;

typedef struct cp_cache_entry {
	cp_creds creds;  /* expiration required (> 0) */
	int64_t issued;  /* Unix seconds when the credentials were obtained */
} cp_cache_entry;

typedef struct cp_cache_lock {
	int fd;          /* -1 when not held */
} cp_cache_lockfile;

/* The directory: dir_override (--cache-dir) > AWS_CREDPROC_CACHE_DIR >
 * $XDG_CACHE_HOME/aws-credproc > ~/.cache/aws-credproc. Heap string.
 * Empty values are ignored, as is a relative XDG_CACHE_HOME (XDG spec); ~ is
 * cp_home_dir() ($HOME when absolute, else the passwd entry of geteuid()).
 * Trailing slashes are dropped.
 * CP_ECONFIG when there is no home directory at all, CP_EINTERNAL on OOM. */
int cp_cache_default_dir(const char *dir_override, char **ret, cp_error *err);

/* Opens (creating with mkdir 0700, parents 0700 as needed, never chmod) and
 * checks the directory: owned by us, not group/world-writable, not a
 * symlink. On any problem: one cp_warn() naming the directory and why,
 * c->usable = false, return 0. CP_EINTERNAL only on out of memory. */
int cp_cache_open(cp_cache *c, const char *dir_override, cp_error *err);
void cp_cache_close(cp_cache *c);

/* The directory for the config files' indexes (cp_config_load_indexed):
 * the cache directory of dir_override as cp_cache_open() finds it, only
 * when it exists already and passes its checks (owned by us, not group-
 * or world-writable, not a symbolic link). Never creates it, never warns
 * (a cp_debug() line says why not): an O_DIRECTORY|O_CLOEXEC fd to
 * close, or -1. */
int cp_cache_index_dir(const char *dir_override);

/* The file name stem for a key: 16 lowercase hex digits + NUL. */
void cp_cache_name(const char *key, char ret[static 17]);

/* Reads the entry for key. 0 and *ret filled (caller clears), or
 * CP_CACHE_MISS (absent, or bad: one warning unless simply absent), or
 * CP_EINTERNAL. Does not judge the expiration (the caller applies the margin).
 * An entry written for another key text is a bad entry too. The same
 * problem with the same entry is reported once per cp_cache (the re-read
 * after cp_cache_lock stays quiet); a hit resets that. An unusable cache is
 * a silent miss. */
int cp_cache_read(cp_cache *c, const char *key, cp_cache_entry *ret, cp_error *err);

/* The entry parser cp_cache_read uses (exposed for the fuzzer): checks
 * text[0..len) (need not be NUL-terminated, at most CP_CACHE_MAX_ENTRY
 * bytes) as an entry for key. 0 and *ret filled (caller clears);
 * CP_CACHE_MISS with err->msg saying why; CP_EINTERNAL on OOM. */
int cp_cache_parse_entry(const char *text, size_t len, const char *key, cp_cache_entry *ret, cp_error *err);

/* Takes the exclusive lock for key, waiting at most wait_ms (flock, so a
 * holder that dies releases it). 0; CP_ETRANSPORT on timeout; on an unusable
 * cache or a lock file that cannot be created, 0 with lock->fd = -1 (the
 * caller proceeds unlocked). The holder writes its pid ("<pid>\n") into the
 * lock file once it has the lock, and empties the file before releasing it.
 * A wait longer than a second is reported once, naming the holder's pid:
 * "waiting for aws-credproc (pid N) holding the cache lock '<path>'",
 * through cp_warn(), or, when c->wait_may_be_for_a_person, through
 * cp_progress() with " (an MFA prompt may be open)". */
int cp_cache_lock(cp_cache *c, const char *key, long wait_ms, cp_cache_lockfile *lock, cp_error *err);
void cp_cache_unlock(cp_cache_lockfile *lock);

/* Writes the entry atomically (temp file in the same directory, mode 0600,
 * O_EXCL, full write, fsync, rename, fsync of the directory; the temp is
 * unlinked on failure). Failure (read-only, full disk) warns once and
 * returns 0: a cache that cannot be written never fails the command.
 * Entries a read would refuse are not written: without a key id or secret,
 * or with expiration <= issued or issued <= 0 (skipped, a cp_debug line),
 * or larger than CP_CACHE_MAX_ENTRY (a warning). An unusable cache: 0,
 * silently (cp_cache_open already warned). CP_EINTERNAL only on OOM. */
int cp_cache_write(cp_cache *c, const char *key, const cp_cache_entry *e, cp_error *err);

/* Removes the entry and lock for key, or (key NULL) every entry, lock,
 * temp file and config index of ours in the directory (names of our
 * shapes only; other files
 * and subdirectories are left alone). *ret_removed counts entries removed.
 * A file that cannot be removed warns and is skipped; an unusable cache
 * removes nothing. 0, or CP_EINTERNAL on OOM. */
int cp_cache_clear(cp_cache *c, const char *key, int *ret_removed, cp_error *err);

/* Opportunistic pruning on a miss: removes entries whose stored Expiration
 * is <= now (unless another process holds that key's lock), lock files
 * whose mtime is an hour or more before now and that nobody holds (flock
 * LOCK_NB), and temp files that nobody holds and that have content (a
 * writer flocks its temp file before the first byte and until the rename:
 * such a file is a dead writer's) or are an hour old. Malformed entries are left for the next read to report
 * and replace. Looks at 4096 directory entries at most. Never warns, never
 * fails. */
void cp_cache_prune(cp_cache *c, int64_t now);

#endif
