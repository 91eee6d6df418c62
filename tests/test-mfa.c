/* test-mfa.c - the MFA code: the parser, credproc_mfa_process (good, bad
 * output, failing, timeout), the /dev/tty prompt through a real
 * pseudo-terminal (a code, a re-prompt, three bad answers, a timeout, end of
 * input, a background process group; never stdin or stdout), no terminal at
 * all (after setsid()), and the cache lock's holder pid and waiting warning. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "mfa.h"
#include "tap.h"
#include "util.h"
#include "retry.h"

static int s_nwarn;
static char s_lastwarn[1024];

static void s_on_warn(void *userdata, const char *msg)
{
	(void)userdata;
	s_nwarn++;
	snprintf(s_lastwarn, sizeof s_lastwarn, "%s", msg);
}

/* ---- the parser -------------------------------------------------------- */

static void s_parser(void)
{
	static const struct {
		const char *in;
		const char *want; /* NULL: refused */
	} cases[] = {
		{"123456", "123456"},
		{"123456\n", "123456"},
		{"  012345 \r\n", "012345"},
		{"\t987654\t", "987654"},
		{"654321\nsecond line\n", "654321"},
		{"", NULL},
		{"\n123456\n", NULL},
		{"12345", NULL},
		{"1234567", NULL},
		{"12a456", NULL},
		{"123 456", NULL},
		{"+12345", NULL},
		{"１23456", NULL}, /* a fullwidth digit */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char code[CP_MFA_CODE_SIZE];
		memset(code, 'x', sizeof code);
		bool ok = cp_mfa_parse_code(cases[i].in, strlen(cases[i].in), code);
		if (cases[i].want)
			tap_ok(ok && strcmp(code, cases[i].want) == 0, "parse %zu: accepted as %s", i,
			       cases[i].want);
		else
			tap_ok(!ok && code[0] == '\0', "parse %zu: refused, buffer emptied", i);
	}
	char code[CP_MFA_CODE_SIZE];
	tap_ok(!cp_mfa_parse_code(NULL, 0, code) && code[0] == '\0', "parse: NULL refused");
	/* len, not the NUL, bounds the text */
	tap_ok(cp_mfa_parse_code("1234567", 6, code) && strcmp(code, "123456") == 0,
	       "parse: only len bytes are looked at");
}

/* ---- credproc_mfa_process ---------------------------------------------- */

