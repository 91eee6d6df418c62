/* config.c - the shared AWS config and credentials files (see config.h).
 *
 * A file is parsed in two steps, as the SDKs do:
 *  1. lines: section headers, properties, continuations and comments are
 *     recognised and syntax errors reported with the line number. Every
 *     header opens a section, even one whose name is later ignored, so that
 *     syntax errors inside ignored sections are still errors.
 *  2. normalisation: section names are validated for the file kind
 *     ("[profile x]" in config, "[x]" in credentials, ...), properties with
 *     invalid names are dropped, "[profile default]" hides "[default]" in
 *     the same config file, and the result is merged into the cp_config
 *     (a later value wins per key, so the credentials file, parsed second,
 *     wins over the config file).
 * Step 1 builds a private cp_config so that a syntax error leaves the
 * caller's cp_config untouched.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"

enum {
	S_LIST_NONE = 0,     /* ignored section: parsed, then dropped */
	S_LIST_PROFILES,
	S_LIST_SSO,
	S_LIST_SERVICES,
	S_LIST_BARE_DEFAULT, /* "[default]" in the config file */
	S_LIST_TARGET,       /* a span being parsed into its section (s_materialize) */
};

/* ---- characters ------------------------------------------------------- */

/* Whitespace as the profile-file spec defines it: space and tab only. */
static bool s_is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* ASCII whitespace (what precedes an inline comment, what a name is
 * trimmed of). */
static bool s_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Trims the characters `is` accepts from both ends of p[0..n). */
static void s_trim_by(const char **p, size_t *n, bool (*is)(char))
{
	while (*n && is(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && is((*p)[*n - 1]))
		(*n)--;
}

static void s_trim_ws(const char **p, size_t *n)
{
	s_trim_by(p, n, s_is_ws);
}

static void s_trim_space(const char **p, size_t *n)
{
	s_trim_by(p, n, s_is_space);
}

/* Identifiers (profile, section and property names): [A-Za-z0-9_\-/.%@:+]+ */
static bool s_is_ident(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '/' || c == '.' || c == '%' || c == '@' ||
		      c == ':' || c == '+'))
			return false;
	}
	return true;
}

/* Does p[0..n) hold a '#' or a ';'? Eight bytes at a time (a zero byte
 * of w ^ c is a byte equal to c; the test is exact, see "Bit Twiddling
 * Hacks", "Determine if a word has a zero byte"). */
static bool s_has_comment_char(const char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w, a, b;
		memcpy(&w, p + i, 8);
		a = w ^ (ones * '#');
		b = w ^ (ones * ';');
		if ((((a - ones) & ~a) | ((b - ones) & ~b)) & highs)
			return true;
	}
	for (; i < n; i++)
		if (p[i] == '#' || p[i] == ';')
			return true;
	return false;
}

/* ASCII case-insensitive comparison of n bytes (locale-independent). */
static bool s_eq_icase_n(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

static void s_lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Trims the line and cuts a trailing comment ('#' or ';'). In property
 * lines a comment must follow whitespace ("a = b#c" keeps "b#c"); in
 * section headers it need not ("[profile a]# c"). */
static void s_prepare_line(const char **p, size_t *n, bool comment_needs_space)
{
	s_trim_ws(p, n);
	if (!memchr(*p, '#', *n) && !memchr(*p, ';', *n))
		return; /* no comment: trimmed already */
	bool prev_space = false;
	for (size_t i = 0; i < *n; i++) {
		char c = (*p)[i];
		if ((c == '#' || c == ';') && (prev_space || !comment_needs_space)) {
			*n = i;
			break;
		}
		prev_space = s_is_space(c);
	}
	s_trim_ws(p, n);
}

/* Splits "name = value" (after s_prepare_line). Returns 0, 1 when there is
 * no '=', 2 when the name is empty. */
static int s_split_property(const char *p, size_t n, const char **k, size_t *kn, const char **v,
			    size_t *vn)
{
	const char *eq = memchr(p, '=', n);
	if (!eq)
		return 1;
	*k = p;
	*kn = (size_t)(eq - p);
	*v = eq + 1;
	*vn = n - *kn - 1;
	s_trim_ws(k, kn);
	s_trim_ws(v, vn);
	return *kn == 0 ? 2 : 0;
}

/* ---- sections ----------------------------------------------------------- */

static void s_prop_free(cp_prop *pr)
{
	cp_free_secret(pr->name);
	cp_free_secret(pr->value);
	pr->name = pr->value = NULL;
}

static void s_section_free(cp_section *s)
{
	for (size_t i = 0; i < s->nprops; i++)
		s_prop_free(&s->props[i]);
	cp_freezero(s->props, s->cap * sizeof *s->props);
	cp_free_secret(s->name);
	memset(s, 0, sizeof *s);
}

static void s_list_free(cp_section **arr, size_t *n, size_t *cap)
{
	for (size_t i = 0; i < *n; i++)
		s_section_free(&(*arr)[i]);
	free(*arr);
	*arr = NULL;
	*n = *cap = 0;
}

static cp_section *s_list_find(cp_section *arr, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(arr[i].name, name) == 0)
			return &arr[i];
	return NULL;
}

static cp_prop *s_section_find(const cp_section *s, const char *key)
{
	/* From the end: a repeated key is usually a recent one. */
	for (size_t i = s->nprops; i-- > 0;)
		if (strcmp(s->props[i].name, key) == 0)
			return &s->props[i];
	return NULL;
}

/* Adds or replaces a property. Takes ownership of name (lowercase) and
 * value whatever the outcome. Returns 0, CP_EINTERNAL, or CP_ECONFIG when
 * the section already holds CP_CONFIG_MAX_PROPS properties (caller words
 * the message). */
static int s_section_put(cp_section *s, char *name, char *value)
{
	cp_prop *pr = s_section_find(s, name);
	if (pr) {
		cp_free_secret(pr->value);
		pr->value = value;
		cp_free_secret(name);
		return 0;
	}
	int r = 0;
	if (s->nprops >= CP_CONFIG_MAX_PROPS) {
		r = CP_ECONFIG;
		goto fail;
	}
	if (s->nprops == s->cap) {
		/* The array holds pointers only, but move it by hand anyway so
		 * that no stale copy is left behind. */
		size_t cap = s->cap ? s->cap * 2 : 8;
		cp_prop *np = calloc(cap, sizeof *np);
		if (!np) {
			r = CP_EINTERNAL;
			goto fail;
		}
		if (s->nprops)
			memcpy(np, s->props, s->nprops * sizeof *np);
		cp_freezero(s->props, s->cap * sizeof *s->props);
		s->props = np;
		s->cap = cap;
	}
	s->props[s->nprops].name = name;
	s->props[s->nprops].value = value;
	s->nprops++;
	return 0;
fail:
	cp_free_secret(name);
	cp_free_secret(value);
	return r;
}

/* Appends an empty section named `name` (ownership taken). */
static int s_list_add(cp_section **arr, size_t *n, size_t *cap, char *name, cp_section **ret)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		cp_section *na = realloc(*arr, ncap * sizeof *na);
		if (!na) {
			cp_free_secret(name);
			return CP_EINTERNAL;
		}
		*arr = na;
		*cap = ncap;
	}
	cp_section *s = &(*arr)[(*n)++];
	memset(s, 0, sizeof *s);
	s->name = name;
	*ret = s;
	return 0;
}

/* A name -> position hash over a section array, so that files with
 * thousands of profiles parse, merge and answer lookups in linear time.
 * Open addressing, at most 3/4 full, 4 bytes a slot (20,000 profiles take
 * 128 KiB: the cache misses of the probes are what a large file costs).
 * A slot is 0 (empty) or the position + 1 in its low S_POS_BITS and 12
 * more bits of the name's hash above: a probe reads the section (another
 * cache miss) only when those match. */
typedef uint32_t s_slot;

#define S_POS_BITS 20
#define S_POS_MASK ((1u << S_POS_BITS) - 1)

typedef struct s_index {
	s_slot *slots;
	size_t nslots;  /* a power of two */
} s_index;

/* Positions + 1 fit in S_POS_BITS; the slot number (the low bits of the
 * hash: at most 2^19 slots, CP_CONFIG_MAX_SECTIONS entries at 3/4) does
 * not reach the tag's bits. */
_Static_assert(2 * (uint64_t)CP_CONFIG_MAX_SECTIONS < S_POS_MASK, "positions fit in a slot");

/* Eight bytes at a time, each word multiplied in; then murmur3's fmix64,
 * as the slot comes from the low bits (FNV-1a, used before, mixed them
 * poorly: names differing in a few digits collided in long runs). */
