/* test-config.c - the shared config parser: the cross-SDK profile-parser
 * suite, the file-location suite (linux cases), own unit cases, the Go v1
 * ini corpus (an expected outcome per file), and the fuzz corpus and random
 * inputs (every result checked against the parser's invariants). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

#define SECRET "SECRETvalue1234"

/* ---- helpers ------------------------------------------------------------ */

static bool s_has(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/* Does `sec` hold exactly the properties of the JSON object `exp`? */
static bool s_section_matches(const cp_section *sec, const cJSON *exp, const char *what)
{
	size_t n = (size_t)cJSON_GetArraySize(exp);
	if (!sec) {
		tap_diag("%s: missing", what);
		return false;
	}
	bool ok = true;
	if (sec->nprops != n) {
		tap_diag("%s: %zu properties, expected %zu", what, sec->nprops, n);
		ok = false;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, exp) {
		const cp_prop *found = NULL;
		for (size_t i = 0; i < sec->nprops; i++)
			if (strcmp(sec->props[i].name, e->string) == 0)
				found = &sec->props[i];
		if (!found) {
			tap_diag("%s: no property '%s'", what, e->string);
			ok = false;
		} else if (!cJSON_IsString(e) || strcmp(found->value, e->valuestring) != 0) {
			tap_diag("%s: '%s' is '%s', expected '%s'", what, e->string, found->value,
				 cJSON_IsString(e) ? e->valuestring : "?");
			ok = false;
		}
	}
	return ok;
}

typedef const cp_section *(*s_lookup_fn)(const cp_config *, const char *);

static bool s_list_matches(const cp_config *cfg, size_t count, s_lookup_fn lookup,
			   const cJSON *exp, const char *what)
{
	bool ok = true;
	size_t n = (size_t)cJSON_GetArraySize(exp);
	if (count != n) {
		tap_diag("%s: %zu sections, expected %zu", what, count, n);
		ok = false;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, exp) {
		char label[256];
		snprintf(label, sizeof label, "%s '%s'", what, e->string);
		if (!s_section_matches(lookup(cfg, e->string), e, label))
			ok = false;
	}
	return ok;
}

static int s_parse_str(cp_config *cfg, const char *text, cp_file_kind kind, cp_error *err)
{
	return cp_config_parse(cfg, text, strlen(text), kind,
			       kind == CP_FILE_CONFIG ? "~/.aws/config" : "~/.aws/credentials", err);
}

/* Parses a config text and expects CP_ECONFIG naming the file (and a line,
 * when `line` is set) and never quoting SECRET. */
static void s_expect_error(const char *text, size_t len, cp_file_kind kind, const char *line,
			   const char *needle, const char *name)
{
	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	int rc = cp_config_parse(&cfg, text, len, kind, "~/.aws/config", &err);
	bool ok = rc == CP_ECONFIG && err.status == CP_ECONFIG &&
		  strncmp(err.msg, "'~/.aws/config'", 15) == 0 && (!line || s_has(err.msg, line)) &&
		  (!needle || s_has(err.msg, needle)) && !s_has(err.msg, SECRET) &&
		  !strchr(err.msg, '\n') && cfg.nprofiles == 0;
	tap_ok(ok, "%s -> CP_ECONFIG: %s", name, err.msg);
	cp_config_free(&cfg);
}

/* ---- the cross-SDK parser suite ----------------------------------------- */

static void s_parser_suite(void)
{
	cJSON *root = tap_load_conformance_json("profile-parsing/smithy-rs/profile-parser-tests.json");
	const cJSON *tests = cJSON_GetObjectItemCaseSensitive(root, "tests");
	const cJSON *t;
	int n = 0;
	cJSON_ArrayForEach(t, tests) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
		const cJSON *in = cJSON_GetObjectItemCaseSensitive(t, "input");
		const cJSON *out = cJSON_GetObjectItemCaseSensitive(t, "output");
		const char *conf = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "configFile"));
		const char *cred =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "credentialsFile"));
		cp_config cfg;
		cp_error err = {0};
		int rc = 0;
		cp_config_init(&cfg);
		if (conf)
			rc = s_parse_str(&cfg, conf, CP_FILE_CONFIG, &err);
		if (!rc && cred)
			rc = s_parse_str(&cfg, cred, CP_FILE_CREDENTIALS, &err);
		n++;

		const cJSON *errc = cJSON_GetObjectItemCaseSensitive(out, "errorContaining");
		if (errc) {
			/* Failure only: the wording is smithy-rs's. Ours names file and line. */
			bool ok = rc == CP_ECONFIG && err.status == CP_ECONFIG &&
				  s_has(err.msg, "' line ");
			if (!ok)
				tap_diag("rc=%d msg='%s' (smithy-rs: '%s')", rc, err.msg,
					 cJSON_GetStringValue(errc));
			tap_ok(ok, "parser suite: %s [error]", name);
		} else {
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(out, "config");
			const cJSON *profiles = cJSON_GetObjectItemCaseSensitive(c, "profiles");
			const cJSON *sso = cJSON_GetObjectItemCaseSensitive(c, "sso_sessions");
			bool ok = rc == 0;
			if (rc)
				tap_diag("unexpected failure: %s", err.msg);
			if (ok && !s_list_matches(&cfg, cfg.nprofiles, cp_config_profile, profiles,
						  "profile"))
				ok = false;
			if (ok && sso && !s_list_matches(&cfg, cfg.nsso, cp_config_sso_session, sso,
							 "sso-session"))
				ok = false;
			tap_ok(ok, "parser suite: %s", name);
		}
		cp_config_free(&cfg);
	}
	if (n != 65)
		tap_diag("the parser suite has %d cases (65 expected)", n);
	cJSON_Delete(root);
}

/* ---- file locations ------------------------------------------------------ */

static const char *const s_loc_vars[] = {
	"HOME", "USERPROFILE", "HOMEDRIVE", "HOMEPATH",
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE",
};

static void s_location_suite(void)
{
	cJSON *root = tap_load_conformance_json("profile-parsing/smithy-rs/file-location-tests.json");
	const cJSON *t;
	char *saved_home = cp_strdup(getenv("HOME"));
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root, "tests")) {
		const char *platform =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "platform"));
		if (!platform || strcmp(platform, "linux") != 0)
			continue;
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "name"));
		for (size_t i = 0; i < sizeof s_loc_vars / sizeof *s_loc_vars; i++)
			unsetenv(s_loc_vars[i]);
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(t, "environment"))
			setenv(e->string, e->valuestring, 1);
		/* AWS_PROFILE is never used by this tool: only the paths are checked. */
		const char *want_c =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "configLocation"));
		const char *want_k =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "credentialsLocation"));
		char *c = NULL, *k = NULL;
		cp_error err = {0};
		int rc = cp_config_paths(&c, &k, &err);
		bool ok = rc == 0 && c && k && strcmp(c, want_c) == 0 && strcmp(k, want_k) == 0;
		if (!ok)
			tap_diag("rc=%d got '%s' '%s' %s", rc, c ? c : "", k ? k : "", err.msg);
		tap_ok(ok, "file location: %s", name);
		free(c);
		free(k);
	}
	for (size_t i = 0; i < sizeof s_loc_vars / sizeof *s_loc_vars; i++)
		unsetenv(s_loc_vars[i]);
	if (saved_home)
		setenv("HOME", saved_home, 1);
	free(saved_home);
	cJSON_Delete(root);
}

