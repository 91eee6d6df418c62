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

int cp_sts_assume_role_body(const cp_assume_role_input *in, cp_buf *out)
{
	if (!in || !in->role_arn || !in->role_session_name)
		return CP_EINTERNAL;
	cp_buf b = {0};
	char dur[16];
	snprintf(dur, sizeof dur, "%d", in->duration_seconds);
	int r = CP_EINTERNAL;
	if (cp_buf_puts(&b, "Action=AssumeRole&Version=2011-06-15") ||
	    s_form_param(&b, "RoleArn", in->role_arn) ||
	    s_form_param(&b, "RoleSessionName", in->role_session_name) ||
	    (in->duration_seconds > 0 && s_form_param(&b, "DurationSeconds", dur)) ||
	    (in->external_id && s_form_param(&b, "ExternalId", in->external_id)) ||
	    (in->serial_number && s_form_param(&b, "SerialNumber", in->serial_number)) ||
	    (in->token_code && s_form_param(&b, "TokenCode", in->token_code)) ||
	    cp_buf_append(out, b.data, b.len))
		goto out;
	r = 0;
out:
	cp_buf_free(&b); /* held the token code */
	return r;
}

/* ---- AssumeRole ------------------------------------------------------- */

/* Host header value and request target ("/path?query") of url. */
static int s_url_parts(const char *url, char **ret_host, char **ret_target)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	int r = CP_ECONFIG;
	if (!u)
		return CP_EINTERNAL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	bool default_port = !port || (strcmp(scheme, "https") == 0 && strcmp(port, "443") == 0) ||
			    (strcmp(scheme, "http") == 0 && strcmp(port, "80") == 0);
	char *h = default_port ? cp_strdup(host) : cp_asprintf("%s:%s", host, port);
	char *t = cp_asprintf("%s%s%s", path[0] ? path : "/", query ? "?" : "", query ? query : "");
	if (!h || !t) {
		free(h);
		free(t);
		r = CP_EINTERNAL;
		goto out;
	}
	*ret_host = h;
	*ret_target = t;
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return r;
}

/* STS messages for SignatureDoesNotMatch can quote the canonical request,
 * which holds the source session token: keep only the first paragraph, and
 * withhold the message entirely if it still quotes a credential. */
static void s_safe_message(const char *msg, const cp_creds *source, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", msg ? msg : "");
	char *cut = strstr(out, "\n\n");
	if (cut)
		*cut = '\0';
	cut = strstr(out, "The Canonical String");
	if (cut)
		*cut = '\0';
	cp_trim(out);
	if ((source->session_token && source->session_token[0] &&
	     strstr(out, source->session_token)) ||
	    (source->secret_access_key && source->secret_access_key[0] &&
	     strstr(out, source->secret_access_key)))
		snprintf(out, outlen, "(message withheld: it quotes request credentials)");
	size_t n = strlen(out);
	while (n && (out[n - 1] == ' ' || out[n - 1] == '\n'))
		out[--n] = '\0';
}

static int s_assume_role_reply(const cp_sts_endpoint *ep, const cp_creds *source,
			       const cp_assume_role_input *in, const cp_http_response *resp,
			       cp_creds *ret, cp_error *err)
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
			r = cp_error_set(err, CP_ETRANSPORT, "malformed reply from STS at '%s'", ep->url);
			if (err)
				err->http_status = resp->status;
			goto out;
		}
		cp_creds_move(ret, &rep.creds);
		r = 0;
		goto out;
	}
	if (pr == 0 && rep.is_error) {
		const char *code = rep.error_code;
		if (cp_sts_error_retryable(code) || resp->status == 429 || resp->status >= 500) {
			r = cp_error_set(err, CP_ETRANSPORT, "STS at '%s' answered HTTP %ld: %s",
					 ep->url, resp->status, code);
		} else {
			char msg[768];
			s_safe_message(rep.error_message, source, msg, sizeof msg);
			r = cp_error_set(err, CP_EREFUSED, "'%s': %s%s%s", in->role_arn, code,
					 msg[0] ? ": " : "", msg);
		}
		if (err) {
			snprintf(err->code, sizeof err->code, "%s", code);
			err->http_status = resp->status;
		}
		goto out;
	}
	if (resp->status == 200)
		r = cp_error_set(err, CP_ETRANSPORT, "malformed reply from STS at '%s'", ep->url);
	else
		r = cp_error_set(err, CP_ETRANSPORT, "STS at '%s' answered HTTP %ld", ep->url,
				 resp->status);
	if (err)
		err->http_status = resp->status;
out:
	cp_sts_reply_free(&rep);
	return r;
}

/* One signed AssumeRole call; no retries (the caller decides). */
static int s_assume_role_once(const cp_sts_endpoint *ep, const cp_creds *source,
			      const cp_assume_role_input *in, cp_creds *ret, cp_error *err)
{
	cp_buf body = {0};
	char *host = NULL, *target = NULL;
	cp_sigv4_result sig = {0};
	cp_http_response resp = {0};
	cp_header hdrs[2 + 4];
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
	if ((r = cp_sts_assume_role_body(in, &body)) != 0) {
		r = cp_error_set(err, CP_EINTERNAL, "out of memory building the AssumeRole request");
		goto out;
	}
	if ((r = s_url_parts(ep->url, &host, &target)) != 0) {
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
		.body = body.data,
		.body_len = body.len,
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
		.body = body.data,
		.body_len = body.len,
		.ca_bundle = ep->ca_bundle,
		.timeout_ms = ep->timeout_ms,
		.max_response = CP_STS_MAX_XML,
	};
	if ((r = cp_http_send(&req, &resp, err)) != 0)
		goto out;
	r = s_assume_role_reply(ep, source, in, &resp, ret, err);
	if (r && err)
		err->server_date = resp.server_date;
out:
	cp_sigv4_result_free(&sig);
	cp_http_response_free(&resp);
	cp_buf_free(&body);
	free(host);
	free(target);
	return r;
}

int cp_sts_assume_role(const cp_sts_endpoint *ep, const cp_creds *source,
		       const cp_assume_role_input *in, cp_creds *ret, cp_error *err)
{
	return s_assume_role_once(ep, source, in, ret, err);
}

/* STUB: web identity, replaced by the web identity work. */
int cp_sts_web_identity_body(const cp_web_identity_input *in, cp_buf *out)
{
	(void)in;
	(void)out;
	return CP_EINTERNAL;
}

int cp_sts_assume_role_with_web_identity(const cp_sts_endpoint *ep, const cp_web_identity_input *in,
					 cp_creds *ret, cp_error *err)
{
	(void)ep;
	(void)in;
	(void)ret;
	return cp_error_set(err, CP_ECONFIG, "web identity credentials are not supported yet");
}
