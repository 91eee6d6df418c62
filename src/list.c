/* list.c - `aws-credproc list`: every profile of the shared files, one line
 * each, sorted by name: where its credentials come from, the role it
 * assumes, and the time its cached credentials have left. Resolution and
 * the cache key are those of every other command (cp_run_prepare_loaded);
 * the files are read once; nothing here reaches the network, and no
 * secret is written. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "credproc.h"
#include "run.h"

enum { S_NEVER, S_NONE, S_VALID, S_RENEW, S_EXPIRED };

typedef struct s_row {
	const char *name;
	char *source;       /* NULL: the row is an error */
	char *role;         /* NULL: none */
	char *error;
	int state;          /* S_* */
	int64_t expiration; /* of the cached entry (S_VALID, S_RENEW, S_EXPIRED) */
	int64_t left;       /* seconds, at the time of the listing */
} s_row;

/* What the list calls each base: short words that fit its column. */
static const char *s_label(const cp_source *s)
{
	return s->ops->label ? s->ops->label : s->ops->kind;
}

/* "role via NAME" (the profile whose credentials assume the last role) or
 * "role via KIND" (the base is the profile's own); else the base. */
static char *s_source_text(const cp_run *x, const char *profile)
{
	const cp_chain *c = &x->chain;
	if (!c->nsteps)
		return cp_strdup(s_label(c->base));
	const char *via = c->nsteps >= 2 ? c->steps[c->nsteps - 2].profile : c->base->profile;
	if (!via || strcmp(via, profile) == 0)
		return cp_asprintf("role via %s", s_label(c->base));
	return cp_asprintf("role via %s", via);
}

static const char *s_role(const cp_run *x)
{
	const cp_chain *c = &x->chain;
	if (c->nsteps)
		return c->steps[c->nsteps - 1].role_arn;
	const cp_web_identity_source *w = cp_source_as_web_identity(c->base);
	if (w && w->role_arn)
		return w->role_arn;
	const cp_ra_source *ra = cp_source_as_rolesanywhere(c->base);
	if (ra && ra->v[CP_RA_ROLE_ARN])
		return ra->v[CP_RA_ROLE_ARN];
	return NULL;
}

/* "43 min", "2 h 5 min", "40 s". */
static void s_left(cp_buf *b, int64_t left)
{
	if (left < 60)
		cp_buf_printf(b, "%lld s", (long long)left);
	else if (left < 2 * 3600)
		cp_buf_printf(b, "%lld min", (long long)(left / 60));
	else
		cp_buf_printf(b, "%lld h %lld min", (long long)(left / 3600), (long long)(left % 3600 / 60));
}

/* The state of the profile's cache entry: never cached, none, valid (to
 * reuse), renew (inside the refresh margin: the next call renews them) or
 * expired. */
static void s_cache_state(s_row *row, const cp_run *x, cp_cache *cache)
{
	cp_cache_entry e = {0};
	cp_error err = {0};
	row->state = S_NEVER;
	if (!x->cached || x->req->no_cache)
		return;
	row->state = S_NONE;
	if (!cache->usable || cp_cache_read(cache, x->key.data, &e, &err) != 0)
		return;
	int64_t now = cp_run_now(x);
	row->expiration = e.creds.expiration;
	row->left = e.creds.expiration - now;
	row->state = row->left <= 0 ? S_EXPIRED : cp_run_reusable(x, &e, now) ? S_VALID : S_RENEW;
	cp_creds_clear(&e.creds);
}

/* "-" (never cached), "none", "expired", "43 min left", with " (renew)"
 * when the next call renews them (inside the refresh margin). Short: the
 * ROLE column after it keeps a line of a usual ARN within 80 columns. */
static void s_cache_text(cp_buf *b, const s_row *row)
{
	switch (row->state) {
	case S_NEVER:
		cp_buf_puts(b, "-");
		break;
	case S_NONE:
		cp_buf_puts(b, "none");
		break;
	case S_EXPIRED:
		cp_buf_puts(b, "expired");
		break;
	default:
		s_left(b, row->left);
		cp_buf_puts(b, row->state == S_RENEW ? " left (renew)" : " left");
	}
}

static int s_cmp(const void *a, const void *b)
{
	return strcmp(((const s_row *)a)->name, ((const s_row *)b)->name);
}

static int s_row_fill(s_row *row, cp_config *cfg, const cp_request *req, const cp_effects *fx,
		      cp_cache *cache, const char *cfg_path, const char *cred_path)
{
	cp_request one = *req;
	cp_run x = {0};
	cp_error e = {0};
	one.profile = row->name;
	x.cfg = *cfg;
	x.cfg_path = (char *)cfg_path;
	x.cred_path = (char *)cred_path;
	int r = cp_run_prepare_loaded(&x, &one, fx, &e);
	if (r == CP_EINTERNAL) {
		row->error = NULL;
	} else if (r) {
		row->error = cp_strdup(e.msg);
	} else {
		const char *role = s_role(&x);
		row->source = s_source_text(&x, row->name);
		row->role = role ? cp_strdup(role) : NULL;
		s_cache_state(row, &x, cache);
		if (role && !row->role)
			row->source = (free(row->source), NULL);
	}
	*cfg = x.cfg; /* lookups may have parsed sections: the caller owns it */
	cp_config_init(&x.cfg);
	x.cfg_path = x.cred_path = NULL;
	cp_run_release(&x);
	if (r == CP_EINTERNAL || (r && !row->error) || (!r && !row->source))
		return CP_EINTERNAL;
	return 0;
}