/* ---- own cases ------------------------------------------------------------ */

static void s_limits(void)
{
	/* An oversized text. */
	size_t big = CP_CONFIG_MAX_FILE + 1;
	char *text = malloc(big + 1);
	memset(text, '\n', big);
	text[big] = '\0';
	memcpy(text, "[default]\nk = " SECRET "\n", sizeof "[default]\nk = " SECRET "\n" - 1);
	s_expect_error(text, big, CP_FILE_CONFIG, NULL, "larger than", "file over the size limit");

	/* A line over the line limit (holding a secret). */
	size_t ll = 11 + CP_CONFIG_MAX_LINE + 10;
	memset(text, 'a', ll);
	memcpy(text, "[default]\nk=" SECRET, 12 + sizeof SECRET - 1);
	text[ll] = '\0';
	s_expect_error(text, ll, CP_FILE_CONFIG, "line 2", "longer than", "line over the length limit");
	/* Exactly at the limit is fine. */
	{
		cp_config cfg;
		cp_error err = {0};
		cp_config_init(&cfg);
		memset(text, 'a', 10 + CP_CONFIG_MAX_LINE);
		memcpy(text, "[default]\nk=", 12);
		int rc = cp_config_parse(&cfg, text, 10 + CP_CONFIG_MAX_LINE, CP_FILE_CONFIG, "c", &err);
		const char *v = cp_section_get(cp_config_profile(&cfg, "default"), "k");
		tap_ok(rc == 0 && v && strlen(v) == CP_CONFIG_MAX_LINE - 2,
		       "line of exactly CP_CONFIG_MAX_LINE bytes is accepted");
		cp_config_free(&cfg);
	}
	free(text);

	/* Sections: the limit is accepted, one more is an error. */
	cp_buf b = {0};
	for (int i = 0; i < CP_CONFIG_MAX_SECTIONS; i++)
		cp_buf_printf(&b, "[profile p%d]\nk = v\n", i);
	{
		cp_config cfg;
		cp_error err = {0};
		cp_config_init(&cfg);
		int rc = cp_config_parse(&cfg, b.data, b.len, CP_FILE_CONFIG, "c", &err);
		tap_ok(rc == 0 && cfg.nprofiles == CP_CONFIG_MAX_SECTIONS, "%d sections accepted",
		       CP_CONFIG_MAX_SECTIONS);
		/* A second file adding more distinct sections goes over the total. */
		rc = cp_config_parse(&cfg, "[extra]\n", 8, CP_FILE_CREDENTIALS, "k", &err);
		tap_ok(rc == CP_ECONFIG && s_has(err.msg, "sections"),
		       "sections over the total of two files -> CP_ECONFIG: %s", err.msg);
		cp_config_free(&cfg);
	}
	cp_buf_puts(&b, "[profile one-more]\n");
	char at[32];
	snprintf(at, sizeof at, "line %d", 2 * CP_CONFIG_MAX_SECTIONS + 1);
	s_expect_error(b.data, b.len, CP_FILE_CONFIG, at, "sections", "too many sections");
	cp_buf_free(&b);
	/* Repeated headers of one section count too. */
	for (int i = 0; i < CP_CONFIG_MAX_SECTIONS + 1; i++)
		cp_buf_puts(&b, "[default]\n");
	snprintf(at, sizeof at, "line %d", CP_CONFIG_MAX_SECTIONS + 1);
	s_expect_error(b.data, b.len, CP_FILE_CONFIG, at, "sections",
		       "too many section headers");
	cp_buf_free(&b);

	/* Properties per section. */
	cp_buf_puts(&b, "[default]\n");
	for (int i = 0; i < CP_CONFIG_MAX_PROPS; i++)
		cp_buf_printf(&b, "k%d = " SECRET "\n", i);
	{
		cp_config cfg;
		cp_error err = {0};
		cp_config_init(&cfg);
		int rc = cp_config_parse(&cfg, b.data, b.len, CP_FILE_CONFIG, "c", &err);
		tap_ok(rc == 0 && cfg.nprofiles == 1 && cfg.profiles[0].nprops == CP_CONFIG_MAX_PROPS,
		       "%d properties accepted", CP_CONFIG_MAX_PROPS);
		rc = s_parse_str(&cfg, "[default]\nextra = " SECRET "\n", CP_FILE_CREDENTIALS, &err);
		tap_ok(rc == CP_ECONFIG && s_has(err.msg, "properties") && !s_has(err.msg, SECRET),
		       "properties over the limit across files -> CP_ECONFIG: %s", err.msg);
		cp_config_free(&cfg);
	}
	cp_buf_puts(&b, "one_more = " SECRET "\n");
	s_expect_error(b.data, b.len, CP_FILE_CONFIG, "line 1002", "properties",
		       "too many properties");
	cp_buf_free(&b);
}

