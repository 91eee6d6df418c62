/* test-credproc.c - the whole chain (config -> cache -> source -> roles)
 * on a fake clock and a fake network: the reuse window and half-life rule,
 * stale-if-error, the 1-hour cap of chained roles, clock skew, MFA session
 * reuse, retries inside the deadline and every exit class. Nothing sleeps:
 * the fake clock's sleep advances it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "credproc.h"
#include "retry.h"
#include "tap.h"

/* ---- the fake clock ------------------------------------------------------ */

static int64_t s_now = 1900000000; /* Unix seconds */
static int64_t s_mono = 1000000;   /* ms */
static int s_sleeps;
static long s_slept_ms;

static int64_t s_fake_now(const cp_clock *c)
{
	(void)c;
	return s_now;
}

static int64_t s_fake_mono(const cp_clock *c)
{
	(void)c;
	return s_mono;
}

static void s_fake_sleep(const cp_clock *c, long ms)
{
	(void)c;
	s_sleeps++;
	s_slept_ms += ms;
	s_mono += ms;
	s_now += ms / 1000;
}

static const cp_clock s_clock = {.now = s_fake_now, .mono_ms = s_fake_mono, .sleep_ms = s_fake_sleep};

static void s_advance(int64_t seconds)
{
	s_now += seconds;
	s_mono += seconds * 1000;
}

/* ---- the fake network: scripted answers, recorded calls ------------------- */

typedef struct s_answer {
	int status;          /* 0: credentials */
	cp_cause cause;
	const char *code;
	int64_t server_date; /* relative to s_now when set */
	long http_status;
	int lifetime;        /* seconds, for credentials */
	long take_ms;        /* the call takes this long on the fake clock */
} s_answer;

#define S_MAX_SCRIPT 16
static s_answer s_script[S_MAX_SCRIPT];
static int s_nscript, s_next;

typedef struct s_call {
	char op[24];
	char role[128];
	int duration;
	int64_t clock_offset;
	char token_code[16];
	char signer[32]; /* access key id that signed it */
} s_call;

#define S_MAX_CALLS 32
static s_call s_calls[S_MAX_CALLS];
static int s_ncalls, s_serial;
static bool s_net_broken;

static void s_reset(void)
{
	s_nscript = s_next = s_ncalls = s_sleeps = 0;
	s_slept_ms = 0;
	s_net_broken = false;
}

static void s_push(s_answer a)
{
	if (s_nscript < S_MAX_SCRIPT)
		s_script[s_nscript++] = a;
}

static int s_count(const char *op)
{
	int n = 0;
	for (int i = 0; i < s_ncalls; i++)
		n += strcmp(s_calls[i].op, op) == 0;
	return n;
}

/* The next scripted answer (credentials of 3600 s when the script is done). */
static int s_answer_next(const char *op, const char *role, int duration, int64_t offset,
			 const char *code, const cp_creds *signer, cp_creds *ret, cp_error *err)
{
	s_answer a = s_next < s_nscript ? s_script[s_next++] : (s_answer){.lifetime = 3600};
	if (s_ncalls < S_MAX_CALLS) {
		s_call *c = &s_calls[s_ncalls++];
		snprintf(c->op, sizeof c->op, "%s", op);
		snprintf(c->role, sizeof c->role, "%s", role ? role : "");
		snprintf(c->token_code, sizeof c->token_code, "%s", code ? code : "");
		snprintf(c->signer, sizeof c->signer, "%s", signer ? signer->access_key_id : "");
		c->duration = duration;
		c->clock_offset = offset;
	}
	s_mono += a.take_ms;
	if (a.status) {
		cp_error_set(err, a.status, "fake %s: %s", op, a.code ? a.code : "failure");
		err->cause = a.cause;
		err->remote.http_status = a.http_status;
		err->remote.date = a.server_date ? s_now + a.server_date : 0;
		snprintf(err->remote.code, sizeof err->remote.code, "%s", a.code ? a.code : "");
		return a.status;
	}
	char akid[32];
	snprintf(akid, sizeof akid, "ASIAFAKE%012d", ++s_serial);
	ret->access_key_id = cp_strdup(akid);
	ret->secret_access_key = cp_strdup("fake-secret");
	ret->session_token = cp_strdup("fake-token");
	ret->expiration = s_now + a.lifetime;
	return 0;
}

static int s_assume_role(const cp_sts_endpoint *ep, const cp_creds *source,
			 const cp_assume_role_input *in, cp_creds *ret, cp_error *err)
{
	return s_answer_next("AssumeRole", in->role_arn, in->duration_seconds, ep->clock_offset,
			     in->token_code, source, ret, err);
}

