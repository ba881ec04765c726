/* Attestation and what initdata configures (DESIGN.md, "Configuration and initdata" and
 * "Attestation"). init/attest/ defines these; the declarations are weak so a caller built
 * without the module can tell (the function's address is NULL).
 *
 * The attestation gate that holds CreateContainer until the guest has attested is declared in
 * runtime/prepare.h (sp_attest_gate). */
#ifndef SEALPOD_ATTEST_ATTEST_H
#define SEALPOD_ATTEST_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* Image settings from verified initdata (cdh.toml), or the defaults when there is none. */
struct sp_image_settings {
	/* kbs:///<repo>/<type>/<tag> of a containers-auth.json with registry credentials, or NULL.
	 * (cdh.toml [image] authenticated_registry_credentials_uri) */
	const char *auth_uri;
	/* Registries (host[:port]) reachable over plain HTTP; honoured only when the test overlay is
	 * present (DESIGN.md, Trust rules). */
	const char *const *insecure_registries;
	size_t n_insecure_registries;
	/* Extra CA certificates (PEM) trusted for registries, besides the built-in bundle. */
	const char *extra_ca_pem;
	/* Parallel layer downloads per image (cdh.toml [image] max_concurrent_layer_downloads_per_image). */
	unsigned max_parallel_layers;
};
const struct sp_image_settings *sp_attest_image_settings(void) __attribute__((weak));

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
 * PID 1 and that container see, read-only, owned by the container's user (DESIGN.md, Trust
 * rules: never bound to a host-chosen name). Nothing the host sends names a secret. */
#define SP_SECRETS_MAX	   32
#define SP_SECRET_NAME_MAX 64
struct sp_secret_decl {
	char name[SP_SECRET_NAME_MAX + 1]; /* an id ([A-Za-z0-9][A-Za-z0-9_.-]*) */
	const char *resource;		   /* kbs:///<repo>/<type>/<tag> */
	const char *image;		   /* sha256:<64 lowercase hex> */
	const char *path; /* absolute, normalised, not "/", not in /proc /sys /dev */
	unsigned mode;	  /* permission bits, 0400 unless set */
};
/* The declarations (*out: an array of the returned count, valid for the whole boot). */
size_t sp_attest_secrets(const struct sp_secret_decl **out) __attribute__((weak));

/* Fetches a KBS resource named by a kbs:///<repo>/<type>/<tag> URI, attesting first when the
 * guest has not (or its token expired). Asynchronous: returns 0 and later runs cb once from PID
 * 1's loop; data (len bytes, the plaintext secret) is valid only during cb and wiped after it.
 * ret < 0: a negative tt_code, err names the stage (attest.*) and a redacted reason. Returns
 * negative at once (with err) when the request cannot start. */
typedef void (*sp_resource_fn)(void *arg, int ret, const uint8_t *data, size_t len,
			       const struct sp_err *err);
int sp_attest_resource_get(const char *uri, sp_resource_fn cb, void *arg, struct sp_err *err)
	__attribute__((weak));
/* Forgets every pending callback registered with arg (its requester went away). */
void sp_attest_resource_cancel(void *arg) __attribute__((weak));

/* True once the guest has attested successfully in this boot. */
bool sp_attest_done(void) __attribute__((weak));
/* True while attestation is configured and has neither succeeded nor failed: CreateContainer's
 * attestation gate (runtime/prepare.c) parks the container until it ends, and refuses it if it
 * fails. */
bool sp_attest_pending(void) __attribute__((weak));

/* --- boot steps (init/boot/main.c) ------------------------------------------------------------ */
struct sp_config;
struct sp_loop;
struct sp_policy;
/* Step 2, after the command line: reads the initdata disk, verifies it against the launch binding
 * (TDX MRCONFIGID, SNP HOSTDATA, or extends vTPM PCR8), parses aa.toml/cdh.toml and the policy
 * (*policy: initdata's, or NULL for the built-in default), and decides whether and where the
 * guest attests. A mismatch or malformed initdata is fatal (the guest powers off). */
int sp_attest_boot_initdata(const struct sp_config *cfg, bool test_overlay,
			    struct sp_policy **policy);
/* Step 4, after the control port opened: standalone (sealpod.ip on the command line) configures
 * eth0 and starts attestation at once; under Kata the first CreateContainer starts it. */
void sp_attest_boot_start(struct sp_loop *loop, const struct sp_config *cfg);

#endif
