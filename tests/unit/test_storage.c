/* The storage module's pure parts: PCI paths, Storage options, disk sizes, the superblock
 * backup layout, block device names. All host-chosen bytes, so every malformed shape is tried. */
#include <stdlib.h>
#include <sys/mount.h>

#include "storage/storage.h"
#include "storage/storage_int.h"
#include "unit.h"

static int pci(const char *s, struct sp_pci_path *p)
{
	struct sp_err err;

	return sp_pci_path_parse(s, strlen(s), p, &err);
}

TEST(storage_pci_path_valid)
{
	struct sp_pci_path p;

	REQUIRE(pci("02", &p) == 0);
	CHECK(p.n == 1 && p.slot[0] == 2 && p.fn[0] == 0);
	REQUIRE(pci("02/00", &p) == 0);
	CHECK(p.n == 2 && p.slot[0] == 2 && p.slot[1] == 0);
	REQUIRE(pci("0a.5/0b.6/0c.7", &p) == 0);
	CHECK(p.n == 3 && p.slot[0] == 0xa && p.fn[0] == 5 && p.slot[2] == 0xc && p.fn[2] == 7);
	REQUIRE(pci("1f.7", &p) == 0);
	CHECK(p.slot[0] == 0x1f && p.fn[0] == 7);
	REQUIRE(pci("1F", &p) == 0);
	CHECK(p.slot[0] == 0x1f);
	REQUIRE(pci("0", &p) == 0); /* one hex digit is a slot too */
	REQUIRE(pci("01/02/03/04/05/06/07/08", &p) == 0);
	CHECK(p.n == 8);
}

TEST(storage_pci_path_malformed)
{
	static const char *const bad[] = {
		"",
		"/",
		"//",
		"02/",
		"/02",
		"20",
		"ff",
		"00.8",
		"00.x",
		"xy",
		"xy.0",
		"00.0.0",
		"00./01",
		"000",
		"02//00",
		"-1",
		"02 ",
		" 02",
		"0x02",
		"02.",
		".0",
		"02.00",
		"01/02/03/04/05/06/07/08/09",
		"02\n",
		"../02",
		"02/00/",
	};
	struct sp_pci_path p;
	struct sp_err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (pci(bad[i], &p) == 0)
			fprintf(stderr, "    accepted '%s'\n", bad[i]);
		CHECK(pci(bad[i], &p) < 0);
	}
	/* An embedded NUL: the wire's length counts. */
	CHECK(sp_pci_path_parse("02\0/00", 6, &p, &err) < 0);
	/* The message shows the input escaped. */
	CHECK(sp_pci_path_parse("\x1b[2J", 4, &p, &err) < 0);
	CHECK(strstr(err.msg, "\\x1b") != NULL);
}

TEST(storage_blk_opts)
{
	char *kata[] = { "encryption_key=ephemeral", "create_filesystem" };
	char *mo[] = { "rw", "noatime", "ro" };
	struct sp_blk_opts o;
	struct sp_err err;

	REQUIRE(sp_blk_opts_parse(kata, 2, NULL, 0, &o, &err) == 0);
	CHECK(o.encrypt && o.create_fs && !o.read_only);
	CHECK((o.mflags & (MS_NODEV | MS_NOSUID)) == (MS_NODEV | MS_NOSUID));
	REQUIRE(sp_blk_opts_parse(kata, 1, mo, 3, &o, &err) == 0);
	CHECK(o.encrypt && !o.create_fs && o.read_only);
	CHECK(o.mflags & MS_NOATIME);
	CHECK(o.mflags & MS_RDONLY);
	REQUIRE(sp_blk_opts_parse(NULL, 0, NULL, 0, &o, &err) == 0);
	CHECK(!o.encrypt && !o.create_fs);
}

