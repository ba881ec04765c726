/* Arbitrary payloads to every grpc.AgentService method, through both halves of the control port
 * (tests/unit/ttpair.h: the front-end's framing and decoding, the internal form, PID 1's ids,
 * policy and handler path), plus a decode -> pack -> decode -> pack round trip of the same bytes
 * that must be stable.
 *
 * Input: byte 0 picks the method (index into methods[] below, modulo its length) and the rest is
 * the request payload. With byte 0 = 0xff the rest is raw connection bytes instead (frames,
 * envelopes and all). Seeds: tests/fuzz/corpus/fuzz_agent/ (the golden requests). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "agent/service.h"
#include "agent/ttrpc.h"
#include "agent.pb-c.h"
#include "ttrpc.pb-c.h"
#include "../unit/ttpair.h"

static const struct {
	const char *name;
	const ProtobufCMessageDescriptor *desc;
} methods[] = {
	{ "CreateContainer", &grpc__create_container_request__descriptor },
	{ "StartContainer", &grpc__start_container_request__descriptor },
	{ "RemoveContainer", &grpc__remove_container_request__descriptor },
	{ "ExecProcess", &grpc__exec_process_request__descriptor },
	{ "SignalProcess", &grpc__signal_process_request__descriptor },
	{ "WaitProcess", &grpc__wait_process_request__descriptor },
	{ "ReadStdout", &grpc__read_stream_request__descriptor },
	{ "ReadStderr", &grpc__read_stream_request__descriptor },
	{ "WriteStdin", &grpc__write_stream_request__descriptor },
	{ "CloseStdin", &grpc__close_stdin_request__descriptor },
	{ "TtyWinResize", &grpc__tty_win_resize_request__descriptor },
	{ "StatsContainer", &grpc__stats_container_request__descriptor },
	{ "GetOOMEvent", &grpc__get_oomevent_request__descriptor },
	{ "GetDiagnosticData", &grpc__get_diagnostic_data_request__descriptor },
	{ "CreateSandbox", &grpc__create_sandbox_request__descriptor },
	{ "DestroySandbox", &grpc__destroy_sandbox_request__descriptor },
	{ "UpdateInterface", &grpc__update_interface_request__descriptor },
	{ "UpdateRoutes", &grpc__update_routes_request__descriptor },
	{ "AddARPNeighbors", &grpc__add_arpneighbors_request__descriptor },
	{ "OnlineCPUMem", &grpc__online_cpumem_request__descriptor },
	{ "CopyFile", &grpc__copy_file_request__descriptor },
	{ "UpdateEphemeralMounts", &grpc__update_ephemeral_mounts_request__descriptor },
	{ "GetGuestDetails", &grpc__guest_details_request__descriptor },
	{ "RemoveStaleVirtiofsShareMounts",
	  &grpc__remove_stale_virtiofs_share_mounts_request__descriptor },
	{ "SetPolicy", &grpc__set_policy_request__descriptor },
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const struct tt_service *const services[] = { &sp_health_service, &sp_agent_service };
static const struct tt_server server = { services, 2, NULL };

static void drain(struct ttpair *c)
{
	size_t len;

	ttpair_output(c, &len);
	ttpair_consume(c, len);
}

/* protobuf-c refuses field number 0 in a one-byte tag but keeps it as an unknown field when the
 * tag is an overlong varint (0x81 0x00 ...); packed again it becomes the one-byte form, which it
 * then refuses. Harmless for the agent (it never re-sends host bytes), so the round trip below
 * forgives exactly that. */
static bool has_field0(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned i = 0; i < m->n_unknown_fields; i++)
		if (m->unknown_fields[i].tag == 0)
			return true;
	for (unsigned f = 0; f < d->n_fields; f++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[f];
		const char *member = (const char *)m + fd->offset;

		if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + fd->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)member;

			for (size_t k = 0; k < n; k++)
				if (has_field0(v[k]))
					return true;
		} else {
			const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;

			if (sub && has_field0(sub))
				return true;
		}
	}
	return false;
}

/* A decodable payload must survive pack -> unpack -> pack unchanged. */
static void round_trip(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, n, p), *m2;
	uint8_t *a, *b;
	size_t alen, blen;

	if (!m)
		return;
	alen = protobuf_c_message_get_packed_size(m);
	a = malloc(alen + 1);
	if (protobuf_c_message_pack(m, a) != alen)
		abort();
	m2 = protobuf_c_message_unpack(desc, NULL, alen, a);
	if (!m2) {
		if (!has_field0(m))
			abort(); /* we wrote something we cannot read back */
		free(a);
		protobuf_c_message_free_unpacked(m, NULL);
		return;
	}
	blen = protobuf_c_message_get_packed_size(m2);
	b = malloc(blen + 1);
	protobuf_c_message_pack(m2, b);
	if (alen != blen || memcmp(a, b, alen) != 0)
		abort();
	free(a);
	free(b);
	protobuf_c_message_free_unpacked(m2, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* The handlers act for real: UpdateRoutes replaces routes, UpdateInterface renames links. Run
 * as root on a development machine, the golden seeds would rewrite the host's own network, so
 * the fuzzer moves into a network namespace of its own first and refuses to run otherwise.
 * (Without root the kernel refuses those changes anyway.) File-writing handlers refuse to run
 * off PID 1 unless SEALPOD_HOST_ROOT names a scratch root, which is left unset here. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsetenv("SEALPOD_HOST_ROOT");
	if (sp_agent_service_init(NULL) < 0)
		abort(); /* the modules' method tables do not make a service */
	if (unshare(CLONE_NEWNET) < 0 && geteuid() == 0) {
		fprintf(stderr,
			"fuzz_agent: unshare(CLONE_NEWNET): %s; refusing to fuzz the host's "
			"network\n",
			strerror(errno));
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ttpair c;
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	uint8_t *body, *frame = NULL;
	size_t blen, flen = 0, fcap = 0, i;

	if (size < 1)
		return 0;
	ttpair_init(&c, &server);
	if (data[0] == 0xff) {
		/* raw connection bytes, in two chunks to cross a header or body boundary */
		size_t half = (size - 1) / 2;

		ttpair_feed(&c, data + 1, half);
		drain(&c);
		ttpair_feed(&c, data + 1 + half, size - 1 - half);
		drain(&c);
		ttpair_destroy(&c);
		return 0;
	}
	i = data[0] % NMETHODS;
	round_trip(methods[i].desc, data + 1, size - 1);

	req.service = "grpc.AgentService";
	req.method = (char *)methods[i].name;
	req.payload.data = (uint8_t *)data + 1;
	req.payload.len = size - 1;
	blen = ttrpc__request__get_packed_size(&req);
	body = malloc(blen + 1);
	ttrpc__request__pack(&req, body);
	if (tt_frame_append(&frame, &flen, &fcap, 1, TT_TYPE_REQUEST, 0, body, blen) == 0)
		ttpair_feed(&c, frame, flen);
	drain(&c);
	free(frame);
	free(body);
	ttpair_destroy(&c);
	return 0;
}