static void s_messages(void)
{
	static const struct {
		const char *text;
		const char *line;
		const char *name;
	} cases[] = {
		{"[default]\naws_secret_access_key " SECRET, "line 2", "missing '='"},
		{"# c\naws_secret_access_key = " SECRET, "line 2", "property before any section"},
		{"[default]\ns3 =\n " SECRET, "line 3", "sub-property without '='"},
		{"[default]\ns3 =\n = " SECRET, "line 3", "sub-property without a name"},
		{"[default]\n " SECRET, "line 2", "continuation without a property"},
		{"[default]\nk = v\n[default]\n -" SECRET, "line 4", "continuation after a header"},
		{"\n\n " SECRET, "line 3", "continuation before any section"},
		{"[default]\n= " SECRET, "line 2", "property without a name"},
		{"[" SECRET "\nk = v", "line 1", "header without ']'"},
		{"[default]\r\nk = v\r\n[profile " SECRET, "line 3", "header without ']' (CRLF)"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		s_expect_error(cases[i].text, strlen(cases[i].text), CP_FILE_CONFIG, cases[i].line,
			       NULL, cases[i].name);
	static const char nul[] = "[default]\nk = " SECRET "\0tail\n";
	s_expect_error(nul, sizeof nul - 1, CP_FILE_CONFIG, "line 2", "NUL", "NUL byte");
	/* A syntax error in a later file leaves the earlier result untouched. */
	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	int rc = s_parse_str(&cfg, "[profile a]\nk = 1\n", CP_FILE_CONFIG, &err);
	rc = rc ? rc : s_parse_str(&cfg, "[a]\nk = 2\n[b]\nbroken\n", CP_FILE_CREDENTIALS, &err);
	tap_ok(rc == CP_ECONFIG && cfg.nprofiles == 1 &&
	       strcmp(cp_section_get(cp_config_profile(&cfg, "a"), "k"), "1") == 0 &&
	       s_has(err.msg, "'~/.aws/credentials' line 4"),
	       "syntax error leaves the config unchanged: %s", err.msg);
	cp_config_free(&cfg);
}

static void s_lookups(void)
{
	char *v = NULL;
	const char *val = "\nendpoint_url = http://x\nfoo = bar";
	int rc = cp_subprop_get(val, "endpoint_url", &v);
	tap_ok(rc == 0 && v && strcmp(v, "http://x") == 0, "cp_subprop_get endpoint_url");
	free(v);
	v = NULL;
	rc = cp_subprop_get(val, "foo", &v);
	tap_ok(rc == 0 && v && strcmp(v, "bar") == 0, "cp_subprop_get foo");
	free(v);
	v = (char *)"x";
	rc = cp_subprop_get(val, "missing", &v);
	tap_ok(rc == 0 && v == NULL, "cp_subprop_get absent -> NULL");
	rc = cp_subprop_get(val, "endpoint", &v);
	tap_ok(rc == 0 && v == NULL, "cp_subprop_get needs the whole name");
	rc = cp_subprop_get("\nEndpoint_URL=a\n junk\nendpoint_url = b # c\n", "ENDPOINT_URL", &v);
	tap_ok(rc == 0 && v && strcmp(v, "b") == 0,
	       "cp_subprop_get: case-insensitive, last wins, comment cut");
	free(v);
	rc = cp_subprop_get(NULL, "x", &v);
	tap_ok(rc == 0 && v == NULL, "cp_subprop_get on NULL");

	/* Property names: stored lowercased, looked up case-insensitively. */
	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	rc = s_parse_str(&cfg, "\xEF\xBB\xBF[default]\r\nAWS_Access_Key_ID = AKID\r\n"
			       "[profile Dev]\nregion = eu-west-1\n"
			       "[services local]\nsts =\n  endpoint_url = http://127.0.0.1:1\n"
			       "[sso-session s]\nsso_region = us-east-1\n",
			 CP_FILE_CONFIG, &err);
	const cp_section *d = cp_config_profile(&cfg, "default");
	tap_ok(rc == 0 && d && d->nprops == 1 && strcmp(d->props[0].name, "aws_access_key_id") == 0 &&
	       strcmp(cp_section_get(d, "aws_access_key_id"), "AKID") == 0 &&
	       strcmp(cp_section_get(d, "AWS_ACCESS_KEY_ID"), "AKID") == 0,
	       "property names lowercased, lookups case-insensitive (BOM, CRLF)");
	tap_ok(cp_config_profile(&cfg, "Dev") && !cp_config_profile(&cfg, "dev"),
	       "profile names are case-sensitive");
	const cp_section *svc = cp_config_services(&cfg, "local");
	rc = cp_subprop_get(cp_section_get(svc, "sts"), "endpoint_url", &v);
	tap_ok(rc == 0 && cfg.nservices == 1 && v && strcmp(v, "http://127.0.0.1:1") == 0 &&
	       !cp_config_profile(&cfg, "local"),
	       "[services x] kept in cfg->services with sub-properties");
	free(v);
	tap_ok(cfg.nsso == 1 &&
	       strcmp(cp_section_get(cp_config_sso_session(&cfg, "s"), "sso_region"), "us-east-1") == 0,
	       "[sso-session x] kept in cfg->sso_sessions");

	/* cp_config_set */
	rc = cp_config_set(&cfg, "new", "Role_Arn", "arn:1");
	rc = rc ? rc : cp_config_set(&cfg, "new", "role_arn", "arn:2");
	rc = rc ? rc : cp_config_set(&cfg, "default", "region", "us-east-2");
	const cp_section *p = cp_config_profile(&cfg, "new");
	tap_ok(rc == 0 && p && p->nprops == 1 && strcmp(cp_section_get(p, "ROLE_ARN"), "arn:2") == 0 &&
	       strcmp(cp_section_get(cp_config_profile(&cfg, "default"), "region"), "us-east-2") == 0,
	       "cp_config_set adds, replaces and creates profiles");
	tap_ok(cp_section_get(NULL, "x") == NULL && cp_section_get(p, "absent") == NULL &&
	       cp_config_profile(&cfg, "absent") == NULL,
	       "lookups of absent names return NULL");
	cp_config_free(&cfg);
	cp_config_free(&cfg); /* idempotent */
}

static char *s_write_tmp(const char *dir, const char *name, const char *text)
{
	char *path = cp_asprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void s_load(void)
{
	char dir[] = "/tmp/test-config.XXXXXX";
	if (!mkdtemp(dir)) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	char *conf = s_write_tmp(dir, "config",
				 "[default]\nregion = us-east-1\n[profile a]\nk = from-config\nx = 1\n");
	char *cred = s_write_tmp(dir, "credentials", "[a]\nk = from-credentials\n");
	char *missing = cp_asprintf("%s/nope", dir);
	char *under_file = cp_asprintf("%s/config/nope", dir);

	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	int rc = cp_config_load(&cfg, missing, under_file, &err);
	tap_ok(rc == 0 && cfg.nprofiles == 0, "missing files -> empty config");
	rc = cp_config_load(&cfg, NULL, NULL, &err);
	tap_ok(rc == 0 && cfg.nprofiles == 0, "NULL paths -> empty config");
	rc = cp_config_load(&cfg, dir, NULL, &err);
	tap_ok(rc == CP_ECONFIG && s_has(err.msg, dir), "a directory as the path -> error: %s",
	       err.msg);
	cp_config_free(&cfg);

	cp_config_init(&cfg);
	rc = cp_config_load(&cfg, conf, cred, &err);
	const cp_section *a = cp_config_profile(&cfg, "a");
	tap_ok(rc == 0 && cfg.nprofiles == 2 && a &&
	       strcmp(cp_section_get(a, "k"), "from-credentials") == 0 &&
	       strcmp(cp_section_get(a, "x"), "1") == 0,
	       "cp_config_load merges, the credentials file wins per key");
	cp_config_free(&cfg);

	/* The error names the file path given. */
	char *bad = s_write_tmp(dir, "bad", "[default]\nregion us-east-1\n");
	cp_config_init(&cfg);
	rc = cp_config_load(&cfg, bad, NULL, &err);
	char *want = cp_asprintf("'%s' line 2: ", bad);
	tap_ok(rc == CP_ECONFIG && strncmp(err.msg, want, strlen(want)) == 0,
	       "load error names the path and line: %s", err.msg);
	cp_config_free(&cfg);
	free(want);

	unlink(bad);
	unlink(conf);
	unlink(cred);
	rmdir(dir);
	free(bad);
	free(conf);
	free(cred);
	free(missing);
	free(under_file);
}

/* smithy-rs profile_static_keys_case_insensitive: upper-case key names in
 * the credentials file are the usual lower-case keys. */
static void s_case_insensitive_chain_case(const char *cdir)
{
	const char *base = "credential-chains/smithy-rs/default-credential-provider-chain/"
			   "profile_static_keys_case_insensitive";
	char *conf = cp_asprintf("%s/%s/fs/home/.aws/config", cdir, base);
	char *cred = cp_asprintf("%s/%s/fs/home/.aws/credentials", cdir, base);
	char *tc = cp_asprintf("%s/%s/test-case.json", cdir, base);
	char *json = tap_slurp(tc, NULL);
	cJSON *j = json ? cJSON_Parse(json) : NULL;
	const cJSON *okj = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "result"), "Ok");
	const char *want_id =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(okj, "access_key_id"));
	const char *want_secret =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(okj, "secret_access_key"));
	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	int rc = cp_config_load(&cfg, conf, cred, &err);
	const cp_section *d = cp_config_profile(&cfg, "default");
	const char *id = cp_section_get(d, "aws_access_key_id");
	const char *sec = cp_section_get(d, "aws_secret_access_key");
	tap_ok(rc == 0 && want_id && want_secret && id && sec && strcmp(id, want_id) == 0 &&
	       strcmp(sec, want_secret) == 0 &&
	       strcmp(cp_section_get(d, "region"), "us-east-1") == 0,
	       "credential chain: profile_static_keys_case_insensitive");
	cp_config_free(&cfg);
	cJSON_Delete(j);
	free(json);
	free(conf);
	free(cred);
	free(tc);
}

