/* unit_agent_call (agent_call.h): one AgentService call through both halves of the control port. */
#include "agent_call.h"

#include <stdint.h>
#include <stdlib.h>

#include "agent/service.h"
#include "agent/ttrpc.h"
#include "ttpair.h"

static const struct tt_service *const gate_services[] = { &sp_health_service, &sp_agent_service };
static const struct tt_server gate_server = { gate_services, 2, NULL };

Ttrpc__Response *unit_agent_call(const char *method, const ProtobufCMessage *msg)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	uint8_t *frame = NULL, *body, *payload = NULL;
	size_t flen = 0, fcap = 0, blen, olen,
	       plen = msg ? protobuf_c_message_get_packed_size(msg) : 0;
	const uint8_t *out;
	Ttrpc__Response *resp = NULL;
	struct ttpair c;

	payload = malloc(plen ? plen : 1);
	if (msg)
		protobuf_c_message_pack(msg, payload);
	req.service = "grpc.AgentService";
	req.method = (char *)method;
	req.payload.data = payload;
	req.payload.len = plen;
	blen = ttrpc__request__get_packed_size(&req);
	body = malloc(blen ? blen : 1);
	ttrpc__request__pack(&req, body);
	tt_frame_append(&frame, &flen, &fcap, 1, TT_TYPE_REQUEST, 0, body, blen);
	if (sp_agent_service_init(NULL) < 0)
		abort();
	ttpair_init(&c, &gate_server);
	ttpair_feed(&c, frame, flen);
	out = ttpair_output(&c, &olen);
	if (olen >= TT_HDR_LEN) {
		uint32_t n = (uint32_t)out[0] << 24 | out[1] << 16 | out[2] << 8 | out[3];

		if (olen >= TT_HDR_LEN + n)
			resp = ttrpc__response__unpack(NULL, n, out + TT_HDR_LEN);
	}
	ttpair_destroy(&c);
	free(frame);
	free(body);
	free(payload);
	return resp;
}
