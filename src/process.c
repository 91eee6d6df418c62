/* process.c - nested credential_process and the recursion guard. */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "spawn.h"

#define CP_CHAIN_ENV "AWS_CREDPROC_CHAIN"
#define CP_STATUS_ENV "AWS_CREDPROC_STATUS_FD"
#define CP_CHAIN_MAX_LEN 4096

static int s_status_fd = -1;

void cp_status_fd_init(void)
{
	const char *v = getenv(CP_STATUS_ENV);
	if (v) {
		char *end;
		errno = 0;
		long fd = strtol(v, &end, 10);
		struct stat st;
		if (!errno && *v && !*end && fd > 2 && fd < 65536 && fstat((int)fd, &st) == 0 &&
		    S_ISFIFO(st.st_mode) && (fcntl((int)fd, F_GETFL) & O_ACCMODE) == O_WRONLY) {
			s_status_fd = (int)fd;
			fcntl(s_status_fd, F_SETFD, FD_CLOEXEC);
		}
		unsetenv(CP_STATUS_ENV);
	}
}

bool cp_status_fd_active(void)
{
	return s_status_fd >= 0;
}

bool cp_status_report(int status, const char *msg)
{
	if (s_status_fd < 0)
		return false;
	char line[1100];
	int n = snprintf(line, sizeof line, "%c%.1024s\n",
			 (char)('0' + (status >= 0 && status <= 9 ? status : 1)), msg ? msg : "");
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	ssize_t w;
	do
		w = write(s_status_fd, line, (size_t)n);
	while (w < 0 && errno == EINTR);
	close(s_status_fd);
	s_status_fd = -1;
	return w == n;
}

int cp_chain_guard(const char *profile, cp_error *err)
{
	const char *chain = getenv(CP_CHAIN_ENV);
	cp_buf shown = {0}, next = {0};
	int r = 0;
	size_t count = 0;
	bool seen = false;

	if (chain && *chain) {
		if (strlen(chain) > CP_CHAIN_MAX_LEN)
			return cp_error_set(err, CP_ECONFIG, "%s is longer than %d bytes", CP_CHAIN_ENV,
					    CP_CHAIN_MAX_LEN);
		const char *p = chain;
		while (*p) {
			const char *e = strchr(p, ',');
			size_t n = e ? (size_t)(e - p) : strlen(p);
			if (n) {
				count++;
				if (strlen(profile) == n && memcmp(p, profile, n) == 0)
					seen = true;
				if (cp_buf_printf(&shown, "'%.*s' -> ", (int)n, p) ||
				    cp_buf_append(&next, p, n) || cp_buf_putc(&next, ','))
					goto oom;
			}
			p += n;
			if (*p == ',')
				p++;
		}
	}
	if (cp_buf_printf(&shown, "'%s'", profile) || cp_buf_puts(&next, profile))
		goto oom;
	if (seen) {
		r = cp_error_set(err, CP_ECONFIG,
				 "profile '%s' is already being resolved by an outer aws-credproc "
				 "(chain %s): a credential_process must not run aws-credproc for its own profile",
				 profile, shown.data);
	} else if (count >= CP_MAX_NESTING) {
		r = cp_error_set(err, CP_ECONFIG,
				 "more than %d nested aws-credproc invocations (chain %s)",
				 CP_MAX_NESTING, shown.data);
	} else if (setenv(CP_CHAIN_ENV, next.data, 1) < 0) {
		goto oom;
	}
	cp_buf_free(&shown);
	cp_buf_free(&next);
	return r;
oom:
	cp_buf_free(&shown);
	cp_buf_free(&next);
	return cp_error_set(err, CP_EINTERNAL, "out of memory");
}

static const char *s_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

