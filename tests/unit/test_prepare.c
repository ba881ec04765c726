/* CreateContainer's orchestrator (init/runtime/prepare.c) driven with fake steps: the order, what
 * a failing step undoes, what a call that goes away cancels and undoes, steps that complete
 * inside their start, and RemoveContainer undoing a created record. The call is a real ttRPC call
 * on a connection with no socket, as the control port makes it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ttrpc.h"
#include "ttpair.h"
#include "runtime/prepare.h"
#include "agent.pb-c.h"
#include "ttrpc.pb-c.h"
#include "unit.h"

/* What each fake step does when started. */
enum how { OK, FAIL, LATER, OK_INSIDE, FAIL_INSIDE, SKIP };

static enum how plan[4];
static char events[512];
static sp_done_fn saved_done;
static void *saved_arg;

static void note(const char *what, int step)
{
	size_t n = strlen(events);

	snprintf(events + n, sizeof(events) - n, "%s%s%c", n ? " " : "", what, 'a' + step);
}

static bool applies(int i)
{
	return plan[i] != SKIP;
}

static int start(int i, sp_done_fn done, void *arg, struct sp_err *err)
{
	note("start:", i);
	switch (plan[i]) {
	case OK:
		return 0;
	case FAIL:
		return sp_fail(err, SP_E_DENIED, 0, "step %c refuses", 'a' + i);
	case LATER:
		saved_done = done;
		saved_arg = arg;
		return SP_PENDING;
	case OK_INSIDE:
		done(arg, 0, NULL);
		return SP_PENDING;
	case FAIL_INSIDE: {
		struct sp_err e;

		sp_fail(&e, SP_E_UNAVAILABLE, 0, "step %c failed inside", 'a' + i);
		done(arg, -1, &e);
		return SP_PENDING;
	}
	case SKIP:
		break;
	}
	return 0;
}

#define FAKE(i)                                                                                    \
	static bool applies_##i(const struct sp_ctr *c)                                            \
	{                                                                                          \
		return applies(i);                                                                 \
	}                                                                                          \
	static int start_##i(struct sp_ctr *c, sp_done_fn done, void *arg, struct sp_err *err)     \
	{                                                                                          \
		return start(i, done, arg, err);                                                   \
	}                                                                                          \
	static void cancel_##i(struct sp_ctr *c)                                                   \
	{                                                                                          \
		note("cancel:", i);                                                                \
	}                                                                                          \
	static void undo_##i(struct sp_ctr *c)                                                     \
	{                                                                                          \
		note("undo:", i);                                                                  \
	}
FAKE(0)
FAKE(1)
FAKE(2)

static const struct sp_prep_step steps[] = {
	{ "a", applies_0, start_0, cancel_0, undo_0 },
	{ "b", applies_1, start_1, cancel_1, undo_1 },
	{ "c", applies_2, start_2, cancel_2, undo_2 },
};

/* A service whose one method hands the decoded request to the orchestrator with the steps. */
static int create(struct tt_call *call, const ProtobufCMessage *req)
{
	static const struct sp_verdict v = { .allow = true };

	return sp_prep_run(call, (const Grpc__CreateContainerRequest *)(const void *)req, &v, steps,
			   3);
}

static const struct tt_method methods[] = {
	{ "CreateContainer", &grpc__create_container_request__descriptor, create, NULL, NULL },
};
static const struct tt_service service = { "grpc.AgentService", methods, 1 };
static const struct tt_service *const services[] = { &service };
static const struct tt_server server = { services, 1, NULL };

static void send_create(struct ttpair *c, uint32_t stream, const char *cid)
{
	Grpc__CreateContainerRequest cc = GRPC__CREATE_CONTAINER_REQUEST__INIT;
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	uint8_t payload[128], body[256], *frame = NULL;
	size_t flen = 0, fcap = 0;

	cc.container_id = (char *)cid;
	req.service = "grpc.AgentService";
	req.method = "CreateContainer";
	req.payload.data = payload;
	req.payload.len = grpc__create_container_request__pack(&cc, payload);
	tt_frame_append(&frame, &flen, &fcap, stream, TT_TYPE_REQUEST, 0, body,
			ttrpc__request__pack(&req, body));
	ttpair_feed(c, frame, flen);
	free(frame);
}

