/* Unit tests of the reproducible cpio writer (measure/cpio.c). */
#define _GNU_SOURCE
#include "unit.h"

#include "../../measure/cpio.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MTIME 1704067200u

/* One parsed newc header. */
struct hdr {
	unsigned f[13]; /* ino mode uid gid nlink mtime filesize devmaj devmin rdevmaj rdevmin namesize check */
	char name[256];
	const char *data;
	size_t off;
};
enum { INO, MODE, UID, GID, NLINK, MTIM, SIZE, DEVMAJ, DEVMIN, RMAJ, RMIN, NAMESIZE, CHECK };

/* Splits an archive into headers; returns the count, or -1 on a malformed archive. */
static int parse_archive(const char *buf, size_t len, struct hdr *out, int max)
{
	size_t off = 0;
	for (int n = 0; n < max; n++) {
		struct hdr *h = &out[n];
		if (off % 4 || off + 110 > len || memcmp(buf + off, "070701", 6) != 0)
			return -1;
		h->off = off;
		for (int i = 0; i < 13; i++) {
			char field[9];
			memcpy(field, buf + off + 6 + i * 8, 8);
			field[8] = '\0';
			h->f[i] = (unsigned)strtoul(field, NULL, 16);
		}
		if (h->f[NAMESIZE] == 0 || h->f[NAMESIZE] > sizeof h->name ||
		    off + 110 + h->f[NAMESIZE] > len)
			return -1;
		memcpy(h->name, buf + off + 110, h->f[NAMESIZE]);
		if (h->name[h->f[NAMESIZE] - 1] != '\0')
			return -1;
		off += (110 + h->f[NAMESIZE] + 3) & ~(size_t)3;
		h->data = buf + off;
		off += (h->f[SIZE] + 3) & ~(size_t)3;
		if (off > len)
			return -1;
		if (strcmp(h->name, "TRAILER!!!") == 0)
			return off == len ? n + 1 : -1;
	}
	return -1;
}

static char tmpdir[64];

static const char *mkfile(const char *name, const char *content)
{
	static char path[8][128];
	static int next;
	if (!tmpdir[0]) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/sealpod-cpio-test.XXXXXX");
		if (!mkdtemp(tmpdir))
			return NULL;
	}
	char *p = path[next++ % 8];
	snprintf(p, 128, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "w");
	if (!f)
		return NULL;
	fputs(content, f);
	fclose(f);
	return p;
}

