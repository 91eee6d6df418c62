/* STUB: replaced by the imds module. */
#include "imds.h"
int cp_imds_get_credentials(const cp_imds_options *o, cp_creds *ret, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
int cp_imds_get_region(const cp_imds_options *o, char **r, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
int cp_imds_parse_credentials(const char *json, size_t len, cp_creds *ret, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
