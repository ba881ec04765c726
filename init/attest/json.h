/* json-c helpers shared by the attestation module's parsers of untrusted JSON. */
#ifndef SEALPOD_ATTEST_JSON_H
#define SEALPOD_ATTEST_JSON_H

#include <stddef.h>

#include <json-c/json.h>

#include "lib/err.h"

/* One JSON value filling buf[0..len) (trailing whitespace allowed), strict, valid UTF-8, no NUL,
 * at most 4 MiB. *out is a new reference. */
int sp_json_parse(const char *buf, size_t len, struct json_object **out, struct sp_err *err);
/* o[key] when o is an object and the member a string (len: its length), else NULL. */
const char *sp_json_str(struct json_object *o, const char *key, size_t *len);

#endif