static void s_process(void)
{
	char code[CP_MFA_CODE_SIZE];
	cp_error err = {0};
	int r;

	r = cp_mfa_from_process("p", "echo 123456", "arn:aws:iam::1:mfa/u", 5000, code, &err);
	tap_ok(r == 0 && strcmp(code, "123456") == 0, "process: echo 123456 -> the code (%d %s)", r,
	       err.msg);

	r = cp_mfa_from_process("p", "printf '  654321 \\r\\nmore\\n'", "s", 5000,
				code, &err);
	tap_ok(r == 0 && strcmp(code, "654321") == 0, "process: first line, trimmed (%d %s)", r,
	       err.msg);

	r = cp_mfa_from_process("p", "read x; echo \"${x:-111222}\"", "s", 5000, code, &err);
	tap_ok(r == 0 && strcmp(code, "111222") == 0, "process: stdin is /dev/null (%d %s)", r,
	       err.msg);

	cp_error_clear(&err);
	r = cp_mfa_from_process("p", "echo 7654321", "arn:aws:iam::1:mfa/u", 5000, code, &err);
	tap_ok(r == CP_ESOURCE && code[0] == '\0' && strstr(err.msg, "did not print a 6-digit MFA code") &&
		       strstr(err.msg, "profile 'p'") && strstr(err.msg, "arn:aws:iam::1:mfa/u") &&
		       !strstr(err.msg, "7654321"),
	       "process: bad output -> CP_ESOURCE, output not quoted: %s", err.msg);

	cp_error_clear(&err);
	r = cp_mfa_from_process("p", "printf ''", "s", 5000, code, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "did not print"), "process: no output -> CP_ESOURCE: %s",
	       err.msg);

	cp_error_clear(&err);
	r = cp_mfa_from_process("p", "echo 123456; exit 3", "s", 5000, code, &err);
	tap_ok(r == CP_ESOURCE && code[0] == '\0' && strstr(err.msg, "failed (exit status 3)"),
	       "process: exit 3 -> CP_ESOURCE even with a code printed: %s", err.msg);

	cp_error_clear(&err);
	r = cp_mfa_from_process(NULL, "/nonexistent/mfa-helper", "s", 5000, code, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "could not be run") && strstr(err.msg, "(command line)"),
	       "process: missing command -> CP_ESOURCE: %s", err.msg);

	cp_error_clear(&err);
	r = cp_mfa_from_process("p", "kill -9 $$", "s", 5000, code, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "killed by signal 9"), "process: killed -> CP_ESOURCE: %s",
	       err.msg);

	cp_error_clear(&err);
	int64_t t0 = cp_mono_ms();
	r = cp_mfa_from_process("p", "echo 123456; sleep 20", "s", 300, code, &err);
	int64_t dt = cp_mono_ms() - t0;
	tap_ok(r == CP_ESOURCE && code[0] == '\0' && strstr(err.msg, "did not finish within 0.3 s") &&
		       dt >= 290 && dt < 3000,
	       "process: timeout 300 ms -> CP_ESOURCE in %lld ms: %s", (long long)dt, err.msg);

	/* The timeout kills the whole group: a grandchild holding stdout too. */
	cp_error_clear(&err);
	t0 = cp_mono_ms();
	r = cp_mfa_from_process("p", "(sleep 20; echo 123456) & wait", "s", 300, code, &err);
	dt = cp_mono_ms() - t0;
	tap_ok(r == CP_ESOURCE && dt < 3000, "process: timeout with a grandchild -> %lld ms", (long long)dt);

	/* The helper printed its code and exited, but a grandchild it left in
	 * the background still holds its stdout: the code counts, at once. */
	cp_error_clear(&err);
	t0 = cp_mono_ms();
	r = cp_mfa_from_process("p", "(sleep 30 &); echo 123456", "s", 5000, code, &err);
	dt = cp_mono_ms() - t0;
	tap_ok(r == 0 && strcmp(code, "123456") == 0 && dt < 4000,
	       "process: exited, a grandchild holds stdout -> the code in %lld ms (%d %s)",
	       (long long)dt, r, err.msg);

	cp_error_clear(&err);
	r = cp_mfa_from_process("p", "head -c 10000 /dev/zero | tr '\\0' 1", "s", 5000, code, &err);
	tap_ok(r == CP_ESOURCE && strstr(err.msg, "more than 4096 bytes"),
	       "process: too much output -> CP_ESOURCE: %s", err.msg);

	cp_error_clear(&err);
	r = cp_mfa_from_process("p", "", "s", 5000, code, &err);
	tap_ok(r == CP_ECONFIG, "process: empty command -> CP_ECONFIG: %s", err.msg);
}

/* ---- the terminal ------------------------------------------------------ */

typedef struct s_result {
	int r;
	char code[CP_MFA_CODE_SIZE];
	char msg[1024];
	char stdin_left[16]; /* what stdin still held afterwards */
} s_result;

