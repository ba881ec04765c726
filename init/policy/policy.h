/* The API policy: every request on the control port passes sp_policy_check() before its handler
 * runs. A policy comes from the built-in default, from our JSON
 * document, or from the Rego subset of only `package agent_policy` and `default <Name> :=
 * true|false` lines; see init/policy/POLICY.md for the formats.
 *
 * Requests are named by Kata's request message name ("ExecProcessRequest"); ReadStdout and
 * ReadStderr are both "ReadStreamRequest" (sp_policy_request_name() maps a method to its name).
 * The health service ("CheckRequest", used by Check and Version) is never gated.
 *
 * The module parses no protobuf: the caller extracts the few values the constraints look at into
 * a struct sp_policy_input. State that changes while the guest runs (attested, first container
 * created) is passed in explicitly as a struct sp_policy_state owned by the caller.
 *
 * The verdict (struct sp_verdict) is more than allow or deny: a request can be allowed on
 * conditions that only later steps can check (the digest its image resolves to, an attestation
 * under way, an encrypted disk still being made). The caller turns each of those obligations
 * into a step and refuses the request when one is not met. */
#ifndef SEALPOD_POLICY_POLICY_H
#define SEALPOD_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SP_POLICY_MAX_DOC     ((size_t)256 * 1024) /* bytes of a policy document */
#define SP_POLICY_MAX_IMAGES  256		   /* allowed_images entries */
#define SP_POLICY_MAX_EXEC    256		   /* allowed_exec argv lists */
#define SP_POLICY_MAX_ARGS    256		   /* strings in one argv or env list */
#define SP_POLICY_MAX_STR     4096		   /* bytes of one string in a document */
#define SP_POLICY_MAX_MOUNTS  256		   /* allowed_mounts entries */
#define SP_POLICY_MAX_GIDS    32		   /* gids in one list of a document */
#define SP_POLICY_MAX_SYSCTLS 64		   /* allowed_sysctls entries */
/* Mounts of one request a verdict can speak for (the runtime refuses more: SP_RT_MAX_MOUNTS). */
#define SP_POLICY_MAX_REQ_MOUNTS 128
#define SP_POLICY_MAX_WARNINGS	 8
#define SP_POLICY_WHY_MAX	 256 /* a why buffer this big never truncates a reason */

struct sp_policy; /* opaque; immutable once loaded */

enum sp_policy_source { SP_POLICY_BUILTIN, SP_POLICY_JSON, SP_POLICY_REGO };

/* What has happened in this guest so far; the agent owns it and fills it in from what the
 * other modules report (the flags for what happened never go back to false). */
struct sp_policy_state {
	bool attested;		      /* attestation to the KBS has succeeded */
	bool attestation_coming;      /* it is configured and has not failed: it will run first */
	bool first_container_created; /* a CreateContainerRequest has been accepted */
	bool encrypted_storage;	      /* pod storage lives on an encrypted disk */
	bool encryption_coming;	      /* it will by the time this request's container is made */
	bool from_initdata;	      /* the policy in force came from verified initdata */
	bool initdata;		      /* verified initdata is present (with a policy or not) */
	bool attestation_configured;  /* attestation is configured (whatever became of it) */
};

/* One mount of a CreateContainerRequest's spec, as the host wrote it. */
struct sp_policy_mount {
	const char *destination, *source, *type;
	const char *const *options;
	size_t noptions;
};

/* One sysctl of a CreateContainerRequest's spec (Linux.Sysctl), as the host wrote it. */
struct sp_policy_sysctl {
	const char *key, *value;
};
/* ExecProcessRequest: the container the exec joins, as its init was created (what the exec's
 * env, user and cwd are compared with). env_known false: its environment was too large to keep,
 * so only an allowed_exec entry can admit an exec's environment. */
struct sp_policy_ctr {
	const char *const *env;
	size_t envc;
	bool env_known;
	uint32_t uid, gid;
	const uint32_t *gids;
	size_t ngids;
	const char *cwd; /* "" is "/" */
};

