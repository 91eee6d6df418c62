/* sts.c - the STS client: AssumeRole over SigV4 and the awsQuery XML replies.
 *
 * XML is parsed by libxml2 with network access, entity substitution and DTD
 * loading off; a document that declares a DOCTYPE at all is refused before
 * parsing. Text that may hold a secret is wiped in libxml2's tree and in the
 * strings it hands back before they are freed.
 */
#include "sts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "http.h"
#include "sigv4.h"

#define S_FORM_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* ---- XML helpers ------------------------------------------------------ */

static bool s_name_is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->name &&
	       strcmp((const char *)n->name, name) == 0;
}

static bool s_name_ends_with(const xmlNode *n, const char *suffix)
{
	if (!n || n->type != XML_ELEMENT_NODE || !n->name)
		return false;
	size_t ln = strlen((const char *)n->name), ls = strlen(suffix);
	return ln > ls && strcmp((const char *)n->name + ln - ls, suffix) == 0;
}

/* First child element with the given local name (any namespace). */
static xmlNode *s_child(const xmlNode *parent, const char *name)
{
	if (!parent)
		return NULL;
	for (xmlNode *c = parent->children; c; c = c->next)
		if (s_name_is(c, name))
			return c;
	return NULL;
}

/* The element's text content as our own heap string (verbatim), or NULL if
 * the element is absent. *oom is set on allocation failure. */
static char *s_text(const xmlNode *n, bool *oom)
{
	if (!n)
		return NULL;
	xmlChar *c = xmlNodeGetContent(n);
	if (!c) {
		char *e = cp_strdup("");
		if (!e)
			*oom = true;
		return e;
	}
	size_t len = strlen((const char *)c);
	char *s = cp_strndup((const char *)c, len);
	cp_wipe(c, len);
	xmlFree(c);
	if (!s)
		*oom = true;
	return s;
}

/* Like s_text, with surrounding whitespace removed (for non-secret fields). */
static char *s_text_trimmed(const xmlNode *n, bool *oom)
{
	char *s = s_text(n, oom);
	if (!s)
		return NULL;
	char *t = cp_trim(s);
	if (t != s)
		memmove(s, t, strlen(t) + 1);
	return s;
}

/* Wipes every text node of the tree (parsed with XML_PARSE_NODICT, so each
 * text is a separate allocation). */
