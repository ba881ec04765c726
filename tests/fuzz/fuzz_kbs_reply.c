/* Arbitrary bytes as a KBS reply: the challenge, the token reply, an error body; and as a
 * canonical-JSON input and a resource URI. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_kbs_challenge c;
	struct sp_err err;
	char *s, type[64], path[256];

	if (sp_kbs_parse_challenge((const char *)data, size, &c, &err) == 0 &&
	    strnlen(c.nonce, sizeof(c.nonce)) >= sizeof(c.nonce))
		abort();
	if (sp_kbs_parse_token((const char *)data, size, &s, &err) == 0) {
		if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			      ".") != strlen(s))
			abort();
		free(s);
	}
	sp_kbs_error_type((const char *)data, size, type, sizeof(type));
	if (sp_jcs((const char *)data, size, &s, &err) == 0) {
		char *again;
		/* Canonical JSON is a fixed point. */
		if (sp_jcs(s, strlen(s), &again, &err) < 0 || strcmp(s, again) != 0)
			abort();
		free(again);
		free(s);
	}
	s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
		sp_kbs_parse_uri(s, path, sizeof(path), &err);
		free(s);
	}
	return 0;
}
