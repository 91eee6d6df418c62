/* STUB: replaced by the config module. */
#include "config.h"
void cp_config_init(cp_config *cfg) { (void)cfg; }
void cp_config_free(cp_config *cfg) { (void)cfg; }
int cp_config_parse(cp_config *cfg, const char *text, size_t len, cp_file_kind kind, const char *filename, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
int cp_config_load(cp_config *cfg, const char *c, const char *k, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
int cp_config_paths(char **a, char **b, cp_error *err) { return cp_error_set(err, CP_EINTERNAL, "not implemented"); }
const cp_section *cp_config_profile(const cp_config *cfg, const char *name) { return 0; }
const cp_section *cp_config_sso_session(const cp_config *cfg, const char *name) { return 0; }
const cp_section *cp_config_services(const cp_config *cfg, const char *name) { return 0; }
const char *cp_section_get(const cp_section *sec, const char *key) { return 0; }
int cp_config_set(cp_config *cfg, const char *profile, const char *key, const char *value) { return CP_EINTERNAL; }
int cp_subprop_get(const char *value, const char *key, char **ret) { return CP_EINTERNAL; }