static void s_wipe_tree(xmlNode *n)
{
	for (; n; n = n->next) {
		if ((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content)
			cp_wipe(n->content, strlen((const char *)n->content));
		if (n->children && n->type != XML_ENTITY_REF_NODE)
			s_wipe_tree(n->children);
	}
}

static bool s_mem_contains(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* "arn:partition:sts::ACCOUNT:assumed-role/..." -> ACCOUNT (digits only). */
static char *s_account_from_arn(const char *arn, bool *oom)
{
	if (!arn || strncmp(arn, "arn:", 4) != 0)
		return NULL;
	const char *p = arn;
	for (int i = 0; i < 4; i++) {
		p = strchr(p, ':');
		if (!p)
			return NULL;
		p++;
	}
	size_t n = strspn(p, "0123456789");
	if (n == 0 || p[n] != ':')
		return NULL;
	char *a = cp_strndup(p, n);
	if (!a)
		*oom = true;
	return a;
}

void cp_sts_reply_free(cp_sts_reply *r)
{
	if (!r)
		return;
	cp_creds_clear(&r->creds);
	cp_free_secret(r->expiration_text);
	cp_free_secret(r->assumed_role_arn);
	cp_free_secret(r->request_id);
	cp_free_secret(r->error_type);
	cp_free_secret(r->error_code);
	cp_free_secret(r->error_message);
	memset(r, 0, sizeof *r);
}

static int s_parse_error(const xmlNode *root, cp_sts_reply *rep, bool *oom, cp_error *err)
{
	const xmlNode *e = s_child(root, "Error");
	if (!e) /* EC2-style <Response><Errors><Error> */
		e = s_child(s_child(root, "Errors"), "Error");
	if (!e)
		return cp_error_set(err, CP_ETRANSPORT, "STS error reply without an Error element");
	rep->is_error = true;
	rep->error_type = s_text_trimmed(s_child(e, "Type"), oom);
	rep->error_code = s_text_trimmed(s_child(e, "Code"), oom);
	rep->error_message = s_text_trimmed(s_child(e, "Message"), oom);
	const xmlNode *rid = s_child(root, "RequestId");
	if (!rid)
		rid = s_child(root, "RequestID");
	if (!rid)
		rid = s_child(s_child(root, "ResponseMetadata"), "RequestId");
	rep->request_id = s_text_trimmed(rid, oom);
	if (*oom)
		return CP_EINTERNAL;
	if (!rep->error_code || !rep->error_code[0])
		return cp_error_set(err, CP_ETRANSPORT, "STS error reply without an error code");
	return 0;
}

static int s_parse_result(const xmlNode *root, cp_sts_reply *rep, bool *oom, cp_error *err)
{
	const xmlNode *result = NULL;
	for (const xmlNode *c = root->children; c && !result; c = c->next)
		if (s_name_ends_with(c, "Result"))
			result = c;
	if (!result)
		return cp_error_set(err, CP_ETRANSPORT, "STS reply without a Result element");
	const xmlNode *cr = s_child(result, "Credentials");
	if (!cr)
		return cp_error_set(err, CP_ETRANSPORT, "STS reply without Credentials");

	rep->creds.access_key_id = s_text(s_child(cr, "AccessKeyId"), oom);
	rep->creds.secret_access_key = s_text(s_child(cr, "SecretAccessKey"), oom);
	rep->creds.session_token = s_text(s_child(cr, "SessionToken"), oom);
	rep->expiration_text = s_text(s_child(cr, "Expiration"), oom);
	const xmlNode *user = s_child(result, "AssumedRoleUser");
	if (!user)
		user = s_child(result, "FederatedUser");
	rep->assumed_role_arn = s_text_trimmed(s_child(user, "Arn"), oom);
	rep->creds.account_id = s_account_from_arn(rep->assumed_role_arn, oom);
	rep->request_id = s_text_trimmed(s_child(s_child(root, "ResponseMetadata"), "RequestId"), oom);
	if (*oom)
		return CP_EINTERNAL;

	if (!rep->creds.access_key_id || !rep->creds.access_key_id[0] ||
	    !rep->creds.secret_access_key || !rep->creds.secret_access_key[0])
		return cp_error_set(err, CP_ETRANSPORT, "STS reply without an access key");
	if (rep->expiration_text) {
		char tmp[64];
		snprintf(tmp, sizeof tmp, "%s", rep->expiration_text);
		if (strlen(rep->expiration_text) >= sizeof tmp ||
		    cp_parse_iso8601(cp_trim(tmp), &rep->creds.expiration) != 0 ||
		    rep->creds.expiration <= 0)
			return cp_error_set(err, CP_ETRANSPORT, "STS reply with a malformed Expiration");
	}
	return 0;
}

int cp_sts_parse_xml(const char *xml, size_t len, cp_sts_reply *ret, cp_error *err)
{
	if (!xml || len == 0)
		return cp_error_set(err, CP_ETRANSPORT, "empty STS reply");
	if (len > CP_STS_MAX_XML)
		return cp_error_set(err, CP_ETRANSPORT, "STS reply exceeds %d bytes", CP_STS_MAX_XML);
	/* UTF-8 only (STS sends nothing else): the document is read as UTF-8
	 * whatever it declares, so the byte scan below sees all markup. */
	size_t i = len >= 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
	while (i < len && (xml[i] == ' ' || xml[i] == '\t' || xml[i] == '\r' || xml[i] == '\n'))
		i++;
	if (i == len || xml[i] != '<' || memchr(xml, '\0', len))
		return cp_error_set(err, CP_ETRANSPORT, "STS reply is not XML");
	/* No DTDs at all: nothing to expand, nothing to fetch. */
	if (s_mem_contains(xml, len, "<!DOCTYPE") || s_mem_contains(xml, len, "<!ENTITY"))
		return cp_error_set(err, CP_ETRANSPORT,
				    "STS reply contains a document type declaration");

	xmlDoc *doc = xmlReadMemory(xml, (int)len, NULL, "UTF-8",
				    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
					    XML_PARSE_NODICT | XML_PARSE_IGNORE_ENC);
	if (!doc)
		return cp_error_set(err, CP_ETRANSPORT, "STS reply is not well-formed XML");

	cp_sts_reply rep = {0};
	bool oom = false;
	int r;
	xmlNode *root = xmlDocGetRootElement(doc);
	if (doc->intSubset || doc->extSubset) {
		r = cp_error_set(err, CP_ETRANSPORT, "STS reply contains a document type declaration");
	} else if (!root) {
		r = cp_error_set(err, CP_ETRANSPORT, "STS reply without a root element");
	} else if (s_name_is(root, "ErrorResponse") ||
		   (s_name_is(root, "Response") && s_child(root, "Errors"))) {
		r = s_parse_error(root, &rep, &oom, err);
	} else if (s_name_ends_with(root, "Response")) {
		r = s_parse_result(root, &rep, &oom, err);
	} else {
		r = cp_error_set(err, CP_ETRANSPORT, "STS reply with an unexpected root element '%.64s'",
				 (const char *)root->name);
	}
	if (r == CP_EINTERNAL)
		r = cp_error_set(err, CP_EINTERNAL, "out of memory parsing the STS reply");

	s_wipe_tree(doc->children);
	xmlFreeDoc(doc);
	if (r) {
		cp_sts_reply_free(&rep);
		return r;
	}
	*ret = rep; /* transferred */
	return 0;
}

/* ---- request body ----------------------------------------------------- */

/* RFC 3986 percent-encoding: unreserved characters are kept. */
static int s_form_escape(cp_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			if (cp_buf_putc(b, (char)c))
				return CP_EINTERNAL;
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			if (cp_buf_append(b, e, 3))
				return CP_EINTERNAL;
		}
	}
	return 0;
}

