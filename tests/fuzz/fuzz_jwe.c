/* Arbitrary bytes as a resource reply (a flattened JWE) for an EC and an RSA TEE key. Nothing
 * the fuzzer makes can pass the GCM tag; the parser must refuse it cleanly. */
#include <stdint.h>
#include <stdlib.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sp_tee_key *ec, *rsa;
	struct sp_err err;
	uint8_t *pt;
	size_t n;

	if (!ec && (sp_tee_key_new(SP_TEE_KEY_EC_P256, &ec, &err) < 0 ||
		    sp_tee_key_new(SP_TEE_KEY_RSA, &rsa, &err) < 0))
		abort();
	if (sp_jwe_decrypt(ec, (const char *)data, size, &pt, &n, &err) == 0)
		abort();
	if (sp_jwe_decrypt(rsa, (const char *)data, size, &pt, &n, &err) == 0)
		abort();
	return 0;
}