int cp_process_parse(const char *json, size_t len, cp_creds *ret, cp_error *err)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	int64_t expiration = 0;
	int r;
	if (!doc || !cJSON_IsObject(doc)) {
		r = cp_error_set(err, CP_ESOURCE, "output is not a JSON object");
		goto out;
	}
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "Version");
	if (!cJSON_IsNumber(ver) || ver->valuedouble != 1.0) {
		r = cp_error_set(err, CP_ESOURCE, "output has no \"Version\": 1");
		goto out;
	}
	const char *akid = s_str(doc, "AccessKeyId");
	const char *secret = s_str(doc, "SecretAccessKey");
	const char *token = s_str(doc, "SessionToken");
	const char *exp = s_str(doc, "Expiration");
	const char *acct = s_str(doc, "AccountId");
	if (!akid || !*akid) {
		r = cp_error_set(err, CP_ESOURCE, "output has no AccessKeyId");
		goto out;
	}
	if (!secret || !*secret) {
		r = cp_error_set(err, CP_ESOURCE, "output has no SecretAccessKey");
		goto out;
	}
	if (exp && cp_parse_iso8601(exp, &expiration)) {
		r = cp_error_set(err, CP_ESOURCE, "output has a malformed Expiration '%.40s'", exp);
		goto out;
	}
	if (exp && expiration <= cp_now()) {
		char t[21];
		cp_format_iso8601(expiration, t);
		r = cp_error_set(err, CP_ESOURCE, "the credentials it printed expired at %s", t);
		goto out;
	}
	if ((r = cp_creds_set(ret, akid, secret, token && *token ? token : NULL, expiration,
			      acct && *acct ? acct : NULL)))
		r = cp_error_set(err, r, "out of memory");
out:
	cp_json_free_secret(doc);
	return r;
}

int cp_process_run(const char *profile, const char *command, long timeout_ms, cp_creds *ret,
		   cp_error *err)
{
	int st[2] = {-1, -1};
	cp_spawn_result res = {0};
	int r;
	char fdstr[16];

	if (timeout_ms <= 0)
		timeout_ms = 30000;
	if (pipe2(st, O_CLOEXEC) < 0) {
		r = cp_error_set(err, CP_EINTERNAL, "cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	snprintf(fdstr, sizeof fdstr, "%d", st[1]);
	if (setenv(CP_STATUS_ENV, fdstr, 1) < 0) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
		goto out;
	}
	cp_spawn_options o = {
		.command = command,
		.timeout_ms = timeout_ms,
		.max_output = CP_PROCESS_MAX_OUTPUT,
		.inherit_fd = st[1],
	};
	char what[600];
	snprintf(what, sizeof what, "credential_process of profile '%s'", profile);
	r = cp_spawn_run(&o, &res, err);
	unsetenv(CP_STATUS_ENV);
	if (r)
		goto out;
	if ((r = cp_spawn_check(&o, &res, what, err)) && !res.timed_out && !res.too_big &&
	    WIFEXITED(res.status)) {
		/* A nested aws-credproc says which kind of failure it was, and why. */
		char line[1100];
		int fl = fcntl(st[0], F_GETFL);
		fcntl(st[0], F_SETFL, fl | O_NONBLOCK);
		ssize_t k = read(st[0], line, sizeof line - 1);
		int nested = 0;
		if (k > 0 && line[0] >= '1' && line[0] <= '6') {
			line[k] = '\0';
			line[strcspn(line, "\n")] = '\0';
			nested = line[0] - '0';
		}
		if (nested && line[1])
			r = cp_error_set(err, nested, "%s", line + 1);
		else if (nested)
			r = cp_error_set(err, nested, "%s failed (exit status %d)", what,
					 WEXITSTATUS(res.status));
	}
	if (r)
		goto out;
	r = cp_process_parse(res.out.data ? res.out.data : "", res.out.len, ret, err);
	if (r)
		cp_error_prefix(err, "%s", what);
out:
	cp_spawn_result_free(&res);
	for (int i = 0; i < 2; i++)
		if (st[i] >= 0)
			close(st[i]);
	return r;
}
