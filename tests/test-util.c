/* test-util.c - time, endpoints, output, nested processes, whole-file reads,
 * recursion guard, server text and URL userinfo in messages. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "endpoint.h"
#include "identity.h"
#include "output.h"
#include "process.h"
#include "tap.h"
#include "util.h"

static void s_time(void)
{
	int64_t t;
	char buf[21];
	tap_ok(cp_parse_iso8601("2021-08-05T19:58:02Z", &t) == 0 && t == 1628193482, "iso8601 Z");
	tap_ok(cp_parse_iso8601("2011-07-11T19:55:29.611Z", &t) == 0 && t == 1310414129, "fraction dropped");
	tap_ok(cp_parse_iso8601("2000-01-01T00:00:00-00:00", &t) == 0 && t == 946684800, "offset -00:00");
	tap_ok(cp_parse_iso8601("2000-01-01T02:00:00+02:00", &t) == 0 && t == 946684800, "offset +02:00");
	tap_ok(cp_parse_iso8601("2000-01-01 00:00:00", &t) != 0, "no zone refused");
	tap_ok(cp_parse_iso8601("2000-13-01T00:00:00Z", &t) != 0, "month 13 refused");
	tap_ok(cp_parse_iso8601("2000-01-01T00:00:00Zjunk", &t) != 0, "trailing junk refused");
	cp_format_iso8601(1628193482, buf);
	tap_ok(strcmp(buf, "2021-08-05T19:58:02Z") == 0, "format %s", buf);
}

static void s_endpoints(void)
{
	cp_config cfg;
	cp_error err = {0};
	cp_sts_target t = {0};
	char *region = NULL;
	cp_config_init(&cfg);
	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");

	tap_ok(cp_sts_endpoint_resolve(&cfg, NULL, NULL, &t, &err) == 0 &&
	       strcmp(t.url, "https://sts.amazonaws.com") == 0 && strcmp(t.signing_region, "us-east-1") == 0,
	       "no region: global endpoint signed for us-east-1");
	cp_sts_target_free(&t);
	tap_ok(cp_sts_endpoint_resolve(&cfg, NULL, "eu-west-1", &t, &err) == 0 &&
	       strcmp(t.url, "https://sts.eu-west-1.amazonaws.com") == 0, "regional endpoint");
	cp_sts_target_free(&t);
	tap_ok(cp_sts_endpoint_resolve(&cfg, NULL, "cn-north-1", &t, &err) == 0 &&
	       strcmp(t.url, "https://sts.cn-north-1.amazonaws.com.cn") == 0, "China partition");
	cp_sts_target_free(&t);
	tap_ok(cp_sts_endpoint_resolve(&cfg, NULL, "us-gov-west-1", &t, &err) == 0 &&
	       strcmp(t.url, "https://sts.us-gov-west-1.amazonaws.com") == 0, "GovCloud");
	cp_sts_target_free(&t);
	tap_ok(cp_sts_endpoint_resolve(&cfg, NULL, "evil.com/x", &t, &err) == CP_ECONFIG,
	       "malformed region refused: %s", err.msg);

	cp_config_set(&cfg, "p", "region", "us-west-2");
	cp_config_set(&cfg, "p", "endpoint_url", "http://127.0.0.1:1/");
	const cp_section *p = cp_config_profile(&cfg, "p");
	tap_ok(cp_region_configured(p, &region, &err) == 0 && region && strcmp(region, "us-west-2") == 0,
	       "region from the profile");
	free(region);
	setenv("AWS_DEFAULT_REGION", "eu-central-1", 1);
	tap_ok(cp_region_configured(p, &region, &err) == 0 && strcmp(region, "eu-central-1") == 0,
	       "AWS_DEFAULT_REGION beats the profile");
	free(region);
	setenv("AWS_REGION", "ap-south-1", 1);
	tap_ok(cp_region_configured(p, &region, &err) == 0 && strcmp(region, "ap-south-1") == 0,
	       "AWS_REGION beats AWS_DEFAULT_REGION");
	free(region);
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");

	tap_ok(cp_sts_endpoint_resolve(&cfg, p, "us-west-2", &t, &err) == 0 &&
	       strcmp(t.url, "http://127.0.0.1:1") == 0 && strcmp(t.signing_region, "us-west-2") == 0,
	       "profile endpoint_url");
	cp_sts_target_free(&t);
	/* [services s] sts = endpoint_url beats the profile's endpoint_url. */
	const char *svc = "[services s]\nsts =\n  endpoint_url = http://127.0.0.1:2\n";
	cp_config_parse(&cfg, svc, strlen(svc), CP_FILE_CONFIG, "test", &err);
	cp_config_set(&cfg, "p", "services", "s");
	p = cp_config_profile(&cfg, "p");
	int r = cp_sts_endpoint_resolve(&cfg, p, "us-west-2", &t, &err);
	tap_ok(r == 0 && strcmp(t.url, "http://127.0.0.1:2") == 0, "[services] sts endpoint_url (%s)",
	       r ? err.msg : t.url);
	cp_sts_target_free(&t);
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:3", 1);
	tap_ok(cp_sts_endpoint_resolve(&cfg, p, "us-west-2", &t, &err) == 0 &&
	       strcmp(t.url, "http://127.0.0.1:3") == 0, "AWS_ENDPOINT_URL beats config");
	cp_sts_target_free(&t);
	setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4", 1);
	tap_ok(cp_sts_endpoint_resolve(&cfg, p, "us-west-2", &t, &err) == 0 &&
	       strcmp(t.url, "http://127.0.0.1:4") == 0, "AWS_ENDPOINT_URL_STS beats AWS_ENDPOINT_URL");
	cp_sts_target_free(&t);
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	tap_ok(cp_sts_endpoint_resolve(&cfg, p, "us-west-2", &t, &err) == 0 &&
	       strcmp(t.url, "https://sts.us-west-2.amazonaws.com") == 0,
	       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	cp_sts_target_free(&t);
	unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	setenv("AWS_ENDPOINT_URL_STS", "ftp://x", 1);
	tap_ok(cp_sts_endpoint_resolve(&cfg, p, "us-west-2", &t, &err) == CP_ECONFIG,
	       "non-HTTP endpoint refused: %s", err.msg);
	unsetenv("AWS_ENDPOINT_URL_STS");
	unsetenv("AWS_ENDPOINT_URL");

	char *imds = NULL;
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	tap_ok(cp_imds_endpoint(NULL, &imds, &err) == 0 && strcmp(imds, "http://169.254.169.254") == 0,
	       "default IMDS endpoint");
	free(imds);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:5/", 1);
	tap_ok(cp_imds_endpoint(NULL, &imds, &err) == 0 && strcmp(imds, "http://127.0.0.1:5") == 0,
	       "AWS_EC2_METADATA_SERVICE_ENDPOINT");
	free(imds);
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	cp_config_free(&cfg);
}

