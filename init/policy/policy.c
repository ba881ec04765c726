#define _GNU_SOURCE
#include "policy/policy_int.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/caps.h"
#include "lib/log.h"
#include "lib/validate.h"

#define A SP_RULE_ALLOW
#define D SP_RULE_DENY
/* The built-in default (DESIGN.md): what Kata's shim needs is allowed; the requests a host could
 * use to reach into a confidential pod or to weaken the guest are denied. SetPolicyRequest is
 * allowed here and limited by sp_policy_set_allowed() (until the first container or attestation).
 * CopyFileRequest is allowed only beneath the shared-files prefix (a constraint of every policy).
 * UpdateEphemeralMountsRequest is allowed: the shim tolerates UNIMPLEMENTED from it but not
 * PERMISSION_DENIED. GetDiagnosticDataRequest is allowed: both shims ask for the termination log
 * at every container stop, and the handler serves only that text (POLICY.md). */
const struct sp_request_info sp_requests[] = {
	{ "CreateContainer", "CreateContainerRequest", A },
	{ "StartContainer", "StartContainerRequest", A },
	{ "RemoveContainer", "RemoveContainerRequest", A },
	{ "ExecProcess", "ExecProcessRequest", D },
	{ "SignalProcess", "SignalProcessRequest", A },
	{ "WaitProcess", "WaitProcessRequest", A },
	{ "UpdateContainer", "UpdateContainerRequest", A },
	{ "UpdateEphemeralMounts", "UpdateEphemeralMountsRequest", A },
	{ "StatsContainer", "StatsContainerRequest", A },
	{ "PauseContainer", "PauseContainerRequest", A },
	{ "ResumeContainer", "ResumeContainerRequest", A },
	{ "RemoveStaleVirtiofsShareMounts", "RemoveStaleVirtiofsShareMountsRequest", A },
	{ "WriteStdin", "WriteStreamRequest", A },
	{ "ReadStdout", "ReadStreamRequest", A },
	{ "CloseStdin", "CloseStdinRequest", A },
	{ "TtyWinResize", "TtyWinResizeRequest", A },
	{ "UpdateInterface", "UpdateInterfaceRequest", A },
	{ "UpdateRoutes", "UpdateRoutesRequest", A },
	{ "ListInterfaces", "ListInterfacesRequest", A },
	{ "ListRoutes", "ListRoutesRequest", A },
	{ "AddARPNeighbors", "AddARPNeighborsRequest", A },
	{ "GetIPTables", "GetIPTablesRequest", A },
	{ "SetIPTables", "SetIPTablesRequest", A },
	{ "GetMetrics", "GetMetricsRequest", A },
	{ "CreateSandbox", "CreateSandboxRequest", A },
	{ "DestroySandbox", "DestroySandboxRequest", A },
	{ "OnlineCPUMem", "OnlineCPUMemRequest", A },
	{ "ReseedRandomDev", "ReseedRandomDevRequest", D },
	{ "GetGuestDetails", "GuestDetailsRequest", A },
	{ "MemHotplugByProbe", "MemHotplugByProbeRequest", D },
	{ "SetGuestDateTime", "SetGuestDateTimeRequest", D },
	{ "CopyFile", "CopyFileRequest", A },
	{ "GetOOMEvent", "GetOOMEventRequest", A },
	{ "AddSwap", "AddSwapRequest", D },
	{ "AddSwapPath", "AddSwapPathRequest", D },
	{ "GetVolumeStats", "VolumeStatsRequest", A },
	{ "ResizeVolume", "ResizeVolumeRequest", A },
	{ "SetPolicy", "SetPolicyRequest", A },
	{ "GetDiagnosticData", "GetDiagnosticDataRequest", A },
	{ "MemAgentMemcgSet", "MemAgentMemcgConfig", A },
	{ "MemAgentCompactSet", "MemAgentCompactConfig", A },
	{ "StartTracing", "StartTracingRequest", A },
	{ "StopTracing", "StopTracingRequest", A },
};
#undef A
#undef D
const size_t sp_nrequests = sizeof(sp_requests) / sizeof(sp_requests[0]);

