/* The front-end's decoder (init/front/): the host's bytes into the internal form PID 1 gets.
 *
 * Input: byte 0 picks the method (tests/fuzz/methods.h), the rest is its request payload,
 * wrapped here in a Request envelope and a frame; with byte 0 = 0xff the rest is raw connection
 * bytes (frames, envelopes and all), fed in two chunks. Checked, for every request the front-end
 * hands over: PID 1's validator accepts its form, and the message PID 1 rebuilds from it packs
 * (every pointer good) and encodes back to exactly the same form: nothing lost, nothing added.
 * Seeds: tests/fuzz/corpus/fuzz_front/ (the golden requests, the kata-requests fixtures). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/form.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "front/conn.h"
#include "front/request.h"
#include "methods.h"
#include "ttrpc.pb-c.h"

static const struct tt_server *server;
static uint8_t *form;
static size_t form_cap, form_len;
static uint32_t form_method;

/* What PID 1 would do with a form, minus the handler: it must take it, and give it back. */
static void check_form(uint32_t method, const uint8_t *f, size_t len)
{
	const struct tt_method *m = tt_server_method(server, method);
	ProtobufCMessage *msg;
	struct sp_err err;
	size_t again;
	uint8_t *buf;

	if (!m || sp_form_decode(tt_method_form(m), f, len, &msg, &err) < 0)
		abort(); /* the front-end made a form PID 1 refuses */
	buf = malloc(protobuf_c_message_get_packed_size(msg) + 1);
	protobuf_c_message_pack(msg, buf);
	free(buf);
	if (sp_form_measure(msg, SP_FORM_MAX_LEN, NULL, NULL, &again, &err) < 0 || again != len)
		abort();
	buf = malloc(again + 1);
	sp_form_write(msg, buf);
	if (memcmp(buf, f, len) != 0)
		abort();
	free(buf);
	free(msg);
}

static uint8_t *begin(struct fe_conn *c, uint32_t stream, uint32_t method, int64_t timeout,
		      size_t size)
{
	if (size + 1 > form_cap) {
		free(form);
		form_cap = size + 1;
		form = malloc(form_cap);
	}
	form_len = size;
	form_method = method;
	return form;
}

static void end(struct fe_conn *c)
{
	check_form(form_method, form, form_len);
}

static const struct fe_sink sink = { begin, end };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sp_agent_service_init(NULL) < 0)
		abort();
	server = sp_agent_server();
	return 0;
}

static void feed(const uint8_t *data, size_t size, size_t split)
{
	struct fe_totals totals = { 0 };
	struct fe_conn c;

	fe_conn_init(&c, server, &sink, &totals, 1);
	fe_conn_feed(&c, data, split);
	fe_conn_feed(&c, data + split, size - split);
	fe_conn_destroy(&c);
	if (totals.in || totals.out)
		abort(); /* the totals must come back to zero with the connection */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_method *fm;
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	uint8_t *body, *frame = NULL;
	size_t blen, flen = 0, fcap = 0;

	if (size < 1)
		return 0;
	if (data[0] == 0xff) {
		feed(data + 1, size - 1, (size - 1) / 2);
		return 0;
	}
	fm = &fuzz_methods[data[0] % FUZZ_NMETHODS];
	req.service = (char *)fm->service;
	req.method = (char *)fm->name;
	req.payload.data = (uint8_t *)data + 1;
	req.payload.len = size - 1;
	blen = ttrpc__request__get_packed_size(&req);
	body = malloc(blen + 1);
	ttrpc__request__pack(&req, body);
	if (tt_frame_append(&frame, &flen, &fcap, 1, TT_TYPE_REQUEST, 0, body, blen) == 0)
		feed(frame, flen, flen);
	free(frame);
	free(body);
	return 0;
}
