/* CreateContainer's preparation steps (prepare.h): the attestation gate, then each Storage entry
 * by its driver, then the container's secrets, then the creation itself. Each step may park the
 * call; the loop goes on. */
#define _GNU_SOURCE
#include "runtime/prepare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ttrpc.h"
#include "lib/log.h"
#include "lib/validate.h"

struct sp_prep {
	struct sp_prep *next;
	struct tt_call *call;
	Grpc__CreateContainerRequest *req; /* our copy */
	char cid[SP_ID_MAX + 1];
	size_t step; /* 0: the gate; 1: devices; 2..n+1: storages[step-2]; n+2: secrets; n+3: create */
	bool in_step; /* a step function is running: sp_prep_done only records */
	bool reported;
	int rep_ret;
	struct sp_err rep_err;
	sp_prep_create_fn create;
};

static struct sp_prep *pending;
static void cancel_call(struct tt_call *call);
static unsigned npending;

static const struct {
	const char *name;
	const struct sp_storage_driver *drv;
} drivers[] = {
	{ "image_guest_pull", &sp_storage_driver_image_guest_pull },
	{ "blk", &sp_storage_driver_blk },
	{ "blk-pci", &sp_storage_driver_blk },
	{ "ephemeral", &sp_storage_driver_ephemeral },
	{ "local", &sp_storage_driver_local },
};

const struct sp_storage_driver *sp_storage_driver_for(const char *name)
{
	for (size_t i = 0; name && i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(name, drivers[i].name) == 0)
			return drivers[i].drv; /* NULL when the module is not linked */
	return NULL;
}

void sp_prep_release_all(const char *cid)
{
	sp_secrets_release(cid);
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		const struct sp_storage_driver *d = drivers[i].drv;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen |= drivers[j].drv == d;
		if (d && !seen && d->release)
			d->release(cid);
	}
}

const Grpc__CreateContainerRequest *sp_prep_request(const struct sp_prep *h)
{
	return h->req;
}

const char *sp_prep_cid(const struct sp_prep *h)
{
	return h->cid;
}

unsigned sp_prep_pending(void)
{
	return npending;
}

bool sp_prep_busy(const char *cid)
{
	for (struct sp_prep *h = pending; h; h = h->next)
		if (strcmp(h->cid, cid) == 0)
			return true;
	return false;
}

/* Kata's sandbox container: a guest pull of "pause", which this guest never pulls. */
static bool is_builtin_pause(const Grpc__Storage *s)
{
	return s->driver && strcmp(s->driver, "image_guest_pull") == 0 && s->source &&
	       strcmp(s->source, "pause") == 0;
}

static void unlink_prep(struct sp_prep *h)
{
	for (struct sp_prep **pp = &pending; *pp; pp = &(*pp)->next) {
		if (*pp == h) {
			*pp = h->next;
			npending--;
			break;
		}
	}
	grpc__create_container_request__free_unpacked(h->req, NULL);
	free(h);
}

#define STEP_DEVICES  1
#define STEP_STORAGE0 2

/* Releases what the storage and secrets steps before h->step made (each driver once). */
static void release_done_steps(struct sp_prep *h)
{
	size_t ndone = h->step > STEP_STORAGE0 ? h->step - STEP_STORAGE0 : 0;

	sp_secrets_release(h->cid);

	for (size_t i = 0; i < ndone && i < h->req->n_storages; i++) {
		const struct sp_storage_driver *d =
			sp_storage_driver_for(h->req->storages[i]->driver);
		bool seen = is_builtin_pause(h->req->storages[i]);

		for (size_t j = 0; j < i; j++)
			seen |= sp_storage_driver_for(h->req->storages[j]->driver) == d;
		if (d && !seen && d->release)
			d->release(h->cid);
	}
}

/* Answers the call (when it is still there) and frees h. Returns the handler's return value. */
static int finish(struct sp_prep *h, int ret, const struct sp_err *err)
{
	struct tt_call *call = h->call;
	int r = TT_DONE;

	if (ret < 0) {
		release_done_steps(h);
		sp_info("runtime", "CreateContainer %s refused: %s", h->cid, err->msg);
	}
	if (call) {
		if (ret >= 0)
			r = tt_call_reply(call, NULL);
		else
			r = tt_call_error(call, (enum tt_code) - ret, "%s", err->msg);
	}
	unlink_prep(h);
	return r;
}

