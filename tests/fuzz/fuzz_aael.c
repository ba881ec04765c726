/* Arbitrary domain, operation and content (newline-separated) as a runtime event: the host
 * chooses image references, which reach the event's content. Whatever the rules let through
 * must make an entry that walks as one EV_EVENT_TAG event whose digest covers its data. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *f[3] = { NULL, NULL, NULL };
	uint8_t *e = NULL, *log = NULL, d[64], again[64];
	size_t elen, dlen, llen, alen;
	struct sp_evlog_info in;
	struct sp_err err = { 0 };

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	f[0] = s;
	for (int i = 1; i < 3 && f[i - 1]; i++) {
		char *nl = strchr(f[i - 1], '\n');
		if (nl)
			*nl = '\0', f[i] = nl + 1;
	}
	if (!f[2]) {
		free(s);
		return 0;
	}
	if (sp_aael_entry(f[0], f[1], f[2], SP_HASH_SHA384, 4, &e, &elen, d, &dlen, &err) < 0) {
		if (!err.msg[0] || sp_aael_check(f[0], f[1], f[2], &err) == 0)
			abort();
		free(s);
		return 0;
	}
	if (dlen != 48 || elen < 18 + 48 + 8 ||
	    sp_hash_digest(SP_HASH_SHA384, e + 18 + 48, elen - 18 - 48, again, &alen) < 0 ||
	    memcmp(again, d, 48) != 0)
		abort();
	if (sp_evlog_compose(NULL, 0, SP_TPM_ALG_SHA384, e, elen, &log, &llen, &err) < 0 ||
	    sp_evlog_walk(log, llen, NULL, NULL, &in, &err) < 0 || in.nevents != 1)
		abort();
	free(log);
	free(e);
	free(s);
	return 0;
}