static int s_form_param(cp_buf *b, const char *name, const char *value)
{
	if (cp_buf_putc(b, '&') || cp_buf_puts(b, name) || cp_buf_putc(b, '=') ||
	    s_form_escape(b, value))
		return CP_EINTERNAL;
	return 0;
}

/* ---- parameter validation ---------------------------------------------
 *
 * The constraints of the STS service model (sts-service-2.json) and its
 * documentation, checked before anything is sent so that a bad setting is a
 * configuration error naming the parameter, not a round trip. Where the model
 * uses Unicode classes (tag keys: [\p{L}\p{Z}\p{N}_.:/=+\-@]) non-ASCII
 * letters are let through and left to STS. Lengths count characters (code
 * points), as the model does. Values quoted in messages are tag keys and
 * policy ARNs, which are not secrets; the policy text, tag values and the
 * source identity are never quoted. */

#define S_POLICY_MAX_WEB_IDENTITY 2048 /* sessionPolicyDocumentType; AssumeRole's
					* unrestrictedSessionPolicyDocumentType has none */
#define S_POLICY_ARNS_MAX 10           /* documented; the list shape has no max */
#define S_ARN_MIN 20
#define S_ARN_MAX 2048
#define S_TAGS_MAX 50
#define S_TAG_KEY_MAX 128
#define S_TAG_VALUE_MAX 256
#define S_SOURCE_IDENTITY_MIN 2
#define S_SOURCE_IDENTITY_MAX 64
#define S_WEB_TOKEN_MIN 4
#define S_WEB_TOKEN_MAX 20000

/* Decodes the code point at *p and advances past it; -1 (and *p unmoved)
 * when the bytes are not well-formed UTF-8 (overlong, surrogate, truncated,
 * above U+10FFFF). */
static long s_utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	unsigned c = s[0];
	long cp;
	int n;
	if (c < 0x80) {
		*p = s + 1;
		return (long)c;
	} else if (c >= 0xC2 && c <= 0xDF) {
		n = 1;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 2;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 3;
		cp = c & 0x07;
	} else {
		return -1;
	}
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*p = s + n + 1;
	return cp;
}

/* Policy documents: [\u0009\u000A\u000D\u0020-\u00FF]. */
static bool s_policy_char(long c)
{
	return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0xFF);
}

/* arnType. */
static bool s_arn_char(long c)
{
	return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
	       (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
	       (c >= 0x10000 && c <= 0x10FFFF);
}

/* tagKeyType / tagValueType: ASCII letters, digits, space and _.:/=+-@;
 * non-ASCII from U+00A0 on is left to STS (letters, separators, numbers). */
static bool s_tag_char(long c)
{
	if (c >= 0xA0)
		return true;
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr(" _.:/=+-@", (int)c) != NULL);
}

/* sourceIdentityType and roleSessionNameType: [\w+=,.@-] (ASCII \w). */
static bool s_name_char(long c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("_+=,.@-", (int)c) != NULL);
}

/* Checks s against min..max characters (max 0: unbounded) and the
 * character class ok. Returns true when fine; otherwise writes what is wrong
 * ("is empty", "has 3 characters (at least 20)", "contains U+0007 at
 * character 5", ...) into why, without quoting s. */
static bool s_check_str(const char *s, size_t min, size_t max, bool (*ok)(long), char *why,
			size_t whylen)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = 0;
	while (*p) {
		long c = s_utf8_next(&p);
		n++;
		if (c < 0) {
			snprintf(why, whylen, "is not valid UTF-8 (at character %zu)", n);
			return false;
		}
		if (!ok(c)) {
			if (c > 0x20 && c < 0x7F)
				snprintf(why, whylen, "contains '%c' (character %zu), which STS does not accept",
					 (int)c, n);
			else
				snprintf(why, whylen, "contains U+%04lX (character %zu), which STS does not accept",
					 c, n);
			return false;
		}
	}
	if (n == 0 && min > 0) {
		snprintf(why, whylen, "is empty");
		return false;
	}
	if (n < min) {
		snprintf(why, whylen, "has %zu character%s (at least %zu)", n, n == 1 ? "" : "s", min);
		return false;
	}
	if (max && n > max) {
		snprintf(why, whylen, "has %zu characters (at most %zu)", n, max);
		return false;
	}
	return true;
}

/* A printable excerpt of a non-secret value for messages: control
 * characters and malformed bytes become '?', long values are cut. */
