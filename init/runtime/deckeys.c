/* CreateContainer's "deckeys" step (steps.c's table): the keys initdata allows for encrypted
 * image layers (cdh.toml [sealpod] decryption_keys), fetched from the KBS one after the other
 * after attestation, kept in the record (secrets) for the container's pulls and wiped after
 * them. A key the KBS does not release is left out and the console says so (its URI, never its
 * bytes): a layer that needs it then fails the pull naming it, and an image that needs none of
 * them is not held up. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "image/decrypt.h"
#include "lib/log.h"
#include "runtime/ctr.h"
#include "runtime/rt.h"

bool sp_deckeys_applies(const struct sp_ctr *c)
{
	return c->facts.pull && !c->facts.pause && rt.conf.image &&
	       rt.conf.image->n_decryption_keys > 0;
}

static int fetch_next(struct sp_ctr *c, struct sp_err *err);

static void on_key(void *arg, int ret, const uint8_t *data, size_t len, const struct sp_err *err)
{
	struct sp_ctr *c = arg;
	const char *uri = rt.conf.image->decryption_keys[c->deckey_next];
	struct sp_err e;
	int r;

	c->pending = NULL;
	if (ret < 0)
		sp_info("pull", "%s: decryption key %s not released: %s", c->cid, uri,
			err ? err->msg : "unavailable");
	else if (sp_dec_keys_add(c->deckeys, uri, data, len) < 0)
		sp_info("pull", "%s: decryption key %s is empty or over 16 KiB: left out", c->cid,
			uri);
	c->deckey_next++;
	r = fetch_next(c, &e);
	if (r != SP_PENDING)
		c->done(c->done_arg, r, r < 0 ? &e : NULL);
}

/* The next key: SP_PENDING, or 0 once every one was asked for. */
static int fetch_next(struct sp_ctr *c, struct sp_err *err)
{
	while (c->deckey_next < rt.conf.image->n_decryption_keys) {
		uint32_t id = 0;

		if (sp_attest_resource_get(rt.conf.image->decryption_keys[c->deckey_next], on_key,
					   c, &id, err) == 0) {
			c->pending = (void *)(uintptr_t)id;
			return SP_PENDING;
		}
		sp_info("pull", "%s: decryption key %s: %s", c->cid,
			rt.conf.image->decryption_keys[c->deckey_next], err->msg);
		c->deckey_next++;
	}
	return 0;
}

int sp_deckeys_start(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)
{
	c->done = done;
	c->done_arg = arg;
	c->deckey_next = 0;
	c->deckeys = calloc(1, sizeof(*c->deckeys));
	if (!c->deckeys)
		return sp_fail(err, SP_E_EXHAUSTED, 0, "pull: decryption keys: out of memory");
	return fetch_next(c, err);
}

void sp_deckeys_cancel(struct sp_ctr *c)
{
	if (c->pending)
		sp_attest_resource_cancel((uint32_t)(uintptr_t)c->pending);
	c->pending = NULL;
}

void sp_deckeys_undo(struct sp_ctr *c)
{
	if (c->deckeys) {
		sp_dec_keys_wipe(c->deckeys);
		free(c->deckeys);
	}
	c->deckeys = NULL;
}