/* The status of the next reply on c (-1: none yet); msg gets its message. */
static int reply(struct ttpair *c, char *msg, size_t size)
{
	size_t olen;
	const uint8_t *out = ttpair_output(c, &olen);
	Ttrpc__Response *r;
	uint32_t n;
	int code;

	if (olen < TT_HDR_LEN)
		return -1;
	n = (uint32_t)out[0] << 24 | out[1] << 16 | out[2] << 8 | out[3];
	if (olen < TT_HDR_LEN + n)
		return -1;
	r = ttrpc__response__unpack(NULL, n, out + TT_HDR_LEN);
	ttpair_consume(c, TT_HDR_LEN + n);
	if (!r)
		return -2;
	code = r->status ? r->status->code : 0;
	snprintf(msg, size, "%s", r->status && r->status->message ? r->status->message : "");
	ttrpc__response__free_unpacked(r, NULL);
	return code;
}

static void reset(enum how a, enum how b, enum how c)
{
	plan[0] = a, plan[1] = b, plan[2] = c;
	events[0] = '\0';
	saved_done = NULL;
}

TEST(prepare_runs_steps_in_order_and_remove_undoes_them)
{
	struct ttpair c;
	char msg[256];

	reset(OK, SKIP, OK);
	ttpair_init(&c, &server);
	send_create(&c, 1, "p1");
	CHECK(reply(&c, msg, sizeof(msg)) == TT_OK);
	CHECK_STR(events, "start:a start:c");
	CHECK(sp_prep_pending() == 0 && !sp_prep_busy("p1"));
	/* The record stays until RemoveContainer: the same id again is refused. */
	send_create(&c, 3, "p1");
	CHECK(reply(&c, msg, sizeof(msg)) == TT_ALREADY_EXISTS);
	CHECK_STR(msg, "container p1 already exists");
	events[0] = '\0';
	sp_prep_remove("p1");
	CHECK_STR(events, "undo:c undo:a"); /* the last step first; a skipped one not at all */
	events[0] = '\0';
	sp_prep_remove("p1");
	CHECK_STR(events, "");
	ttpair_destroy(&c);
}

TEST(prepare_failing_step_undoes_what_earlier_steps_made)
{
	struct ttpair c;
	char msg[256];

	reset(OK, LATER, FAIL);
	ttpair_init(&c, &server);
	send_create(&c, 1, "p2");
	CHECK(reply(&c, msg, sizeof(msg)) == -1); /* parked on b */
	CHECK(sp_prep_pending() == 1 && sp_prep_busy("p2"));
	send_create(&c, 3, "p2");
	CHECK(reply(&c, msg, sizeof(msg)) == TT_ALREADY_EXISTS);
	CHECK_STR(msg, "container p2 is already being created");
	REQUIRE(saved_done);
	saved_done(saved_arg, 0, NULL);
	/* c refuses: its kind decides the status, and every step that started is undone. */
	CHECK(reply(&c, msg, sizeof(msg)) == TT_PERMISSION_DENIED);
	CHECK_STR(msg, "step c refuses");
	CHECK_STR(events, "start:a start:b start:c undo:c undo:b undo:a");
	CHECK(sp_prep_pending() == 0 && !sp_prep_busy("p2"));
	/* Nothing of it is left: the id can be created afresh. */
	reset(OK, OK, OK);
	send_create(&c, 5, "p2");
	CHECK(reply(&c, msg, sizeof(msg)) == TT_OK);
	sp_prep_remove("p2");
	ttpair_destroy(&c);
}