__attribute__((destructor)) static void remove_tmpdir(void)
{
	char cmd[128];
	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Writes l into a heap buffer; returns its length or -1. */
static long write_mem(struct cpio_list *l, char **buf, struct cpio_error *err)
{
	size_t len = 0;
	FILE *f = open_memstream(buf, &len);
	if (!f)
		return -1;
	int ret = cpio_write(l, MTIME, f, err);
	fclose(f);
	return ret < 0 ? -1 : (long)len;
}

TEST(cpio_header_fields)
{
	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	struct hdr h[8];
	char *buf = NULL;
	const char *src = mkfile("hello", "hello");
	REQUIRE(src);

	cpio_list_init(&l);
	REQUIRE(cpio_list_add(&l, CPIO_FILE, "/init", src, 0755, 0, 0, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l, CPIO_NOD_CHR, "/dev/console", NULL, 0600, 5, 1, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l, CPIO_SLINK, "/bin/sh", "busybox", 0777, 0, 0, 0, &err) == 0);
	long len = write_mem(&l, &buf, &err);
	REQUIRE(len > 0);
	int n = parse_archive(buf, (size_t)len, h, 8);
	REQUIRE(n == 6); /* bin, bin/sh, dev, dev/console, init, trailer */

	CHECK_STR(h[0].name, "bin");
	CHECK(h[0].f[MODE] == (S_IFDIR | 0755));
	CHECK(h[0].f[NLINK] == 2);
	CHECK_STR(h[1].name, "bin/sh");
	CHECK(h[1].f[MODE] == (S_IFLNK | 0777));
	CHECK(h[1].f[SIZE] == 7 && memcmp(h[1].data, "busybox", 7) == 0);
	CHECK_STR(h[3].name, "dev/console");
	CHECK(h[3].f[MODE] == (S_IFCHR | 0600));
	CHECK(h[3].f[RMAJ] == 5 && h[3].f[RMIN] == 1);
	CHECK_STR(h[4].name, "init");
	CHECK(h[4].f[MODE] == (S_IFREG | 0755));
	CHECK(h[4].f[SIZE] == 5 && memcmp(h[4].data, "hello", 5) == 0);
	CHECK(h[4].f[NLINK] == 1);
	CHECK(h[4].f[NAMESIZE] == 5);
	for (int i = 0; i < 5; i++) {
		CHECK(h[i].f[INO] == (unsigned)i + 1);
		CHECK(h[i].f[UID] == 0 && h[i].f[GID] == 0);
		CHECK(h[i].f[MTIM] == MTIME);
		CHECK(h[i].f[DEVMAJ] == 0 && h[i].f[DEVMIN] == 0 && h[i].f[CHECK] == 0);
	}
	CHECK_STR(h[5].name, "TRAILER!!!");
	CHECK(h[5].f[INO] == 0 && h[5].f[MODE] == 0 && h[5].f[NLINK] == 1 && h[5].f[SIZE] == 0);
	free(buf);
	cpio_list_free(&l);
}

TEST(cpio_sorted_parents_first)
{
	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	struct hdr h[16];
	char *buf = NULL;
	static const char *const in[] = { "/a-b", "/a/b/c", "/b", "/a", "/a/b", "/a.x", "/a/a" };
	static const char *const want[] = { "a", "a/a", "a/b", "a/b/c", "a-b", "a.x", "b" };

	cpio_list_init(&l);
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
		REQUIRE(cpio_list_add(&l, CPIO_DIR, in[i], NULL, 0755, 0, 0, 0, &err) == 0);
	long len = write_mem(&l, &buf, &err);
	REQUIRE(len > 0);
	REQUIRE(parse_archive(buf, (size_t)len, h, 16) == 8);
	for (size_t i = 0; i < 7; i++)
		CHECK_STR(h[i].name, want[i]);
	free(buf);
	cpio_list_free(&l);
}

TEST(cpio_padding)
{
	/* Names of lengths 1..8 and file sizes 0..7 cover every padding remainder. */
	static const char *const content[] = { "",     "1",	"12",	  "123",
					       "1234", "12345", "123456", "1234567" };
	static const char *const names[] = { "/a",     "/ab",	  "/abc",     "/abcd",
					     "/abcde", "/abcdef", "/abcdefg", "/abcdefgh" };
	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	struct hdr h[16];
	char *buf = NULL;

	cpio_list_init(&l);
	for (int i = 0; i < 8; i++) {
		char fname[16];
		snprintf(fname, sizeof fname, "pad%d", i);
		const char *src = mkfile(fname, content[i]);
		REQUIRE(src);
		REQUIRE(cpio_list_add(&l, CPIO_FILE, names[i], src, 0644, 0, 0, 0, &err) == 0);
	}
	long len = write_mem(&l, &buf, &err);
	REQUIRE(len > 0);
	CHECK(len % 4 == 0);
	REQUIRE(parse_archive(buf, (size_t)len, h, 16) == 9);
	for (int i = 0; i < 8; i++) {
		CHECK(h[i].off % 4 == 0);
		CHECK(h[i].f[SIZE] == strlen(content[i]));
		CHECK(memcmp(h[i].data, content[i], strlen(content[i])) == 0);
		/* padding bytes after the name are zero */
		for (size_t p = h[i].off + 110 + h[i].f[NAMESIZE]; p < (size_t)(h[i].data - buf);
		     p++)
			CHECK(buf[p] == 0);
	}
	free(buf);
	cpio_list_free(&l);
}

TEST(cpio_override_and_duplicates)
{
	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	struct cpio_parse_ctx ctx = { .root = NULL };
	const char *a = mkfile("ov-a", "AAAA"), *b = mkfile("ov-b", "BB");
	char line[512];
	REQUIRE(a && b);

	cpio_list_init(&l);
	snprintf(line, sizeof line, "file /init %s 0755", a);
	REQUIRE(cpio_parse_line(&l, &ctx, line, 0, "l0:1", &err) == 0);
	/* same path in the same list: refused */
	CHECK(cpio_parse_line(&l, &ctx, line, 0, "l0:2", &err) < 0);
	CHECK(strstr(err.msg, "l0:2") && strstr(err.msg, "twice"));
	/* a later list replaces it, and may add */
	snprintf(line, sizeof line, "file /init %s 0700", b);
	REQUIRE(cpio_parse_line(&l, &ctx, line, 1, "l1:1", &err) == 0);
	snprintf(line, sizeof line, "file /etc/marker %s 0644", b);
	REQUIRE(cpio_parse_line(&l, &ctx, line, 1, "l1:2", &err) == 0);
	REQUIRE(cpio_finalize(&l, &err) == 0);
	REQUIRE(l.n == 3); /* /etc (implicit), /etc/marker, /init */
	CHECK_STR(l.v[2].path, "/init");
	CHECK_STR(l.v[2].data, b);
	CHECK(l.v[2].mode == 0700);
	CHECK(l.v[0].implicit && l.v[0].type == CPIO_DIR && l.v[0].mode == 0755);
	cpio_list_free(&l);
}

TEST(cpio_parse_syntax)
{
	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	struct cpio_parse_ctx ctx = { .root = "/repo", .nvars = 1 };
	ctx.vars[0].name = "B";
	ctx.vars[0].value = "build";

	cpio_list_init(&l);
	CHECK(cpio_parse_line(&l, &ctx, "# only a comment", 0, "x", &err) == 0);
	CHECK(cpio_parse_line(&l, &ctx, "   ", 0, "x", &err) == 0);
	CHECK(cpio_parse_line(&l, &ctx, "file /init ${B}/guest/init 0755 # note", 0, "x", &err) ==
	      0);
	CHECK(cpio_parse_line(&l, &ctx, "file /abs /usr/bin/true 0755", 0, "x", &err) == 0);
	CHECK(cpio_parse_line(&l, &ctx, "nod /dev/null 0666 c 1 3", 0, "x", &err) == 0);
	CHECK(cpio_parse_line(&l, &ctx, "slink /bin/ls busybox 0777", 0, "x", &err) == 0);
	REQUIRE(l.n == 4);
	CHECK_STR(l.v[0].data, "/repo/build/guest/init");
	CHECK_STR(l.v[1].data, "/usr/bin/true");
	CHECK(l.v[2].type == CPIO_NOD_CHR && l.v[2].rmajor == 1 && l.v[2].rminor == 3);

	setenv("SEALPOD_CPIO_TEST_VAR", "/from/env", 1);
	CHECK(cpio_parse_line(&l, &ctx, "file /e ${SEALPOD_CPIO_TEST_VAR}/x 0644", 0, "x", &err) ==
	      0);
	CHECK_STR(l.v[4].data, "/from/env/x");
	unsetenv("SEALPOD_CPIO_TEST_VAR");
	cpio_list_free(&l);
}

TEST(cpio_rejects)
{
	static const char *const bad[] = {
		"dir /a/../b 0755",			 /* .. component */
		"dir /a/./b 0755",			 /* . component */
		"dir relative 0755",			 /* not absolute */
		"dir / 0755",				 /* the root itself */
		"dir /a//b 0755",			 /* empty component */
		"dir /a/ 0755",				 /* trailing slash */
		"dir /a 0755 extra",			 /* field count */
		"dir /a 10000",				 /* mode beyond 07777 */
		"dir /a 0789",				 /* not octal */
		"dir /a -1",				 /* negative */
		"nod /dev/x 0600 p 1 2",		 /* device type */
		"nod /dev/x 0600 c 1",			 /* missing minor */
		"nod /dev/x 0600 c 4096 0",		 /* major out of range */
		"file /x ${SEALPOD_NO_SUCH_VAR}/f 0644", /* unset variable */
		"file /x ${}/f 0644",			 /* empty variable name */
		"file /x ${B/f 0644",			 /* unterminated */
		"pipe /x 0644",				 /* unknown type */
	};
	struct cpio_list l;
	struct cpio_error err = { { 0 } };

	cpio_list_init(&l);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err.msg[0] = '\0';
		int ret = cpio_parse_line(&l, NULL, bad[i], 0, "t", &err);
		if (ret == 0)
			fprintf(stderr, "    accepted: %s\n", bad[i]);
		CHECK(ret < 0);
		CHECK(err.msg[0] != '\0');
	}
	CHECK(l.n == 0);
	cpio_list_free(&l);
}

