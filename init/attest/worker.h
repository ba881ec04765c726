/* The protocol between PID 1 (attest.c) and the attestation worker (worker.c): frames over a
 * stream socket, a header then len bytes. */
#ifndef SEALPOD_ATTEST_WORKER_H
#define SEALPOD_ATTEST_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "attest/attest_int.h"

#define MSG_ATTEST   1u
#define MSG_RESOURCE 2u
#define MSG_GET	     3u
#define MSG_GO	     4u /* PID 1 to the worker: the network is there, attest now */
#define MSG_MAX	     ((size_t)2 << 20)

struct frame {
	uint32_t type, id;
	int32_t code;
	uint32_t len;
};

int sp_attest_send_frame(int fd, uint32_t type, uint32_t id, int32_t code, const void *p, size_t n);
/* The worker's life after fork: fd is its end of the socket, conf what the boot step settled. */
__attribute__((noreturn)) void sp_attest_worker_main(int fd, const struct sp_attest_conf *conf);

#endif
