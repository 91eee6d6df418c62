/* net-module.c - the entry point of the on-demand network module.
 *
 * The module is built with -fvisibility=hidden: this function is the only
 * symbol it exports. Everything else it needs from the core (util, creds) it
 * takes from the executable that loads it. */
#include "net.h"

__attribute__((visibility("default")))
const cp_net_ops *cp_net_module_entry(void)
{
	return &cp_net_ops_builtin;
}