static void s_excerpt(const char *s, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t o = 0, chars = 0;
	while (*p && chars < 64) {
		const unsigned char *start = p;
		long c = s_utf8_next(&p);
		size_t n = (size_t)(p - start);
		if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
			if (c < 0)
				p++;
			start = (const unsigned char *)"?";
			n = 1;
		}
		if (o + n + 4 >= outlen)
			break;
		memcpy(out + o, start, n);
		o += n;
		chars++;
	}
	if (*p && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

static int s_check_policy(const char *policy, size_t max, cp_error *err)
{
	char why[160];
	if (policy && !s_check_str(policy, 1, max, s_policy_char, why, sizeof why))
		return cp_error_set(err, CP_ECONFIG,
				    "invalid Policy: the session policy %s (tab, newline and "
				    "U+0020..U+00FF are allowed%s)",
				    why, max ? ", at most 2048 characters" : "");
	return 0;
}

static int s_check_policy_arns(const char *const *arns, size_t n, cp_error *err)
{
	char why[160], ex[300];
	if (n && !arns)
		return cp_error_set(err, CP_EINTERNAL, "policy ARN list missing");
	if (n > S_POLICY_ARNS_MAX)
		return cp_error_set(err, CP_ECONFIG,
				    "invalid PolicyArns: %zu managed policy ARNs (at most %d)", n,
				    S_POLICY_ARNS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!s_check_str(arns[i], S_ARN_MIN, S_ARN_MAX, s_arn_char, why, sizeof why)) {
			s_excerpt(arns[i], ex, sizeof ex);
			return cp_error_set(err, CP_ECONFIG, "invalid PolicyArns: policy ARN %zu '%s' %s",
					    i + 1, ex, why);
		}
	}
	return 0;
}

static int s_check_tag_key(const char *param, const char *key, cp_error *err)
{
	char why[160], ex[300];
	if (!s_check_str(key, 1, S_TAG_KEY_MAX, s_tag_char, why, sizeof why)) {
		s_excerpt(key, ex, sizeof ex);
		return cp_error_set(err, CP_ECONFIG, "invalid %s: tag key '%s' %s", param, ex, why);
	}
	return 0;
}

int cp_sts_assume_role_validate(const cp_assume_role_input *in, cp_error *err)
{
	char why[160], ex[300];
	int r;
	if (!in || !in->role_arn || !in->role_session_name)
		return cp_error_set(err, CP_EINTERNAL, "AssumeRole without a role ARN or session name");
	if ((r = s_check_policy(in->policy, 0, err)) || (r = s_check_policy_arns(in->policy_arns,
								   in->npolicy_arns, err)))
		return r;
	if (in->ntags && !in->tags)
		return cp_error_set(err, CP_EINTERNAL, "tag list missing");
	if (in->ntags > S_TAGS_MAX)
		return cp_error_set(err, CP_ECONFIG, "invalid Tags: %zu session tags (at most %d)",
				    in->ntags, S_TAGS_MAX);
	for (size_t i = 0; i < in->ntags; i++) {
		const cp_tag *t = &in->tags[i];
		if ((r = s_check_tag_key("Tags", t->key, err)))
			return r;
		if (!s_check_str(t->value, 0, S_TAG_VALUE_MAX, s_tag_char, why, sizeof why)) {
			s_excerpt(t->key, ex, sizeof ex);
			return cp_error_set(err, CP_ECONFIG, "invalid Tags: the value of tag '%s' %s", ex,
					    why);
		}
		/* Tag keys are case-insensitive: Dept and dept are the same tag. */
		for (size_t j = 0; j < i; j++)
			if (cp_streq_icase(in->tags[j].key, t->key)) {
				s_excerpt(t->key, ex, sizeof ex);
				return cp_error_set(err, CP_ECONFIG,
						    "invalid Tags: tag key '%s' appears more than once "
						    "(tag keys are case-insensitive)",
						    ex);
			}
	}
	if (in->ntransitive_tag_keys && !in->transitive_tag_keys)
		return cp_error_set(err, CP_EINTERNAL, "transitive tag key list missing");
	if (in->ntransitive_tag_keys > S_TAGS_MAX)
		return cp_error_set(err, CP_ECONFIG,
				    "invalid TransitiveTagKeys: %zu transitive tag keys (at most %d)",
				    in->ntransitive_tag_keys, S_TAGS_MAX);
	for (size_t i = 0; i < in->ntransitive_tag_keys; i++)
		if ((r = s_check_tag_key("TransitiveTagKeys", in->transitive_tag_keys[i], err)))
			return r;
	if (in->source_identity &&
	    !s_check_str(in->source_identity, S_SOURCE_IDENTITY_MIN, S_SOURCE_IDENTITY_MAX,
			 s_name_char, why, sizeof why))
		return cp_error_set(err, CP_ECONFIG,
				    "invalid SourceIdentity: the source identity %s (2 to 64 of "
				    "letters, digits and _+=,.@-)",
				    why);
	return 0;
}