TEST(cpio_rejects_at_write)
{
	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	char *buf = NULL;
	const char *src = mkfile("wr", "x");
	REQUIRE(src);

	/* a missing source fails before anything is written */
	cpio_list_init(&l);
	REQUIRE(cpio_list_add(&l, CPIO_DIR, "/a", NULL, 0755, 0, 0, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l, CPIO_FILE, "/b", "/nonexistent/sealpod", 0644, 0, 0, 0, &err) ==
		0);
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	REQUIRE(f);
	CHECK(cpio_write(&l, MTIME, f, &err) < 0);
	fclose(f);
	CHECK(len == 0);
	CHECK(strstr(err.msg, "/nonexistent/sealpod") != NULL);
	free(buf);
	cpio_list_free(&l);

	/* a directory is not a file source */
	cpio_list_init(&l);
	REQUIRE(cpio_list_add(&l, CPIO_FILE, "/b", "/", 0644, 0, 0, 0, &err) == 0);
	buf = NULL;
	CHECK(write_mem(&l, &buf, &err) < 0);
	free(buf);
	cpio_list_free(&l);

	/* the parent of an entry must be a directory */
	cpio_list_init(&l);
	REQUIRE(cpio_list_add(&l, CPIO_FILE, "/a", src, 0644, 0, 0, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l, CPIO_FILE, "/a/b", src, 0644, 0, 0, 0, &err) == 0);
	CHECK(cpio_finalize(&l, &err) < 0);
	CHECK(strstr(err.msg, "not a directory") != NULL);
	cpio_list_free(&l);
}