static void s_output(void)
{
	cp_creds c = {.access_key_id = "AKID", .secret_access_key = "S'ECRET", .session_token = "TOK",
		      .expiration = 1628193482};
	char *j = cp_output_json(&c);
	cJSON *d = cJSON_Parse(j);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "Version");
	tap_ok(d && cJSON_IsNumber(v) && v->valueint == 1 &&
	       strcmp(cJSON_GetObjectItem(d, "Expiration")->valuestring, "2021-08-05T19:58:02Z") == 0 &&
	       strcmp(cJSON_GetObjectItem(d, "SessionToken")->valuestring, "TOK") == 0 &&
	       strstr(j, "\"Version\":\t1") != NULL,
	       "JSON document");
	cJSON_Delete(d);
	free(j);
	cp_creds s = {.access_key_id = "AKID", .secret_access_key = "SECRET"};
	j = cp_output_json(&s);
	tap_ok(j && !strstr(j, "Expiration") && !strstr(j, "SessionToken"), "static keys: no Expiration, no token");
	free(j);
	j = cp_output_env(&c);
	tap_ok(j && strstr(j, "export AWS_SECRET_ACCESS_KEY='S'\\''ECRET'\n") &&
	       strstr(j, "export AWS_CREDENTIAL_EXPIRATION='2021-08-05T19:58:02Z'\n"), "env lines quoted");
	free(j);
	j = cp_output_env(&s);
	tap_ok(j && strstr(j, "unset AWS_SESSION_TOKEN\n") && strstr(j, "unset AWS_ACCOUNT_ID\n"),
	       "env, static keys: unset AWS_SESSION_TOKEN and AWS_ACCOUNT_ID");
	free(j);
	cp_creds a = {.access_key_id = "AKID", .secret_access_key = "S", .session_token = "T",
		      .account_id = "123456789012"};
	j = cp_output_env(&a);
	tap_ok(j && strstr(j, "export AWS_ACCOUNT_ID='123456789012'\n") && !strstr(j, "unset AWS_ACCOUNT_ID"),
	       "env with an account id: export AWS_ACCOUNT_ID");
	free(j);
}