int cp_sts_web_identity_validate(const cp_web_identity_input *in, cp_error *err)
{
	int r;
	if (!in || !in->role_arn || !in->role_session_name || !in->token)
		return cp_error_set(err, CP_EINTERNAL,
				    "AssumeRoleWithWebIdentity without a role ARN, session name or token");
	/* The token comes from a file that something else (EKS, a CI runner)
	 * writes: a bad one is a source problem, not configuration. Bytes, not
	 * characters: a JWT is ASCII, and nothing of it is quoted. */
	size_t tl = strlen(in->token);
	if (tl < S_WEB_TOKEN_MIN)
		return cp_error_set(err, CP_ESOURCE, "the web identity token %s",
				    tl ? "is too short to be a token" : "is empty");
	if (tl > S_WEB_TOKEN_MAX)
		return cp_error_set(err, CP_ESOURCE,
				    "the web identity token has %zu bytes (STS accepts at most %d)", tl,
				    S_WEB_TOKEN_MAX);
	if ((r = s_check_policy(in->policy, S_POLICY_MAX_WEB_IDENTITY, err)) ||
	    (r = s_check_policy_arns(in->policy_arns, in->npolicy_arns, err)))
		return r;
	return 0;
}

/* ---- request bodies ---------------------------------------------------- */

/* PolicyArns.member.N.arn=... (awsQuery lists are 1-based). */
static int s_form_policy_arns(cp_buf *b, const char *const *arns, size_t n)
{
	char name[64];
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "PolicyArns.member.%zu.arn", i + 1);
		if (s_form_param(b, name, arns[i]))
			return CP_EINTERNAL;
	}
	return 0;
}

int cp_sts_assume_role_body(const cp_assume_role_input *in, cp_buf *out)
{
	int r = cp_sts_assume_role_validate(in, NULL);
	if (r)
		return r;
	cp_buf b = {0};
	char dur[16], name[64];
	snprintf(dur, sizeof dur, "%d", in->duration_seconds);
	r = CP_EINTERNAL;
	if (cp_buf_puts(&b, "Action=AssumeRole&Version=2011-06-15") ||
	    s_form_param(&b, "RoleArn", in->role_arn) ||
	    s_form_param(&b, "RoleSessionName", in->role_session_name) ||
	    (in->duration_seconds > 0 && s_form_param(&b, "DurationSeconds", dur)) ||
	    (in->external_id && s_form_param(&b, "ExternalId", in->external_id)) ||
	    (in->serial_number && s_form_param(&b, "SerialNumber", in->serial_number)) ||
	    (in->token_code && s_form_param(&b, "TokenCode", in->token_code)) ||
	    (in->policy && s_form_param(&b, "Policy", in->policy)) ||
	    s_form_policy_arns(&b, in->policy_arns, in->npolicy_arns))
		goto out;
	for (size_t i = 0; i < in->ntags; i++) {
		snprintf(name, sizeof name, "Tags.member.%zu.Key", i + 1);
		if (s_form_param(&b, name, in->tags[i].key))
			goto out;
		snprintf(name, sizeof name, "Tags.member.%zu.Value", i + 1);
		if (s_form_param(&b, name, in->tags[i].value ? in->tags[i].value : ""))
			goto out;
	}
	for (size_t i = 0; i < in->ntransitive_tag_keys; i++) {
		snprintf(name, sizeof name, "TransitiveTagKeys.member.%zu", i + 1);
		if (s_form_param(&b, name, in->transitive_tag_keys[i]))
			goto out;
	}
	if ((in->source_identity && s_form_param(&b, "SourceIdentity", in->source_identity)) ||
	    cp_buf_append(out, b.data, b.len))
		goto out;
	r = 0;
out:
	cp_buf_free(&b); /* held the token code */
	return r;
}

