/* The policy gate (see gate.h): what each request shows the policy, the verdict, the console
 * line for a denial, and the SetPolicy handler. */
#define _GNU_SOURCE
#include "agent/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ttrpc.h"
#include "attest/attest.h"
#include "lib/log.h"
#include "runtime/prepare.h"
#include "runtime/runtime.h"
#include "sandbox/sandbox.h"
#include "storage/storage.h"

static struct sp_policy *policy;
static bool policy_from_initdata;
static bool initdata_present;
static bool container_accepted;

void sp_agent_install_policy(struct sp_policy *p, bool from_initdata, bool initdata)
{
	if (p != policy)
		sp_policy_free(policy);
	policy = p;
	policy_from_initdata = p && from_initdata;
	initdata_present = initdata || policy_from_initdata;
}

static struct sp_policy *current(void)
{
	struct sp_err err;

	if (!policy && sp_policy_builtin(&policy, &err) < 0)
		sp_warn("policy", "cannot load the built-in default: %s", err.msg);
	return policy;
}

const struct sp_policy *sp_agent_policy(void)
{
	return current();
}

bool sp_agent_container_accepted(void)
{
	return container_accepted;
}

static int runtime_facts(const char *cid, struct sp_policy_ctr *out, void *arg)
{
	(void)arg;
	return sp_rt_process_facts(cid, out);
}

/* What has happened in the guest, read from the modules that know. */
static void read_state(struct sp_gate_env *env)
{
	struct sp_policy_state *st = &env->st;
	enum sp_attest_state a = sp_attest_state();
	bool enc = false;
	enum sp_pod_state pod = sp_storage_state(&enc);

	memset(env, 0, sizeof(*env));
	st->attested = a == SP_ATTESTATION_DONE;
	st->attestation_coming = a == SP_ATTESTATION_PENDING;
	st->first_container_created = container_accepted;
	st->encrypted_storage = pod == SP_POD_READY && enc;
	st->encryption_coming = pod == SP_POD_PENDING;
	st->from_initdata = policy_from_initdata;
	st->initdata = initdata_present;
	st->attestation_configured = a != SP_ATTESTATION_OFF;
	env->sandbox_id = sp_sandbox_id();
	env->process_facts = runtime_facts;
}

/* --- what the policy sees of a request --------------------------------------------------------- */

/* Every capability named in any of the process's sets; *caps is malloc'd (NULL when none). */
static int collect_caps(const Grpc__LinuxCapabilities *lc, const char ***caps, size_t *n)
{
	char **const sets[] = { lc->bounding, lc->effective, lc->inheritable, lc->permitted,
				lc->ambient };
	const size_t counts[] = { lc->n_bounding, lc->n_effective, lc->n_inheritable,
				  lc->n_permitted, lc->n_ambient };
	size_t total = 0, k = 0;

	for (size_t s = 0; s < 5; s++)
		total += counts[s];
	*caps = NULL;
	*n = 0;
	if (!total)
		return 0;
	*caps = calloc(total, sizeof(**caps));
	if (!*caps)
		return -1;
	for (size_t s = 0; s < 5; s++)
		for (size_t i = 0; i < counts[s]; i++)
			(*caps)[k++] = sets[s][i];
	*n = total;
	return 0;
}

static int process_input(const Grpc__Process *proc, struct sp_policy_input *in)
{
	if (!proc)
		return 0;
	in->argv = (const char *const *)proc->args;
	in->argc = proc->n_args;
	in->env = (const char *const *)proc->env;
	in->envc = proc->n_env;
	in->cwd = proc->cwd;
	in->terminal = proc->terminal;
	in->no_new_privs = proc->nonewprivileges;
	if (proc->user) {
		in->has_user = true;
		in->uid = proc->user->uid;
		in->gid = proc->user->gid;
		in->gids = proc->user->additionalgids;
		in->ngids = proc->user->n_additionalgids;
	}
	if (proc->capabilities) {
		const char **caps;

		if (collect_caps(proc->capabilities, &caps, &in->ncaps) < 0)
			return -1;
		in->caps = caps;
	}
	return 0;
}

