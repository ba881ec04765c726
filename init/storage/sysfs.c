/* Finding disks without udev: by virtio-blk serial (standalone) or by PCI path (Kata), reading
 * sysfs only. The kernel creates /dev/<name> itself (devtmpfs). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "storage/storage_int.h"

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
#define cleanup_dir __attribute__((cleanup(closedirp)))

/* Copies a directory entry's name when it fits. */
static int copy_name(char *out, size_t size, const char *s)
{
	size_t n = strlen(s);

	if (n >= size)
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

/* Reads a small sysfs attribute, trailing newline stripped. */
static int read_attr(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	bool trunc = false;

	if (sp_read_file(path, buf, size - 1, &len, &trunc, NULL) < 0)
		return -1;
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return 0;
}

int sp_sysfs_find_serial(const char *serial, char *name, size_t size, struct sp_err *err)
{
	cleanup_dir DIR *d = opendir("/sys/block");
	struct dirent *e;

	if (!d)
		return sp_error(err, errno, "open /sys/block");
	while ((e = readdir(d))) {
		char path[300], val[64];

		if (strncmp(e->d_name, "vd", 2) != 0 || !sp_valid_blkname(e->d_name))
			continue;
		(void)snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		if (read_attr(path, val, sizeof(val)) < 0 || strcmp(val, serial) != 0)
			continue;
		return copy_name(name, size, e->d_name) < 0 ? 1 : 0;
	}
	return 1;
}

/* The one entry of dir whose name starts with prefix (and is valid), into out. */
static int only_entry(const char *dir, const char *prefix, char *out, size_t size)
{
	cleanup_dir DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		return copy_name(out, size, e->d_name);
	}
	return -1;
}

int sp_sysfs_find_pci(const struct sp_pci_path *p, char *name, size_t size, struct sp_err *err)
{
	char dev[512] = "/sys/devices/pci0000:00";
	char bus[16] = "0000:00";
	char sub[64], blk[64], path[600];

	for (unsigned i = 0; i < p->n; i++) {
		size_t l = strlen(dev);

		(void)snprintf(dev + l, sizeof(dev) - l, "/%s:%02x.%u", bus, p->slot[i], p->fn[i]);
		if (access(dev, F_OK) < 0)
			return 1; /* not plugged (yet) */
		if (i + 1 == p->n)
			break;
		/* A bridge: the bus behind it is the single entry of its pci_bus/ directory. */
		(void)snprintf(path, sizeof(path), "%s/pci_bus", dev);
		if (only_entry(path, "0000:", bus, sizeof(bus)) < 0)
			return 1; /* not a bridge, or not enumerated yet */
	}
	if (only_entry(dev, "virtio", sub, sizeof(sub)) < 0)
		return 1; /* the driver has not bound yet */
	(void)snprintf(path, sizeof(path), "%s/%s/block", dev, sub);
	if (only_entry(path, "", blk, sizeof(blk)) < 0)
		return 1;
	if (!sp_valid_blkname(blk))
		return sp_error(err, 0, "unexpected block device name under %s", path);
	(void)snprintf(name, size, "%s", blk);
	return 0;
}

int sp_sysfs_disk_size(const char *name, uint64_t *bytes, unsigned *lbs, struct sp_err *err)
{
	char path[128], val[32], *end;
	unsigned long long sectors, l;

	(void)snprintf(path, sizeof(path), "/sys/class/block/%s/size", name);
	if (read_attr(path, val, sizeof(val)) < 0)
		return sp_error(err, errno, "read %s", path);
	errno = 0;
	sectors = strtoull(val, &end, 10);
	if (errno || *end || end == val || sectors > (1ull << 54))
		return sp_error(err, 0, "%s: not a size", path);
	(void)snprintf(path, sizeof(path), "/sys/class/block/%s/queue/logical_block_size", name);
	if (read_attr(path, val, sizeof(val)) < 0)
		return sp_error(err, errno, "read %s", path);
	l = strtoull(val, &end, 10);
	if (*end || end == val || l == 0 || l > 65536)
		return sp_error(err, 0, "%s: not a block size", path);
	*bytes = sectors * 512;
	*lbs = (unsigned)l;
	return 0;
}