#define CHECK_REQUEST "CheckRequest" /* grpc.Health: Check and Version; never gated */

#define MAX_INPUT_ITEMS 4096 /* argv, env or caps entries in one request that we look at */

int sp_request_index(const char *request)
{
	if (!request)
		return -1;
	for (size_t i = 0; i < sp_nrequests; i++)
		if (strcmp(sp_requests[i].request, request) == 0)
			return (int)i;
	return -1;
}

const char *sp_policy_request_name(const char *method)
{
	if (!method)
		return NULL;
	if (strcmp(method, "Check") == 0 || strcmp(method, "Version") == 0)
		return CHECK_REQUEST;
	if (strcmp(method, "ReadStderr") == 0)
		return "ReadStreamRequest";
	for (size_t i = 0; i < sp_nrequests; i++)
		if (strcmp(sp_requests[i].method, method) == 0)
			return sp_requests[i].request;
	return NULL;
}

bool sp_policy_known_request(const char *request)
{
	return request && (sp_request_index(request) >= 0 || strcmp(request, CHECK_REQUEST) == 0);
}

/* --- the arena -------------------------------------------------------------------------------- */
struct sp_arena_chunk {
	struct sp_arena_chunk *next;
	max_align_t data[];
};

void *sp_policy_alloc(struct sp_policy *p, size_t size)
{
	struct sp_arena_chunk *c;

	if (size > SIZE_MAX / 2)
		return NULL;
	c = calloc(1, sizeof(*c) + size);
	if (!c)
		return NULL;
	c->next = p->arena;
	p->arena = c;
	return c->data;
}

char *sp_policy_strndup(struct sp_policy *p, const char *s, size_t len)
{
	char *d = sp_policy_alloc(p, len + 1);

	if (d)
		memcpy(d, s, len);
	return d;
}

struct sp_policy *sp_policy_new(enum sp_policy_source source)
{
	struct sp_policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->source = source;
	p->def = SP_RULE_DENY;
	/* Co-tenants of the sandbox's pid namespace each live in a Landlock domain of their own
	 * (runtime/child.c), so sharing it is allowed unless a JSON document says otherwise. */
	p->allow_sandbox_pidns = true;
	p->rules = sp_policy_alloc(p, sp_nrequests * sizeof(*p->rules));
	if (!p->rules) {
		sp_policy_free(p);
		return NULL;
	}
	(void)snprintf(p->copy_prefix, sizeof(p->copy_prefix), "%s", SP_SHARED_PREFIX);
	return p;
}