/* The spec's mounts as the policy sees them (*out malloc'd; NULL when none). */
static int mounts_input(const Grpc__Spec *spec, struct sp_policy_input *in)
{
	struct sp_policy_mount *m;

	if (!spec || !spec->n_mounts)
		return 0;
	m = calloc(spec->n_mounts, sizeof(*m));
	if (!m)
		return -1;
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const Grpc__Mount *o = spec->mounts[i];

		m[i] = (struct sp_policy_mount){ o->destination, o->source, o->type,
						 (const char *const *)o->options, o->n_options };
	}
	in->mounts = m;
	in->nmounts = spec->n_mounts;
	return 0;
}

/* The spec's sysctls as the policy sees them (*out malloc'd; NULL when none). */
static int sysctls_input(const Grpc__Spec *spec, struct sp_policy_input *in)
{
	const Grpc__Linux *l = spec ? spec->linux_ : NULL;
	struct sp_policy_sysctl *s;

	if (!l || !l->n_sysctl)
		return 0;
	s = calloc(l->n_sysctl, sizeof(*s));
	if (!s)
		return -1;
	for (size_t i = 0; i < l->n_sysctl; i++)
		s[i] = (struct sp_policy_sysctl){ l->sysctl[i]->key, l->sysctl[i]->value };
	in->sysctls = s;
	in->nsysctls = l->n_sysctl;
	return 0;
}

/* CreateContainer: the facts of the request (runtime/prepare.h) as the policy sees them; the
 * Kata trusted store it brings makes the pod storage encrypted before its container runs. */
static int create_input(const Grpc__CreateContainerRequest *r, struct sp_policy_input *in,
			struct sp_gate_env *env, char *why, size_t whylen)
{
	struct sp_create_facts f;
	struct sp_err err;

	if (sp_create_facts_parse(r, &f, &err) < 0) {
		(void)snprintf(why, whylen, "CreateContainerRequest is blocked by policy: %.180s",
			       err.msg);
		return -1;
	}
	in->image_ref = f.image_ref;
	in->image_pulled = f.image_pulled;
	in->builtin_pause = f.pause;
	in->cid = r->container_id;
	in->sandbox_id = env->sandbox_id;
	in->sandbox_pidns = r->sandbox_pidns;
	in->root_readonly = r->oci && r->oci->root && r->oci->root->readonly;
	if (f.trusted_store)
		env->st.encryption_coming = true;
	if (mounts_input(r->oci, in) < 0 || sysctls_input(r->oci, in) < 0) {
		(void)snprintf(why, whylen,
			       "CreateContainerRequest is blocked by policy: out of "
			       "memory");
		return -1;
	}
	return 0;
}

/* Fills in (and st, for what the request itself brings) from msg, the decoded request_name.
 * Returns -1 with why for a request that cannot be judged (the message is then denied). */
static int fill_input(const char *request_name, const ProtobufCMessage *msg,
		      struct sp_policy_input *in, struct sp_policy_ctr *ctr,
		      struct sp_gate_env *env, char *why, size_t whylen)
{
	if (strcmp(request_name, "CreateContainerRequest") == 0 &&
	    msg->descriptor == &grpc__create_container_request__descriptor) {
		const Grpc__CreateContainerRequest *r = (const void *)msg;

		if (create_input(r, in, env, why, whylen) < 0)
			return -1;
		if (r->oci && process_input(r->oci->process, in) < 0)
			goto nomem;
	} else if (strcmp(request_name, "ExecProcessRequest") == 0 &&
		   msg->descriptor == &grpc__exec_process_request__descriptor) {
		const Grpc__ExecProcessRequest *r = (const void *)msg;

		if (process_input(r->process, in) < 0)
			goto nomem;
		/* What the exec is compared with: the container's own process. */
		if (env->process_facts && env->process_facts(r->container_id, ctr, env->arg) == 0)
			in->ctr = ctr;
	} else if (strcmp(request_name, "CopyFileRequest") == 0 &&
		   msg->descriptor == &grpc__copy_file_request__descriptor) {
		in->copy_path = ((const Grpc__CopyFileRequest *)(const void *)msg)->path;
	}
	return 0;
nomem:
	(void)snprintf(why, whylen, "%s is blocked by policy: out of memory", request_name);
	return -1;
}