static void s_paths(void)
{
	char *saved_home = cp_strdup(getenv("HOME"));
	char *c = NULL, *k = NULL;
	cp_error err = {0};
	int rc;

	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("HOME");
	struct passwd *pw = getpwuid(getuid());
	char *want = !pw ? NULL
		     : strcmp(pw->pw_dir, "/") == 0 ? cp_strdup("/.aws/config")
						    : cp_asprintf("%s/.aws/config", pw->pw_dir);
	rc = cp_config_paths(&c, &k, &err);
	tap_ok(rc == 0 && want && strcmp(c, want) == 0, "paths: HOME unset -> passwd home (%s)",
	       c ? c : err.msg);
	free(c);
	free(k);
	free(want);

	setenv("HOME", "/home/u/", 1);
	setenv("AWS_CONFIG_FILE", "~/cfg", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~other/creds", 1);
	rc = cp_config_paths(&c, &k, &err);
	tap_ok(rc == 0 && strcmp(c, "/home/u/cfg") == 0 && strcmp(k, "~other/creds") == 0,
	       "paths: '~/' expanded in the variables, '~user' left alone");
	free(c);
	free(k);

	setenv("HOME", "/", 1);
	setenv("AWS_CONFIG_FILE", "~", 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "", 1);
	rc = cp_config_paths(&c, &k, &err);
	tap_ok(rc == 0 && strcmp(c, "/") == 0 && strcmp(k, "/.aws/credentials") == 0,
	       "paths: HOME=/ and an empty variable means the default");
	free(c);
	free(k);

	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	if (saved_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	free(saved_home);
}

/* ---- robustness ------------------------------------------------------------ */

/* Does a parse result keep the parser's promises? On failure: the status is
 * CP_ECONFIG, in err too, with a one-line message naming the file, and the
 * (empty) config is left empty. On success: every section and property
 * name is a valid name ([A-Za-z0-9_\-/.%@:+]+), property names are
 * lowercase, each name is found by its lookup (so none is repeated), and
 * values are trimmed. Names the first broken promise in `why`. */
static bool s_name_ok(const char *name, bool lower)
{
	if (!name || !*name)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (!lower && *c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("_-/.%@:+", *c)))
			return false;
	return true;
}

static bool s_list_ok(const cp_config *cfg, const cp_section *list, size_t n, s_lookup_fn lookup,
		      const char **why)
{
	for (size_t i = 0; i < n; i++) {
		const cp_section *sec = &list[i];
		if (!s_name_ok(sec->name, false))
			return *why = "a section name outside [A-Za-z0-9_-/.%@:+]", false;
		if (lookup(cfg, sec->name) != sec)
			return *why = "a section name not found by its lookup (repeated?)", false;
		for (size_t j = 0; j < sec->nprops; j++) {
			const cp_prop *pr = &sec->props[j];
			size_t vn = pr->value ? strlen(pr->value) : 0;
			if (!s_name_ok(pr->name, true))
				return *why = "a property name not lowercase [a-z0-9_-/.%@:+]", false;
			if (cp_section_get(sec, pr->name) != pr->value)
				return *why = "a property not found by its lookup (repeated?)", false;
			if (!pr->value || (vn && strchr(" \t", pr->value[0])) ||
			    (vn && strchr(" \t", pr->value[vn - 1])))
				return *why = "a value not trimmed", false;
			char *v = NULL;
			if (cp_subprop_get(pr->value, "x", &v) != 0)
				return *why = "cp_subprop_get failed", false;
			free(v);
		}
	}
	return true;
}

static bool s_parse_both_ways(const char *text, size_t len)
{
	bool ok = true;
	for (int kind = 0; kind < 2 && ok; kind++) {
		cp_config cfg;
		cp_error err = {0};
		const char *why = NULL;
		cp_config_init(&cfg);
		int rc = cp_config_parse(&cfg, text, len, kind ? CP_FILE_CREDENTIALS : CP_FILE_CONFIG,
					 "f", &err);
		if (rc != 0 && rc != CP_ECONFIG)
			why = "a status other than 0 or CP_ECONFIG";
		else if (rc && (err.status != rc || strncmp(err.msg, "'f' ", 4) != 0 ||
				strchr(err.msg, '\n')))
			why = "a failure without a one-line message naming the file";
		else if (rc && (cfg.nprofiles || cfg.nsso || cfg.nservices))
			why = "a failure that left sections in the config";
		else if (!rc)
			(void)(s_list_ok(&cfg, cfg.profiles, cfg.nprofiles, cp_config_profile, &why) &&
			       s_list_ok(&cfg, cfg.sso_sessions, cfg.nsso, cp_config_sso_session, &why) &&
			       s_list_ok(&cfg, cfg.services, cfg.nservices, cp_config_services, &why));
		if (why) {
			tap_diag("parsed as %s: %s (rc=%d %s)", kind ? "credentials" : "config", why, rc,
				 err.msg);
			ok = false;
		}
		cp_config_free(&cfg);
	}
	return ok;
}

/* Runs every file of a corpus of inputs (no expected outcomes) through the
 * parser as both kinds of file, checking s_parse_both_ways's promises. */
static void s_corpus_dir(const char *cdir, const char *rel)
{
	char *path = cp_asprintf("%s/%s", cdir, rel);
	DIR *d = opendir(path);
	int files = 0, bad = 0;
	if (!d) {
		tap_ok(0, "corpus %s: cannot open: %s", rel, strerror(errno));
		free(path);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		char *fp = cp_asprintf("%s/%s", path, de->d_name);
		struct stat st;
		if (stat(fp, &st) == 0 && S_ISREG(st.st_mode)) {
			size_t len = 0;
			char *text = tap_slurp(fp, &len);
			if (!text || !s_parse_both_ways(text, len)) {
				tap_diag("corpus file %s", de->d_name);
				bad++;
			}
			files++;
			free(text);
		}
		free(fp);
	}
	closedir(d);
	tap_ok(files > 0 && bad == 0, "corpus %s: %d files parsed as config and credentials, "
	       "%d broke a promise of the parser", rel, files, bad);
	free(path);
}

/* ---- the aws-sdk-go-v1 ini corpus ---------------------------------------------
 *
 * Go v1's internal/ini test data: valid/NAME with its NAME_expected JSON
 * (section header verbatim -> properties), and invalid/NAME that must fail.
 * A file not in the table below is checked against Go v1: a valid one is
 * parsed as a credentials file (whose "[name]" headers are profile names,
 * as Go v1 reads every header) and must give exactly NAME_expected; an
 * invalid one must fail with CP_ECONFIG.
 *
 * The table names every file where Go v1's generic ini semantics differ
 * from the shared-config semantics this parser follows on purpose (the
 * SDKs' shared-config semantics, config.h: the smithy-rs profile-parser
 * suite, and botocore 1.43 where Go v1 and botocore disagree, except where
 * the smithy-rs suite says otherwise), with the reason, and gives our own
 * expected outcome, which is checked instead: every file is checked. A file
 * in the corpus that is in neither place, or a table row without a file,
 * is a failure. */

typedef struct s_go_case {
	const char *file;      /* "valid/NAME" or "invalid/NAME" */
	cp_file_kind kind;     /* parsed as */
	const char *profiles;  /* our expected profiles as JSON; NULL: CP_ECONFIG */
	const char *err_line;  /* with profiles == NULL: the line the error names */
	const char *reason;
} s_go_case;

#define S_VALID3 "{\"aws_access_key_id\":\"valid\",\"aws_secret_access_key\":\"valid\"," \
		 "\"aws_session_token\":\"valid\"}"

static const s_go_case s_go_cases[] = {
	{"valid/arn_profile", CP_FILE_CREDENTIALS,
	 "{\"arn:aws:sts::1234:assumed-role/My-Role/session-name\":{\"region\":\"\\\"foo-region\\\"\","
	 "\"arn\":\"arn:aws:sts::1234:assumed-role/My-Role/session-name\"}}",
	 NULL, "Go v1 strips the double quotes around a value; botocore keeps them"},
	{"valid/array_profile", CP_FILE_CREDENTIALS,
	 "{\"foo\":{\"bar\":\"\\\"one\\\",\\\"two\\\", \\\"three\\\"\",\"baz\":\"123\","
	 "\"qux\":\"\\nmoo = 123,456\\ncow = 1\\nmilk = 123,456\",\"zed\":\"\\\"zee\\\"\"}}",
	 NULL, "Go v1 drops a list value and an indented block and strips quotes; the SDKs keep "
	 "the list as written and the indented lines as sub-properties of qux (smithy-rs "
	 "'Properties can have sub-properties', botocore a nested map)"},
	{"valid/commented_profile", CP_FILE_CREDENTIALS,
	 "{\"default\":{\"region\":\"\\\"foo-region\\\"\",\"output\":\"json\",\"bar\":\"123\"}}",
	 NULL, "quotes kept (Go v1 strips them, botocore keeps them); a comment after whitespace "
	 "is cut as in Go v1 and smithy-rs ('Pound sign comments are ignored', botocore keeps it)"},
	{"valid/escaped_profile", CP_FILE_CREDENTIALS,
	 "{\"default\":{\"foo\":\"\\\"\\\\\\\"bar\\\\\\\"\\\"\",\"baz\":\"\\\"qux\\\\n\\\"\"}}",
	 NULL, "Go v1 unquotes and reads backslash escapes; botocore keeps the value as written "
	 "(the smithy-rs suite defines no escapes)"},
	{"valid/global_values_profile", CP_FILE_CREDENTIALS, NULL, "line 1",
	 "a property before any section header: Go v1 ignores it, botocore "
	 "(MissingSectionHeaderError) and smithy-rs ('Properties must be defined in a profile') "
	 "refuse the file"},
	{"valid/issue_2800", CP_FILE_CREDENTIALS,
	 "{\"foo\":{\"aws_access_key_id\":\"\",\"aws_secret_access_key\":\"\","
	 "\"aws_session_token\":\"\"},\"bar\":" S_VALID3 ",\"baz\":" S_VALID3 "}",
	 NULL, "Go v1 drops empty values; botocore and smithy-rs ('Property values can be empty') "
	 "keep them as empty strings"},
	{"valid/nested_fields", CP_FILE_CREDENTIALS,
	 "{\"foo\":{\"aws_access_key_id\":\"\\naws_secret_access_key = valid\","
	 "\"aws_session_token\":\"valid\"},\"bar\":" S_VALID3 ",\"baz\":" S_VALID3 "}",
	 NULL, "the indented line after 'aws_access_key_id =' is its sub-property (smithy-rs; "
	 "botocore a nested map); Go v1 drops the block"},
	{"valid/op_sep_in_values", CP_FILE_CREDENTIALS, NULL, "line 18",
	 "'key : value5' has no '=' (smithy-rs 'Property definitions must contain an equals "
	 "sign'); Go v1 takes ':' as an assignment; botocore refuses the file too (case6's "
	 "'[nested6]' sub-property has no '=')"},
	{"valid/profile_name", CP_FILE_CONFIG, "{\"foo\":{\"bar\":\"baz\"}}", NULL,
	 "'[ profile foo ]' in a config file is profile foo, the header trimmed (smithy-rs "
	 "'profile name with extra whitespace'); Go v1 keeps the section 'profile foo', botocore "
	 "does not trim and finds no profile"},
	{"valid/sections_profile", CP_FILE_CREDENTIALS,
	 "{\"default\":{\"region\":\"\\\"foo-region\\\"\",\"output\":\"json\"},"
	 "\"foo\":{\"bar\":\"baz\"},\"bar\":{\"baz\":\"qux\"}}",
	 NULL, "Go v1 strips the double quotes around a value; botocore keeps them"},
	{"valid/simple_profile", CP_FILE_CREDENTIALS,
	 "{\"default\":{\"region\":\"\\\"foo-region\\\"\",\"output\":\"json\","
	 "\"foo\":\"bar = baz\",\"bar\":\"baz qux\"}}",
	 NULL, "Go v1 strips the double quotes around a value; botocore keeps them"},
	{"valid/space_lhs", CP_FILE_CREDENTIALS, "{\"hyphen-profile-name\":{}}", NULL,
	 "'aws region' is not a valid property name and is ignored (smithy-rs 'Invalid property "
	 "names are ignored'); Go v1 and botocore keep it"},
	{"valid/utf_8_profile", CP_FILE_CREDENTIALS, "{}", NULL,
	 "non-ASCII profile and property names are invalid names, ignored (smithy-rs 'Invalid "
	 "profile names are ignored'); Go v1 and botocore accept them"},
	{"invalid/bad_section_name", CP_FILE_CREDENTIALS, "{}", NULL,
	 "'[ :=foo ]' names an invalid profile, ignored rather than refused (smithy-rs 'Invalid "
	 "profile names are ignored'); botocore accepts the section"},
	{"invalid/bad_syntax_1", CP_FILE_CREDENTIALS, "{}", NULL,
	 "'[[ foo ]' names an invalid profile, ignored rather than refused (smithy-rs 'Invalid "
	 "profile names are ignored'); botocore accepts the section '[ foo '"},
	{"invalid/bad_syntax_2", CP_FILE_CREDENTIALS, "{}", NULL,
	 "'[ foo ]]' names an invalid profile, ignored rather than refused (smithy-rs 'Invalid "
	 "profile names are ignored'); botocore accepts the section ' foo ]'"},
	{"invalid/invalid_keys", CP_FILE_CREDENTIALS, "{\"assumerole\":{}}", NULL,
	 "'key[id]' is an invalid property name, ignored rather than refused (smithy-rs 'Invalid "
	 "property names are ignored'); botocore accepts it"},
};

#define S_GO_NCASES (sizeof s_go_cases / sizeof *s_go_cases)

/* Checks one parse against the expected profiles (JSON text or object) or,
 * with neither, against CP_ECONFIG naming `err_line`. */
static bool s_go_outcome(const char *text, size_t len, cp_file_kind kind, const cJSON *want,
			 const char *err_line, const char *what)
{
	cp_config cfg;
	cp_error err = {0};
	cp_config_init(&cfg);
	int rc = cp_config_parse(&cfg, text, len, kind, "f", &err);
	bool ok;
	if (want) {
		ok = rc == 0 && cfg.nsso == 0 && cfg.nservices == 0 &&
		     s_list_matches(&cfg, cfg.nprofiles, cp_config_profile, want, what);
		if (rc)
			tap_diag("%s: unexpected failure: %s", what, err.msg);
	} else {
		char needle[64];
		if (err_line)
			snprintf(needle, sizeof needle, "'f' %s: ", err_line);
		else
			snprintf(needle, sizeof needle, "'f' line ");
		ok = rc == CP_ECONFIG && err.status == CP_ECONFIG && cfg.nprofiles == 0 &&
		     strncmp(err.msg, needle, strlen(needle)) == 0;
		if (!ok)
			tap_diag("%s: rc=%d '%s', expected CP_ECONFIG at %s", what, rc, err.msg,
				 err_line ? err_line : "some line");
	}
	cp_config_free(&cfg);
	return ok;
}

/* One corpus file: the table's outcome, else Go v1's; counts it in
 * *n_ours or *n_go. */
static void s_go_file(const char *dir, const char *sub, const char *name, bool *used,
		      int *n_go, int *n_ours)
{
	char rel[512];
	snprintf(rel, sizeof rel, "%s/%s", sub, name);
	char *fp = cp_asprintf("%s/%s", dir, rel);
	size_t len = 0;
	char *text = tap_slurp(fp, &len);
	const s_go_case *c = NULL;
	for (size_t i = 0; i < S_GO_NCASES; i++)
		if (strcmp(s_go_cases[i].file, rel) == 0) {
			c = &s_go_cases[i];
			used[i] = true;
		}
	if (!text) {
		tap_ok(0, "go-v1 ini %s: cannot read", rel);
	} else if (c) {
		cJSON *want = c->profiles ? cJSON_Parse(c->profiles) : NULL;
		bool ok = (!c->profiles || want) &&
			  s_go_outcome(text, len, c->kind, want, c->err_line, rel);
		tap_ok(ok, "go-v1 ini %s -> %s (differs from Go v1 on purpose: %s)", rel,
		       c->profiles ? "our profiles" : c->err_line, c->reason);
		cJSON_Delete(want);
		(*n_ours)++;
	} else if (strcmp(sub, "invalid") == 0) {
		tap_ok(s_go_outcome(text, len, CP_FILE_CREDENTIALS, NULL, NULL, rel),
		       "go-v1 ini %s -> CP_ECONFIG, as Go v1", rel);
		(*n_go)++;
	} else {
		char *ep = cp_asprintf("%s_expected", fp);
		char *exp_text = tap_slurp(ep, NULL);
		cJSON *want = exp_text ? cJSON_Parse(exp_text) : NULL;
		if (!want)
			tap_diag("%s_expected: missing or not JSON", rel);
		tap_ok(want && s_go_outcome(text, len, CP_FILE_CREDENTIALS, want, NULL, rel),
		       "go-v1 ini %s -> %s_expected, as Go v1", rel, name);
		cJSON_Delete(want);
		free(exp_text);
		free(ep);
		(*n_go)++;
	}
	free(text);
	free(fp);
}

static void s_go_v1_corpus(const char *cdir)
{
	static const char *const subs[] = {"valid", "invalid"};
	char *dir = cp_asprintf("%s/profile-parsing/aws-sdk-go-v1-ini", cdir);
	bool used[S_GO_NCASES] = {0};
	int n_go = 0, n_ours = 0;
	for (size_t k = 0; k < 2; k++) {
		char *path = cp_asprintf("%s/%s", dir, subs[k]);
		struct dirent **names = NULL;
		int n = scandir(path, &names, NULL, alphasort);
		if (n < 0)
			tap_ok(0, "go-v1 ini %s: cannot open: %s", subs[k], strerror(errno));
		for (int i = 0; i < n; i++) {
			const char *nm = names[i]->d_name;
			size_t nl = strlen(nm);
			if (nm[0] != '.' && !(nl > 9 && strcmp(nm + nl - 9, "_expected") == 0))
				s_go_file(dir, subs[k], nm, used, &n_go, &n_ours);
			free(names[i]);
		}
		free(names);
		free(path);
	}
	bool all_used = true;
	for (size_t i = 0; i < S_GO_NCASES; i++)
		if (!used[i]) {
			tap_diag("table row %s has no file in the corpus", s_go_cases[i].file);
			all_used = false;
		}
	tap_ok(all_used && n_go + n_ours == 25,
	       "go-v1 ini: %d files checked as Go v1 expects, %d against our semantics with a "
	       "reason (25 in the corpus)", n_go, n_ours);
	free(dir);
}

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint32_t s_rand(void)
{
	s_rng ^= s_rng << 13;
	s_rng ^= s_rng >> 7;
	s_rng ^= s_rng << 17;
	return (uint32_t)(s_rng >> 32);
}

static void s_random_inputs(void)
{
	static const char *const atoms[] = {
		"[", "]", "=", "#", ";", " ", "\t", "\n", "\r", "\r\n", "profile", "default",
		"sso-session", "services", "a", "B", "k", "v", "\xEF\xBB\xBF", "\xff", "\x80", "\0",
		"[profile a]\n", "[default]\n", "s3 =\n", " x = y\n", "k = v\n", "\n -c\n",
	};
	char buf[512];
	int bad = 0, parsed = 0;
	for (int it = 0; it < 4000; it++) {
		size_t len = 0, target = s_rand() % 200;
		while (len < target) {
			const char *a = atoms[s_rand() % (sizeof atoms / sizeof *atoms)];
			size_t an = *a ? strlen(a) : 1;
			if (len + an > sizeof buf)
				break;
			memcpy(buf + len, a, an);
			len += an;
		}
		if (!s_parse_both_ways(buf, len) && bad++ < 3)
			tap_diag("input %d: '%.*s'", it, (int)len, buf);
		parsed++;
	}
	for (int it = 0; it < 1000; it++) {
		size_t len = s_rand() % sizeof buf;
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)s_rand();
		if (!s_parse_both_ways(buf, len))
			bad++;
		parsed++;
	}
	tap_ok(parsed == 5000 && bad == 0,
	       "%d random inputs parsed as config and credentials: %d broke a promise of the parser",
	       parsed, bad);
}

