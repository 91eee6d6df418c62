/* fuzz-config.c - cp_config_parse on hostile config/credentials files, then
 * every lookup and cp_resolve() for each profile.
 *
 * The input is parsed (1) whole as a config file, (2) whole as a credentials
 * file, and (3) as a config file followed by a credentials file merged into
 * the same cp_config: the text before a line "#%credentials" is the config
 * file and the text after it the credentials file (a comment line, so (1)
 * and (2) still see valid syntax); without that line, (3) merges the whole
 * text into itself.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "resolve.h"

#define SEPARATOR "#%credentials\n"

static const char *const s_keys[] = {
	"role_arn", "source_profile", "credential_source", "credential_process",
	"AWS_ACCESS_KEY_ID", "aws_secret_access_key", "aws_session_token", "region",
	"endpoint_url", "sts", "s3", "services", "sso_session", "web_identity_token_file",
	"duration_seconds", "", "no-such-key",
};

static bool s_has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return true;
	return false;
}

/* Sub-property names that the value itself offers ("\nname = value"). */
static void s_subprops(const char *value)
{
	char *found = NULL;
	for (size_t i = 0; i < sizeof s_keys / sizeof *s_keys; i++) {
		FUZZ_CHECK(cp_subprop_get(value, s_keys[i], &found) == 0);
		cp_free_secret(found);
	}
	for (const char *p = value; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		if (eq) {
			const char *k = p;
			size_t kn = (size_t)(eq - p);
			while (kn && (*k == ' ' || *k == '\t')) {
				k++;
				kn--;
			}
			while (kn && (k[kn - 1] == ' ' || k[kn - 1] == '\t'))
				kn--;
			char *key = cp_strndup(k, kn);
			if (key) {
				FUZZ_CHECK(cp_subprop_get(value, key, &found) == 0);
				cp_free_secret(found);
				free(key);
			}
		}
		p = nl ? nl + 1 : NULL;
	}
}

static void s_section(const cp_section *sec, const cp_section *looked_up)
{
	/* Names are unique per list: the lookup finds this very section. */
	FUZZ_CHECK(sec->name && looked_up == sec);
	FUZZ_CHECK(sec->nprops <= CP_CONFIG_MAX_PROPS);
	for (size_t j = 0; j < sec->nprops; j++) {
		const cp_prop *pr = &sec->props[j];
		FUZZ_CHECK(pr->name && pr->value && !s_has_upper(pr->name));
		/* One property per name: the lookup finds this one, in any case. */
		FUZZ_CHECK(cp_section_get(sec, pr->name) == pr->value);
		char *upper = cp_strdup(pr->name);
		if (upper) {
			for (char *c = upper; *c; c++)
				if (*c >= 'a' && *c <= 'z')
					*c = (char)(*c - 'a' + 'A');
			FUZZ_CHECK(cp_section_get(sec, upper) == pr->value);
			free(upper);
		}
		s_subprops(pr->value);
	}
	for (size_t i = 0; i < sizeof s_keys / sizeof *s_keys; i++)
		(void)cp_section_get(sec, s_keys[i]);
}

static void s_resolve(const cp_config *cfg, const char *name)
{
	cp_chain c = {0};
	cp_error err = {0};
	int r = cp_resolve(cfg, name, NULL, &c, &err);
	if (r == 0) {
		FUZZ_CHECK(c.nprofiles >= 1 && strcmp(c.profiles[0], name) == 0);
		FUZZ_CHECK(c.nsteps <= CP_MAX_SOURCE_HOPS + 1);
		for (size_t i = 0; i < c.nsteps; i++)
			FUZZ_CHECK(c.steps[i].role_arn && c.steps[i].role_arn[0]);
		FUZZ_CHECK(c.base && c.base->ops && c.base->ops->kind && c.base->profile);
		const cp_creds *sc = cp_source_as_static(c.base);
		if (sc)
			FUZZ_CHECK(sc->access_key_id && sc->secret_access_key);
		const cp_web_identity_source *w = cp_source_as_web_identity(c.base);
		if (w)
			FUZZ_CHECK(w->role_arn && w->token_file);
	} else {
		FUZZ_CHECK((r == CP_ECONFIG || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
	}
	cp_chain_free(&c);

	/* A role on top of this profile as the source (--role-arn --source-profile). */
	cp_role_flags f = {
		.role_arn = "arn:aws:iam::123456789012:role/fuzz",
		.source_profile = name,
		.role_session_name = "fuzz-session",
	};
	memset(&err, 0, sizeof err);
	r = cp_resolve(cfg, NULL, &f, &c, &err);
	if (r == 0)
		FUZZ_CHECK(c.nsteps >= 1 && strcmp(c.steps[c.nsteps - 1].role_arn, f.role_arn) == 0);
	else
		FUZZ_CHECK(err.msg[0]);
	cp_chain_free(&c);
}

static void s_exercise(const cp_config *cfg)
{
	char *v = NULL;
	for (size_t i = 0; i < cfg->nprofiles; i++) {
		const cp_section *sec = &cfg->profiles[i];
		s_section(sec, cp_config_profile(cfg, sec->name));
		s_resolve(cfg, sec->name);
	}
	for (size_t i = 0; i < cfg->nsso; i++) {
		const cp_section *sec = &cfg->sso_sessions[i];
		s_section(sec, cp_config_sso_session(cfg, sec->name));
	}
	for (size_t i = 0; i < cfg->nservices; i++) {
		const cp_section *sec = &cfg->services[i];
		s_section(sec, cp_config_services(cfg, sec->name));
		FUZZ_CHECK(cp_subprop_get(cp_section_get(sec, "sts"), "endpoint_url", &v) == 0);
		cp_free_secret(v);
	}
	FUZZ_CHECK(cp_config_profile(cfg, "no such profile") == NULL);
	(void)cp_config_profile(cfg, "default");
	s_resolve(cfg, "default");
	s_resolve(cfg, "no-such-profile");
}

static void s_parse(cp_config *cfg, const char *text, size_t len, cp_file_kind kind)
{
	cp_error err = {0};
	int r = cp_config_parse(cfg, text, len, kind, kind == CP_FILE_CONFIG ? "config" : "credentials",
				&err);
	if (r)
		FUZZ_CHECK((r == CP_ECONFIG || r == CP_EINTERNAL) && err.status == r && err.msg[0]);
	FUZZ_CHECK(cfg->nprofiles + cfg->nsso + cfg->nservices <= CP_CONFIG_MAX_SECTIONS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	cp_config cfg;

	/* (1) config file, (2) credentials file */
	for (int kind = 0; kind < 2; kind++) {
		cp_config_init(&cfg);
		s_parse(&cfg, text, size, kind == 0 ? CP_FILE_CONFIG : CP_FILE_CREDENTIALS);
		s_exercise(&cfg);
		cp_config_free(&cfg);
	}

	/* (3) config then credentials, merged */
	const char *cred = text;
	size_t conf_len = size, cred_len = size;
	size_t sn = strlen(SEPARATOR);
	for (size_t i = 0; i + sn <= size; i++) {
		if ((i == 0 || text[i - 1] == '\n') && memcmp(text + i, SEPARATOR, sn) == 0) {
			conf_len = i;
			cred = text + i + sn;
			cred_len = size - i - sn;
			break;
		}
	}
	cp_config_init(&cfg);
	s_parse(&cfg, text, conf_len, CP_FILE_CONFIG);
	s_parse(&cfg, cred, cred_len, CP_FILE_CREDENTIALS);
	s_exercise(&cfg);
	cp_config_free(&cfg);
	return 0;
}