void sp_policy_free(struct sp_policy *p)
{
	if (!p)
		return;
	for (struct sp_arena_chunk *c = p->arena, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(p);
}

void sp_policy_warn(struct sp_policy *p, const char *fmt, ...)
{
	va_list ap;

	if (p->nwarnings >= SP_POLICY_MAX_WARNINGS)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(p->warnings[p->nwarnings++], sizeof(p->warnings[0]), fmt, ap);
	va_end(ap);
}

int sp_policy_doc_ok(const char *doc, size_t len, const char *what, struct sp_err *err)
{
	if (!doc && len)
		return sp_error(err, 0, "%s: no document", what);
	if (len > SP_POLICY_MAX_DOC)
		return sp_error(err, 0, "%s: document is %zu bytes, over the %zu byte limit", what,
				len, SP_POLICY_MAX_DOC);
	if (len && memchr(doc, '\0', len))
		return sp_error(err, 0, "%s: document contains a NUL byte", what);
	return 0;
}

int sp_policy_builtin(struct sp_policy **out, struct sp_err *err)
{
	struct sp_policy *p = sp_policy_new(SP_POLICY_BUILTIN);

	if (!p)
		return sp_error(err, ENOMEM, "built-in policy");
	for (size_t i = 0; i < sp_nrequests; i++)
		p->rules[i] = sp_requests[i].builtin;
	*out = p;
	return 0;
}

int sp_policy_load(const char *doc, size_t len, struct sp_policy **out, struct sp_err *err)
{
	size_t i = 0;

	while (doc && i < len &&
	       (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\r' || doc[i] == '\n'))
		i++;
	if (doc && i < len && doc[i] == '{')
		return sp_policy_load_json(doc, len, out, err);
	return sp_policy_load_rego(doc, len, out, err);
}

enum sp_policy_source sp_policy_source(const struct sp_policy *p)
{
	return p->source;
}

const char *sp_policy_describe(const struct sp_policy *p)
{
	switch (p->source) {
	case SP_POLICY_BUILTIN:
		return "built-in default";
	case SP_POLICY_JSON:
		return "sealpod JSON policy";
	case SP_POLICY_REGO:
		return "Rego defaults-only policy";
	}
	return "unknown";
}

bool sp_policy_requires_attestation(const struct sp_policy *p)
{
	return p->require_attestation;
}

bool sp_policy_requires_encrypted_storage(const struct sp_policy *p)
{
	return p->require_encrypted_storage;
}

void sp_policy_pin(const struct sp_policy *p, struct sp_policy_pin *out)
{
	out->enabled = p && p->pin_process;
	out->allow_args_override = out->enabled && p->pin_args_override;
	out->allow_extra_env = out->enabled && p->pin_extra_env;
	out->allow_workdir_override = out->enabled && p->pin_workdir_override;
	out->nextra_gids = 0;
	if (out->enabled) {
		out->nextra_gids = p->pin_extra_gids.n;
		memcpy(out->extra_gids, p->pin_extra_gids.v, sizeof(out->extra_gids));
	}
}

size_t sp_policy_nwarnings(const struct sp_policy *p)
{
	return p->nwarnings;
}

const char *sp_policy_warning(const struct sp_policy *p, size_t i)
{
	return i < p->nwarnings ? p->warnings[i] : NULL;
}

/* --- checking ---------------------------------------------------------------------------------- */
/* What one constraint decided: D_PENDING is "allowed once the digest is one of those pinned". */
#define decision  sp_decision
#define D_DENY	  SP_D_DENY
#define D_ALLOW	  SP_D_ALLOW
#define D_PENDING SP_D_PENDING
#define ESC_MAX	  SP_ESC_MAX
#define esc	  sp_policy_esc

const char *sp_policy_esc(char buf[SP_ESC_MAX], const char *s)
{
	if (!s)
		return "(none)";
	sp_log_escape(buf, SP_ESC_MAX, s, strnlen(s, SP_PATH_MAX + 1));
	return buf;
}

void sp_policy_say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

#define DENY(...)                                                                                  \
	do {                                                                                       \
		sp_policy_say(why, whylen, __VA_ARGS__);                                           \
		return D_DENY;                                                                     \
	} while (0)

static enum decision rule_verdict(const struct sp_policy *p, int idx, char *why, size_t whylen)
{
	const char *name = sp_requests[idx].request;
	enum sp_rule r = p->rules[idx];

	if (r == SP_RULE_ALLOW) {
		sp_policy_say(why, whylen, "%s allowed by rule '%s'", name, name);
		return D_ALLOW;
	}
	if (r == SP_RULE_UNSET && p->def == SP_RULE_ALLOW) {
		sp_policy_say(why, whylen, "%s allowed by default = allow", name);
		return D_ALLOW;
	}
	switch (p->source) {
	case SP_POLICY_BUILTIN:
		DENY("%s is blocked by policy: the built-in default policy denies %s", name, name);
	case SP_POLICY_REGO:
		if (r == SP_RULE_DENY)
			DENY("%s is blocked by policy: rule '%s' = false", name, name);
		DENY("%s is blocked by policy: the Rego policy has no rule '%s' (a request without "
		     "a rule is denied)",
		     name, name);
	case SP_POLICY_JSON:
		if (r == SP_RULE_DENY)
			DENY("%s is blocked by policy: rule '%s' = deny", name, name);
		DENY("%s is blocked by policy: '%s' has no rule and default = deny", name, name);
	}
	DENY("%s is blocked by policy", name);
}

bool sp_policy_set_allowed(const struct sp_policy *cur, const struct sp_policy_state *st, char *why,
			   size_t whylen)
{
	int idx = sp_request_index("SetPolicyRequest");

	if (!cur || !st) {
		sp_policy_say(why, whylen,
			      "SetPolicyRequest is blocked by policy: no current policy or state");
		return false;
	}
	if (st->from_initdata || st->initdata) {
		sp_policy_say(why, whylen,
			      "SetPolicyRequest is blocked by policy: %s (the KBS attests that "
			      "initdata as "
			      "describing this guest)",
			      st->from_initdata ? "the policy in force came from verified initdata"
						: "verified initdata is present");
		return false;
	}
	if (st->attested || st->attestation_coming || st->attestation_configured) {
		sp_policy_say(why, whylen,
			      "SetPolicyRequest is blocked by policy: attestation %s (the attested "
			      "guest "
			      "must keep running the policy it booted with)",
			      st->attested ? "has happened" : "is configured");
		return false;
	}
	if (st->first_container_created) {
		sp_policy_say(why, whylen,
			      "SetPolicyRequest is blocked by policy: a container has already been "
			      "created");
		return false;
	}
	return rule_verdict(cur, idx, why, whylen) == D_ALLOW;
}

static enum decision check_caps(const struct sp_policy *p, const char *request,
				const struct sp_policy_input *in, char *why, size_t whylen)
{
	char b[ESC_MAX];

	if (in->ncaps && !in->caps)
		DENY("%s is blocked by policy: capability list missing", request);
	if (in->ncaps > MAX_INPUT_ITEMS)
		DENY("%s is blocked by policy: %zu capabilities requested", request, in->ncaps);
	for (size_t i = 0; i < in->ncaps; i++) {
		int c = sp_cap_from_name(in->caps[i]);

		if (c >= 0 && ((sp_cap_default_set | p->extra_caps) & (1ULL << c)))
			continue;
		/* Forced, not refused: containerd names it in every spec, so the runtime drops it
		 * from the sets unless the policy consents (runtime/caps.c). */
		if (c == CAP_NET_RAW)
			continue;
		DENY("%s is blocked by policy: capability '%s' is beyond the default set and not "
		     "in "
		     "allow_privileged_capabilities",
		     request, esc(b, in->caps[i]));
	}
	return D_ALLOW;
}

bool sp_strv_equal(const struct sp_strv *want, const char *const *v, size_t n)
{
	if (want->n != n || (n && !v))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!v[i] || strcmp(want->v[i], v[i]) != 0)
			return false;
	return true;
}

bool sp_env_match(const char *pin, const char *e)
{
	size_t n = strlen(pin);

	if (n >= 2 && pin[n - 1] == '*' && pin[n - 2] == '=')
		return strncmp(pin, e, n - 1) == 0;
	return strcmp(pin, e) == 0;
}

/* The same set (in any order, a gid listed twice counts once). */
static bool gids_equal(const struct sp_gidv *want, const uint32_t *v, size_t n)
{
	if (n && !v)
		return false;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < want->n && want->v[j] != v[i])
			j++;
		if (j == want->n)
			return false;
	}
	for (size_t j = 0; j < want->n; j++) {
		size_t i = 0;

		while (i < n && v[i] != want->v[j])
			i++;
		if (i == n)
			return false;
	}
	return true;
}

