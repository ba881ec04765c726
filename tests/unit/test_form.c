/* The internal form between the front-end and PID 1 (init/agent/form.c) and the front-end's
 * bounded decoding (init/front/request.c): real requests go through unchanged; every malformed
 * form PID 1 must refuse is refused, naming where; host bytes that would cost too much are
 * refused before they do. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/form.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "front/request.h"
#include "lib/validate.h"
#include "agent.pb-c.h"
#include "health.pb-c.h"
#include "oci.pb-c.h"
#include "policyform.pb-c.h"
#include "ttrpc.pb-c.h"
#include "unit.h"

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* m's form, malloc'd. */
static uint8_t *form_of(const ProtobufCMessage *m, size_t *len)
{
	struct sp_err err;
	uint8_t *buf;

	if (sp_form_measure(m, SP_FORM_MAX_LEN, NULL, NULL, len, &err) < 0)
		return NULL;
	buf = malloc(*len + 1);
	sp_form_write(m, buf);
	return buf;
}

/* p[0..n) packed, malloc'd. */
static uint8_t *packed(const ProtobufCMessage *m, size_t *n)
{
	uint8_t *buf;

	*n = protobuf_c_message_get_packed_size(m);
	buf = malloc(*n + 1);
	protobuf_c_message_pack(m, buf);
	return buf;
}

/* A golden request through the form and back packs to the golden bytes. */
static void round_trip(int *unit_failed_, const char *name, const ProtobufCMessageDescriptor *d)
{
	char path[256];
	size_t len, flen, plen;
	uint8_t *bin, *form, *again;
	ProtobufCMessage *m, *back;
	struct sp_err err;

	snprintf(path, sizeof(path), "tests/data/golden/%s.bin", name);
	bin = slurp(path, &len);
	REQUIRE(bin);
	m = protobuf_c_message_unpack(d, NULL, len, bin);
	REQUIRE(m);
	form = form_of(m, &flen);
	REQUIRE(form);
	CHECK(sp_form_decode(d, form, flen, &back, &err) == 0);
	if (back) {
		again = packed(back, &plen);
		CHECK(plen == len && memcmp(again, bin, len) == 0);
		free(again);
		free(back);
	}
	free(form);
	protobuf_c_message_free_unpacked(m, NULL);
	free(bin);
}

TEST(form_golden_requests_round_trip)
{
	round_trip(unit_failed_, "create_container_request",
		   &grpc__create_container_request__descriptor);
	round_trip(unit_failed_, "create_sandbox_request",
		   &grpc__create_sandbox_request__descriptor);
	round_trip(unit_failed_, "exec_process_request", &grpc__exec_process_request__descriptor);
	round_trip(unit_failed_, "update_routes_request", &grpc__update_routes_request__descriptor);
	round_trip(unit_failed_, "add_arp_neighbors_request",
		   &grpc__add_arpneighbors_request__descriptor);
	round_trip(unit_failed_, "copy_file_request", &grpc__copy_file_request__descriptor);
	round_trip(unit_failed_, "set_policy_request", &grpc__set_policy_request__descriptor);
}

/* The form of a small request with a bit of everything: strings, a repeated string, a nested
 * message, a bool, a uint32. */
static uint8_t *storage_form(size_t *len)
{
	Grpc__Storage st = GRPC__STORAGE__INIT;
	Grpc__CreateContainerRequest r = GRPC__CREATE_CONTAINER_REQUEST__INIT;
	Grpc__Storage *sts[1] = { &st };
	char *opts[2] = { "ro", "nodev" };

	r.container_id = "c1";
	st.driver = "local";
	st.options = opts;
	st.n_options = 2;
	st.mount_point = "/run/x";
	st.shared = true;
	r.storages = sts;
	r.n_storages = 1;
	r.stdin_port = 7;
	return form_of(&r.base, len);
}

static int decode_cc(const uint8_t *form, size_t len, struct sp_err *err)
{
	ProtobufCMessage *m = NULL;
	int r = sp_form_decode(&grpc__create_container_request__descriptor, form, len, &m, err);

	free(m);
	return r;
}

