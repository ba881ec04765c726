/* The request model: what happens to every field of every request the control port serves, as
 * data. Each row names a field by its path from the request message (descriptor names, e.g.
 * "CreateContainerRequest.OCI.Mounts.source"; a row for a message field covers everything in
 * it) with its treatment and the functions that enforce it. A unit test walks the generated
 * protobuf-c descriptors of every request the method tables serve and fails on a field no row
 * classifies, on a row that names no field, and on an enforcer that does not exist; POLICY.md's
 * table is generated from these rows (sp_fields_markdown) and checked against them. */
#ifndef SEALPOD_AGENT_FIELDS_H
#define SEALPOD_AGENT_FIELDS_H

#include <stddef.h>

enum sp_field_treatment {
	/* The policy decides: a rule or a key of the policy document names it. */
	SP_FIELD_JUDGED,
	/* Set to a safe constant or floor whatever the host sends. */
	SP_FIELD_FORCED,
	/* Any value but the harmless one (absent, empty, on a fixed list) refuses the request. */
	SP_FIELD_REFUSED,
	/* The host's to choose: it cannot change what runs, what it sees or who sees it; checked
	 * for shape and bounds where the rule says so. */
	SP_FIELD_HOST,
};

struct sp_field {
	const char *path;
	enum sp_field_treatment treatment;
	/* The enforcers: "<file under init/> <function>" pairs separated by "; ". */
	const char *by;
	const char *rule;
};

extern const struct sp_field sp_fields[];
extern const size_t sp_nfields;

/* The row for exactly path, or NULL. */
const struct sp_field *sp_field_find(const char *path);
/* "judged", "forced", "refused", "host". */
const char *sp_field_treatment_name(enum sp_field_treatment t);
/* POLICY.md's table, one Markdown row per field row, into buf (NUL-terminated): the length it
 * needs, whatever size is (as snprintf). */
size_t sp_fields_markdown(char *buf, size_t size);

#endif