static uint64_t s_hash64_n(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull ^ n, w;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	if (i < n) {
		w = 0;
		memcpy(&w, s + i, n - i);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint32_t s_hash_n(const char *s, size_t n)
{
	return (uint32_t)s_hash64_n(s, n);
}

static uint32_t s_hash(const char *s)
{
	return s_hash_n(s, strlen(s));
}

static uint32_t s_tag(uint32_t h)
{
	return h & ~S_POS_MASK;
}

static void s_index_free(s_index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->nslots = 0;
}

/* The section named name[0..n) (hash h), or NULL and *ret_slot the empty
 * slot where it goes. The index has slots. */
static cp_section *s_index_probe(const s_index *ix, cp_section *arr, const char *name, size_t n,
				 uint32_t h, size_t *ret_slot)
{
	size_t mask = ix->nslots - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		s_slot sl = ix->slots[i];
		if (!sl) {
			*ret_slot = i;
			return NULL;
		}
		if (s_tag(sl) != s_tag(h))
			continue;
		cp_section *s = &arr[(sl & S_POS_MASK) - 1];
		if (strncmp(s->name, name, n) == 0 && s->name[n] == '\0')
			return s;
	}
}

static cp_section *s_index_find(const s_index *ix, cp_section *arr, const char *name)
{
	size_t n = strlen(name), slot;
	return ix->nslots ? s_index_probe(ix, arr, name, n, s_hash_n(name, n), &slot) : NULL;
}

static void s_index_set(s_index *ix, size_t slot, uint32_t h, size_t pos)
{
	ix->slots[slot] = s_tag(h) | (uint32_t)(pos + 1);
}

static void s_index_put(s_index *ix, const char *name, size_t pos)
{
	uint32_t h = s_hash(name);
	size_t mask = ix->nslots - 1, i = h & mask;
	while (ix->slots[i])
		i = (i + 1) & mask;
	s_index_set(ix, i, h, pos);
}

/* Makes room for `want` entries; arr[0..n) are the entries so far. */
static int s_index_reserve(s_index *ix, const cp_section *arr, size_t n, size_t want)
{
	if (want <= ix->nslots / 4 * 3)
		return 0;
	size_t ns = 64;
	while (ns / 4 * 3 < want)
		ns *= 2;
	s_slot *slots = calloc(ns, sizeof *slots);
	if (!slots)
		return CP_EINTERNAL;
	free(ix->slots);
	ix->slots = slots;
	ix->nslots = ns;
	for (size_t i = 0; i < n; i++)
		s_index_put(ix, arr[i].name, i);
	return 0;
}

static size_t s_nsections(const cp_config *cfg)
{
	return cfg->nprofiles + cfg->nsso + cfg->nservices;
}

/* The three lists of a cp_config, by number. */
enum { L_PROFILES, L_SSO, L_SERVICES, L_COUNT };

static void s_list_of(cp_config *c, int li, cp_section ***arr, size_t **n, size_t **cap)
{
	switch (li) {
	case L_PROFILES: *arr = &c->profiles, *n = &c->nprofiles, *cap = &c->cap_profiles; break;
	case L_SSO: *arr = &c->sso_sessions, *n = &c->nsso, *cap = &c->cap_sso; break;
	default: *arr = &c->services, *n = &c->nservices, *cap = &c->cap_services; break;
	}
}

/* ---- the lazy part of a cp_config ---------------------------------------- */

/* A file is checked line by line when it is loaded (every error is
 * reported then), but a section's properties are only parsed when the
 * section is first looked up: a cp_section keeps the list of its "spans",
 * the bodies of its headers (the lines after a header, up to the next
 * one), in the order they were read, and the file text they point into is
 * kept (and wiped when freed). Parsing the spans in order into the
 * section gives what parsing the whole file would have given: a later
 * value wins per key, and a key keeps the place of its first definition. */
typedef struct s_span {
	uint32_t text;   /* which kept text (cp_config_lazy.texts) */
	uint32_t off, len; /* the body, in that text */
	uint32_t lineno; /* the header's line number */
	uint32_t next;   /* the section's next span + 1; 0: the last */
} s_span;

/* A text is at most CP_CONFIG_MAX_FILE bytes (and lines), with at most
 * CP_CONFIG_MAX_SECTIONS spans, and two texts per cp_config_load. */
_Static_assert(CP_CONFIG_MAX_FILE < UINT32_MAX / 4, "offsets and span numbers fit in 32 bits");

typedef struct s_text {
	char *data;
	size_t size;    /* bytes to wipe */
	uint32_t rank;  /* the file's place in the load order: a section's spans
			 * are linked in this order */
} s_text;

/* A file answered from its index (cp_config_load_indexed); see "the
 * checked-config index" below. */
typedef struct s_ixfile s_ixfile;
struct s_parser;

struct cp_config_lazy {
	s_index ix[L_COUNT];     /* over profiles, sso_sessions, services */
	s_span *spans;
	size_t nspans, cap_spans;
	s_text *texts;
	size_t ntexts, cap_texts;
	uint32_t nranks;         /* files parsed or indexed so far */
	s_ixfile *ixf[2];        /* the files answered from an index, in load order */
	size_t nixf;
	/* Bounds over the files (their most property lines in a section,
	 * their sections), and a file merged whole: with an index in play,
	 * when a limit could be reached, the files are read whole again. */
	size_t max_lines_sum, nsections_sum;
	bool merged_whole;
};

static struct cp_config_lazy *s_lazy(cp_config *cfg)
{
	if (!cfg->lazy)
		cfg->lazy = calloc(1, sizeof *cfg->lazy);
	return cfg->lazy;
}

static void s_ixfile_free(s_ixfile *f);

static void s_lazy_free(struct cp_config_lazy *lz)
{
	if (!lz)
		return;
	for (size_t i = 0; i < lz->nixf; i++)
		s_ixfile_free(lz->ixf[i]);
	for (int i = 0; i < L_COUNT; i++)
		s_index_free(&lz->ix[i]);
	free(lz->spans);
	for (size_t i = 0; i < lz->ntexts; i++)
		cp_freezero(lz->texts[i].data, lz->texts[i].size);
	free(lz->texts);
	free(lz);
}

/* Appends a span to a span array (realloc: spans hold offsets, no text).
 * *ret is its index + 1. */
static int s_span_push(s_span **arr, size_t *n, size_t *cap, const s_span *sp, size_t *ret)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		s_span *na = realloc(*arr, ncap * sizeof *na);
		if (!na)
			return CP_EINTERNAL;
		*arr = na;
		*cap = ncap;
	}
	(*arr)[*n] = *sp;
	(*arr)[*n].next = 0;
	*ret = ++*n;
	return 0;
}

/* Links span `idx` (+ 1, in `spans`) at the end of the section's list. */
static void s_span_link(s_span *spans, cp_section *s, size_t idx)
{
	if (s->lazy_last)
		spans[s->lazy_last - 1].next = idx;
	else
		s->lazy_first = idx;
	s->lazy_last = idx;
}

static cp_section *s_cfg_find(const cp_config *cfg, int li, const char *name)
{
	cp_section **arr;
	size_t *n, *cap;
	s_list_of((cp_config *)cfg, li, &arr, &n, &cap);
	if (cfg->lazy && cfg->lazy->ix[li].nslots)
		return s_index_find(&cfg->lazy->ix[li], *arr, name);
	return s_list_find(*arr, *n, name);
}

/* Appends an empty section named `name` (ownership taken) to a list of
 * cfg, and indexes it. */
static int s_cfg_add(cp_config *cfg, int li, char *name, cp_section **ret)
{
	cp_section **arr;
	size_t *n, *cap;
	s_list_of(cfg, li, &arr, &n, &cap);
	struct cp_config_lazy *lz = s_lazy(cfg);
	if (!lz || s_index_reserve(&lz->ix[li], *arr, *n, *n + 1)) {
		cp_free_secret(name);
		return CP_EINTERNAL;
	}
	int r = s_list_add(arr, n, cap, name, ret);
	if (r)
		return r;
	s_index_put(&lz->ix[li], (*ret)->name, *n - 1);
	return 0;
}

static int s_materialize(const cp_config *cfg, cp_section *s);
static int s_find_pulled(const cp_config *cfg, int li, const char *name, cp_section **ret);

/* ---- public lifecycle and lookups ------------------------------------- */

void cp_config_init(cp_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
}

void cp_config_free(cp_config *cfg)
{
	if (!cfg)
		return;
	s_list_free(&cfg->profiles, &cfg->nprofiles, &cfg->cap_profiles);
	s_list_free(&cfg->sso_sessions, &cfg->nsso, &cfg->cap_sso);
	s_list_free(&cfg->services, &cfg->nservices, &cfg->cap_services);
	s_lazy_free(cfg->lazy);
	cfg->lazy = NULL;
}

/* A section, its properties parsed. When that runs out of memory the
 * section is reported absent, never with part of its properties. */
static const cp_section *s_lookup(const cp_config *cfg, int li, const char *name)
{
	if (!cfg || !name)
		return NULL;
	cp_section *s;
	if (s_find_pulled(cfg, li, name, &s) || (s && s_materialize(cfg, s)))
		return NULL;
	return s;
}

const cp_section *cp_config_profile(const cp_config *cfg, const char *name)
{
	return s_lookup(cfg, L_PROFILES, name);
}

const cp_section *cp_config_sso_session(const cp_config *cfg, const char *name)
{
	return s_lookup(cfg, L_SSO, name);
}

const cp_section *cp_config_services(const cp_config *cfg, const char *name)
{
	return s_lookup(cfg, L_SERVICES, name);
}

const char *cp_section_get(const cp_section *sec, const char *key)
{
	if (!sec || !key)
		return NULL;
	for (size_t i = sec->nprops; i-- > 0;)
		if (cp_streq_icase(sec->props[i].name, key))
			return sec->props[i].value;
	return NULL;
}

const char *cp_section_value(const cp_section *sec, const char *key)
{
	const char *v = cp_section_get(sec, key);
	return v && *v ? v : NULL;
}

int cp_config_set(cp_config *cfg, const char *profile, const char *key, const char *value)
{
	if (!cfg || !profile || !key || !value)
		return CP_EINTERNAL;
	cp_section *s;
	if (s_find_pulled(cfg, L_PROFILES, profile, &s) || (s && s_materialize(cfg, s)))
		return CP_EINTERNAL;
	if (!s) {
		if (s_nsections(cfg) >= CP_CONFIG_MAX_SECTIONS)
			return CP_ECONFIG;
		char *pname = cp_strdup(profile);
		if (!pname)
			return CP_EINTERNAL;
		int r = s_cfg_add(cfg, L_PROFILES, pname, &s);
		if (r)
			return r;
	}
	char *k = cp_strdup(key);
	char *v = cp_strdup(value);
	if (!k || !v) {
		cp_free_secret(k);
		cp_free_secret(v);
		return CP_EINTERNAL;
	}
	s_lower(k);
	return s_section_put(s, k, v);
}

int cp_subprop_get(const char *value, const char *key, char **ret)
{
	char *found = NULL;
	const char *p = value;
	size_t keylen = key ? strlen(key) : 0;
	while (p && *p && keylen) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *line = p, *k, *v;
		size_t kn, vn;
		p = nl ? nl + 1 : NULL;
		s_trim_space(&line, &n);
		s_prepare_line(&line, &n, true);
		if (s_split_property(line, n, &k, &kn, &v, &vn) != 0 || kn != keylen ||
		    !s_eq_icase_n(k, key, kn))
			continue;
		char *copy = cp_strndup(v, vn);
		if (!copy) {
			cp_free_secret(found);
			return CP_EINTERNAL;
		}
		cp_free_secret(found); /* the last definition wins */
		found = copy;
	}
	*ret = found;
	return 0;
}

/* ---- the line parser --------------------------------------------------- */

typedef struct s_parser {
	cp_config tmp;          /* this file's sections, merged per name */
	s_index ix[3];          /* over tmp.profiles, tmp.sso_sessions, tmp.services */
	cp_section bare_default; /* "[default]" in a config file */
	bool have_bare_default;
	bool saw_profile_default; /* "[profile default]" in a config file */
	cp_file_kind kind;
	const char *file;
	cp_error *err;
	size_t lineno;
	size_t nheaders;

	/* state */
	bool in_section;        /* a section header was seen */
	int cur_list;           /* S_LIST_* of the current section */
	size_t cur_idx;         /* its index in that list */
	bool have_prop;         /* a property line was seen in this section */
	bool is_subprop;        /* ... with an empty value: continuations are sub-properties */
	char *pend_key;         /* the current property, NULL if it is dropped */
	cp_buf pend_val;        /* ... and its value so far */
	size_t pend_line;

	/* Checking a file (scan): every line is checked as when parsing, but
	 * properties are only counted; each header's body is recorded as a
	 * span of its section (tmp or bare_default). */
	bool scan;
	bool overflow;          /* scan: a section may reach CP_CONFIG_MAX_PROPS */
	const char *nul;        /* the first NUL byte of the file, NULL if none */
	size_t line_off;        /* offset of the current line in the file */
	size_t next_off;        /* ... and of the line after it */
	s_span *spans;          /* scan: this file's spans (text unused) */
	size_t nspans, cap_spans;
	size_t open_span;       /* the span being recorded + 1, 0 if none */
	/* Parsing a span into a section of a cp_config (cur_list S_LIST_TARGET). */
	cp_section *target;
} s_parser;

