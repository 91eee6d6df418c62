/* STUB: replaced by the cache module. */
#include "cache.h"
int cp_cache_default_dir(const char *o, char **ret, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
int cp_cache_open(cp_cache *c, const char *o, cp_error *err) { c->usable = false; c->dirfd = -1; c->dir = 0; return 0; }
void cp_cache_close(cp_cache *c) { (void)c; }
void cp_cache_name(const char *key, char ret[static 17]) { ret[0] = 0; }
int cp_cache_read(cp_cache *c, const char *key, cp_cache_entry *ret, cp_error *err) { return CP_CACHE_MISS; }
int cp_cache_lock(cp_cache *c, const char *key, long w, cp_cache_lockfile *lock, cp_error *err) { lock->fd = -1; return 0; }
void cp_cache_unlock(cp_cache_lockfile *lock) { (void)lock; }
int cp_cache_write(cp_cache *c, const char *key, const cp_cache_entry *e, cp_error *err) { return 0; }
int cp_cache_clear(cp_cache *c, const char *key, int *n, cp_error *err) { *n = 0; return 0; }
void cp_cache_prune(cp_cache *c, int64_t now) { (void)c; }