static int s_get_session_token(const cp_sts_endpoint *ep, const cp_creds *source,
			       const cp_session_token_input *in, cp_creds *ret, cp_error *err)
{
	return s_answer_next("GetSessionToken", in->serial_number, in->duration_seconds,
			     ep->clock_offset, in->token_code, source, ret, err);
}

static int s_web_identity(const cp_sts_endpoint *ep, const cp_web_identity_input *in, cp_creds *ret,
			  cp_error *err)
{
	return s_answer_next("AssumeRoleWithWebIdentity", in->role_arn, in->duration_seconds,
			     ep->clock_offset, NULL, NULL, ret, err);
}

static int s_imds(const cp_imds_options *o, cp_creds *ret, cp_error *err)
{
	(void)o;
	return s_answer_next("Imds", NULL, 0, 0, NULL, NULL, ret, err);
}

static int s_imds_region(const cp_imds_options *o, char **ret, cp_error *err)
{
	(void)o;
	(void)err;
	*ret = cp_strdup("eu-central-1");
	return 0;
}

static int s_ecs(const cp_ecs_options *o, cp_creds *ret, cp_error *err)
{
	(void)o;
	return s_answer_next("Container", NULL, 0, 0, NULL, NULL, ret, err);
}

static int s_sso(const cp_sso_options *o, cp_creds *ret, cp_error *err)
{
	return s_answer_next("GetRoleCredentials", o->role_name, 0, 0, NULL, NULL, ret, err);
}

static const cp_net_ops s_fake_net = {
	.abi = CP_NET_ABI,
	.assume_role = s_assume_role,
	.imds_credentials = s_imds,
	.imds_region = s_imds_region,
	.ecs_credentials = s_ecs,
	.assume_role_with_web_identity = s_web_identity,
	.get_session_token = s_get_session_token,
	.version = "fake",
	.sso_credentials = s_sso,
};

static const cp_net_ops *s_net(cp_error *err)
{
	if (s_net_broken) {
		cp_error_set(err, CP_EINTERNAL, "cannot load the network module (fake)");
		return NULL;
	}
	return &s_fake_net;
}

static const cp_effects s_fx = {.net = s_net, .clock = &s_clock};

/* ---- set-up ------------------------------------------------------------- */

static char s_tmp[64], s_cache[128], s_cfg[128], s_warnings[4096];

static void s_on_warn(void *ud, const char *msg)
{
	(void)ud;
	size_t n = strlen(s_warnings);
	snprintf(s_warnings + n, sizeof s_warnings - n, "%s\n", msg);
}

static void s_config(const char *text)
{
	FILE *f = fopen(s_cfg, "w");
	fputs(text, f);
	fclose(f);
}

/* Runs the chain for profile with the fake effects. */
static int s_run(const char *profile, cp_creds *ret, cp_error *err)
{
	cp_request req = {.profile = profile, .cache_dir = s_cache, .refresh_margin = -1,
			  .timeout_ms = 30000};
	cp_creds_clear(ret);
	cp_error_clear(err);
	s_warnings[0] = '\0';
	return cp_get_credentials(&req, &s_fx, ret, err);
}

static void s_clear_cache(void)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_cache);
	if (system(cmd) != 0)
		tap_diag("rm failed");
}

static const char *s_role_profile =
	"[profile src]\naws_access_key_id = AKIASOURCE\naws_secret_access_key = s3cr3t\n"
	"[profile role]\nrole_arn = arn:aws:iam::111122223333:role/r\nsource_profile = src\n"
	"region = eu-west-1\n"
	"[profile short]\nrole_arn = arn:aws:iam::111122223333:role/short\nsource_profile = src\n"
	"region = eu-west-1\n"
	"[profile chain]\nrole_arn = arn:aws:iam::444455556666:role/second\nsource_profile = role\n"
	"duration_seconds = 7200\nregion = eu-west-1\n"
	"[profile mfa]\nrole_arn = arn:aws:iam::111122223333:role/mfa\nsource_profile = src\n"
	"mfa_serial = arn:aws:iam::111122223333:mfa/me\ncredproc_mfa_process = printf 123456\n"
	"region = eu-west-1\n"
	"[profile envsrc]\nrole_arn = arn:aws:iam::111122223333:role/r\ncredential_source = Environment\n"
	"region = eu-west-1\n"
	"[profile imds]\nrole_arn = arn:aws:iam::111122223333:role/r\ncredential_source = Ec2InstanceMetadata\n"
	"[profile ecs]\ncredential_source = EcsContainer\nrole_arn = arn:aws:iam::111122223333:role/r\n"
	"region = eu-west-1\n"
	"[profile static]\naws_access_key_id = AKIASTATIC\naws_secret_access_key = s\n"
	"[profile sso]\nsso_session = s\nsso_account_id = 111122223333\nsso_role_name = Dev\n"
	"[sso-session s]\nsso_start_url = https://d-1.awsapps.com/start\nsso_region = eu-west-1\n"
	"[profile broken]\nrole_arn = arn:aws:iam::111122223333:role/r\n";

