/* sealpod-policy explain's insides, shared by explain.c (the policy, the calls, placeholders)
 * and explain_run.c (the judging, the report, the command line). */
#ifndef SEALPOD_MEASURE_POLICY_EXPLAIN_H
#define SEALPOD_MEASURE_POLICY_EXPLAIN_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

#include "agent/gate.h"
#include "policy/policy.h"
#include "spp.h"

#define SPP_EXPLAIN_MAX_CTRS 64

struct spp_explain {
	struct sp_policy *policy;
	char source[256];	   /* where the policy came from, for the report */
	char *text;		   /* the policy document (NULL: the built-in default) */
	struct sp_policy_state st; /* what has happened so far, as the calls go by */
	const char *sandbox_id;	   /* an allowed CreateSandbox's */
	/* The containers allowed so far: what an exec into each is compared with. */
	struct {
		const char *cid;
		struct sp_policy_ctr facts;
	} ctrs[SPP_EXPLAIN_MAX_CTRS];
	size_t nctrs;
	json_object *defaults, *overrides; /* placeholder values: the fixture's, --set's */
};

/* POLICY: a policy document (JSON or Rego), an initdata document (its policy, or the built-in
 * default when it has none), or "builtin". Sets x->policy, x->source and the state a guest
 * given it would start in. */
int spp_explain_load_policy(const char *path, struct spp_explain *x, struct sp_err *err);
/* For an exec refused because its argv is in no allowed_exec entry: the entry of x->text's
 * allowed_exec nearest to argv and the first argument where they part, into buf ("" when the
 * policy is not a JSON document with allowed_exec). */
void spp_explain_nearest_exec(const struct spp_explain *x, char *const *argv, size_t argc,
			      char *buf, size_t len);
/* obj with its ${NAME} placeholders replaced (a new reference). */
int spp_explain_substitute(const struct spp_explain *x, json_object *obj, json_object **out,
			   struct sp_err *err);
/* One call of a fixture (already substituted) as the agent's message (*msg, free with
 * protobuf_c_message_free_unpacked) and Kata's request name (*request, static). */
int spp_explain_decode(json_object *call, ProtobufCMessage **msg, const char **request,
		       struct sp_err *err);

#endif
