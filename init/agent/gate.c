/* The policy gate (see gate.h and service.h): what each request shows the policy, the verdict,
 * the console line for a denial, and the SetPolicy handler. */
#define _GNU_SOURCE
#include "agent/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/service.h"
#include "attest/attest.h"
#include "storage/storage.h"
#include "lib/log.h"

static struct sp_policy *policy;
static struct sp_policy_state state;

void sp_agent_install_policy(struct sp_policy *p)
{
	if (p == policy)
		return;
	sp_policy_free(policy);
	policy = p;
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

const struct sp_policy_state *sp_agent_policy_state(void)
{
	return &state;
}

void sp_agent_note_attested(void)
{
	state.attested = true;
}

void sp_agent_note_container_created(void)
{
	state.first_container_created = true;
}

void sp_agent_note_encrypted_storage(void)
{
	state.encrypted_storage = true;
}

#ifdef SEALPOD_HOST_BUILD
void sp_agent_gate_reset(void)
{
	sp_policy_free(policy);
	policy = NULL;
	memset(&state, 0, sizeof(state));
}
#endif

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
	if (proc->user) {
		in->has_user = true;
		in->uid = proc->user->uid;
		in->gid = proc->user->gid;
	}
	if (proc->capabilities) {
		const char **caps;

		if (collect_caps(proc->capabilities, &caps, &in->ncaps) < 0)
			return -1;
		in->caps = caps;
	}
	return 0;
}

static const char *annotation(const Grpc__Spec *spec, const char *key)
{
	for (size_t i = 0; spec && i < spec->n_annotations; i++)
		if (spec->annotations[i]->key && strcmp(spec->annotations[i]->key, key) == 0)
			return spec->annotations[i]->value;
	return NULL;
}

/* The image reference: the source of the image_guest_pull Storage (what the guest will pull),
 * else the CRI image-name annotation. Two guest-pull storages are ambiguous: refused. */
static int image_ref(const Grpc__CreateContainerRequest *req, const char **ref, char *why,
		     size_t whylen)
{
	*ref = NULL;
	for (size_t i = 0; i < req->n_storages; i++) {
		if (strcmp(req->storages[i]->driver, "image_guest_pull") != 0)
			continue;
		if (*ref) {
			(void)snprintf(why, whylen,
				       "CreateContainerRequest is blocked by policy: more than one "
				       "image_guest_pull storage");
			return -1;
		}
		*ref = req->storages[i]->source;
	}
	if (!*ref)
		*ref = annotation(req->oci, "io.kubernetes.cri.image-name");
	if (!*ref)
		*ref = annotation(req->oci, "io.kubernetes.cri-o.ImageName");
	return 0;
}

/* The pod storage will be encrypted by the time this CreateContainer's preparation ends. */
static bool encryption_coming(const Grpc__CreateContainerRequest *r)
{
	if (sp_storage_encryption_pending && sp_storage_encryption_pending())
		return true;
	for (size_t i = 0; i < r->n_devices; i++)
		if (r->devices[i]->container_path &&
		    strcmp(r->devices[i]->container_path, "/dev/trusted_store") == 0)
			return true;
	return false;
}

bool sp_agent_encrypted_storage_required(void)
{
	const struct sp_policy *p = current();

	return p && sp_policy_requires_encrypted_storage(p);
}

/* Fills in from msg, the decoded request_name. Returns -1 with why for a request that cannot
 * be judged (the message is then denied). */
