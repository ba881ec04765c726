/* The control port's two halves (the front-end's framing and decoding, PID 1's calls) joined in
 * one process (ttpair.h), fed from byte buffers: no sockets. */
#include <stdint.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "agent/ttrpc.h"
#include "health.pb-c.h"
#include "ttrpc.pb-c.h"
#include "ttpair.h"
#include "unit.h"

/* Captured from Debian's ttrpc 1.1.1 client (kata-agent.md section 1.3). */
static const uint8_t check_req[] = {
	0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x0a, 0x0b,
	'g',  'r',  'p',  'c',	'.',  'H',  'e',  'a',	'l',  't',  'h',  0x12,
	0x05, 'C',  'h',  'e',	'c',  'k',  0x20, 0xd9, 0xca, 0x84, 0xe1, 0x6f,
};
static const uint8_t check_ok[] = { 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
				    0x01, 0x02, 0x00, 0x12, 0x02, 0x08, 0x01 };

/* A test service whose Park method is answered later, to exercise parked calls. */
static struct tt_call *parked_calls[8];
static int nparked_calls, ncancelled;

static void park_cancel(struct tt_call *call)
{
	for (int i = 0; i < nparked_calls; i++)
		if (parked_calls[i] == call)
			parked_calls[i] = NULL;
	ncancelled++;
}

static int park_handler(struct tt_call *call, const ProtobufCMessage *req)
{
	if (nparked_calls >= 8)
		return tt_call_error(call, TT_RESOURCE_EXHAUSTED, "test");
	parked_calls[nparked_calls++] = call;
	tt_call_park(call, park_cancel, NULL);
	return TT_PARKED;
}

static int lazy_handler(struct tt_call *call, const ProtobufCMessage *req)
{
	return TT_DONE; /* a bug: never answers; the dispatcher must answer INTERNAL */
}

static const struct tt_method test_methods[] = {
	{ "Park", &grpc__check_request__descriptor, park_handler, NULL, NULL },
	{ "Lazy", &grpc__check_request__descriptor, lazy_handler, NULL, NULL },
};
static const struct tt_service test_service = { "test.Svc", test_methods, 2 };
static const struct tt_service *const all_services[] = { &sp_health_service, &test_service };
static const struct tt_server test_server = { all_services, 2, NULL };

static void conn_init(struct ttpair *c)
{
	ttpair_init(c, &test_server);
	nparked_calls = ncancelled = 0;
}

struct frame {
	uint32_t len, stream;
	uint8_t type, flags;
	Ttrpc__Response *resp;
};

/* Pops one reply frame off conn's output; returns 0 when there is none. */
static int pop(struct ttpair *c, struct frame *f)
{
	size_t len;
	const uint8_t *p = ttpair_output(c, &len);

	memset(f, 0, sizeof(*f));
	if (len < TT_HDR_LEN)
		return 0;
	f->len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	f->stream = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	f->type = p[8];
	f->flags = p[9];
	if (len < TT_HDR_LEN + f->len)
		return 0;
	f->resp = ttrpc__response__unpack(NULL, f->len, p + TT_HDR_LEN);
	ttpair_consume(c, TT_HDR_LEN + f->len);
	return 1;
}

static int status_code(const struct frame *f)
{
	return f->resp && f->resp->status ? f->resp->status->code : 0;
}

static const char *status_msg(const struct frame *f)
{
	return f->resp && f->resp->status ? f->resp->status->message : "";
}

static void frame_free(struct frame *f)
{
	if (f->resp)
		ttrpc__response__free_unpacked(f->resp, NULL);
	f->resp = NULL;
}

/* Appends a Request frame for service/method to buf. */
static void add_req(uint8_t **buf, size_t *len, size_t *cap, uint32_t stream, const char *svc,
		    const char *method, const uint8_t *payload, size_t plen)
{
	Ttrpc__Request r = TTRPC__REQUEST__INIT;
	uint8_t tmp[512];
	size_t n;

	r.service = (char *)svc;
	r.method = (char *)method;
	r.payload.data = (uint8_t *)payload;
	r.payload.len = plen;
	n = ttrpc__request__pack(&r, tmp);
	tt_frame_append(buf, len, cap, stream, TT_TYPE_REQUEST, 0, tmp, n);
}

