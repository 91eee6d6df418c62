/* STUB: replaced by the ecs module. */
#include "ecs.h"
#include <stdlib.h>
void cp_ecs_options_from_env(cp_ecs_options *o) { (void)o; }
int cp_ecs_resolve_uri(const cp_ecs_options *o, char **ret_url, cp_error *err) { return cp_error_set(err, CP_ECONFIG, "EcsContainer credentials are not supported yet"); }
int cp_ecs_get_credentials(const cp_ecs_options *o, cp_creds *ret, cp_error *err) { return cp_error_set(err, CP_ECONFIG, "EcsContainer credentials are not supported yet"); }
