/* The image's User resolved against its own /etc/passwd and /etc/group (image.h): done by the
 * pull worker on the overlay it mounted (worker.c), so PID 1 reads nothing of the image and
 * parses none of its bytes; the pin (runtime/image.c) gets the uid and gid, or the error, with
 * the pull's result. The files are the image's: untrusted (tests/fuzz/fuzz_image_user.c).
 *
 * "" is 0:0; "uid", "name", "uid:gid", "name:group" and mixes, names looked up in the rootfs's own
 * /etc/passwd and /etc/group (opened beneath the rootfs); a user without a group gets its passwd
 * group, or 0 when it has no passwd entry. */
#define _GNU_SOURCE
#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

#define ETC_FILE_MAX ((size_t)1024 * 1024) /* bytes of /etc/passwd or /etc/group read */

static bool parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Reads etc/<file> beneath rootfd (symlinks resolved inside the rootfs) into a NUL-terminated
 * heap buffer. */
static char *read_etc(int rootfd, const char *file, struct sp_err *err)
{
	cleanup_close int fd = -1;
	char path[32];
	struct stat st;
	char *buf;
	size_t len = 0;

	(void)snprintf(path, sizeof(path), "etc/%s", file);
	fd = sp_openat2(rootfd, path, O_RDONLY | O_NONBLOCK, 0,
			RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (fd < 0) {
		sp_error(err, errno, "open /etc/%s of the image", file);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		sp_error(err, EINVAL, "/etc/%s of the image is not a regular file", file);
		return NULL;
	}
	buf = malloc(ETC_FILE_MAX + 1);
	if (!buf) {
		sp_error(err, ENOMEM, "read /etc/%s", file);
		return NULL;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, ETC_FILE_MAX - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sp_error(err, errno, "read /etc/%s of the image", file);
			free(buf);
			return NULL;
		}
		if (n == 0 || (len += (size_t)n) == ETC_FILE_MAX)
			break;
	}
	buf[len] = '\0';
	return buf;
}

/* Finds name in a passwd or group file: the 3rd field (the id) and, for passwd, the 4th. */
static bool lookup(const char *db, const char *name, size_t nlen, uint32_t *id, uint32_t *gid)
{
	for (const char *l = db; l && *l;) {
		const char *end = strchr(l, '\n');
		const char *f[4] = { l, NULL, NULL, NULL };
		size_t llen = end ? (size_t)(end - l) : strlen(l);
		int k = 1;

		for (size_t i = 0; i < llen && k < 4; i++)
			if (l[i] == ':')
				f[k++] = l + i + 1;
		if (k >= 3 && (size_t)(f[1] - 1 - l) == nlen && memcmp(l, name, nlen) == 0) {
			const char *idend = memchr(f[2], ':', llen - (size_t)(f[2] - l));
			size_t idlen = idend ? (size_t)(idend - f[2]) : llen - (size_t)(f[2] - l);

			if (!parse_id(f[2], idlen, id))
				return false;
			if (gid) {
				const char *gend;
				size_t glen;

				if (k < 4)
					return false;
				gend = memchr(f[3], ':', llen - (size_t)(f[3] - l));
				glen = gend ? (size_t)(gend - f[3]) : llen - (size_t)(f[3] - l);
				return parse_id(f[3], glen, gid);
			}
			return true;
		}
		l = end ? end + 1 : NULL;
	}
	return false;
}

/* passwd entry by uid: its gid. */
static bool lookup_uid(const char *db, uint32_t uid, uint32_t *gid)
{
	for (const char *l = db; l && *l;) {
		const char *end = strchr(l, '\n');
		const char *colon = strchr(l, ':');
		uint32_t id, g;

		if (colon && (!end || colon < end) && lookup(l, l, (size_t)(colon - l), &id, &g) &&
		    id == uid) {
			*gid = g;
			return true;
		}
		l = end ? end + 1 : NULL;
	}
	return false;
}

int sp_image_user_db(const char *user, const char *passwd, const char *group, uint32_t *uid,
		     uint32_t *gid, struct sp_err *err)
{
	const char *colon;
	size_t ulen;

	/* The messages go to the host: they name what is wrong, never the image's value. */
	*uid = *gid = 0;
	if (!user || !user[0])
		return 0;
	colon = strchr(user, ':');
	ulen = colon ? (size_t)(colon - user) : strlen(user);
	if (ulen == 0 || (colon && !colon[1]) || (colon && strchr(colon + 1, ':')))
		return sp_fail(err, SP_E_INVALID, 0, "the image's user is not user[:group]");
	if (!parse_id(user, ulen, uid)) {
		if (!passwd)
			return sp_fail(err, SP_E_PRECONDITION, 0,
				       "the image's user is a name and its /etc/passwd cannot be "
				       "read");
		if (!lookup(passwd, user, ulen, uid, gid))
			return sp_fail(err, SP_E_PRECONDITION, 0,
				       "the image's user is not in its /etc/passwd");
	} else if (!colon && passwd) {
		(void)lookup_uid(passwd, *uid, gid); /* no passwd entry: gid 0 */
	}
	if (!colon)
		return 0;
	if (parse_id(colon + 1, strlen(colon + 1), gid))
		return 0;
	if (!group)
		return sp_fail(err, SP_E_PRECONDITION, 0,
			       "the image's user names a group and its /etc/group cannot be read");
	if (!lookup(group, colon + 1, strlen(colon + 1), gid, NULL))
		return sp_fail(err, SP_E_PRECONDITION, 0,
			       "the image's group is not in its /etc/group");
	return 0;
}

int sp_image_user(const char *user, int rootfd, uint32_t *uid, uint32_t *gid, struct sp_err *err)
{
	cleanup_free char *passwd = NULL;
	cleanup_free char *group = NULL;
	struct sp_err ignored;
	const char *colon = user ? strchr(user, ':') : NULL;

	/* Read only what the user string needs: a name or a bare uid needs passwd, a group name
	 * needs group. A file that cannot be read is NULL (the lookup says why it matters). */
	if (user && user[0] && rootfd >= 0) {
		passwd = read_etc(rootfd, "passwd", &ignored);
		if (colon)
			group = read_etc(rootfd, "group", &ignored);
	}
	return sp_image_user_db(user, passwd, group, uid, gid, err);
}
