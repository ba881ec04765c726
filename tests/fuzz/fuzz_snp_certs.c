/* Arbitrary bytes as the certificate table the host attaches to an SNP extended report (configfs-tsm
 * auxblob or SNP_GET_EXT_REPORT): either refused, or turned into JSON that parses as null or an
 * array of {cert_type, data} objects. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_err err;
	char *chain = NULL;
	struct json_object *o;

	if (sp_snp_cert_chain_json(data, size, &chain, &err) < 0) {
		if (chain)
			abort();
		return 0;
	}
	if (strcmp(chain, "null") != 0) {
		o = json_tokener_parse(chain);
		if (!o || !json_object_is_type(o, json_type_array) ||
		    json_object_array_length(o) == 0 ||
		    json_object_array_length(o) > SP_SNP_MAX_CERTS)
			abort();
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			struct json_object *e = json_object_array_get_idx(o, i), *d;

			if (!json_object_object_get_ex(e, "data", &d) ||
			    json_object_array_length(d) == 0 || json_object_array_length(d) > size)
				abort();
		}
		json_object_put(o);
	}
	free(chain);
	return 0;
}