static void feed_req(struct ttpair *c, uint32_t stream, const char *svc, const char *method)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	add_req(&buf, &len, &cap, stream, svc, method, NULL, 0);
	ttpair_feed(c, buf, len);
	free(buf);
}

TEST(ttrpc_captured_check_request)
{
	struct ttpair c;
	size_t len;
	const uint8_t *out;

	conn_init(&c);
	ttpair_feed(&c, check_req, sizeof(check_req));
	out = ttpair_output(&c, &len);
	REQUIRE(len == sizeof(check_ok));
	CHECK(memcmp(out, check_ok, sizeof(check_ok)) == 0);
	ttpair_destroy(&c);
}

TEST(ttrpc_byte_at_a_time)
{
	struct ttpair c;
	size_t len;
	const uint8_t *out;

	conn_init(&c);
	for (size_t i = 0; i < sizeof(check_req); i++) {
		ttpair_feed(&c, check_req + i, 1);
		ttpair_output(&c, &len);
		CHECK(len == (i + 1 == sizeof(check_req) ? sizeof(check_ok) : 0));
	}
	out = ttpair_output(&c, &len);
	REQUIRE(len == sizeof(check_ok));
	CHECK(memcmp(out, check_ok, sizeof(check_ok)) == 0);
	ttpair_destroy(&c);
}

TEST(ttrpc_truncated_header_and_body_wait)
{
	struct ttpair c;
	size_t len;

	conn_init(&c);
	ttpair_feed(&c, check_req, 9);
	ttpair_output(&c, &len);
	CHECK(len == 0);
	CHECK(c.fe.rx == FE_RX_HEADER);
	ttpair_feed(&c, check_req + 9, 10);
	ttpair_output(&c, &len);
	CHECK(len == 0);
	CHECK(c.fe.rx == FE_RX_BODY);
	ttpair_feed(&c, check_req + 19, sizeof(check_req) - 19);
	ttpair_output(&c, &len);
	CHECK(len == sizeof(check_ok));
	/* A connection torn down mid-frame frees its partial body. */
	ttpair_feed(&c, check_req, 20);
	ttpair_destroy(&c);
}

TEST(ttrpc_version)
{
	struct ttpair c;
	struct frame f;

	conn_init(&c);
	feed_req(&c, 1, "grpc.Health", "Version");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 1 && f.type == TT_TYPE_RESPONSE && f.flags == 0);
	REQUIRE(f.resp);
	CHECK(f.resp->status == NULL);
	Grpc__VersionCheckResponse *v = grpc__version_check_response__unpack(
		NULL, f.resp->payload.len, f.resp->payload.data);
	REQUIRE(v);
	CHECK_STR(v->grpc_version, SP_AGENT_API_VERSION);
	CHECK_STR(v->agent_version, SP_AGENT_VERSION);
	grpc__version_check_response__free_unpacked(v, NULL);
	frame_free(&f);
	ttpair_destroy(&c);
}

TEST(ttrpc_oversize_discarded_and_next_parsed)
{
	struct ttpair c;
	struct frame f;
	uint8_t hdr[10] = { 0x00, 0x40, 0x00, 0x01, 0, 0, 0, 5, 1, 0 }; /* 4 MiB + 1 */
	uint8_t chunk[65536];
	size_t left = (4u << 20) + 1;

	conn_init(&c);
	ttpair_feed(&c, hdr, sizeof(hdr));
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 5);
	CHECK(status_code(&f) == TT_RESOURCE_EXHAUSTED);
	frame_free(&f);
	memset(chunk, 0xab, sizeof(chunk));
	while (left > 0) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		ttpair_feed(&c, chunk, n);
		left -= n;
		CHECK(c.fe.body_cap == 0); /* never buffered */
	}
	CHECK(!pop(&c, &f));
	/* The stream id of the oversize request counts as used. */
	feed_req(&c, 5, "grpc.Health", "Check");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 5 && status_code(&f) == TT_INVALID_ARGUMENT);
	frame_free(&f);
	uint8_t req7[sizeof(check_req)];
	memcpy(req7, check_req, sizeof(req7));
	req7[7] = 7;
	ttpair_feed(&c, req7, sizeof(req7));
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 7 && status_code(&f) == 0);
	frame_free(&f);
	/* Exactly 4 MiB is allowed (then rejected as a bad envelope, but read). */
	uint8_t max_hdr[10] = { 0x00, 0x40, 0x00, 0x00, 0, 0, 0, 9, 1, 0 };
	ttpair_feed(&c, max_hdr, sizeof(max_hdr));
	CHECK(c.fe.rx == FE_RX_BODY);
	ttpair_destroy(&c);
}

