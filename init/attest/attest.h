/* Attestation and what initdata configures. init/attest/ defines these; main (init/boot/) runs
 * the two boot steps, the CreateContainer preparation (runtime/prepare.c) waits for the
 * attestation and fetches secrets through the asynchronous primitives below, and the policy gate
 * (agent/gate.c) reads sp_attest_state(). Nothing here knows who calls it. */
#ifndef SEALPOD_ATTEST_ATTEST_H
#define SEALPOD_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/err.h"
#include "lib/loop.h"

/* Image settings from verified initdata (cdh.toml), or the defaults when there is none. */
struct sp_image_settings {
	/* kbs:///<repo>/<type>/<tag> of a containers-auth.json with registry credentials, or NULL.
	 * (cdh.toml [image] authenticated_registry_credentials_uri) */
	const char *auth_uri;
	/* Registries (host[:port]) reachable over plain HTTP; honoured only when the test overlay is
	 * present (README, Trust rules). */
	const char *const *insecure_registries;
	size_t n_insecure_registries;
	/* Extra CA certificates (PEM) trusted for registries, besides the built-in bundle. */
	const char *extra_ca_pem;
	/* Parallel layer downloads per image (cdh.toml [image] max_concurrent_layer_downloads_per_image). */
	unsigned max_parallel_layers;
	/* kbs:///... resources that decrypt image layers (cdh.toml [sealpod] decryption_keys):
	 * fetched after attestation for a container that pulls, handed to its pull. */
	const char *const *decryption_keys;
	size_t n_decryption_keys;
	/* containers-policy.json every pull is judged by (cdh.toml [image] image_security_policy),
	 * or NULL. */
	const char *sig_policy;
	/* kbs:///... of that policy (cdh.toml [image] image_security_policy_uri), fetched after
	 * attestation for each pull; NULL when none. At most one of the two is set. */
	const char *sig_policy_uri;
};

/* Secrets for containers, from verified initdata (cdh.toml, one table per secret):
 *
 *   [sealpod.secrets.<name>]
 *   resource = "kbs:///<repo>/<type>/<tag>"   the KBS resource that holds the bytes
 *   image = "sha256:<64 hex>"                 the digest the container's image reference must
 *                                             resolve to in the guest's own pull
 *   path = "/run/secrets/<file>"              where the container sees it (absolute)
 *   mode = "0400"                             optional, octal, at most 0444
 *
 * A container receives a secret only when its rootfs was pulled in the guest and the pull
 * resolved to that digest, after its spec passed the policy; the file lives on a tmpfs that only
 * PID 1 and that container see, read-only, owned by the container's user (never bound to a
 * host-chosen name). Nothing the host sends names a secret. */
#define SP_SECRETS_MAX	   32
#define SP_SECRET_NAME_MAX 64
struct sp_secret_decl {
	char name[SP_SECRET_NAME_MAX + 1]; /* an id ([A-Za-z0-9][A-Za-z0-9_.-]*) */
	const char *resource;		   /* kbs:///<repo>/<type>/<tag> */
	const char *image;		   /* sha256:<64 lowercase hex> */
	const char *path; /* absolute, normalised, not "/", not in /proc /sys /dev */
	unsigned mode;	  /* permission bits, 0400 unless set */
};

/* --- what the attestation boot step settles (sp_attest_boot_initdata) --------------------------- */
struct sp_policy;
struct sp_initdata_conf {
	bool present;			       /* a verified initdata disk */
	struct sp_policy *policy;	       /* its policy (the caller owns it), or NULL */
	const struct sp_image_settings *image; /* never NULL: initdata's, else the defaults */
	const struct sp_secret_decl *secrets;  /* valid for the whole boot */
	size_t nsecrets;
};

/* Step 2, after the command line: reads the initdata disk, verifies it against the launch binding
 * (TDX MRCONFIGID, SNP HOSTDATA, or extends vTPM PCR8), parses aa.toml/cdh.toml and the policy,
 * and decides whether and where the guest attests. A mismatch or malformed initdata is fatal
 * (the guest powers off). */
void sp_attest_boot_initdata(const struct sp_config *cfg, bool test_overlay,
			     struct sp_initdata_conf *out);
/* Step 4, after the control port opened: the attestation runs on loop. Standalone (sealpod.ip on
 * the command line) configures eth0 and starts attestation at once; under Kata the first
 * CreateContainer starts it (sp_attest_wait). */
void sp_attest_boot_start(struct sp_loop *loop, const struct sp_config *cfg);
/* The attestation worker's table entry (worker.c), for /init's list of workers. */
struct sp_worker_def;
extern const struct sp_worker_def sp_attest_worker;

/* --- the attestation ---------------------------------------------------------------------------- */
enum sp_attest_state {
	SP_ATTESTATION_OFF = 0, /* not configured: nothing will attest */
	SP_ATTESTATION_PENDING, /* configured, not run yet or under way */
	SP_ATTESTATION_DONE,	/* succeeded in this boot */
	SP_ATTESTATION_FAILED,
};
enum sp_attest_state sp_attest_state(void);

/* Waits for the attestation, starting it when it has not run: 0 when the guest attested already
 * or attestation is off, -1 with err (the stage and a reason without the KBS's words) when it
 * failed, SP_PENDING and then done (lib/err.h). */
struct sp_attest_waiter;
int sp_attest_wait(sp_done_fn done, void *arg, struct sp_attest_waiter **w, struct sp_err *err);
void sp_attest_wait_cancel(struct sp_attest_waiter *w);

/* Fetches a KBS resource named by a kbs:///<repo>/<type>/<tag> URI, attesting first when the
 * guest has not (or its token expired). Asynchronous: returns 0 with *id and later runs cb once
 * from PID 1's loop, unless sp_attest_resource_cancel(*id) comes first; data (len bytes, the
 * plaintext secret) is valid only during cb and wiped after it. ret < 0: err names the stage
 * (attest.*) and a reason without the KBS's words. Returns -1 at once (with err) when the
 * request cannot start. */
typedef void (*sp_resource_fn)(void *arg, int ret, const uint8_t *data, size_t len,
			       const struct sp_err *err);
int sp_attest_resource_get(const char *uri, sp_resource_fn cb, void *arg, uint32_t *id,
			   struct sp_err *err);
/* The requester went away: cb will not run (the reply is still read and wiped). */
void sp_attest_resource_cancel(uint32_t id);
/* Records a pulled image in the runtime event log (the Confidential Containers PullImage event:
 * reference and manifest digest), extending RTMR3 or PCR23. 0 without doing anything on a
 * machine with no runtime register (the boot log says so once). */
int sp_attest_measure_image(const char *ref, const char *digest, struct sp_err *err);
/* The same for a policy the host sets (SetPolicy): the event "sealpod SetPolicy
 * {"form_sha256":".."}", the sha256 of the policy's form (a PolicyForm, packed: protobuf-c packs
 * fields in number order, so the same form gives the same bytes). */
struct ProtobufCMessage;
int sp_attest_measure_policy(const struct ProtobufCMessage *form, struct sp_err *err);

#endif
