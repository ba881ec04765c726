/* Arbitrary bytes as the firmware's CC event log (the ACPI CCEL data a VM configuration
 * controls): the guest's walk and the log it composes for the evidence (init/attest/ccel.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

static int check(const struct sp_evlog_event *ev, void *ctx, struct sp_err *err)
{
	const uint8_t *lo = ((const uint8_t **)ctx)[0], *hi = ((const uint8_t **)ctx)[1];

	(void)err;
	if (ev->ndigests > SP_EVLOG_MAX_ALGS || ev->data < lo || ev->data + ev->data_len > hi)
		abort();
	for (uint32_t i = 0; i < ev->ndigests; i++)
		if (ev->digest[i] < lo || ev->digest[i] + ev->dsize[i] > hi || !ev->dsize[i])
			abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *bounds[2] = { data, data + size };
	struct sp_evlog_info in, again;
	struct sp_err err = { 0 };
	uint8_t *out = NULL;
	size_t olen = 0;

	if (sp_evlog_walk(data, size, check, bounds, &in, &err) < 0) {
		if (!err.msg[0])
			abort();
		return 0;
	}
	if (in.len > size || in.nalgs == 0 || in.nalgs > SP_EVLOG_MAX_ALGS)
		abort();
	/* what the guest sends must walk again to the same events, then the end flag */
	if (sp_evlog_compose(data, size, SP_TPM_ALG_SHA384, NULL, 0, &out, &olen, &err) == 0) {
		if (olen != in.len + 8 || sp_evlog_walk(out, olen, NULL, NULL, &again, &err) < 0 ||
		    again.nevents != in.nevents || again.len != in.len)
			abort();
		free(out);
	}
	return 0;
}
