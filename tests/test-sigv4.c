/* test-sigv4.c - SigV4 signer: the aws-c-auth and botocore conformance
 * suites (canonical request, string to sign, signature / Authorization
 * checked separately), plus direct checks of the API contract.
 *
 * The data is read at run time from the conformance directory
 * (conformance/sigv4/, see its README section 1); it is never copied here.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sigv4.h"
#include "tap.h"

#define MAX_REQ_HEADERS 512

/* Fixed inputs of the botocore suite (its README). */
#define BOTO_AKID "AKIDEXAMPLE"
#define BOTO_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define BOTO_REGION "us-east-1"
#define BOTO_SERVICE "service"
#define BOTO_TIME "2015-08-30T12:36:00Z"

/* ---- request.txt / .req parsing ---------------------------------------- */

typedef struct test_req {
	char *method;
	char *uri;
	cp_header headers[MAX_REQ_HEADERS];
	char *values[MAX_REQ_HEADERS];   /* owned copies behind headers[].value */
	char *names[MAX_REQ_HEADERS];
	size_t nheaders;
	char *body;
	size_t body_len;
} test_req;

static void s_req_free(test_req *r)
{
	free(r->method);
	free(r->uri);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	free(r->body);
	memset(r, 0, sizeof *r);
}

static char *s_dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		abort();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Parses "METHOD URI HTTP/1.1", "Name:value" lines (a line starting with
 * whitespace continues the previous value, kept as a folded line), a blank
 * line, then the body. Returns 0 or -1. */
static int s_parse_request(const char *text, size_t len, test_req *r)
{
	memset(r, 0, sizeof *r);
	const char *p = text, *end = text + len;
	bool first = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t n = (size_t)(eol - p);
		if (n && p[n - 1] == '\r')
			n--;
		const char *next = nl ? nl + 1 : end;
		if (first) {
			const char *sp1 = memchr(p, ' ', n);
			const char *sp2 = NULL;
			for (const char *q = p + n; q > p; q--)
				if (q[-1] == ' ') {
					sp2 = q - 1;
					break;
				}
			if (!sp1 || sp2 <= sp1)
				return -1;
			r->method = s_dupn(p, (size_t)(sp1 - p));
			r->uri = s_dupn(sp1 + 1, (size_t)(sp2 - sp1 - 1));
			first = false;
		} else if (n == 0) {
			p = next;
			r->body_len = (size_t)(end - p);
			r->body = s_dupn(p, r->body_len);
			return 0;
		} else if (p[0] == ' ' || p[0] == '\t') {
			if (r->nheaders == 0)
				return -1;
			char *old = r->values[r->nheaders - 1];
			size_t ol = strlen(old);
			char *v = malloc(ol + 1 + n + 1);
			if (!v)
				abort();
			memcpy(v, old, ol);
			v[ol] = '\n';
			memcpy(v + ol + 1, p, n);
			v[ol + 1 + n] = '\0';
			free(old);
			r->values[r->nheaders - 1] = v;
			r->headers[r->nheaders - 1].value = v;
		} else {
			const char *colon = memchr(p, ':', n);
			if (!colon || r->nheaders == MAX_REQ_HEADERS)
				return -1;
			size_t i = r->nheaders++;
			r->names[i] = s_dupn(p, (size_t)(colon - p));
			r->values[i] = s_dupn(colon + 1, n - (size_t)(colon - p) - 1);
			r->headers[i].name = r->names[i];
			r->headers[i].value = r->values[i];
		}
		p = next;
	}
	if (first)
		return -1;
	r->body = s_dupn("", 0);
	return 0;
}

/* ---- helpers ---------------------------------------------------------- */

/* Heap concatenation of a, b and c (any may be ""). */
static char *s_cat(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *p = malloc(la + lb + lc + 1);
	if (!p)
		abort();
	memcpy(p, a, la);
	memcpy(p + la, b, lb);
	memcpy(p + la + lb, c, lc + 1);
	return p;
}

/* Reads dir/name + suffix. */
static char *s_read(const char *dir, const char *name, const char *suffix)
{
	char *file = s_cat(name, suffix, "");
	char *path = s_cat(dir, "/", file);
	char *text = tap_slurp(path, NULL);
	free(file);
	free(path);
	return text;
}