/* ---- scale: 20,000 profiles, parsing on lookup --------------------------- */

#define S_SCALE_N 20000

/* An IAM Identity Center config of S_SCALE_N profiles p0..p19999, p0's
 * header repeated at the end (overriding region, adding a key), and an
 * optional malformed line just before that. *ret_bad is its line number. */
static void s_scale_text(cp_buf *b, bool malformed, size_t *ret_bad)
{
	size_t line = 5;
	cp_buf_puts(b, "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n"
		       "sso_region = us-east-1\n\n");
	for (int i = 0; i < S_SCALE_N; i++) {
		cp_buf_printf(b, "[profile p%d]\nsso_session = corp\nsso_account_id = %012d\n"
			      "sso_role_name = Role%d\nregion = us-east-1\noutput = json\n\n",
			      i, 100000 + i, i % 7);
		line += 7;
	}
	if (malformed) {
		cp_buf_puts(b, "region us-west-2\n");
		*ret_bad = line++;
	}
	cp_buf_puts(b, "[profile p0]\n# again\nregion = eu-west-1\nextra = " SECRET "\n");
}

static bool s_scale_profile_ok(const cp_config *cfg, int i, const char *region)
{
	char name[32], acct[32], role[32];
	snprintf(name, sizeof name, "p%d", i);
	snprintf(acct, sizeof acct, "%012d", 100000 + i);
	snprintf(role, sizeof role, "Role%d", i % 7);
	const cp_section *s = cp_config_profile(cfg, name);
	const char *v;
	if (!s || s->nprops < 5) {
		tap_diag("%s: %s", name, s ? "too few properties" : "missing");
		return false;
	}
	/* File order, a repeated key keeping its first place. */
	static const char *const order[] = {"sso_session", "sso_account_id", "sso_role_name",
					    "region", "output"};
	for (size_t k = 0; k < 5; k++)
		if (strcmp(s->props[k].name, order[k]) != 0) {
			tap_diag("%s: property %zu is '%s', expected '%s'", name, k,
				 s->props[k].name, order[k]);
			return false;
		}
	return (v = cp_section_get(s, "sso_account_id")) && strcmp(v, acct) == 0 &&
	       (v = cp_section_get(s, "sso_role_name")) && strcmp(v, role) == 0 &&
	       (v = cp_section_get(s, "region")) && strcmp(v, region) == 0;
}

