/* cli.c - argument parsing, commands and the user-facing messages. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "cp_config.h"
#include "credproc.h"
#include "exec.h"
#include "output.h"
#include "process.h"
#include "source.h"
#include "util.h"

/* In parts: C compilers need not take a string over 4095 bytes. */
static const char *const s_usage[] = {
	"Usage: aws-credproc [COMMAND] [OPTIONS]\n"
	"\n"
	"Prints temporary AWS credentials for a credential_process line.\n"
	"\n"
	"Commands:\n"
	"  (none)                  print the credential_process JSON document\n"
	"  env                     print shell export lines (AWS_ACCESS_KEY_ID, ...,\n"
	"                          AWS_CREDENTIAL_EXPIRATION, AWS_ACCOUNT_ID)\n"
	"  explain                 show the resolution chain, endpoint, cache file and\n"
	"                          remaining lifetime (never a secret)\n"
	"  cache clear             remove the cache entry of --profile, or every entry\n"
	"  list                    every profile: its source, its role, the time its\n"
	"                          cached credentials have left (never a secret)\n"
	"  exec                    exec [OPTIONS] -- COMMAND [ARG]...: run COMMAND with\n"
	"                          a loopback credentials endpoint of ours\n"
	"                          (AWS_CONTAINER_CREDENTIALS_FULL_URI) serving the\n"
	"                          profile's credentials, refreshed, while it runs\n"
	"\n"
	"Sources (the profile's keys; see aws-credproc(1)):\n"
	"  aws_access_key_id (static keys), role_arn with source_profile or\n"
	"  credential_source, credential_process, web_identity_token_file,\n"
	"  sso_session or sso_start_url (IAM Identity Center), login_session (console\n"
	"  sign-in: aws login), credproc_rolesanywhere_certificate (IAM Roles Anywhere)\n"
	"\n"
	"Options:\n"
	"  -p, --profile NAME            profile to resolve (default: \"default\";\n"
	"                                AWS_PROFILE is never used)\n"
	"      --role-arn ARN            assume this role instead of a profile's role\n"
	"      --source-profile NAME     ...with credentials from this profile\n"
	"      --credential-source SRC   ...or from Environment | Ec2InstanceMetadata |\n"
	"                                EcsContainer\n"
	"      --role-session-name NAME  session name of the (last) role\n"
	"      --external-id ID          external id of the (last) role\n"
	"      --mfa-serial ARN          MFA device of the (last) role (the code comes from\n"
	"                                credproc_mfa_process, else a prompt on the terminal)\n",
	"      --duration-seconds N      session duration, 900-43200\n"
	"      --policy JSON             session policy of the (last) role\n"
	"      --policy-arns ARN,...     managed session policies of the (last) role\n"
	"      --tags KEY=VALUE,...      session tags of the (last) role\n"
	"      --transitive-tag-keys K,...  tag keys that stay with chained sessions\n"
	"      --source-identity NAME    STS SourceIdentity of the (last) role\n"
	"      --rolesanywhere-certificate FILE  IAM Roles Anywhere: the X.509 certificate\n"
	"                                (PEM or DER); makes Roles Anywhere the source\n"
	"      --rolesanywhere-private-key KEY  its private key: a PEM file, a pkcs11: URI\n"
	"                                (no pin-value), a TSS2 PEM file or handle:0x81...\n"
	"      --rolesanywhere-certificate-chain FILE  intermediate CAs (PEM bundle)\n"
	"      --rolesanywhere-trust-anchor-arn ARN  the trust anchor\n"
	"      --rolesanywhere-profile-arn ARN  the Roles Anywhere profile\n"
	"      --rolesanywhere-role-arn ARN  the role of the session\n"
	"      --rolesanywhere-session-duration N  session duration, 900-43200 (default 3600)\n"
	"      --rolesanywhere-session-name NAME  role session name of the session\n"
	"      --rolesanywhere-pin-file FILE  PKCS#11 PIN / TPM key password (first line)\n"
	"      --rolesanywhere-pin-command CMD  ...or the first line this command prints\n"
	"      --rolesanywhere-pkcs11-module SO  the PKCS#11 module (default: the URI's\n"
	"                                module-path, else p11-kit's proxy)\n"
	"      --rolesanywhere-endpoint URL  the Roles Anywhere endpoint (default:\n"
	"                                AWS_ENDPOINT_URL_ROLESANYWHERE, ..., the regional one)\n"
	,
	"      --region REGION           STS region (default: AWS_REGION, AWS_DEFAULT_REGION,\n"
	"                                the profile's region, the instance's region with\n"
	"                                an Ec2InstanceMetadata source, else the global endpoint)\n"
	"      --timeout SECONDS         overall network deadline, 1-3600 (default 30)\n"
	"      --cache-dir DIR           cache directory (default: AWS_CREDPROC_CACHE_DIR,\n"
	"                                $XDG_CACHE_HOME/aws-credproc, ~/.cache/aws-credproc)\n"
	"      --no-cache                neither read nor write the cache\n"
	"      --refresh-margin SECONDS  reuse cached credentials only while this much\n"
	"                                (at most half their lifetime) remains, 0-43200\n"
	"                                (default 1200, or the profile's credproc_refresh_margin)\n"
	"      --json                    list: a JSON array instead of the table\n"
	"      --env-only                exec: set AWS_ACCESS_KEY_ID, ... instead (no\n"
	"                                refresh: a warning names the expiry)\n"
	"      --debug                   trace the resolution on stderr, never a secret\n"
	"                                (also AWS_CREDPROC_DEBUG=1)\n"
	"  -h, --help                    show this help\n"
	"  -V, --version                 show the version\n"
	"\n"
	"Exit status: 0 printed, 1 internal error, 2 usage or configuration error,\n"
	"3 source credentials unavailable, 4 refused by STS or the credential endpoint,\n"
	"5 transport failure after retries, 6 a person is needed and none can be asked.\n"
	"See aws-credproc(1).\n",
};

