/* STUB: replaced by the sigv4 module. */
#include "sigv4.h"
int cp_sigv4_sign(const cp_sigv4_params *p, cp_sigv4_result *ret, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
void cp_sigv4_result_free(cp_sigv4_result *r) { (void)r; }
