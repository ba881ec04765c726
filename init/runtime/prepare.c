/* CreateContainer's orchestrator (prepare.h): the container records and the engine that runs a
 * table of steps on one. Each step may park the call; the loop goes on. */
#define _GNU_SOURCE
#include "runtime/prepare.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/validate.h"
#include "runtime/ctr.h"

static struct sp_ctr *records;
static unsigned npending;

/* --- the facts of a request ---------------------------------------------------------------------- */

static const char *annotation(const Grpc__Spec *spec, const char *key)
{
	for (size_t i = 0; spec && i < spec->n_annotations; i++)
		if (spec->annotations[i]->key && strcmp(spec->annotations[i]->key, key) == 0)
			return spec->annotations[i]->value;
	return NULL;
}

int sp_create_facts_parse(const Grpc__CreateContainerRequest *req, struct sp_create_facts *f,
			  struct sp_err *err)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < req->n_storages; i++) {
		const Grpc__Storage *s = req->storages[i];

		if (!s->driver || strcmp(s->driver, "image_guest_pull") != 0)
			continue;
		if (f->pull)
			return sp_fail(err, SP_E_INVALID, 0,
				       "more than one image_guest_pull storage");
		f->pull = s;
	}
	if (f->pull) {
		f->image_ref = f->pull->source;
		f->image_pulled = true;
		f->pause = f->pull->source && strcmp(f->pull->source, "pause") == 0;
	} else {
		f->image_ref = annotation(req->oci, "io.kubernetes.cri.image-name");
		if (!f->image_ref)
			f->image_ref = annotation(req->oci, "io.kubernetes.cri-o.ImageName");
	}
	for (size_t i = 0; i < req->n_devices; i++)
		if (req->devices[i]->container_path &&
		    strcmp(req->devices[i]->container_path, SP_TRUSTED_STORE_DEVICE) == 0)
			f->trusted_store = req->devices[i];
	return 0;
}

/* --- records ------------------------------------------------------------------------------------ */

const char *sp_ctr_cid(const struct sp_ctr *c)
{
	return c->cid;
}

const Grpc__CreateContainerRequest *sp_ctr_request(const struct sp_ctr *c)
{
	return c->req; /* NULL once the container is created */
}

const struct sp_create_facts *sp_ctr_facts(const struct sp_ctr *c)
{
	return &c->facts;
}

const struct sp_verdict *sp_ctr_verdict(const struct sp_ctr *c)
{
	return &c->verdict;
}

unsigned sp_prep_pending(void)
{
	return npending;
}

static struct sp_ctr *find(const char *cid)
{
	for (struct sp_ctr *c = records; c; c = c->next)
		if (strcmp(c->cid, cid) == 0)
			return c;
	return NULL;
}

bool sp_prep_busy(const char *cid)
{
	struct sp_ctr *c = find(cid);

	return c && !c->created;
}

/* The request copied (packed and unpacked again), so that it outlives the call. */
static Grpc__CreateContainerRequest *copy_request(const Grpc__CreateContainerRequest *req)
{
	size_t len = grpc__create_container_request__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	Grpc__CreateContainerRequest *copy;

	if (!buf)
		return NULL;
	grpc__create_container_request__pack(req, buf);
	copy = grpc__create_container_request__unpack(NULL, len, buf);
	free(buf);
	return copy;
}

/* The verdict copied: its pinned digests point into the policy, which SetPolicy may free. */
static int copy_verdict(struct sp_ctr *c, const struct sp_verdict *v)
{
	c->verdict = *v;
	if (!v->npinned)
		return 0;
	c->pinned = calloc(v->npinned, sizeof(*c->pinned));
	if (!c->pinned)
		return -1;
	for (size_t i = 0; i < v->npinned; i++) {
		(void)snprintf(c->pinned[i], sizeof(c->pinned[i]), "%s", v->pinned[i]);
		c->verdict.pinned[i] = c->pinned[i];
	}
	return 0;
}

static void ctr_free(struct sp_ctr *c)
{
	if (!c)
		return;
	if (c->req)
		grpc__create_container_request__free_unpacked(c->req, NULL);
	free(c->pinned);
	free(c->made);
	free(c);
}

static int ctr_new(const Grpc__CreateContainerRequest *req, const struct sp_verdict *v,
		   const struct sp_prep_step *steps, size_t nsteps, struct sp_ctr **out,
		   struct sp_err *err)
{
	struct sp_ctr *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (!c || !(c->req = copy_request(req)) || copy_verdict(c, v) < 0 ||
	    !(c->made = calloc(req->n_storages + 1, sizeof(*c->made)))) {
		ctr_free(c);
		return sp_fail(err, SP_E_EXHAUSTED, ENOMEM, "out of memory");
	}
	if (sp_create_facts_parse(c->req, &c->facts, err) < 0) {
		ctr_free(c);
		return -1;
	}
	(void)snprintf(c->cid, sizeof(c->cid), "%s", req->container_id);
	c->nstorages = c->req->n_storages;
	c->steps = steps;
	c->nsteps = nsteps < SP_PREP_MAX_STEPS ? nsteps : SP_PREP_MAX_STEPS;
	*out = c;
	return 0;
}