int cp_sts_web_identity_body(const cp_web_identity_input *in, cp_buf *out)
{
	int r = cp_sts_web_identity_validate(in, NULL);
	if (r)
		return r;
	cp_buf b = {0};
	char dur[16];
	snprintf(dur, sizeof dur, "%d", in->duration_seconds);
	r = CP_EINTERNAL;
	if (cp_buf_puts(&b, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15") ||
	    s_form_param(&b, "RoleArn", in->role_arn) ||
	    s_form_param(&b, "RoleSessionName", in->role_session_name) ||
	    s_form_param(&b, "WebIdentityToken", in->token) ||
	    (in->duration_seconds > 0 && s_form_param(&b, "DurationSeconds", dur)) ||
	    (in->policy && s_form_param(&b, "Policy", in->policy)) ||
	    s_form_policy_arns(&b, in->policy_arns, in->npolicy_arns) ||
	    cp_buf_append(out, b.data, b.len))
		goto out;
	r = 0;
out:
	cp_buf_free(&b); /* held the token */
	return r;
}

/* ---- AssumeRole ------------------------------------------------------- */

/* True when msg quotes the web identity token, or any long piece of it
 * between dots (a JWT's payload or signature alone is still the token). */
static bool s_quotes_token(const char *msg, const char *token)
{
	if (!token || !token[0])
		return false;
	if (strstr(msg, token))
		return true;
	size_t ml = strlen(msg);
	for (const char *p = token; *p;) {
		size_t n = strcspn(p, ".");
		if (n >= 16 && memmem(msg, ml, p, n))
			return true;
		p += n;
		if (*p)
			p++;
	}
	return false;
}

/* STS messages for SignatureDoesNotMatch can quote the canonical request,
 * which holds the source session token: keep only the first paragraph, and
 * withhold the message entirely if it still quotes a credential (source may
 * be NULL) or the web identity token (may be NULL). What is kept is cleaned
 * (cp_safe_text). */
static void s_safe_message(const char *msg, const cp_creds *source, const char *token, char *out,
			   size_t outlen)
{
	snprintf(out, outlen, "%s", msg ? msg : "");
	char *cut = strstr(out, "\n\n");
	if (cut)
		*cut = '\0';
	cut = strstr(out, "The Canonical String");
	if (cut)
		*cut = '\0';
	cp_safe_text(out, outlen, out, strlen(out)); /* server text is data */
	cp_trim(out);
	if ((source && source->session_token && source->session_token[0] &&
	     strstr(out, source->session_token)) ||
	    (source && source->secret_access_key && source->secret_access_key[0] &&
	     strstr(out, source->secret_access_key)) ||
	    s_quotes_token(msg ? msg : "", token)) /* anywhere, even in a part cut off */
		snprintf(out, outlen, "(message withheld: it quotes request credentials)");
	size_t n = strlen(out);
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\n'))
		out[--n] = '\0';
}

/* Throttling codes from botocore's _retry.json (general and STS) and the
 * SDKs' common throttling list; IDPCommunicationError (the identity
 * provider did not answer STS) is retried like them. */
static bool s_throttling_code(const char *code)
{
	static const char *const codes[] = {
		"Throttling",
		"ThrottlingException",
		"ThrottledException",
		"RequestThrottledException",
		"RequestLimitExceeded",
		"TooManyRequestsException",
		"ProvisionedThroughputExceededException",
		"IDPCommunicationError",
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static bool s_code_in(const char *code, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(code, list[i]) == 0)
			return true;
	return false;
}

cp_cause cp_sts_error_cause(long http_status, const char *code, const char *message,
			    int64_t server_date)
{
	static const char *const skew[] = {"SignatureDoesNotMatch", "RequestExpired",
					   "InvalidSignatureException", "RequestTimeTooSkewed"};
	static const char *const expired[] = {"ExpiredToken", "InvalidClientTokenId"};
	if (!code)
		code = "";
	if (s_throttling_code(code) || http_status == 429)
		return CP_CAUSE_THROTTLED;
	if (http_status >= 500)
		return CP_CAUSE_SERVER;
	if (s_code_in(code, skew, sizeof skew / sizeof skew[0]))
		return server_date ? CP_CAUSE_CLOCK_SKEW : CP_CAUSE_REFUSED;
	/* STS has no code of its own for "DurationSeconds is over the 1-hour
	 * cap of a chained role session": it answers ValidationError, and only
	 * the message tells this case from the other validation errors. This is
	 * the one place that reads a message; nothing else in the protocol
	 * says it. */
	if (strcmp(code, "ValidationError") == 0 && message && strstr(message, "role chaining"))
		return CP_CAUSE_CHAINED_ROLE_CAP;
	if (s_code_in(code, expired, sizeof expired / sizeof expired[0]))
		return CP_CAUSE_EXPIRED_SESSION;
	return CP_CAUSE_REFUSED;
}

/* Turns an STS reply (AssumeRole or AssumeRoleWithWebIdentity) into
 * credentials or an error naming role_arn. source and token are what the
 * request carried, so that no message repeats them (either may be NULL). */
static int s_sts_reply(const cp_sts_endpoint *ep, const char *role_arn, const cp_creds *source,
		       const char *token, const cp_http_response *resp, cp_creds *ret,
		       cp_error *err)
{
	cp_sts_reply rep = {0};
	cp_error perr = {0};
	int pr = cp_sts_parse_xml(resp->body.data, resp->body.len, &rep, &perr);
	int r;
	if (pr == CP_EINTERNAL) {
		r = cp_error_set(err, CP_EINTERNAL, "%s", perr.msg);
		goto out;
	}
	if (resp->status == 200 && pr == 0 && !rep.is_error) {
		if (!rep.creds.access_key_id || !rep.creds.secret_access_key ||
		    !rep.creds.session_token || !rep.creds.session_token[0] ||
		    !rep.expiration_text) {
			r = cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_MALFORMED,
					       "malformed reply from STS at '%s'", ep->url);
			if (err)
				err->remote.http_status = resp->status;
			goto out;
		}
		cp_creds_move(ret, &rep.creds);
		r = 0;
		goto out;
	}
	if (pr == 0 && rep.is_error) {
		char code[sizeof err->remote.code], msg[768];
		cp_safe_text(code, sizeof code, rep.error_code, strlen(rep.error_code));
		s_safe_message(rep.error_message, source, token, msg, sizeof msg);
		cp_cause cause = cp_sts_error_cause(resp->status, code, rep.error_message,
						    resp->server_date);
		if (cause == CP_CAUSE_THROTTLED || cause == CP_CAUSE_SERVER) {
			r = cp_error_set_cause(err, CP_ETRANSPORT, cause,
					       "STS at '%s' answered HTTP %ld: %s%s%s", ep->url,
					       resp->status, code, msg[0] ? ": " : "", msg);
		} else {
			r = cp_error_set_cause(err, CP_EREFUSED, cause, "'%s': %s%s%s", role_arn, code,
					       msg[0] ? ": " : "", msg);
		}
		if (err) {
			snprintf(err->remote.code, sizeof err->remote.code, "%s", code);
			err->remote.http_status = resp->status;
		}
		goto out;
	}
	if (resp->status == 200)
		r = cp_error_set_cause(err, CP_ETRANSPORT, CP_CAUSE_MALFORMED,
				       "malformed reply from STS at '%s'", ep->url);
	else
		r = cp_error_set_cause(err, CP_ETRANSPORT,
				       resp->status == 429  ? CP_CAUSE_THROTTLED
				       : resp->status >= 500 ? CP_CAUSE_SERVER
							     : CP_CAUSE_MALFORMED,
				       "STS at '%s' answered HTTP %ld", ep->url, resp->status);
	if (err)
		err->remote.http_status = resp->status;
out:
	cp_sts_reply_free(&rep);
	return r;
}

/* Signs the form body with source (SigV4, service "sts") and POSTs it to
 * the endpoint; *resp holds whatever HTTP reply came back. */
static int s_signed_post(const cp_sts_endpoint *ep, const cp_creds *source, const cp_buf *body,
			 cp_http_response *resp, cp_error *err)
{
	char *host = NULL, *target = NULL;
	cp_sigv4_result sig = {0};
	cp_header hdrs[2 + 4];
	int r;

	if ((r = cp_http_url_parts(ep->url, &host, &target)) != 0) {
		r = r == CP_EINTERNAL ? cp_error_set(err, r, "out of memory")
				      : cp_error_set(err, CP_ECONFIG, "invalid STS endpoint URL '%s'",
						     ep->url);
		goto out;
	}

	hdrs[0] = (cp_header){"Host", host};
	hdrs[1] = (cp_header){"Content-Type", S_FORM_CONTENT_TYPE};
	cp_sigv4_params sp = {
		.method = "POST",
		.uri = target,
		.headers = hdrs,
		.nheaders = 2,
		.body = body->data,
		.body_len = body->len,
		.region = ep->signing_region,
		.service = "sts",
		.creds = source,
		.time = cp_now() + ep->clock_offset,
		.normalize_path = true,
	};
	if ((r = cp_sigv4_sign(&sp, &sig, err)) != 0)
		goto out;
	size_t nh = 2;
	for (size_t i = 0; i < sig.nadd && i < 4; i++)
		hdrs[nh++] = sig.add[i];

	cp_http_request req = {
		.method = "POST",
		.url = ep->url,
		.headers = hdrs,
		.nheaders = nh,
		.body = body->data,
		.body_len = body->len,
		.ca_bundle = ep->ca_bundle,
		.timeout_ms = ep->timeout_ms,
		.max_response = CP_STS_MAX_XML,
	};
	r = cp_http_send(&req, resp, err);
out:
	cp_sigv4_result_free(&sig);
	free(host);
	free(target);
	return r;
}

/* One signed AssumeRole call; no retries (the caller decides). */
static int s_assume_role_once(const cp_sts_endpoint *ep, const cp_creds *source,
			      const cp_assume_role_input *in, cp_creds *ret, cp_error *err)
{
	cp_buf body = {0};
	cp_http_response resp = {0};
	int r;

	if (!ep || !ep->url || !ep->signing_region || !source || !in) {
		r = cp_error_set(err, CP_EINTERNAL, "AssumeRole called without an endpoint or input");
		goto out;
	}
	if (!source->access_key_id || !source->secret_access_key) {
		r = cp_error_set(err, CP_ESOURCE, "no source credentials to assume '%s'",
				 in->role_arn ? in->role_arn : "");
		goto out;
	}
	if ((r = cp_sts_assume_role_validate(in, err)) != 0)
		goto out;
	if ((r = cp_sts_assume_role_body(in, &body)) != 0) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory building the AssumeRole request");
		goto out;
	}
	if ((r = s_signed_post(ep, source, &body, &resp, err)) != 0)
		goto out;
	r = s_sts_reply(ep, in->role_arn, source, NULL, &resp, ret, err);
	if (r && err)
		err->remote.date = resp.server_date;
out:
	cp_http_response_free(&resp);
	cp_buf_free(&body);
	return r;
}

