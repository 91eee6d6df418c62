/* net.h - the one narrow interface to the network side.
 *
 * Everything that needs libcurl, libxml2 or libcrypto (HTTP, SigV4, STS,
 * IMDS) is reached through this table, so that the cache-hit path never
 * loads those libraries: the table can live in an on-demand module.
 *
 * Two builds (meson option net_module):
 *  - true: the network side is the shared module credproc-net.so, which
 *    exports only cp_net_module_entry(); cp_net() (net-load.c) dlopens it on
 *    first use. The module calls back into the executable's core (util,
 *    creds, retry): exactly the functions named in exe-exports.list, which
 *    the executable exports for it and nothing else.
 *  - false: everything is linked into the executable; cp_net() (net.c)
 *    returns cp_net_ops_builtin.
 */
#ifndef CP_NET_H
#define CP_NET_H

#include "creds.h"
#include "ecs.h"
#include "imds.h"
#include "rolesanywhere.h"
#include "login.h"
#include "sso.h"
#include "sts.h"
#include "util.h"

/* Bump when the table, or any type or core function it relies on, changes
 * incompatibly. The loader also requires the module's version to be its own. */
#define CP_NET_ABI 6

typedef struct cp_net_ops {
	unsigned abi; /* CP_NET_ABI */
	int (*assume_role)(const cp_sts_endpoint *ep, const cp_creds *source,
			   const cp_assume_role_input *in, cp_creds *ret, cp_error *err);
	int (*imds_credentials)(const cp_imds_options *o, cp_creds *ret, cp_error *err);
	int (*imds_region)(const cp_imds_options *o, char **ret_region, cp_error *err);
	int (*ecs_credentials)(const cp_ecs_options *o, cp_creds *ret, cp_error *err);
	int (*assume_role_with_web_identity)(const cp_sts_endpoint *ep,
					     const cp_web_identity_input *in, cp_creds *ret,
					     cp_error *err);
	int (*get_session_token)(const cp_sts_endpoint *ep, const cp_creds *source,
				 const cp_session_token_input *in, cp_creds *ret, cp_error *err);
	const char *version; /* CP_VERSION of the build that made the table */
	int (*sso_credentials)(const cp_sso_options *o, cp_creds *ret, cp_error *err);
	/* IAM Roles Anywhere CreateSession (rolesanywhere.h). */
	int (*rolesanywhere_credentials)(const cp_ra_options *o, cp_creds *ret, cp_error *err);
	/* console sign-in (login_session) */
	int (*login_credentials)(const cp_login_options *o, cp_creds *ret, cp_error *err);
} cp_net_ops;

/* Returns the network table, loading it on first use; NULL with err set
 * (CP_EINTERNAL) if it cannot be loaded. */
const cp_net_ops *cp_net(cp_error *err);

/* The table itself, as exported by the network side. */
extern const cp_net_ops cp_net_ops_builtin;

/* The module's one exported symbol: returns cp_net_ops_builtin. */
#define CP_NET_MODULE_ENTRY "cp_net_module_entry"
typedef const cp_net_ops *(*cp_net_module_entry_fn)(void);
const cp_net_ops *cp_net_module_entry(void);

#endif