static int fill_input(const char *request_name, const ProtobufCMessage *msg,
		      struct sp_policy_input *in, char *why, size_t whylen)
{
	if (strcmp(request_name, "CreateContainerRequest") == 0 &&
	    msg->descriptor == &grpc__create_container_request__descriptor) {
		const Grpc__CreateContainerRequest *r = (const void *)msg;

		if (image_ref(r, &in->image_ref, why, whylen) < 0)
			return -1;
		if (r->oci && process_input(r->oci->process, in) < 0)
			goto nomem;
	} else if (strcmp(request_name, "ExecProcessRequest") == 0 &&
		   msg->descriptor == &grpc__exec_process_request__descriptor) {
		if (process_input(((const Grpc__ExecProcessRequest *)(const void *)msg)->process,
				  in) < 0)
			goto nomem;
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

int sp_agent_policy_gate(const char *request_name, const ProtobufCMessage *msg, char *why,
			 size_t whylen)
{
	struct sp_policy_input in = { 0 };
	const struct sp_policy *p = current();
	enum sp_verdict v;
	int ret = -1;

	if (!p) {
		(void)snprintf(why, whylen, "%s is blocked by policy: no policy is loaded",
			       request_name);
		deny_log(why);
		return -1;
	}
	if (fill_input(request_name, msg, &in, why, whylen) < 0) {
		deny_log(why);
		goto out;
	}
	{
		/* require_attestation and an attestation not yet run (it starts lazily with the
		 * first CreateContainer) or under way: the request's preparation waits for it
		 * (runtime/prepare.c's attestation gate, first of its steps) and is refused if it
		 * fails, so the policy lets it reach that gate instead of refusing the very
		 * request that starts the attestation. */
		struct sp_policy_state st = state;

		if (strcmp(request_name, "CreateContainerRequest") == 0 && !st.attested &&
		    sp_attest_pending && sp_attest_pending())
			st.attested = true;
		/* require_encrypted_storage likewise: the pod disk is still being formatted, or
		 * this request brings Kata's trusted store, or it is the sandbox's built-in pause
		 * (it writes nothing). The preparation's last step checks that the pod storage
		 * really is encrypted (sp_agent_encrypted_storage_required). */
		if (strcmp(request_name, "CreateContainerRequest") == 0 && !st.encrypted_storage &&
		    (encryption_coming((const Grpc__CreateContainerRequest *)(const void *)msg) ||
		     (in.image_ref && strcmp(in.image_ref, "pause") == 0)))
			st.encrypted_storage = true;
		v = sp_policy_check(p, &st, request_name, &in, why, whylen);
	}
	if (v == SP_POLICY_DENY) {
		deny_log(why);
		goto out;
	}
	if (strcmp(request_name, "CreateContainerRequest") == 0)
		state.first_container_created = true;
	sp_debug("policy", "%s", why);
	ret = 0;
out:
	free((void *)in.caps);
	return ret;
}

int sp_agent_policy_recheck_image(const Grpc__CreateContainerRequest *req, const char *digest,
				  char *why, size_t whylen)
{
	struct sp_policy_input in = { 0 };
	const struct sp_policy *p = current();
	enum sp_verdict v = SP_POLICY_DENY;

	if (!p) {
		(void)snprintf(why, whylen,
			       "CreateContainerRequest is blocked by policy: no policy is loaded");
	} else if (fill_input("CreateContainerRequest", &req->base, &in, why, whylen) == 0) {
		in.image_digest = digest;
		v = sp_policy_check(p, &state, "CreateContainerRequest", &in, why, whylen);
		/* Still pending means the digest given does not settle it: refuse. */
		if (v == SP_POLICY_ALLOW_NEEDS_DIGEST) {
			(void)snprintf(why, whylen,
				       "CreateContainerRequest is blocked by policy: no digest for "
				       "an image whose allowed_images entry pins one");
			v = SP_POLICY_DENY;
		}
	}
	free((void *)in.caps);
	if (v != SP_POLICY_ALLOW) {
		deny_log(why);
		return -1;
	}
	return 0;
}

/* --- SetPolicy --------------------------------------------------------------------------------- */

#define DENIED_PREFIX "SetPolicyRequest is blocked by policy"

int sp_agent_set_policy(struct tt_call *call, const Grpc__SetPolicyRequest *req)
{
	size_t len = strlen(req->policy);
	struct sp_err err;
	char msg[sizeof(err.msg)];

	if (!current())
		return tt_call_error(call, TT_PERMISSION_DENIED,
				     DENIED_PREFIX ": no policy is loaded");
	/* On any failure the policy in force stays as it was. */
	if (sp_policy_replace(&policy, &state, req->policy, len, &err) < 0) {
		/* The policy module escaped the host text in its message already. */
		(void)snprintf(msg, sizeof(msg), "%s", err.msg);
		if (strncmp(msg, DENIED_PREFIX, strlen(DENIED_PREFIX)) == 0) {
			deny_log(msg);
			return tt_call_error(call, TT_PERMISSION_DENIED, "%s", msg);
		}
		sp_warn("policy", "SetPolicy refused, the %s stays in force: %s",
			sp_policy_describe(policy), msg);
		return tt_call_error(call, TT_INVALID_ARGUMENT, "SetPolicy: %s", msg);
	}
	sp_info("policy", "SetPolicy: now %s (%zu bytes)", sp_policy_describe(policy), len);
	for (size_t i = 0; i < sp_policy_nwarnings(policy); i++)
		sp_warn("policy", "%s", sp_policy_warning(policy, i));
	return tt_call_reply(call, NULL);
}
