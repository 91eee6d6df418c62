/* STUB: replaced by the http module. */
#include "http.h"
int cp_http_send(const cp_http_request *req, cp_http_response *ret, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
void cp_http_response_free(cp_http_response *r) { (void)r; }
