/* util.h - errors, growable buffers and secret-safe memory helpers.
 *
 * Conventions used across src/:
 *  - Functions that can fail return 0 on success or a CP_E* status (> 0),
 *    which is also the process exit status the CLI uses. Details go into a
 *    caller-provided cp_error; src/ never prints. The few system-level
 *    helpers that have no cp_error (cp_read_file, cp_base64url_decode)
 *    return 0 or -1 with errno set, never an errno value as a status (ENOENT
 *    is 2, which is CP_ECONFIG). No status is negated or OR-ed together.
 *  - Out-parameters are named ret_* where it helps, are left untouched on
 *    failure, and ownership of returned heap memory passes to the caller.
 *  - Every buffer that may hold a secret is freed with cp_freezero() /
 *    cp_buf_free(), which wipe before freeing.
 */
#ifndef CP_UTIL_H
#define CP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses (DESIGN.md). */
enum {
	CP_OK = 0,
	CP_EINTERNAL = 1,   /* a bug: out of memory, impossible state */
	CP_ECONFIG = 2,     /* usage or configuration error */
	CP_ESOURCE = 3,     /* source credentials unavailable */
	CP_EREFUSED = 4,    /* refused by STS or the credential endpoint */
	CP_ETRANSPORT = 5,  /* transport failure after retries */
	CP_EINTERACTIVE = 6 /* a person is needed and none can be asked */
};

/* Why a remote call failed, in general terms: what the retry and recovery
 * rules of the chain decide on (never message or code strings). Set by the
 * side that understands the protocol (sts.c, http.c, ...); CP_CAUSE_NONE
 * when no class applies. */
typedef enum cp_cause {
	CP_CAUSE_NONE = 0,
	CP_CAUSE_NO_ANSWER,       /* no HTTP answer: refused, reset, timed out, DNS */
	CP_CAUSE_SERVER,          /* HTTP 5xx */
	CP_CAUSE_THROTTLED,       /* HTTP 429 or a throttling error code */
	CP_CAUSE_TLS,             /* certificate or handshake failure: never retried */
	CP_CAUSE_TOO_LARGE,       /* the reply is over its size cap */
	CP_CAUSE_MALFORMED,       /* the reply cannot be parsed */
	CP_CAUSE_CLOCK_SKEW,      /* refused for the request's time (a Date came back) */
	CP_CAUSE_CHAINED_ROLE_CAP,/* DurationSeconds over the 1-hour cap of role chaining */
	CP_CAUSE_EXPIRED_SESSION, /* the signing credentials are expired or unknown */
	CP_CAUSE_REFUSED,         /* any other refusal */
} cp_cause;

/* What the remote side answered, in its own terms (the details behind a
 * cause: the skew offset comes from date, messages quote the code). */
typedef struct cp_remote {
	long http_status;    /* HTTP status of the failing reply, 0 if none */
	int64_t date;        /* the failing reply's Date header (Unix seconds), 0 if none */
	char code[96];       /* remote error code (e.g. STS "AccessDenied"), "" if none */
} cp_remote;

typedef struct cp_error {
	int status;          /* CP_E*, 0 when no error */
	cp_cause cause;      /* CP_CAUSE_*, for remote failures */
	cp_remote remote;    /* the reply's details, for remote failures */
	char msg[1024];      /* one line, no trailing newline, never a secret */
} cp_error;

/* Sets err (if non-NULL) and returns status; err->cause becomes
 * CP_CAUSE_NONE (remote is kept). The message is formatted with
 * printf semantics, truncated to fit, and made safe to print
 * (cp_message_clean: one line, no control character, no URL userinfo). */
