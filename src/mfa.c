/* mfa.c - the MFA code: credproc_mfa_process or a prompt on /dev/tty.
 *
 * Nothing here reads stdin or writes stdout (stdout carries the JSON), and
 * nothing quotes the code: it is wiped from every buffer that held it.
 */
#include "mfa.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"
#include "retry.h"

static bool s_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

bool cp_mfa_parse_code(const char *text, size_t len, char ret[static CP_MFA_CODE_SIZE])
{
	memset(ret, 0, CP_MFA_CODE_SIZE);
	if (!text)
		return false;
	const char *nl = memchr(text, '\n', len);
	if (nl)
		len = (size_t)(nl - text);
	size_t a = 0, b = len;
	while (a < b && s_blank(text[a]))
		a++;
	while (b > a && s_blank(text[b - 1]))
		b--;
	if (b - a != CP_MFA_CODE_DIGITS)
		return false;
	for (size_t i = a; i < b; i++)
		if (text[i] < '0' || text[i] > '9')
			return false;
	memcpy(ret, text + a, CP_MFA_CODE_DIGITS);
	return true;
}

/* ---- credproc_mfa_process --------------------------------------------- */

int cp_mfa_from_process(const char *profile, const char *command, const char *serial,
			long timeout_ms, char ret[static CP_MFA_CODE_SIZE], cp_error *err)
{
	const char *who = profile ? profile : "(command line)";
	cp_spawn_result res = {0};
	int r;

	memset(ret, 0, CP_MFA_CODE_SIZE);
	if (timeout_ms <= 0)
		timeout_ms = CP_MFA_PROCESS_TIMEOUT_MS;
	if (!command || !*command)
		return cp_error_set(err, CP_ECONFIG, "credproc_mfa_process of profile '%s' is empty", who);
	cp_debug("MFA: running credproc_mfa_process of profile '%s' for '%s'", who, serial);
	cp_spawn_options o = {
		.command = command,
		.timeout_ms = timeout_ms,
		.max_output = CP_MFA_MAX_OUTPUT,
		.inherit_fd = -1,
	};
	char what[600];
	snprintf(what, sizeof what, "credproc_mfa_process of profile '%s'", who);
	if ((r = cp_spawn_run(&o, &res, err)) || (r = cp_spawn_check(&o, &res, what, err)))
		goto out;
	if (!cp_mfa_parse_code(res.out.data, res.out.len, ret))
		r = cp_error_set(err, CP_ESOURCE,
				 "credproc_mfa_process of profile '%s' did not print a %d-digit MFA code "
				 "for '%s' on its first line", who, CP_MFA_CODE_DIGITS, serial);
	else
		r = 0;
out:
	cp_spawn_result_free(&res);
	if (r)
		memset(ret, 0, CP_MFA_CODE_SIZE);
	return r;
}

/* ---- the terminal ------------------------------------------------------ */

/* The serial as shown on the terminal: control characters become '?'. */
static void s_printable(const char *s, char *out, size_t outlen)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o + 1 < outlen; p++)
		out[o++] = (*p < 0x20 || *p == 0x7F) ? '?' : (char)*p;
	out[o] = '\0';
}