/* ---- the cases ------------------------------------------------------------ */

static void s_reuse_window(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_reset();
	s_clear_cache();
	int r = s_run("role", &c, &err);
	char first[32];
	snprintf(first, sizeof first, "%s", c.access_key_id ? c.access_key_id : "");
	tap_ok(r == 0 && s_count("AssumeRole") == 1 && c.expiration == s_now + 3600,
	       "miss: one AssumeRole, credentials of 3600 s (r=%d %s)", r, err.msg);
	tap_ok(s_calls[0].duration == 0 && strcmp(s_calls[0].signer, "AKIASOURCE") == 0,
	       "signed with the source profile's keys, duration left to STS");
	s_advance(2399); /* 1201 s left, margin 1200 */
	r = s_run("role", &c, &err);
	tap_ok(r == 0 && s_count("AssumeRole") == 1 && strcmp(c.access_key_id, first) == 0,
	       "1201 s left of 3600: a hit, no call");
	s_advance(2); /* 1199 s left */
	r = s_run("role", &c, &err);
	tap_ok(r == 0 && s_count("AssumeRole") == 2 && strcmp(c.access_key_id, first) != 0,
	       "1199 s left: inside the 1200 s margin, refreshed");
	s_advance(10);
	r = s_run("role", &c, &err);
	tap_ok(r == 0 && s_count("AssumeRole") == 2, "the refreshed entry is a hit");
	cp_creds_clear(&c);
}

static void s_half_life(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_reset();
	s_clear_cache();
	s_push((s_answer){.lifetime = 600});
	int r = s_run("short", &c, &err);
	tap_ok(r == 0 && strstr(s_warnings, "expire in 600 seconds"),
	       "fresh credentials of 600 s: one call, the short-lifetime warning (%s)", s_warnings);
	s_advance(299); /* 301 s left: margin min(1200, 300) */
	r = s_run("short", &c, &err);
	tap_ok(r == 0 && s_count("AssumeRole") == 1 && !s_warnings[0],
	       "301 s left of 600: a hit (half-life rule), no warning on a hit");
	s_push((s_answer){.lifetime = 600});
	s_advance(2); /* 299 s left */
	r = s_run("short", &c, &err);
	tap_ok(r == 0 && s_count("AssumeRole") == 2, "299 s left of 600: refreshed");
	cp_creds_clear(&c);
}

/* Fills the cache for `profile` with credentials that have `left` seconds
 * left and sit inside the refresh margin. */
static void s_prime_inside_margin(const char *profile, int64_t left)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_clear_cache();
	s_reset();
	s_run(profile, &c, &err);
	s_advance(3600 - left);
	cp_creds_clear(&c);
	s_reset();
}

static void s_stale_if_error(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_answer down = {.status = CP_ETRANSPORT, .cause = CP_CAUSE_NO_ANSWER, .code = "ConnectionRefused"};

	s_prime_inside_margin("role", 1000);
	for (int i = 0; i < 3; i++)
		s_push(down);
	int r = s_run("role", &c, &err);
	tap_ok(r == 0 && c.expiration == s_now + 1000 && strstr(s_warnings, "printing the cached credentials"),
	       "STS unreachable, 1000 s left: the cached credentials, with a warning (r=%d %s)", r, err.msg);
	tap_ok(s_count("AssumeRole") == 3 && s_sleeps == 2,
	       "3 attempts, 2 backoffs on the fake clock (calls %d, sleeps %d)", s_count("AssumeRole"),
	       s_sleeps);

	s_prime_inside_margin("role", 1000);
	s_push((s_answer){.status = CP_EREFUSED, .cause = CP_CAUSE_REFUSED, .code = "AccessDenied",
			  .http_status = 403});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_EREFUSED && !c.access_key_id && s_count("AssumeRole") == 1,
	       "AccessDenied with a valid entry cached: exit 4, never hidden, not retried (%s)", err.msg);

	s_prime_inside_margin("role", 200);
	for (int i = 0; i < 3; i++)
		s_push(down);
	r = s_run("role", &c, &err);
	tap_ok(r == CP_ETRANSPORT && !c.access_key_id,
	       "STS unreachable with 200 s left (< 300): exit 5 (%s)", err.msg);
	cp_creds_clear(&c);
}

