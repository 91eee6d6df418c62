/* json.h - cJSON trees and texts that hold secrets.
 *
 * Core functions (the network module reaches them through the executable's
 * exports): every tree parsed from, or built with copies of, credentials,
 * tokens or client secrets is freed with cp_json_free_secret(); every such
 * tree is printed with cp_json_print_secret().
 */
#ifndef CP_JSON_H
#define CP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

/* Wipes every string value, raw text, key and number of the tree, then
 * cJSON_Delete()s it. References (cJSON_CreateStringReference,
 * cJSON_CreateObjectReference...) are not ours: neither wiped nor entered,
 * as cJSON_Delete() leaves them. NULL is fine. */
void cp_json_free_secret(cJSON *j);

/* Prints j (formatted or not, as cJSON_Print / cJSON_PrintUnformatted)
 * into a buffer of our own of max bytes, never into cJSON's growing buffer
 * (which would leave copies of the secrets behind when it grows). Returns
 * 0 and the NUL-terminated text in *ret (max bytes, the part after the
 * text wiped; free with cp_free_secret()), EFBIG when the text does not
 * fit in max bytes (cJSON asks for a few bytes of slack), ENOMEM. */
int cp_json_print_secret(const cJSON *j, bool format, size_t max, char **ret);

#endif
