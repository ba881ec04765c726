/* The API policy: every request on the control port passes sp_policy_check() before its handler
 * runs. A policy comes from the built-in default (DESIGN.md, "The control port"), from our JSON
 * document, or from the Rego subset of only `package agent_policy` and `default <Name> :=
 * true|false` lines; see init/policy/POLICY.md for the formats.
 *
 * Requests are named by Kata's request message name ("ExecProcessRequest"); ReadStdout and
 * ReadStderr are both "ReadStreamRequest" (sp_policy_request_name() maps a method to its name).
 * The health service ("CheckRequest", used by Check and Version) is never gated.
 *
 * The module parses no protobuf: the caller extracts the few values the constraints look at into
 * a struct sp_policy_input. State that changes while the guest runs (attested, first container
 * created) is passed in explicitly as a struct sp_policy_state owned by the caller. */
#ifndef SEALPOD_POLICY_POLICY_H
#define SEALPOD_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SP_POLICY_MAX_DOC      ((size_t)256 * 1024) /* bytes of a policy document */
#define SP_POLICY_MAX_IMAGES   256		    /* allowed_images entries */
#define SP_POLICY_MAX_EXEC     256		    /* allowed_exec argv lists */
#define SP_POLICY_MAX_ARGS     256		    /* strings in one argv or env list */
#define SP_POLICY_MAX_STR      4096		    /* bytes of one string in a document */
#define SP_POLICY_MAX_WARNINGS 8
#define SP_POLICY_WHY_MAX      256 /* a why buffer this big never truncates a reason */

struct sp_policy; /* opaque; immutable once loaded */

enum sp_policy_source { SP_POLICY_BUILTIN, SP_POLICY_JSON, SP_POLICY_REGO };

enum sp_verdict {
	SP_POLICY_DENY = 0,
	SP_POLICY_ALLOW = 1,
	/* CreateContainerRequest only: allowed so far, but an allowed_images entry pins a digest
	 * and in->image_digest was not given. Go on, and call sp_policy_check() again with the
	 * manifest digest the guest resolved before any layer of the image is used. */
	SP_POLICY_ALLOW_NEEDS_DIGEST = 2,
};

/* What has happened in this guest so far; the agent owns it and sets the flags as things
 * happen (they never go back to false). */
struct sp_policy_state {
	bool attested;		      /* attestation to the KBS has succeeded */
	bool first_container_created; /* a CreateContainerRequest has been accepted */
	bool encrypted_storage;	      /* pod storage lives on an encrypted disk */
};

/* Values the constraints look at; unset pointers mean "not in the request". */
struct sp_policy_input {
	/* CreateContainerRequest: the image reference (the image_guest_pull Storage source; the
	 * literal "pause" for the sandbox container) and, once the guest resolved it, the manifest
	 * digest "sha256:<64 hex>" (a reference of the form name@sha256:... carries its own). */
	const char *image_ref;
	const char *image_digest;
	/* CreateContainerRequest and ExecProcessRequest: the process to run. */
	const char *const *argv;
	size_t argc;
	const char *const *env; /* "NAME=value" */
	size_t envc;
	bool has_user;
	uint32_t uid, gid;
	const char *cwd;
	/* CreateContainerRequest and ExecProcessRequest: every capability named in any of the
	 * process's capability sets, "CAP_SYS_ADMIN" style. */
	const char *const *caps;
	size_t ncaps;
	/* CopyFileRequest: the destination path as the request carries it, with its wire length
	 * (so an embedded NUL is caught); copy_path_len 0 means strlen(copy_path). */
	const char *copy_path;
	size_t copy_path_len;
};

/* --- loading: each returns 0 and a new policy in *out, or -1 with err saying why (for a Rego
 * file, the first offending line with its number). Documents over SP_POLICY_MAX_DOC bytes, with
 * a NUL byte, or otherwise outside the format are refused whole: nothing is half-loaded. */