static void s_retries(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_clear_cache();
	s_reset();
	s_push((s_answer){.status = CP_ETRANSPORT, .cause = CP_CAUSE_THROTTLED, .code = "Throttling",
			  .http_status = 400});
	s_push((s_answer){.status = CP_ETRANSPORT, .cause = CP_CAUSE_SERVER, .http_status = 503});
	int r = s_run("role", &c, &err);
	tap_ok(r == 0 && s_count("AssumeRole") == 3 && s_sleeps == 2,
	       "throttled, then 503, then credentials: 3 calls (r=%d %s)", r, err.msg);
	tap_ok(s_slept_ms < 400 + 800, "full-jitter backoff below 400 ms then 800 ms (%ld ms)", s_slept_ms);

	s_clear_cache();
	s_reset();
	s_push((s_answer){.status = CP_ETRANSPORT, .cause = CP_CAUSE_TLS, .code = "TlsFailure"});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_ETRANSPORT && s_count("AssumeRole") == 1, "a TLS failure is not retried (exit 5)");

	s_clear_cache();
	s_reset();
	s_push((s_answer){.status = CP_ETRANSPORT, .cause = CP_CAUSE_MALFORMED, .http_status = 200});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_ETRANSPORT && s_count("AssumeRole") == 1, "a malformed reply is not retried");

	/* The deadline: each attempt takes 20 s of a 30 s budget. */
	s_clear_cache();
	s_reset();
	for (int i = 0; i < 3; i++)
		s_push((s_answer){.status = CP_ETRANSPORT, .cause = CP_CAUSE_NO_ANSWER, .take_ms = 20000});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_ETRANSPORT && s_count("AssumeRole") == 2,
	       "attempts of 20 s in a 30 s deadline: 2 calls, none started after it (%d)",
	       s_count("AssumeRole"));
	cp_creds_clear(&c);
}

static void s_chaining(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_clear_cache();
	s_reset();
	s_push((s_answer){.lifetime = 3600}); /* role */
	s_push((s_answer){.status = CP_EREFUSED, .cause = CP_CAUSE_CHAINED_ROLE_CAP, .code = "ValidationError",
			  .http_status = 400});
	int r = s_run("chain", &c, &err);
	tap_ok(r == 0 && s_ncalls == 3 && s_calls[1].duration == 7200 && s_calls[2].duration == 3600,
	       "a chained role asked for 7200 s is asked again for 3600 s (r=%d %s)", r, err.msg);
	tap_ok(strstr(s_warnings, "caps sessions of chained roles at 1 hour") != NULL,
	       "with a warning: %s", s_warnings);
	tap_ok(strcmp(s_calls[1].signer, s_calls[2].signer) == 0 && strncmp(s_calls[1].signer, "ASIA", 4) == 0,
	       "the second role is signed with the first role's session");
	cp_creds_clear(&c);
}

static void s_clock_skew(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_clear_cache();
	s_reset();
	s_push((s_answer){.status = CP_EREFUSED, .cause = CP_CAUSE_CLOCK_SKEW, .code = "SignatureDoesNotMatch",
			  .server_date = 600, .http_status = 403});
	int r = s_run("role", &c, &err);
	tap_ok(r == 0 && s_ncalls == 2 && s_calls[0].clock_offset == 0 && s_calls[1].clock_offset == 600,
	       "clock 10 min behind: one retry signed with STS's time (r=%d %s)", r, err.msg);
	tap_ok(strstr(s_warnings, "about 10 min behind") != NULL, "the warning says so: %s", s_warnings);

	s_clear_cache();
	s_reset();
	s_push((s_answer){.status = CP_EREFUSED, .cause = CP_CAUSE_CLOCK_SKEW, .code = "SignatureDoesNotMatch",
			  .server_date = 100, .http_status = 403});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_EREFUSED && s_ncalls == 1, "a skew of 100 s (< 240) is a plain refusal: exit 4");

	s_clear_cache();
	s_reset();
	for (int i = 0; i < 2; i++)
		s_push((s_answer){.status = CP_EREFUSED, .cause = CP_CAUSE_CLOCK_SKEW,
				  .code = "SignatureDoesNotMatch", .server_date = -900, .http_status = 403});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_EREFUSED && s_ncalls == 2 && strstr(err.msg, "about 15 min ahead of"),
	       "refused again after the correction: once only, the message names the skew (%s)", err.msg);
	cp_creds_clear(&c);
}