/* Warnings wait until stdout is written: a consumer that reads us with
 * 2>&1 (aws-c-auth before 0.7.29) must find the JSON first. They are
 * written after the document on success, before the error line on failure. */
static cp_buf s_warnings;

static void s_warn_deferred(void *userdata, const char *msg)
{
	(void)userdata;
	if (cp_buf_printf(&s_warnings, "aws-credproc: warning: %s\n", msg))
		fprintf(stderr, "aws-credproc: warning: %s\n", msg); /* out of memory: now */
}

/* A wait a person may be watching (an MFA prompt elsewhere): said at once. */
static void s_progress_now(void *userdata, const char *msg)
{
	(void)userdata;
	fprintf(stderr, "aws-credproc: warning: %s\n", msg);
	fflush(stderr);
}

/* exec: warnings at once (COMMAND's output follows ours). */
static void s_warn_now(void *userdata, const char *msg)
{
	(void)userdata;
	fprintf(stderr, "aws-credproc: warning: %s\n", msg);
	fflush(stderr);
}

static void s_warn_line(const char *msg)
{
	s_warn_now(NULL, msg);
}

static void s_flush_warnings(void)
{
	if (s_warnings.len)
		fwrite(s_warnings.data, 1, s_warnings.len, stderr);
	fflush(stderr);
	cp_buf_free(&s_warnings);
}

/* "AWS_PROFILE=writer is ignored; use --profile writer" when AWS_PROFILE
 * (else AWS_DEFAULT_PROFILE) names another profile than the one used; "".
 * Not when that profile has a credential_process line: then an SDK that
 * resolves it runs us, and --profile writer would run that line again. */
static char s_profile_hint[160];
static bool s_debug; /* --debug or AWS_CREDPROC_DEBUG */
static const char *s_profile_hint_name; /* the profile AWS_PROFILE names */
static int s_profile_hint_checked;

