/* PID 1's validator of the internal form (init/agent/form.c): any bytes the front-end could send
 * as a request, checked against PID 1's own bounds before anything is allocated.
 *
 * Input: byte 0 picks the method (tests/fuzz/methods.h) whose request form the rest is. Checked:
 * a form PID 1 accepts rebuilds a message that packs (every pointer good) and encodes back to
 * exactly the same bytes (one spelling per message: PID 1 took nothing it did not check); for
 * SetPolicy, PID 1 builds the policy from the form it took. Seeds:
 * tests/fuzz/corpus/fuzz_form/ (the forms of the golden requests and the kata-requests fixtures,
 * made by tests/fuzz/make-seeds's own encoder). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/form.h"
#include "agent/service.h"
#include "agent/ttrpc.h"
#include "methods.h"
#include "policy/policy.h"
#include "policyform.pb-c.h"

static const struct tt_server *server;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (sp_agent_service_init(NULL) < 0)
		abort();
	server = sp_agent_server();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct tt_method *m;
	ProtobufCMessage *msg;
	struct sp_err err;
	size_t again;
	uint8_t *buf;

	if (size < 1)
		return 0;
	m = fuzz_method(server, data[0], NULL);
	if (!m)
		abort();
	if (sp_form_decode(tt_method_form(m), data + 1, size - 1, &msg, &err) < 0)
		return 0;
	buf = malloc(protobuf_c_message_get_packed_size(msg) + 1);
	protobuf_c_message_pack(msg, buf);
	free(buf);
	if (msg->descriptor == &sealpod__policy_form__descriptor) {
		/* SetPolicy: PID 1 builds a policy from whatever form it took. */
		struct sp_policy *p = NULL;

		if (sp_policy_form_load(msg, &p, &err) == 0)
			sp_policy_free(p);
	}
	if (sp_form_measure(msg, SP_FORM_MAX_LEN, NULL, NULL, &again, &err) < 0 ||
	    again != size - 1)
		abort();
	buf = malloc(again + 1);
	sp_form_write(msg, buf);
	if (memcmp(buf, data + 1, again) != 0)
		abort();
	free(buf);
	free(msg);
	return 0;
}
