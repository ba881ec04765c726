/* Arbitrary bytes as the initdata disk: header, gzip, TOML, aa.toml/cdh.toml, resource URIs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *toml;
	size_t len;
	struct sp_initdata id;
	struct sp_err err;

	/* The disk form, and the TOML form directly (most inputs would not survive gzip). */
	if (sp_initdata_unpack(data, size, &toml, &len, &err) == 0) {
		if (len > SP_INITDATA_MAX_TOML)
			abort();
		if (sp_initdata_parse(toml, len, &id, &err) == 0)
			sp_initdata_free(&id);
	}
	toml = malloc(size + 1);
	if (!toml)
		return 0;
	memcpy(toml, data, size);
	toml[size] = '\0';
	if (sp_initdata_parse(toml, size, &id, &err) == 0) {
		if (id.digest_len != 32 && id.digest_len != 48 && id.digest_len != 64)
			abort();
		if (id.image.max_parallel_layers < 1 || id.image.max_parallel_layers > 64)
			abort();
		sp_initdata_free(&id);
	}
	return 0;
}
