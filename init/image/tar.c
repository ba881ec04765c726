/* The streaming tar reader (tar.h). One state machine over 512-byte blocks; metadata headers
 * (PAX, GNU long names) are collected into a bounded buffer and applied to the next real header. */
#define _GNU_SOURCE
#include "image/tar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum state { ST_HDR, ST_META, ST_DATA, ST_SKIP, ST_END, ST_FAIL };
enum meta { M_PAX, M_GLOBAL, M_LONGNAME, M_LONGLINK };

struct sp_tar {
	struct sp_tar_limits lim;
	const struct sp_tar_ops *ops;
	void *arg;
	enum state st;
	uint8_t hdr[512];
	size_t hdr_fill;
	uint64_t remaining; /* bytes of content left in ST_META/ST_DATA/ST_SKIP */
	uint64_t pad;	    /* padding bytes to skip after the content */
	uint64_t total, entries;
	/* ST_META */
	enum meta meta;
	uint8_t *mbuf;
	size_t mfill;
	/* what PAX or GNU headers set for the next entry */
	bool has_path, has_link, has_size, has_uid, has_gid, has_mtime;
	char *p_path, *p_link; /* SP_TAR_PATH_MAX + 1 each */
	size_t p_path_len, p_link_len;
	uint64_t p_size;
	uint32_t p_uid, p_gid;
	int64_t p_mtime;
	uint32_t p_mtime_nsec;
	uint8_t *p_xattrs; /* SP_TAR_XATTRS_MAX */
	size_t p_xattrs_len;
	unsigned p_nxattrs;
	struct sp_tar_entry e;
};

void sp_tar_limits_default(struct sp_tar_limits *l)
{
	l->max_pax = 1u << 20;
	l->max_entries = 1000000;
	l->max_total = 64ull << 30;
	l->max_file = 64ull << 30;
}

struct sp_tar *sp_tar_new(const struct sp_tar_limits *lim, const struct sp_tar_ops *ops, void *arg)
{
	struct sp_tar *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->p_path = malloc(SP_TAR_PATH_MAX + 1);
	t->p_link = malloc(SP_TAR_PATH_MAX + 1);
	t->p_xattrs = malloc(SP_TAR_XATTRS_MAX);
	if (!t->p_path || !t->p_link || !t->p_xattrs) {
		sp_tar_free(t);
		return NULL;
	}
	t->lim = *lim;
	t->ops = ops;
	t->arg = arg;
	return t;
}

void sp_tar_free(struct sp_tar *t)
{
	if (!t)
		return;
	free(t->mbuf);
	free(t->p_path);
	free(t->p_link);
	free(t->p_xattrs);
	free(t);
}

uint64_t sp_tar_entries(const struct sp_tar *t)
{
	return t->entries;
}

/* Refuses the archive: every later call fails too. */
#define fail(t, err, ...) ((t)->st = ST_FAIL, sp_error((err), 0, __VA_ARGS__))

int sp_tar_normalise(const char *in, size_t len, char *out, const char **reason)
{
	size_t o = 0, i = 0;

	if (memchr(in, '\0', len)) {
		*reason = "contains a NUL byte";
		return -1;
	}
	while (i < len) {
		size_t j = i, n;

		while (j < len && in[j] != '/')
			j++;
		n = j - i;
		if (n == 2 && in[i] == '.' && in[i + 1] == '.') {
			*reason = "has a '..' component";
			return -1;
		}
		if (n > 255) {
			*reason = "has a component longer than 255 bytes";
			return -1;
		}
		if (n && !(n == 1 && in[i] == '.')) {
			if (o + (o ? 1 : 0) + n > SP_TAR_PATH_MAX) {
				*reason = "is longer than 4095 bytes";
				return -1;
			}
			if (o)
				out[o++] = '/';
			memcpy(out + o, in + i, n);
			o += n;
		}
		i = j + 1;
	}
	out[o] = '\0';
	return 0;
}

