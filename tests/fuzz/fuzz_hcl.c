/* Arbitrary bytes as the HCL report an Azure paravisor serves from its vTPM NV index: the
 * parser (init/attest/azure_hcl.c) keeps every pointer inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_hcl h;
	struct sp_err err = { 0 };
	uint8_t ud[64];

	if (sp_hcl_parse(data, size, &h, &err) < 0) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	if (h.hw < data || h.hw + h.hw_len > data + size || h.var < data ||
	    h.var + h.var_len > data + size || h.report_data + 64 > h.hw + h.hw_len)
		abort();
	(void)sp_hcl_check_binding(&h, &err);
	(void)sp_hcl_user_data(&h, ud, &err);
	return 0;
}