int cp_sts_assume_role(const cp_sts_endpoint *ep, const cp_creds *source,
		       const cp_assume_role_input *in, cp_creds *ret, cp_error *err)
{
	return s_assume_role_once(ep, source, in, ret, err);
}

/* ---- AssumeRoleWithWebIdentity ---------------------------------------- */

/* The model marks the operation noAuth: no signature, no credentials; the
 * token in the body is the proof. One call; no retries (the caller decides). */
int cp_sts_assume_role_with_web_identity(const cp_sts_endpoint *ep, const cp_web_identity_input *in,
					 cp_creds *ret, cp_error *err)
{
	cp_buf body = {0};
	cp_http_response resp = {0};
	int r;

	if (!ep || !ep->url) {
		r = cp_error_set(err, CP_EINTERNAL,
				 "AssumeRoleWithWebIdentity called without an endpoint");
		goto out;
	}
	if ((r = cp_sts_web_identity_validate(in, err)) != 0)
		goto out;
	if ((r = cp_sts_web_identity_body(in, &body)) != 0) {
		r = cp_error_set(err, CP_EINTERNAL,
				 "out of memory building the AssumeRoleWithWebIdentity request");
		goto out;
	}
	const cp_header hdrs[] = {{"Content-Type", S_FORM_CONTENT_TYPE}};
	cp_http_request req = {
		.method = "POST",
		.url = ep->url,
		.headers = hdrs,
		.nheaders = 1,
		.body = body.data,
		.body_len = body.len,
		.ca_bundle = ep->ca_bundle,
		.timeout_ms = ep->timeout_ms,
		.max_response = CP_STS_MAX_XML,
	};
	if ((r = cp_http_send(&req, &resp, err)) != 0)
		goto out;
	r = s_sts_reply(ep, in->role_arn, NULL, in->token, &resp, ret, err);
	if (r && err)
		err->remote.date = resp.server_date;
out:
	cp_http_response_free(&resp);
	cp_buf_free(&body); /* held the token */
	return r;
}

