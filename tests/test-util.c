/* test-util.c - time, endpoints, output, nested processes, recursion guard. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"
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
		tap_skip("credential-process fixtures: conformance data not found");
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
	r = cp_process_run("p", "exit 7", 5000, &c, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "exit status 7"), "failing process: %s", err.msg);
	r = cp_process_run("p", "sleep 10", 300, &c, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "did not finish"), "timeout: %s", err.msg);
	r = cp_process_run("p", "head -c 200000 /dev/zero", 5000, &c, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "more than"), "output cap: %s", err.msg);
	r = cp_process_run("p", "printf '6a person is needed\\n' >&$AWS_CREDPROC_STATUS_FD; exit 1", 5000, &c, &err);
	tap_ok(r == 6 && strcmp(err.msg, "a person is needed") == 0, "nested status propagates (r=%d): %s", r, err.msg);
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

int main(void)
{
	s_time();
	s_endpoints();
	s_output();
	s_process();
	s_guard();
	return tap_done();
}