static bool s_profile_runs_a_process(const char *name)
{
	cp_config cfg;
	cp_error e = {0};
	char *cpath = NULL, *kpath = NULL;
	bool runs = false;
	cp_config_init(&cfg);
	if (!cp_config_paths(&cpath, &kpath, &e) && !cp_config_load(&cfg, cpath, kpath, &e)) {
		const cp_section *p = cp_config_profile(&cfg, name);
		runs = p && cp_section_value(p, "credential_process");
	}
	cp_config_free(&cfg);
	free(cpath);
	free(kpath);
	return runs;
}

/* The hint, or NULL; the config is read (again) only when it is shown. */
static const char *s_hint(void)
{
	if (!s_profile_hint[0])
		return NULL;
	if (!s_profile_hint_checked) {
		s_profile_hint_checked = 1;
		if (s_profile_runs_a_process(s_profile_hint_name))
			s_profile_hint[0] = '\0';
	}
	return s_profile_hint[0] ? s_profile_hint : NULL;
}

static void s_set_profile_hint(const char *used)
{
	/* Nested: AWS_PROFILE is the outer call's business (an SDK set it). */
	if (cp_status_fd_active())
		return;
	static const char *const vars[] = {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		if (!v || !*v)
			continue;
		if (strcmp(v, used) == 0)
			return;
		size_t n = strnlen(v, 65);
		if (n > 64)
			return;
		for (size_t j = 0; j < n; j++)
			if ((unsigned char)v[j] <= ' ' || (unsigned char)v[j] >= 0x7f || v[j] == '\'')
				return;
		snprintf(s_profile_hint, sizeof s_profile_hint, "%s=%s is ignored; use --profile %s",
			 vars[i], v, v);
		s_profile_hint_name = v;
		if (s_debug && s_hint())
			cp_debug("%s", s_profile_hint);
		return;
	}
}

static int s_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_fail(int status, const char *fmt, ...)
{
	va_list ap;
	char msg[1200];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cp_message_clean(msg); /* server text is data; no URL userinfo */
	fflush(stdout);
	s_flush_warnings();
	if (s_hint())
		fprintf(stderr, "aws-credproc: warning: %s\n", s_profile_hint);
	/* Nested: the outer aws-credproc prints our error line as its own
	 * (its last line); printed here too, it would show twice. */
	if (!cp_status_report(status, msg))
		fprintf(stderr, "aws-credproc: %s\n", msg);
	fflush(stderr);
	return status;
}

/* Writes the whole document to stdout once; a closed pipe is an error. */
static int s_write_all(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return errno ? errno : EIO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int s_parse_seconds(const char *v, const char *what, long lo, long hi, long *ret)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || !*v || *end || x < lo || x > hi)
		return s_fail(CP_ECONFIG, "%s must be a whole number between %ld and %ld, not '%.32s'",
			      what, lo, hi, v);
	*ret = x;
	return 0;
}

/* Every environment variable we read, and the cap on its length. */
#define CP_ENV_MAX (64 * 1024)
static const char *const s_env_read[] = {
	"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	"AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_SSO_OIDC",
	"AWS_CA_BUNDLE", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_V1_DISABLED", "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDPROC_CHAIN", "AWS_CREDPROC_CACHE_DIR",
	"AWS_CREDPROC_DEBUG", "HOME", "XDG_CACHE_HOME", "USER",
	"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
	"NO_PROXY", "no_proxy", "AWS_CREDPROC_STATUS_FD",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_STS_REGIONAL_ENDPOINTS",
	/* IAM Roles Anywhere */
	"AWS_ENDPOINT_URL_ROLESANYWHERE",
	/* console sign-in */
	"AWS_ENDPOINT_URL_SIGNIN", "AWS_LOGIN_CACHE_DIRECTORY",
};

static const char *s_env_too_long(void)
{
	for (size_t i = 0; i < sizeof s_env_read / sizeof s_env_read[0]; i++) {
		const char *v = getenv(s_env_read[i]);
		if (v && strnlen(v, CP_ENV_MAX + 1) > CP_ENV_MAX)
			return s_env_read[i];
	}
	return NULL;
}