/* Values the constraints look at; unset pointers mean "not in the request". */
struct sp_policy_input {
	/* CreateContainerRequest: the image reference (the image_guest_pull Storage source, else
	 * the CRI annotation the host wrote) and, once the guest resolved it, the manifest digest
	 * "sha256:<64 hex>" (a reference of the form name@sha256:... carries its own).
	 * image_pulled: the reference is a guest pull's (an annotation is only the host's word);
	 * builtin_pause: the request is the sandbox container's guest pull of "pause", which runs
	 * the pause program built into the initramfs. */
	const char *image_ref;
	const char *image_digest;
	bool image_pulled;
	bool builtin_pause;
	/* CreateContainerRequest and ExecProcessRequest: the process to run. */
	const char *const *argv;
	size_t argc;
	const char *const *env; /* "NAME=value" */
	size_t envc;
	bool has_user;
	uint32_t uid, gid;
	const uint32_t *gids; /* additional gids */
	size_t ngids;
	const char *cwd;
	bool terminal;
	/* CreateContainerRequest: the spec's Process.NoNewPrivileges and Root.Readonly. */
	bool no_new_privs;
	bool root_readonly;
	/* CreateContainerRequest and ExecProcessRequest: every capability named in any of the
	 * process's capability sets, "CAP_SYS_ADMIN" style. */
	const char *const *caps;
	size_t ncaps;
	/* CreateContainerRequest: the container and sandbox ids, whether it asks for the
	 * sandbox's pid namespace, and the spec's mounts. */
	const char *cid;
	const char *sandbox_id; /* CreateSandbox's, NULL before it */
	bool sandbox_pidns;
	const struct sp_policy_mount *mounts;
	size_t nmounts;
	/* CreateContainerRequest: the spec's sysctls (the pause's too: the net.* keys are
	 * pod-wide). */
	const struct sp_policy_sysctl *sysctls;
	size_t nsysctls;
	/* ExecProcessRequest: the container it joins (NULL: there is no such container, and the
	 * handler answers NOT_FOUND). */
	const struct sp_policy_ctr *ctr;
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
 * sp_rt_check_image_pin). Off in the built-in default and under Rego. */
struct sp_policy_pin {
	bool enabled;
	bool allow_args_override;    /* args may be the entrypoint plus any arguments */
	bool allow_extra_env;	     /* env may hold variables the image does not set */
	bool allow_workdir_override; /* cwd may differ from the image's WorkingDir */
	/* pin_allow_additional_gids: additional gids the process may hold besides its own gid
	 * (Kubernetes' fsGroup and supplementalGroups). */
	uint32_t extra_gids[SP_POLICY_MAX_GIDS];
	size_t nextra_gids;
};
void sp_policy_pin(const struct sp_policy *p, struct sp_policy_pin *out); /* p may be NULL */
/* Non-fatal remarks made at load (an unknown request name in a Rego file, ...), for the console;
 * untrusted text in them is already escaped. */
size_t sp_policy_nwarnings(const struct sp_policy *p);
const char *sp_policy_warning(const struct sp_policy *p, size_t i);

/* --- checking ---------------------------------------------------------------------------------
 * Decides request `request` (a Kata request message name) into v. When it is refused, v->why
 * holds "<Request> is blocked by policy: <the rule or constraint>", e.g.
 *   "ExecProcessRequest is blocked by policy: rule 'ExecProcessRequest' = false"
 *   "CreateContainerRequest is blocked by policy: image 'x' is not in allowed_images"
 * which the agent sends back with PERMISSION_DENIED (code policy.deny) and logs. Host-supplied
 * text in why is escaped and shortened. When it is allowed, why says what allowed it and v says
 * on which conditions (needs) and with which consent (capabilities, the pin).
 *
 * ReadStreamRequest: Kata performs the read and, when the policy denies it, clears the data. The
 * agent does the same: on a denial it answers OK with empty data, not an error (to the shim,
 * empty data is EOF, so the stream ends and WaitProcess follows).
 *
 * SetPolicyRequest is decided by sp_policy_set_allowed() (the same answer comes from here).
 * Unknown request names are denied. */
enum sp_need {
	/* An allowed_images entry pins a digest and the request names none: the digest the guest's
	 * pull resolves the reference to must be one of v->pinned. */
	SP_NEED_DIGEST = 1u << 0,
	/* require_attestation: the attestation under way must succeed first. */
	SP_NEED_ATTESTATION = 1u << 1,
	/* require_encrypted_storage: the pod storage must be on an encrypted disk by the time the
	 * container is made (the disk is being formatted, or this request brings the store). */
	SP_NEED_ENCRYPTED_STORAGE = 1u << 2,
	/* require_encrypted_layers: every layer the guest pulls for it must be encrypted (the
	 * pull refuses the image, naming the first plain layer, before fetching any). */
	SP_NEED_ENCRYPTED_LAYERS = 1u << 3,
};

