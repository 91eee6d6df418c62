/* main.c - aws-credproc entry point. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "exec.h"

/* Makes sure fds 0-2 are open, so that nothing we open lands on stdout. */
static void s_sanitize_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (n < 0)
			_exit(1);
		if (n != fd) {
			dup2(n, fd);
			close(n);
		}
	}
}

int main(int argc, char **argv)
{
	s_sanitize_fds();
	signal(SIGPIPE, SIG_IGN);
	/* An ignored SIGCHLD (inherited from whoever started us) would have
	 * the kernel reap our helper commands before we learn their status. */
	signal(SIGCHLD, SIG_DFL);
	cp_exec_orig_umask = umask(077); /* exec gives COMMAND the old one */
	/* Secrets live in this process: no core dumps, no ptrace by peers. */
	getrlimit(RLIMIT_CORE, &cp_exec_orig_core);
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return cp_cli_main(argc, argv);
}