static int s_perr(s_parser *ps, const char *what)
{
	return cp_error_set(ps->err, CP_ECONFIG, "'%s' line %zu: %s", ps->file, ps->lineno, what);
}

static cp_section *s_cur_section(s_parser *ps)
{
	switch (ps->cur_list) {
	case S_LIST_PROFILES: return &ps->tmp.profiles[ps->cur_idx];
	case S_LIST_SSO: return &ps->tmp.sso_sessions[ps->cur_idx];
	case S_LIST_SERVICES: return &ps->tmp.services[ps->cur_idx];
	case S_LIST_BARE_DEFAULT: return &ps->bare_default;
	case S_LIST_TARGET: return ps->target;
	default: return NULL;
	}
}

/* Stores the pending property into its section. */
static int s_flush(s_parser *ps)
{
	if (!ps->pend_key)
		return 0;
	cp_section *s = s_cur_section(ps);
	char *key = ps->pend_key;
	char *val = cp_strndup(ps->pend_val.data ? ps->pend_val.data : "", ps->pend_val.len);
	ps->pend_key = NULL;
	cp_buf_free(&ps->pend_val);
	if (!val) {
		cp_free_secret(key);
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	}
	int r = s_section_put(s, key, val);
	if (r == CP_ECONFIG)
		return cp_error_set(ps->err, CP_ECONFIG,
				    "'%s' line %zu: section '%s' has more than %d properties", ps->file,
				    ps->pend_line, s->name, CP_CONFIG_MAX_PROPS);
	if (r)
		return cp_error_set(ps->err, r, "out of memory");
	return 0;
}

/* scan: ends the span being recorded at the current line. */
static void s_span_close(s_parser *ps)
{
	if (ps->open_span) {
		s_span *sp = &ps->spans[ps->open_span - 1];
		sp->len = ps->line_off - sp->off;
		ps->open_span = 0;
	}
}

/* scan: starts recording the body of the current header, for section s. */
static int s_span_open(s_parser *ps, cp_section *s)
{
	s_span sp = {.off = ps->next_off, .lineno = ps->lineno};
	size_t idx;
	if (s_span_push(&ps->spans, &ps->nspans, &ps->cap_spans, &sp, &idx))
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	s_span_link(ps->spans, s, idx);
	ps->open_span = idx;
	return 0;
}

/* A header line (trimmed of its '\r'): the list its section goes to in a
 * file of `kind`, S_LIST_NONE for a section that is ignored, or -1 when the
 * line does not end with ']'. The name is set for any list but -1. */
static int s_header_parse(cp_file_kind kind, const char *line, size_t n, const char **ret_name,
			  size_t *ret_namen)
{
	s_prepare_line(&line, &n, false);
	if (n < 2 || line[n - 1] != ']')
		return -1;

	/* "[prefix name]" or "[name]" */
	const char *in = line + 1, *prefix = NULL, *name;
	size_t inn = n - 2, prefixn = 0, namen;
	s_trim_ws(&in, &inn);
	size_t i = 0;
	while (i < inn && !s_is_ws(in[i]))
		i++;
	if (i < inn) {
		prefix = in;
		prefixn = i;
		name = in + i + 1;
		namen = inn - i - 1;
		s_trim_space(&prefix, &prefixn);
	} else {
		name = in;
		namen = inn;
	}
	s_trim_space(&name, &namen);
	*ret_name = name;
	*ret_namen = namen;
	if (!s_is_ident(name, namen))
		return S_LIST_NONE;

	bool is_default = namen == 7 && memcmp(name, "default", 7) == 0;
	if (kind == CP_FILE_CONFIG) {
		if (!prefix)
			return is_default ? S_LIST_BARE_DEFAULT : S_LIST_NONE;
		if (prefixn == 7 && memcmp(prefix, "profile", 7) == 0)
			return S_LIST_PROFILES;
		if (prefixn == 11 && memcmp(prefix, "sso-session", 11) == 0)
			return S_LIST_SSO;
		if (prefixn == 8 && memcmp(prefix, "services", 8) == 0)
			return S_LIST_SERVICES;
		return S_LIST_NONE;
	}
	return prefix ? S_LIST_NONE : S_LIST_PROFILES;
}

static int s_header(s_parser *ps, const char *line, size_t n)
{
	const char *name;
	size_t namen;
	int r;
	s_span_close(ps);
	if ((r = s_flush(ps)))
		return r;
	if (++ps->nheaders > CP_CONFIG_MAX_SECTIONS)
		return cp_error_set(ps->err, CP_ECONFIG, "'%s' line %zu: more than %d sections",
				    ps->file, ps->lineno, CP_CONFIG_MAX_SECTIONS);
	int list = s_header_parse(ps->kind, line, n, &name, &namen);
	if (list < 0)
		return s_perr(ps, "section header must end with ']'");
	ps->in_section = true;
	ps->have_prop = ps->is_subprop = false;
	ps->cur_list = S_LIST_NONE;
	if (list == S_LIST_NONE)
		return 0;
	if (list == S_LIST_BARE_DEFAULT) {
		if (!ps->have_bare_default) {
			if (!(ps->bare_default.name = cp_strdup("default")))
				return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
			ps->have_bare_default = true;
		}
		ps->cur_list = list;
		return ps->scan ? s_span_open(ps, &ps->bare_default) : 0;
	}
	if (list == S_LIST_PROFILES && ps->kind == CP_FILE_CONFIG && namen == 7 &&
	    memcmp(name, "default", 7) == 0)
		ps->saw_profile_default = true;

	cp_section **arr;
	size_t *cnt, *cap;
	s_index *ix;
	switch (list) {
	case S_LIST_PROFILES:
		arr = &ps->tmp.profiles, cnt = &ps->tmp.nprofiles, cap = &ps->tmp.cap_profiles;
		ix = &ps->ix[0];
		break;
	case S_LIST_SSO:
		arr = &ps->tmp.sso_sessions, cnt = &ps->tmp.nsso, cap = &ps->tmp.cap_sso;
		ix = &ps->ix[1];
		break;
	default:
		arr = &ps->tmp.services, cnt = &ps->tmp.nservices, cap = &ps->tmp.cap_services;
		ix = &ps->ix[2];
		break;
	}
	if (s_index_reserve(ix, *arr, *cnt, *cnt + 1))
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	uint32_t h = s_hash_n(name, namen);
	size_t slot;
	cp_section *s = s_index_probe(ix, *arr, name, namen, h, &slot);
	if (!s) {
		char *nm = cp_strndup(name, namen);
		if (!nm)
			return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
		if ((r = s_list_add(arr, cnt, cap, nm, &s)))
			return cp_error_set(ps->err, r, "out of memory");
		s_index_set(ix, slot, h, *cnt - 1);
	}
	ps->cur_list = list;
	ps->cur_idx = (size_t)(s - *arr);
	return ps->scan ? s_span_open(ps, s) : 0;
}

/* scan: checks a property line as s_property() does, without storing it.
 * Most lines have an '=' and no '#' or ';' before it: then the comment
 * cut (which needs a '#' or ';') cannot reach the '=', and only the start
 * of the value need be looked at (is it empty?). Other lines take the
 * parser's own path. Counts the line for the section's property limit. */
static int s_property_scan(s_parser *ps, const char *line, size_t n)
{
	const char *eq = memchr(line, '=', n), *end = line + n;
	if (!eq || s_has_comment_char(line, (size_t)(eq - line))) {
		const char *k, *v;
		size_t kn, vn;
		s_prepare_line(&line, &n, true);
		int r = s_split_property(line, n, &k, &kn, &v, &vn);
		if (r == 1)
			return s_perr(ps, "expected 'name = value'");
		if (r == 2)
			return s_perr(ps, "property has no name before '='");
		ps->is_subprop = vn == 0;
	} else {
		/* line[0] is not a space: the name is empty only if it is '='. */
		if (eq == line)
			return s_perr(ps, "property has no name before '='");
		const char *v = eq + 1;
		while (v < end && s_is_ws(*v))
			v++;
		/* A comment needs a space before it ("a =#b" has the value "#b"). */
		ps->is_subprop = v == end || ((*v == '#' || *v == ';') && v > eq + 1);
	}
	ps->have_prop = true;
	cp_section *s = s_cur_section(ps);
	if (s && ++s->lazy_lines >= CP_CONFIG_MAX_PROPS) {
		/* At the limit: the file is parsed again whole, so that the
		 * limit is enforced (and reported) exactly as before. */
		ps->overflow = true;
		return CP_ECONFIG;
	}
	return 0;
}

static int s_property(s_parser *ps, const char *line, size_t n)
{
	const char *k, *v;
	size_t kn, vn;
	int r;
	if (!ps->in_section)
		return s_perr(ps, "expected a section header such as '[profile name]' before the "
				  "first property");
	if (ps->scan)
		return s_property_scan(ps, line, n);
	s_prepare_line(&line, &n, true);
	r = s_split_property(line, n, &k, &kn, &v, &vn);
	if (r == 1)
		return s_perr(ps, "expected 'name = value'");
	if (r == 2)
		return s_perr(ps, "property has no name before '='");
	if ((r = s_flush(ps)))
		return r;
	ps->have_prop = true;
	ps->is_subprop = vn == 0;
	if (ps->cur_list == S_LIST_NONE || !s_is_ident(k, kn))
		return 0; /* ignored section or invalid name: dropped, as the SDKs do */
	if (!(ps->pend_key = cp_strndup(k, kn)))
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	s_lower(ps->pend_key);
	ps->pend_line = ps->lineno;
	if (cp_buf_append(&ps->pend_val, v, vn))
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	return 0;
}

static int s_continuation(s_parser *ps, const char *line, size_t n)
{
	if (!ps->in_section)
		return s_perr(ps, "indented line before the first section header");
	if (!ps->have_prop)
		return s_perr(ps, "indented continuation line without a property to continue");
	if (ps->is_subprop) {
		const char *p = line, *k, *v;
		size_t pn = n, kn, vn;
		s_prepare_line(&p, &pn, true);
		int r = s_split_property(p, pn, &k, &kn, &v, &vn);
		if (r == 1)
			return s_perr(ps, "expected 'name = value' in a sub-property");
		if (r == 2)
			return s_perr(ps, "sub-property has no name before '='");
	}
	if (!ps->pend_key)
		return 0;
	/* The value keeps the line as written (trimmed, comments included). */
	s_trim_ws(&line, &n);
	if (cp_buf_putc(&ps->pend_val, '\n') || cp_buf_append(&ps->pend_val, line, n))
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	return 0;
}