/* What the request says against what the entry pins, when they differ: a bool pinned exactly. */
static const char *flag_mismatch(bool pinned, bool want, bool got, const char *if_got_false,
				 const char *if_got_true)
{
	if (!pinned || want == got)
		return NULL;
	return got ? if_got_true : if_got_false;
}

static bool env_mismatch(const struct sp_policy_image *im, const struct sp_policy_input *in)
{
	if (in->envc > MAX_INPUT_ITEMS || (in->envc && !in->env))
		return true;
	for (size_t i = 0; i < in->envc; i++) {
		size_t j = 0;

		if (!in->env[i])
			return true;
		while (j < im->env.n && !sp_env_match(im->env.v[j], in->env[i]))
			j++;
		if (j == im->env.n)
			return true;
	}
	for (size_t j = 0; j < im->env.n; j++) {
		size_t n = strlen(im->env.v[j]), i = 0;

		if (n >= 2 && im->env.v[j][n - 1] == '*' && im->env.v[j][n - 2] == '=')
			continue;
		while (i < in->envc && strcmp(im->env.v[j], in->env[i]) != 0)
			i++;
		if (i == in->envc)
			return true;
	}
	return false;
}

/* Returns NULL when the process and root match the pinned ones, else what differs. */
static const char *process_mismatch(const struct sp_policy_image *im,
				    const struct sp_policy_input *in)
{
	const char *m;

	if (im->pin_args && !sp_strv_equal(&im->args, in->argv, in->argc))
		return "the process args differ from the one pinned";
	if (im->pin_env && env_mismatch(im, in))
		return "the process env differ from the one pinned";
	if (im->pin_user && (!in->has_user || in->uid != im->uid || in->gid != im->gid))
		return "the process user differ from the one pinned";
	if (im->pin_gids && !gids_equal(&im->gids, in->gids, in->ngids))
		return "the process additional gids differ from the one pinned";
	if (im->cwd && strcmp(im->cwd, in->cwd ? in->cwd : "") != 0)
		return "the process cwd differ from the one pinned";
	m = flag_mismatch(im->pin_nnp, im->nnp, in->no_new_privs,
			  "no_new_privileges is false, the policy pins true",
			  "no_new_privileges is true, the policy pins false");
	if (m)
		return m;
	return flag_mismatch(im->pin_ro_root, im->ro_root, in->root_readonly,
			     "read_only_root is false, the policy pins true",
			     "read_only_root is true, the policy pins false");
}