TEST(form_every_prefix_and_any_trailing_byte_refused)
{
	size_t len;
	uint8_t *form = storage_form(&len), *longer;
	struct sp_err err;

	REQUIRE(form);
	CHECK(decode_cc(form, len, &err) == 0);
	for (size_t n = 0; n < len; n++)
		CHECK(FAILS_AS(decode_cc(form, n, &err), err, SP_E_INVALID));
	longer = malloc(len + 1);
	memcpy(longer, form, len);
	longer[len] = 0;
	CHECK(FAILS_AS(decode_cc(longer, len + 1, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "1 bytes after the CreateContainerRequest") != NULL);
	free(longer);
	free(form);
}

/* Offsets in storage_form(): container_id (u32 2, "c1", 0) = 7 bytes; exec_id (u32 0, 0) = 5;
 * string_user absent = 1; devices count = 4; storages count at 17, the Storage from 21:
 * driver (u32 5, "local", 0) at 21, driver_options count at 31, ... */
#define OFF_STORAGES 17
#define OFF_DRIVER   21

static void expect_refused(int *unit_failed_, const uint8_t *form, size_t len, int kind,
			   const char *what)
{
	struct sp_err err;

	CHECK(FAILS_AS(decode_cc(form, len, &err), err, kind));
	if (!strstr(err.msg, what)) {
		fprintf(stderr, "    got \"%s\", wanted \"%s\"\n", err.msg, what);
		*unit_failed_ = 1;
	}
}

TEST(form_malformed_strings_refused)
{
	size_t len;
	uint8_t *form = storage_form(&len), *f = malloc(len);

	REQUIRE(form && f);
	REQUIRE(memcmp(form + OFF_DRIVER, "\x05\x00\x00\x00local\x00", 10) == 0);
	memcpy(f, form, len);
	f[OFF_DRIVER + 4 + 5] = 'x'; /* the terminating 0 */
	expect_refused(unit_failed_, f, len, SP_E_INVALID,
		       "Storage.driver: a string without its terminating 0");
	memcpy(f, form, len);
	f[OFF_DRIVER + 4 + 2] = 0; /* "lo\0al" */
	expect_refused(unit_failed_, f, len, SP_E_INVALID,
		       "Storage.driver: a NUL byte in a string");
	memcpy(f, form, len);
	memcpy(f + OFF_DRIVER + 4,
	       "\xc0\xaf"
	       "cal",
	       5); /* an overlong slash */
	expect_refused(unit_failed_, f, len, SP_E_INVALID,
		       "Storage.driver: a string that is not UTF-8");
	memcpy(f, form, len);
	memcpy(f + OFF_DRIVER + 4,
	       "\xed\xa0\x80"
	       "al",
	       5); /* a surrogate */
	expect_refused(unit_failed_, f, len, SP_E_INVALID, "not UTF-8");
	memcpy(f, form, len);
	f[OFF_DRIVER] = 0xff; /* a length past the end */
	expect_refused(unit_failed_, f, len, SP_E_INVALID, "Storage.driver: ends early");
	free(f);
	free(form);
}

TEST(form_malformed_counts_flags_and_bools_refused)
{
	size_t len;
	uint8_t *form = storage_form(&len), *f = malloc(len);

	REQUIRE(form && f);
	memcpy(f, form, len);
	f[OFF_STORAGES] = 200; /* 200 Storages in the bytes of one */
	expect_refused(unit_failed_, f, len, SP_E_INVALID,
		       "CreateContainerRequest.storages: a count larger than the bytes that "
		       "follow");
	memcpy(f, form, len);
	f[OFF_STORAGES + 2] = 1; /* 65537 */
	expect_refused(unit_failed_, f, len, SP_E_EXHAUSTED, "more repeated elements than PID 1");
	memcpy(f, form, len);
	f[12] = 2; /* string_user's presence byte */
	expect_refused(unit_failed_, f, len, SP_E_INVALID,
		       "CreateContainerRequest.string_user: a presence byte that is neither 0 nor "
		       "1");
	free(f);
	free(form);
	/* A bool other than 0 or 1: OnlineCPUMemRequest is {bool wait, u32 nb_cpus, bool cpu_only}. */
	{
		static const uint8_t bad[] = { 2, 0, 0, 0, 0, 0 };
		ProtobufCMessage *m = NULL;
		struct sp_err err;

		CHECK(FAILS_AS(sp_form_decode(&grpc__online_cpumem_request__descriptor, bad,
					      sizeof(bad), &m, &err),
			       err, SP_E_INVALID));
		CHECK(strstr(err.msg, "OnlineCPUMemRequest.wait: a bool that is neither") != NULL);
		CHECK(sp_form_decode(&grpc__online_cpumem_request__descriptor,
				     (const uint8_t *)"\x01\x04\x00\x00\x00\x00", 6, &m,
				     &err) == 0);
		CHECK(m && ((Grpc__OnlineCPUMemRequest *)m)->wait &&
		      ((Grpc__OnlineCPUMemRequest *)m)->nb_cpus == 4);
		free(m);
	}
}

/* n Storages of the smallest form (30 zero bytes each): the count fits the bytes that follow
 * and the item budget, but the structs they would need are over PID 1's memory budget: refused
 * before anything is allocated. */
TEST(form_over_the_memory_budget_refused_before_allocating)
{
	const uint32_t n = 60000;
	/* container_id, exec_id, string_user, devices | storages | OCI, sandbox_pidns,
	 * shared_mounts, the three ports */
	const size_t head = 5 + 5 + 1 + 4, len = head + 4 + (size_t)n * 30 + 1 + 1 + 4 + 12;
	uint8_t *f = calloc(1, len);
	struct sp_err err;

	REQUIRE(f);
	memcpy(f + head, &n, 4);
	CHECK(FAILS_AS(decode_cc(f, len, &err), err, SP_E_EXHAUSTED));
	CHECK(strstr(err.msg, "CreateContainerRequest.storages: a request larger than PID 1 "
			      "takes") != NULL);
	/* The same with few enough is taken. */
	memcpy(f + head, &(uint32_t){ 10 }, 4);
	CHECK(decode_cc(f, head + 4 + 10 * 30 + 1 + 1 + 4 + 12, &err) == 0);
	free(f);
}

TEST(form_depth_and_length_limits)
{
	ProtobufCMessage *m = NULL;
	struct sp_err err;
	uint8_t one = 0;

	CHECK(FAILS_AS(sp_form_decode(&grpc__check_request__descriptor, &one, SP_FORM_MAX_LEN + 1,
				      &m, &err),
		       err, SP_E_EXHAUSTED));
	CHECK(m == NULL);
	/* An empty message takes an empty form, and nothing more. */
	CHECK(sp_form_decode(&grpc__destroy_sandbox_request__descriptor, &one, 0, &m, &err) == 0);
	free(m);
	CHECK(FAILS_AS(sp_form_decode(&grpc__destroy_sandbox_request__descriptor, &one, 1, &m,
				      &err),
		       err, SP_E_INVALID));
}

TEST(form_utf8_validator)
{
	CHECK(sp_utf8_valid("", 0));
	CHECK(sp_utf8_valid("plain ascii", 11));
	CHECK(sp_utf8_valid("\xc3\xa9t\xc3\xa9", 6)); /* été */
	CHECK(sp_utf8_valid("\xe2\x82\xac", 3));      /* € */
	CHECK(sp_utf8_valid("\xf0\x9f\x90\xb3", 4));  /* U+1F433 */
	CHECK(sp_utf8_valid("\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
	CHECK(!sp_utf8_valid("\xc0\x80", 2));	      /* overlong NUL */
	CHECK(!sp_utf8_valid("\xe0\x80\xaf", 3));     /* overlong '/' */
	CHECK(!sp_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	CHECK(!sp_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	CHECK(!sp_utf8_valid("\xc3", 1));	      /* cut short */
	CHECK(!sp_utf8_valid("\xe2\x82", 2));	      /* cut short */
	CHECK(!sp_utf8_valid("\x80", 1));	      /* a lone continuation byte */
	CHECK(!sp_utf8_valid("\xff", 1));
	CHECK(!sp_utf8_valid("a\xc3(", 3));
}

/* --- the front-end's decoding ----------------------------------------------------------------- */

static int decode_request(const char *svc, const char *method, const uint8_t *payload, size_t plen,
			  struct fe_request *r, struct sp_err *err)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	size_t blen;
	uint8_t *body;
	int ret;

	if (sp_agent_service_init(NULL) < 0)
		abort();
	req.service = (char *)svc;
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = plen;
	blen = ttrpc__request__get_packed_size(&req);
	body = malloc(blen + 1);
	ttrpc__request__pack(&req, body);
	ret = fe_request_decode(sp_agent_server(), body, blen, r, err);
	free(body);
	return ret;
}

TEST(front_refuses_a_nul_or_non_utf8_in_a_host_string)
{
	/* CreateContainerRequest.container_id = "ab\0cd" and = "\xff" */
	static const uint8_t nul[] = { 0x0a, 0x05, 'a', 'b', 0, 'c', 'd' };
	static const uint8_t bad[] = { 0x0a, 0x01, 0xff };
	static const uint8_t ok[] = { 0x0a, 0x02, 'a', 'b' };
	struct fe_request r;
	struct sp_err err;

	CHECK(FAILS_AS(decode_request("grpc.AgentService", "CreateContainer", nul, sizeof(nul), &r,
				      &err),
		       err, SP_E_INVALID));
	CHECK_STR(err.msg, "bad CreateContainerRequest payload: "
			   "CreateContainerRequest.container_id: a NUL byte in a string");
	fe_request_release(&r);
	CHECK(FAILS_AS(decode_request("grpc.AgentService", "CreateContainer", bad, sizeof(bad), &r,
				      &err),
		       err, SP_E_INVALID));
	CHECK(strstr(err.msg, "container_id: a string that is not UTF-8") != NULL);
	fe_request_release(&r);
	CHECK(decode_request("grpc.AgentService", "CreateContainer", ok, sizeof(ok), &r, &err) ==
	      0);
	CHECK(r.form_len > 0 && r.m && strcmp(r.m->name, "CreateContainer") == 0);
	fe_request_release(&r);
}

/* Issue 14's amplification frame: two million empty storages in 4 MiB. The front-end stops at
 * its decoding budget; nothing reaches PID 1. */
TEST(front_amplification_frame_stops_at_the_budget)
{
	size_t n = ((4u << 20) - 200) / 2, len = 10 + 2 * n;
	uint8_t *p = malloc(len);
	struct fe_request r;
	struct sp_err err;

	REQUIRE(p);
	memcpy(p,
	       "\x0a\x03"
	       "amp\x12\x03"
	       "amp",
	       10);
	for (size_t i = 0; i < n; i++)
		memcpy(p + 10 + 2 * i, "\x2a\x00", 2);
	CHECK(FAILS_AS(decode_request("grpc.AgentService", "CreateContainer", p, len, &r, &err),
		       err, SP_E_EXHAUSTED));
	CHECK(strstr(err.msg, "CreateContainerRequest: more than 16 MiB to decode") != NULL);
	CHECK(r.alloc.peak <= FE_DECODE_MAX);
	fe_request_release(&r);
	CHECK(r.alloc.used == 0);
	free(p);
}

TEST(front_unknown_names_and_bad_envelopes)
{
	struct fe_request r;
	struct sp_err err;
	static const uint8_t garbage[] = { 0x0a, 0x7f, 'x' };

	CHECK(FAILS_AS(decode_request("grpc.Nope", "Check", NULL, 0, &r, &err), err,
		       SP_E_UNSUPPORTED));
	CHECK_STR(err.msg, "service grpc.Nope");
	fe_request_release(&r);
	CHECK(FAILS_AS(decode_request("grpc.Health", "Nope\n", NULL, 0, &r, &err), err,
		       SP_E_UNSUPPORTED));
	CHECK_STR(err.msg, "method Nope\\x0a");
	fe_request_release(&r);
	CHECK(FAILS_AS(fe_request_decode(sp_agent_server(), garbage, sizeof(garbage), &r, &err),
		       err, SP_E_INVALID));
	CHECK_STR(err.msg, "invalid request envelope");
	fe_request_release(&r);
	CHECK(FAILS_AS(decode_request("grpc.AgentService", "CreateContainer", garbage,
				      sizeof(garbage), &r, &err),
		       err, SP_E_INVALID));
	CHECK_STR(err.msg, "bad CreateContainerRequest payload");
	fe_request_release(&r);
}

/* The fuzz_form seeds were written by a second encoder (tests/fuzz/make-seeds: Python's protobuf
 * walked by its own descriptors) from the golden requests and the kata-requests fixtures: PID 1
 * takes every one, and ours writes each back byte for byte. */
#include <dirent.h>

#include "../fuzz/methods.h"

TEST(form_seeds_of_a_second_encoder_decode)
{
	DIR *d = opendir("tests/fuzz/corpus/fuzz_form");
	struct dirent *e;
	int n = 0;

	REQUIRE(d);
	REQUIRE(sp_agent_service_init(NULL) == 0);
	while ((e = readdir(d))) {
		char path[512];
		size_t len, again;
		uint8_t *b, *w;
		const struct tt_method *m;
		ProtobufCMessage *msg = NULL;
		struct sp_err err;

		if (strncmp(e->d_name, "real-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "tests/fuzz/corpus/fuzz_form/%s", e->d_name);
		b = slurp(path, &len);
		REQUIRE(b && len >= 1);
		m = fuzz_method(sp_agent_server(), b[0], NULL);
		REQUIRE(m);
		if (sp_form_decode(tt_method_form(m), b + 1, len - 1, &msg, &err) < 0) {
			fprintf(stderr, "    %s: %s\n", e->d_name, err.msg);
			*unit_failed_ = 1;
		} else {
			CHECK(sp_form_measure(msg, SP_FORM_MAX_LEN, NULL, NULL, &again, &err) == 0);
			w = malloc(again + 1);
			sp_form_write(msg, w);
			CHECK(again == len - 1 && memcmp(w, b + 1, again) == 0);
			free(w);
			n++;
		}
		free(msg);
		free(b);
	}
	closedir(d);
	CHECK(n >= 40);
}

/* A message whose two fields are one oneof: the Kata protos have no such oneof, so it is made
 * here, the way protoc-c would. */
struct two_of {
	ProtobufCMessage base;
	uint32_t which;
	uint32_t a, b;
};
static const ProtobufCMessageDescriptor two_desc;
static void two_init(ProtobufCMessage *m)
{
	static const struct two_of init = { PROTOBUF_C_MESSAGE_INIT(&two_desc), 0, 0, 0 };

	*(struct two_of *)(void *)m = init;
}
static const ProtobufCFieldDescriptor two_fields[] = {
	{ "a", 1, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_UINT32, offsetof(struct two_of, which),
	  offsetof(struct two_of, a), NULL, NULL, PROTOBUF_C_FIELD_FLAG_ONEOF, 0, NULL, NULL },
	{ "b", 2, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_UINT32, offsetof(struct two_of, which),
	  offsetof(struct two_of, b), NULL, NULL, PROTOBUF_C_FIELD_FLAG_ONEOF, 0, NULL, NULL },
};
static const unsigned two_sorted[] = { 0, 1 };
static const ProtobufCIntRange two_ranges[] = { { 1, 0 }, { 0, 2 } };
static const ProtobufCMessageDescriptor two_desc = {
	PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	"unit.TwoOf",
	"TwoOf",
	"TwoOf",
	"unit",
	sizeof(struct two_of),
	2,
	two_fields,
	two_sorted,
	1,
	two_ranges,
	(ProtobufCMessageInit)two_init,
	NULL,
	NULL,
	NULL,
};

TEST(form_oneof_takes_one_member)
{
	static const uint8_t one[] = { 0, 1, 7, 0, 0, 0 },
			     both[] = { 1, 5, 0, 0, 0, 1, 7, 0, 0, 0 };
	ProtobufCMessage *m = NULL;
	struct sp_err err;

	REQUIRE(sp_form_decode(&two_desc, one, sizeof(one), &m, &err) == 0);
	CHECK(((struct two_of *)(void *)m)->which == 2 && ((struct two_of *)(void *)m)->b == 7);
	free(m);
	CHECK(FAILS_AS(sp_form_decode(&two_desc, both, sizeof(both), &m, &err), err, SP_E_INVALID));
	CHECK(strstr(err.msg, "TwoOf.b: two members of one oneof") != NULL);
}

/* PolicyForm's JsonValue nests: a chain deeper than PID 1's 16 levels is refused. */
TEST(form_nested_deeper_than_pid1_takes)
{
	/* JsonValue: kind, boolean, integer, number, text "", keys 0, items n */
	static const uint8_t head[] = { 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t f[2048], *p = f;
	ProtobufCMessage *m = NULL;
	struct sp_err err;

	for (int levels = 14; levels <= 16; levels += 2) {
		p = f;
		memset(p, 0, 4), p += 4; /* format */
		*p++ = 1;		 /* json: present */
		for (int i = 0; i < levels; i++) {
			memcpy(p, head, sizeof(head)), p += sizeof(head);
			memcpy(p, &(uint32_t){ i + 1 < levels ? 1u : 0u }, 4), p += 4;
		}
		memset(p, 0, 4 + 5 + 8), p += 17; /* rego, error, length */
		if (levels == 14) {
			CHECK(sp_form_decode(&sealpod__policy_form__descriptor, f, (size_t)(p - f),
					     &m, &err) == 0);
			free(m);
		} else {
			CHECK(FAILS_AS(sp_form_decode(&sealpod__policy_form__descriptor, f,
						      (size_t)(p - f), &m, &err),
				       err, SP_E_EXHAUSTED));
			CHECK(strstr(err.msg, "nested deeper than PID 1 takes") != NULL);
		}
	}
}