int sp_policy_builtin(struct sp_policy **out, struct sp_err *err);
int sp_policy_load_json(const char *doc, size_t len, struct sp_policy **out, struct sp_err *err);
int sp_policy_load_rego(const char *doc, size_t len, struct sp_policy **out, struct sp_err *err);
/* JSON when the first non-blank byte is '{', else Rego. */
int sp_policy_load(const char *doc, size_t len, struct sp_policy **out, struct sp_err *err);
void sp_policy_free(struct sp_policy *p);

enum sp_policy_source sp_policy_source(const struct sp_policy *p);
const char *sp_policy_describe(const struct sp_policy *p); /* "built-in default", ... */
bool sp_policy_requires_attestation(const struct sp_policy *p);
bool sp_policy_requires_encrypted_storage(const struct sp_policy *p);
/* pin_process_to_image: the container runtime refuses a CreateContainer whose process differs
 * from the configuration of the image the guest pulled for it (runtime.h,
 * sp_runtime_register_image_config). Off in the built-in default and under Rego. */
struct sp_policy_pin {
	bool enabled;
	bool allow_args_override;    /* args may be the entrypoint plus any arguments */
	bool allow_extra_env;	     /* env may hold variables the image does not set */
	bool allow_workdir_override; /* cwd may differ from the image's WorkingDir */
};
void sp_policy_pin(const struct sp_policy *p, struct sp_policy_pin *out); /* p may be NULL */
/* Non-fatal remarks made at load (an unknown request name in a Rego file, ...), for the console;
 * untrusted text in them is already escaped. */
size_t sp_policy_nwarnings(const struct sp_policy *p);
const char *sp_policy_warning(const struct sp_policy *p, size_t i);

/* --- checking ---------------------------------------------------------------------------------
 * Decides request `request` (a Kata request message name). On SP_POLICY_DENY, why holds
 * "<Request> is blocked by policy: <the rule or constraint>", e.g.
 *   "ExecProcessRequest is blocked by policy: rule 'ExecProcessRequest' = false"
 *   "CreateContainerRequest is blocked by policy: image 'x' is not in allowed_images"
 * which the agent sends back with PERMISSION_DENIED (code policy.deny) and logs. Host-supplied
 * text in why is escaped and shortened. On the other verdicts why says what allowed it. why may
 * be NULL; whylen SP_POLICY_WHY_MAX or more never truncates.
 *
 * ReadStreamRequest: Kata performs the read and, when the policy denies it, clears the data. The
 * agent does the same: on SP_POLICY_DENY it answers OK with empty data, not an error (to the
 * shim, empty data is EOF, so the stream ends and WaitProcess follows).
 *
 * SetPolicyRequest is decided by sp_policy_set_allowed() (the same answer comes from here).
 * Unknown request names are denied. */
enum sp_verdict sp_policy_check(const struct sp_policy *p, const struct sp_policy_state *st,
				const char *request, const struct sp_policy_input *in, char *why,
				size_t whylen);

/* SetPolicy: refused once attestation happened (the attested initdata would no longer describe
 * the running policy) or the first container was created, and otherwise only when the current
 * policy allows SetPolicyRequest. Returns true when allowed; why as for sp_policy_check(). */
bool sp_policy_set_allowed(const struct sp_policy *cur, const struct sp_policy_state *st, char *why,
			   size_t whylen);

/* The SetPolicy handler: when sp_policy_set_allowed() agrees, parses doc (sp_policy_load) fully
 * and only then swaps it into *cur and frees the old one. On any failure *cur is untouched and
 * err says why (a refusal starts with "SetPolicyRequest is blocked by policy"). */
int sp_policy_replace(struct sp_policy **cur, const struct sp_policy_state *st, const char *doc,
		      size_t len, struct sp_err *err);

/* --- names ------------------------------------------------------------------------------------ */
/* The request message name Kata's policy uses for an AgentService or Health method
 * ("ReadStdout" -> "ReadStreamRequest", "GetGuestDetails" -> "GuestDetailsRequest"), or NULL
 * for a method we do not know. */
const char *sp_policy_request_name(const char *method);
/* True for the request names this module knows (Kata's AgentService requests, CheckRequest). */
bool sp_policy_known_request(const char *request);

#endif
