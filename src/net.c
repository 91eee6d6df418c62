/* net.c - the network side's entry table. */
#include "net.h"

#include "cp_config.h"

const cp_net_ops cp_net_ops_builtin = {
	.abi = CP_NET_ABI,
	.assume_role = cp_sts_assume_role,
	.imds_credentials = cp_imds_get_credentials,
	.imds_region = cp_imds_get_region,
	.ecs_credentials = cp_ecs_get_credentials,
	.assume_role_with_web_identity = cp_sts_assume_role_with_web_identity,
	.get_session_token = cp_sts_get_session_token,
	.version = CP_VERSION,
	.sso_credentials = cp_sso_get_credentials,
	.rolesanywhere_credentials = cp_ra_get_credentials,
	.login_credentials = cp_login_get_credentials,
};

#ifndef CP_NET_IN_MODULE
/* Linked build (and the unit tests): the table is right here. */
const cp_net_ops *cp_net(cp_error *err)
{
	(void)err;
	return &cp_net_ops_builtin;
}
#endif