enum {
	OPT_ROLE_ARN = 256,
	OPT_SOURCE_PROFILE,
	OPT_CREDENTIAL_SOURCE,
	OPT_SESSION_NAME,
	OPT_EXTERNAL_ID,
	OPT_DURATION,
	OPT_REGION,
	OPT_TIMEOUT,
	OPT_DEBUG,
	OPT_CACHE_DIR,
	OPT_NO_CACHE,
	OPT_REFRESH_MARGIN,
	OPT_POLICY,
	OPT_POLICY_ARNS,
	OPT_TAGS,
	OPT_TRANSITIVE_TAG_KEYS,
	OPT_SOURCE_IDENTITY,
	OPT_MFA_SERIAL,
	OPT_JSON,
	OPT_ENV_ONLY,
	OPT_RA_FIRST, /* --rolesanywhere-<name>: OPT_RA_FIRST + CP_RA_* */
	OPT_RA_LAST = OPT_RA_FIRST + CP_RA_NKEYS - 1,
};

/* A PKCS#11 URI in argv with its PIN in it: every user can read argv. */
static bool s_has_pin_value(const char *v)
{
	if (strncmp(v, "pkcs11:", 7) != 0)
		return false;
	for (const char *p = v; *p; p++) {
		static const char k[] = "pin-value=";
		size_t i = 0;
		while (k[i] && (p[i] == k[i] || (p[i] >= 'A' && p[i] <= 'Z' && p[i] - 'A' + 'a' == k[i])))
			i++;
		if (!k[i] && (p == v + 7 || p[-1] == ';' || p[-1] == '?' || p[-1] == '&'))
			return true;
	}
	return false;
}