TEST(prepare_call_gone_cancels_pending_step_and_undoes)
{
	struct ttpair c;
	char msg[256];

	reset(OK, LATER, OK);
	ttpair_init(&c, &server);
	send_create(&c, 1, "p3");
	CHECK(reply(&c, msg, sizeof(msg)) == -1);
	events[0] = '\0';
	ttpair_destroy(&c); /* the connection closes: the parked call is cancelled */
	CHECK_STR(events, "cancel:b undo:b undo:a");
	CHECK(sp_prep_pending() == 0 && !sp_prep_busy("p3"));
	events[0] = '\0';
	sp_prep_remove("p3");
	CHECK_STR(events, ""); /* no record was kept */
}

TEST(prepare_steps_completing_inside_start)
{
	struct ttpair c;
	char msg[256];

	/* Done inside start, then the next steps run in the same call: no park, no recursion. */
	reset(OK_INSIDE, OK_INSIDE, OK);
	ttpair_init(&c, &server);
	send_create(&c, 1, "p4");
	CHECK(reply(&c, msg, sizeof(msg)) == TT_OK);
	CHECK_STR(events, "start:a start:b start:c");
	sp_prep_remove("p4");
	/* A failure reported inside start is the step's failure, reported once. */
	reset(OK, FAIL_INSIDE, OK);
	send_create(&c, 3, "p5");
	CHECK(reply(&c, msg, sizeof(msg)) == TT_UNAVAILABLE);
	CHECK_STR(msg, "step b failed inside");
	CHECK(reply(&c, msg, sizeof(msg)) == -1);
	CHECK_STR(events, "start:a start:b undo:b undo:a");
	CHECK(sp_prep_pending() == 0);
	/* A later step that completes inside start after an asynchronous one. */
	reset(LATER, OK_INSIDE, FAIL_INSIDE);
	send_create(&c, 5, "p6");
	REQUIRE(saved_done);
	saved_done(saved_arg, 0, NULL);
	CHECK(reply(&c, msg, sizeof(msg)) == TT_UNAVAILABLE);
	CHECK_STR(events, "start:a start:b start:c undo:c undo:b undo:a");
	ttpair_destroy(&c);
}

TEST(prepare_facts)
{
	Grpc__CreateContainerRequest r = GRPC__CREATE_CONTAINER_REQUEST__INIT;
	Grpc__Storage pull = GRPC__STORAGE__INIT, blk = GRPC__STORAGE__INIT;
	Grpc__Storage *st[3] = { &blk, &pull, &pull };
	Grpc__Device d = GRPC__DEVICE__INIT, *dp = &d;
	Grpc__Spec spec = GRPC__SPEC__INIT;
	Grpc__Spec__AnnotationsEntry a = GRPC__SPEC__ANNOTATIONS_ENTRY__INIT, *ap = &a;
	struct sp_create_facts f;
	struct sp_err err;

	blk.driver = "blk";
	pull.driver = "image_guest_pull";
	pull.source = "pause";
	r.storages = st;
	r.n_storages = 2;
	REQUIRE(sp_create_facts_parse(&r, &f, &err) == 0);
	CHECK(f.pause && f.image_pulled && f.pull == &pull && !f.trusted_store);
	pull.source = "registry.example/app:1";
	REQUIRE(sp_create_facts_parse(&r, &f, &err) == 0);
	CHECK(!f.pause && f.image_pulled && strcmp(f.image_ref, pull.source) == 0);
	/* The annotation is only the host's word: never the built-in pause. */
	r.n_storages = 1;
	a.key = "io.kubernetes.cri.image-name";
	a.value = "pause";
	spec.annotations = &ap;
	spec.n_annotations = 1;
	r.oci = &spec;
	d.container_path = "/dev/trusted_store";
	r.devices = &dp;
	r.n_devices = 1;
	REQUIRE(sp_create_facts_parse(&r, &f, &err) == 0);
	CHECK(!f.pause && !f.image_pulled && strcmp(f.image_ref, "pause") == 0);
	CHECK(f.trusted_store == &d);
	r.n_storages = 3;
	CHECK(FAILS_AS(sp_create_facts_parse(&r, &f, &err), err, SP_E_INVALID));
}
