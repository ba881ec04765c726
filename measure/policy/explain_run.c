/* sealpod-policy explain: what a sealpod guest decides for each call and why, offline. The
 * verdict is the guest's own: its gate (init/agent/gate.c, sp_agent_policy_judge) and policy
 * module compiled for the host, given the state the calls before it would have left. */
#define _GNU_SOURCE
#include "explain.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"

#define MAX_CALLS 4096

static int facts_of(const char *cid, struct sp_policy_ctr *out, void *arg)
{
	const struct spp_explain *x = arg;

	for (size_t i = 0; i < x->nctrs; i++)
		if (strcmp(x->ctrs[i].cid, cid) == 0) {
			*out = x->ctrs[i].facts;
			return 0;
		}
	return -1;
}

/* What an allowed request leaves behind for the calls after it (msg outlives the run). */
static void remember(struct spp_explain *x, const char *request, const ProtobufCMessage *msg)
{
	if (strcmp(request, "CreateSandboxRequest") == 0) {
		x->sandbox_id = ((const Grpc__CreateSandboxRequest *)(const void *)msg)->sandbox_id;
	} else if (strcmp(request, "CreateContainerRequest") == 0) {
		const Grpc__CreateContainerRequest *r = (const void *)msg;
		const Grpc__Process *p = r->oci ? r->oci->process : NULL;
		struct sp_policy_ctr f = { .env_known = true, .cwd = "" };

		x->st.first_container_created = true;
		if (x->nctrs == SPP_EXPLAIN_MAX_CTRS)
			return;
		if (p) {
			f.env = (const char *const *)p->env;
			f.envc = p->n_env;
			f.cwd = p->cwd ? p->cwd : "";
			if (p->user) {
				f.uid = p->user->uid;
				f.gid = p->user->gid;
				f.gids = p->user->additionalgids;
				f.ngids = p->user->n_additionalgids;
			}
		}
		x->ctrs[x->nctrs].cid = r->container_id;
		x->ctrs[x->nctrs++].facts = f;
	}
}

/* The conditions an allowed request still has to meet in the guest. */
static void print_needs(const struct sp_verdict *v)
{
	if (v->needs & SP_NEED_DIGEST) {
		(void)printf("  on condition: the digest the guest's pull resolves the image to is "
			     "one "
			     "of");
		for (size_t i = 0; i < v->npinned; i++)
			(void)printf(" %s", v->pinned[i]);
		(void)printf("\n");
	}
	if (v->needs & SP_NEED_ATTESTATION)
		(void)printf("  on condition: the attestation under way succeeds first\n");
	if (v->needs & SP_NEED_ENCRYPTED_STORAGE)
		(void)printf("  on condition: the pod storage is on an encrypted disk by then\n");
}

/* What an ExecProcess verdict rests on that the policy's reason does not say. */
static void exec_notes(const struct spp_explain *x, const char *request,
		       const ProtobufCMessage *msg, const struct sp_verdict *v)
{
	const Grpc__ExecProcessRequest *r = (const void *)msg;
	struct sp_policy_ctr facts;
	char near[400];

	if (strcmp(request, "ExecProcessRequest") != 0 || !r->process)
		return;
	if (!v->allow && strstr(v->why, "is not in allowed_exec")) {
		spp_explain_nearest_exec(x, r->process->args, r->process->n_args, near,
					 sizeof(near));
		if (near[0])
			(void)printf("  %s\n", near);
	}
	if (facts_of(r->container_id, &facts, (void *)x) < 0)
		(void)printf("  (no CreateContainer of '%.80s' came before it: its env, user and "
			     "cwd "
			     "were not compared with the container's, and the guest answers "
			     "NOT_FOUND)\n",
			     r->container_id);
}

