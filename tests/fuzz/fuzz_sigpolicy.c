/* Arbitrary bytes as a containers-policy.json (from initdata or a KBS resource: untrusted until
 * initdata's digest is checked), then every scope selected for a few references and each
 * identity matcher run against a signed reference taken from the input's tail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/sigpolicy.h"

static struct sp_sigpolicy pol;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *refs[] = { "r.test/app:v1", "a.b.example.com/ns/x", "busybox",
				      ("r.test:5000/app@sha256:00000000000000000000000000000000000"
				       "00000000000000000000000000000") };
	struct sp_err err;
	char signed_ref[300];
	size_t n = size < sizeof(signed_ref) - 1 ? size : sizeof(signed_ref) - 1;

	memcpy(signed_ref, size > n ? data + size - n : data, n);
	signed_ref[n] = '\0';
	if (sp_sigpolicy_parse((const char *)data, size, &pol, &err) < 0)
		return 0;
	if (pol.nscopes > SP_SIGPOLICY_SCOPES || pol.def.n == 0 || pol.def.n > SP_SIGPOLICY_REQS)
		abort();
	for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		struct sp_image_ref r;
		const struct sp_sigreqs *q;

		if (sp_image_ref_parse(refs[i], &r, &err) < 0)
			abort();
		q = sp_sigpolicy_select(&pol, &r);
		if (!q || q->n == 0 || q->n > SP_SIGPOLICY_REQS)
			abort();
		for (size_t k = 0; k < q->n; k++)
			(void)sp_sigpolicy_identity_ok(&q->req[k], &r, signed_ref);
	}
	return 0;
}