static void s_mfa_reuse(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	s_clear_cache();
	s_reset();
	s_push((s_answer){.lifetime = 43200}); /* GetSessionToken */
	s_push((s_answer){.lifetime = 3600});  /* AssumeRole */
	int r = s_run("mfa", &c, &err);
	tap_ok(r == 0 && s_count("GetSessionToken") == 1 && s_count("AssumeRole") == 1 &&
		       strcmp(s_calls[0].token_code, "123456") == 0 && !s_calls[1].token_code[0],
	       "MFA: GetSessionToken with the code, then AssumeRole with the session (r=%d %s)", r, err.msg);
	s_advance(3000); /* the role is inside its margin; the MFA session is not */
	r = s_run("mfa", &c, &err);
	tap_ok(r == 0 && s_count("GetSessionToken") == 1 && s_count("AssumeRole") == 2,
	       "role refreshed with the cached MFA session: no new code (GST %d, AR %d)",
	       s_count("GetSessionToken"), s_count("AssumeRole"));
	s_advance(3000);
	s_push((s_answer){.status = CP_EREFUSED, .cause = CP_CAUSE_EXPIRED_SESSION, .code = "ExpiredToken",
			  .http_status = 403});
	r = s_run("mfa", &c, &err);
	tap_ok(r == 0 && s_count("GetSessionToken") == 2 && s_count("AssumeRole") == 4,
	       "the cached MFA session refused as expired: a new one, then the role (r=%d %s)", r, err.msg);
	cp_creds_clear(&c);
}

static void s_exit_classes(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	int r;

	s_clear_cache();
	s_reset();
	r = s_run("nosuch", &c, &err);
	tap_ok(r == CP_ECONFIG && strstr(err.msg, "does not exist") && s_ncalls == 0,
	       "exit 2: a missing profile (%s)", err.msg);
	r = s_run("broken", &c, &err);
	tap_ok(r == CP_ECONFIG && s_ncalls == 0, "exit 2: role_arn without a source (%s)", err.msg);

	unsetenv("AWS_ACCESS_KEY_ID");
	r = s_run("envsrc", &c, &err);
	tap_ok(r == CP_ESOURCE && s_ncalls == 0, "exit 3: credential_source = Environment, none set (%s)",
	       err.msg);
	s_push((s_answer){.status = CP_ESOURCE, .code = "NoInstanceProfile"});
	r = s_run("imds", &c, &err);
	tap_ok(r == CP_ESOURCE && s_count("Imds") == 1 && s_count("AssumeRole") == 0,
	       "exit 3: no instance profile, no role assumed (%s)", err.msg);

	s_push((s_answer){.status = CP_EREFUSED, .cause = CP_CAUSE_REFUSED, .code = "AccessDenied",
			  .http_status = 403});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_EREFUSED, "exit 4: AccessDenied (%s)", err.msg);

	for (int i = 0; i < 3; i++)
		s_push((s_answer){.status = CP_ETRANSPORT, .cause = CP_CAUSE_NO_ANSWER});
	r = s_run("role", &c, &err);
	tap_ok(r == CP_ETRANSPORT, "exit 5: no answer after the retries (%s)", err.msg);

	s_push((s_answer){.status = CP_EINTERACTIVE, .code = "NoSsoToken"});
	r = s_run("sso", &c, &err);
	tap_ok(r == CP_EINTERACTIVE && s_count("GetRoleCredentials") == 1, "exit 6: SSO needs a login (%s)",
	       err.msg);

	s_net_broken = true;
	r = s_run("role", &c, &err);
	tap_ok(r == CP_EINTERNAL && strstr(err.msg, "network module"), "exit 1: the network side cannot load (%s)",
	       err.msg);
	s_net_broken = false;

	s_reset();
	r = s_run("static", &c, &err);
	tap_ok(r == 0 && s_ncalls == 0 && strcmp(c.access_key_id, "AKIASTATIC") == 0 && !c.expiration,
	       "static keys: printed as they are, no network, no expiry");
	r = s_run("ecs", &c, &err);
	tap_ok(r == 0 && s_count("Container") == 1 && s_count("AssumeRole") == 1,
	       "EcsContainer then the role (r=%d %s)", r, err.msg);
	r = s_run("imds", &c, &err);
	tap_ok(r == 0 && s_count("Imds") == 1 && s_count("AssumeRole") == 2,
	       "Ec2InstanceMetadata, region from the instance, then the role (r=%d %s)", r, err.msg);
	cp_creds_clear(&c);
}