static void s_process(void)
{
	const char *dir = tap_conformance_dir();
	static const struct {
		const char *file;
		int ok;
	} cases[] = {
		{"static.json", 1}, {"nonexpire.json", 1}, {"longsessiontoken.json", 1}, {"verybad.json", 1},
		{"expired.json", 0}, {"malformed.json", 0}, {"missingkey.json", 0}, {"missingsecret.json", 0},
		{"wrongversion.json", 0},
	};
	if (!dir) {
		tap_skip_data("credential-process fixtures: conformance data not found");
	} else {
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			char path[8192];
			size_t len;
			snprintf(path, sizeof path, "%s/credential-process/aws-sdk-go-v1/%s", dir, cases[i].file);
			char *text = tap_slurp(path, &len);
			cp_creds c = {0};
			cp_error err = {0};
			int r = text ? cp_process_parse(text, len, &c, &err) : -1;
			tap_ok(cases[i].ok ? r == 0 && c.access_key_id : r == CP_ESOURCE,
			       "credential_process output %s: %s", cases[i].file, r ? err.msg : "accepted");
			cp_creds_clear(&c);
			free(text);
		}
	}

	cp_creds c = {0};
	cp_error err = {0};
	int r = cp_process_run("p", "printf '{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}'",
			       5000, &c, &err);
	tap_ok(r == 0 && strcmp(c.access_key_id, "A") == 0, "nested process output read");
	cp_creds_clear(&c);
	/* Exited, but a grandchild left in the background holds its stdout:
	 * what it printed counts, without waiting for the deadline. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = cp_process_run("p", "(sleep 30 &); printf '{\"Version\":1,\"AccessKeyId\":\"G\",\"SecretAccessKey\":\"S\"}'",
			   5000, &c, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long dt = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	tap_ok(r == 0 && c.access_key_id && strcmp(c.access_key_id, "G") == 0 && dt < 4000,
	       "a grandchild holding stdout does not delay the output (%ld ms): %s", dt,
	       r ? err.msg : "read");
	cp_creds_clear(&c);
	r = cp_process_run("p", "exit 7", 5000, &c, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "exit status 7"), "failing process: %s", err.msg);
	r = cp_process_run("p", "sleep 10", 300, &c, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "did not finish"), "timeout: %s", err.msg);
	r = cp_process_run("p", "head -c 200000 /dev/zero", 5000, &c, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "more than"), "output cap: %s", err.msg);
	r = cp_process_run("p", "printf '6a person is needed\\n' >&$AWS_CREDPROC_STATUS_FD; exit 1", 5000, &c, &err);
	tap_ok(r == 6 && strcmp(err.msg, "a person is needed") == 0, "nested status propagates (r=%d): %s", r, err.msg);
}

/* cp_read_file: only regular files, refused at once otherwise (a FIFO held
 * open by a writer, a terminal, an endless device), never blocking. */
