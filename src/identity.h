/* identity.h - the text of cache keys: escaped lines and the non-secret
 * identity of a web identity token (DESIGN.md "The cache").
 *
 * Cache keys are plain text, one "name=value" line per input. Nothing here
 * loads libcrypto: these run on the cache-hit path. No function stores a
 * secret: a token contributes its issuer, subject and audience only.
 */
#ifndef CP_IDENTITY_H
#define CP_IDENTITY_H

#include "util.h"

/* Appends "name=value\n" to b, value NULL as empty; backslash, CR and LF in
 * the value become \xNN, so that no value can forge a line of its own.
 * cp_buf_status(b): 0, or CP_EINTERNAL when this or an earlier append to b
 * failed (a key of many lines is checked once, at the end). */
int cp_key_line(cp_buf *b, const char *name, const char *value);

/* The same for a value that is or holds URLs: their userinfo (a password,
 * a secret) is dropped first (cp_strip_userinfo). Returns as cp_key_line. */
int cp_key_url_line(cp_buf *b, const char *name, const char *value);

/* Decodes base64url (RFC 4648 section 5, padding optional) of in[0..len)
 * into a new NUL-terminated heap buffer. 0 with *ret and *ret_len set, or
 * -1 with errno EINVAL (a character outside the alphabet, an impossible
 * length) or ENOMEM. */
int cp_base64url_decode(const char *in, size_t len, char **ret, size_t *ret_len);

/* Appends the identity of a JWT (header.payload.signature) to b as the
 * lines "token-iss=", "token-sub=", "token-aud=" (aud: a string, or the
 * strings of an array joined by ','), taken from the base64url payload
 * without verifying anything. A token that is not a JWT with a JSON
 * payload appends "token-identity=(not a JWT)" instead: the token itself,
 * a secret, never enters the key. 0 or CP_EINTERNAL. */
int cp_jwt_identity(const char *token, cp_buf *b);

#endif
