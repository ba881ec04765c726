/* Arbitrary bytes as a TOML document (initdata and the documents inside it come from the host
 * until their digest has been checked). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_toml d;
	struct sp_err err;

	if (sp_toml_parse((const char *)data, size, &d, &err) < 0)
		return 0;
	/* What the reader promises about what it accepted. */
	if (d.n > SP_TOML_MAX_ENTRIES)
		abort();
	for (size_t i = 0; i < d.n; i++) {
		const struct sp_toml_ent *e = &d.ents[i];
		if (!e->path[0])
			abort();
		if (e->type == SP_TOML_STRING && strlen(e->str) != e->str_len)
			abort();
		if (e->type == SP_TOML_ARRAY && e->narr > SP_TOML_MAX_ARRAY)
			abort();
	}
	sp_toml_free(&d);
	return 0;
}