static void s_read_file(void)
{
	char dir[] = "/tmp/cp-test-util-XXXXXX", path[64], fifo[64];
	char *data = NULL;
	size_t len = 0;
	if (!mkdtemp(dir)) {
		tap_ok(0, "mkdtemp");
		return;
	}
	snprintf(path, sizeof path, "%s/regular", dir);
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	FILE *f = fopen(path, "w");
	fputs("[default]\n", f);
	fclose(f);
	tap_ok(cp_read_file(path, 100, &data, &len) == 0 && len == 10 && strcmp(data, "[default]\n") == 0,
	       "a regular file is read whole");
	free(data);
	data = NULL;
	f = fopen(path, "w");
	fclose(f);
	tap_ok(cp_read_file(path, 100, &data, &len) == 0 && len == 0 && data && strlen(data) == 0,
	       "an empty file: \"\", NUL-terminated");
	free(data);
	data = NULL;
	f = fopen(path, "w");
	fputs("[default]\n", f);
	fclose(f);
	tap_ok(cp_read_file(path, 9, &data, &len) == -1 && errno == EFBIG && !data,
	       "over the cap: -1, EFBIG");
	tap_ok(cp_read_file(dir, 100, &data, &len) == -1 && errno == EISDIR && !data,
	       "a directory: -1, EISDIR");
	char missing[80];
	snprintf(missing, sizeof missing, "%s/missing", dir);
	tap_ok(cp_read_file(missing, 100, &data, &len) == -1 && errno == ENOENT && !data,
	       "a missing file: -1 and ENOENT, not ENOENT as a status (2 is CP_ECONFIG)");
	alarm(10); /* a failure must not hang the suite */
	int held = mkfifo(fifo, 0600) == 0 ? open(fifo, O_RDWR | O_CLOEXEC) : -1;
	tap_ok(held >= 0 && cp_read_file(fifo, 100, &data, &len) == -1 && errno == EINVAL && !data,
	       "a FIFO held open by a writer: EINVAL at once");
	tap_ok(cp_read_file("/dev/zero", 100, &data, &len) == -1 && errno == EINVAL && !data,
	       "a character device: EINVAL");
	alarm(0);
	if (held >= 0)
		close(held);
	unlink(fifo);
	unlink(path);
	rmdir(dir);
}

static void s_guard(void)
{
	cp_error err = {0};
	unsetenv("AWS_CREDPROC_CHAIN");
	tap_ok(cp_chain_guard("a", &err) == 0 && strcmp(getenv("AWS_CREDPROC_CHAIN"), "a") == 0, "chain starts");
	tap_ok(cp_chain_guard("b", &err) == 0 && strcmp(getenv("AWS_CREDPROC_CHAIN"), "a,b") == 0, "chain grows");
	tap_ok(cp_chain_guard("a", &err) == CP_ECONFIG && strstr(err.msg, "'a'"), "revisit refused: %s", err.msg);
	setenv("AWS_CREDPROC_CHAIN", "a,b,c,d", 1);
	tap_ok(cp_chain_guard("e", &err) == CP_ECONFIG && strstr(err.msg, "more than 4"),
	       "fifth nesting refused: %s", err.msg);
	setenv("AWS_CREDPROC_CHAIN", "a,b,c", 1);
	tap_ok(cp_chain_guard("e", &err) == 0, "fourth nesting allowed");
	unsetenv("AWS_CREDPROC_CHAIN");
}

/* cp_safe_text(s, n) must equal want. */
static void s_safe_case(const char *s, size_t n, const char *want, const char *name)
{
	char out[256];
	size_t len = cp_safe_text(out, sizeof out, s, n);
	tap_ok(strcmp(out, want) == 0 && len == strlen(out), "safe text: %s", name);
}
#define S_SAFE(lit, want, name) s_safe_case(lit, sizeof lit - 1, want, name)

/* No byte of s is a C0 control, DEL, a raw 0x80-0x9F byte outside a valid
 * sequence, or a C1 control encoded as UTF-8 (C2 80..C2 9F). */
static bool s_printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return false;
	}
	return true;
}