/* Judges one call; returns 1 allowed, 0 denied, -1 on an error (err). */
static int one_call(struct spp_explain *x, json_object *raw, int step, bool report,
		    ProtobufCMessage **keep, struct sp_err *err)
{
	struct sp_gate_env env = { .process_facts = facts_of, .arg = x };
	json_object *call, *service, *method;
	const char *request;
	struct sp_verdict v;
	bool allow;

	if (spp_explain_substitute(x, raw, &call, err) < 0)
		return sp_error_wrap(err, "step %d", step);
	json_object_object_get_ex(call, "method", &method);
	if (json_object_object_get_ex(call, "service", &service) &&
	    strcmp(json_object_get_string(service), "grpc.Health") == 0) {
		if (report)
			(void)printf("step %d %s: not gated (the health service is always "
				     "answered)\n",
				     step, json_object_get_string(method));
		json_object_put(call);
		return 1;
	}
	if (spp_explain_decode(call, keep, &request, err) < 0) {
		json_object_put(call);
		return sp_error_wrap(err, "step %d", step);
	}
	env.st = x->st;
	env.sandbox_id = x->sandbox_id;
	allow = sp_agent_policy_judge(x->policy, &env, request, *keep, &v);
	if (report) {
		(void)printf("step %d %s: %s\n  %s\n", step, json_object_get_string(method),
			     allow ? "allowed" : "DENIED", v.why);
		if (allow)
			print_needs(&v);
		else if (strcmp(request, "ReadStreamRequest") == 0)
			(void)printf("  (the agent answers it with empty data: the shim sees the "
				     "stream end)\n");
		exec_notes(x, request, *keep, &v);
	}
	if (allow)
		remember(x, request, *keep);
	json_object_put(call);
	return allow;
}

static const char usage[] =
	"usage: sealpod-policy explain POLICY REQUEST.json [--step N] [--set NAME=VALUE]...\n"
	"                              [--attestation none|coming|done]\n"
	"\n"
	"What a sealpod guest under POLICY decides for each call in REQUEST.json, and why: the\n"
	"rule or constraint, and what in the request did not match it. The verdict comes from the\n"
	"guest's own gate and policy code, compiled into this program.\n"
	"  POLICY        a policy (JSON or Rego), an initdata TOML (its policy, or the built-in\n"
	"                default when it has none), or `builtin`\n"
	"  REQUEST.json  one call {\"method\": \"ExecProcess\", \"request\": {...}}, a list of\n"
	"                calls, or a Kata request fixture (tests/data/kata-requests: calls in the\n"
	"                shim's order, ${NAME} placeholders filled from its defaults); requests "
	"in\n"
	"                the protobuf JSON mapping, as the shim sends them. Calls are judged in\n"
	"                order: an allowed CreateSandbox or CreateContainer is remembered (an "
	"exec\n"
	"                is compared with its container's process)\n"
	"  --step N      report only step N (the calls before it still set the state)\n"
	"  --set NAME=VALUE  a placeholder's value (JSON, else a string)\n"
	"  --attestation none|coming|done  the guest's attestation (default: coming when the\n"
	"                initdata names a KBS or the policy requires attestation, else none)\n"
	"Exit status: 0 every reported call allowed, 1 one was denied, 2 errors.\n";

struct explain_args {
	const char *policy, *requests, *attestation;
	int step; /* 0: all */
	json_object *overrides;
};

static int parse_set(json_object *over, const char *arg)
{
	const char *eq = strchr(arg, '=');
	json_object *v;
	char name[64];

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name))
		return -1;
	(void)snprintf(name, sizeof(name), "%.*s", (int)(eq - arg), arg);
	v = json_tokener_parse(eq + 1);
	if (!v)
		v = json_object_new_string(eq + 1);
	json_object_object_add(over, name, v);
	return 0;
}

static int parse_args(int argc, char **argv, struct explain_args *a)
{
	enum { OPT_STEP = 0x100, OPT_SET, OPT_ATTEST };
	static const struct option longopts[] = {
		{ "step", required_argument, NULL, OPT_STEP },
		{ "set", required_argument, NULL, OPT_SET },
		{ "attestation", required_argument, NULL, OPT_ATTEST },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			(void)fputs(usage, stdout);
			return 1;
		}
		if (c == OPT_STEP && (a->step = atoi(optarg)) > 0)
			continue;
		if (c == OPT_SET && parse_set(a->overrides, optarg) == 0)
			continue;
		if (c == OPT_ATTEST &&
		    (strcmp(optarg, "none") == 0 || strcmp(optarg, "coming") == 0 ||
		     strcmp(optarg, "done") == 0)) {
			a->attestation = optarg;
			continue;
		}
		(void)fputs(usage, stderr);
		return -1;
	}
	if (optind + 2 != argc) {
		(void)fputs(usage, stderr);
		return -1;
	}
	a->policy = argv[optind];
	a->requests = argv[optind + 1];
	return 0;
}