/* Parses (or, ps->scan, checks) lines: a whole file (file_start: a byte
 * order mark may open it), or a span (a header's body). ps->nul is the
 * first NUL byte of the text, or NULL. */
static int s_parse_lines(s_parser *ps, const char *text, size_t len, bool file_start)
{
	size_t pos = 0;
	int r;
	/* A UTF-8 byte order mark, as some Windows editors write. */
	if (file_start && len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		ps->line_off = pos;
		pos += n + (nl ? 1 : 0);
		ps->next_off = pos;
		ps->lineno++;
		if (n > CP_CONFIG_MAX_LINE)
			return cp_error_set(ps->err, CP_ECONFIG,
					    "'%s' line %zu: line longer than %d bytes", ps->file,
					    ps->lineno, CP_CONFIG_MAX_LINE);
		/* Earlier lines held none: a NUL before `line` is an error already. */
		if (ps->nul && ps->nul < line + n)
			return s_perr(ps, "NUL byte in the file (is it UTF-16?)");
		if (n && line[n - 1] == '\r')
			n--;

		if (n == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (s_is_ws(line[0])) {
			const char *t = line;
			size_t tn = n;
			s_trim_ws(&t, &tn);
			if (tn == 0)
				continue; /* blank */
		}
		if (line[0] == '[' && ps->cur_list == S_LIST_TARGET)
			r = s_perr(ps, "a section header inside a section's body"); /* not checked text */
		else if (line[0] == '[')
			r = s_header(ps, line, n);
		else if (s_is_ws(line[0]))
			r = s_continuation(ps, line, n);
		else
			r = s_property(ps, line, n);
		if (r)
			return r;
	}
	ps->line_off = len;
	s_span_close(ps);
	return s_flush(ps);
}

/* ---- merging ------------------------------------------------------------ */

static int s_too_many_sections(const char *file, cp_error *err)
{
	return cp_error_set(err, CP_ECONFIG, "'%s': more than %d sections", file,
			    CP_CONFIG_MAX_SECTIONS);
}

/* The section of cfg's list li named like from, or a new one that takes
 * from's name (*ret_added). 0, or the section-limit or OOM error. */
static int s_find_or_take(cp_config *cfg, int li, cp_section *from, const char *file,
			  cp_section **ret, bool *ret_added, cp_error *err)
{
	*ret_added = false;
	if ((*ret = s_cfg_find(cfg, li, from->name)))
		return 0;
	if (s_nsections(cfg) >= CP_CONFIG_MAX_SECTIONS)
		return s_too_many_sections(file, err);
	char *nm = from->name;
	from->name = NULL; /* transferred */
	if (s_cfg_add(cfg, li, nm, ret))
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	*ret_added = true;
	return 0;
}

/* Moves every section of src (parsed) into list li of cfg (merging per
 * name, src wins per key). src is left empty. */
static int s_merge_list(cp_config *cfg, int li, cp_section *src, size_t sn, const char *file,
			cp_error *err)
{
	for (size_t i = 0; i < sn; i++) {
		cp_section *from = &src[i], *to;
		bool added;
		int r = s_find_or_take(cfg, li, from, file, &to, &added, err);
		if (r)
			return r;
		if (added) {
			to->props = from->props; /* transferred */
			to->nprops = from->nprops;
			to->cap = from->cap;
			from->props = NULL;
			from->nprops = from->cap = 0;
			continue;
		}
		if (s_materialize(cfg, to))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		for (size_t j = 0; j < from->nprops; j++) {
			cp_prop *pr = &from->props[j];
			char *name = pr->name, *value = pr->value;
			pr->name = pr->value = NULL; /* transferred */
			r = s_section_put(to, name, value);
			if (r == CP_ECONFIG)
				return cp_error_set(err, CP_ECONFIG,
						    "'%s': section '%s' has more than %d properties",
						    file, to->name, CP_CONFIG_MAX_PROPS);
			if (r)
				return cp_error_set(err, r, "out of memory");
		}
	}
	return 0;
}

/* Could merging this file's (scanned) sections into cfg reach the
 * property limit of a section? (Each property line counts.) */
static bool s_merge_may_overflow(const cp_config *cfg, cp_config *tmp)
{
	for (int li = 0; li < L_COUNT; li++) {
		cp_section **arr;
		size_t *n, *cap;
		s_list_of(tmp, li, &arr, &n, &cap);
		for (size_t i = 0; i < *n; i++) {
			const cp_section *to = s_cfg_find(cfg, li, (*arr)[i].name);
			if (to && to->nprops + to->lazy_lines + (*arr)[i].lazy_lines >=
					  CP_CONFIG_MAX_PROPS)
				return true;
		}
	}
	return false;
}

/* Moves the names and spans of a file's (scanned) sections into cfg, the
 * spans pointing into kept text number `text`. When a list of cfg is
 * empty (the config file, usually), the file's list and index become
 * cfg's as they are. */
static int s_merge_scanned(cp_config *cfg, s_parser *ps, size_t text, const char *file,
			   cp_error *err)
{
	struct cp_config_lazy *lz = cfg->lazy;
	size_t base = lz->nspans;
	if (!lz->spans) {
		lz->spans = ps->spans; /* transferred */
		lz->nspans = ps->nspans;
		lz->cap_spans = ps->cap_spans;
		ps->spans = NULL;
		ps->nspans = ps->cap_spans = 0;
	} else {
		if (ps->nspans > lz->cap_spans - lz->nspans) {
			size_t ncap = lz->nspans + ps->nspans;
			s_span *na = realloc(lz->spans, ncap * sizeof *na);
			if (!na)
				return cp_error_set(err, CP_EINTERNAL, "out of memory");
			lz->spans = na;
			lz->cap_spans = ncap;
		}
		memcpy(lz->spans + base, ps->spans, ps->nspans * sizeof *ps->spans);
		lz->nspans += ps->nspans;
	}
	/* Span numbers (+ 1) of this file move up by `base`. */
	for (size_t i = base; i < lz->nspans; i++) {
		lz->spans[i].text = text;
		if (lz->spans[i].next)
			lz->spans[i].next += base;
	}
	for (int li = 0; li < L_COUNT; li++) {
		cp_section **arr, **carr;
		size_t *n, *cap, *cn, *ccap;
		s_list_of(&ps->tmp, li, &arr, &n, &cap);
		s_list_of(cfg, li, &carr, &cn, &ccap);
		if (*cn == 0 && s_nsections(cfg) + *n <= CP_CONFIG_MAX_SECTIONS) {
			free(*carr);
			*carr = *arr, *cn = *n, *ccap = *cap; /* transferred, with the index */
			*arr = NULL, *n = *cap = 0;
			s_index_free(&lz->ix[li]);
			lz->ix[li] = ps->ix[li];
			memset(&ps->ix[li], 0, sizeof ps->ix[li]);
			for (size_t i = 0; i < *cn && base; i++) {
				cp_section *s = &(*carr)[i];
				s->lazy_first += base;
				s->lazy_last += base;
			}
			continue;
		}
		for (size_t i = 0; i < *n; i++) {
			cp_section *from = &(*arr)[i], *to;
			bool added;
			int r = s_find_or_take(cfg, li, from, file, &to, &added, err);
			if (r)
				return r;
			/* Every scanned section has a span (its header's). */
			size_t first = from->lazy_first + base, last = from->lazy_last + base;
			if (to->lazy_last)
				lz->spans[to->lazy_last - 1].next = first;
			else
				to->lazy_first = first;
			to->lazy_last = last;
			to->lazy_lines += from->lazy_lines;
		}
	}
	return 0;
}

/* Keeps the text the spans point into: `owned` (a heap copy of `size`
 * bytes, taken: *owned becomes NULL) or a copy. *ret is its number. */
static int s_keep_text(cp_config *cfg, const char *text, size_t len, char **owned, size_t size,
		       uint32_t rank, size_t *ret)
{
	struct cp_config_lazy *lz = s_lazy(cfg);
	if (!lz)
		return CP_EINTERNAL;
	if (lz->ntexts == lz->cap_texts) {
		size_t ncap = lz->cap_texts ? lz->cap_texts * 2 : 2;
		s_text *nt = realloc(lz->texts, ncap * sizeof *nt);
		if (!nt)
			return CP_EINTERNAL;
		lz->texts = nt;
		lz->cap_texts = ncap;
	}
	s_text t = {owned ? *owned : NULL, size, rank};
	if (!t.data) {
		if (!(t.data = malloc(len ? len : 1)))
			return CP_EINTERNAL;
		memcpy(t.data, text, len);
		t.size = len;
	} else {
		*owned = NULL;
	}
	lz->texts[lz->ntexts] = t;
	*ret = lz->ntexts++;
	return 0;
}

/* Parses the spans of a section (in order) into it. */
static int s_materialize(const cp_config *cfg, cp_section *s)
{
	if (!s->lazy_first)
		return 0;
	const struct cp_config_lazy *lz = cfg->lazy;
	cp_error err;
	int r = 0;
	for (size_t i = s->lazy_first; i && !r; i = lz->spans[i - 1].next) {
		const s_span *sp = &lz->spans[i - 1];
		s_parser ps;
		memset(&ps, 0, sizeof ps);
		ps.err = &err;
		ps.file = "config";
		ps.target = s;
		ps.in_section = true;
		ps.cur_list = S_LIST_TARGET;
		ps.lineno = sp->lineno;
		/* Checked when loaded: only running out of memory can fail. */
		r = s_parse_lines(&ps, lz->texts[sp->text].data + sp->off, sp->len, false);
		cp_free_secret(ps.pend_key);
		cp_buf_free(&ps.pend_val);
	}
	if (r)
		return r; /* the spans stay: a later lookup parses them again */
	s->lazy_first = s->lazy_last = s->lazy_lines = 0;
	return 0;
}

/* ---- parsing a file ------------------------------------------------------ */

static bool s_eager; /* tests: parse every file whole (cp_config_parse_eagerly) */

void cp_config_parse_eagerly(bool on)
{
	s_eager = on;
}

static void s_parser_init(s_parser *ps, const char *text, size_t len, cp_file_kind kind,
			  const char *file, cp_error *err)
{
	memset(ps, 0, sizeof *ps);
	ps->kind = kind;
	ps->err = err;
	ps->file = file;
	ps->nul = len ? memchr(text, '\0', len) : NULL;
}

static void s_parser_free(s_parser *ps)
{
	cp_free_secret(ps->pend_key);
	cp_buf_free(&ps->pend_val);
	s_section_free(&ps->bare_default);
	cp_config_free(&ps->tmp);
	for (size_t i = 0; i < L_COUNT; i++)
		s_index_free(&ps->ix[i]);
	free(ps->spans);
}

/* scan: sizes the profile list, its index and the spans for a large file
 * from its count of '[' (at least its headers), so that they grow, copied
 * and rehashed, less or not at all. */
static int s_presize(s_parser *ps, const char *text, size_t len)
{
	size_t n = 0;
	for (const char *p = text, *end = text + len;
	     n <= CP_CONFIG_MAX_SECTIONS && p < end && (p = memchr(p, '[', (size_t)(end - p)));
	     p++)
		n++;
	if (n < 64)
		return 0;
	ps->tmp.profiles = malloc(n * sizeof *ps->tmp.profiles);
	ps->spans = malloc(n * sizeof *ps->spans);
	if (!ps->tmp.profiles || !ps->spans ||
	    s_index_reserve(&ps->ix[L_PROFILES], NULL, 0, n))
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	ps->tmp.cap_profiles = ps->cap_spans = n;
	return 0;
}

/* Parses (ps->scan: checks) a whole file into ps->tmp. */
static int s_parse_text(s_parser *ps, const char *text, size_t len)
{
	int r = s_parse_lines(ps, text, len, true);
	if (r)
		return r;
	/* "[default]" counts only when the file has no "[profile default]". */
	if (ps->have_bare_default && !ps->saw_profile_default) {
		if (ps->tmp.nprofiles >= CP_CONFIG_MAX_SECTIONS)
			return s_too_many_sections(ps->file, ps->err);
		cp_section *s;
		char *nm = ps->bare_default.name;
		ps->bare_default.name = NULL;
		if (s_index_reserve(&ps->ix[L_PROFILES], ps->tmp.profiles, ps->tmp.nprofiles,
				    ps->tmp.nprofiles + 1)) {
			cp_free_secret(nm);
			return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
		}
		if ((r = s_list_add(&ps->tmp.profiles, &ps->tmp.nprofiles, &ps->tmp.cap_profiles, nm,
				    &s)))
			return cp_error_set(ps->err, r, "out of memory");
		s_index_put(&ps->ix[L_PROFILES], s->name, ps->tmp.nprofiles - 1);
		nm = s->name;
		*s = ps->bare_default; /* properties or spans transferred */
		s->name = nm;
		memset(&ps->bare_default, 0, sizeof ps->bare_default);
	}
	return 0;
}

static int s_ix_build(const s_parser *ps, const char *text, size_t len, char **ret,
		      size_t *ret_size);

/* The most property lines of a section of the file parsed by ps (each
 * line counts, as when scanning), and its sections. */
static void s_file_bounds(const s_parser *ps, size_t *ret_lines, size_t *ret_sections)
{
	size_t m = 0;
	for (int li = 0; li < L_COUNT; li++) {
		cp_section **arr;
		size_t *n, *cap;
		s_list_of((cp_config *)&ps->tmp, li, &arr, &n, &cap);
		for (size_t i = 0; i < *n; i++)
			if ((*arr)[i].lazy_lines + (*arr)[i].nprops > m)
				m = (*arr)[i].lazy_lines + (*arr)[i].nprops;
	}
	*ret_lines = m;
	*ret_sections = ps->tmp.nprofiles + ps->tmp.nsso + ps->tmp.nservices;
}

/* Parses one file and merges it into cfg. `owned`, if not NULL, is a heap
 * copy of the text (`size` bytes to wipe) that may be kept instead of a
 * copy (then *owned becomes NULL). With ix, a checked-config index of the
 * file is built into *ix (heap, ix_size bytes; NULL when the file was not
 * scanned: near the property limit, it is parsed whole). */
static int s_parse_file(cp_config *cfg, const char *text, size_t len, cp_file_kind kind,
			const char *file, char **owned, size_t size, char **ix, size_t *ix_size,
			cp_error *err)
{
	s_parser ps;
	int r;
	if (ix)
		*ix = NULL;
	if (len > CP_CONFIG_MAX_FILE)
		return cp_error_set(err, CP_ECONFIG, "'%s': larger than %d bytes", file,
				    CP_CONFIG_MAX_FILE);
	if (len && !text)
		return cp_error_set(err, CP_EINTERNAL, "no text to parse");

	/* Check the file and find its sections; the properties are parsed on
	 * lookup. Near the property limit, parse it whole instead. */
	struct cp_config_lazy *lz = s_lazy(cfg);
	if (!lz)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	uint32_t rank = lz->nranks++;
	s_parser_init(&ps, text, len, kind, file, err);
	ps.scan = !s_eager;
	if (ps.scan && (r = s_presize(&ps, text, len)))
		goto out;
	r = s_parse_text(&ps, text, len);
	if (ps.scan && lz->nixf &&
	    ((r && ps.overflow) || (!r && s_merge_may_overflow(cfg, &ps.tmp)))) {
		/* Merging whole would need the indexed files' sections:
		 * cp_config_load_indexed reads every file whole instead. */
		lz->merged_whole = true;
		r = 0;
		goto out;
	}
	if (ps.scan && ((r && ps.overflow) || (!r && s_merge_may_overflow(cfg, &ps.tmp)))) {
		s_parser_free(&ps);
		s_parser_init(&ps, text, len, kind, file, err);
		r = s_parse_text(&ps, text, len);
	}
	if (r)
		goto out;
	size_t lines, sections;
	s_file_bounds(&ps, &lines, &sections);
	lz->max_lines_sum += lines;
	lz->nsections_sum += sections;
	lz->merged_whole |= !ps.scan;
	if (ix && ps.scan && s_ix_build(&ps, text, len, ix, ix_size)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}

	if (!ps.scan) {
		for (int li = 0; li < L_COUNT && !r; li++) {
			cp_section **arr;
			size_t *n, *cap;
			s_list_of(&ps.tmp, li, &arr, &n, &cap);
			r = s_merge_list(cfg, li, *arr, *n, file, err);
		}
	} else if (ps.nspans) {
		size_t t;
		if (s_keep_text(cfg, text, len, owned, size, rank, &t)) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
		r = s_merge_scanned(cfg, &ps, t, file, err);
	}
	if (r)
		goto out;
	/* sso-session and services sections are few: parse them now, so that
	 * their lookups cannot fail. */
	for (size_t i = 0; i < cfg->nsso && !r; i++)
		r = s_materialize(cfg, &cfg->sso_sessions[i]);
	for (size_t i = 0; i < cfg->nservices && !r; i++)
		r = s_materialize(cfg, &cfg->services[i]);
	if (r)
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
out:
	s_parser_free(&ps);
	return r;
}

int cp_config_parse(cp_config *cfg, const char *text, size_t len, cp_file_kind kind,
		    const char *filename, cp_error *err)
{
	const char *file = filename ? filename : kind == CP_FILE_CONFIG ? "config" : "credentials";
	return s_parse_file(cfg, text, len, kind, file, NULL, 0, NULL, NULL, err);
}

/* ---- the checked-config index (cp_config_load_indexed) ------------------- */

/* The index of a file, written after the file was read and checked whole
 * (no error), so that a later run that finds the file unchanged (same
 * fstat identity) reads only the sections it looks up. Native byte order
 * and layout (a cache of this machine, never moved):
 *
 *   s_ix_header                      magic, version, kind, the file's identity,
 *                                    table sizes, a check of the header
 *   s_ix_rec[nslots[0]]              hash tables of the names (profiles,
 *   s_ix_rec[nslots[1]]              sso-sessions, services): open addressing,
 *   s_ix_rec[nslots[2]]              linear probing, all-zero = empty
 *   s_ix_span[nspans]                each name's spans, in file order
 *
 * No name is stored: a record holds a 64-bit hash of its name, and the
 * header line a span starts with, read with the body, is parsed and must
 * name the section looked up. Each record holds a check of itself and of
 * its spans. A lookup checks every record its probe passes (so that a
 * damaged record is seen, not skipped as another name's) and reads its
 * spans with pread() from the open file (never mapped: another process
 * truncating it would be a SIGBUS): each must start with a header line of
 * that name right after a line end, end right before a header line or at
 * the end of the file, and hold no header. Anything else, and any
 * offset or count out of bounds, means the index is not to be trusted:
 * the file is then read whole and checked as without an index. */
#define S_IX_MAGIC "CPCFGIX\n"
#define S_IX_VERSION 1u
#define S_IX_ENDIAN 0x01020304u
#define S_IX_MAX_SLOTS (1u << 20)
#define S_IX_SETTLE_SECONDS 3

typedef struct s_ix_header {
	char magic[8];
	uint32_t version, endian, kind, max_lines; /* most property lines of a section */
	uint64_t dev, ino, size, mtime_s, mtime_ns, ctime_s, ctime_ns, uid, mode;
	uint32_t nslots[L_COUNT];                  /* 0 or a power of two */
	uint32_t nnames[L_COUNT];                  /* < nslots */
	uint32_t nspans, reserved;
	uint64_t check;                            /* of the bytes before it */
} s_ix_header;

typedef struct s_ix_rec {
	uint64_t hash;          /* s_hash64_n of the name */
	uint32_t first, nspans; /* in the span array; nspans >= 1 */
	uint64_t check;         /* s_ix_rec_check, never 0 */
} s_ix_rec;

typedef struct s_ix_span {
	uint32_t hdr;    /* offset of the header line */
	uint32_t end;    /* end of its body: the next header line or the end of the file */
	uint32_t lineno; /* the header's line number */
} s_ix_span;

_Static_assert(offsetof(s_ix_header, check) == 128 && sizeof(s_ix_header) == 136,
	       "no padding in the index header");
_Static_assert(sizeof(s_ix_rec) == 24 && sizeof(s_ix_span) == 12, "no padding in the index");
_Static_assert(2 * (uint64_t)CP_CONFIG_MAX_SECTIONS <= S_IX_MAX_SLOTS, "a table holds a file's names");

struct s_ixfile {
	int fd;                 /* the file, open for pread() */
	cp_file_kind kind;
	uint32_t rank;          /* its place in the load order */
	struct stat st;         /* its identity, the index's */
	char *path;             /* for debug lines */
	void *map;              /* the index, mapped read-only */
	size_t map_size;
	const s_ix_header *h;
	const s_ix_rec *recs[L_COUNT];
	const s_ix_span *spans;
	struct s_parser *whole; /* the file read whole, after the index was found wrong */
	size_t whole_text;      /* ... and its kept text */
	bool failed;            /* changed while we ran: its sections cannot be read */
};

/* What reading from an index found. */
typedef enum s_ixr {
	S_IXR_OK,
	S_IXR_WRONG,   /* the index does not match the file: read the file whole */
	S_IXR_CHANGED, /* the file changed since it was checked */
	S_IXR_NOMEM,
} s_ixr;

static size_t s_ix_min = CP_CONFIG_INDEX_MIN;
static int s_ix_settle = S_IX_SETTLE_SECONDS;

void cp_config_index_tune(size_t min_bytes, int settle_seconds)
{
	s_ix_min = min_bytes;
	s_ix_settle = settle_seconds;
}

int cp_config_indexed(const cp_config *cfg)
{
	return cfg && cfg->lazy ? (int)cfg->lazy->nixf : 0;
}

static void s_ixfile_free(s_ixfile *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	if (f->map)
		munmap(f->map, f->map_size);
	if (f->whole) {
		s_parser_free(f->whole);
		free(f->whole);
	}
	free(f->path);
	free(f);
}

static void s_ix_identity(s_ix_header *h, const struct stat *st)
{
	h->dev = (uint64_t)st->st_dev;
	h->ino = (uint64_t)st->st_ino;
	h->size = (uint64_t)st->st_size;
	h->mtime_s = (uint64_t)st->st_mtim.tv_sec;
	h->mtime_ns = (uint64_t)st->st_mtim.tv_nsec;
	h->ctime_s = (uint64_t)st->st_ctim.tv_sec;
	h->ctime_ns = (uint64_t)st->st_ctim.tv_nsec;
	h->uid = (uint64_t)st->st_uid;
	h->mode = (uint64_t)st->st_mode;
}

static bool s_ix_same_identity(const s_ix_header *a, const s_ix_header *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_s == b->mtime_s && a->mtime_ns == b->mtime_ns && a->ctime_s == b->ctime_s &&
	       a->ctime_ns == b->ctime_ns && a->uid == b->uid && a->mode == b->mode;
}

static bool s_same_stat(const struct stat *a, const struct stat *b)
{
	s_ix_header x, y;
	s_ix_identity(&x, a);
	s_ix_identity(&y, b);
	return s_ix_same_identity(&x, &y);
}

static uint64_t s_ix_header_check(const s_ix_header *h)
{
	return s_hash64_n((const char *)h, offsetof(s_ix_header, check));
}

static uint64_t s_ix_rec_check(int li, const s_ix_rec *rec, const s_ix_span *spans)
{
	uint64_t w[4] = {(uint64_t)li, rec->hash, (uint64_t)rec->first << 32 | rec->nspans,
			 s_hash64_n((const char *)spans, rec->nspans * sizeof *spans)};
	uint64_t c = s_hash64_n((const char *)w, sizeof w);
	return c ? c : 1;
}

static bool s_ix_rec_empty(const s_ix_rec *rec)
{
	return !rec->hash && !rec->first && !rec->nspans && !rec->check;
}

/* A record whose spans are within the index and whose check holds. */
static bool s_ix_rec_ok(const s_ixfile *f, int li, const s_ix_rec *rec)
{
	return rec->nspans && rec->first <= f->h->nspans &&
	       rec->nspans <= f->h->nspans - rec->first &&
	       rec->check == s_ix_rec_check(li, rec, &f->spans[rec->first]);
}

/* The file name of the index of the file at `path`: "<16 hex>.idx". */
static void s_ix_name(const char *path, cp_file_kind kind, char ret[static 24])
{
	uint64_t h = s_hash64_n(path, strlen(path));
	if (kind != CP_FILE_CONFIG)
		h = s_hash64_n((const char *)&h, sizeof h);
	snprintf(ret, 24, "%016" PRIx64 ".idx", h);
}

/* The header line that a body (starting at off) follows. */
static size_t s_header_start(const char *text, size_t len, size_t off)
{
	size_t p = off;
	if (p && text[p - 1] == '\n')
		p--;
	const char *nl = p ? memrchr(text, '\n', p) : NULL;
	if (nl)
		return (size_t)(nl - text) + 1;
	return len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* Builds the index of a file scanned by ps (its identity and header check
 * are filled in by the caller). */
static int s_ix_build(const s_parser *ps, const char *text, size_t len, char **ret,
		      size_t *ret_size)
{
	cp_section *lists[L_COUNT] = {ps->tmp.profiles, ps->tmp.sso_sessions, ps->tmp.services};
	size_t counts[L_COUNT] = {ps->tmp.nprofiles, ps->tmp.nsso, ps->tmp.nservices};
	size_t nslots[L_COUNT], nspans = 0, size = sizeof(s_ix_header), lines, sections;
	for (int li = 0; li < L_COUNT; li++) {
		for (size_t i = 0; i < counts[li]; i++)
			for (size_t k = lists[li][i].lazy_first; k; k = ps->spans[k - 1].next)
				nspans++;
		nslots[li] = 0;
		if (counts[li]) {
			nslots[li] = 8;
			while (nslots[li] * 3 < (counts[li] + 1) * 4)
				nslots[li] *= 2;
		}
		size += nslots[li] * sizeof(s_ix_rec);
	}
	size += nspans * sizeof(s_ix_span);
	char *buf = calloc(1, size);
	if (!buf)
		return CP_EINTERNAL;
	s_ix_header *h = (s_ix_header *)buf;
	memcpy(h->magic, S_IX_MAGIC, sizeof h->magic);
	h->version = S_IX_VERSION;
	h->endian = S_IX_ENDIAN;
	h->kind = (uint32_t)ps->kind;
	s_file_bounds(ps, &lines, &sections);
	h->max_lines = (uint32_t)lines;
	h->nspans = (uint32_t)nspans;
	s_ix_rec *recs = (s_ix_rec *)(buf + sizeof *h);
	s_ix_span *spans = (s_ix_span *)(buf + size - nspans * sizeof(s_ix_span));
	uint32_t cur = 0;
	for (int li = 0; li < L_COUNT; li++) {
		h->nslots[li] = (uint32_t)nslots[li];
		h->nnames[li] = (uint32_t)counts[li];
		for (size_t i = 0; i < counts[li]; i++) {
			const cp_section *s = &lists[li][i];
			s_ix_rec rec = {.hash = s_hash64_n(s->name, strlen(s->name)), .first = cur};
			for (size_t k = s->lazy_first; k; k = ps->spans[k - 1].next) {
				const s_span *sp = &ps->spans[k - 1];
				spans[cur].hdr = (uint32_t)s_header_start(text, len, sp->off);
				spans[cur].end = sp->off + sp->len;
				spans[cur].lineno = sp->lineno;
				cur++;
			}
			rec.nspans = cur - rec.first;
			rec.check = s_ix_rec_check(li, &rec, &spans[rec.first]);
			size_t mask = nslots[li] - 1, j = rec.hash & mask;
			while (!s_ix_rec_empty(&recs[j]))
				j = (j + 1) & mask;
			recs[j] = rec;
		}
		recs += nslots[li];
	}
	*ret = buf;
	*ret_size = size;
	return 0;
}

/* Maps and checks the index of the file open as fd (identity st). 0 and
 * *ret (NULL: none to use, a debug line says why), or CP_EINTERNAL. */
static int s_ix_open(int dirfd, const char *path, cp_file_kind kind, int fd,
		     const struct stat *st, s_ixfile **ret)
{
	char name[24];
	struct stat ist;
	s_ix_header want;
	const char *why = NULL;
	void *map = NULL;
	*ret = NULL;
	s_ix_name(path, kind, name);
	int ifd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (ifd < 0) {
		cp_debug("config: no index of '%s' (%s): %s", path, name,
			 errno == ENOENT ? "none yet" : strerror(errno));
		return 0;
	}
	if (fstat(ifd, &ist) < 0)
		why = strerror(errno);
	else if (!S_ISREG(ist.st_mode) || ist.st_uid != geteuid() ||
		 (ist.st_mode & (S_IWGRP | S_IWOTH)))
		why = "not a regular file of ours, writable by us only";
	else if ((uint64_t)ist.st_size < sizeof(s_ix_header) ||
		 (uint64_t)ist.st_size > sizeof(s_ix_header) +
						 (uint64_t)L_COUNT * S_IX_MAX_SLOTS * sizeof(s_ix_rec) +
						 (uint64_t)CP_CONFIG_MAX_SECTIONS * sizeof(s_ix_span))
		why = "damaged (its size)";
	else if ((map = mmap(NULL, (size_t)ist.st_size, PROT_READ, MAP_PRIVATE, ifd, 0)) ==
		 MAP_FAILED) {
		map = NULL;
		why = strerror(errno);
	}
	close(ifd);
	if (why) {
		cp_debug("config: not using the index '%s' of '%s': %s", name, path, why);
		return 0;
	}
	size_t size = (size_t)ist.st_size;
	const s_ix_header *h = map;
	uint64_t total = sizeof *h, names = 0;
	s_ix_identity(&want, st);
	if (memcmp(h->magic, S_IX_MAGIC, sizeof h->magic) != 0 || h->version != S_IX_VERSION ||
	    h->endian != S_IX_ENDIAN || h->kind != (uint32_t)kind || h->check != s_ix_header_check(h))
		why = "damaged, or of another version";
	else if (!s_ix_same_identity(h, &want))
		why = "the file changed since";
	for (int li = 0; li < L_COUNT && !why; li++) {
		uint32_t ns = h->nslots[li];
		if (ns > S_IX_MAX_SLOTS || (ns & (ns - 1)) || (ns ? h->nnames[li] >= ns : h->nnames[li]))
			why = "damaged (a table)";
		total += (uint64_t)ns * sizeof(s_ix_rec);
		names += h->nnames[li];
	}
	if (!why && (h->nspans > CP_CONFIG_MAX_SECTIONS || names > h->nspans ||
		     total + (uint64_t)h->nspans * sizeof(s_ix_span) != size))
		why = "damaged (its size)";
	if (why) {
		cp_debug("config: not using the index '%s' of '%s': %s", name, path, why);
		munmap(map, size);
		return 0;
	}
	s_ixfile *f = calloc(1, sizeof *f);
	if (!f || !(f->path = cp_strdup(path))) {
		free(f);
		munmap(map, size);
		return CP_EINTERNAL;
	}
	f->fd = fd;
	f->kind = kind;
	f->st = *st;
	f->map = map;
	f->map_size = size;
	f->h = h;
	const char *p = (const char *)map + sizeof *h;
	for (int li = 0; li < L_COUNT; li++) {
		f->recs[li] = (const s_ix_rec *)p;
		p += (size_t)h->nslots[li] * sizeof(s_ix_rec);
	}
	f->spans = (const s_ix_span *)p;
	cp_debug("config: '%s' answered from its index '%s'", path, name);
	*ret = f;
	return 0;
}

/* The record of `name` in list li: S_IXR_OK and *ret (NULL: absent), or
 * S_IXR_WRONG when a record on the way is damaged. */
static s_ixr s_ix_probe(const s_ixfile *f, int li, const char *name, const s_ix_rec **ret)
{
	uint32_t ns = f->h->nslots[li];
	uint64_t hash = s_hash64_n(name, strlen(name));
	*ret = NULL;
	for (uint32_t i = 0; i < ns; i++) {
		const s_ix_rec *rec = &f->recs[li][(hash + i) & (ns - 1)];
		if (s_ix_rec_empty(rec))
			return S_IXR_OK;
		if (!s_ix_rec_ok(f, li, rec))
			return S_IXR_WRONG;
		if (rec->hash == hash) {
			*ret = rec;
			return S_IXR_OK;
		}
	}
	return S_IXR_OK;
}

/* Reads n bytes at off: 0, or -1 (an error, or the file is shorter). */
static int s_pread_all(int fd, char *buf, size_t n, off_t off)
{
	while (n) {
		ssize_t k = pread(fd, buf, n, off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		buf += k;
		n -= (size_t)k;
		off += k;
	}
	return 0;
}

static int s_list_code(int li)
{
	return li == L_PROFILES ? S_LIST_PROFILES : li == L_SSO ? S_LIST_SSO : S_LIST_SERVICES;
}

/* Reads span sp of a section of list li from the file, and checks that it
 * is one: right after a line end (or the byte order mark), a header line
 * for list li (its name in *name, *namen), a body with no header line,
 * ending right before a header line or at the end of the file, no NUL.
 * S_IXR_OK and the text read in *ret (heap, *ret_n bytes, to wipe) with the
 * body at *body_off, *body_len; S_IXR_WRONG if it is not; S_IXR_NOMEM. */
static s_ixr s_ix_read_span(const s_ixfile *f, int li, const s_ix_span *sp, char **ret,
			  size_t *ret_n, size_t *body_off, size_t *body_len, const char **name,
			  size_t *namen)
{
	uint64_t size = (uint64_t)f->st.st_size;
	if (sp->hdr >= sp->end || sp->end > size)
		return S_IXR_WRONG;
	size_t start = sp->hdr == 3 ? 0 : sp->hdr ? sp->hdr - 1 : 0, lead = sp->hdr - start;
	size_t n = sp->end - start + (sp->end < size ? 1 : 0);
	char *buf = malloc(n);
	if (!buf)
		return S_IXR_NOMEM;
	const char *line = buf + lead, *end = buf + (sp->end - start), *nl;
	size_t ln;
	int list;
	if (s_pread_all(f->fd, buf, n, (off_t)start) || memchr(buf, '\0', n) ||
	    (lead == 1 && buf[0] != '\n') ||
	    (lead == 3 && memcmp(buf, "\xEF\xBB\xBF", 3) != 0 && buf[2] != '\n'))
		goto bad;
	nl = memchr(line, '\n', (size_t)(end - line));
	if (!nl && sp->end != size)
		goto bad;
	ln = nl ? (size_t)(nl - line) : (size_t)(end - line);
	if (ln && line[ln - 1] == '\r')
		ln--;
	if (!ln || line[0] != '[')
		goto bad;
	list = s_header_parse(f->kind, line, ln, name, namen);
	if (list != s_list_code(li) && !(li == L_PROFILES && list == S_LIST_BARE_DEFAULT))
		goto bad;
	const char *body = nl ? nl + 1 : end;
	if (sp->end < size && !(end[-1] == '\n' && end[0] == '['))
		goto bad;
	if (body < end && (body[0] == '[' || memmem(body, (size_t)(end - body), "\n[", 2)))
		goto bad;
	*ret = buf;
	*ret_n = n;
	*body_off = (size_t)(body - buf);
	*body_len = (size_t)(end - body);
	return S_IXR_OK;
bad:
	cp_freezero(buf, n);
	return S_IXR_WRONG;
}

/* Appends span sp to cfg's spans, after *last (a chain *first..*last, +1). */
static int s_chain_push(struct cp_config_lazy *lz, const s_span *sp, size_t *first, size_t *last)
{
	size_t idx;
	if (s_span_push(&lz->spans, &lz->nspans, &lz->cap_spans, sp, &idx))
		return CP_EINTERNAL;
	if (*last)
		lz->spans[*last - 1].next = idx;
	else
		*first = idx;
	*last = idx;
	return 0;
}

/* Appends the spans of `name` (list li) in file f to cfg's spans, as a
 * chain *first..*last not linked to a section yet (0: none), from the
 * index or from the file read whole. */
static s_ixr s_ix_collect(cp_config *cfg, s_ixfile *f, int li, const char *name, size_t *first,
			size_t *last)
{
	struct cp_config_lazy *lz = cfg->lazy;
	*first = *last = 0;
	if (f->whole) {
		cp_section **arr;
		size_t *n, *cap;
		s_list_of(&f->whole->tmp, li, &arr, &n, &cap);
		const cp_section *s = s_index_find(&f->whole->ix[li], *arr, name);
		for (size_t k = s ? s->lazy_first : 0; k; k = f->whole->spans[k - 1].next) {
			s_span sp = f->whole->spans[k - 1];
			sp.text = (uint32_t)f->whole_text;
			if (s_chain_push(lz, &sp, first, last))
				return S_IXR_NOMEM;
		}
		return S_IXR_OK;
	}
	const s_ix_rec *rec;
	s_ixr r = s_ix_probe(f, li, name, &rec);
	if (r || !rec)
		return r;
	for (uint32_t k = 0; k < rec->nspans; k++) {
		const s_ix_span *isp = &f->spans[rec->first + k];
		char *buf;
		const char *nm;
		size_t n, off, len, nmn, t;
		if ((r = s_ix_read_span(f, li, isp, &buf, &n, &off, &len, &nm, &nmn)))
			return r;
		if (nmn != strlen(name) || memcmp(nm, name, nmn) != 0) {
			cp_freezero(buf, n);
			return S_IXR_WRONG; /* another name with the same hash, or a wrong span */
		}
		if (s_keep_text(cfg, buf, n, &buf, n, f->rank, &t)) {
			cp_freezero(buf, n);
			return S_IXR_NOMEM;
		}
		s_span sp = {.text = (uint32_t)t, .off = (uint32_t)off, .len = (uint32_t)len,
			     .lineno = isp->lineno};
		if (s_chain_push(lz, &sp, first, last))
			return S_IXR_NOMEM;
	}
	/* What was read is what was checked: the file has not changed since
	 * (its ctime changes before its data does). */
	struct stat st;
	if (fstat(f->fd, &st) < 0 || !s_same_stat(&st, &f->st))
		return S_IXR_CHANGED;
	return S_IXR_OK;
}

/* After the index of f was found wrong: reads f whole from its descriptor
 * and checks it, as without an index: S_IXR_OK, S_IXR_CHANGED (it
 * changed, or does not check), S_IXR_NOMEM. */
static s_ixr s_ix_read_whole(cp_config *cfg, s_ixfile *f)
{
	size_t size = (size_t)f->st.st_size, t;
	char *text = malloc(size + 1);
	s_parser *ps = calloc(1, sizeof *ps);
	cp_error err = {0};
	struct stat st;
	s_ixr r = S_IXR_NOMEM;
	int pr;
	if (!text || !ps)
		goto out;
	r = S_IXR_CHANGED;
	if (s_pread_all(f->fd, text, size, 0) || fstat(f->fd, &st) < 0 || !s_same_stat(&st, &f->st))
		goto out;
	s_parser_init(ps, text, size, f->kind, f->path, &err);
	ps->scan = true;
	if ((pr = s_presize(ps, text, size)) || (pr = s_parse_text(ps, text, size))) {
		r = pr == CP_EINTERNAL ? S_IXR_NOMEM : S_IXR_CHANGED;
		goto out;
	}
	r = S_IXR_NOMEM;
	if (s_keep_text(cfg, text, size, &text, size + 1, f->rank, &t))
		goto out;
	f->whole = ps;
	f->whole_text = t;
	ps = NULL;
	r = S_IXR_OK;
out:
	if (ps) {
		s_parser_free(ps);
		free(ps);
	}
	if (text)
		cp_freezero(text, size + 1);
	return r;
}

/* The spans of `name` in file f (see s_ix_collect), from the file read
 * whole when the index is wrong. 0, or CP_ECONFIG (the file changed while
 * we ran) or CP_EINTERNAL. */
static int s_pull_file(cp_config *cfg, s_ixfile *f, int li, const char *name, size_t *first,
		       size_t *last)
{
	if (f->failed)
		return CP_ECONFIG;
	s_ixr r = s_ix_collect(cfg, f, li, name, first, last);
	if (r == S_IXR_WRONG) {
		struct stat st;
		r = S_IXR_CHANGED;
		if (fstat(f->fd, &st) == 0 && s_same_stat(&st, &f->st)) {
			cp_debug("config: the index of '%s' does not match it: reading it whole",
				 f->path);
			if (!(r = s_ix_read_whole(cfg, f)))
				r = s_ix_collect(cfg, f, li, name, first, last);
		}
	}
	if (r == S_IXR_CHANGED) {
		cp_debug("config: '%s' changed while it was being read: its sections are "
			 "left out", f->path);
		f->failed = true;
		return CP_ECONFIG;
	}
	return r == S_IXR_OK ? 0 : CP_EINTERNAL;
}

/* Links the chain first..last (spans of a file of rank `rank`) into the
 * section's spans, before those of later files. */
static void s_chain_insert(struct cp_config_lazy *lz, cp_section *s, size_t first, size_t last,
			   uint32_t rank)
{
	size_t prev = 0, cur = s->lazy_first;
	while (cur && lz->texts[lz->spans[cur - 1].text].rank <= rank) {
		prev = cur;
		cur = lz->spans[cur - 1].next;
	}
	lz->spans[last - 1].next = cur;
	if (prev)
		lz->spans[prev - 1].next = first;
	else
		s->lazy_first = first;
	if (!cur)
		s->lazy_last = last;
}

/* The section `name` of list li with the spans of the indexed files
 * linked in, in file order (*ret NULL: absent everywhere). 0, or a status:
 * then the section cannot be given whole. */
static int s_find_pulled(const cp_config *ccfg, int li, const char *name, cp_section **ret)
{
	cp_config *cfg = (cp_config *)ccfg; /* a lookup fills the section in */
	struct cp_config_lazy *lz = cfg->lazy;
	cp_section *s = s_cfg_find(cfg, li, name);
	size_t first[2] = {0, 0}, last[2] = {0, 0};
	bool any = false;
	int r;
	*ret = s;
	if (!lz || !lz->nixf || (s && s->lazy_pulled))
		return 0;
	for (size_t i = 0; i < lz->nixf; i++) {
		if ((r = s_pull_file(cfg, lz->ixf[i], li, name, &first[i], &last[i])))
			return r;
		any = any || first[i];
	}
	if (!s && !any)
		return 0;
	if (!s) {
		if (s_nsections(cfg) >= CP_CONFIG_MAX_SECTIONS)
			return CP_ECONFIG; /* cp_config_load_indexed made sure it is not */
		char *nm = cp_strdup(name);
		if (!nm || s_cfg_add(cfg, li, nm, &s)) /* takes nm */
			return CP_EINTERNAL;
	} else if (any && s->nprops && !s->lazy_first) {
		return CP_EINTERNAL; /* parsed before its spans were linked: never happens */
	}
	for (size_t i = 0; i < lz->nixf; i++)
		if (first[i])
			s_chain_insert(lz, s, first[i], last[i], lz->ixf[i]->rank);
	s->lazy_pulled = true;
	*ret = s;
	return 0;
}

/* After loading with indexes: room for every section of the indexed files
 * in the lists (so that a lookup adding one moves none that an earlier
 * lookup returned), and the sso-session and services sections parsed now,
 * as without an index. S_IXR_OK; S_IXR_WRONG when an index cannot be
 * used; S_IXR_NOMEM. */
static s_ixr s_ix_finish(cp_config *cfg)
{
	struct cp_config_lazy *lz = cfg->lazy;
	for (int li = 0; li < L_COUNT; li++) {
		cp_section **arr;
		size_t *n, *cap, want;
		s_list_of(cfg, li, &arr, &n, &cap);
		want = *n;
		for (size_t i = 0; i < lz->nixf; i++)
			want += lz->ixf[i]->h->nnames[li];
		if (want > *cap) {
			cp_section *na = realloc(*arr, want * sizeof *na);
			if (!na)
				return S_IXR_NOMEM;
			*arr = na;
			*cap = want;
		}
	}
	for (size_t i = 0; i < lz->nixf; i++) {
		s_ixfile *f = lz->ixf[i];
		for (int li = L_SSO; li < L_COUNT; li++) {
			for (uint32_t j = 0; j < f->h->nslots[li]; j++) {
				const s_ix_rec *rec = &f->recs[li][j], *found;
				char *buf, *nm = NULL;
				const char *name;
				size_t n, off, len, namen;
				cp_section *s;
				s_ixr r;
				int pr;
				if (s_ix_rec_empty(rec))
					continue;
				/* Its name, from its first header. */
				if (!s_ix_rec_ok(f, li, rec))
					return S_IXR_WRONG;
				if ((r = s_ix_read_span(f, li, &f->spans[rec->first], &buf, &n, &off,
							&len, &name, &namen)))
					return r;
				nm = cp_strndup(name, namen);
				cp_freezero(buf, n);
				if (!nm)
					return S_IXR_NOMEM;
				r = s_ix_probe(f, li, nm, &found);
				if (!r && found != rec)
					r = S_IXR_WRONG;
				pr = r ? 0 : s_find_pulled(cfg, li, nm, &s);
				free(nm);
				if (r || pr)
					return r ? r : pr == CP_EINTERNAL ? S_IXR_NOMEM : S_IXR_WRONG;
				if (s && s_materialize(cfg, s))
					return S_IXR_NOMEM;
			}
		}
	}
	return S_IXR_OK;
}

/* ---- files -------------------------------------------------------------- */

/* Writes the index ix (built by s_parse_file) of the file at path, read
 * whole between the fstat()s st and st2, when the file did not change
 * meanwhile and its ctime is old enough that a change now could not give
 * it the same one (timestamps come from a clock that ticks every few
 * milliseconds, and some file systems keep whole seconds). */
static void s_ix_write(int dirfd, const char *path, cp_file_kind kind, const struct stat *st,
		       const struct stat *st2, char *ix, size_t size)
{
	struct timespec now;
	char name[24];
	s_ix_name(path, kind, name);
	if (!s_same_stat(st, st2)) {
		cp_debug("config: '%s' changed while it was read: no index", path);
		return;
	}
	if (clock_gettime(CLOCK_REALTIME, &now) < 0 ||
	    (int64_t)st->st_ctim.tv_sec > (int64_t)now.tv_sec - s_ix_settle) {
		cp_debug("config: '%s' changed less than %d s ago: no index yet", path, s_ix_settle);
		return;
	}
	s_ix_header *h = (s_ix_header *)ix;
	s_ix_identity(h, st);
	h->check = s_ix_header_check(h);
	/* Locked until renamed: the cache's prune removes a temp file nobody holds. */
	cp_atomic_write how = {.mode = 0600, .lock = true};
	cp_error werr = {0};
	if (cp_write_file_atomic(dirfd, name, ix, size, &how, &werr))
		cp_debug("config: cannot write the index '%s' of '%s': %s", name, path, werr.msg);
	else
		cp_debug("config: wrote the index '%s' of '%s'", name, path);
}

/* Loads one file: from its index when dirfd >= 0 and there is a valid one
 * (and then the descriptor is kept), else read whole and checked (and then,
 * with dirfd >= 0, indexed when it is large enough). */
static int s_load_one(cp_config *cfg, const char *path, cp_file_kind kind, int dirfd,
		      cp_error *err)
{
	char *data = NULL, *ix = NULL;
	size_t len = 0, ixsize = 0;
	struct stat st, st2;
	int fd, r, e;
	if (!path)
		return 0;
	fd = cp_open_regular(path, &st);
	e = fd < 0 ? errno : 0;
	if (!e && (uint64_t)st.st_size >= s_ix_min && st.st_size <= CP_CONFIG_MAX_FILE &&
	    dirfd >= 0 && !s_eager) {
		struct cp_config_lazy *lz = s_lazy(cfg);
		s_ixfile *f = NULL;
		if (!lz) {
			close(fd);
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		}
		/* Not after a file merged whole (its sections parsed already). */
		if (lz->nixf < 2 && !lz->merged_whole && s_ix_open(dirfd, path, kind, fd, &st, &f)) {
			close(fd);
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		}
		if (f) {
			f->rank = lz->nranks++;
			lz->ixf[lz->nixf++] = f; /* fd taken */
			lz->max_lines_sum += f->h->max_lines;
			for (int li = 0; li < L_COUNT; li++)
				lz->nsections_sum += f->h->nnames[li];
			return 0;
		}
	}
	if (!e && cp_read_fd(fd, (uint64_t)st.st_size > CP_CONFIG_MAX_FILE ? CP_CONFIG_MAX_FILE + 1
									: (size_t)st.st_size,
			     CP_CONFIG_MAX_FILE, &data, &len) < 0)
		e = errno;
	if (!e && fstat(fd, &st2) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	switch (e) {
	case 0:
		break;
	case ENOENT:
	case ENOTDIR:
		return 0; /* a missing file is an empty file */
	case EFBIG:
		return cp_error_set(err, CP_ECONFIG, "'%s': larger than %d bytes", path,
				    CP_CONFIG_MAX_FILE);
	case EISDIR:
	case EINVAL:
		return cp_error_set(err, CP_ECONFIG, "'%s': %s", path, cp_read_file_strerror(e));
	case ENOMEM:
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	default:
		return cp_error_set(err, CP_ECONFIG, "cannot read '%s': %s", path, strerror(e));
	}
	bool index = dirfd >= 0 && !s_eager && len >= s_ix_min;
	/* The text read is kept by cfg (no copy) when it has sections. */
	r = s_parse_file(cfg, data, len, kind, path, &data, len + 1, index ? &ix : NULL, &ixsize,
			 err);
	cp_freezero(data, len + 1);
	if (!r && ix)
		s_ix_write(dirfd, path, kind, &st, &st2, ix, ixsize);
	free(ix);
	return r;
}

int cp_config_load(cp_config *cfg, const char *config_path, const char *credentials_path,
		   cp_error *err)
{
	return cp_config_load_indexed(cfg, config_path, credentials_path, -1, err);
}

int cp_config_load_indexed(cp_config *cfg, const char *config_path,
			   const char *credentials_path, int index_dirfd, cp_error *err)
{
	int r = s_load_one(cfg, config_path, CP_FILE_CONFIG, index_dirfd, err);
	if (!r)
		r = s_load_one(cfg, credentials_path, CP_FILE_CREDENTIALS, index_dirfd, err);
	struct cp_config_lazy *lz = cfg->lazy;
	if (!lz || !lz->nixf)
		return r;
	/* With an index, whenever an error or a limit could depend on the
	 * sections of an indexed file, the files are read whole, so that the
	 * outcome is the one without an index. */
	if (!r && !lz->merged_whole && lz->max_lines_sum < CP_CONFIG_MAX_PROPS &&
	    lz->nsections_sum <= CP_CONFIG_MAX_SECTIONS) {
		s_ixr x = s_ix_finish(cfg);
		if (x == S_IXR_OK)
			return 0;
		if (x == S_IXR_NOMEM)
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
	} else if (r == CP_EINTERNAL) {
		return r;
	}
	cp_debug("config: reading the files whole instead of from their index");
	cp_config_free(cfg);
	cp_config_init(cfg);
	cp_error_clear(err);
	return cp_config_load_indexed(cfg, config_path, credentials_path, -1, err);
}

/* Expands a leading "~" or "~/" (not "~user"). */
static int s_expand(const char *path, const char *var, char **ret, cp_error *err)
{
	if (path[0] != '~' || (path[1] != '\0' && path[1] != '/')) {
		if (!(*ret = cp_strdup(path)))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		return 0;
	}
	cp_error e = {0};
	const char *rest = path + 1;
	while (*rest == '/')
		rest++;
	int r = cp_home_dir(rest, ret, &e);
	if (r == CP_EINTERNAL)
		return cp_error_set(err, r, "out of memory");
	if (r)
		return cp_error_set(err, CP_ECONFIG, "cannot expand '~' in %s: %s", var, e.msg);
	return 0;
}

int cp_config_paths(char **ret_config, char **ret_credentials, cp_error *err)
{
	const char *c = getenv("AWS_CONFIG_FILE");
	const char *k = getenv("AWS_SHARED_CREDENTIALS_FILE");
	char *cp = NULL, *kp = NULL;
	int r;
	if ((r = s_expand(c && *c ? c : "~/.aws/config",
			  c && *c ? "AWS_CONFIG_FILE" : "the default config path", &cp, err)))
		return r;
	if ((r = s_expand(k && *k ? k : "~/.aws/credentials",
			  k && *k ? "AWS_SHARED_CREDENTIALS_FILE" : "the default credentials path",
			  &kp, err))) {
		free(cp);
		return r;
	}
	*ret_config = cp;
	*ret_credentials = kp;
	return 0;
}