TEST(ttrpc_garbage_envelope)
{
	static const uint8_t garbage[][8] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, /* unterminated varint */
		{ 0x0a, 0x7f, 'x', 0, 0, 0, 0, 0 },		    /* length beyond the body */
		{ 0x08, 0x01, 0, 0, 0, 0, 0, 0 },	   /* service as varint: wrong type */
		{ 0x0f, 0, 0, 0, 0, 0, 0, 0 },		   /* wire type 7 */
		{ 0x2a, 0x03, 0x08, 0x01, 0x10, 0, 0, 0 }, /* metadata with wrong types */
	};
	struct ttpair c;
	struct frame f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	conn_init(&c);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		tt_frame_append(&buf, &len, &cap, (uint32_t)(2 * i + 1), TT_TYPE_REQUEST, 0,
				garbage[i], i == 4 ? 5 : 8);
	ttpair_feed(&c, buf, len);
	free(buf);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		REQUIRE(pop(&c, &f));
		if (status_code(&f) != TT_INVALID_ARGUMENT)
			fprintf(stderr, "    garbage case %zu: code %d\n", i, status_code(&f));
		CHECK(f.stream == 2 * i + 1);
		CHECK(status_code(&f) == TT_INVALID_ARGUMENT);
		frame_free(&f);
	}
	ttpair_destroy(&c);
}

TEST(ttrpc_garbage_payload)
{
	static const uint8_t bad[] = { 0x0a, 0x05, 'x' }; /* CheckRequest.service overruns */
	struct ttpair c;
	struct frame f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;

	conn_init(&c);
	add_req(&buf, &len, &cap, 1, "grpc.Health", "Check", bad, sizeof(bad));
	/* Unknown fields in the envelope and payload are skipped, not errors. */
	static const uint8_t unknown[] = { 0x78, 0x05, 0x0a, 0x01, 'z' }; /* field 15 varint */
	add_req(&buf, &len, &cap, 3, "grpc.Health", "Check", unknown, sizeof(unknown));
	ttpair_feed(&c, buf, len);
	free(buf);
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 1 && status_code(&f) == TT_INVALID_ARGUMENT);
	frame_free(&f);
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 3 && status_code(&f) == 0);
	frame_free(&f);
	ttpair_destroy(&c);
}

TEST(ttrpc_stream_id_rules)
{
	struct ttpair c;
	struct frame f;

	conn_init(&c);
	feed_req(&c, 2, "grpc.Health", "Check"); /* even */
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 2 && status_code(&f) == TT_INVALID_ARGUMENT);
	frame_free(&f);
	feed_req(&c, 0, "grpc.Health", "Check");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 0 && status_code(&f) == TT_INVALID_ARGUMENT);
	frame_free(&f);
	feed_req(&c, 5, "grpc.Health", "Check");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 5 && status_code(&f) == 0);
	frame_free(&f);
	feed_req(&c, 5, "grpc.Health", "Check"); /* reused */
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 5 && status_code(&f) == TT_INVALID_ARGUMENT);
	frame_free(&f);
	feed_req(&c, 3, "grpc.Health", "Check"); /* going back */
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 3 && status_code(&f) == TT_INVALID_ARGUMENT);
	frame_free(&f);
	feed_req(&c, 7, "grpc.Health", "Check"); /* the connection is still usable */
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 7 && status_code(&f) == 0);
	frame_free(&f);
	CHECK(c.fe.protocol_errors == 4);
	ttpair_destroy(&c);
}

