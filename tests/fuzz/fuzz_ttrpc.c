/* Arbitrary bytes into one ttRPC connection, in arbitrary chunkings: the first two input bytes
 * seed the chunk sizes. The connection is both halves of the control port joined in one process
 * (tests/unit/ttpair.h: the front-end's framing and decoding, the internal form, PID 1's calls).
 * Parked calls are answered or left to be cancelled at teardown. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ttrpc.h"
#include "health.pb-c.h"
#include "../unit/ttpair.h"

static struct tt_call *parked[16];
static int nparked;

static void cancel(struct tt_call *call)
{
	for (int i = 0; i < nparked; i++)
		if (parked[i] == call)
			parked[i] = NULL;
}

/* An empty request parks; one with a field set is answered at once. */
static int park(struct tt_call *call, const ProtobufCMessage *req)
{
	const Grpc__CheckRequest *r = (const Grpc__CheckRequest *)(const void *)req;

	if (nparked >= 16 || r->service[0])
		return tt_call_error(call, TT_NOT_FOUND, "no");
	parked[nparked++] = call;
	tt_call_park(call, cancel, NULL);
	return TT_PARKED;
}

static const struct tt_method methods[] = {
	{ "Park", &grpc__check_request__descriptor, park, NULL, NULL },
};
static const struct tt_service svc = { "fuzz.Svc", methods, 1 };
static const struct tt_service *const services[] = { &sp_health_service, &svc };
static const struct tt_server server = { services, 2, NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ttpair c;
	uint32_t rng = 1;

	if (size >= 2) {
		rng = (uint32_t)data[0] << 8 | data[1] | 1;
		data += 2;
		size -= 2;
	}
	nparked = 0;
	ttpair_init(&c, &server);
	while (size > 0) {
		size_t n;

		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		n = (rng & 3) == 0 ? size : 1 + rng % 64;
		if (n > size)
			n = size;
		ttpair_feed(&c, data, n);
		data += n;
		size -= n;
		/* Sometimes answer the oldest parked call, sometimes drain the output. */
		if ((rng & 0x30) == 0x10) {
			for (int i = 0; i < nparked; i++) {
				if (parked[i]) {
					struct tt_call *call = parked[i];

					parked[i] = NULL;
					tt_call_reply(call, NULL);
					break;
				}
			}
		}
		if (rng & 0x40) {
			size_t len;

			ttpair_output(&c, &len);
			ttpair_consume(&c, (rng >> 8) % 2 ? len : len / 2);
		}
	}
	ttpair_destroy(&c);
	return 0;
}
