/* The signature policy applied to one pull, in the metadata worker (a confined parser: the
 * policy, the signature manifest and the payloads are parsed here, never by a privileged
 * process): right after the manifest digest is computed, before the config or any layer is
 * fetched. A registry error while looking for signatures counts as no signature (fail closed). */
#define _GNU_SOURCE
#include "image/sigpolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_int.h"
#include "image/registry.h"
#include "image/stream.h"

struct found {
	struct sp_cosign_layer layer[SP_COSIGN_MAX_SIGS];
	char *payload[SP_COSIGN_MAX_SIGS];
	struct sp_cosign_sig sig[SP_COSIGN_MAX_SIGS];
	size_t n;
};

static void found_free(struct found *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->payload[i]);
	free(f);
}

/* The signatures under digest's .sig tag whose payload blob matches its descriptor. */
static void fetch_sigs(struct sp_registry *r, const char *digest, struct found *f)
{
	char tag[80], ct[128];
	char *body = NULL;
	size_t len, n = 0;
	struct sp_err e;

	sp_cosign_sig_tag(digest, tag);
	if (sp_registry_manifest(r, tag, &body, &len, ct, sizeof(ct), &e) < 0)
		return;
	if (sp_cosign_sig_manifest(body, len, f->layer, SP_COSIGN_MAX_SIGS, &n, &e) < 0)
		n = 0;
	free(body);
	for (size_t i = 0; i < n; i++) {
		char *p = NULL, got[SP_DIGEST_LEN + 1];
		size_t plen;

		if (sp_registry_blob_buf(r, f->layer[i].digest, SP_COSIGN_PAYLOAD_MAX, &p, &plen,
					 &e) < 0)
			continue;
		sp_sha256_digest(p, plen, got);
		if (strcmp(got, f->layer[i].digest) != 0 || plen != f->layer[i].size) {
			free(p);
			continue;
		}
		f->payload[f->n] = p;
		f->sig[f->n] =
			(struct sp_cosign_sig){ (const uint8_t *)p, plen, f->layer[i].sig_b64 };
		f->n++;
	}
}

static bool needs_signatures(const struct sp_sigreqs *q)
{
	for (size_t i = 0; i < q->n; i++)
		if (q->req[i].type == SP_SIGREQ_SIGSTORE)
			return true;
	return false;
}

int sp_sigpolicy_enforce(struct sp_registry *r, const char *policy, size_t len,
			 const struct sp_sigkey *keys, size_t nkeys, const struct sp_image_ref *ref,
			 const char *digest, struct sp_err *err)
{
	struct sp_sigpolicy *p = calloc(1, sizeof(*p));
	struct found *f = calloc(1, sizeof(*f));
	const struct sp_sigreqs *q;
	struct sp_err e = { 0 };
	int ret = -1;

	if (!p || !f) {
		sp_pull_fail(err, SP_STAGE_POLICY_DENY, 0, "policy.signature: out of memory");
		goto out;
	}
	/* Resolving: a keyPath whose key the pull was not given is refused. */
	if (sp_sigpolicy_parse_keys(policy, len, keys, nkeys, p, &e) < 0) {
		sp_pull_fail(err, SP_STAGE_POLICY_DENY, 0, "policy.signature: %s", e.msg);
		goto out;
	}
	q = sp_sigpolicy_select(p, ref);
	if (needs_signatures(q))
		fetch_sigs(r, digest, f);
	if (sp_sigpolicy_judge(q, ref, digest, f->sig, f->n, &e) < 0)
		sp_pull_fail(err, SP_STAGE_POLICY_DENY, 0, "%s", e.msg);
	else
		ret = 0;
out:
	free(p);
	if (f)
		found_free(f);
	return ret;
}
