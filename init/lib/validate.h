/* Validation of host-chosen names and paths (DESIGN.md, "Trust rules"). Pure string checks:
 * they touch no filesystem, so the caller still resolves the result with
 * openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS) from a directory fd; these only make sure that
 * what it resolves is a plain relative path that cannot name anything above that directory. */
#ifndef SEALPOD_LIB_VALIDATE_H
#define SEALPOD_LIB_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define SP_ID_MAX	 128  /* container and exec ids: [A-Za-z0-9][A-Za-z0-9_.-]{0,127} */
#define SP_PATH_MAX	 4095 /* bytes, without the terminating NUL */
#define SP_COMPONENT_MAX 255  /* NAME_MAX */

/* The shared-files directory Kata's shim copies into (CopyFile) and bind-mounts from. */
#define SP_SHARED_PREFIX "/run/kata-containers/shared/containers/"

/* True when s[0..len) is a container or exec id: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}. Pass the
 * length the wire carried so that an embedded NUL is caught; sp_valid_id() uses strlen. */
bool sp_valid_idn(const char *s, size_t len);
bool sp_valid_id(const char *s);

/* Checks that path[0..len) is absolute and normalised (no empty, "." or ".." component, no
 * trailing '/', no NUL, no control byte, components <= 255 bytes, whole <= 4095 bytes) and lies
 * strictly beneath prefix, an absolute directory path ending in '/'. On success returns 0 and
 * sets *rest to the part after the prefix (non-empty, relative, inside path's storage). On
 * failure returns -1 and sets *reason to a static phrase ("is not absolute", "is not beneath
 * /run/...", ...) fit for "CopyFile path '<p>' <reason>". rest and reason may be NULL. */
int sp_path_beneathn(const char *path, size_t len, const char *prefix, const char **rest,
		     const char **reason);
int sp_path_beneath(const char *path, const char *prefix, const char **rest, const char **reason);

/* True when prefix is usable by sp_path_beneath: absolute, normalised, ends with '/', and is not
 * "/" alone. */
bool sp_valid_prefix(const char *prefix);

/* True when s[0..len) is well-formed UTF-8 (no overlong form, no surrogate, nothing above
 * U+10FFFF): what protobuf requires of a string field. s may be NULL when len is 0. */
bool sp_utf8_valid(const char *s, size_t len);

/* True when path is absolute and normalised ("/a/b": no empty, "." or ".." component, no
 * control character), at most SP_PATH_MAX bytes. */
bool sp_abs_path_ok(const char *path);

/* True for a key on the Kubernetes safe list of namespaced sysctls (validate.c): the most any
 * container may set, whatever the policy says. */
bool sp_sysctl_safe(const char *key);

/* True when value is what a safe sysctl takes: a number, a range or a list of them. */
bool sp_sysctl_value_ok(const char *value);

/* The value of one hex digit (either case), or -1. */
int sp_hexval(char c);

#endif