/* ---- GetSessionToken (an MFA session) ---------------------------------- */

#define S_GST_DURATION_MIN 900
#define S_GST_DURATION_MAX 129600
#define S_SERIAL_MIN 9
#define S_SERIAL_MAX 256

/* serialNumberType: [\w+=/:,.@-]. */
static bool s_serial_char(long c)
{
	return s_name_char(c) || c == '/' || c == ':';
}

static int s_session_token_validate(const cp_session_token_input *in, cp_error *err)
{
	char why[160];
	if (!in || !in->serial_number || !in->token_code)
		return cp_error_set(err, CP_EINTERNAL,
				    "GetSessionToken without an MFA serial number or code");
	if (!s_check_str(in->serial_number, S_SERIAL_MIN, S_SERIAL_MAX, s_serial_char, why,
			 sizeof why))
		return cp_error_set(err, CP_ECONFIG,
				    "invalid mfa_serial: the MFA device serial number or ARN %s (9 to "
				    "256 of letters, digits and _+=/:,.@-)",
				    why);
	size_t n = strlen(in->token_code);
	if (n != 6 || strspn(in->token_code, "0123456789") != n) /* never quoted */
		return cp_error_set(err, CP_ECONFIG, "invalid TokenCode: the MFA code must be 6 digits");
	if (in->duration_seconds &&
	    (in->duration_seconds < S_GST_DURATION_MIN || in->duration_seconds > S_GST_DURATION_MAX))
		return cp_error_set(err, CP_ECONFIG,
				    "invalid DurationSeconds %d for GetSessionToken (%d to %d)",
				    in->duration_seconds, S_GST_DURATION_MIN, S_GST_DURATION_MAX);
	return 0;
}

/* One signed GetSessionToken call; no retries (the caller decides). The
 * body holds the code: it is wiped with the buffer. */
int cp_sts_get_session_token(const cp_sts_endpoint *ep, const cp_creds *source,
			     const cp_session_token_input *in, cp_creds *ret, cp_error *err)
{
	cp_buf body = {0};
	cp_http_response resp = {0};
	char dur[16];
	int r;

	if (!ep || !ep->url || !ep->signing_region || !source || !in) {
		r = cp_error_set(err, CP_EINTERNAL, "GetSessionToken called without an endpoint or input");
		goto out;
	}
	if (!source->access_key_id || !source->secret_access_key) {
		r = cp_error_set(err, CP_ESOURCE, "no source credentials for an MFA session");
		goto out;
	}
	if (source->session_token && source->session_token[0]) {
		r = cp_error_set(err, CP_EINTERNAL,
				 "GetSessionToken needs long-term keys, not session credentials");
		goto out;
	}
	if ((r = s_session_token_validate(in, err)) != 0)
		goto out;
	snprintf(dur, sizeof dur, "%d", in->duration_seconds);
	if (cp_buf_puts(&body, "Action=GetSessionToken&Version=2011-06-15") ||
	    (in->duration_seconds > 0 && s_form_param(&body, "DurationSeconds", dur)) ||
	    s_form_param(&body, "SerialNumber", in->serial_number) ||
	    s_form_param(&body, "TokenCode", in->token_code)) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory building the GetSessionToken request");
		goto out;
	}
	if ((r = s_signed_post(ep, source, &body, &resp, err)) != 0)
		goto out;
	/* Messages name the device; none may repeat the code. */
	r = s_sts_reply(ep, in->serial_number, source, in->token_code, &resp, ret, err);
	if (r && err)
		err->remote.date = resp.server_date;
out:
	cp_http_response_free(&resp);
	cp_buf_free(&body); /* held the code */
	return r;
}