TEST(storage_blk_opts_refused)
{
	char *kbs[] = { "encryption_key=kbs:///default/key/1" };
	char *unknown[] = { "encryption_key=ephemeral", "fsgroup=7" };
	char *null_opt[] = { NULL };
	char *dev[] = { "dev" }, *suid[] = { "suid" }, *data[] = { "data=journal" };
	char *ctl[] = { "\x01\x02" };
	struct sp_blk_opts o;
	struct sp_err err;

	CHECK(sp_blk_opts_parse(kbs, 1, NULL, 0, &o, &err) < 0);
	CHECK(strstr(err.msg, "only encryption_key=ephemeral") != NULL);
	CHECK(sp_blk_opts_parse(unknown, 2, NULL, 0, &o, &err) < 0);
	CHECK(strstr(err.msg, "fsgroup=7") != NULL);
	CHECK(sp_blk_opts_parse(null_opt, 1, NULL, 0, &o, &err) < 0);
	CHECK(sp_blk_opts_parse(NULL, 0, dev, 1, &o, &err) < 0);
	CHECK(strstr(err.msg, "nodev,nosuid") != NULL);
	CHECK(sp_blk_opts_parse(NULL, 0, suid, 1, &o, &err) < 0);
	CHECK(sp_blk_opts_parse(NULL, 0, data, 1, &o, &err) < 0);
	CHECK(sp_blk_opts_parse(NULL, 0, ctl, 1, &o, &err) < 0);
	CHECK(strstr(err.msg, "\\x01") != NULL);
}

TEST(storage_size_check)
{
	struct sp_err err;

	CHECK(sp_storage_size_check("vdb", 1ull << 30, &err) == 0);
	CHECK(sp_storage_size_check("vdb", 64ull << 20, &err) == 0);
	CHECK(sp_storage_size_check("vdb", (64ull << 20) - 4096, &err) < 0);
	CHECK(strstr(err.msg, "at least 64 MiB") != NULL);
	CHECK(sp_storage_size_check("vdb", 0, &err) < 0);
	CHECK(sp_storage_size_check("vdb", (1ull << 30) + 512, &err) < 0);
	CHECK(sp_storage_size_check("vdb", 1ull << 60, &err) < 0);
	CHECK(sp_storage_size_check("vdb", UINT64_MAX, &err) < 0);
}

TEST(storage_sb_blocks)
{
	uint64_t b[64];
	size_t n;

	/* 1 GiB of 4 KiB blocks: 8 groups; superblocks in groups 0, 1, 3, 5, 7. */
	n = sp_ext4_sb_blocks(262144, b, 64);
	REQUIRE(n == 5);
	CHECK(b[0] == 0 && b[1] == 32768 && b[2] == 3 * 32768 && b[3] == 5 * 32768 &&
	      b[4] == 7 * 32768);
	/* 8 GiB: 64 groups: 0 1 3 5 7 9 25 27 49. */
	n = sp_ext4_sb_blocks(8ull << 18, b, 64);
	REQUIRE(n == 9);
	CHECK(b[5] == 9 * 32768 && b[6] == 25 * 32768 && b[7] == 27 * 32768 && b[8] == 49 * 32768);
	/* A partial last group counts. */
	CHECK(sp_ext4_sb_blocks(32769, b, 64) == 2);
	CHECK(sp_ext4_sb_blocks(1, b, 64) == 1);
	CHECK(sp_ext4_sb_blocks(0, b, 64) == 0);
	/* max bounds what is stored, not the count; huge sizes stay quick. */
	CHECK(sp_ext4_sb_blocks(1ull << 50, b, 4) > 4);
	CHECK(sp_ext4_sb_blocks(UINT64_MAX, b, 64) > 64);
}

