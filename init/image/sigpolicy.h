/* Image signature policy (containers-policy.json(5)) and cosign key-based signatures, parser
 * side: pure functions over untrusted bytes (the policy comes from initdata or a KBS resource,
 * signatures and payloads from the registry), each with a fuzz target (tests/fuzz/
 * fuzz_sigpolicy.c, fuzz_cosign.c).
 *
 *   sigpolicy.c  the policy: default and docker per-scope requirements (the most specific scope
 *                wins), reject, insecureAcceptAnything, sigstoreSigned with keyData (ECDSA P-256
 *                or Ed25519) and its signedIdentity; everything else refused by name
 *   cosign.c     cosign's registry format: the sha256-<hex>.sig tag, its manifest's layers and
 *                their signature annotation, the simple-signing payload, OpenSSL verification */
#ifndef SEALPOD_IMAGE_SIGPOLICY_H
#define SEALPOD_IMAGE_SIGPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/manifest.h"
#include "lib/err.h"

#define SP_SIGPOLICY_MAX      ((size_t)64 << 10) /* bytes of a policy */
#define SP_SIGPOLICY_SCOPES   64
#define SP_SIGPOLICY_REQS     8 /* requirements of one scope (all must hold) */
#define SP_SIGPOLICY_KEY_MAX  4096
#define SP_COSIGN_MAX_SIGS    16 /* signature layers looked at per image */
#define SP_SIGPOLICY_KEYS     8	 /* distinct kbs:/// keyPaths of one policy */
#define SP_SIGKEY_URI_MAX     256
#define SP_COSIGN_PAYLOAD_MAX ((size_t)64 << 10)

enum sp_sigreq_type { SP_SIGREQ_REJECT, SP_SIGREQ_ACCEPT, SP_SIGREQ_SIGSTORE };

/* signedIdentity: how the signature's docker-reference must relate to the pulled reference. */
enum sp_sigid_type {
	SP_SIGID_MATCH_REPO_DIGEST_OR_EXACT, /* the default */
	SP_SIGID_MATCH_EXACT,
	SP_SIGID_MATCH_REPOSITORY,
	SP_SIGID_EXACT_REFERENCE,
	SP_SIGID_EXACT_REPOSITORY,
};

struct sp_sigreq {
	enum sp_sigreq_type type;
	char key_pem[SP_SIGPOLICY_KEY_MAX]; /* sigstoreSigned: the public key (keyData, decoded) */
	enum sp_sigid_type id;
	char id_ref[300]; /* exactReference's dockerReference, exactRepository's dockerRepository */
};

struct sp_sigreqs {
	char scope[300]; /* "" for a transport's default, "default" for the policy's */
	struct sp_sigreq req[SP_SIGPOLICY_REQS];
	size_t n;
};

/* A key a policy names by keyPath kbs:///..., as fetched from the KBS (PEM). */
struct sp_sigkey {
	char uri[SP_SIGKEY_URI_MAX];
	char pem[SP_SIGPOLICY_KEY_MAX];
};

struct sp_sigpolicy {
	struct sp_sigreqs def;
	struct sp_sigreqs scopes[SP_SIGPOLICY_SCOPES]; /* transports.docker, "" included */
	size_t nscopes;
	/* Every kbs:/// keyPath the policy names (fetched after attestation by PID 1). */
	char key_uris[SP_SIGPOLICY_KEYS][SP_SIGKEY_URI_MAX];
	size_t nkey_uris;
};

/* Parses a containers-policy.json strictly: unknown members, requirement types (signedBy,
 * keyless sigstoreSigned, keyPath, remapIdentity, ...) and transports other than docker are
 * refused naming them. p is caller memory (large: heap it). */
int sp_sigpolicy_parse(const char *json, size_t len, struct sp_sigpolicy *p, struct sp_err *err);
/* The same with the keys keyPath names (keys may be NULL when nkeys is 0): a keyPath missing
 * from keys is refused. (
 * sp_sigpolicy_parse instead lists the keyPaths in key_uris and leaves those keys empty: no
 * signature verifies with an empty key.) */
int sp_sigpolicy_parse_keys(const char *json, size_t len, const struct sp_sigkey *keys,
			    size_t nkeys, struct sp_sigpolicy *p, struct sp_err *err);

/* The requirements for ref: the most specific docker scope (name:tag or name@digest, the
 * repository, each enclosing namespace, the host, *.domain wildcards, then ""), else the
 * default. */
const struct sp_sigreqs *sp_sigpolicy_select(const struct sp_sigpolicy *p,
					     const struct sp_image_ref *ref);

/* Does a signature's docker-reference (signed) satisfy requirement rq for the pulled ref? */
bool sp_sigpolicy_identity_ok(const struct sp_sigreq *rq, const struct sp_image_ref *ref,
			      const char *signed_ref);

/* --- cosign (cosign.c) ------------------------------------------------------------------- */
struct sp_cosign_layer {
	char digest[SP_DIGEST_LEN + 1];
	uint64_t size;
	char sig_b64[512]; /* the dev.cosignproject.cosign/signature annotation */
};

/* The tag cosign stores the signatures of manifest digest under: sha256-<hex>.sig. */
void sp_cosign_sig_tag(const char *digest, char out[80]);
/* The signature manifest (OCI image manifest) at that tag: its simple-signing layers. */
int sp_cosign_sig_manifest(const char *body, size_t len, struct sp_cosign_layer *out, size_t max,
			   size_t *n, struct sp_err *err);
/* sig_b64 over payload with key_pem (ECDSA P-256 with SHA-256, DER; or Ed25519). */
int sp_cosign_verify(const char *key_pem, const uint8_t *payload, size_t len, const char *sig_b64,
		     struct sp_err *err);
/* The payload's critical section: its type, docker-reference and docker-manifest-digest. */
int sp_cosign_payload(const uint8_t *payload, size_t len, char ref[300],
		      char digest[SP_DIGEST_LEN + 1], struct sp_err *err);

/* One signature as fetched: its payload bytes (digest-checked against the layer) and
 * annotation. */
struct sp_cosign_sig {
	const uint8_t *payload;
	size_t len;
	const char *sig_b64;
};

/* Judges reqs for ref resolved to digest (what the guest computed) with the signatures found
 * under its .sig tag: 0, or -1 with err naming the requirement that failed
 * ("policy.signature: ..."). */
int sp_sigpolicy_judge(const struct sp_sigreqs *reqs, const struct sp_image_ref *ref,
		       const char *digest, const struct sp_cosign_sig *sigs, size_t nsigs,
		       struct sp_err *err);

/* --- in a pull (sigpolicy_pull.c) ---------------------------------------------------------- */
struct sp_registry;
/* Parses policy, selects ref's requirements and, when one needs signatures, fetches those under
 * the .sig tag of digest (the manifest digest the guest computed) from r: 0 when every
 * requirement holds, else -1 with err at stage policy.deny ("policy.signature: ..."). */
int sp_sigpolicy_enforce(struct sp_registry *r, const char *policy, size_t len,
			 const struct sp_sigkey *keys, size_t nkeys, const struct sp_image_ref *ref,
			 const char *digest, struct sp_err *err);

#endif