/* The digest a reference of the form name@sha256:<hex> carries, or NULL. */
static const char *ref_digest(const char *ref)
{
	const char *at = strrchr(ref, '@');

	return at && at[1] ? at + 1 : NULL;
}

/* allowed_images. An entry that would allow the request once its digest is known puts that
 * digest into v->pinned (D_PENDING). */
static enum decision check_image(const struct sp_policy *p, const struct sp_policy_input *in,
				 struct sp_verdict *v, char *why, size_t whylen)
{
	const char *R = "CreateContainerRequest";
	const char *digest, *mismatch = NULL;
	char b[ESC_MAX];

	if (!p->has_images)
		return D_ALLOW;
	/* The sandbox container runs the pause program shipped in the measured initramfs: only a
	 * guest pull of "pause" means that (what an annotation says grants nothing). */
	if (in->builtin_pause)
		return D_ALLOW;
	if (!in->image_ref || !in->image_ref[0])
		DENY("%s is blocked by policy: no image reference in the request (allowed_images "
		     "is set)",
		     R);
	/* Without a guest pull nothing ever checks what the image is: the reference would be the
	 * host's annotation and no digest would come. */
	if (!in->image_pulled)
		DENY("%s is blocked by policy: image '%s' is not pulled in the guest (no "
		     "image_guest_pull storage) and allowed_images is set",
		     R, esc(b, in->image_ref));
	digest = in->image_digest ? in->image_digest : ref_digest(in->image_ref);
	v->npinned = 0;
	for (size_t i = 0; i < p->nimages; i++) {
		const struct sp_policy_image *im = &p->images[i];
		const char *m;

		if (im->reference && strcmp(im->reference, in->image_ref) != 0)
			continue;
		if (im->digest && digest && strcmp(im->digest, digest) != 0)
			continue;
		m = process_mismatch(im, in);
		if (m) {
			mismatch = m;
			continue;
		}
		if (im->digest && !digest) {
			if (v->npinned < SP_POLICY_MAX_IMAGES)
				v->pinned[v->npinned++] = im->digest;
			continue;
		}
		sp_policy_say(why, whylen, "%s allowed: image '%s' matches allowed_images[%zu]", R,
			      esc(b, in->image_ref), i);
		v->npinned = 0;
		return D_ALLOW;
	}
	if (v->npinned) {
		sp_policy_say(why, whylen, "%s allowed pending the digest of image '%s'", R,
			      esc(b, in->image_ref));
		return D_PENDING;
	}
	if (mismatch)
		DENY("%s is blocked by policy: %s for image '%s'", R, mismatch,
		     esc(b, in->image_ref));
	if (digest) {
		char d[ESC_MAX];

		DENY("%s is blocked by policy: image '%s' (digest '%s') is not in allowed_images",
		     R, esc(b, in->image_ref), esc(d, digest));
	}
	DENY("%s is blocked by policy: image '%s' is not in allowed_images", R,
	     esc(b, in->image_ref));
}

