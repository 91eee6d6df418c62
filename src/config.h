/* config.h - the shared AWS config and credentials files.
 *
 * Semantics follow the cross-SDK profile-parser suite
 * (conformance/profile-parsing/smithy-rs/profile-parser-tests.json):
 * "[default]" / "[profile x]" in the config file, "[x]" in the credentials
 * file, "[sso-session x]" and "[services x]" sections in the config file,
 * comments, continuation lines, sub-properties (stored as the raw string
 * "\nname = value..."), and the credentials file winning per key.
 *
 * Names: profile, sso-session and services names are case-sensitive.
 * Property names are case-insensitive, as in the SDKs (the suite expects
 * "ABC = v" to come back as "abc", and smithy-rs's
 * profile_static_keys_case_insensitive case reads AWS_ACCESS_KEY_ID as
 * aws_access_key_id): the parser stores them lowercased (ASCII) and
 * cp_section_get() compares case-insensitively, so either spelling works.
 * Sub-property names (cp_subprop_get) are matched case-insensitively too.
 * Names must match [A-Za-z0-9_\-/.%@:+]+; sections and properties with
 * other names are ignored (not an error), as the SDKs do.
 *
 * Values may hold secrets: cp_config_free() wipes everything, and no error
 * message ever quotes a value or a line of the file.
 * Every function returns 0 or a CP_E* status (CP_ECONFIG for malformed
 * input or exceeded limits, CP_EINTERNAL for out of memory).
 */
#ifndef CP_CONFIG_H
#define CP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define CP_CONFIG_MAX_FILE (16 * 1024 * 1024) /* bytes per file */
#define CP_CONFIG_MAX_LINE (64 * 1024)        /* bytes per line */
/* Section headers per file; sections per cp_config. A profile that does
 * anything takes more than 64 bytes (an IAM Identity Center one, about
 * 110), so a file of real profiles within the size limit is within this
 * one; what it bounds is the memory of headers like "[a]". */
#define CP_CONFIG_MAX_SECTIONS (CP_CONFIG_MAX_FILE / 64) /* 262144 */
#define CP_CONFIG_MAX_PROPS 1000              /* properties per section */

typedef struct cp_prop {
	char *name;   /* lowercased by the parser; lookups are case-insensitive */
	char *value;  /* trimmed; sub-properties as "\nkey = value..." */
} cp_prop;

/* A section found by a lookup (cp_config_profile...) holds all its
 * properties. In cfg->profiles, a section not looked up yet may not: a
 * file's properties are parsed on the first lookup of their section. */
typedef struct cp_section {
	char *name;
	cp_prop *props;
	size_t nprops;
	size_t cap;
	/* private to config.c: the bodies of its headers not parsed yet */
	size_t lazy_first, lazy_last, lazy_lines;
	bool lazy_pulled; /* the bodies from indexed files are linked in */
} cp_section;

typedef struct cp_config {
	cp_section *profiles;     /* [default], [profile x] (config), [x] (credentials) */
	size_t nprofiles, cap_profiles;
	cp_section *sso_sessions; /* [sso-session x] */
	size_t nsso, cap_sso;
	cp_section *services;     /* [services x] */
	size_t nservices, cap_services;
	struct cp_config_lazy *lazy; /* private: indexes, kept file texts */
} cp_config;

typedef enum cp_file_kind {
	CP_FILE_CONFIG,
	CP_FILE_CREDENTIALS,
} cp_file_kind;

void cp_config_init(cp_config *cfg);
void cp_config_free(cp_config *cfg);

/* Parses one file's text and merges it into cfg. `filename` is only used in
 * error messages. Call for the config file first, then the credentials file,
 * so that credentials-file values win per key. A syntax error leaves cfg
 * unchanged; after a limit error while merging, cfg may hold part of the
 * file and should only be freed. */
int cp_config_parse(cp_config *cfg, const char *text, size_t len, cp_file_kind kind,
		    const char *filename, cp_error *err);

/* Reads and parses both files (either may be NULL or absent: a missing file
 * is an empty file). Unreadable or oversized files are errors (CP_ECONFIG). */
int cp_config_load(cp_config *cfg, const char *config_path, const char *credentials_path,
		   cp_error *err);

/* A file of at least this size is answered from a checked-config index
 * when there is a valid one (cp_config_load_indexed). Measured with
 * tests/bench/config-scale.sh (release build): reading and checking a
 * whole file costs about 0.3 ms per 100 KB (1,000 profiles, 107 KB: +0.3
 * ms over a 1-profile file; 5,000, 543 KB: +1.6 ms), while the index costs
 * its own fixed ~0.05 ms (two more opens, a map, a read per section looked
 * up) and, on each new version of the file, a second file written and
 * synced. At 256 KiB (about 2,400 IAM Identity Center profiles) the whole
 * read costs ~0.7 ms, over half a 1-profile run: from there on the index
 * pays. Below it every file takes the path it always took (which keeps
 * every small test, the conformance suites and the differential tests on
 * that path). */