TEST(cpio_deterministic)
{
	struct cpio_list l1, l2;
	struct cpio_error err = { { 0 } };
	char *b1 = NULL, *b2 = NULL;
	const char *src = mkfile("det", "same bytes\n");
	REQUIRE(src);

	/* the same entries added in a different order give the same bytes */
	cpio_list_init(&l1);
	cpio_list_init(&l2);
	REQUIRE(cpio_list_add(&l1, CPIO_FILE, "/x/y", src, 0644, 0, 0, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l1, CPIO_DIR, "/a", NULL, 0700, 0, 0, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l2, CPIO_DIR, "/a", NULL, 0700, 0, 0, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l2, CPIO_FILE, "/x/y", src, 0644, 0, 0, 0, &err) == 0);
	long n1 = write_mem(&l1, &b1, &err), n2 = write_mem(&l2, &b2, &err);
	REQUIRE(n1 > 0 && n1 == n2);
	CHECK(memcmp(b1, b2, (size_t)n1) == 0);
	free(b1);
	free(b2);
	cpio_list_free(&l1);
	cpio_list_free(&l2);
}

/* Round trip through Debian's cpio(1), an implementation we did not write. */
TEST(cpio_roundtrip_gnu_cpio)
{
	if (access("/usr/bin/cpio", X_OK) != 0)
		SKIP_MISSING("missing package cpio: /usr/bin/cpio not installed "
			     "(scripts/test-packages.txt)");
	struct cpio_list l;
	struct cpio_error err = { { 0 } };
	char arch[128], dir[128], cmd[512];
	const char *src = mkfile("rt", "round trip\n");
	REQUIRE(src);
	snprintf(arch, sizeof arch, "%s/rt.cpio", tmpdir);
	snprintf(dir, sizeof dir, "%s/rt.out", tmpdir);

	cpio_list_init(&l);
	REQUIRE(cpio_list_add(&l, CPIO_FILE, "/etc/sealpod/rt", src, 0640, 0, 0, 0, &err) == 0);
	REQUIRE(cpio_list_add(&l, CPIO_SLINK, "/bin/sh", "busybox", 0777, 0, 0, 0, &err) == 0);
	FILE *f = fopen(arch, "w");
	REQUIRE(f);
	CHECK(cpio_write(&l, MTIME, f, &err) == 0);
	fclose(f);
	cpio_list_free(&l);

	snprintf(cmd, sizeof cmd,
		 "mkdir -p %s && cd %s && cpio -id --quiet --no-absolute-filenames "
		 "--preserve-modification-time < %s 2>/dev/null",
		 dir, dir, arch);
	REQUIRE(system(cmd) == 0);
	char path[256], got[64] = { 0 };
	snprintf(path, sizeof path, "%s/etc/sealpod/rt", dir);
	struct stat st;
	REQUIRE(stat(path, &st) == 0);
	CHECK((st.st_mode & 07777) == 0640);
	CHECK(st.st_mtime == (time_t)MTIME);
	f = fopen(path, "r");
	REQUIRE(f);
	CHECK(fread(got, 1, sizeof got - 1, f) == 11);
	fclose(f);
	CHECK_STR(got, "round trip\n");
	snprintf(path, sizeof path, "%s/bin/sh", dir);
	ssize_t n = readlink(path, got, sizeof got - 1);
	REQUIRE(n > 0);
	got[n] = '\0';
	CHECK_STR(got, "busybox");
}