static enum decision check_copy(const struct sp_policy *p, const struct sp_policy_input *in,
				char *why, size_t whylen)
{
	const char *reason = NULL;
	char b[ESC_MAX];
	size_t len;

	if (!in->copy_path)
		DENY("CopyFileRequest is blocked by policy: no path in the request");
	len = in->copy_path_len ? in->copy_path_len : strnlen(in->copy_path, SP_PATH_MAX + 1);
	if (sp_path_beneathn(in->copy_path, len, p->copy_prefix, NULL, &reason) < 0)
		DENY("CopyFileRequest is blocked by policy: path '%s' %s (allowed: beneath %s)",
		     esc(b, in->copy_path), reason, p->copy_prefix);
	return D_ALLOW;
}

/* require_attestation and require_encrypted_storage: met now, met by the time the container
 * is created (an obligation for the caller), or refused. The sandbox's built-in pause writes
 * nothing: it needs no encrypted storage. */
static enum decision check_requires(const struct sp_policy *p, const struct sp_policy_state *st,
				    const struct sp_policy_input *in, struct sp_verdict *v,
				    char *why, size_t whylen)
{
	const char *R = "CreateContainerRequest";

	if (p->require_attestation && !st->attested) {
		if (!st->attestation_coming)
			DENY("%s is blocked by policy: require_attestation is set and the guest "
			     "has "
			     "not attested",
			     R);
		v->needs |= SP_NEED_ATTESTATION;
	}
	if (p->require_encrypted_storage && !st->encrypted_storage && !in->builtin_pause) {
		if (!st->encryption_coming)
			DENY("%s is blocked by policy: require_encrypted_storage is set and there "
			     "is no encrypted disk",
			     R);
		v->needs |= SP_NEED_ENCRYPTED_STORAGE;
	}
	if (p->require_encrypted_layers && !in->builtin_pause)
		v->needs |= SP_NEED_ENCRYPTED_LAYERS;
	return D_ALLOW;
}

static enum decision check_request(const struct sp_policy *p, const struct sp_policy_state *st,
				   const char *request, const struct sp_policy_input *in,
				   struct sp_verdict *v, char *why, size_t whylen)
{
	enum decision d;
	char b[ESC_MAX];
	int idx;

