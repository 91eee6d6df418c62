/* spawn.c - one helper command with a deadline and a capped stdout (spawn.h). */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "retry.h"

/* How often a child that keeps its stdout open is checked for having
 * exited (a background grandchild may be what holds the pipe). */
#define S_EXIT_CHECK_MS 50

static const int s_forwarded[] = {SIGTERM, SIGINT, SIGHUP};
#define S_NFORWARDED (sizeof s_forwarded / sizeof s_forwarded[0])

/* The process group of the running child, 0 when there is none. */
static volatile sig_atomic_t s_child_pgid;

/* Signals stay forwarded while a child runs; everything to undo after. */
typedef struct s_signals {
	struct sigaction old[S_NFORWARDED];
	bool installed[S_NFORWARDED];
	sigset_t set;     /* s_forwarded */
	sigset_t oldmask; /* the mask before we blocked them */
	int pdeath;       /* the child's parent-death signal */
} s_signals;

/* Forwards sig to the child's group, then dies of it. SIGTERM follows
 * (a shell's background job ignores SIGINT), then SIGCONT (a stopped
 * member, e.g. one that read the terminal from the background, would
 * otherwise keep both pending). */
static void s_forward(int sig)
{
	int saved = errno;
	pid_t pg = (pid_t)s_child_pgid;
	if (pg > 0) {
		kill(-pg, sig);
		if (sig != SIGTERM)
			kill(-pg, SIGTERM);
		kill(-pg, SIGCONT);
	}
	signal(sig, SIG_DFL);
	raise(sig); /* delivered, with the default action, when we return */
	errno = saved;
}

/* Blocks the forwarded signals and installs s_forward for those not
 * ignored. They stay blocked until s_signals_arm(). */
static void s_signals_install(s_signals *s)
{
	sigemptyset(&s->set);
	for (size_t i = 0; i < S_NFORWARDED; i++)
		sigaddset(&s->set, s_forwarded[i]);
	sigprocmask(SIG_BLOCK, &s->set, &s->oldmask);
	s->pdeath = SIGTERM;
	for (size_t i = 0; i < S_NFORWARDED; i++) {
		s->installed[i] = false;
		if (sigaction(s_forwarded[i], NULL, &s->old[i]) < 0)
			continue;
		bool plain = !(s->old[i].sa_flags & SA_SIGINFO);
		if (plain && s->old[i].sa_handler == SIG_IGN) {
			if (s_forwarded[i] == SIGTERM)
				s->pdeath = SIGKILL; /* a SIGTERM the child would ignore too */
			continue;
		}
		if (!plain || s->old[i].sa_handler != SIG_DFL)
			continue; /* someone else's handler: leave it */
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = s_forward;
		sa.sa_mask = s->set;
		if (sigaction(s_forwarded[i], &sa, NULL) == 0)
			s->installed[i] = true;
	}
}

/* The child is known: from now on a signal reaches its group. */
static void s_signals_arm(s_signals *s, pid_t pgid)
{
	s_child_pgid = (sig_atomic_t)pgid;
	sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
}

/* Puts back the dispositions and the mask. In the child (before exec),
 * async-signal-safe; in the parent, with the signals blocked first so that
 * none arrives half-way. */
static void s_signals_restore(s_signals *s, bool parent)
{
	if (parent) {
		sigprocmask(SIG_BLOCK, &s->set, NULL);
		s_child_pgid = 0;
	}
	for (size_t i = 0; i < S_NFORWARDED; i++)
		if (s->installed[i])
			sigaction(s_forwarded[i], &s->old[i], NULL);
	sigprocmask(SIG_SETMASK, &s->oldmask, NULL);
}

/* The forked child: async-signal-safe calls only; never returns. */
static void s_child(const cp_spawn_options *o, s_signals *sig, pid_t parent, int out_fd)
{
	setpgid(0, 0);
	/* Die with the parent; if it already left, the request came too late. */
	if (prctl(PR_SET_PDEATHSIG, sig->pdeath, 0, 0, 0) < 0 || getppid() != parent)
		_exit(127);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0)
		_exit(127);
	if (o->inherit_fd >= 0 && fcntl(o->inherit_fd, F_SETFD, 0) < 0)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	s_signals_restore(sig, false);
	execl("/bin/sh", "sh", "-c", o->command, (char *)NULL);
	_exit(127);
}

/* Whether the child has exited, without reaping it (its pid, hence its
 * process group id, stays ours until then). */
static bool s_exited(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

/* The child's group, and the child itself should it have left the group
 * (it is not reaped yet: its pid cannot name anyone else). */
static void s_kill_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
}

enum { S_MORE, S_EMPTY, S_END, S_OVER };

/* One read of the pipe into out: S_MORE (read some), S_EMPTY (nothing
 * buffered, non-blocking pipe), S_END (end of file; a read error ends the
 * output too) or S_OVER (over max, *too_big set; or out of memory). */
