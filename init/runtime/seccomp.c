/* seccomp through libseccomp: the OCI profile when the spec has one, and always a second filter
 * that denies socket(AF_VSOCK, ...) (the control port is the host's, never a container's) and
 * io_uring (whose IORING_OP_SOCKET would open sockets without the socket syscall). The kernel
 * runs every loaded filter and the most restrictive answer wins, so the profile cannot allow
 * what the second filter denies. */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

static int parse_action(const char *a, bool has_errno, uint32_t errnoret, uint32_t *out)
{
	uint32_t e = has_errno ? errnoret : EPERM;

	if (!a)
		return -1;
	if (!strcmp(a, "SCMP_ACT_ALLOW"))
		*out = SCMP_ACT_ALLOW;
	else if (!strcmp(a, "SCMP_ACT_ERRNO"))
		*out = SCMP_ACT_ERRNO(e & 0xffff);
	else if (!strcmp(a, "SCMP_ACT_KILL") || !strcmp(a, "SCMP_ACT_KILL_THREAD"))
		*out = SCMP_ACT_KILL;
	else if (!strcmp(a, "SCMP_ACT_KILL_PROCESS"))
		*out = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(a, "SCMP_ACT_TRAP"))
		*out = SCMP_ACT_TRAP;
	else if (!strcmp(a, "SCMP_ACT_LOG"))
		*out = SCMP_ACT_LOG;
	else if (!strcmp(a, "SCMP_ACT_TRACE"))
		*out = SCMP_ACT_TRACE(e & 0xffff);
	else
		return -1;
	return 0;
}