bool sp_tar_path_ok(const char *p)
{
	size_t len = strnlen(p, SP_TAR_PATH_MAX + 1);

	if (len > SP_TAR_PATH_MAX)
		return false;
	if (len == 0)
		return true;
	if (p[0] == '/' || p[len - 1] == '/')
		return false;
	for (const char *c = p; *c;) {
		const char *s = strchrnul(c, '/');
		size_t n = (size_t)(s - c);

		if (n == 0 || n > 255 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = *s ? s + 1 : s;
	}
	return true;
}

/* Octal (space/NUL padded) or GNU base-256. -1 on a malformed field. */
static int parse_num(const uint8_t *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return -1; /* negative or too large */
		for (i = 1; i < n; i++) {
			if (v >> 55)
				return -1;
			v = (v << 8) | f[i];
		}
		*out = v;
		return 0;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 60)
			return -1;
		v = (v << 3) | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

static bool zero_block(const uint8_t *b)
{
	for (size_t i = 0; i < 512; i++)
		if (b[i])
			return false;
	return true;
}

static bool checksum_ok(const uint8_t *h)
{
	uint64_t want;
	unsigned long u = 0;
	long s = 0;

	if (parse_num(h + 148, 8, &want) < 0)
		return false;
	for (size_t i = 0; i < 512; i++) {
		uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];

		u += c;
		s += (signed char)c;
	}
	return want == u || (long)want == s;
}

static void clear_pending(struct sp_tar *t)
{
	t->has_path = t->has_link = t->has_size = t->has_uid = t->has_gid = t->has_mtime = false;
	t->p_xattrs_len = 0;
	t->p_nxattrs = 0;
}

