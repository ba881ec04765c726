/* The KBS client that runs in the attestation worker (client.c). */
#ifndef SEALPOD_ATTEST_CLIENT_H
#define SEALPOD_ATTEST_CLIENT_H

#include <stdbool.h>

#include "attest/attest_int.h"

struct sp_kbs_client {
	/* set by the caller */
	char base[256];	    /* scheme://host[:port], no trailing slash */
	const char *ca_pem; /* the only CA trusted for https (from initdata) */
	bool allow_http;    /* test overlay only */
	enum sp_evidence_kind ev;
	const char *initdata; /* the TOML sent as init-data, or NULL */
	const uint8_t *evlog; /* the event log for the evidence (sp_evidence_collect) */
	size_t evlog_len;
	struct sp_tee_key *key;
	const char *jwk;
	long long deadline_ms; /* CLOCK_MONOTONIC */
	unsigned total_s;
	/* state */
	void *curl, *share;
	char *token;
	const char *stage; /* the stage code of the last failure */
	char detail[160];  /* the KBS's words in its last refusal: never logged, never sent */
	bool retryable;	   /* it was the network or a 5xx: trying again may help */
};

int sp_kbs_client_init(struct sp_kbs_client *c, struct sp_err *err);
int sp_kbs_client_attest(struct sp_kbs_client *c, struct sp_err *err);
/* The plaintext of resource uri (malloc'd; the caller wipes and frees it). */
int sp_kbs_client_resource(struct sp_kbs_client *c, const char *uri, uint8_t **data, size_t *len,
			   struct sp_err *err);
void sp_kbs_client_free(struct sp_kbs_client *c);

#endif
