/* test-identity.c - cache key lines, base64url, JWT identity. */
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "tap.h"
#include "util.h"

static void s_key_lines(void)
{
	cp_buf b = {0};
	tap_ok(cp_key_line(&b, "a", "plain") == 0 && strcmp(b.data, "a=plain\n") == 0, "plain value");
	cp_buf_free(&b);
	tap_ok(cp_key_line(&b, "a", NULL) == 0 && strcmp(b.data, "a=\n") == 0, "NULL is empty");
	cp_buf_free(&b);
	cp_key_line(&b, "endpoint", "https://x\nregion=us-east-1\\");
	tap_ok(strcmp(b.data, "endpoint=https://x\\x0aregion=us-east-1\\x5c\n") == 0,
	       "newline and backslash escaped");
	cp_buf_free(&b);
	/* "a=\x0a" written as text must differ from a newline */
	cp_buf c = {0};
	cp_key_line(&b, "a", "\\x0a");
	cp_key_line(&c, "a", "\n");
	tap_ok(strcmp(b.data, c.data) != 0, "an escape written as text differs from the escaped byte");
	cp_buf_free(&b);
	cp_buf_free(&c);
}

static void s_base64url(void)
{
	char *out = NULL;
	size_t n = 0;
	tap_ok(cp_base64url_decode("aGVsbG8", 7, &out, &n) == 0 && n == 5 && strcmp(out, "hello") == 0,
	       "unpadded");
	free(out);
	tap_ok(cp_base64url_decode("aGVsbG8=", 8, &out, &n) == 0 && n == 5, "padded");
	free(out);
	tap_ok(cp_base64url_decode("-_8", 3, &out, &n) == 0 && n == 2 &&
	       (unsigned char)out[0] == 0xfb && (unsigned char)out[1] == 0xff, "url alphabet");
	free(out);
	tap_ok(cp_base64url_decode("", 0, &out, &n) == 0 && n == 0, "empty");
	free(out);
	tap_ok(cp_base64url_decode("a+b/", 4, &out, &n) != 0, "standard alphabet refused");
	tap_ok(cp_base64url_decode("abcde", 5, &out, &n) != 0, "impossible length refused");
	tap_ok(cp_base64url_decode("ab c", 4, &out, &n) != 0, "space refused");
}

static const char *s_identity(const char *token)
{
	static char text[1024];
	cp_buf b = {0};
	text[0] = '\0';
	if (cp_jwt_identity(token, &b) == 0 && b.data)
		snprintf(text, sizeof text, "%s", b.data);
	cp_buf_free(&b);
	return text;
}

static void s_jwt(void)
{
	/* {"alg":"RS256"} . {"iss":"https://oidc.example","sub":"system:sa:a","aud":["sts.amazonaws.com","x"]} */
	const char *arr = "eyJhbGciOiJSUzI1NiJ9."
			  "eyJpc3MiOiJodHRwczovL29pZGMuZXhhbXBsZSIsInN1YiI6InN5c3RlbTpzYTphIiwiYXVkIjpbInN0cy5hbWF6b25hd3MuY29tIiwieCJdfQ"
			  ".c2ln";
	tap_ok(strcmp(s_identity(arr), "token-iss=https://oidc.example\ntoken-sub=system:sa:a\n"
				       "token-aud=sts.amazonaws.com,x\n") == 0,
	       "iss, sub and an aud array");
	/* {"iss":"i","sub":"s","aud":"a","exp":1} */
	const char *str = "e30.eyJpc3MiOiJpIiwic3ViIjoicyIsImF1ZCI6ImEiLCJleHAiOjF9.";
	tap_ok(strcmp(s_identity(str), "token-iss=i\ntoken-sub=s\ntoken-aud=a\n") == 0,
	       "string aud, empty signature");
	tap_ok(strcmp(s_identity("eyJhbGciOiJSUzI1NiJ9.e2e-token-one.sig"), "token-identity=(not a JWT)\n") == 0,
	       "a payload that is not JSON");
	tap_ok(strcmp(s_identity("opaque-secret-token"), "token-identity=(not a JWT)\n") == 0,
	       "an opaque token");
	tap_ok(strstr(s_identity("opaque-secret-token"), "opaque") == NULL, "an opaque token never enters the key");
	/* {"sub":"a\nb"} : a newline in a claim is escaped */
	tap_ok(strcmp(s_identity("e30.eyJzdWIiOiJhXG5iIn0.x"), "token-iss=\ntoken-sub=a\\x0ab\ntoken-aud=\n") == 0,
	       "a newline in a claim cannot forge a line");
	/* [1] : a payload that is JSON but not an object */
	tap_ok(strcmp(s_identity("e30.WzFd.x"), "token-identity=(not a JWT)\n") == 0, "a non-object payload");
	tap_ok(strcmp(s_identity(NULL), "token-identity=(not a JWT)\n") == 0, "NULL");
}

int main(void)
{
	s_key_lines();
	s_base64url();
	s_jwt();
	return tap_done();
}
