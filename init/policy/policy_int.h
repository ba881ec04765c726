/* Inside the policy module: the loaded form shared by the loaders (policy_json.c, policy_rego.c)
 * and the checker (policy.c). Not for other modules. */
#ifndef SEALPOD_POLICY_INT_H
#define SEALPOD_POLICY_INT_H

#include "policy/policy.h"

enum sp_rule { SP_RULE_UNSET = 0, SP_RULE_ALLOW, SP_RULE_DENY };

/* Kata's request message names that we know, in a fixed order (index = rule slot). */
struct sp_request_info {
	const char *method;  /* the AgentService method */
	const char *request; /* its request message name */
	enum sp_rule builtin;
};
extern const struct sp_request_info sp_requests[];
extern const size_t sp_nrequests;
int sp_request_index(const char *request); /* -1 when unknown */

/* The Linux capability names, indexed by number (CAP_CHOWN = 0 ...). */

struct sp_strv {
	char **v;
	size_t n;
};

struct sp_gidv {
	uint32_t v[SP_POLICY_MAX_GIDS];
	size_t n;
};

struct sp_policy_image {
	char *reference; /* NULL: any reference */
	char *digest;	 /* NULL: any digest */
	bool pin_args, pin_env, pin_user, pin_gids;
	struct sp_strv args, env; /* env entries "NAME=value" or "NAME=*" */
	uint32_t uid, gid;
	struct sp_gidv gids; /* user.additional_gids: the exact set */
	char *cwd;	     /* NULL: not pinned */
	/* process.no_new_privileges and read_only_root: each exactly, when pinned */
	bool pin_nnp, nnp, pin_ro_root, ro_root;
};

/* allowed_exec: an argv, and optionally what else the exec may bring. */
struct sp_policy_exec {
	struct sp_strv args;
	bool pin_env; /* env: entries beyond the container's own it may add */
	struct sp_strv env;
	bool pin_user; /* user: the uid and gid it may run as instead of the container's */
	uint32_t uid, gid;
	char *cwd;    /* NULL: the container's */
	int terminal; /* -1: either; 0 or 1: exactly */
};

/* allowed_mounts: a mount the spec may have. */
struct sp_policy_mount_rule {
	char *destination; /* exact */
	char *type;	   /* exact ("bind", "tmpfs", ...) */
	char *source;	   /* NULL: any; else an fnmatch(3) pattern, "$(cid)" the container id */
	bool has_options;
	struct sp_strv options; /* the exact set, in any order */
	bool exec;		/* a bind may keep exec */
};

/* allowed_sysctls: a safe sysctl the spec may set. */
struct sp_policy_sysctl_rule {
	char *key;   /* exact, on the safe list (lib/validate.h) */
	char *value; /* NULL: any value the runtime accepts; else exact */
};

/* All memory of a policy comes from one arena, freed in one go. */
struct sp_arena_chunk;

struct sp_policy {
	enum sp_policy_source source;
	unsigned version;
	enum sp_rule def; /* for requests without a rule */
	enum sp_rule *rules;
	bool has_images;
	struct sp_policy_image *images;
	size_t nimages;
	bool has_exec;
	struct sp_policy_exec *exec;
	size_t nexec;
	bool has_mounts;
	struct sp_policy_mount_rule *mounts;
	size_t nmounts;
	bool has_sysctls;
	struct sp_policy_sysctl_rule *sysctls;
	size_t nsysctls;
	bool allow_sandbox_pidns; /* true unless a JSON document says false */
	char copy_prefix[256];
	uint64_t extra_caps; /* bit n: capability n may be granted beyond the default set */
	bool require_encrypted_storage, require_attestation;
	bool require_encrypted_layers; /* every layer of a guest pull is ocicrypt-encrypted */
	/* pin_process_to_image and its two relaxations (sp_policy_pin()). */
	bool pin_process, pin_args_override, pin_extra_env, pin_workdir_override;
	struct sp_gidv pin_extra_gids; /* pin_allow_additional_gids */
	char warnings[SP_POLICY_MAX_WARNINGS][160];
	size_t nwarnings;
	struct sp_arena_chunk *arena;
};

/* A new, empty policy (all rules unset, default deny, the shared-files CopyFile prefix). */
struct sp_policy *sp_policy_new(enum sp_policy_source source);
void *sp_policy_alloc(struct sp_policy *p, size_t size); /* zeroed; NULL when out of memory */
char *sp_policy_strndup(struct sp_policy *p, const char *s, size_t len);
/* The reason of a decision into why (whylen bytes; nothing when why is NULL). */
void sp_policy_say(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sp_policy_warn(struct sp_policy *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The two halves of loading a document, so that the front-end can parse the host's text and PID 1
 * build the policy from what it found (policy_form.c): JSON text into a json-c tree, a tree into
 * a policy; Rego text into its default rules, the rules into a policy. */
struct json_object;
int sp_policy_json_parse(const char *doc, size_t len, struct json_object **out, struct sp_err *err);
int sp_policy_load_json_tree(struct json_object *root, struct sp_policy **out, struct sp_err *err);
struct sp_rego_default {
	char name[128];
	bool value;
	unsigned line;
};
#define SP_POLICY_MAX_REGO_DEFAULTS 1024
int sp_policy_rego_scan(const char *doc, size_t len, struct sp_rego_default *defs, size_t max,
			size_t *n, struct sp_err *err);
int sp_policy_load_rego_defaults(const struct sp_rego_default *defs, size_t n,
				 struct sp_policy **out, struct sp_err *err);

/* The checks of what a request brings (policy_judge.c), each returning the decision and saying
 * why in why: */
enum sp_decision { SP_D_DENY = 0, SP_D_ALLOW, SP_D_PENDING };
/* CreateContainerRequest: sandbox_pidns and the spec's mounts (allowed_mounts; v->mount_exec). */
enum sp_decision sp_judge_pidns(const struct sp_policy *p, const struct sp_policy_input *in,
				char *why, size_t whylen);
enum sp_decision sp_judge_mounts(const struct sp_policy *p, const struct sp_policy_input *in,
				 struct sp_verdict *v, char *why, size_t whylen);
/* CreateContainerRequest: the spec's sysctls against allowed_sysctls. */
enum sp_decision sp_judge_sysctls(const struct sp_policy *p, const struct sp_policy_input *in,
				  char *why, size_t whylen);
/* ExecProcessRequest: argv (allowed_exec), env, user and additional gids, cwd, terminal. */
enum sp_decision sp_judge_exec(const struct sp_policy *p, const struct sp_policy_input *in,
			       char *why, size_t whylen);
/* env entry e against a pinned entry: equal, or "NAME=*" and e is "NAME=<anything>". */
bool sp_env_match(const char *pin, const char *e);
bool sp_strv_equal(const struct sp_strv *want, const char *const *v, size_t n);
/* Host text in a reason: escaped and cut short (buf of SP_ESC_MAX bytes). */
#define SP_ESC_MAX 80
const char *sp_policy_esc(char buf[SP_ESC_MAX], const char *s);

/* Checks a whole document before any parser sees it: size cap and no NUL byte. */
int sp_policy_doc_ok(const char *doc, size_t len, const char *what, struct sp_err *err);

#endif