static void unlink_ctr(struct sp_ctr *c)
{
	for (struct sp_ctr **pp = &records; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (!c->created)
		npending--;
}

/* Undoes every step that started, from the last one (from step last down). */
static void undo_from(struct sp_ctr *c, size_t last)
{
	for (size_t i = last + 1; i-- > 0;)
		if (c->started[i] && c->steps[i].undo)
			c->steps[i].undo(c);
}

/* --- the engine ------------------------------------------------------------------------------------ */

static void cancel_call(struct tt_call *call);

/* Answers the call (when it is still there). A failure undoes what the steps made and forgets
 * the record; success keeps it until RemoveContainer. Returns the handler's return value. */
static int finish(struct sp_ctr *c, int ret, const struct sp_err *err)
{
	struct tt_call *call = c->call;
	int r = TT_DONE;

	c->call = NULL;
	if (ret < 0) {
		sp_info("runtime", "CreateContainer %s refused: %s", c->cid, err->msg);
		undo_from(c, c->step < c->nsteps ? c->step : c->nsteps - 1);
		unlink_ctr(c);
		ctr_free(c);
	} else {
		/* The request is no longer needed (a 4 MiB one would stay for the container's
		 * life): what the undo needs is in the record. */
		grpc__create_container_request__free_unpacked(c->req, NULL);
		c->req = NULL;
		memset(&c->facts, 0, sizeof(c->facts));
		c->created = true;
		npending--;
	}
	if (call)
		r = ret < 0 ? tt_call_fail(call, err) : tt_call_reply(call, NULL);
	return r;
}

static void step_done(void *arg, int ret, const struct sp_err *err);

/* Runs steps until one is pending, one fails or all are done. Returns what a handler returns. */
static int advance(struct sp_ctr *c)
{
	while (c->step < c->nsteps) {
		const struct sp_prep_step *s = &c->steps[c->step];
		struct sp_err err = { 0 };
		int r;

		if (s->applies && !s->applies(c)) {
			c->step++;
			continue;
		}
		c->started[c->step] = true;
		c->in_step = true;
		c->reported = false;
		r = s->start(c, step_done, c, &err);
		c->in_step = false;
		if (r == SP_PENDING && c->reported) { /* it completed inside start */
			c->pending = NULL;
			r = c->rep_ret < 0 ? -1 : 0;
			err = c->rep_err;
		}
		if (r == SP_PENDING) {
			if (c->call && !c->call->parked)
				tt_call_park(c->call, cancel_call, c);
			return TT_PARKED;
		}
		if (r < 0)
			return finish(c, -1, &err);
		c->step++;
	}
	return finish(c, 0, NULL);
}

static void step_done(void *arg, int ret, const struct sp_err *err)
{
	struct sp_ctr *c = arg;
	struct sp_err none = { 0 };

	if (!err)
		err = &none;
	if (c->in_step) {
		c->reported = true;
		c->rep_ret = ret;
		c->rep_err = *err;
		return;
	}
	c->pending = NULL;
	if (ret < 0) {
		finish(c, -1, err);
		return;
	}
	c->step++;
	(void)advance(c);
}

/* The CreateContainer call went away: the pending step is cancelled and everything undone. */
static void cancel_call(struct tt_call *call)
{
	struct sp_ctr *c = call->priv;
	const struct sp_prep_step *s = &c->steps[c->step];

	c->call = NULL;
	if (s->cancel)
		s->cancel(c);
	c->pending = NULL;
	sp_info("runtime", "CreateContainer %s abandoned: the caller went away", c->cid);
	undo_from(c, c->step);
	unlink_ctr(c);
	ctr_free(c);
}

int sp_prep_run(struct tt_call *call, const Grpc__CreateContainerRequest *req,
		const struct sp_verdict *verdict, const struct sp_prep_step *steps, size_t nsteps)
{
	struct sp_ctr *c;
	struct sp_err err;

	if (!req->container_id || !sp_valid_id(req->container_id))
		return tt_call_failf(call, SP_E_INVALID, "container id is not valid");
	if (find(req->container_id))
		return tt_call_failf(call, SP_E_EXISTS, "container %s %s", req->container_id,
				     sp_prep_busy(req->container_id) ? "is already being created"
								     : "already exists");
	if (ctr_new(req, verdict, steps, nsteps, &c, &err) < 0 || !c)
		return tt_call_fail(call, &err);
	c->call = call;
	c->next = records;
	records = c;
	npending++;
	return advance(c);
}

void sp_prep_remove(const char *cid)
{
	struct sp_ctr *c = cid ? find(cid) : NULL;

	if (!c || !c->created)
		return;
	undo_from(c, c->nsteps - 1);
	unlink_ctr(c);
	ctr_free(c);
}