static void s_scale(void)
{
	cp_buf b = {0};
	size_t bad = 0;
	s_scale_text(&b, false, &bad);
	char dir[] = "/tmp/test-config.XXXXXX";
	if (!mkdtemp(dir)) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		cp_buf_free(&b);
		return;
	}
	char *conf = s_write_tmp(dir, "config", b.data);
	char *cred = s_write_tmp(dir, "credentials",
				 "[p19999]\nregion = ap-south-1\naws_access_key_id = AKID\n"
				 "[p10000]\nregion = sa-east-1\n");
	tap_ok(b.len > CP_CONFIG_MAX_FILE / 16, "%d profiles make %zu bytes", S_SCALE_N, b.len);

	for (int how = 0; how < 2; how++) {
		const char *way = how ? "cp_config_parse" : "cp_config_load";
		cp_config cfg;
		cp_error err = {0};
		cp_config_init(&cfg);
		int rc = how ? cp_config_parse(&cfg, b.data, b.len, CP_FILE_CONFIG, "c", &err)
			     : cp_config_load(&cfg, conf, cred, &err);
		tap_ok(rc == 0 && cfg.nprofiles == S_SCALE_N && cfg.nsso == 1, "%s: %d profiles: %s",
		       way, S_SCALE_N, rc ? err.msg : "ok");
		tap_ok(s_scale_profile_ok(&cfg, S_SCALE_N / 2, how ? "us-east-1" : "sa-east-1") &&
			       s_scale_profile_ok(&cfg, S_SCALE_N - 1,
						  how ? "us-east-1" : "ap-south-1") &&
			       s_scale_profile_ok(&cfg, 1, "us-east-1"),
		       "%s: middle, last and second profile found%s", way,
		       how ? "" : " (the credentials file wins per key)");
		const char *v = cp_section_get(cp_config_profile(&cfg, "p19999"), "aws_access_key_id");
		tap_ok(how ? v == NULL : v && strcmp(v, "AKID") == 0,
		       "%s: credentials-file keys are merged into the profile", way);
		const cp_section *p0 = cp_config_profile(&cfg, "p0");
		v = cp_section_get(p0, "extra");
		tap_ok(s_scale_profile_ok(&cfg, 0, "eu-west-1") && p0->nprops == 6 && v &&
			       strcmp(v, SECRET) == 0 && strcmp(p0->props[5].name, "extra") == 0,
		       "%s: a repeated header at the end merges into the first profile", way);
		tap_ok(cp_config_profile(&cfg, "p20000") == NULL &&
			       cp_config_profile(&cfg, "corp") == NULL &&
			       strcmp(cp_section_get(cp_config_sso_session(&cfg, "corp"), "sso_region"),
				      "us-east-1") == 0,
		       "%s: absent names are absent; the sso-session is found", way);
		/* cp_config_set on a profile not looked up yet keeps its properties. */
		rc = cp_config_set(&cfg, "p12345", "region", "me-south-1");
		tap_ok(rc == 0 && s_scale_profile_ok(&cfg, 12345, "me-south-1"),
		       "%s: cp_config_set on a profile not looked up yet", way);
		cp_config_free(&cfg);
	}

	/* A malformed line near the end is reported, with its line number,
	 * and leaves the cp_config untouched. */
	cp_buf_free(&b);
	s_scale_text(&b, true, &bad);
	{
		char want[64];
		snprintf(want, sizeof want, "'c' line %zu: expected 'name = value'", bad);
		cp_config cfg;
		cp_error err = {0};
		cp_config_init(&cfg);
		int rc = cp_config_parse(&cfg, "[profile keep]\nk = v\n", 21, CP_FILE_CONFIG, "a",
					 &err);
		rc = rc ? rc : cp_config_parse(&cfg, b.data, b.len, CP_FILE_CONFIG, "c", &err);
		tap_ok(rc == CP_ECONFIG && strcmp(err.msg, want) == 0 && cfg.nprofiles == 1 &&
			       cp_config_profile(&cfg, "keep") && !cp_config_profile(&cfg, "p0"),
		       "a malformed line near the end (line %zu) is reported: %s", bad, err.msg);
		cp_config_free(&cfg);
	}
	cp_buf_free(&b);
	unlink(conf);
	unlink(cred);
	free(conf);
	free(cred);

	/* Over 16 MiB: refused, by cp_config_parse and by cp_config_load. */
	size_t big = CP_CONFIG_MAX_FILE + 1;
	char *text = malloc(big);
	char *path = cp_asprintf("%s/big", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (!text || fd < 0 || ftruncate(fd, (off_t)big) < 0) {
		tap_ok(0, "cannot make a file of %zu bytes", big);
	} else {
		memset(text, '\n', big);
		cp_config cfg;
		cp_error err = {0};
		cp_config_init(&cfg);
		int rc = cp_config_parse(&cfg, text, big, CP_FILE_CONFIG, "c", &err);
		tap_ok(rc == CP_ECONFIG && strcmp(err.msg, "'c': larger than 16777216 bytes") == 0,
		       "a text of 16 MiB + 1 byte is refused: %s", err.msg);
		rc = cp_config_parse(&cfg, text, big - 1, CP_FILE_CONFIG, "c", &err);
		tap_ok(rc == 0, "a text of 16 MiB is accepted");
		rc = cp_config_load(&cfg, path, NULL, &err);
		char *want = cp_asprintf("'%s': larger than 16777216 bytes", path);
		tap_ok(rc == CP_ECONFIG && strcmp(err.msg, want) == 0,
		       "a file of 16 MiB + 1 byte is refused: %s", err.msg);
		free(want);
		cp_config_free(&cfg);
	}
	if (fd >= 0)
		close(fd);
	free(text);
	unlink(path);
	free(path);
	rmdir(dir);
}