int cp_error_set(cp_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* cp_error_set() that also sets err->cause: what every remote failure uses. */
int cp_error_set_cause(cp_error *err, int status, cp_cause cause, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prepends "prefix: " to an existing message (keeps status, cause and remote); the
 * result is cleaned as by cp_error_set(). */
void cp_error_prefix(cp_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cp_error_clear(cp_error *err);
/* Worth another attempt: a CP_ETRANSPORT whose cause is no answer, a 5xx or
 * throttling. Decided by the cause alone. */
bool cp_error_retryable(const cp_error *e);

/* Text from outside (server replies above all: error codes and messages,
 * anything parsed from a response) is data, never terminal control. Copies
 * the n bytes at s (NULs included) into out as one printable line: C0
 * controls, DEL, C1 controls (U+0080-U+009F encoded as UTF-8) and every byte
 * that is not part of well-formed UTF-8 (a raw 0x80-0x9F, an overlong form, a
 * surrogate, beyond U+10FFFF, a cut-short sequence) become '?'; tab, CR and
 * LF become a space; printable UTF-8 is kept. out (outlen > 0) is always
 * NUL-terminated, truncated at a character boundary; out may be s (the
 * result is never longer). Returns strlen(out). */
size_t cp_safe_text(char *out, size_t outlen, const char *s, size_t n);

/* Copies the text s into out without the userinfo of any URL in it:
 * "scheme://user:pass@host/..." becomes "scheme://host/...". The authority
 * after each "://" ends at '/', '?', '#', white space or a control
 * character; everything up to its last '@' is dropped. out (outlen > 0) is
 * always NUL-terminated; a truncated copy never holds a part of a userinfo;
 * out may be s. Returns strlen(out). */
size_t cp_strip_userinfo(char *out, size_t outlen, const char *s);

/* Both of the above, in place, on a NUL-terminated message: what every
 * message sink (cp_error_set, cp_error_prefix, cp_warn, cp_debug and the
 * CLI's last line) applies before anything reaches stderr. */
void cp_message_clean(char *msg);

/* Warning sink: library code reports non-fatal conditions through this. */
typedef void (*cp_warn_fn)(void *userdata, const char *msg);
void cp_set_warn_handler(cp_warn_fn fn, void *userdata);
void cp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning that explains a wait a person may be watching (another process
 * holds the lock while it asks for an MFA code): the progress handler when
 * one is set (the CLI writes it at once), else the warning sink. */
void cp_set_progress_handler(cp_warn_fn fn, void *userdata);
void cp_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Debug sink (--debug). Never pass a secret. */
void cp_set_debug(bool on);
void cp_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* An HTTP header (borrowed strings). */
typedef struct cp_header {
	const char *name;
	const char *value;
} cp_header;

/* Growable byte buffer, always NUL-terminated when data != NULL.
 * The first append that fails (out of memory) sets `failed`; every later
 * append then leaves the buffer as it is and fails too. So a sequence of
 * appends needs no status of its own: check once at the end
 * (cp_buf_status), never OR the results together. */
typedef struct cp_buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;                 /* an append failed: the content is incomplete */
} cp_buf;

int cp_buf_append(cp_buf *b, const void *p, size_t n);      /* 0 or CP_EINTERNAL */
int cp_buf_puts(cp_buf *b, const char *s);                   /* 0 or CP_EINTERNAL */
int cp_buf_printf(cp_buf *b, const char *fmt, ...)           /* 0 or CP_EINTERNAL */
	__attribute__((format(printf, 2, 3)));
int cp_buf_putc(cp_buf *b, char c);                          /* 0 or CP_EINTERNAL */
/* 0, or CP_EINTERNAL when an append has failed since the buffer was empty. */
int cp_buf_status(const cp_buf *b);
/* Detaches the data (caller frees; may be NULL if nothing appended); b is
 * reset to empty (failed cleared). */
char *cp_buf_steal(cp_buf *b);
/* Wipes and frees the storage; b is reset to empty. */
void cp_buf_free(cp_buf *b);

/* Memory helpers. */
void cp_wipe(void *p, size_t n);          /* explicit_bzero */
void cp_freezero(void *p, size_t n);      /* wipe n bytes then free */
void cp_free_secret(char *s);             /* wipe strlen(s) bytes then free; NULL ok */
char *cp_strdup(const char *s);           /* NULL on OOM or s == NULL */
char *cp_strndup(const char *s, size_t n);
char *cp_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole regular file with a size cap (symbolic links followed).
 * Returns 0 and the NUL-terminated data (caller frees; may be a secret), or
 * -1 with errno set (never a CP_E* status: the caller words the failure):
 * ENOENT, EACCES, ..., EFBIG when larger than max, EISDIR for a directory,
 * EINVAL for anything else that is not a regular file (a FIFO, a terminal, a
 * device: refused before it is even opened, so that nothing can block or
 * feed us for ever), ENOMEM. */
int cp_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len);
/* cp_read_file() in two steps, for a caller that keeps the descriptor:
 * cp_open_regular() opens a regular file for reading (the same checks and
 * errors, O_CLOEXEC) and fstat()s it into *ret_st: the fd, or -1 with
 * errno; cp_read_fd() reads fd from its offset to the end into a
 * NUL-terminated heap buffer, `size` (fstat's) sizing it: 0, or -1 with
 * errno (EFBIG when size or what is read is larger than max, ENOMEM, the
 * read's errno). */
struct stat;
int cp_open_regular(const char *path, struct stat *ret_st);
int cp_read_fd(int fd, size_t size, size_t max, char **ret_data, size_t *ret_len);
/* The reason for a cp_read_file() error, for a message: "not a regular
 * file" (EINVAL), "is a directory" (EISDIR), else strerror(). Static text. */
const char *cp_read_file_strerror(int e);

/* The environment variable `name` when it is set and not empty; else NULL
 * (as the SDKs read theirs: empty means unset). */
const char *cp_env(const char *name);

/* ASCII helpers (locale-independent). */
bool cp_streq_icase(const char *a, const char *b);
char *cp_trim(char *s);  /* trims spaces/tabs/CR/LF in place, returns start */
/* Levenshtein distance between a and b (byte-wise, case-sensitive); names
 * longer than 64 bytes give SIZE_MAX (never "close"). */
size_t cp_edit_distance(const char *a, const char *b);

/* Time helpers: UTC "YYYY-MM-DDTHH:MM:SSZ" (buf >= 21 bytes). */
void cp_format_iso8601(int64_t t, char buf[static 21]);
/* Parses RFC 3339 / ISO 8601 timestamps as STS/IMDS send them:
 * "YYYY-MM-DDTHH:MM:SS[.fff...](Z|+hh:mm|-hh:mm)". Fractions are dropped.
 * Returns 0 and sets *ret, or -1 if malformed. */
int cp_parse_iso8601(const char *s, int64_t *ret);

/* Current time, seconds since epoch. */
int64_t cp_now(void);

/* 64 random bits, never blocking (getrandom, else a mix of the pid, the
 * clock and a counter). Not for secrets: temp file names, jitter. */
uint64_t cp_random64(void);

#endif
