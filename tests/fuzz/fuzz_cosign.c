/* Arbitrary bytes as what a registry serves for cosign signatures: the first byte picks the
 * signature manifest (under the .sig tag) or a simple-signing payload, which is then also
 * verified against a fixed P-256 key with a signature from the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/sigpolicy.h"

/* tests/data/trust/ecdsa.pub: the fixtures' signatures verify with it. */
static const char KEY[] = "-----BEGIN PUBLIC KEY-----\n"
			  "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAES2jGV6upMz4fVzZkIXOWUcl2a6Cs\n"
			  "i5FGKHSqg2lTC8lvrwoLKXdQli0iUePUsKfqrcXI+UKSBSPqtlXUCuL/dw==\n"
			  "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_cosign_layer l[SP_COSIGN_MAX_SIGS];
	char ref[300], digest[SP_DIGEST_LEN + 1], sig[128];
	struct sp_err err;
	size_t n;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (sp_cosign_sig_manifest((const char *)data + 1, size - 1, l, SP_COSIGN_MAX_SIGS,
					   &n, &err) == 0) {
			if (n > SP_COSIGN_MAX_SIGS)
				abort();
			for (size_t i = 0; i < n; i++)
				if (!sp_digest_valid(l[i].digest) || !l[i].size ||
				    l[i].size > SP_COSIGN_PAYLOAD_MAX)
					abort();
		}
		return 0;
	}
	if (sp_cosign_payload(data + 1, size - 1, ref, digest, &err) == 0 &&
	    (!sp_digest_valid(digest) || !ref[0]))
		abort();
	n = size - 1 < sizeof(sig) - 1 ? size - 1 : sizeof(sig) - 1;
	memcpy(sig, data + 1, n);
	sig[n] = '\0';
	(void)sp_cosign_verify(KEY, data + 1, size - 1, sig, &err);
	return 0;
}
