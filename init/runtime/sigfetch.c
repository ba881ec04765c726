/* The signature policy a CreateContainer's pulls are judged by, and the keys it names by keyPath
 * kbs:///: fetched from the KBS after attestation (a CreateContainer step, steps.c), one
 * resource at a time, then handed to the pulls (image.h sig_policy, sig_keys). The policy is
 * read here only to list its keyPaths; the metadata worker parses it again to judge. */
#define _GNU_SOURCE
#include "runtime/sigfetch.h"

#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "image/sigpolicy.h"

struct sp_sigfetch {
	char *policy;
	struct sp_sigkey keys[SP_SIGPOLICY_KEYS];
	char uris[SP_SIGPOLICY_KEYS][SP_SIGKEY_URI_MAX];
	size_t nkeys, nuris;
	uint32_t pending; /* the resource request under way, 0 when none */
	sp_sigfetch_fn done;
	void *arg;
};

static int next(struct sp_sigfetch *f, struct sp_err *err);

static void finish(struct sp_sigfetch *f, int ret, const struct sp_err *err)
{
	f->pending = 0;
	f->done(f->arg, ret, err);
}

static void on_key(void *arg, int ret, const uint8_t *data, size_t len, const struct sp_err *err)
{
	struct sp_sigfetch *f = arg;
	struct sp_sigkey *k = &f->keys[f->nkeys];
	struct sp_err e;

	f->pending = 0;
	if (ret < 0 || !len || len >= sizeof(k->pem) || memchr(data, 0, len)) {
		sp_fail(&e, SP_E_DENIED, 0, "policy.signature: the key %s from the KBS: %s",
			f->uris[f->nkeys],
			ret < 0 && err ? err->msg : "empty, too long or holds a NUL byte");
		e.stage = SP_STAGE_POLICY_DENY;
		finish(f, -1, &e);
		return;
	}
	memcpy(k->uri, f->uris[f->nkeys], sizeof(k->uri));
	memcpy(k->pem, data, len);
	k->pem[len] = '\0';
	f->nkeys++;
	if ((ret = next(f, &e)) != SP_PENDING)
		finish(f, ret, ret < 0 ? &e : NULL);
}

/* The next key, or 0 when every key is here. */
static int next(struct sp_sigfetch *f, struct sp_err *err)
{
	if (f->nkeys == f->nuris)
		return 0;
	if (sp_attest_resource_get(f->uris[f->nkeys], on_key, f, &f->pending, err) < 0) {
		sp_fail_wrap(err, SP_E_DENIED, "policy.signature: the key %s", f->uris[f->nkeys]);
		return sp_err_stage(err, SP_STAGE_POLICY_DENY);
	}
	return SP_PENDING;
}

/* The policy is here: list its keyPaths, then fetch them. */
static int have_policy(struct sp_sigfetch *f, struct sp_err *err)
{
	struct sp_sigpolicy *p = calloc(1, sizeof(*p));
	struct sp_err e;

	if (!p)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "policy.signature: out of memory");
	if (sp_sigpolicy_parse(f->policy, strlen(f->policy), p, &e) < 0) {
		free(p);
		sp_fail(err, SP_E_DENIED, 0, "policy.signature: %s", e.msg);
		return sp_err_stage(err, SP_STAGE_POLICY_DENY);
	}
	f->nuris = p->nkey_uris;
	memcpy(f->uris, p->key_uris, sizeof(f->uris));
	free(p);
	return next(f, err);
}

static void on_policy(void *arg, int ret, const uint8_t *data, size_t len, const struct sp_err *err)
{
	struct sp_sigfetch *f = arg;
	struct sp_err e;

	f->pending = 0;
	if (ret < 0 || !len || memchr(data, 0, len) ||
	    !(f->policy = strndup((const char *)data, len))) {
		sp_fail(&e, SP_E_DENIED, 0, "policy.signature: the policy from the KBS: %s",
			ret < 0 && err ? err->msg : "empty, holds a NUL byte, or out of memory");
		e.stage = SP_STAGE_POLICY_DENY;
		finish(f, -1, &e);
		return;
	}
	if ((ret = have_policy(f, &e)) != SP_PENDING)
		finish(f, ret, ret < 0 ? &e : NULL);
}

int sp_sigfetch_start(const char *policy, const char *uri, sp_sigfetch_fn done, void *arg,
		      struct sp_sigfetch **out, struct sp_err *err)
{
	struct sp_sigfetch *f = calloc(1, sizeof(*f));
	int r;

	*out = f;
	if (!f)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "policy.signature: out of memory");
	f->done = done, f->arg = arg;
	if (uri) {
		if (sp_attest_resource_get(uri, on_policy, f, &f->pending, err) < 0) {
			sp_fail_wrap(err, SP_E_DENIED, "policy.signature: the policy");
			return sp_err_stage(err, SP_STAGE_POLICY_DENY);
		}
		return SP_PENDING;
	}
	f->policy = strdup(policy);
	if (!f->policy)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "policy.signature: out of memory");
	r = have_policy(f, err);
	return r;
}

const char *sp_sigfetch_policy(const struct sp_sigfetch *f, const struct sp_sigkey **keys,
			       size_t *nkeys)
{
	*keys = f ? f->keys : NULL;
	*nkeys = f ? f->nkeys : 0;
	return f ? f->policy : NULL;
}

void sp_sigfetch_free(struct sp_sigfetch *f)
{
	if (!f)
		return;
	if (f->pending)
		sp_attest_resource_cancel(f->pending);
	free(f->policy);
	free(f);
}
