/* The protocol between PID 1 (attest.c) and the attestation worker (worker.c), in lib/worker.h's
 * frames. PID 1 to the worker: its settings right after the spawn (A_INITDATA and A_CA when
 * there are, then A_CONF), A_GO once the network is there (with the event log the evidence
 * carries), then an A_GET per resource, each after an A_EVLOG when the runtime event log grew
 * (a re-attestation must send the log as the registers now stand). The
 * worker to PID 1: A_ATTESTED, or an error frame with ref 0 (its stage one of attest.*); then for
 * each A_GET an A_RESOURCE (the request's id, then the plaintext) or an error frame whose ref is
 * the request's id. */
#ifndef SEALPOD_ATTEST_WORKER_H
#define SEALPOD_ATTEST_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest_int.h"
#include "lib/worker.h"

enum { A_CONF = 1, A_INITDATA, A_CA, A_GO, A_GET, A_EVLOG }; /* to the worker */
enum { A_ATTESTED = 1, A_RESOURCE };			     /* from it */

#define SP_ATTEST_RESOURCE_MAX ((size_t)2 << 20)
#define SP_ATTEST_CA_MAX       ((size_t)1 << 20)

struct sp_attest_wire_conf {
	char kbs_url[256];
	uint32_t ev;	   /* enum sp_evidence_kind */
	uint32_t key_kind; /* enum sp_tee_key_kind */
	uint8_t test_overlay, have_initdata, have_ca, pad;
};

struct sp_attest_wire_get {
	uint32_t id;
	char uri[512];
};

extern const struct sp_worker_def sp_attest_worker;

#endif