static void deny_log(const char *why)
{
	sp_info("policy.deny", "%s", why);
}

bool sp_agent_policy_judge(const struct sp_policy *p, struct sp_gate_env *env,
			   const char *request_name, const ProtobufCMessage *msg,
			   struct sp_verdict *v)
{
	struct sp_policy_input in = { 0 };
	struct sp_policy_ctr ctr = { 0 };
	bool allow = false;

	memset(v, 0, sizeof(*v));
	if (fill_input(request_name, msg, &in, &ctr, env, v->why, sizeof(v->why)) == 0)
		allow = sp_policy_check(p, &env->st, request_name, &in, v);
	v->allow = allow;
	free((void *)in.caps);
	free((void *)in.mounts);
	free((void *)in.sysctls);
	return allow;
}

int sp_agent_policy_gate(const char *request_name, const ProtobufCMessage *msg,
			 struct sp_verdict *v)
{
	struct sp_gate_env env;
	const struct sp_policy *p = current();

	memset(v, 0, sizeof(*v));
	if (!p) {
		(void)snprintf(v->why, sizeof(v->why),
			       "%s is blocked by policy: no policy is loaded", request_name);
		deny_log(v->why);
		return -1;
	}
	read_state(&env);
	if (!sp_agent_policy_judge(p, &env, request_name, msg, v)) {
		deny_log(v->why);
		return -1;
	}
	if (strcmp(request_name, "CreateContainerRequest") == 0)
		container_accepted = true;
	sp_debug("policy", "%s", v->why);
	return 0;
}

/* --- SetPolicy --------------------------------------------------------------------------------- */

int sp_agent_set_policy(struct tt_call *call, const Sealpod__PolicyForm *form,
			const struct sp_verdict *verdict)
{
	struct sp_gate_env env;
	struct sp_err err;

	(void)verdict;
	if (!current())
		return tt_call_failf(call, SP_E_DENIED,
				     "SetPolicyRequest is blocked by policy: no policy is loaded");
	read_state(&env);
	/* Measured before it is in force, as initdata is: the evidence then shows every policy
	 * this guest may have enforced (RTMR3 or PCR23; nothing where there is no register).
	 * PID 1 never sees the document, only its fixed form: that is what is measured. */
	if (sp_attest_measure_policy(&form->base, &err) < 0) {
		sp_warn("policy", "SetPolicy refused, the %s stays in force: %s",
			sp_policy_describe(policy), err.msg);
		return tt_call_failf(call, SP_E_INVALID, "SetPolicy: %s", err.msg);
	}
	/* On any failure the policy in force stays as it was. The document was parsed by the
	 * front-end; PID 1 builds the policy from its fixed form (policy/policy_form.c). */
	if (sp_policy_replace_form(&policy, &env.st, &form->base, &err) < 0) {
		/* The policy module escaped the host text in its message already. */
		if (err.kind == SP_E_DENIED) {
			deny_log(err.msg);
			return tt_call_fail(call, &err);
		}
		sp_warn("policy", "SetPolicy refused, the %s stays in force: %s",
			sp_policy_describe(policy), err.msg);
		return tt_call_failf(call, SP_E_INVALID, "SetPolicy: %s", err.msg);
	}
	sp_info("policy", "SetPolicy: now %s (%llu bytes)", sp_policy_describe(policy),
		(unsigned long long)form->length);
	for (size_t i = 0; i < sp_policy_nwarnings(policy); i++)
		sp_warn("policy", "%s", sp_policy_warning(policy, i));
	return tt_call_reply(call, NULL);
}