	if (!p || !request)
		DENY("request is blocked by policy: no policy or no request name");
	if (strcmp(request, CHECK_REQUEST) == 0) {
		sp_policy_say(why, whylen, "%s is never gated", CHECK_REQUEST);
		return D_ALLOW;
	}
	idx = sp_request_index(request);
	if (idx < 0)
		DENY("%s is blocked by policy: unknown request", esc(b, request));
	if (strcmp(request, "SetPolicyRequest") == 0)
		return sp_policy_set_allowed(p, st, why, whylen) ? D_ALLOW : D_DENY;
	d = rule_verdict(p, idx, why, whylen);
	if (d != D_ALLOW)
		return d;
	if (strcmp(request, "CreateContainerRequest") == 0) {
		if (check_requires(p, st, in, v, why, whylen) != D_ALLOW ||
		    check_caps(p, request, in, why, whylen) != D_ALLOW ||
		    sp_judge_pidns(p, in, why, whylen) != D_ALLOW ||
		    sp_judge_mounts(p, in, v, why, whylen) != D_ALLOW ||
		    sp_judge_sysctls(p, in, why, whylen) != D_ALLOW)
			return D_DENY;
		return check_image(p, in, v, why, whylen);
	}
	if (strcmp(request, "ExecProcessRequest") == 0) {
		if (check_caps(p, request, in, why, whylen) != D_ALLOW ||
		    sp_judge_exec(p, in, why, whylen) != D_ALLOW)
			return D_DENY;
		sp_policy_say(why, whylen, "%s allowed", request);
		return D_ALLOW;
	}
	if (strcmp(request, "CopyFileRequest") == 0) {
		if (check_copy(p, in, why, whylen) != D_ALLOW)
			return D_DENY;
		sp_policy_say(why, whylen, "%s allowed beneath %s", request, p->copy_prefix);
	}
	return D_ALLOW;
}

bool sp_policy_check(const struct sp_policy *p, const struct sp_policy_state *st,
		     const char *request, const struct sp_policy_input *in, struct sp_verdict *v)
{
	static const struct sp_policy_input none;
	static const struct sp_policy_state fresh;
	enum decision d;

	memset(v, 0, sizeof(*v));
	d = check_request(p, st ? st : &fresh, request, in ? in : &none, v, v->why, sizeof(v->why));
	if (d == D_DENY) {
		v->needs = 0;
		v->npinned = 0;
		memset(v->mount_exec, 0, sizeof(v->mount_exec));
		v->mounts_judged = false;
		return false;
	}
	if (d == D_PENDING)
		v->needs |= SP_NEED_DIGEST;
	else
		v->npinned = 0;
	v->allow = true;
	v->consented_caps = p->extra_caps;
	sp_policy_pin(p, &v->pin);
	return true;
}

bool sp_policy_digest_allowed(const struct sp_verdict *v, const char *digest)
{
	if (!(v->needs & SP_NEED_DIGEST))
		return true;
	for (size_t i = 0; digest && i < v->npinned; i++)
		if (v->pinned[i] && strcmp(v->pinned[i], digest) == 0)
			return true;
	return false;
}

int sp_policy_replace(struct sp_policy **cur, const struct sp_policy_state *st, const char *doc,
		      size_t len, struct sp_err *err)
{
	struct sp_policy *next = NULL;
	char why[SP_POLICY_WHY_MAX];

	if (!cur || !*cur)
		return sp_fail(err, SP_E_DENIED, 0, "SetPolicyRequest: no current policy");
	if (!sp_policy_set_allowed(*cur, st, why, sizeof(why))) {
		sp_fail(err, SP_E_DENIED, 0, "%s", why);
		return sp_err_stage(err, SP_STAGE_POLICY_DENY);
	}
	if (sp_policy_load(doc, len, &next, err) < 0)
		return sp_err_kind(err, SP_E_INVALID);
	sp_policy_free(*cur);
	*cur = next;
	return 0;
}

int sp_policy_replace_form(struct sp_policy **cur, const struct sp_policy_state *st,
			   const struct ProtobufCMessage *form, struct sp_err *err)
{
	struct sp_policy *next = NULL;
	char why[SP_POLICY_WHY_MAX];

	if (!cur || !*cur)
		return sp_fail(err, SP_E_DENIED, 0, "SetPolicyRequest: no current policy");
	if (!sp_policy_set_allowed(*cur, st, why, sizeof(why))) {
		sp_fail(err, SP_E_DENIED, 0, "%s", why);
		return sp_err_stage(err, SP_STAGE_POLICY_DENY);
	}
	if (sp_policy_form_load(form, &next, err) < 0)
		return sp_err_kind(err, SP_E_INVALID);
	sp_policy_free(*cur);
	*cur = next;
	return 0;
}
