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
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

enum {
	S_LIST_NONE = 0,     /* ignored section: parsed, then dropped */
	S_LIST_PROFILES,
	S_LIST_SSO,
	S_LIST_SERVICES,
	S_LIST_BARE_DEFAULT, /* "[default]" in the config file */
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

static void s_trim_ws(const char **p, size_t *n)
{
	while (*n && s_is_ws(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && s_is_ws((*p)[*n - 1]))
		(*n)--;
}

static void s_trim_space(const char **p, size_t *n)
{
	while (*n && s_is_space(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && s_is_space((*p)[*n - 1]))
		(*n)--;
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
 * thousands of profiles parse and merge in linear time. */
typedef struct s_index {
	size_t *slots;  /* position + 1; 0 = empty */
	size_t nslots;  /* a power of two, at least twice the entries */
} s_index;

static uint64_t s_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void s_index_free(s_index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->nslots = 0;
}

static cp_section *s_index_find(const s_index *ix, cp_section *arr, const char *name)
{
	if (!ix->nslots)
		return NULL;
	size_t mask = ix->nslots - 1;
	for (size_t i = (size_t)s_hash(name) & mask;; i = (i + 1) & mask) {
		size_t v = ix->slots[i];
		if (!v)
			return NULL;
		if (strcmp(arr[v - 1].name, name) == 0)
			return &arr[v - 1];
	}
}

static void s_index_put(s_index *ix, const char *name, size_t pos)
{
	size_t mask = ix->nslots - 1;
	size_t i = (size_t)s_hash(name) & mask;
	while (ix->slots[i])
		i = (i + 1) & mask;
	ix->slots[i] = pos + 1;
}

/* Makes room for `want` entries; arr[0..n) are the entries so far. */
static int s_index_reserve(s_index *ix, const cp_section *arr, size_t n, size_t want)
{
	if (want <= ix->nslots / 2)
		return 0;
	size_t ns = 64;
	while (ns / 2 < want)
		ns *= 2;
	size_t *slots = calloc(ns, sizeof *slots);
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
}

const cp_section *cp_config_profile(const cp_config *cfg, const char *name)
{
	return cfg && name ? s_list_find(cfg->profiles, cfg->nprofiles, name) : NULL;
}

const cp_section *cp_config_sso_session(const cp_config *cfg, const char *name)
{
	return cfg && name ? s_list_find(cfg->sso_sessions, cfg->nsso, name) : NULL;
}

const cp_section *cp_config_services(const cp_config *cfg, const char *name)
{
	return cfg && name ? s_list_find(cfg->services, cfg->nservices, name) : NULL;
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

int cp_config_set(cp_config *cfg, const char *profile, const char *key, const char *value)
{
	if (!cfg || !profile || !key || !value)
		return CP_EINTERNAL;
	cp_section *s = s_list_find(cfg->profiles, cfg->nprofiles, profile);
	if (!s) {
		if (s_nsections(cfg) >= CP_CONFIG_MAX_SECTIONS)
			return CP_ECONFIG;
		char *pname = cp_strdup(profile);
		if (!pname)
			return CP_EINTERNAL;
		int r = s_list_add(&cfg->profiles, &cfg->nprofiles, &cfg->cap_profiles, pname, &s);
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

static int s_header(s_parser *ps, const char *line, size_t n)
{
	int r;
	if ((r = s_flush(ps)))
		return r;
	if (++ps->nheaders > CP_CONFIG_MAX_SECTIONS)
		return cp_error_set(ps->err, CP_ECONFIG, "'%s' line %zu: more than %d sections",
				    ps->file, ps->lineno, CP_CONFIG_MAX_SECTIONS);
	s_prepare_line(&line, &n, false);
	if (n < 2 || line[n - 1] != ']')
		return s_perr(ps, "section header must end with ']'");
	ps->in_section = true;
	ps->have_prop = ps->is_subprop = false;
	ps->cur_list = S_LIST_NONE;

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
	if (!s_is_ident(name, namen))
		return 0;

	int list = S_LIST_NONE;
	bool is_default = namen == 7 && memcmp(name, "default", 7) == 0;
	if (ps->kind == CP_FILE_CONFIG) {
		if (!prefix)
			list = is_default ? S_LIST_BARE_DEFAULT : S_LIST_NONE;
		else if (prefixn == 7 && memcmp(prefix, "profile", 7) == 0)
			list = S_LIST_PROFILES;
		else if (prefixn == 11 && memcmp(prefix, "sso-session", 11) == 0)
			list = S_LIST_SSO;
		else if (prefixn == 8 && memcmp(prefix, "services", 8) == 0)
			list = S_LIST_SERVICES;
	} else if (!prefix) {
		list = S_LIST_PROFILES;
	}
	if (list == S_LIST_NONE)
		return 0;
	if (list == S_LIST_BARE_DEFAULT) {
		if (!ps->have_bare_default) {
			if (!(ps->bare_default.name = cp_strdup("default")))
				return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
			ps->have_bare_default = true;
		}
		ps->cur_list = list;
		return 0;
	}
	if (list == S_LIST_PROFILES && is_default && ps->kind == CP_FILE_CONFIG)
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
	char *nm = cp_strndup(name, namen);
	if (!nm)
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	cp_section *s = s_index_find(ix, *arr, nm);
	if (s) {
		cp_free_secret(nm);
	} else if (s_index_reserve(ix, *arr, *cnt, *cnt + 1)) {
		cp_free_secret(nm);
		return cp_error_set(ps->err, CP_EINTERNAL, "out of memory");
	} else if ((r = s_list_add(arr, cnt, cap, nm, &s))) {
		return cp_error_set(ps->err, r, "out of memory");
	} else {
		s_index_put(ix, s->name, *cnt - 1);
	}
	ps->cur_list = list;
	ps->cur_idx = (size_t)(s - *arr);
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

static int s_parse_lines(s_parser *ps, const char *text, size_t len)
{
	size_t pos = 0;
	int r;
	/* A UTF-8 byte order mark, as some Windows editors write. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		ps->lineno++;
		if (n > CP_CONFIG_MAX_LINE)
			return cp_error_set(ps->err, CP_ECONFIG,
					    "'%s' line %zu: line longer than %d bytes", ps->file,
					    ps->lineno, CP_CONFIG_MAX_LINE);
		if (memchr(line, '\0', n))
			return s_perr(ps, "NUL byte in the file (is it UTF-16?)");
		if (n && line[n - 1] == '\r')
			n--;

		const char *t = line;
		size_t tn = n;
		s_trim_ws(&t, &tn);
		if (tn == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[')
			r = s_header(ps, line, n);
		else if (s_is_ws(line[0]))
			r = s_continuation(ps, line, n);
		else
			r = s_property(ps, line, n);
		if (r)
			return r;
	}
	return s_flush(ps);
}

/* ---- merging ------------------------------------------------------------ */

/* Moves every section of src into dst (merging per name, src wins per
 * key). src is left empty. */
static int s_merge_list(cp_config *cfg, cp_section **dst, size_t *dn, size_t *dcap,
			cp_section *src, size_t sn, const char *file, cp_error *err)
{
	s_index ix = {0};
	int r = 0;
	if (sn == 0)
		return 0;
	if (s_index_reserve(&ix, *dst, *dn, *dn + sn)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < sn; i++) {
		cp_section *from = &src[i];
		cp_section *to = s_index_find(&ix, *dst, from->name);
		if (!to) {
			if (s_nsections(cfg) >= CP_CONFIG_MAX_SECTIONS) {
				r = cp_error_set(err, CP_ECONFIG, "'%s': more than %d sections", file,
						 CP_CONFIG_MAX_SECTIONS);
				goto out;
			}
			if (*dn == *dcap) {
				size_t ncap = *dcap ? *dcap * 2 : 8;
				cp_section *na = realloc(*dst, ncap * sizeof *na);
				if (!na) {
					r = cp_error_set(err, CP_EINTERNAL, "out of memory");
					goto out;
				}
				*dst = na;
				*dcap = ncap;
			}
			(*dst)[*dn] = *from; /* transferred */
			memset(from, 0, sizeof *from);
			s_index_put(&ix, (*dst)[*dn].name, *dn);
			(*dn)++;
			continue;
		}
		for (size_t j = 0; j < from->nprops; j++) {
			cp_prop *pr = &from->props[j];
			char *name = pr->name, *value = pr->value;
			pr->name = pr->value = NULL; /* transferred */
			r = s_section_put(to, name, value);
			if (r == CP_ECONFIG) {
				r = cp_error_set(err, CP_ECONFIG,
						 "'%s': section '%s' has more than %d properties",
						 file, to->name, CP_CONFIG_MAX_PROPS);
				goto out;
			}
			if (r) {
				r = cp_error_set(err, r, "out of memory");
				goto out;
			}
		}
	}
out:
	s_index_free(&ix);
	return r;
}

int cp_config_parse(cp_config *cfg, const char *text, size_t len, cp_file_kind kind,
		    const char *filename, cp_error *err)
{
	s_parser ps;
	int r;
	memset(&ps, 0, sizeof ps);
	ps.kind = kind;
	ps.err = err;
	ps.file = filename ? filename : kind == CP_FILE_CONFIG ? "config" : "credentials";
	if (len > CP_CONFIG_MAX_FILE) {
		r = cp_error_set(err, CP_ECONFIG, "'%s': larger than %d bytes", ps.file,
				 CP_CONFIG_MAX_FILE);
		goto out;
	}
	if (len && !text) {
		r = cp_error_set(err, CP_EINTERNAL, "no text to parse");
		goto out;
	}
	if ((r = s_parse_lines(&ps, text, len)))
		goto out;

	/* "[default]" counts only when the file has no "[profile default]". */
	if (ps.have_bare_default && !ps.saw_profile_default) {
		if (ps.tmp.nprofiles >= CP_CONFIG_MAX_SECTIONS) {
			r = cp_error_set(err, CP_ECONFIG, "'%s': more than %d sections", ps.file,
					 CP_CONFIG_MAX_SECTIONS);
			goto out;
		}
		cp_section *s;
		char *nm = ps.bare_default.name;
		ps.bare_default.name = NULL;
		if ((r = s_list_add(&ps.tmp.profiles, &ps.tmp.nprofiles, &ps.tmp.cap_profiles, nm,
				    &s))) {
			r = cp_error_set(err, r, "out of memory");
			goto out;
		}
		s->props = ps.bare_default.props; /* transferred */
		s->nprops = ps.bare_default.nprops;
		s->cap = ps.bare_default.cap;
		memset(&ps.bare_default, 0, sizeof ps.bare_default);
	}

	if ((r = s_merge_list(cfg, &cfg->profiles, &cfg->nprofiles, &cfg->cap_profiles,
			      ps.tmp.profiles, ps.tmp.nprofiles, ps.file, err)) ||
	    (r = s_merge_list(cfg, &cfg->sso_sessions, &cfg->nsso, &cfg->cap_sso,
			      ps.tmp.sso_sessions, ps.tmp.nsso, ps.file, err)) ||
	    (r = s_merge_list(cfg, &cfg->services, &cfg->nservices, &cfg->cap_services,
			      ps.tmp.services, ps.tmp.nservices, ps.file, err)))
		goto out;
	r = 0;
out:
	cp_free_secret(ps.pend_key);
	cp_buf_free(&ps.pend_val);
	s_section_free(&ps.bare_default);
	cp_config_free(&ps.tmp);
	for (size_t i = 0; i < 3; i++)
		s_index_free(&ps.ix[i]);
	return r;
}

/* ---- files -------------------------------------------------------------- */

static int s_load_one(cp_config *cfg, const char *path, cp_file_kind kind, cp_error *err)
{
	char *data = NULL;
	size_t len = 0;
	if (!path)
		return 0;
	int e = cp_read_file(path, CP_CONFIG_MAX_FILE, &data, &len) < 0 ? errno : 0;
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
	int r = cp_config_parse(cfg, data, len, kind, path, err);
	cp_freezero(data, len + 1);
	return r;
}

int cp_config_load(cp_config *cfg, const char *config_path, const char *credentials_path,
		   cp_error *err)
{
	int r = s_load_one(cfg, config_path, CP_FILE_CONFIG, err);
	if (r)
		return r;
	return s_load_one(cfg, credentials_path, CP_FILE_CREDENTIALS, err);
}

/* The home directory: $HOME, else the passwd entry. Heap string or NULL. */
static char *s_home(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return cp_strdup(h);
	struct passwd pw, *res = NULL;
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t bufsz = sz > 0 && sz < 1024 * 1024 ? (size_t)sz : 16384;
	char *buf = malloc(bufsz);
	char *out = NULL;
	if (!buf)
		return NULL;
	if (getpwuid_r(getuid(), &pw, buf, bufsz, &res) == 0 && res && res->pw_dir &&
	    *res->pw_dir)
		out = cp_strdup(res->pw_dir);
	free(buf);
	return out;
}

/* Expands a leading "~" or "~/" (not "~user"). */
static int s_expand(const char *path, const char *var, char **ret, cp_error *err)
{
	if (path[0] != '~' || (path[1] != '\0' && path[1] != '/')) {
		if (!(*ret = cp_strdup(path)))
			return cp_error_set(err, CP_EINTERNAL, "out of memory");
		return 0;
	}
	char *home = s_home();
	if (!home)
		return cp_error_set(err, CP_ECONFIG,
				    "cannot expand '~' in %s: HOME is not set and the user has no "
				    "home directory", var);
	size_t hn = strlen(home);
	while (hn > 0 && home[hn - 1] == '/')
		hn--;
	const char *rest = path + 1;
	char *out = (hn == 0 && *rest == '\0') ? cp_strdup("/")
					      : cp_asprintf("%.*s%s", (int)hn, home, rest);
	free(home);
	if (!out)
		return cp_error_set(err, CP_EINTERNAL, "out of memory");
	*ret = out;
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