/* The table: columns as wide as their widest cell. */
static void s_table(cp_buf *b, const s_row *rows, size_t n)
{
	size_t w_name = 7, w_source = 6, w_cache = 5;
	cp_buf cell = {0};
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(rows[i].name);
		w_name = l > w_name ? l : w_name;
		if (rows[i].error)
			continue;
		l = strlen(rows[i].source);
		w_source = l > w_source ? l : w_source;
		cp_buf_free(&cell);
		s_cache_text(&cell, &rows[i]);
		w_cache = cell.len > w_cache ? cell.len : w_cache;
	}
	/* A very long name widens its own line only. */
	if (w_name > 24)
		w_name = 24;
	if (n)
		cp_buf_printf(b, "%-*s  %-*s  %-*s  %s\n", (int)w_name, "PROFILE", (int)w_source, "SOURCE",
			      (int)w_cache, "CACHE", "ROLE");
	for (size_t i = 0; i < n; i++) {
		if (rows[i].error) {
			cp_buf_printf(b, "%-*s  error: %s\n", (int)w_name, rows[i].name, rows[i].error);
			continue;
		}
		cp_buf_free(&cell);
		s_cache_text(&cell, &rows[i]);
		cp_buf_printf(b, "%-*s  %-*s  %-*s  %s\n", (int)w_name, rows[i].name, (int)w_source,
			      rows[i].source, (int)w_cache, cell.data ? cell.data : "",
			      rows[i].role ? rows[i].role : "-");
		if (cell.failed)
			b->failed = true;
	}
	cp_buf_free(&cell);
}

/* --json: an array of objects, one a profile, in the table's order. */
static int s_json(cp_buf *b, const s_row *rows, size_t n)
{
	static const char *const states[] = {"never", "none", "valid", "renew", "expired"};
	cJSON *a = cJSON_CreateArray();
	bool bad = !a;
	for (size_t i = 0; i < n && !bad; i++) {
		const s_row *w = &rows[i];
		cJSON *o = cJSON_CreateObject();
		bad = !o || !cJSON_AddItemToArray(a, o) || !cJSON_AddStringToObject(o, "Profile", w->name);
		if (bad)
			break;
		if (w->error) {
			bad = !cJSON_AddStringToObject(o, "Error", w->error);
			continue;
		}
		bad = !cJSON_AddStringToObject(o, "Source", w->source) ||
		      !(w->role ? cJSON_AddStringToObject(o, "Role", w->role) : cJSON_AddNullToObject(o, "Role")) ||
		      !cJSON_AddStringToObject(o, "Cache", states[w->state]);
		if (!bad && w->state >= S_VALID) {
			char t[21];
			cp_format_iso8601(w->expiration, t);
			bad = !cJSON_AddStringToObject(o, "Expiration", t) ||
			      !cJSON_AddNumberToObject(o, "SecondsLeft", (double)(w->left > 0 ? w->left : 0));
		}
	}
	char *text = bad ? NULL : cJSON_Print(a);
	cJSON_Delete(a);
	if (!text)
		return CP_EINTERNAL;
	int r = cp_buf_puts(b, text) || cp_buf_putc(b, '\n');
	cJSON_free(text);
	return r ? CP_EINTERNAL : 0;
}

int cp_list(const cp_request *req, const cp_effects *fx, bool json, cp_buf *b, cp_error *err)
{
	cp_config cfg;
	cp_cache cache = {.dirfd = -1};
	char *cfg_path = NULL, *cred_path = NULL;
	s_row *rows = NULL;
	size_t n = 0;
	int r;

	cp_config_init(&cfg);
	if ((r = cp_config_paths(&cfg_path, &cred_path, err)))
		goto out;
	/* Whole files: an index would hold only the sections looked up. */
	if ((r = cp_config_load(&cfg, cfg_path, cred_path, err)))
		goto out;
	/* The cache as it is: never created, no warning when absent. */
	if (!req->no_cache && (cache.dirfd = cp_cache_index_dir(req->cache_dir)) >= 0)
		cache.usable = true;
	if (cfg.nprofiles && !(rows = calloc(cfg.nprofiles, sizeof *rows))) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg.nprofiles; i++)
		rows[n++].name = cfg.profiles[i].name;
	if (n) /* qsort's array may not be NULL, even for no element */
		qsort(rows, n, sizeof *rows, s_cmp);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (kept && strcmp(rows[kept - 1].name, rows[i].name) == 0)
			continue; /* one section per name; never twice */
		rows[kept++] = rows[i];
	}
	n = kept;
	for (size_t i = 0; i < n; i++) {
		if ((r = s_row_fill(&rows[i], &cfg, req, fx, &cache, cfg_path, cred_path))) {
			r = cp_error_set(err, CP_EINTERNAL, "out of memory");
			goto out;
		}
	}
	if (json ? s_json(b, rows, n) : (s_table(b, rows, n), 0)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	r = cp_buf_status(b) ? cp_error_set(err, CP_EINTERNAL, "out of memory") : 0;
	if (!r && b->data) /* endpoints in messages are named without their userinfo */
		b->len = cp_strip_userinfo(b->data, b->len + 1, b->data);
out:
	for (size_t i = 0; i < n; i++) {
		free(rows[i].source);
		free(rows[i].role);
		free(rows[i].error);
	}
	free(rows);
	cp_cache_close(&cache);
	cp_config_free(&cfg);
	free(cfg_path);
	free(cred_path);
	return r;
}