TEST(ttrpc_unknown_service_and_method)
{
	struct ttpair c;
	struct frame f;

	conn_init(&c);
	feed_req(&c, 1, "grpc.AgentService", "CreateContainer");
	REQUIRE(pop(&c, &f));
	CHECK(status_code(&f) == TT_UNIMPLEMENTED);
	CHECK_STR(status_msg(&f), "service grpc.AgentService");
	frame_free(&f);
	feed_req(&c, 3, "grpc.Health", "Watch");
	REQUIRE(pop(&c, &f));
	CHECK(status_code(&f) == TT_UNIMPLEMENTED);
	CHECK_STR(status_msg(&f), "method Watch");
	frame_free(&f);
	/* A non-printable name comes back escaped (valid UTF-8 for the Go client). */
	feed_req(&c, 5, "grpc.\xff\n", "X");
	REQUIRE(pop(&c, &f));
	CHECK_STR(status_msg(&f), "service grpc.\\xff\\x0a");
	frame_free(&f);
	/* An empty frame is an empty envelope: no service. */
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	tt_frame_append(&buf, &len, &cap, 7, TT_TYPE_REQUEST, 0, NULL, 0);
	ttpair_feed(&c, buf, len);
	free(buf);
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 7 && status_code(&f) == TT_UNIMPLEMENTED);
	frame_free(&f);
	ttpair_destroy(&c);
}

TEST(ttrpc_other_frame_types)
{
	struct ttpair c;
	struct frame f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	static const uint8_t body[] = { 1, 2, 3 };

	conn_init(&c);
	tt_frame_append(&buf, &len, &cap, 1, TT_TYPE_DATA, 0, body, 3);
	tt_frame_append(&buf, &len, &cap, 3, TT_TYPE_RESPONSE, 0, body, 3); /* ignored */
	tt_frame_append(&buf, &len, &cap, 5, 0x7f, 0, body, 3);		    /* ignored */
	ttpair_feed(&c, buf, len);
	free(buf);
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 1 && status_code(&f) == TT_INVALID_ARGUMENT);
	frame_free(&f);
	CHECK(!pop(&c, &f));
	/* Those did not consume stream ids. */
	feed_req(&c, 1, "grpc.Health", "Check");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 1 && status_code(&f) == 0);
	frame_free(&f);
	ttpair_destroy(&c);
}

TEST(ttrpc_parked_calls_answered_later)
{
	struct ttpair c;
	struct frame f;
	Grpc__HealthCheckResponse resp = GRPC__HEALTH_CHECK_RESPONSE__INIT;

	conn_init(&c);
	feed_req(&c, 1, "test.Svc", "Park");
	feed_req(&c, 3, "test.Svc", "Park");
	CHECK(c.p1.nparked == 2);
	CHECK(!pop(&c, &f));
	/* Other calls keep flowing while those wait. */
	feed_req(&c, 5, "grpc.Health", "Check");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 5);
	frame_free(&f);
	/* Answer the second first: replies go out by stream id, in any order. */
	resp.status = GRPC__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
	tt_call_reply(parked_calls[1], &resp.base);
	CHECK(c.late_replies == 1);
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 3 && status_code(&f) == 0);
	frame_free(&f);
	tt_call_error(parked_calls[0], TT_NOT_FOUND, "nf");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 1 && status_code(&f) == TT_NOT_FOUND);
	CHECK_STR(status_msg(&f), "nf");
	frame_free(&f);
	CHECK(c.p1.nparked == 0);
	CHECK(ncancelled == 0);
	ttpair_destroy(&c);
}

TEST(ttrpc_error_reply_bytes)
{
	/* kata-agent.md 1.3: the error reply on stream 3 as Go encodes it. */
	static const uint8_t want[] = { 0, 0,	 0,    8,    0,	   0,	 0,    3,   2,
					0, 0x0a, 0x06, 0x08, 0x05, 0x12, 0x02, 'n', 'f' };
	struct ttpair c;
	size_t len;
	const uint8_t *out;

	conn_init(&c);
	feed_req(&c, 3, "test.Svc", "Park");
	REQUIRE(nparked_calls == 1);
	tt_call_error(parked_calls[0], TT_NOT_FOUND, "nf");
	out = ttpair_output(&c, &len);
	REQUIRE(len == sizeof(want));
	CHECK(memcmp(out, want, sizeof(want)) == 0);
	ttpair_destroy(&c);
}

TEST(ttrpc_teardown_cancels_parked)
{
	struct ttpair c;

	conn_init(&c);
	feed_req(&c, 1, "test.Svc", "Park");
	feed_req(&c, 3, "test.Svc", "Park");
	feed_req(&c, 5, "test.Svc", "Park");
	CHECK(c.p1.nparked == 3);
	ttpair_destroy(&c);
	CHECK(ncancelled == 3);
	CHECK(c.p1.nparked == 0 && c.p1.parked == NULL);
}