static int parse_op(const char *op, enum scmp_compare *out)
{
	static const struct {
		const char *name;
		enum scmp_compare cmp;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE },
		{ "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE },
		{ "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE },
		{ "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};

	for (size_t i = 0; op && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(op, ops[i].name)) {
			*out = ops[i].cmp;
			return 0;
		}
	return -1;
}

#define INVAL(...) (sp_fail(err, SP_E_INVALID, 0, __VA_ARGS__))

/* Resolves an OCI architecture name ("SCMP_ARCH_X86_64"), 0 when libseccomp knows it not. */
static uint32_t resolve_arch(const char *name)
{
	uint32_t arch =
		seccomp_arch_resolve_name(name + (strncmp(name, "SCMP_ARCH_", 10) == 0 ? 10 : 0));
	char lower[32];
	size_t k;

	if (!arch) {
		/* libseccomp spells them in lower case ("x86_64"). */
		const char *s = name;

		if (!strncmp(s, "SCMP_ARCH_", 10))
			s += 10;
		for (k = 0; s[k] && k < sizeof(lower) - 1; k++)
			lower[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
		lower[k] = '\0';
		arch = seccomp_arch_resolve_name(lower);
	}
	return arch;
}

/* The profile's other architectures (a new context has the native one). */
static int add_architectures(scmp_filter_ctx ctx, const Grpc__LinuxSeccomp *p, struct sp_err *err)
{
	for (size_t i = 0; i < p->n_architectures; i++) {
		uint32_t arch = resolve_arch(p->architectures[i]);

		if (arch && arch != seccomp_arch_native()) {
			int r = seccomp_arch_add(ctx, arch);

			if (r < 0 && r != -EEXIST)
				return INVAL("seccomp architecture '%.40s' refused",
					     p->architectures[i]);
		}
	}
	return 0;
}

/* Rule i of the profile, for each of its syscalls this kernel knows. */
static int add_rule(scmp_filter_ctx ctx, const Grpc__LinuxSyscall *s, size_t i, uint32_t def,
		    struct sp_err *err)
{
	struct scmp_arg_cmp args[6];
	uint32_t act;

	if (parse_action(s->action, s->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET,
			 s->errnoret, &act) < 0)
		return INVAL("seccomp action '%.40s' is not supported", s->action ? s->action : "");
	if (s->n_args > 6)
		return INVAL("seccomp rule with %zu argument checks", s->n_args);
	for (size_t a = 0; a < s->n_args; a++) {
		enum scmp_compare op;

		if (s->args[a]->index > 5 || parse_op(s->args[a]->op, &op) < 0)
			return INVAL("seccomp argument check %zu of rule %zu is invalid", a, i);
		args[a] = (struct scmp_arg_cmp){ (unsigned)s->args[a]->index, op, s->args[a]->value,
						 s->args[a]->valuetwo };
	}
	if (act == def)
		return 0; /* libseccomp refuses rules that repeat the default */
	for (size_t n = 0; n < s->n_names; n++) {
		int nr = seccomp_syscall_resolve_name(s->names[n]);
		int r;

		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown on this kernel/arch: as runc and crun do */
		r = seccomp_rule_add_array(ctx, act, nr, (unsigned)s->n_args, args);
		if (r < 0 && r != -EEXIST)
			return INVAL("seccomp rule for %.40s refused: %s", s->names[n],
				     strerror(-r));
	}
	return 0;
}

/* Builds the profile into a new context (*out), without loading it. */
static int build_profile(const Grpc__LinuxSeccomp *p, bool nnp, scmp_filter_ctx *out,
			 struct sp_err *err)
{
	char b[96];
	uint32_t def;
	scmp_filter_ctx ctx;

	if (parse_action(p->defaultaction, false, 0, &def) < 0)
		return INVAL("seccomp defaultAction '%s' is not supported",
			     (sp_log_escape(b, sizeof(b), p->defaultaction ? p->defaultaction : "",
					    p->defaultaction ? strnlen(p->defaultaction, 64) : 0),
			      b));
	for (size_t i = 0; i < p->n_flags; i++) {
		bool known = strcmp(p->flags[i], "SECCOMP_FILTER_FLAG_LOG") == 0 ||
			     strcmp(p->flags[i], "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0;

		if (!known)
			return INVAL("seccomp flag '%.40s' is not supported", p->flags[i]);
	}
	ctx = seccomp_init(def);
	if (!ctx)
		return sp_error(err, ENOMEM, "seccomp_init");
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, nnp ? 1 : 0);
	if (add_architectures(ctx, p, err) < 0) {
		seccomp_release(ctx);
		return -1;
	}
	for (size_t i = 0; i < p->n_syscalls; i++) {
		if (add_rule(ctx, p->syscalls[i], i, def, err) < 0) {
			seccomp_release(ctx);
			return -1;
		}
	}
	*out = ctx;
	return 0;
}

int sp_seccomp_check_profile(const Grpc__LinuxSeccomp *profile, struct sp_err *err)
{
	scmp_filter_ctx ctx = NULL;
	int ret = build_profile(profile, true, &ctx, err);

	if (ctx)
		seccomp_release(ctx);
	return ret;
}

static int load_vsock_deny(bool nnp, struct sp_err *err)
{
	static const char *const uring[] = { "io_uring_setup", "io_uring_enter",
					     "io_uring_register" };
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int r;

	if (!ctx)
		return sp_error(err, ENOMEM, "seccomp_init");
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, nnp ? 1 : 0);
	/* Spelled out rather than SCMP_A0(): clang flags the macro's missing datum_b. */
	const struct scmp_arg_cmp is_vsock = {
		.arg = 0, .op = SCMP_CMP_EQ, .datum_a = AF_VSOCK, .datum_b = 0
	};

	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, is_vsock);
	for (size_t i = 0; r == 0 && i < sizeof(uring) / sizeof(uring[0]); i++) {
		int nr = seccomp_syscall_resolve_name(uring[i]);

		if (nr != __NR_SCMP_ERROR)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return sp_error(err, -r, "load the AF_VSOCK seccomp filter");
	return 0;
}

int sp_seccomp_load(const Grpc__LinuxSeccomp *profile, bool nnp, struct sp_err *err)
{
	if (profile) {
		scmp_filter_ctx ctx = NULL;
		int r;

		if (build_profile(profile, nnp, &ctx, err) < 0)
			return -1;
		r = seccomp_load(ctx);
		seccomp_release(ctx);
		if (r < 0)
			return sp_error(err, -r, "load the seccomp profile");
	}
	return load_vsock_deny(nnp, err);
}