static void s_write_full(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static bool s_read_full(int fd, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t k = read(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		c += k;
		n -= (size_t)k;
	}
	return true;
}

/* In the child: the prompt, reported through fd; stdin holds "999999\n"
 * and stdout is a pipe, so that the test sees neither is used. */
static void s_child_prompt(int report, long timeout_ms, bool background)
{
	s_result res;
	memset(&res, 0, sizeof res);
	if (background) {
		pid_t g = fork();
		if (g < 0)
			_exit(2);
		if (g > 0) {
			int st;
			waitpid(g, &st, 0);
			_exit(0);
		}
		setpgid(0, 0); /* a new group: not the terminal's foreground */
	}
	cp_error err = {0};
	res.r = cp_mfa_from_tty("arn:aws:iam::123456789012:mfa/alice", timeout_ms, res.code, &err);
	snprintf(res.msg, sizeof res.msg, "%s", err.msg);
	int fl = fcntl(0, F_GETFL);
	fcntl(0, F_SETFL, fl | O_NONBLOCK);
	ssize_t k = read(0, res.stdin_left, sizeof res.stdin_left - 1);
	if (k < 0)
		k = 0;
	res.stdin_left[k] = '\0';
	s_write_full(report, &res, sizeof res);
	_exit(0);
}

typedef struct s_pty_run {
	int master;
	pid_t pid;
	int report;  /* read end */
	int out;     /* the child's stdout, read end */
	char seen[8192];
	size_t nseen;
} s_pty_run;

/* Starts a child in a new session whose controlling terminal is a new pty. */
static bool s_pty_start(s_pty_run *p, long timeout_ms, bool background)
{
	int rep[2], in[2], out[2];
	memset(p, 0, sizeof *p);
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->master < 0 || grantpt(p->master) < 0 || unlockpt(p->master) < 0)
		return false;
	char *slave = ptsname(p->master);
	if (!slave || pipe2(rep, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return false;
	char slave_path[128];
	snprintf(slave_path, sizeof slave_path, "%s", slave);
	s_write_full(in[1], "999999\n", 7);
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0)
		return false;
	if (p->pid == 0) {
		setsid();
		int s = open(slave_path, O_RDWR); /* becomes the controlling terminal */
		if (s < 0 || dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(2); /* s stays open: the pty lives while the child runs */
		s_child_prompt(rep[1], timeout_ms, background);
	}
	close(rep[1]);
	close(in[0]);
	close(in[1]);
	close(out[1]);
	p->report = rep[0];
	p->out = out[0];
	return true;
}

/* Reads what the child wrote to the terminal until `needle` has been seen
 * (count times in all), or timeout_ms. */
static bool s_pty_wait_for(s_pty_run *p, const char *needle, int count, long timeout_ms)
{
	int64_t deadline = cp_mono_ms() + timeout_ms;
	for (;;) {
		int n = 0;
		for (const char *q = p->seen; (q = strstr(q, needle)); q += strlen(needle))
			n++;
		if (n >= count)
			return true;
		int64_t left = deadline - cp_mono_ms();
		if (left <= 0)
			return false;
		struct pollfd pfd = {.fd = p->master, .events = POLLIN};
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (p->nseen + 1 >= sizeof p->seen)
			return false;
		ssize_t k = read(p->master, p->seen + p->nseen, sizeof p->seen - 1 - p->nseen);
		if (k <= 0)
			return false;
		p->nseen += (size_t)k;
		p->seen[p->nseen] = '\0';
	}
}

static bool s_pty_finish(s_pty_run *p, s_result *res)
{
	bool ok = s_read_full(p->report, res, sizeof *res);
	int st;
	waitpid(p->pid, &st, 0);
	/* whatever else reached the terminal */
	int fl = fcntl(p->master, F_GETFL);
	fcntl(p->master, F_SETFL, fl | O_NONBLOCK);
	ssize_t k;
	while (p->nseen + 1 < sizeof p->seen &&
	       (k = read(p->master, p->seen + p->nseen, sizeof p->seen - 1 - p->nseen)) > 0) {
		p->nseen += (size_t)k;
		p->seen[p->nseen] = '\0';
	}
	char buf[64];
	fl = fcntl(p->out, F_GETFL);
	fcntl(p->out, F_SETFL, fl | O_NONBLOCK);
	k = read(p->out, buf, sizeof buf);
	if (k > 0)
		ok = false, tap_diag("the prompt wrote %zd bytes to stdout", k);
	close(p->report);
	close(p->out);
	close(p->master);
	return ok;
}

#define S_PROMPT "Enter MFA code for arn:aws:iam::123456789012:mfa/alice: "

static void s_tty(void)
{
	s_pty_run p;
	s_result res;

	/* A code, typed after the prompt appears. */
	if (!tap_ok(s_pty_start(&p, 20000, false), "pty: started")) {
		return;
	}
	bool prompted = s_pty_wait_for(&p, S_PROMPT, 1, 10000);
	s_write_full(p.master, "123456\r", 7); /* Enter sends CR */
	bool fin = s_pty_finish(&p, &res);
	tap_ok(prompted, "pty: the prompt is written to the terminal");
	tap_ok(fin && res.r == 0 && strcmp(res.code, "123456") == 0, "pty: the typed code is read (%d %s)",
	       res.r, res.msg);
	tap_ok(strcmp(res.stdin_left, "999999\n") == 0, "pty: stdin untouched, stdout unused");
	tap_ok(strstr(p.seen, "123456") != NULL, "pty: echo is on (the code appears as typed)");

	/* Not a code, then a code. */
	s_pty_start(&p, 20000, false);
	prompted = s_pty_wait_for(&p, S_PROMPT, 1, 10000);
	s_write_full(p.master, "12 34\n", 6);
	bool again = s_pty_wait_for(&p, S_PROMPT, 2, 10000);
	s_write_full(p.master, "654321\n", 7);
	fin = s_pty_finish(&p, &res);
	tap_ok(prompted && again && strstr(p.seen, "That is not a 6-digit code.") && fin && res.r == 0 &&
		       strcmp(res.code, "654321") == 0,
	       "pty: a bad answer is asked again, then the code (%d %s)", res.r, res.msg);

	/* Three bad answers (empty, letters, too long). */
	s_pty_start(&p, 20000, false);
	prompted = s_pty_wait_for(&p, S_PROMPT, 1, 10000);
	s_write_full(p.master, "\n", 1);
	s_pty_wait_for(&p, S_PROMPT, 2, 10000);
	s_write_full(p.master, "abcdef\n", 7);
	s_pty_wait_for(&p, S_PROMPT, 3, 10000);
	s_write_full(p.master, "1234567890123456789012345678901234567890123456789012345678901234567890\n", 71);
	fin = s_pty_finish(&p, &res);
	tap_ok(prompted && fin && res.r == CP_EINTERACTIVE && res.code[0] == '\0' &&
		       strstr(res.msg, "no valid MFA code for 'arn:aws:iam::123456789012:mfa/alice' after 3 attempts"),
	       "pty: three bad answers -> CP_EINTERACTIVE: %s", res.msg);

	/* Nobody answers. */
	int64_t t0 = cp_mono_ms();
	s_pty_start(&p, 700, false);
	prompted = s_pty_wait_for(&p, S_PROMPT, 1, 10000);
	fin = s_pty_finish(&p, &res);
	int64_t dt = cp_mono_ms() - t0;
	tap_ok(prompted && fin && res.r == CP_EINTERACTIVE && strstr(res.msg, "was entered within 0.7 s") &&
		       dt < 8000,
	       "pty: no answer in 0.7 s -> CP_EINTERACTIVE in %lld ms: %s", (long long)dt, res.msg);

	/* End of input (Ctrl-D on an empty line). */
	s_pty_start(&p, 20000, false);
	prompted = s_pty_wait_for(&p, S_PROMPT, 1, 10000);
	struct termios t;
	char eof = 4;
	if (tcgetattr(p.master, &t) == 0)
		eof = (char)t.c_cc[VEOF];
	s_write_full(p.master, &eof, 1);
	fin = s_pty_finish(&p, &res);
	tap_ok(prompted && fin && res.r == CP_EINTERACTIVE && strstr(res.msg, "end of input"),
	       "pty: end of input -> CP_EINTERACTIVE: %s", res.msg);

	/* A background process group must not read (SIGTTIN would stop it). */
	s_pty_start(&p, 5000, true);
	fin = s_pty_finish(&p, &res);
	tap_ok(fin && res.r == CP_EINTERACTIVE && strstr(res.msg, "not in the foreground") &&
		       strstr(res.msg, "set credproc_mfa_process") && !strstr(p.seen, "Enter MFA code"),
	       "pty: background process group -> CP_EINTERACTIVE, no prompt: %s", res.msg);
}

/* No controlling terminal at all: setsid() in a child. */
static void s_no_tty(void)
{
	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0) {
		tap_ok(0, "no tty: pipe");
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		s_result res;
		memset(&res, 0, sizeof res);
		cp_error err = {0};
		int64_t t0 = cp_mono_ms();
		res.r = cp_mfa_from_tty("arn:aws:iam::123456789012:mfa/bob", 30000, res.code, &err);
		snprintf(res.msg, sizeof res.msg, "%s", err.msg);
		snprintf(res.stdin_left, sizeof res.stdin_left, "%lld", (long long)(cp_mono_ms() - t0));
		s_write_full(rep[1], &res, sizeof res);
		_exit(0);
	}
	close(rep[1]);
	s_result res;
	bool ok = s_read_full(rep[0], &res, sizeof res);
	waitpid(pid, NULL, 0);
	close(rep[0]);
	tap_ok(ok && res.r == CP_EINTERACTIVE && res.code[0] == '\0' &&
		       strcmp(res.msg, "MFA code needed for 'arn:aws:iam::123456789012:mfa/bob' but there is "
				       "no terminal; set credproc_mfa_process") == 0 &&
		       atol(res.stdin_left) < 2000,
	       "no tty (setsid) -> CP_EINTERACTIVE at once (%s ms): %s", res.stdin_left, res.msg);
}

/* ---- the lock holder's pid --------------------------------------------- */

/* The pid the holder of key's lock wrote into its lock file
 * ("<cache dir>/<stem>.lock", "<pid>\n"), or 0: what a waiting process
 * reads to name the holder. */
static long s_lock_file_pid(const char *cdir, const char *key)
{
	char stem[17], path[256], buf[32] = "";
	cp_cache_name(key, stem);
	snprintf(path, sizeof path, "%s/%s.lock", cdir, stem);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	return end != buf && (*end == '\0' || *end == '\n') && pid > 0 ? pid : 0;
}

static void s_lock_holder(void)
{
	char dir[] = "/tmp/test-mfa-XXXXXX";
	if (!mkdtemp(dir)) {
		tap_ok(0, "lock: mkdtemp");
		return;
	}
	char cdir[64];
	snprintf(cdir, sizeof cdir, "%s/c", dir);
	cp_cache c = {.dirfd = -1};
	cp_error err = {0};
	cp_cache_lockfile lk = {.fd = -1};
	const char *key = "mfa lock key";
	cp_cache_open(&c, cdir, &err);
	tap_ok(c.usable && s_lock_file_pid(cdir, key) == 0, "lock: no holder before anyone locks");

	int go[2], done[2];
	if (pipe(go) < 0 || pipe(done) < 0)
		return;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		cp_cache_lockfile l = {.fd = -1};
		char b = 0;
		int st = 1;
		if (cp_cache_lock(&c, key, 1000, &l, NULL) == 0 && l.fd >= 0) {
			s_write_full(go[1], "x", 1);
			if (read(done[0], &b, 1) == 1)
				st = 0;
			cp_cache_unlock(&l);
			s_write_full(go[1], "y", 1);
		}
		cp_cache_close(&c);
		_exit(st);
	}
	char b;
	tap_ok(read(go[0], &b, 1) == 1, "lock: a child holds the lock");
	long holder = s_lock_file_pid(cdir, key);
	tap_ok(holder == (long)pid, "lock: the holder's pid is in the lock file (%ld, child %ld)", holder,
	       (long)pid);

	/* Without an MFA step in the chain, the note does not mention prompts. */
	s_nwarn = 0;
	s_lastwarn[0] = '\0';
	int r0 = cp_cache_lock(&c, key, 1300, &lk, &err);
	tap_ok(r0 == CP_ETRANSPORT && s_nwarn == 1 && !strstr(s_lastwarn, "MFA"),
	       "lock: without MFA the wait note does not mention a prompt: %s", s_lastwarn);

	c.wait_may_be_for_a_person = true;
	s_nwarn = 0;
	s_lastwarn[0] = '\0';
	int64_t t0 = cp_mono_ms();
	int r = cp_cache_lock(&c, key, 1600, &lk, &err);
	int64_t dt = cp_mono_ms() - t0;
	char want[128];
	snprintf(want, sizeof want, "waiting for aws-credproc (pid %ld) holding the cache lock '%s/", (long)pid,
		 cdir);
	tap_ok(r == CP_ETRANSPORT && dt >= 1500, "lock: the wait times out (%lld ms)", (long long)dt);
	tap_ok(s_nwarn == 1 && strstr(s_lastwarn, want) && strstr(s_lastwarn, ".lock' (an MFA prompt may be open)"),
	       "lock: one warning after a second, naming the holder: %s", s_lastwarn);

	s_nwarn = 0;
	s_write_full(done[1], "x", 1);
	tap_ok(read(go[0], &b, 1) == 1 && s_lock_file_pid(cdir, key) == 0,
	       "lock: released -> the lock file no longer names a holder");
	waitpid(pid, NULL, 0);
	tap_ok(cp_cache_lock(&c, key, 1000, &lk, &err) == 0 && lk.fd >= 0 &&
		       s_lock_file_pid(cdir, key) == (long)getpid() && s_nwarn == 0,
	       "lock: taken at once, no warning; our pid is written");
	cp_cache_unlock(&lk);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	int removed = 0;
	cp_cache_clear(&c, NULL, &removed, &err);
	cp_cache_close(&c);
	rmdir(cdir);
	rmdir(dir);
}

int main(void)
{
	cp_set_warn_handler(s_on_warn, NULL);
	signal(SIGPIPE, SIG_IGN);
	s_parser();
	s_process();
	s_tty();
	s_no_tty();
	s_lock_holder();
	return tap_done();
}