/* Parsing on lookup gives what parsing whole gives: same outcome, same
 * message, same sections with the same properties in the same order. */
static bool s_same_list(const cp_config *a, const cp_config *b, const cp_section *la, size_t na,
			const cp_section *lb, size_t nb, s_lookup_fn lookup)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		if (strcmp(la[i].name, lb[i].name) != 0)
			return false;
		const cp_section *x = lookup(a, la[i].name), *y = lookup(b, lb[i].name);
		if (!x || !y || x->nprops != y->nprops)
			return false;
		for (size_t j = 0; j < x->nprops; j++)
			if (strcmp(x->props[j].name, y->props[j].name) != 0 ||
			    strcmp(x->props[j].value, y->props[j].value) != 0)
				return false;
	}
	return true;
}

static bool s_lazy_is_eager(const char *t1, size_t n1, const char *t2, size_t n2)
{
	cp_config c[2];
	cp_error e[2] = {{0}, {0}};
	int rc[2];
	for (int eager = 0; eager < 2; eager++) {
		cp_config_parse_eagerly(eager);
		cp_config_init(&c[eager]);
		rc[eager] = cp_config_parse(&c[eager], t1, n1, CP_FILE_CONFIG, "c", &e[eager]);
		if (!rc[eager])
			rc[eager] = cp_config_parse(&c[eager], t2, n2, CP_FILE_CREDENTIALS, "k",
						    &e[eager]);
	}
	cp_config_parse_eagerly(false);
	bool same = rc[0] == rc[1] && strcmp(e[0].msg, e[1].msg) == 0 &&
		    (rc[0] || (s_same_list(&c[0], &c[1], c[0].profiles, c[0].nprofiles,
					   c[1].profiles, c[1].nprofiles, cp_config_profile) &&
			       s_same_list(&c[0], &c[1], c[0].sso_sessions, c[0].nsso,
					   c[1].sso_sessions, c[1].nsso, cp_config_sso_session) &&
			       s_same_list(&c[0], &c[1], c[0].services, c[0].nservices,
					   c[1].services, c[1].nservices, cp_config_services)));
	cp_config_free(&c[0]);
	cp_config_free(&c[1]);
	return same;
}