/* list: the time left of a cached profile as the clock moves, the other
 * profiles' sources, the broken one's error; never the network (the
 * network table is broken while it runs), never a secret. */
static bool s_list_has(const char *out, const char *name, const char *needle)
{
	char head[64];
	snprintf(head, sizeof head, "\n%s ", name);
	const char *line = strstr(out, head);
	if (!line)
		return false;
	const char *end = strchr(line + 1, '\n');
	const char *hit = strstr(line, needle);
	return hit && (!end || hit < end);
}

static int s_list(cp_buf *out, cp_error *err)
{
	cp_request req = {.cache_dir = s_cache, .refresh_margin = -1, .timeout_ms = 30000};
	cp_buf_free(out);
	cp_error_clear(err);
	s_net_broken = true;
	int r = cp_list(&req, &s_fx, false, out, err);
	s_net_broken = false;
	return r;
}

static void s_list_cases(void)
{
	cp_creds c = {0};
	cp_error err = {0};
	cp_buf out = {0};
	s_reset();
	s_clear_cache();
	int r = s_list(&out, &err);
	tap_ok(r == 0 && out.data && s_list_has(out.data, "role", "none") &&
		       s_list_has(out.data, "static", "static keys"),
	       "list with no cache: 'none' for a role, static keys listed (r=%d %s)", r, err.msg);
	r = s_run("role", &c, &err);
	int calls = s_ncalls;
	r = r ? r : s_list(&out, &err);
	tap_ok(r == 0 && s_list_has(out.data, "role", "60 min left") &&
		       s_list_has(out.data, "role", "arn:aws:iam::111122223333:role/r") &&
		       s_list_has(out.data, "role", "role via src") && s_ncalls == calls,
	       "a fresh entry: '60 min left', the role and its source, no call");
	s_advance(2500); /* 1100 s left: inside the 1200 s margin */
	r = s_list(&out, &err);
	tap_ok(r == 0 && s_list_has(out.data, "role", "18 min left (renew)"),
	       "inside the margin: '18 min left (renew)'");
	s_advance(1100);
	r = s_list(&out, &err);
	tap_ok(r == 0 && s_list_has(out.data, "role", "expired"), "past its expiration: 'expired'");
	tap_ok(s_list_has(out.data, "broken", "error: ") && s_list_has(out.data, "chain", "role via role") &&
		       s_list_has(out.data, "imds", "role via IMDS") &&
		       s_list_has(out.data, "sso", "SSO") && s_list_has(out.data, "envsrc", "role via Environment"),
	       "every profile listed with its source, the broken one with its error");
	tap_ok(!strstr(out.data, "s3cr3t") && !strstr(out.data, "AKIASOURCE") && s_ncalls == calls,
	       "list shows no key and makes no call");
	cp_buf_free(&out);
	cp_creds_clear(&c);
}

int main(void)
{
	snprintf(s_tmp, sizeof s_tmp, "/tmp/test-credproc-XXXXXX");
	if (!mkdtemp(s_tmp)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(s_cache, sizeof s_cache, "%s/cache", s_tmp);
	snprintf(s_cfg, sizeof s_cfg, "%s/config", s_tmp);
	char cred[160];
	snprintf(cred, sizeof cred, "%s/credentials", s_tmp);
	s_config(s_role_profile);
	setenv("AWS_CONFIG_FILE", s_cfg, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
	static const char *const cleared[] = {
		"AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDPROC_CACHE_DIR",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_EC2_METADATA_DISABLED",
	};
	for (size_t i = 0; i < sizeof cleared / sizeof cleared[0]; i++)
		unsetenv(cleared[i]);
	cp_set_warn_handler(s_on_warn, NULL);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s_reuse_window();
	s_half_life();
	s_stale_if_error();
	s_retries();
	s_chaining();
	s_clock_skew();
	s_mfa_reuse();
	s_exit_classes();
	s_list_cases();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double real = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	tap_ok(real < 5.0, "the whole run sleeps on the fake clock only (%.2f s real)", real);

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
	if (system(cmd) != 0)
		tap_diag("cleanup failed");
	return tap_done();
}