/* Drops every '\r' in place (the aws-c-auth runner does the same). */
static char *s_strip_cr(char *s)
{
	if (!s)
		return NULL;
	char *o = s;
	for (char *i = s; *i; i++)
		if (*i != '\r')
			*o++ = *i;
	*o = '\0';
	return s;
}

static int s_check(const char *got, char *want, const char *what, const char *name)
{
	s_strip_cr(want);
	int ok = got && want && strcmp(got, want) == 0;
	tap_ok(ok, "%s %s", name, what);
	if (!ok) {
		tap_diag("expected:\n%s", want ? want : "(missing file)");
		tap_diag("got:\n%s", got ? got : "(nothing)");
	}
	free(want);
	return ok;
}

/* Value of the first line starting with prefix (case-insensitive), or NULL. */
static char *s_line_value(const char *text, const char *prefix)
{
	size_t pl = strlen(prefix);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n >= pl && strncasecmp(p, prefix, pl) == 0) {
			size_t vn = n - pl;
			while (vn && (p[pl + vn - 1] == '\r' || p[pl + vn - 1] == ' '))
				vn--;
			const char *v = p + pl;
			while (vn && *v == ' ') {
				v++;
				vn--;
			}
			return s_dupn(v, vn);
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static int s_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the subdirectories of dir (caller frees). */
static size_t s_list_dirs(const char *dir, char ***ret)
{
	DIR *d = opendir(dir);
	size_t n = 0, cap = 16;
	char **names = malloc(cap * sizeof *names);
	if (!d || !names) {
		if (d)
			closedir(d);
		free(names);
		*ret = NULL;
		return 0;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		char *path = s_cat(dir, "/", e->d_name);
		int isdir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
		free(path);
		if (!isdir)
			continue;
		if (n == cap) {
			cap *= 2;
			names = realloc(names, cap * sizeof *names);
			if (!names)
				abort();
		}
		names[n++] = s_dupn(e->d_name, strlen(e->d_name));
	}
	closedir(d);
	qsort(names, n, sizeof *names, s_name_cmp);
	*ret = names;
	return n;
}

static void s_free_list(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- suite 1: aws-c-auth v4 ------------------------------------------- */

static bool s_json_bool(const cJSON *obj, const char *key, bool dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

static const char *s_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int s_run_c_auth_case(const char *dir, const char *name)
{
	size_t len = 0;
	char *path = s_cat(dir, "/request.txt", "");
	char *text = tap_slurp(path, &len);
	char *ctxt = s_read(dir, "context.json", "");
	free(path);
	cJSON *ctx = ctxt ? cJSON_Parse(ctxt) : NULL;
	free(ctxt);
	test_req req;
	int passed = 0;

	if (!text || !ctx || s_parse_request(text, len, &req) != 0) {
		for (int i = 0; i < 3; i++)
			tap_ok(0, "aws-c-auth/%s: unreadable request.txt or context.json", name);
		free(text);
		cJSON_Delete(ctx);
		return 0;
	}
	free(text);

	const cJSON *jc = cJSON_GetObjectItemCaseSensitive(ctx, "credentials");
	cp_creds creds = {0};
	creds.access_key_id = (char *)s_json_str(jc, "access_key_id");
	creds.secret_access_key = (char *)s_json_str(jc, "secret_access_key");
	creds.session_token = (char *)s_json_str(jc, "token");
	int64_t t = 0;
	const char *ts = s_json_str(ctx, "timestamp");
	if (!ts || cp_parse_iso8601(ts, &t) != 0)
		t = 0;

	cp_sigv4_params p = {
		.method = req.method,
		.uri = req.uri,
		.headers = req.headers,
		.nheaders = req.nheaders,
		.body = req.body,
		.body_len = req.body_len,
		.region = s_json_str(ctx, "region"),
		.service = s_json_str(ctx, "service"),
		.creds = &creds,
		.time = t,
		.normalize_path = s_json_bool(ctx, "normalize", true),
		.sign_body_header = s_json_bool(ctx, "sign_body", false),
		.omit_session_token = s_json_bool(ctx, "omit_session_token", false),
	};
	cp_sigv4_result res = {0};
	cp_error err = {0};
	int r = cp_sigv4_sign(&p, &res, &err);
	if (r != 0)
		tap_diag("aws-c-auth/%s: sign failed (%d): %s", name, r, err.msg);

	char *label = s_cat("aws-c-auth/", name, "");
	passed += s_check(r ? NULL : res.canonical_request,
			  s_read(dir, "header-canonical-request.txt", ""), "canonical request", label);
	passed += s_check(r ? NULL : res.string_to_sign,
			  s_read(dir, "header-string-to-sign.txt", ""), "string to sign", label);
	passed += s_check(r ? NULL : res.signature, s_read(dir, "header-signature.txt", ""),
			  "signature", label);
	free(label);

	cp_sigv4_result_free(&res);
	s_req_free(&req);
	cJSON_Delete(ctx);
	return passed;
}

static void s_suite_c_auth(const char *conf)
{
	char *dir = s_cat(conf, "/sigv4/aws-c-auth/v4", "");
	char **names;
	size_t n = s_list_dirs(dir, &names);
	int passed = 0;
	tap_ok(n == 38, "aws-c-auth/v4: 38 case folders (found %zu)", n);
	for (size_t i = 0; i < n; i++) {
		char *cdir = s_cat(dir, "/", names[i]);
		passed += s_run_c_auth_case(cdir, names[i]);
		free(cdir);
	}
	tap_diag("aws-c-auth/v4: %d/%zu checks passed", passed, 3 * n);
	s_free_list(names, n);
	free(dir);
}

/* ---- suite 2: botocore aws4_testsuite --------------------------------- */

static int s_run_boto_case(const char *dir, const char *rel, const char *base)
{
	size_t len = 0;
	char *file = s_cat(base, ".req", "");
	char *path = s_cat(dir, "/", file);
	char *text = tap_slurp(path, &len);
	char *creq = s_read(dir, base, ".creq");
	char *sreq = s_read(dir, base, ".sreq");
	free(file);
	free(path);
	test_req req;
	int passed = 0;

	if (!text || !creq || s_parse_request(text, len, &req) != 0) {
		for (int i = 0; i < 3; i++)
			tap_ok(0, "botocore/%s: unreadable .req or .creq", rel);
		free(text);
		free(creq);
		free(sreq);
		return 0;
	}
	free(text);

	/* The token, as botocore's runner finds it: a signed one appears in
	 * the canonical request. One that appears only in the signed request
	 * was added after signing. */
	bool omit = false;
	char *token = s_line_value(creq, "x-amz-security-token:");
	if (!token && sreq) {
		token = s_line_value(sreq, "X-Amz-Security-Token:");
		omit = token != NULL;
	}
	free(creq);
	free(sreq);

	int64_t t = 0;
	cp_parse_iso8601(BOTO_TIME, &t);
	cp_creds creds = {
		.access_key_id = (char *)BOTO_AKID,
		.secret_access_key = (char *)BOTO_SECRET,
		.session_token = token,
	};
	cp_sigv4_params p = {
		.method = req.method,
		.uri = req.uri,
		.headers = req.headers,
		.nheaders = req.nheaders,
		.body = req.body,
		.body_len = req.body_len,
		.region = BOTO_REGION,
		.service = BOTO_SERVICE,
		.creds = &creds,
		.time = t,
		.normalize_path = true,   /* "service" is not S3 */
		.sign_body_header = false,
		.omit_session_token = omit,
	};
	cp_sigv4_result res = {0};
	cp_error err = {0};
	int r = cp_sigv4_sign(&p, &res, &err);
	if (r != 0)
		tap_diag("botocore/%s: sign failed (%d): %s", rel, r, err.msg);

	char *label = s_cat("botocore/", rel, "");
	passed += s_check(r ? NULL : res.canonical_request, s_read(dir, base, ".creq"),
			  "canonical request", label);
	passed += s_check(r ? NULL : res.string_to_sign, s_read(dir, base, ".sts"), "string to sign",
			  label);
	passed += s_check(r ? NULL : res.authorization, s_read(dir, base, ".authz"), "authorization",
			  label);
	free(label);

	if (omit && r == 0) {
		bool in_add = false;
		for (size_t i = 0; i < res.nadd; i++)
			if (strcmp(res.add[i].name, "X-Amz-Security-Token") == 0 &&
			    strcmp(res.add[i].value, token) == 0)
				in_add = true;
		if (!in_add)
			tap_diag("botocore/%s: token added after signing is missing from add[]", rel);
	}

	cp_sigv4_result_free(&res);
	s_req_free(&req);
	free(token);
	return passed;
}

/* Walks dir; a case is a folder holding "<folder name>.req". */
static void s_walk_boto(const char *dir, const char *rel, int *ncases, int *passed)
{
	char **names;
	size_t n = s_list_dirs(dir, &names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char *sub = s_cat(dir, "/", names[i]);
		char *subrel = s_cat(rel, *rel ? "/" : "", names[i]);
		char *file = s_cat(names[i], ".req", "");
		char *req = s_cat(sub, "/", file);
		if (stat(req, &st) == 0 && S_ISREG(st.st_mode)) {
			(*ncases)++;
			*passed += s_run_boto_case(sub, subrel, names[i]);
		} else {
			s_walk_boto(sub, subrel, ncases, passed);
		}
		free(sub);
		free(subrel);
		free(file);
		free(req);
	}
	s_free_list(names, n);
}

static void s_suite_botocore(const char *conf)
{
	int ncases = 0, passed = 0;
	char *dir = s_cat(conf, "/sigv4/botocore-aws4_testsuite", "");
	s_walk_boto(dir, "", &ncases, &passed);
	free(dir);
	tap_ok(ncases == 34, "botocore: 34 cases (found %d)", ncases);
	tap_diag("botocore: %d/%d checks passed", passed, 3 * ncases);
}

/* ---- direct checks of the API contract -------------------------------- */

static cp_creds s_test_creds = {
	.access_key_id = (char *)"AKIDEXAMPLE",
	.secret_access_key = (char *)"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	.session_token = (char *)"TOKEN/with+chars==",
};

static cp_sigv4_params s_base_params(const cp_header *h, size_t nh)
{
	cp_sigv4_params p = {
		.method = "POST",
		.uri = "/",
		.headers = h,
		.nheaders = nh,
		.body = "Action=GetCallerIdentity&Version=2011-06-15",
		.body_len = strlen("Action=GetCallerIdentity&Version=2011-06-15"),
		.region = "eu-west-1",
		.service = "sts",
		.creds = &s_test_creds,
		.time = 1440938160,   /* 2015-08-30T12:36:00Z */
		.normalize_path = true,
	};
	return p;
}

static const char *s_add_value(const cp_sigv4_result *r, const char *name)
{
	for (size_t i = 0; i < r->nadd; i++)
		if (strcmp(r->add[i].name, name) == 0)
			return r->add[i].value;
	return NULL;
}

static bool s_is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

static void s_unit_tests(void)
{
	const cp_header host[] = {{"Host", "sts.eu-west-1.amazonaws.com"}};
	cp_sigv4_result res = {0};
	cp_error err = {0};
	cp_sigv4_params p;
	int r;

	/* Token signed (default): add[] order and SignedHeaders. */
	p = s_base_params(host, 1);
	p.sign_body_header = true;
	r = cp_sigv4_sign(&p, &res, &err);
	tap_ok(r == 0, "unit: sign succeeds (%s)", err.msg);
	tap_ok(r == 0 && res.nadd == 4 && strcmp(res.add[0].name, "X-Amz-Date") == 0 &&
	       strcmp(res.add[1].name, "x-amz-content-sha256") == 0 &&
	       strcmp(res.add[2].name, "X-Amz-Security-Token") == 0 &&
	       strcmp(res.add[3].name, "Authorization") == 0,
	       "unit: add[] is X-Amz-Date, x-amz-content-sha256, X-Amz-Security-Token, Authorization");
	tap_ok(r == 0 && strcmp(res.amz_date, "20150830T123600Z") == 0 &&
	       res.add[0].value == res.amz_date,
	       "unit: X-Amz-Date formatted from p->time, borrowed from the result");
	tap_ok(r == 0 && strcmp(res.content_sha256,
				"ab821ae955788b0e33ebd34c208442ccfc2d406e2edc5e7a39bd6458fbb4f843") == 0,
	       "unit: content sha256 of the body");
	tap_ok(r == 0 && strstr(res.authorization,
				"SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") != NULL &&
	       strncmp(res.authorization,
		       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-1/sts/aws4_request, ", 77) == 0,
	       "unit: token signed by default, scope uses region and service");
	tap_ok(r == 0 && s_add_value(&res, "Authorization") == res.authorization &&
	       strstr(res.authorization, res.signature) != NULL, "unit: Authorization carries the signature");
	cp_sigv4_result_free(&res);
	tap_ok(s_is_zero(&res, sizeof res), "unit: result_free zeroes the result");
	cp_sigv4_result_free(&res);   /* idempotent */
	cp_sigv4_result_free(NULL);

	/* omit_session_token: in add[] but neither signed nor canonical. */
	p = s_base_params(host, 1);
	p.omit_session_token = true;
	r = cp_sigv4_sign(&p, &res, &err);
	const char *tok = r == 0 ? s_add_value(&res, "X-Amz-Security-Token") : NULL;
	tap_ok(tok && strcmp(tok, s_test_creds.session_token) == 0 && tok != s_test_creds.session_token,
	       "unit: omit_session_token: token (a copy) in add[]");
	tap_ok(r == 0 && strstr(res.authorization, "SignedHeaders=host;x-amz-date,") != NULL &&
	       strstr(res.canonical_request, "security-token") == NULL,
	       "unit: omit_session_token: token not signed");
	tap_ok(r == 0 && res.nadd == 3 && strcmp(res.add[2].name, "Authorization") == 0,
	       "unit: omit_session_token: token added before Authorization");
	cp_sigv4_result_free(&res);

	/* No token at all; X-Amz-Date supplied by the request. */
	cp_creds notok = {.access_key_id = s_test_creds.access_key_id,
			  .secret_access_key = s_test_creds.secret_access_key};
	const cp_header dated[] = {{"host", "example.com"}, {"X-Amz-Date", " 20200101T000000Z "}};
	p = s_base_params(dated, 2);
	p.creds = &notok;
	p.time = 0;
	r = cp_sigv4_sign(&p, &res, &err);
	tap_ok(r == 0 && res.nadd == 1 && strcmp(res.add[0].name, "Authorization") == 0 &&
	       strcmp(res.amz_date, "20200101T000000Z") == 0 &&
	       strstr(res.string_to_sign, "\n20200101/eu-west-1/sts/aws4_request\n") != NULL,
	       "unit: request X-Amz-Date is used and not added again");
	cp_sigv4_result_free(&res);

	/* Query canonicalization details. */
	p = s_base_params(host, 1);
	p.creds = &notok;
	p.method = "GET";
	p.uri = "/a%20b/./c//?b=2&a=x+y&flag&&a=%7e&z=%zz#frag";
	r = cp_sigv4_sign(&p, &res, &err);
	tap_ok(r == 0 && strncmp(res.canonical_request,
				 "GET\n/a%2520b/c/\na=x%20y&a=~&b=2&flag=&z=%25zz\n", 46) == 0,
	       "unit: path double-encoded and normalized; query decoded, re-encoded, sorted");
	if (r == 0 && strncmp(res.canonical_request, "GET\n/a%2520b/c/\na=x%20y&a=~&b=2&flag=&z=%25zz\n", 46))
		tap_diag("got:\n%s", res.canonical_request);
	cp_sigv4_result_free(&res);

	/* Skipped headers are not signed. */
	const cp_header ua[] = {{"Host", "h"}, {"User-Agent", "aws-credproc/0.1"}, {"X-Amzn-Trace-Id", "x"}};
	p = s_base_params(ua, 3);
	p.creds = &notok;
	r = cp_sigv4_sign(&p, &res, &err);
	tap_ok(r == 0 && strstr(res.authorization, "SignedHeaders=host;x-amz-date,") != NULL,
	       "unit: User-Agent and X-Amzn-Trace-Id are not signed");
	cp_sigv4_result_free(&res);

	/* Failures leave *ret untouched and set err. */
	struct {
		const char *what;
		int status;
		cp_sigv4_params p;
	} bad[12];
	size_t nbad = 0;
	static cp_header many[257];
	for (size_t i = 0; i < 257; i++)
		many[i] = (cp_header){"X-Many", "v"};
	many[0] = (cp_header){"Host", "h"};
	char *big = malloc(64 * 1024 + 2);
	if (!big)
		abort();
	memset(big, 'a', 64 * 1024 + 1);
	big[64 * 1024 + 1] = '\0';
	const cp_header bighdr[] = {{"Host", "h"}, {"X-Big", big}};
	const cp_header inject[] = {{"Host", "h"}, {"X-A", "v\r\nX-Evil: 1"}};
	const cp_header badname[] = {{"Host", "h"}, {"X Bad", "v"}};
	const cp_header nohost[] = {{"X-A", "v"}};
	const cp_header authz[] = {{"Host", "h"}, {"Authorization", "x"}};
	const cp_header badtok[] = {{"Host", "h"}, {"X-Amz-Security-Token", "other"}};
	const cp_header baddate[] = {{"Host", "h"}, {"X-Amz-Date", "2015-08-30"}};
	cp_creds badregion_creds = notok;
	cp_creds badkey = {.access_key_id = (char *)"AKID/X", .secret_access_key = (char *)"s"};
	cp_creds badtoken = {.access_key_id = (char *)"AKID", .secret_access_key = (char *)"s",
			     .session_token = (char *)"tok\r\nX-Evil: 1"};
	(void)badregion_creds;

#define BAD(w, st, hdrs, nh, field, val)                    \
	do {                                                \
		bad[nbad].what = (w);                       \
		bad[nbad].status = (st);                    \
		bad[nbad].p = s_base_params((hdrs), (nh)); \
		bad[nbad].p.field = (val);                  \
		nbad++;                                     \
	} while (0)
	BAD("257 headers", CP_EINTERNAL, many, 257, normalize_path, true);
	BAD("header value over 64 KiB", CP_EINTERNAL, bighdr, 2, normalize_path, true);
	BAD("CR LF header injection", CP_EINTERNAL, inject, 2, normalize_path, true);
	BAD("invalid header name", CP_EINTERNAL, badname, 2, normalize_path, true);
	BAD("no Host header", CP_EINTERNAL, nohost, 1, normalize_path, true);
	BAD("Authorization already present", CP_EINTERNAL, authz, 2, normalize_path, true);
	BAD("conflicting X-Amz-Security-Token", CP_EINTERNAL, badtok, 2, normalize_path, true);
	BAD("malformed X-Amz-Date", CP_EINTERNAL, baddate, 2, normalize_path, true);
	BAD("invalid region", CP_ECONFIG, host, 1, region, "us east/1");
	BAD("access key with '/'", CP_ECONFIG, host, 1, creds, &badkey);
	BAD("session token with CR LF", CP_ECONFIG, host, 1, creds, &badtoken);
	BAD("absolute-form target", CP_EINTERNAL, host, 1, uri, "http://x/");
#undef BAD
	for (size_t i = 0; i < nbad; i++) {
		cp_error e = {0};
		memset(&res, 0, sizeof res);
		r = cp_sigv4_sign(&bad[i].p, &res, &e);
		tap_ok(r == bad[i].status && e.status == r && e.msg[0] && s_is_zero(&res, sizeof res),
		       "unit: rejects %s (status %d: %s)", bad[i].what, r, e.msg);
	}
	free(big);
}

int main(void)
{
	s_unit_tests();
	const char *conf = tap_conformance_dir();
	if (!conf) {
		tap_skip_data("conformance data not found (set AWS_CREDPROC_CONFORMANCE_DIR)");
		return tap_done();
	}
	s_suite_c_auth(conf);
	s_suite_botocore(conf);
	return tap_done();
}