TEST(ttrpc_handler_that_does_not_answer)
{
	struct ttpair c;
	struct frame f;

	conn_init(&c);
	feed_req(&c, 1, "test.Svc", "Lazy");
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 1 && status_code(&f) == TT_INTERNAL);
	frame_free(&f);
	ttpair_destroy(&c);
}

TEST(ttrpc_many_frames_in_one_chunk)
{
	struct ttpair c;
	struct frame f;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int n = 0;

	conn_init(&c);
	for (uint32_t s = 1; s < 2000; s += 2)
		add_req(&buf, &len, &cap, s, "grpc.Health", "Check", NULL, 0);
	ttpair_feed(&c, buf, len);
	free(buf);
	while (pop(&c, &f)) {
		CHECK(status_code(&f) == 0);
		CHECK(f.stream == (uint32_t)(2 * n + 1));
		frame_free(&f);
		n++;
	}
	CHECK(n == 1000);
	ttpair_destroy(&c);
}

/* --- the front-end's bounds (init/front/conn.c) ---------------------------------------------- */

/* Replies that pile up for a peer that does not read: the connection is broken past the hard
 * limit, and the totals count what the buffers hold. */
TEST(front_output_hard_limit_breaks_the_connection)
{
	struct ttpair c;
	static uint8_t payload[1 << 20];
	int n = 0;

	conn_init(&c);
	while (!c.fe.broken && n < 64) {
		fe_conn_respond(&c.fe, (uint32_t)(2 * n + 1), TT_OK, NULL, payload,
				sizeof(payload));
		n++;
	}
	CHECK(c.fe.broken);
	CHECK(fe_conn_pending(&c.fe) <= FE_OUT_HARD_MAX);
	/* each reply is 1 MiB and a few bytes of framing: the sixth goes over 6 MiB */
	CHECK(n == (int)(FE_OUT_HARD_MAX / sizeof(payload)));
	CHECK(c.totals.out == c.fe.out_cap && c.totals.out >= fe_conn_pending(&c.fe));
	ttpair_destroy(&c);
	CHECK(c.totals.out == 0 && c.totals.in == 0);
}

/* Bodies being received by all connections together: over the total a frame is refused as it
 * arrives and discarded, and the connection goes on. */
TEST(front_input_total_refuses_a_frame_and_goes_on)
{
	struct ttpair c;
	struct frame f;
	uint8_t hdr[10] = { 0x00, 0x10, 0x00, 0x00, 0, 0, 0, 1, 1, 0 }; /* 1 MiB, stream 1 */
	static uint8_t chunk[1 << 20];

	conn_init(&c);
	c.totals.in = FE_IN_TOTAL_MAX - 1000; /* the other connections hold nearly all of it */
	ttpair_feed(&c, hdr, sizeof(hdr));
	CHECK(fe_conn_partial(&c.fe));
	ttpair_feed(&c, chunk, sizeof(chunk));
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 1 && status_code(&f) == TT_RESOURCE_EXHAUSTED);
	frame_free(&f);
	CHECK(!fe_conn_partial(&c.fe) && !c.fe.broken);
	CHECK(c.totals.in == FE_IN_TOTAL_MAX - 1000);
	c.totals.in = 0;
	uint8_t req3[sizeof(check_req)];
	memcpy(req3, check_req, sizeof(req3));
	req3[7] = 3;
	ttpair_feed(&c, req3, sizeof(req3));
	REQUIRE(pop(&c, &f));
	CHECK(f.stream == 3 && status_code(&f) == 0);
	frame_free(&f);
	ttpair_destroy(&c);
}

/* The socket layer's clock stamps when a frame began, for its deadlines. */
TEST(front_frame_start_is_stamped)
{
	struct ttpair c;

	conn_init(&c);
	CHECK(!fe_conn_partial(&c.fe));
	c.fe.now_ms = 1000;
	ttpair_feed(&c, check_req, 3);
	CHECK(fe_conn_partial(&c.fe) && c.fe.frame_start_ms == 1000);
	c.fe.now_ms = 5000;
	ttpair_feed(&c, check_req + 3, 20);
	CHECK(fe_conn_partial(&c.fe) && c.fe.frame_start_ms == 1000);
	ttpair_feed(&c, check_req + 23, sizeof(check_req) - 23);
	CHECK(!fe_conn_partial(&c.fe));
	ttpair_destroy(&c);
}
