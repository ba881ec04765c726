/* Arbitrary bytes as a policy document (SetPolicy content comes from the host): loaded as our
 * JSON and as the Rego subset, then every request checked with inputs cut from the same bytes.
 * Also the id and path validators on those bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/validate.h"
#include "policy/policy_int.h" /* has_sysctls, for the safe-list property */

static const char *const requests[] = {
	"CreateContainerRequest", "ExecProcessRequest", "CopyFileRequest", "SetPolicyRequest",
	"ReadStreamRequest",	  "CheckRequest",	"AddSwapRequest",  "NoSuchRequest",
};

static void exercise(const struct sp_policy *p, const char *s, size_t len)
{
	/* Inputs: the bytes as one string and as NUL-separated pieces. */
	const char *pieces[8];
	size_t n = 0;
	char why[SP_POLICY_WHY_MAX];
	static struct sp_verdict v;
	struct sp_policy_mount mounts[8];
	struct sp_policy_sysctl sysctls[8];
	uint32_t gids[8];

	for (size_t i = 0; i < len && n < 8; i += strlen(s + i) + 1)
		pieces[n++] = s + i;
	/* Mounts made of the same pieces: destination, source and type in turn, the rest as
	 * options; gids from their lengths. */
	for (size_t i = 0; i < n; i++) {
		mounts[i] = (struct sp_policy_mount){ pieces[i], pieces[(i + 1) % n],
						      pieces[(i + 2) % n], pieces, n - i };
		gids[i] = (uint32_t)strlen(pieces[i]);
		sysctls[i] = (struct sp_policy_sysctl){ pieces[i], i ? pieces[(i + 1) % n] : NULL };
	}
	for (unsigned bits = 0; bits < 32; bits++) {
		struct sp_policy_state st = { .attested = bits & 1,
					      .first_container_created = bits & 2,
					      .encrypted_storage = bits & 4,
					      .attestation_coming = bits & 8,
					      .encryption_coming = bits & 16,
					      .from_initdata = bits & 16,
					      .initdata = bits & 4,
					      .attestation_configured = bits & 1 };
		/* The container an exec joins: the same pieces as its process. */
		struct sp_policy_ctr ctr = { .env = pieces + (bits & 1),
					     .envc = n ? n - (bits & 1) : 0,
					     .env_known = bits & 2,
					     .uid = (uint32_t)len,
					     .gid = (bits & 4) ? 0 : 1,
					     .gids = gids,
					     .ngids = n,
					     .cwd = n > 2 ? pieces[2] : "/" };
		struct sp_policy_input in = {
			.image_ref = n > 0 ? pieces[0] : NULL,
			.image_pulled = bits & 8,
			.builtin_pause = bits & 4,
			.image_digest = (bits & 1) && n > 1 ? pieces[1] : NULL,
			.argv = pieces,
			.argc = n,
			.env = pieces,
			.envc = n,
			.has_user = bits & 2,
			.uid = (uint32_t)len,
			.gid = 0,
			.cwd = n > 2 ? pieces[2] : NULL,
			.caps = pieces,
			.ncaps = n,
			.copy_path = s,
			.copy_path_len = (bits & 4) ? len : 0,
			.gids = gids,
			.ngids = (bits & 8) ? n : 0,
			.terminal = bits & 16,
			.cid = n > 3 ? pieces[3] : "c1",
			.sandbox_id = (bits & 1) && n > 4 ? pieces[4] : NULL,
			.sandbox_pidns = bits & 2,
			.mounts = mounts,
			.nmounts = n,
			.sysctls = (bits & 2) ? sysctls : NULL,
			.nsysctls = (bits & 2) || (bits & 16) ? n : 0,
			.ctr = (bits & 8) ? &ctr : NULL,
		};
		for (size_t r = 0; r < sizeof(requests) / sizeof(requests[0]); r++) {
			bool ok = sp_policy_check(p, &st, requests[r], &in, &v);

			if (ok != v.allow || strnlen(v.why, sizeof(v.why)) >= sizeof(v.why))
				abort();
			if (!ok && (v.needs || !strstr(v.why, "is blocked by policy")))
				abort();
			/* allowed_sysctls never admits a key outside the safe list. */
			if (ok && in.sysctls && p->has_sysctls &&
			    strcmp(requests[r], "CreateContainerRequest") == 0)
				for (size_t i = 0; i < in.nsysctls; i++)
					if (!sp_sysctl_safe(in.sysctls[i].key))
						abort();
			/* Exec consent for a mount only where allowed_mounts judged them all. */
			if ((v.mount_exec[0] || v.mount_exec[1]) && !v.mounts_judged)
				abort();
			/* An obligation only where the state could not settle it. */
			if (((v.needs & SP_NEED_ATTESTATION) && st.attested) ||
			    ((v.needs & SP_NEED_ENCRYPTED_STORAGE) && st.encrypted_storage) ||
			    (!!(v.needs & SP_NEED_DIGEST) != (v.npinned > 0)))
				abort();
		}
		/* The state machine's promises. */
		if ((st.attested || st.first_container_created || st.from_initdata || st.initdata ||
		     st.attestation_configured || st.attestation_coming) &&
		    sp_policy_set_allowed(p, &st, why, sizeof(why)))
			abort();
	}
	for (size_t i = 0; i < sp_policy_nwarnings(p); i++)
		if (!sp_policy_warning(p, i))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sp_policy *p = NULL, *cur = NULL;
	struct sp_policy_state st = { 0 };
	struct sp_err err;
	const char *rest, *reason;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (sp_policy_load_json(s, size, &p, &err) == 0) {
		exercise(p, s, size);
		sp_policy_free(p);
		p = NULL;
	}
	if (sp_policy_load_rego(s, size, &p, &err) == 0) {
		exercise(p, s, size);
		sp_policy_free(p);
		p = NULL;
	}
	/* SetPolicy: on failure the old policy must stay in place. */
	if (sp_policy_builtin(&cur, &err) == 0) {
		struct sp_policy *old = cur;
		if (sp_policy_replace(&cur, &st, s, size, &err) < 0 && cur != old)
			abort();
		sp_policy_free(cur);
	}

	if (sp_valid_idn(s, size) && (size == 0 || size > SP_ID_MAX || memchr(s, '/', size)))
		abort();
	if (sp_path_beneathn(s, size, SP_SHARED_PREFIX, &rest, &reason) == 0) {
		size_t plen = strlen(SP_SHARED_PREFIX);
		if (size <= plen || memcmp(s, SP_SHARED_PREFIX, plen) != 0 || !*rest ||
		    strstr(s, "/../") || strstr(s, "/./") || strstr(s, "//") ||
		    memchr(s, '\0', size))
			abort();
	}
	free(s);
	return 0;
}