static int s_write_str(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : EIO;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int cp_mfa_from_tty(const char *serial, long timeout_ms, char ret[static CP_MFA_CODE_SIZE],
		    cp_error *err)
{
	char shown[512], prompt[640], line[64], chunk[64];
	struct termios saved;
	bool restore = false;
	int fd, r = 0, e;

	memset(ret, 0, CP_MFA_CODE_SIZE);
	if (timeout_ms <= 0)
		timeout_ms = CP_MFA_PROMPT_TIMEOUT_MS;
	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		cp_debug("MFA: cannot open /dev/tty: %s", strerror(errno));
		return cp_error_set(err, CP_EINTERACTIVE,
				    "MFA code needed for '%s' but there is no terminal; set credproc_mfa_process",
				    serial);
	}
	/* A background process that reads its terminal is stopped (SIGTTIN):
	 * that would hang the caller, so it is "no terminal" too. */
	pid_t fg = tcgetpgrp(fd);
	if (fg != getpgrp()) {
		close(fd);
		cp_debug("MFA: the terminal's foreground process group is %ld, ours %ld", (long)fg,
			 (long)getpgrp());
		return cp_error_set(err, CP_EINTERACTIVE,
				    "MFA code needed for '%s' but aws-credproc is not in the foreground of "
				    "its terminal; set credproc_mfa_process",
				    serial);
	}
	/* A line, with echo: canonical mode, Enter ends the line. */
	if (tcgetattr(fd, &saved) == 0) {
		struct termios t = saved;
		t.c_lflag |= ICANON | ECHO | ECHOE | ECHOK;
		t.c_iflag |= ICRNL;
		t.c_iflag &= ~(tcflag_t)IGNCR;
		if ((t.c_lflag != saved.c_lflag || t.c_iflag != saved.c_iflag) &&
		    tcsetattr(fd, TCSANOW, &t) == 0)
			restore = true;
	}
	s_printable(serial, shown, sizeof shown);

	int64_t deadline = cp_mono_ms() + timeout_ms;
	for (int attempt = 1;; attempt++) {
		if (attempt > CP_MFA_MAX_PROMPTS) {
			r = cp_error_set(err, CP_EINTERACTIVE,
					 "no valid MFA code for '%s' after %d attempts (%d digits expected)",
					 serial, CP_MFA_MAX_PROMPTS, CP_MFA_CODE_DIGITS);
			break;
		}
		snprintf(prompt, sizeof prompt, "%sEnter MFA code for %s: ",
			 attempt > 1 ? "That is not a 6-digit code.\n" : "", shown);
		if ((e = s_write_str(fd, prompt))) {
			r = cp_error_set(err, CP_EINTERACTIVE,
					 "MFA code needed for '%s' but the terminal cannot be written: %s",
					 serial, strerror(e));
			break;
		}
		size_t n = 0;
		bool done = false, too_long = false;
		while (!done) {
			int64_t left = deadline - cp_mono_ms();
			if (left <= 0) {
				s_write_str(fd, "\n");
				r = cp_error_set(err, CP_EINTERACTIVE,
						 "no MFA code for '%s' was entered within %g s", serial,
						 (double)timeout_ms / 1000.0);
				goto out;
			}
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			int k = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				r = cp_error_set(err, CP_EINTERACTIVE,
						 "cannot read the MFA code from the terminal: %s", strerror(errno));
				goto out;
			}
			if (k == 0)
				continue;
			ssize_t got = read(fd, chunk, sizeof chunk);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got < 0) {
				r = cp_error_set(err, CP_EINTERACTIVE,
						 "cannot read the MFA code from the terminal: %s", strerror(errno));
				goto out;
			}
			if (got == 0) {
				s_write_str(fd, "\n");
				r = cp_error_set(err, CP_EINTERACTIVE,
						 "the MFA prompt for '%s' ended without a code (end of input)",
						 serial);
				goto out;
			}
			for (ssize_t i = 0; i < got; i++) {
				if (chunk[i] == '\n' || chunk[i] == '\r') {
					done = true;
					break;
				}
				if (n < sizeof line)
					line[n++] = chunk[i];
				else
					too_long = true;
			}
			cp_wipe(chunk, sizeof chunk);
		}
		bool ok = !too_long && cp_mfa_parse_code(line, n, ret);
		cp_wipe(line, sizeof line);
		if (ok)
			break;
	}
out:
	cp_wipe(line, sizeof line);
	cp_wipe(chunk, sizeof chunk);
	if (restore)
		tcsetattr(fd, TCSANOW, &saved);
	close(fd);
	if (r)
		memset(ret, 0, CP_MFA_CODE_SIZE);
	return r;
}