int cp_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"profile", required_argument, NULL, 'p'},
		{"role-arn", required_argument, NULL, OPT_ROLE_ARN},
		{"source-profile", required_argument, NULL, OPT_SOURCE_PROFILE},
		{"credential-source", required_argument, NULL, OPT_CREDENTIAL_SOURCE},
		{"role-session-name", required_argument, NULL, OPT_SESSION_NAME},
		{"external-id", required_argument, NULL, OPT_EXTERNAL_ID},
		{"duration-seconds", required_argument, NULL, OPT_DURATION},
		{"region", required_argument, NULL, OPT_REGION},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"debug", no_argument, NULL, OPT_DEBUG},
		{"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
		{"no-cache", no_argument, NULL, OPT_NO_CACHE},
		{"refresh-margin", required_argument, NULL, OPT_REFRESH_MARGIN},
		{"policy", required_argument, NULL, OPT_POLICY},
		{"policy-arns", required_argument, NULL, OPT_POLICY_ARNS},
		{"tags", required_argument, NULL, OPT_TAGS},
		{"transitive-tag-keys", required_argument, NULL, OPT_TRANSITIVE_TAG_KEYS},
		{"source-identity", required_argument, NULL, OPT_SOURCE_IDENTITY},
		{"mfa-serial", required_argument, NULL, OPT_MFA_SERIAL},
		{"json", no_argument, NULL, OPT_JSON},
		{"env-only", no_argument, NULL, OPT_ENV_ONLY},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		/* IAM Roles Anywhere: OPT_RA_FIRST + the key's CP_RA_* index. */
		{"rolesanywhere-certificate", required_argument, NULL, OPT_RA_FIRST + CP_RA_CERTIFICATE},
		{"rolesanywhere-private-key", required_argument, NULL, OPT_RA_FIRST + CP_RA_PRIVATE_KEY},
		{"rolesanywhere-certificate-chain", required_argument, NULL, OPT_RA_FIRST + CP_RA_CERTIFICATE_CHAIN},
		{"rolesanywhere-trust-anchor-arn", required_argument, NULL, OPT_RA_FIRST + CP_RA_TRUST_ANCHOR_ARN},
		{"rolesanywhere-profile-arn", required_argument, NULL, OPT_RA_FIRST + CP_RA_PROFILE_ARN},
		{"rolesanywhere-role-arn", required_argument, NULL, OPT_RA_FIRST + CP_RA_ROLE_ARN},
		{"rolesanywhere-session-duration", required_argument, NULL, OPT_RA_FIRST + CP_RA_SESSION_DURATION},
		{"rolesanywhere-session-name", required_argument, NULL, OPT_RA_FIRST + CP_RA_SESSION_NAME},
		{"rolesanywhere-pin-file", required_argument, NULL, OPT_RA_FIRST + CP_RA_PIN_FILE},
		{"rolesanywhere-pin-command", required_argument, NULL, OPT_RA_FIRST + CP_RA_PIN_COMMAND},
		{"rolesanywhere-pkcs11-module", required_argument, NULL, OPT_RA_FIRST + CP_RA_PKCS11_MODULE},
		{"rolesanywhere-endpoint", required_argument, NULL, OPT_RA_FIRST + CP_RA_ENDPOINT},
		{NULL, 0, NULL, 0},
	};
	cp_request req = {.refresh_margin = -1};
	cp_error err = {0};
	cp_creds creds = {0};
	long v = 0;
	int c, r;
	bool env_only = false;
	char **exec_argv = NULL;

	cp_status_fd_init();
	cp_set_warn_handler(s_warn_deferred, NULL);
	cp_set_progress_handler(s_progress_now, NULL);
	const char *too_long = s_env_too_long();
	if (too_long)
		return s_fail(CP_ECONFIG, "the environment variable %s is longer than %d bytes", too_long,
			      CP_ENV_MAX);
	cp_output_init_json_hooks();
	const char *dbg = getenv("AWS_CREDPROC_DEBUG");
	if (dbg && (strcmp(dbg, "1") == 0 || cp_streq_icase(dbg, "true")))
		cp_set_debug(s_debug = true);

	/* exec: what follows the first "--" is COMMAND, never our options. */
	int exec_dd = -1;
	for (int i = 1; i < argc && exec_dd < 0; i++)
		if (strcmp(argv[i], "--") == 0)
			exec_dd = i;
	if (exec_dd > 0) {
		bool is_exec = false;
		for (int i = 1; i < exec_dd; i++)
			if (strcmp(argv[i], "exec") == 0)
				is_exec = true;
		if (is_exec) {
			exec_argv = argv + exec_dd + 1;
			argv[exec_dd] = NULL;
			argc = exec_dd;
		}
	}

	opterr = 0;
	int li = -1;
	bool json = false;
	while ((c = getopt_long(argc, argv, ":p:hV", opts, &li)) != -1) {
		switch (c) {
		case 'p':
			req.profile = optarg;
			break;
		case OPT_ROLE_ARN:
			req.flags.role_arn = optarg;
			break;
		case OPT_SOURCE_PROFILE:
			req.flags.source_profile = optarg;
			break;
		case OPT_CREDENTIAL_SOURCE:
			req.flags.credential_source = optarg;
			break;
		case OPT_SESSION_NAME:
			req.flags.role_session_name = optarg;
			break;
		case OPT_EXTERNAL_ID:
			req.flags.external_id = optarg;
			break;
		case OPT_DURATION: {
			int d;
			if ((r = cp_parse_duration(optarg, "--duration-seconds", &d, &err)))
				return s_fail(r, "%s", err.msg);
			req.flags.duration_seconds = d;
			break;
		}
		case OPT_REGION:
			req.region = optarg;
			break;
		case OPT_TIMEOUT:
			if ((r = s_parse_seconds(optarg, "--timeout", 1, 3600, &v)))
				return r;
			req.timeout_ms = v * 1000;
			break;
		case OPT_DEBUG:
			cp_set_debug(s_debug = true);
			break;
		case OPT_CACHE_DIR:
			if (!*optarg)
				return s_fail(CP_ECONFIG, "--cache-dir needs a non-empty path");
			req.cache_dir = optarg;
			break;
		case OPT_POLICY:
			req.flags.policy = optarg;
			break;
		case OPT_POLICY_ARNS:
			req.flags.policy_arns = optarg;
			break;
		case OPT_TAGS:
			req.flags.tags = optarg;
			break;
		case OPT_TRANSITIVE_TAG_KEYS:
			req.flags.transitive_tag_keys = optarg;
			break;
		case OPT_SOURCE_IDENTITY:
			req.flags.source_identity = optarg;
			break;
		case OPT_MFA_SERIAL:
			if (!*optarg)
				return s_fail(CP_ECONFIG, "--mfa-serial needs a non-empty serial number or ARN");
			req.flags.mfa_serial = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case OPT_ENV_ONLY:
			env_only = true;
			break;
		case OPT_NO_CACHE:
			req.no_cache = true;
			break;
		case OPT_REFRESH_MARGIN:
			if ((r = s_parse_seconds(optarg, "--refresh-margin", 0, 43200, &v)))
				return r;
			req.refresh_margin = (int)v;
			break;
		case ':':
			return s_fail(CP_ECONFIG, "option '%s' needs a value (see --help)", argv[optind - 1]);
		default:
			if (c < OPT_RA_FIRST || c > OPT_RA_LAST)
				return s_fail(CP_ECONFIG, "unknown option '%s' (see --help)", argv[optind - 1]);
			if (!*optarg)
				return s_fail(CP_ECONFIG, "--%s needs a non-empty value", opts[li].name);
			if (s_has_pin_value(optarg))
				return s_fail(CP_ECONFIG,
					      "--%s: the pkcs11: URI carries a pin-value, and a PIN never goes "
					      "in argv (every user can read it): use --rolesanywhere-pin-file, "
					      "--rolesanywhere-pin-command or the URI's pin-source",
					      opts[li].name);
			req.flags.rolesanywhere[c - OPT_RA_FIRST] = optarg;
			break;
		case 'h':
			for (size_t i = 0; i < sizeof s_usage / sizeof s_usage[0]; i++)
				fputs(s_usage[i], stdout);
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : s_fail(CP_EINTERNAL, "cannot write the help text");
		case 'V':
			printf("aws-credproc %s\n", CP_VERSION);
			return fflush(stdout) == 0 ? 0 : s_fail(CP_EINTERNAL, "cannot write the version");
		}
	}

	const char *command = optind < argc ? argv[optind++] : NULL;
	enum { CMD_JSON, CMD_ENV, CMD_EXPLAIN, CMD_CACHE_CLEAR, CMD_LIST, CMD_EXEC } cmd = CMD_JSON;
	if (!command)
		cmd = CMD_JSON;
	else if (strcmp(command, "env") == 0)
		cmd = CMD_ENV;
	else if (strcmp(command, "explain") == 0)
		cmd = CMD_EXPLAIN;
	else if (strcmp(command, "list") == 0)
		cmd = CMD_LIST;
	else if (strcmp(command, "cache") == 0) {
		if (optind >= argc || strcmp(argv[optind], "clear") != 0)
			return s_fail(CP_ECONFIG, "'cache' needs a subcommand: 'cache clear' (see --help)");
		optind++;
		cmd = CMD_CACHE_CLEAR;
	} else if (strcmp(command, "exec") == 0) {
		if (!exec_argv || !exec_argv[0])
			return s_fail(CP_ECONFIG, "'exec' needs a command after '--': aws-credproc exec "
				      "[OPTIONS] -- COMMAND [ARG]... (see --help)");
		cmd = CMD_EXEC;
	} else if (command[0] && command[0] != '-' && strlen(command) <= 64)
		return s_fail(CP_ECONFIG, "unknown command '%s'; did you mean --profile %s? (see --help)",
			      command, command);
	else
		return s_fail(CP_ECONFIG, "unknown command '%s' (see --help)", command);
	if (exec_argv && cmd != CMD_EXEC) /* e.g. --profile exec -- CMD */
		return s_fail(CP_ECONFIG, "unexpected argument '%s' (see --help)",
			      exec_argv[0] ? exec_argv[0] : "--");
	if (env_only && cmd != CMD_EXEC)
		return s_fail(CP_ECONFIG, "--env-only goes with 'exec' only (see --help)");
	if (optind < argc)
		return s_fail(CP_ECONFIG, "unexpected argument '%s' (see --help)", argv[optind]);
	if (req.profile && !*req.profile)
		return s_fail(CP_ECONFIG, "--profile needs a non-empty name");
	if (json && cmd != CMD_LIST)
		return s_fail(CP_ECONFIG, "--json applies to 'list' only");
	if (cmd == CMD_LIST && (req.profile || req.flags.role_arn || req.flags.source_profile))
		return s_fail(CP_ECONFIG, "'list' lists every profile: it takes no --profile, --role-arn "
					  "or --source-profile");

	/* Recursion guard: the profile that this invocation stands for. */
	const char *self = req.profile ? req.profile
			   : req.flags.source_profile ? req.flags.source_profile
			   : "default";
	s_set_profile_hint(self);
	if ((r = cp_chain_guard(self, &err)))
		return s_fail(r, "%s", err.msg);

	if (cmd == CMD_EXPLAIN || cmd == CMD_CACHE_CLEAR || cmd == CMD_LIST) {
		cp_buf out = {0};
		if (cmd == CMD_EXPLAIN) {
			r = cp_explain(&req, &cp_effects_system, &out, &err);
			if (!r && s_hint() && cp_buf_printf(&out, "note: %s\n", s_profile_hint))
				r = cp_error_set(&err, CP_EINTERNAL, "out of memory");
		} else if (cmd == CMD_LIST) {
			r = cp_list(&req, &cp_effects_system, json, &out, &err);
		} else {
			int removed = 0;
			bool all = !req.profile && !req.flags.role_arn;
			r = cp_cache_clear_cmd(&req, &cp_effects_system, all, &removed, &err);
			if (!r && cp_buf_printf(&out, "removed %d cache entr%s\n", removed,
						removed == 1 ? "y" : "ies"))
				r = cp_error_set(&err, CP_EINTERNAL, "out of memory");
		}
		if (r) {
			cp_buf_free(&out);
			return s_fail(r, "%s", err.msg);
		}
		int e = s_write_all(out.data ? out.data : "");
		cp_buf_free(&out);
		if (e)
			return s_fail(CP_EINTERNAL, "cannot write to stdout: %s", strerror(e));
		s_flush_warnings();
		cp_status_report(0, NULL);
		return 0;
	}

	if (cmd == CMD_EXEC) {
		/* COMMAND's own stderr follows: our warnings go out as they come. */
		s_flush_warnings();
		cp_set_warn_handler(s_warn_now, NULL);
		r = cp_exec_run(&req, env_only, exec_argv, s_warn_line, &err);
		if (err.msg[0])
			return s_fail(r, "%s", err.msg);
		return r;
	}

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = cp_get_credentials(&req, &cp_effects_system, &creds, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cp_debug("resolved in %ld ms", (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	if (r)
		return s_fail(r, "%s", err.msg[0] ? err.msg : "failed without a message (a bug)");

	char *doc = cmd == CMD_ENV ? cp_output_env(&creds) : cp_output_json(&creds);
	cp_creds_clear(&creds);
	if (!doc)
		return s_fail(CP_EINTERNAL, "out of memory");
	int e = s_write_all(doc);
	cp_free_secret(doc);
	if (e)
		return s_fail(CP_EINTERNAL, "cannot write the credentials to stdout: %s", strerror(e));
	s_flush_warnings();
	if (isatty(STDERR_FILENO) && s_hint())
		fprintf(stderr, "aws-credproc: warning: %s\n", s_profile_hint);
	cp_status_report(0, NULL);
	return 0;
}
