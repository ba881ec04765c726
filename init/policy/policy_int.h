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

struct sp_policy_image {
	char *reference; /* NULL: any reference */
	char *digest;	 /* NULL: any digest */
	bool pin_args, pin_env, pin_user;
	struct sp_strv args, env; /* env entries "NAME=value" or "NAME=*" */
	uint32_t uid, gid;
	char *cwd; /* NULL: not pinned */
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
	struct sp_strv *exec;
	size_t nexec;
	char copy_prefix[256];
	uint64_t extra_caps; /* bit n: capability n may be granted beyond the default set */
	bool require_encrypted_storage, require_attestation;
	/* pin_process_to_image and its two relaxations (sp_policy_pin()). */
	bool pin_process, pin_args_override, pin_extra_env, pin_workdir_override;
	char warnings[SP_POLICY_MAX_WARNINGS][160];
	size_t nwarnings;
	struct sp_arena_chunk *arena;
};

/* A new, empty policy (all rules unset, default deny, the shared-files CopyFile prefix). */
struct sp_policy *sp_policy_new(enum sp_policy_source source);
void *sp_policy_alloc(struct sp_policy *p, size_t size); /* zeroed; NULL when out of memory */
char *sp_policy_strndup(struct sp_policy *p, const char *s, size_t len);
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

/* Checks a whole document before any parser sees it: size cap and no NUL byte. */
int sp_policy_doc_ok(const char *doc, size_t len, const char *what, struct sp_err *err);

#endif
