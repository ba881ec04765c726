/* Linux capability names and the default set a container gets without the policy's consent.
 * One table for the policy (which capabilities need consent) and the runtime (which it grants).
 * A worker's capabilities are narrowed by lib/confine.h. */
#ifndef SEALPOD_LIB_CAPS_H
#define SEALPOD_LIB_CAPS_H

#include <stdint.h>

#define SP_CAP_LAST 40 /* CAP_CHECKPOINT_RESTORE */
/* The default set: Docker's and containerd's without NET_RAW, namely CHOWN DAC_OVERRIDE FSETID
 * FOWNER MKNOD SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE. The
 * pod's containers share the guest's network namespace, so a raw or packet socket would see the
 * other containers' loopback traffic: NET_RAW needs the policy's consent like any other. */
extern const uint64_t sp_cap_default_set;
/* "CAP_SYS_ADMIN" -> 21; -1 when unknown. */
int sp_cap_from_name(const char *name);
/* 21 -> "CAP_SYS_ADMIN"; "?" when out of range. */
const char *sp_cap_name(int cap);

#endif