TEST(storage_blkname)
{
	CHECK(sp_valid_blkname("vda"));
	CHECK(sp_valid_blkname("nvme0n1"));
	CHECK(!sp_valid_blkname(""));
	CHECK(!sp_valid_blkname(".."));
	CHECK(!sp_valid_blkname("vd/a"));
	CHECK(!sp_valid_blkname("VDA"));
	CHECK(!sp_valid_blkname("vda "));
	CHECK(!sp_valid_blkname("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST(storage_sandboxfs_options)
{
	struct sp_sandboxfs_opts o;
	struct sp_err err;
	char *ok[] = { "fsgid=1000", "mode=0777" };
	char *sticky[] = { "mode=1777" };
	char *bad[][1] = { { "mode=4755" }, { "mode=0x1ff" }, { "mode=17777" },
			   { "fsgid=-1" },  { "fsgid=" },     { "fsgid=1a" },
			   { "size=1G" },   { "rw" },	      { "" } };
	char *twice[] = { "fsgid=1", "fsgid=2" };

	REQUIRE(sp_sandboxfs_opts_parse(ok, 2, true, &o, &err) == 0);
	CHECK(o.gid == 1000 && o.mode == 0777);
	REQUIRE(sp_sandboxfs_opts_parse(sticky, 1, true, &o, &err) == 0);
	CHECK(o.gid == -1 && o.mode == 01777);
	REQUIRE(sp_sandboxfs_opts_parse(NULL, 0, false, &o, &err) == 0);
	CHECK(o.gid == -1 && o.mode == -1);
	/* mode is a local-directory option only; a tmpfs keeps 1777 */
	CHECK(sp_sandboxfs_opts_parse(&ok[1], 1, false, &o, &err) < 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(sp_sandboxfs_opts_parse(bad[i], 1, true, &o, &err) < 0);
	CHECK(sp_sandboxfs_opts_parse(twice, 2, true, &o, &err) < 0);
	CHECK(strstr(err.msg, "repeated") != NULL);
}

/* The sandbox /dev/shm storage both shims send with CreateSandbox: its options as they come,
 * sizes with tmpfs's suffixes, and what is refused (another driver or source, a set-id mode,
 * size 0 (tmpfs: unlimited), unknown options, another mount point). */
TEST(storage_shm_options)
{
	char *shim[] = { "noexec", "nosuid", "nodev", "mode=1777", "size=67108864" };
	char *suffix[] = { "size=64m", "fsgid=2000", "mode=0770" };
	char *bad[][1] = { { "size=0" },      { "size=1t" },	 { "size=-1" }, { "size=" },
			   { "mode=2777" },   { "mode=4777" },	 { "mode=9" },	{ "fsgid=x" },
			   { "huge=always" }, { "nr_inodes=5" }, { "exec" } };
	Grpc__Storage s = GRPC__STORAGE__INIT;
	struct sp_shm_opts o;
	struct sp_err err;

	s.driver = "ephemeral";
	s.source = "shm";
	s.fstype = "tmpfs";
	s.mount_point = SP_SANDBOX_SHM;
	s.options = shim;
	s.n_options = 5;
	REQUIRE(sp_storage_shm_check(&s, &o, &err) == 0);
	CHECK(o.size == 64ULL << 20 && o.mode == 01777 && o.gid == -1);
	s.options = suffix;
	s.n_options = 3;
	REQUIRE(sp_storage_shm_check(&s, &o, &err) == 0);
	CHECK(o.size == 64ULL << 20 && o.mode == 0770 && o.gid == 2000);
	s.n_options = 0;
	REQUIRE(sp_storage_shm_check(&s, &o, &err) == 0);
	CHECK(o.size == 0 && o.mode == 01777);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s.options = bad[i];
		s.n_options = 1;
		CHECK(sp_storage_shm_check(&s, &o, &err) < 0);
		CHECK(err.kind == SP_E_INVALID);
	}
	CHECK(strstr(err.msg, "option 'exec' is not supported") != NULL);
	s.n_options = 0;
	s.mount_point = "/run/kata-containers/sandbox/shm/../../x";
	CHECK(sp_storage_shm_check(&s, &o, &err) < 0);
	s.mount_point = "/dev/shm";
	CHECK(sp_storage_shm_check(&s, &o, &err) < 0);
	CHECK(strstr(err.msg, "is not " SP_SANDBOX_SHM) != NULL);
	s.mount_point = SP_SANDBOX_SHM;
	s.fstype = "hugetlbfs";
	CHECK(sp_storage_shm_check(&s, &o, &err) < 0);
	s.fstype = "tmpfs";
	s.driver = "virtio-fs";
	CHECK(sp_storage_shm_check(&s, &o, &err) < 0 && err.kind == SP_E_UNSUPPORTED);
	CHECK(strstr(err.msg, "storage driver 'virtio-fs' is not supported") != NULL);
}