/* Runs steps until one is pending or all are done. Returns the handler's return value. */
static int advance(struct sp_prep *h)
{
	for (;;) {
		struct sp_err err = { 0 };
		size_t n = h->req->n_storages;
		int r;

		h->in_step = true;
		h->reported = false;
		if (h->step == 0) {
			r = sp_attest_gate ? sp_attest_gate(h, &err) : 0;
		} else if (h->step == STEP_DEVICES) {
			r = sp_storage_devices_prepare ? sp_storage_devices_prepare(h, &err) : 0;
		} else if (h->step - STEP_STORAGE0 < n) {
			const Grpc__Storage *s = h->req->storages[h->step - STEP_STORAGE0];
			const struct sp_storage_driver *d = sp_storage_driver_for(s->driver);

			if (is_builtin_pause(s)) {
				r = 0; /* the runtime runs the pause program built into the initramfs */
			} else if (!d) {
				char b[64];

				sp_log_escape(b, sizeof(b), s->driver ? s->driver : "",
					      s->driver ? strnlen(s->driver, 48) : 0);
				r = -TT_INVALID_ARGUMENT;
				sp_error(&err, 0, "storage driver '%s' is not supported", b);
			} else {
				r = d->prepare(h, s, &err);
			}
		} else if (h->step - STEP_STORAGE0 == n) {
			r = sp_secrets_prepare(h, &err);
		} else {
			h->in_step = false;
			r = h->create(h->req, &err);
			return finish(h, r, &err);
		}
		h->in_step = false;
		if (r == SP_PREP_PENDING && h->reported) {
			r = h->rep_ret;
			err = h->rep_err;
		}
		if (r == SP_PREP_PENDING) {
			if (!h->call)
				return TT_PARKED;
			if (!h->call->parked)
				tt_call_park(h->call, cancel_call, h);
			return TT_PARKED;
		}
		if (r < 0)
			return finish(h, r, &err);
		h->step++;
	}
}

static void cancel_call(struct tt_call *call)
{
	struct sp_prep *h = call->priv;
	size_t n = h->req->n_storages;

	h->call = NULL;
	if (h->step == 0) {
		if (sp_attest_gate_cancel)
			sp_attest_gate_cancel(h);
	} else if (h->step == STEP_DEVICES) {
		if (sp_storage_devices_cancel)
			sp_storage_devices_cancel(h);
	} else if (h->step - STEP_STORAGE0 < n) {
		const struct sp_storage_driver *d =
			sp_storage_driver_for(h->req->storages[h->step - STEP_STORAGE0]->driver);

		if (d && d->cancel)
			d->cancel(h);
		if (d && d->release)
			d->release(h->cid);
	} else if (h->step - STEP_STORAGE0 == n) {
		sp_secrets_cancel(h);
	}
	sp_info("runtime", "CreateContainer %s abandoned: the caller went away", h->cid);
	release_done_steps(h);
	unlink_prep(h);
}

void sp_prep_done(struct sp_prep *h, int ret, const struct sp_err *err)
{
	static const struct sp_err none = { 0 };

	if (ret == SP_PREP_PENDING) /* not a report */
		return;
	if (h->in_step) {
		h->reported = true;
		h->rep_ret = ret;
		h->rep_err = err ? *err : none;
		return;
	}
	if (ret < 0) {
		finish(h, ret, err ? err : &none);
		return;
	}
	h->step++;
	(void)advance(h);
}

int sp_prep_start(struct tt_call *call, const Grpc__CreateContainerRequest *req,
		  sp_prep_create_fn create)
{
	struct sp_prep *h;
	size_t len;
	uint8_t *buf;

	if (!req->container_id || !sp_valid_id(req->container_id))
		return tt_call_error(call, TT_INVALID_ARGUMENT, "container id is not valid");
	if (sp_prep_busy(req->container_id))
		return tt_call_error(call, TT_ALREADY_EXISTS,
				     "container %s is already being created", req->container_id);
	h = calloc(1, sizeof(*h));
	len = grpc__create_container_request__get_packed_size(req);
	buf = malloc(len ? len : 1);
	if (!h || !buf) {
		free(h);
		free(buf);
		return tt_call_error(call, TT_RESOURCE_EXHAUSTED, "out of memory");
	}
	grpc__create_container_request__pack(req, buf);
	h->req = grpc__create_container_request__unpack(NULL, len, buf);
	free(buf);
	if (!h->req) {
		free(h);
		return tt_call_error(call, TT_RESOURCE_EXHAUSTED, "out of memory");
	}
	(void)snprintf(h->cid, sizeof(h->cid), "%s", req->container_id);
	h->call = call;
	h->create = create;
	h->next = pending;
	pending = h;
	npending++;
	return advance(h);
}