struct sp_verdict {
	bool allow;
	unsigned needs;		 /* enum sp_need: what the request must still show */
	uint64_t consented_caps; /* bit n: capability n may be granted beyond the default set */
	/* bit i: the request's mount i may keep exec (an allowed_mounts entry with "exec": true
	 * matched it); every other bind is noexec. */
	uint64_t mount_exec[SP_POLICY_MAX_REQ_MOUNTS / 64];
	bool mounts_judged; /* allowed_mounts matched every mount of the spec */
	struct sp_policy_pin pin;
	/* SP_NEED_DIGEST: the digests that would allow it (borrowed from the policy: valid while
	 * it is in force). */
	const char *pinned[SP_POLICY_MAX_IMAGES];
	size_t npinned;
	char why[SP_POLICY_WHY_MAX];
};

bool sp_policy_check(const struct sp_policy *p, const struct sp_policy_state *st,
		     const char *request, const struct sp_policy_input *in, struct sp_verdict *v);
/* The SP_NEED_DIGEST obligation: digest is one the verdict pins (true when nothing is pinned). */
bool sp_policy_digest_allowed(const struct sp_verdict *v, const char *digest);

/* SetPolicy: refused whenever verified initdata is present (with a policy of its own or not) or
 * attestation is configured (the KBS attests that initdata as describing this guest, and the
 * policy is part of what it describes), once the first container was created, and otherwise
 * only when the current policy allows SetPolicyRequest. Returns true when allowed; why as for
 * sp_policy_check(). */
bool sp_policy_set_allowed(const struct sp_policy *cur, const struct sp_policy_state *st, char *why,
			   size_t whylen);

/* The SetPolicy handler: when sp_policy_set_allowed() agrees, parses doc (sp_policy_load) fully
 * and only then swaps it into *cur and frees the old one. On any failure *cur is untouched and
 * err says why: a refusal is SP_E_DENIED ("SetPolicyRequest is blocked by policy: ..."), a
 * document that is no policy SP_E_INVALID. */
int sp_policy_replace(struct sp_policy **cur, const struct sp_policy_state *st, const char *doc,
		      size_t len, struct sp_err *err);

/* --- SetPolicy's document in its fixed form (policy_form.c, agent/proto/policyform.proto) -------
 * PID 1 runs no parser on the host's text: the front-end (init/front/) parses it with the
 * loaders' own first halves and hands PID 1 a PolicyForm, from which PID 1 builds the policy. */
struct ProtobufCMessage;
struct ProtobufCAllocator;
/* The front-end: doc[0..len) into a PolicyForm (*out, every part allocated from a). A document
 * that is no policy still makes a form, carrying the parser's reason, so that PID 1 says it
 * only after its own checks (SetPolicy may be refused whatever the document). -1 (kind
 * SP_E_EXHAUSTED) only when a runs out. */
int sp_policy_form_make(const char *doc, size_t len, struct ProtobufCAllocator *a,
			struct ProtobufCMessage **out, struct sp_err *err);
/* PID 1: the policy a PolicyForm describes, or -1 with err (SP_E_INVALID: the reason the
 * document is no policy, escaped). */
int sp_policy_form_load(const struct ProtobufCMessage *form, struct sp_policy **out,
			struct sp_err *err);
/* sp_policy_replace() for a document in its fixed form. */
int sp_policy_replace_form(struct sp_policy **cur, const struct sp_policy_state *st,
			   const struct ProtobufCMessage *form, struct sp_err *err);

/* --- names ------------------------------------------------------------------------------------ */
/* The request message name Kata's policy uses for an AgentService or Health method
 * ("ReadStdout" -> "ReadStreamRequest", "GetGuestDetails" -> "GuestDetailsRequest"), or NULL
 * for a method we do not know. */
const char *sp_policy_request_name(const char *method);
/* True for the request names this module knows (Kata's AgentService requests, CheckRequest). */
bool sp_policy_known_request(const char *request);

#endif