static int parse_dec(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int add_xattr(struct sp_tar *t, const char *name, size_t nlen, const char *val, size_t vlen,
		     struct sp_err *err)
{
	uint32_t l = (uint32_t)vlen;

	if (nlen == 0 || nlen > 255 || memchr(name, '\0', nlen))
		return fail(t, err, "%s", "tar: an xattr name is empty, too long or has a NUL");
	if (nlen >= 16 && memcmp(name, "trusted.overlay.", 16) == 0)
		return fail(t, err, "%s", "tar: a trusted.overlay.* xattr in the layer is refused");
	/* Only what a container image legitimately ships: user.* and file capabilities. */
	if (!(nlen > 5 && memcmp(name, "user.", 5) == 0) &&
	    !(nlen == 19 && memcmp(name, "security.capability", 19) == 0))
		return 0;
	if (vlen > 65536 || t->p_xattrs_len + nlen + 1 + 4 + vlen > SP_TAR_XATTRS_MAX)
		return fail(t, err, "%s", "tar: the xattrs of an entry exceed 64 KiB");
	memcpy(t->p_xattrs + t->p_xattrs_len, name, nlen);
	t->p_xattrs[t->p_xattrs_len + nlen] = '\0';
	t->p_xattrs_len += nlen + 1;
	memcpy(t->p_xattrs + t->p_xattrs_len, &l, 4); /* little-endian hosts only (x86-64) */
	t->p_xattrs_len += 4;
	memcpy(t->p_xattrs + t->p_xattrs_len, val, vlen);
	t->p_xattrs_len += vlen;
	t->p_nxattrs++;
	return 0;
}

static int pax_mtime(const char *v, size_t n, int64_t *sec, uint32_t *nsec)
{
	bool neg = n && v[0] == '-';
	size_t i = neg ? 1 : 0, dot = i;
	uint64_t s;
	uint32_t ns = 0, scale = 100000000;

	while (dot < n && v[dot] != '.')
		dot++;
	if (parse_dec(v + i, dot - i, &s) < 0 || s > INT64_MAX)
		return -1;
	for (size_t k = dot + 1; k < n; k++) {
		if (v[k] < '0' || v[k] > '9')
			return -1;
		ns += (uint32_t)(v[k] - '0') * scale;
		scale /= 10;
	}
	*sec = neg ? -(int64_t)s : (int64_t)s;
	*nsec = neg ? 0 : ns;
	return 0;
}

/* Parses the PAX records in t->mbuf[0..mfill). */
static int parse_pax(struct sp_tar *t, struct sp_err *err)
{
	const char *b = (const char *)t->mbuf;
	size_t off = 0, n = t->mfill;

	while (off < n) {
		size_t i = off, reclen, k, eq;
		uint64_t v;

		if (b[off] == '\0') /* NUL padding after the last record */
			break;
		while (i < n && b[i] >= '0' && b[i] <= '9' && i - off < 20)
			i++;
		if (i == off || i >= n || b[i] != ' ' || parse_dec(b + off, i - off, &v) < 0 ||
		    v > n - off || v <= i - off + 1)
			return fail(t, err, "%s", "tar: a malformed PAX record length");
		reclen = (size_t)v;
		if (b[off + reclen - 1] != '\n')
			return fail(t, err, "%s", "tar: a PAX record does not end with a newline");
		k = i + 1;
		eq = k;
		while (eq < off + reclen - 1 && b[eq] != '=')
			eq++;
		if (eq == off + reclen - 1 || eq == k)
			return fail(t, err, "%s", "tar: a PAX record has no key");
		const char *key = b + k, *val = b + eq + 1;
		size_t klen = eq - k, vlen = off + reclen - 1 - (eq + 1);

#define KEY(s) (klen == sizeof(s) - 1 && memcmp(key, s, klen) == 0)
		if (t->meta == M_GLOBAL) {
			if (klen >= 11 && memcmp(key, "GNU.sparse.", 11) == 0)
				return fail(t, err, "%s", "tar: sparse files are refused");
		} else if (KEY("path")) {
			if (vlen > SP_TAR_PATH_MAX)
				return fail(t, err, "%s",
					    "tar: a PAX path is longer than 4095 bytes");
			memcpy(t->p_path, val, vlen);
			t->p_path_len = vlen;
			t->has_path = true;
		} else if (KEY("linkpath")) {
			if (vlen > SP_TAR_PATH_MAX)
				return fail(t, err, "%s",
					    "tar: a PAX linkpath is longer than 4095 bytes");
			memcpy(t->p_link, val, vlen);
			t->p_link_len = vlen;
			t->has_link = true;
		} else if (KEY("size")) {
			if (parse_dec(val, vlen, &t->p_size) < 0)
				return fail(t, err, "%s", "tar: a malformed PAX size");
			t->has_size = true;
		} else if (KEY("uid") || KEY("gid")) {
			if (parse_dec(val, vlen, &v) < 0 || v > UINT32_MAX - 1)
				return fail(t, err, "%s", "tar: a malformed PAX uid or gid");
			if (key[0] == 'u') {
				t->p_uid = (uint32_t)v;
				t->has_uid = true;
			} else {
				t->p_gid = (uint32_t)v;
				t->has_gid = true;
			}
		} else if (KEY("mtime")) {
			if (pax_mtime(val, vlen, &t->p_mtime, &t->p_mtime_nsec) < 0)
				return fail(t, err, "%s", "tar: a malformed PAX mtime");
			t->has_mtime = true;
		} else if (klen > 13 && memcmp(key, "SCHILY.xattr.", 13) == 0) {
			if (add_xattr(t, key + 13, klen - 13, val, vlen, err) < 0)
				return -1;
		} else if (klen >= 11 && memcmp(key, "GNU.sparse.", 11) == 0) {
			return fail(t, err, "%s", "tar: sparse files are refused");
		}
#undef KEY
		off += reclen;
	}
	return 0;
}

static int end_meta(struct sp_tar *t, struct sp_err *err)
{
	size_t n = t->mfill;

	switch (t->meta) {
	case M_PAX:
	case M_GLOBAL:
		if (parse_pax(t, err) < 0)
			return -1;
		break;
	case M_LONGNAME:
	case M_LONGLINK:
		n = strnlen((const char *)t->mbuf, n); /* NUL-terminated inside the content */
		if (n > SP_TAR_PATH_MAX)
			return fail(t, err, "%s", "tar: a GNU long name is longer than 4095 bytes");
		if (t->meta == M_LONGNAME) {
			memcpy(t->p_path, t->mbuf, n);
			t->p_path_len = n;
			t->has_path = true;
		} else {
			memcpy(t->p_link, t->mbuf, n);
			t->p_link_len = n;
			t->has_link = true;
		}
		break;
	}
	free(t->mbuf);
	t->mbuf = NULL;
	return 0;
}

static size_t field_len(const uint8_t *f, size_t n)
{
	return strnlen((const char *)f, n);
}

/* Builds t->e from the header in t->hdr and the pending metadata; sets the next state. */
/* A PAX or GNU long-name header: its content is collected in ST_META for the next real entry. */
static int start_meta(struct sp_tar *t, uint8_t type, uint64_t size, struct sp_err *err)
{
	if (size > t->lim.max_pax)
		return fail(t, err, "%s", "tar: a PAX or long-name header exceeds the size cap");
	t->meta = type == 'x'	? M_PAX
		  : type == 'g' ? M_GLOBAL
		  : type == 'L' ? M_LONGNAME
				: M_LONGLINK;
	t->mbuf = malloc(size ? size : 1);
	if (!t->mbuf)
		return fail(t, err, "%s", "tar: out of memory");
	t->mfill = 0;
	t->remaining = size;
	t->pad = (512 - size % 512) % 512;
	t->st = ST_META;
	return 0;
}

static int entry_kind(struct sp_tar *t, uint8_t type, struct sp_err *err)
{
	struct sp_tar_entry *e = &t->e;

	switch (type) {
	case '0':
	case '\0':
	case '7':
		e->kind = SP_TAR_FILE;
		break;
	case '1':
		e->kind = SP_TAR_HARDLINK;
		break;
	case '2':
		e->kind = SP_TAR_SYMLINK;
		break;
	case '3':
		e->kind = SP_TAR_CHAR;
		break;
	case '4':
		e->kind = SP_TAR_BLOCK;
		break;
	case '5':
		e->kind = SP_TAR_DIR;
		break;
	case '6':
		e->kind = SP_TAR_FIFO;
		break;
	default: {
		char c[8];

		(void)snprintf(c, sizeof(c), type >= 0x20 && type < 0x7f ? "'%c'" : "0x%02x", type);
		return fail(t, err, "tar: unsupported entry type %s", c);
	}
	}
	return 0;
}

static int entry_path(struct sp_tar *t, uint8_t type, struct sp_err *err)
{
	const uint8_t *h = t->hdr;
	struct sp_tar_entry *e = &t->e;
	bool posix = memcmp(h + 257, "ustar\0", 6) == 0;
	char raw[SP_TAR_PATH_MAX + 1 + 256];
	size_t rlen;
	const char *reason;

	/* The raw name: PAX or GNU long name, else ustar prefix + name. */
	if (t->has_path) {
		rlen = t->p_path_len;
		memcpy(raw, t->p_path, rlen);
	} else {
		size_t nl = field_len(h, 100), pl = posix ? field_len(h + 345, 155) : 0;

		rlen = 0;
		if (pl) {
			memcpy(raw, h + 345, pl);
			raw[pl] = '/';
			rlen = pl + 1;
		}
		memcpy(raw + rlen, h, nl);
		rlen += nl;
	}
	if (e->kind == SP_TAR_FILE && type != '7' && rlen && raw[rlen - 1] == '/')
		e->kind = SP_TAR_DIR; /* old tars mark directories by the trailing slash */
	if (sp_tar_normalise(raw, rlen, e->path, &reason) < 0)
		return fail(t, err, "tar: an entry path %s", reason);
	return 0;
}

/* Whiteouts (image-spec layer.md). */
static int entry_whiteout(struct sp_tar *t, bool *skip, struct sp_err *err)
{
	struct sp_tar_entry *e = &t->e;
	char *slash = strrchr(e->path, '/');
	char *base = slash ? slash + 1 : e->path;

	if (strncmp(base, ".wh.", 4) != 0)
		return 0;
	if (strcmp(base, ".wh..wh..opq") == 0) {
		e->kind = SP_TAR_OPAQUE;
		if (slash)
			*slash = '\0';
		else
			e->path[0] = '\0';
	} else if (strncmp(base, ".wh..wh.", 8) == 0) {
		*skip = true; /* aufs bookkeeping (.wh..wh.plnk, ...): not content */
	} else if (base[4] == '\0' || strcmp(base + 4, ".") == 0 || strcmp(base + 4, "..") == 0) {
		return fail(t, err, "%s", "tar: a whiteout without a name is refused");
	} else {
		e->kind = SP_TAR_WHITEOUT;
		memmove(base, base + 4, strlen(base + 4) + 1);
	}
	return 0;
}

static int entry_link(struct sp_tar *t, struct sp_err *err)
{
	const uint8_t *h = t->hdr;
	struct sp_tar_entry *e = &t->e;
	char raw[SP_TAR_PATH_MAX + 1 + 256];
	size_t ll;
	const char *reason;

	if (t->has_link) {
		ll = t->p_link_len;
		memcpy(raw, t->p_link, ll);
	} else {
		ll = field_len(h + 157, 100);
		memcpy(raw, h + 157, ll);
	}
	if (ll == 0 || memchr(raw, '\0', ll))
		return fail(t, err, "%s", "tar: a link target is empty or has a NUL byte");
	if (e->kind == SP_TAR_SYMLINK) {
		memcpy(e->link, raw, ll);
		e->link[ll] = '\0';
	} else {
		if (sp_tar_normalise(raw, ll, e->link, &reason) < 0)
			return fail(t, err, "tar: a hard-link target %s", reason);
		if (e->link[0] == '\0')
			return fail(t, err, "%s", "tar: a hard link to the root is refused");
	}
	return 0;
}

/* Mode, owner, mtime and device numbers: PAX values win over the header's fields. */
static int entry_attrs(struct sp_tar *t, struct sp_err *err)
{
	const uint8_t *h = t->hdr;
	struct sp_tar_entry *e = &t->e;
	uint64_t v;

	if (parse_num(h + 100, 8, &v) < 0)
		return fail(t, err, "%s", "tar: a malformed mode field");
	e->mode = (uint32_t)(v & 07777);
	if (t->has_uid) {
		e->uid = t->p_uid;
	} else {
		if (parse_num(h + 108, 8, &v) < 0 || v > UINT32_MAX - 1)
			return fail(t, err, "%s", "tar: a malformed uid field");
		e->uid = (uint32_t)v;
	}
	if (t->has_gid) {
		e->gid = t->p_gid;
	} else {
		if (parse_num(h + 116, 8, &v) < 0 || v > UINT32_MAX - 1)
			return fail(t, err, "%s", "tar: a malformed gid field");
		e->gid = (uint32_t)v;
	}
	if (t->has_mtime) {
		e->mtime = t->p_mtime;
		e->mtime_nsec = t->p_mtime_nsec;
	} else {
		if (parse_num(h + 136, 12, &v) < 0 || v > INT64_MAX)
			return fail(t, err, "%s", "tar: a malformed mtime field");
		e->mtime = (int64_t)v;
	}
	if (e->kind == SP_TAR_CHAR || e->kind == SP_TAR_BLOCK) {
		uint64_t ma, mi;

		if (parse_num(h + 329, 8, &ma) < 0 || parse_num(h + 337, 8, &mi) < 0 ||
		    ma > 0xfff || mi > 0xfffff)
			return fail(t, err, "%s", "tar: a malformed device number");
		e->devmajor = (uint32_t)ma;
		e->devminor = (uint32_t)mi;
	}
	return 0;
}

static int start_entry(struct sp_tar *t, struct sp_err *err)
{
	const uint8_t *h = t->hdr;
	struct sp_tar_entry *e = &t->e;
	uint8_t type = h[156];
	uint64_t size;
	bool skip = false;

	if (parse_num(h + 124, 12, &size) < 0)
		return fail(t, err, "%s", "tar: a malformed size field");
	if (type == 'x' || type == 'g' || type == 'L' || type == 'K')
		return start_meta(t, type, size, err);
	if (++t->entries > t->lim.max_entries)
		return fail(t, err, "%s", "tar: more entries than the cap");

	memset(e, 0, offsetof(struct sp_tar_entry, xattrs));
	if (entry_kind(t, type, err) < 0 || entry_path(t, type, err) < 0 ||
	    entry_whiteout(t, &skip, err) < 0)
		return -1;
	if (e->path[0] == '\0' && e->kind != SP_TAR_DIR && e->kind != SP_TAR_OPAQUE)
		return fail(t, err, "%s", "tar: the root entry is not a directory");
	if ((e->kind == SP_TAR_SYMLINK || e->kind == SP_TAR_HARDLINK) && entry_link(t, err) < 0)
		return -1;
	if (entry_attrs(t, err) < 0)
		return -1;
	if (t->has_size)
		size = t->p_size;
	if (size > t->lim.max_file || size > t->lim.max_total)
		return fail(t, err, "%s", "tar: an entry is larger than the size cap");
	memcpy(e->xattrs, t->p_xattrs, t->p_xattrs_len);
	e->xattrs_len = t->p_xattrs_len;
	e->nxattrs = t->p_nxattrs;
	clear_pending(t);

	t->remaining = size;
	t->pad = (512 - size % 512) % 512;
	if (e->kind == SP_TAR_FILE && !skip) {
		e->size = size;
		t->st = ST_DATA;
	} else {
		t->st = ST_SKIP; /* content of a non-file (hard links may carry some): dropped */
	}
	if (!skip && t->ops->on_entry(t->arg, e, err) < 0) {
		t->st = ST_FAIL;
		return -1;
	}
	return 0;
}

int sp_tar_feed(struct sp_tar *t, const uint8_t *buf, size_t len, struct sp_err *err)
{
	if (t->st == ST_FAIL)
		return sp_error(err, 0, "tar: the archive was already refused");
	if (len > t->lim.max_total - t->total)
		return fail(t, err, "%s", "tar: the layer is larger than the size cap");
	t->total += len;
	while (len) {
		size_t n;

		switch (t->st) {
		case ST_HDR:
			n = 512 - t->hdr_fill;
			if (n > len)
				n = len;
			memcpy(t->hdr + t->hdr_fill, buf, n);
			t->hdr_fill += n;
			buf += n;
			len -= n;
			if (t->hdr_fill < 512)
				break;
			t->hdr_fill = 0;
			if (zero_block(t->hdr)) {
				t->st = ST_END;
				break;
			}
			if (!checksum_ok(t->hdr))
				return fail(t, err, "%s", "tar: a header checksum is wrong");
			if (start_entry(t, err) < 0)
				return -1;
			break;
		case ST_META:
		case ST_DATA:
		case ST_SKIP:
			if (t->remaining) {
				n = t->remaining < len ? (size_t)t->remaining : len;
				if (t->st == ST_META) {
					memcpy(t->mbuf + t->mfill, buf, n);
					t->mfill += n;
				} else if (t->st == ST_DATA &&
					   t->ops->on_data(t->arg, buf, n, err) < 0) {
					t->st = ST_FAIL;
					return -1;
				}
				t->remaining -= n;
			} else {
				n = t->pad < len ? (size_t)t->pad : len;
				t->pad -= n;
			}
			buf += n;
			len -= n;
			if (!t->remaining && !t->pad) {
				if (t->st == ST_META && end_meta(t, err) < 0)
					return -1;
				t->st = ST_HDR;
			}
			break;
		case ST_END:
			return 0; /* whatever follows the end marker is hashed, not read */
		case ST_FAIL:
			return -1;
		}
	}
	/* A zero-size entry ends at its header. */
	if ((t->st == ST_DATA || t->st == ST_SKIP) && !t->remaining && !t->pad)
		t->st = ST_HDR;
	if (t->st == ST_META && !t->remaining && !t->pad) {
		if (end_meta(t, err) < 0)
			return -1;
		t->st = ST_HDR;
	}
	return 0;
}

int sp_tar_finish(struct sp_tar *t, struct sp_err *err)
{
	if (t->st == ST_FAIL)
		return sp_error(err, 0, "tar: the archive was already refused");
	if (t->st == ST_END ||
	    (t->st == ST_HDR && t->hdr_fill == 0 && !t->has_path && !t->has_link))
		return 0;
	t->st = ST_FAIL;
	return sp_error(err, 0, "tar: the archive is truncated");
}