#define CP_CONFIG_INDEX_MIN (256 * 1024)

/* cp_config_load(), with a checked-config index for each file of at least
 * CP_CONFIG_INDEX_MIN bytes, kept in the directory index_dirfd (the
 * credentials cache's, opened and checked by the caller; -1: no index,
 * which is cp_config_load()). The index of a file, "<16 hex>.idx" (a hash
 * of its kind and path), mode 0600, is written (atomically; a failure is a
 * debug line) after the file was read and checked whole without an error,
 * and holds the file's identity (fstat: device, inode, size, mtime and
 * ctime to the nanosecond, owner, mode) and, per list of sections, a hash
 * table of their names leading to the spans of their headers' bodies. A
 * later load whose fstat of the open file matches that identity exactly
 * (the kernel changes the ctime on every change, and nobody can set it)
 * reads no more of the file than the sections looked up: a lookup reads
 * the name's spans with pread() from the descriptor, kept open until
 * cp_config_free(), checks that they are what the index says and parses
 * them as a whole load would. An index is only written for a file whose
 * ctime is a few seconds old, so that a change in the same clock tick
 * cannot go unseen. The result is the same as cp_config_load()'s in every
 * case: a damaged index, or one that does not match the file, is not used
 * (the file is read whole instead, during the lookup if need be), and
 * whenever the index could change an error or a limit the files are read
 * whole again. With an index, the lists of cfg hold the sections looked up
 * so far, not every one (lookups are the interface; the pointers they
 * return stay valid until cp_config_free() or cp_config_set()). A
 * section of a file that changes while it is loaded is absent. */
int cp_config_load_indexed(cp_config *cfg, const char *config_path,
			   const char *credentials_path, int index_dirfd, cp_error *err);

/* How many of the files loaded are answered from an index (tests, debug). */
int cp_config_indexed(const cp_config *cfg);

/* Tests only: index files of at least min_bytes (default
 * CP_CONFIG_INDEX_MIN), whose ctime is at least settle_seconds old
 * (default 3). */
void cp_config_index_tune(size_t min_bytes, int settle_seconds);

/* Resolves the file locations from the environment as the SDKs do:
 * AWS_CONFIG_FILE (default ~/.aws/config), AWS_SHARED_CREDENTIALS_FILE
 * (default ~/.aws/credentials), with "~" / "~/" expanded by cp_home_dir()
 * ($HOME when absolute, else the passwd entry). Both results are heap strings. */
int cp_config_paths(char **ret_config, char **ret_credentials, cp_error *err);

/* Lookups, in constant time. Return NULL when absent. The first lookup of
 * a profile parses its properties (the file was checked when loaded): a
 * profile is NULL, never partial, should that run out of memory. Not
 * thread-safe, as nothing here is. */
const cp_section *cp_config_profile(const cp_config *cfg, const char *name);
const cp_section *cp_config_sso_session(const cp_config *cfg, const char *name);
const cp_section *cp_config_services(const cp_config *cfg, const char *name);
const char *cp_section_get(const cp_section *sec, const char *key);
/* The same when the value is not empty (an empty value counts as unset,
 * as in the SDKs); sec may be NULL. */
const char *cp_section_value(const cp_section *sec, const char *key);

/* Sets (adds or replaces) a property in a profile, creating the profile.
 * A seam for tests that build profiles directly: the tool itself never
 * calls it (its profiles come from cp_config_parse). The key is stored
 * lowercased. Returns 0, CP_EINTERNAL (out of memory or a NULL
 * argument) or CP_ECONFIG (a limit reached); err is not set. */
int cp_config_set(cp_config *cfg, const char *profile, const char *key, const char *value);

/* Looks up a sub-property of a property value ("\nkey = value\n..."):
 * e.g. the `endpoint_url` under `sts =` in a [services x] section.
 * Lines without '=' are skipped, names match case-insensitively, the last
 * definition wins, and a '#'/';' comment after whitespace is cut off.
 * Returns a heap copy in *ret (NULL if absent); 0 or CP_EINTERNAL. */
int cp_subprop_get(const char *value, const char *key, char **ret);

/* Tests only: parse every file whole when loaded (as one whose sections
 * near CP_CONFIG_MAX_PROPS is), to compare with parsing on lookup. */
void cp_config_parse_eagerly(bool on);

#endif
