#define _GNU_SOURCE
#include "lib/caps.h"

#include <stddef.h>
#include <string.h>

static const char *const cap_names[SP_CAP_LAST + 1] = {
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_KILL",
	"CAP_SETGID",
	"CAP_SETUID",
	"CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",
	"CAP_NET_RAW",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_SYS_MODULE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_MKNOD",
	"CAP_LEASE",
	"CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL",
	"CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN",
	"CAP_SYSLOG",
	"CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",
	"CAP_AUDIT_READ",
	"CAP_PERFMON",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

#define BIT(n) (1ULL << (n))
/* CAP_NET_RAW (13) is left out on purpose: lib/caps.h says why. */
const uint64_t sp_cap_default_set = BIT(0) | BIT(1) | BIT(3) | BIT(4) | BIT(27) | BIT(6) | BIT(7) |
				    BIT(31) | BIT(8) | BIT(10) | BIT(18) | BIT(5) | BIT(29);

int sp_cap_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i <= SP_CAP_LAST; i++)
		if (strcmp(cap_names[i], name) == 0)
			return i;
	return -1;
}

const char *sp_cap_name(int cap)
{
	return cap >= 0 && cap <= SP_CAP_LAST ? cap_names[cap] : "?";
}