static void s_safe_text(void)
{
	S_SAFE("AccessDenied: not allowed", "AccessDenied: not allowed", "plain ASCII kept");
	S_SAFE("\x1b[2Jcleared", "?[2Jcleared", "ESC [ 2 J");
	S_SAFE("\x1b]0;title\x07", "?]0;title?", "OSC title with BEL");
	S_SAFE("bell\x07", "bell?", "BEL");
	S_SAFE("\xc2\x9b" "31mred", "?31mred", "CSI as UTF-8 U+009B");
	S_SAFE("\x9b" "31mred", "?31mred", "raw byte 0x9B");
	S_SAFE("\xc2\x80\xc2\x85\xc2\x9f", "???", "U+0080, NEL U+0085, U+009F");
	S_SAFE("a\0b", "a?b", "NUL inside");
	S_SAFE("del\x7f", "del?", "DEL");
	S_SAFE("a\tb\r\nc", "a b  c", "tab, CR, LF become spaces");
	S_SAFE("\xc0\xaf", "??", "overlong '/' (C0 AF)");
	S_SAFE("\xe0\x80\x9b", "???", "overlong U+001B (E0 80 9B)");
	S_SAFE("\xc1\x9b", "??", "overlong (C1 9B)");
	S_SAFE("\xf0\x80\x80\x9b", "????", "overlong 4-byte");
	S_SAFE("\xed\xa0\x80", "???", "UTF-16 surrogate");
	S_SAFE("\xf4\x90\x80\x80", "????", "beyond U+10FFFF");
	S_SAFE("\xff\xfe", "??", "bytes never in UTF-8");
	S_SAFE("ab\xe2\x82", "ab??", "sequence cut short at the end");
	S_SAFE("\xe2\x82" "x", "??x", "sequence cut short by ASCII");
	S_SAFE("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0",
	       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\xa0", "printable UTF-8 kept");

	char small[6];
	cp_safe_text(small, sizeof small, "ab\xe2\x82\xac" "cd", 7);
	tap_ok(strcmp(small, "ab\xe2\x82\xac") == 0, "safe text: fits exactly");
	cp_safe_text(small, 5, "ab\xe2\x82\xac" "cd", 7);
	tap_ok(strcmp(small, "ab") == 0, "safe text: truncation never splits a character");
	char in[] = "x\x1b[2J\xc2\x9b\xe2\x82\xac";
	cp_safe_text(in, sizeof in, in, strlen(in));
	tap_ok(strcmp(in, "x?[2J?\xe2\x82\xac") == 0, "safe text: in place");

	/* Every message sink cleans what it is given, whatever the caller did. */
	cp_error err = {0};
	cp_error_set(&err, CP_EREFUSED, "'%s': %s", "\x1b[2J\x9b" "1;1H", "msg\xc2\x9b" "0m\x07\x7f");
	tap_ok(s_printable(err.msg) && strstr(err.msg, "1;1H") && strstr(err.msg, "msg"),
	       "cp_error_set cleans control characters: %s", err.msg);
	cp_error_prefix(&err, "endpoint '%s'", "\x1b" "c");
	tap_ok(s_printable(err.msg) && strncmp(err.msg, "endpoint '?c': ", 15) == 0,
	       "cp_error_prefix cleans control characters: %s", err.msg);
}

/* cp_strip_userinfo(s) must equal want. */
static void s_userinfo_case(const char *s, const char *want, const char *name)
{
	char out[512];
	size_t len = cp_strip_userinfo(out, sizeof out, s);
	if (!tap_ok(strcmp(out, want) == 0 && len == strlen(out), "userinfo: %s", name))
		tap_diag("got '%s'", out);
}

static void s_userinfo(void)
{
	s_userinfo_case("https://user:pass@host/path", "https://host/path", "user and password");
	s_userinfo_case("http://user@127.0.0.1:8080", "http://127.0.0.1:8080", "user only, port kept");
	s_userinfo_case("https://u:p@ss@host:1/x?y", "https://host:1/x?y", "'@' in the password");
	s_userinfo_case("http://u:p@[::1]:80/", "http://[::1]:80/", "IPv6 host");
	s_userinfo_case("https://:secretpass@host", "https://host", "empty user");
	s_userinfo_case("https://@host", "https://host", "empty userinfo");
	s_userinfo_case("https://host/a@b?c=d@e#f@g", "https://host/a@b?c=d@e#f@g", "'@' after the host kept");
	s_userinfo_case("https://sts.us-east-1.amazonaws.com", "https://sts.us-east-1.amazonaws.com",
			"no userinfo");
	s_userinfo_case("role arn:aws:iam::1:role/x, user@example.com", "role arn:aws:iam::1:role/x, user@example.com",
			"text without a URL");
	s_userinfo_case("cannot connect to 'http://u:secretpass@127.0.0.1:1/': refused (from HTTPS_PROXY 'http://p:pw@proxy:3128')",
			"cannot connect to 'http://127.0.0.1:1/': refused (from HTTPS_PROXY 'http://proxy:3128')",
			"every URL of a message");
	s_userinfo_case("STS endpoint https://a:b@h (from AWS_ENDPOINT_URL_STS)",
			"STS endpoint https://h (from AWS_ENDPOINT_URL_STS)", "userinfo ends at a space");
	s_userinfo_case("x:\n'https://a:b@h'\n", "x:\n'https://h'\n", "multi-line text");

	char small[16];
	cp_strip_userinfo(small, sizeof small, "https://user:secretpass@host.example/path");
	tap_ok(strncmp(small, "https://host.ex", 15) == 0 && strlen(small) == 15,
	       "userinfo: truncated output never holds the password: %s", small);
	char in[] = "at https://user:secretpass@host/ and http://x@y";
	cp_strip_userinfo(in, sizeof in, in);
	tap_ok(strcmp(in, "at https://host/ and http://y") == 0, "userinfo: in place: %s", in);

	cp_error err = {0};
	cp_error_set(&err, CP_ECONFIG, "endpoint '%s' (from %s) has an invalid port",
		     "https://user:secretpass@host:99999", "AWS_ENDPOINT_URL_STS");
	tap_ok(!strstr(err.msg, "secretpass") && !strstr(err.msg, "user") &&
	       strstr(err.msg, "'https://host:99999'"), "cp_error_set strips userinfo: %s", err.msg);
	char longurl[1300] = "https://user:";
	memset(longurl + 13, 'p', 1200);
	snprintf(longurl + 1213, sizeof longurl - 1213, "@host/");
	cp_error_set(&err, CP_ECONFIG, "endpoint '%s' is bad", longurl);
	tap_ok(!strstr(err.msg, "ppp") && strcmp(err.msg, "endpoint 'https://host/' is bad") == 0,
	       "cp_error_set strips a userinfo longer than the message: %.80s", err.msg);
	cp_error_set(&err, CP_ETRANSPORT, "refused");
	cp_error_prefix(&err, "endpoint '%s'", "http://user:secretpass@127.0.0.1:1");
	tap_ok(!strstr(err.msg, "secretpass") && strcmp(err.msg, "endpoint 'http://127.0.0.1:1': refused") == 0,
	       "cp_error_prefix strips userinfo: %s", err.msg);
}

/* cp_creds_set: copies, optional fields, replacing what was there. */
static void s_creds(void)
{
	cp_creds c = {0};
	char akid[] = "AKIA1", secret[] = "s1", token[] = "t1", account[] = "123456789012";
	tap_ok(cp_creds_set(&c, akid, secret, token, 1700000000, account) == 0 && c.access_key_id != akid &&
	       strcmp(c.access_key_id, "AKIA1") == 0 && strcmp(c.secret_access_key, "s1") == 0 &&
	       strcmp(c.session_token, "t1") == 0 && strcmp(c.account_id, "123456789012") == 0 &&
	       c.expiration == 1700000000, "creds set: copies of every field");
	tap_ok(cp_creds_set(&c, "AKIA2", "s2", NULL, 0, NULL) == 0 && strcmp(c.access_key_id, "AKIA2") == 0 &&
	       strcmp(c.secret_access_key, "s2") == 0 && !c.session_token && !c.account_id && c.expiration == 0,
	       "creds set: replaces what was there; NULL token and account are none");
	cp_creds_clear(&c);
}

/* cp_buf remembers a failed append: later appends leave it as it is and
 * fail too, and cp_buf_status says so once at the end. */
static void s_buf_failed(void)
{
	cp_buf b = {0};
	cp_buf_puts(&b, "kept");
	int r1 = cp_buf_append(&b, "x", SIZE_MAX); /* cannot fit: fails like OOM */
	int r2 = cp_buf_puts(&b, " not appended");
	int r3 = cp_buf_printf(&b, "%d", 42);
	int r4 = cp_buf_putc(&b, '!');
	tap_ok(r1 == CP_EINTERNAL && r2 == CP_EINTERNAL && r3 == CP_EINTERNAL && r4 == CP_EINTERNAL &&
		       b.failed && cp_buf_status(&b) == CP_EINTERNAL && strcmp(b.data, "kept") == 0,
	       "cp_buf: after a failed append every append fails, the content stays, status says so");
	cp_buf_free(&b);
	tap_ok(!b.failed && cp_buf_status(&b) == 0 && cp_buf_puts(&b, "again") == 0 &&
		       strcmp(b.data, "again") == 0,
	       "cp_buf: freed, it is usable again");
	cp_buf_free(&b);
	cp_buf k = {0};
	k.failed = true;
	tap_ok(cp_key_line(&k, "name", "value") == CP_EINTERNAL && !k.data,
	       "cp_key_line on a failed buffer: CP_EINTERNAL, nothing appended");
}

/* cp_error_retryable decides by the cause alone: a transport failure with
 * no answer, a 5xx or throttling; never a TLS failure, an oversized or
 * malformed reply, a refusal, nor anything not CP_ETRANSPORT; never by a code
 * string or an HTTP status. */
static void s_retryable(void)
{
	static const struct {
		int status;
		cp_cause cause;
		bool want;
	} t[] = {
		{CP_ETRANSPORT, CP_CAUSE_NO_ANSWER, true},   {CP_ETRANSPORT, CP_CAUSE_SERVER, true},
		{CP_ETRANSPORT, CP_CAUSE_THROTTLED, true},   {CP_ETRANSPORT, CP_CAUSE_TLS, false},
		{CP_ETRANSPORT, CP_CAUSE_TOO_LARGE, false},  {CP_ETRANSPORT, CP_CAUSE_MALFORMED, false},
		{CP_ETRANSPORT, CP_CAUSE_NONE, false},       {CP_EREFUSED, CP_CAUSE_REFUSED, false},
		{CP_EREFUSED, CP_CAUSE_CLOCK_SKEW, false},   {CP_ESOURCE, CP_CAUSE_NO_ANSWER, false},
		{CP_EINTERACTIVE, CP_CAUSE_EXPIRED_SESSION, false},
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		cp_error e = {.status = t[i].status, .cause = t[i].cause};
		/* What used to decide (HTTP status, code) must not matter. */
		e.remote.http_status = 503;
		snprintf(e.remote.code, sizeof e.remote.code, "Throttling");
		if (cp_error_retryable(&e) != t[i].want) {
			ok = false;
			tap_diag("status %d cause %d: retryable %d", t[i].status, (int)t[i].cause,
				 !t[i].want);
		}
	}
	tap_ok(ok, "cp_error_retryable: by cause alone (no answer, 5xx, throttled)");
	cp_error e = {0};
	cp_error_set_cause(&e, CP_ETRANSPORT, CP_CAUSE_SERVER, "x");
	cp_error_set(&e, CP_ETRANSPORT, "a new failure");
	tap_ok(e.cause == CP_CAUSE_NONE && !cp_error_retryable(&e),
	       "cp_error_set: a new error starts without a cause");
}

static void s_edit_distance(void)
{
	tap_ok(cp_edit_distance("writer", "writer") == 0, "cp_edit_distance: equal names: 0");
	tap_ok(cp_edit_distance("writer", "wirter") == 2, "cp_edit_distance: a swap is 2");
	tap_ok(cp_edit_distance("writer", "writers") == 1, "cp_edit_distance: one added: 1");
	tap_ok(cp_edit_distance("", "abc") == 3, "cp_edit_distance: from empty: the length");
	tap_ok(cp_edit_distance("kitten", "sitting") == 3, "cp_edit_distance: kitten/sitting: 3");
	char longname[80];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	tap_ok(cp_edit_distance(longname, "a") == SIZE_MAX, "cp_edit_distance: over 64 bytes: SIZE_MAX");
}

int main(void)
{
	s_edit_distance();
	s_creds();
	s_buf_failed();
	s_retryable();
	s_time();
	s_endpoints();
	s_output();
	s_process();
	s_read_file();
	s_guard();
	s_safe_text();
	s_userinfo();
	return tap_done();
}