static int s_read_some(int fd, size_t max, cp_buf *out, bool *too_big)
{
	char chunk[4096];
	int r;
	ssize_t k;
	do
		k = read(fd, chunk, sizeof chunk);
	while (k < 0 && errno == EINTR);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		r = S_EMPTY;
	else if (k <= 0)
		r = S_END;
	else if (out->len + (size_t)k > max)
		r = S_OVER, *too_big = true;
	else
		r = cp_buf_append(out, chunk, (size_t)k) ? S_OVER : S_MORE;
	cp_wipe(chunk, sizeof chunk);
	return r;
}

int cp_spawn_run(const cp_spawn_options *o, cp_spawn_result *ret, cp_error *err)
{
	int out[2] = {-1, -1}, r = 0;
	s_signals sig;
	bool eof = false, kill_group = false, oom = false;
	pid_t pid;

	memset(ret, 0, sizeof *ret);
	if (pipe2(out, O_CLOEXEC) < 0)
		return cp_error_set(err, CP_EINTERNAL, "cannot create a pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t self = getpid();
	s_signals_install(&sig);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		s_signals_restore(&sig, true);
		r = cp_error_set(err, CP_EINTERNAL, "cannot fork: %s", strerror(e));
		goto out;
	}
	if (pid == 0)
		s_child(o, &sig, self, out[1]);
	setpgid(pid, pid); /* also here: a kill before the child's own call must reach it */
	s_signals_arm(&sig, pid);
	close(out[1]);
	out[1] = -1;

	int64_t deadline = cp_mono_ms() + o->timeout_ms;
	for (;;) {
		int64_t left = deadline - cp_mono_ms();
		if (left <= 0) {
			ret->timed_out = true;
			break;
		}
		if (s_exited(pid)) {
			/* Everything it wrote is in the pipe now; what a process it
			 * left behind may still write is not waited for. */
			int fl = fcntl(out[0], F_GETFL), k = S_END;
			if (!eof)
				k = fl < 0 || fcntl(out[0], F_SETFL, fl | O_NONBLOCK) < 0 ? S_EMPTY : S_MORE;
			while (k == S_MORE)
				k = s_read_some(out[0], o->max_output, &ret->out, &ret->too_big);
			oom = k == S_OVER && !ret->too_big;
			kill_group = k == S_EMPTY; /* still held open */
			break;
		}
		if (eof) {
			/* The output is closed; give the shell the rest of the deadline to exit. */
			struct timespec ts = {0, (left < 5 ? left : 5) * 1000000L};
			nanosleep(&ts, NULL);
			continue;
		}
		struct pollfd pfd = {.fd = out[0], .events = POLLIN};
		int n = poll(&pfd, 1, (int)(left < S_EXIT_CHECK_MS ? left : S_EXIT_CHECK_MS));
		if (n < 0 && errno != EINTR)
			eof = true;
		if (n <= 0)
			continue;
		int k = s_read_some(out[0], o->max_output, &ret->out, &ret->too_big);
		if (k == S_END)
			eof = true;
		if (k == S_OVER) {
			oom = !ret->too_big;
			break;
		}
	}
	if (ret->timed_out || ret->too_big || oom || kill_group)
		s_kill_group(pid);
	s_signals_restore(&sig, true);
	while (waitpid(pid, &ret->status, 0) < 0 && errno == EINTR)
		;
	if (oom)
		r = cp_error_set(err, CP_EINTERNAL, "out of memory");
out:
	if (out[0] >= 0)
		close(out[0]);
	if (out[1] >= 0)
		close(out[1]);
	return r;
}

int cp_spawn_check(const cp_spawn_options *o, const cp_spawn_result *res, const char *what,
		   cp_error *err)
{
	int wst = res->status;
	if (res->timed_out)
		return cp_error_set(err, CP_ESOURCE, "%s did not finish within %g s", what,
				    (double)o->timeout_ms / 1000.0);
	if (res->too_big)
		return cp_error_set(err, CP_ESOURCE, "%s printed more than %zu bytes", what, o->max_output);
	if (WIFSIGNALED(wst))
		return cp_error_set(err, CP_ESOURCE, "%s was killed by signal %d", what, WTERMSIG(wst));
	if (WEXITSTATUS(wst) == 127)
		return cp_error_set(err, CP_ESOURCE, "%s could not be run (exit status 127)", what);
	if (WEXITSTATUS(wst) != 0)
		return cp_error_set(err, CP_ESOURCE, "%s failed (exit status %d)", what, WEXITSTATUS(wst));
	return 0;
}

void cp_spawn_result_free(cp_spawn_result *ret)
{
	cp_buf_free(&ret->out);
	memset(ret, 0, sizeof *ret);
}
