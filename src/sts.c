/* STUB: replaced by the sts module. */
#include "sts.h"
int cp_sts_parse_xml(const char *xml, size_t len, cp_sts_reply *ret, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
void cp_sts_reply_free(cp_sts_reply *r) { (void)r; }
bool cp_sts_error_retryable(const char *code) { return false; }
int cp_sts_assume_role_body(const cp_assume_role_input *in, cp_buf *out) { return CP_EINTERNAL; }
int cp_sts_assume_role(const cp_sts_endpoint *ep, const cp_creds *source, const cp_assume_role_input *in, cp_creds *ret, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
