/* Capabilities: names, the default set, and applying the five sets in the child. Raw capset(2)
 * and prctl(2): no libcap. */
#define _GNU_SOURCE
#include "runtime/runtime.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/caps.h"
#include "lib/log.h"

#define BIT(n) (1ULL << (n))

/* CAP_NET_RAW outside allowed is dropped from the set, not refused: containerd names it in
 * every spec, and a raw socket in the guest's shared network namespace would see the pod's
 * loopback traffic (*dropped says so, for the console). Any other capability outside allowed
 * refuses the request. */
static int parse_set(char **names, size_t n, uint64_t allowed, uint64_t *out, bool *dropped,
		     struct sp_err *err)
{
	char esc[64];

	*out = 0;
	if (n > (size_t)256)
		return sp_fail(err, SP_E_INVALID, 0, "%zu capabilities in one set", n);
	for (size_t i = 0; i < n; i++) {
		int c = sp_cap_from_name(names[i]);

		if (c < 0) {
			sp_log_escape(esc, sizeof(esc), names[i], strnlen(names[i], 64));
			return sp_fail(err, SP_E_INVALID, 0, "unknown capability '%s'", esc);
		}
		if (!(allowed & BIT(c)) && c == CAP_NET_RAW) {
			*dropped = true;
			continue;
		}
		if (!(allowed & BIT(c))) {
			return sp_fail(err, SP_E_DENIED, 0,
				       "capability %s is beyond the default set and the policy did "
				       "not consent to it",
				       sp_cap_name(c));
		}
		*out |= BIT(c);
	}
	return 0;
}

int sp_caps_parse(const Grpc__LinuxCapabilities *lc, uint64_t allowed_extra, struct sp_rt_caps *out,
		  struct sp_err *err)
{
	uint64_t allowed = sp_cap_default_set | allowed_extra;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!lc) {
		out->bounding = out->effective = out->permitted = sp_cap_default_set;
		return 0;
	}
	bool *d = &out->net_raw_dropped;

	if ((ret = parse_set(lc->bounding, lc->n_bounding, allowed, &out->bounding, d, err)) < 0 ||
	    (ret = parse_set(lc->effective, lc->n_effective, allowed, &out->effective, d, err)) <
		    0 ||
	    (ret = parse_set(lc->inheritable, lc->n_inheritable, allowed, &out->inheritable, d,
			     err)) < 0 ||
	    (ret = parse_set(lc->permitted, lc->n_permitted, allowed, &out->permitted, d, err)) <
		    0 ||
	    (ret = parse_set(lc->ambient, lc->n_ambient, allowed, &out->ambient, d, err)) < 0)
		return ret;
	/* What the kernel would refuse anyway, said clearly up front. */
	out->effective &= out->permitted;
	out->ambient &= out->permitted & out->inheritable;
	return 0;
}

struct cap_header {
	uint32_t version;
	int pid;
};
struct cap_data {
	uint32_t effective, permitted, inheritable;
};
#define CAP_V3 0x20080522

int sp_caps_apply_user(const struct sp_rt_caps *c, uid_t uid, gid_t gid, const gid_t *gids,
		       size_t ngids, struct sp_err *err)
{
	struct cap_header h = { CAP_V3, 0 };
	struct cap_data d[2];

	for (int cap = 0; cap <= 63; cap++) {
		if (c->bounding & BIT(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			return sp_error(err, errno, "drop %s from the bounding set",
					sp_cap_name(cap));
		}
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return sp_error(err, errno, "PR_SET_KEEPCAPS");
	if (setgroups(ngids, gids) < 0)
		return sp_error(err, errno, "setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return sp_error(err, errno, "setgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return sp_error(err, errno, "setuid %u", (unsigned)uid);
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return sp_error(err, errno, "PR_SET_KEEPCAPS");
	d[0].effective = (uint32_t)c->effective;
	d[1].effective = (uint32_t)(c->effective >> 32);
	d[0].permitted = (uint32_t)c->permitted;
	d[1].permitted = (uint32_t)(c->permitted >> 32);
	d[0].inheritable = (uint32_t)c->inheritable;
	d[1].inheritable = (uint32_t)(c->inheritable >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return sp_error(err, errno, "capset");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return sp_error(err, errno, "clear ambient capabilities");
	for (int cap = 0; cap <= SP_CAP_LAST; cap++)
		if ((c->ambient & BIT(cap)) &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
			return sp_error(err, errno, "raise ambient %s", sp_cap_name(cap));
	return 0;
}