static void s_lazy_vs_eager(void)
{
	static const char *const atoms[] = {
		"[", "]", "=", "#", ";", " ", "\t", "\n", "\r", "\r\n", "\v", "profile", "default",
		"sso-session", "services", "a", "B", "k", "v", "\xEF\xBB\xBF", "\0", "[profile a]\n",
		"[default]\n", "[profile default]\n", "[a]\n", "[sso-session a]\n", "[services a]\n",
		"s3 =\n", " x = y\n", "k = v\n", "K = w\n", "k =#c\n", "k = #c\n", "k=;c\n", "a#b = c\n",
		"a ;b = c\n", "\n -c\n", "\n  # c\n",
	};
	char buf[2][400];
	size_t len[2];
	int bad = 0;
	/* Cases a section body could get wrong: its first line. */
	static const char *const fixed[] = {
		"[profile a]\n\xEF\xBB\xBFk = v\n", "[profile a]\n k = v\n", "[profile a]",
		"[profile a]\nk = v\n[profile b]\n[profile a]\n -c\nk =\n x = y\n",
		"[default]\nk = 1\n[profile default]\nk = 2\n[default]\nj = 3\n",
	};
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		for (int f = 0; f < 2; f++)
			if (!s_lazy_is_eager(f ? "" : fixed[i], f ? 0 : strlen(fixed[i]),
					     f ? fixed[i] : "", f ? strlen(fixed[i]) : 0) &&
			    bad++ < 3)
				tap_diag("differs: '%s' (%s)", fixed[i], f ? "credentials" : "config");
	for (int it = 0; it < 3000; it++) {
		for (int f = 0; f < 2; f++) {
			size_t target = s_rand() % 300;
			len[f] = 0;
			while (len[f] < target) {
				const char *a = atoms[s_rand() % (sizeof atoms / sizeof *atoms)];
				size_t an = *a ? strlen(a) : 1;
				if (len[f] + an > sizeof buf[f])
					break;
				memcpy(buf[f] + len[f], a, an);
				len[f] += an;
			}
		}
		if (!s_lazy_is_eager(buf[0], len[0], buf[1], len[1]) && bad++ < 3)
			tap_diag("differs: '%.*s' then '%.*s'", (int)len[0], buf[0], (int)len[1], buf[1]);
	}
	tap_ok(bad == 0,
	       "3000 random pairs of files, and cases: parsing on lookup is parsing whole "
	       "(%d differ)", bad);

	/* Near the property limit, within a file and across files. */
	cp_buf a = {0}, k = {0};
	cp_buf_puts(&a, "[default]\n");
	for (int i = 0; i < CP_CONFIG_MAX_PROPS - 1; i++)
		cp_buf_printf(&a, "k%d = v\n[default]\nk%d = w\n", i, i);
	cp_buf_puts(&k, "[default]\nk0 = x\nnew = y\n");
	bool ok = s_lazy_is_eager(a.data, a.len, k.data, k.len);
	cp_buf_puts(&k, "newer = z\n");
	ok = ok && s_lazy_is_eager(a.data, a.len, k.data, k.len);
	cp_buf_puts(&a, "k1 = again\nlast = v\n");
	ok = ok && s_lazy_is_eager(a.data, a.len, "", 0);
	tap_ok(ok, "at the property limit, within and across files: same outcome");
	cp_buf_free(&a);
	cp_buf_free(&k);
}

int main(void)
{
	s_limits();
	s_messages();
	s_lookups();
	s_load();
	s_paths();
	s_random_inputs();
	s_scale();
	s_lazy_vs_eager();

	const char *cdir = tap_conformance_dir();
	if (!cdir) {
		tap_skip_data("conformance data not found (set AWS_CREDPROC_CONFORMANCE_DIR)");
		return tap_done();
	}
	s_parser_suite();
	s_location_suite();
	s_case_insensitive_chain_case(cdir);
	s_corpus_dir(cdir, "profile-parsing/aws-c-auth-fuzz-corpus/parse_config_profile");
	s_go_v1_corpus(cdir);
	return tap_done();
}