static void set_attestation(struct sp_policy_state *st, const char *how)
{
	if (!how)
		return;
	st->attested = strcmp(how, "done") == 0;
	st->attestation_coming = strcmp(how, "coming") == 0;
	st->attestation_configured = strcmp(how, "none") != 0;
}

/* The calls of the file: a fixture's "calls" (its "defaults" become x->defaults), a list, or
 * one call. */
static json_object *calls_of(json_object *doc, struct spp_explain *x)
{
	json_object *calls;

	if (json_object_is_type(doc, json_type_array))
		return doc;
	if (!json_object_is_type(doc, json_type_object))
		return NULL;
	json_object_object_get_ex(doc, "defaults", &x->defaults);
	if (json_object_object_get_ex(doc, "calls", &calls) &&
	    json_object_is_type(calls, json_type_array))
		return calls;
	return json_object_object_get_ex(doc, "method", NULL) ? doc : NULL;
}

static int run(struct spp_explain *x, json_object *calls, int only, struct sp_err *err)
{
	bool single = json_object_is_type(calls, json_type_object), denied = false, seen = !only;
	size_t n = single ? 1 : json_object_array_length(calls);
	ProtobufCMessage **msgs = calloc(n ? n : 1, sizeof(ProtobufCMessage *));
	int rc = SPP_EXIT_ERROR;

	if (!msgs || n > MAX_CALLS) {
		sp_fail(err, SP_E_EXHAUSTED, 0, "more than %d calls", MAX_CALLS);
		goto out;
	}
	(void)printf("policy: %s\n", x->source);
	for (size_t i = 0; i < n; i++) {
		json_object *call = single ? calls : json_object_array_get_idx(calls, i), *st;
		int step = json_object_object_get_ex(call, "step", &st) ? json_object_get_int(st)
									: (int)i + 1;
		int r;

		if (only && step > only)
			break;
		seen |= step == only;
		r = one_call(x, call, step, !only || step == only, &msgs[i], err);
		if (r < 0)
			goto out;
		denied |= r == 0 && (!only || step == only);
	}
	if (!seen) {
		sp_fail(err, SP_E_NOT_FOUND, 0, "no step %d", only);
		goto out;
	}
	rc = denied ? SPP_EXIT_DENIED : SPP_EXIT_OK;
out:
	for (size_t i = 0; msgs && i < n; i++)
		if (msgs[i])
			protobuf_c_message_free_unpacked(msgs[i], NULL);
	free(msgs);
	return rc;
}

int spp_explain_main(int argc, char **argv)
{
	struct explain_args a = { .overrides = json_object_new_object() };
	struct spp_explain x = { 0 };
	struct sp_err err = { 0 };
	json_object *doc = NULL, *calls;
	char *text = NULL;
	size_t len;
	int rc = SPP_EXIT_ERROR, p = parse_args(argc, argv, &a);

	if (p != 0) {
		json_object_put(a.overrides);
		return p > 0 ? SPP_EXIT_OK : SPP_EXIT_ERROR;
	}
	x.overrides = a.overrides;
	if (spp_explain_load_policy(a.policy, &x, &err) < 0 ||
	    spp_read_file(a.requests, (size_t)64 << 20, &text, &len, &err) < 0)
		goto out;
	set_attestation(&x.st, a.attestation);
	doc = json_tokener_parse(text);
	calls = doc ? calls_of(doc, &x) : NULL;
	if (!calls) {
		sp_fail(&err, SP_E_INVALID, 0,
			"%s: not a call, a list of calls or a request fixture (JSON)", a.requests);
		goto out;
	}
	rc = run(&x, calls, a.step, &err);
out:
	if (rc == SPP_EXIT_ERROR)
		(void)fprintf(stderr, "sealpod-policy explain: %s\n", err.msg);
	sp_policy_free(x.policy);
	free(x.text);
	json_object_put(doc);
	json_object_put(a.overrides);
	free(text);
	return rc;
}
