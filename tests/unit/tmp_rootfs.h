/* A rootfs in a temporary directory with etc/passwd and etc/group, for the unit tests that need
 * an image on disk (test_runtime.c, test_pin.c). */
#ifndef SEALPOD_UNIT_TMP_ROOTFS_H
#define SEALPOD_UNIT_TMP_ROOTFS_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int tmp_rootfs(char dir[64], const char *passwd, const char *group)
{
	char p[128];
	FILE *f;

	strcpy(dir, "/tmp/sealpod-unit-rootfs-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	(void)snprintf(p, sizeof(p), "%s/etc", dir);
	if (mkdir(p, 0755) < 0)
		return -1;
	(void)snprintf(p, sizeof(p), "%s/etc/passwd", dir);
	if (passwd && ((f = fopen(p, "w")) == NULL || fputs(passwd, f) < 0 || fclose(f) != 0))
		return -1;
	(void)snprintf(p, sizeof(p), "%s/etc/group", dir);
	if (group && ((f = fopen(p, "w")) == NULL || fputs(group, f) < 0 || fclose(f) != 0))
		return -1;
	return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void rm_rootfs(const char *dir)
{
	char p[128];

	(void)snprintf(p, sizeof(p), "%s/etc/passwd", dir);
	unlink(p);
	(void)snprintf(p, sizeof(p), "%s/etc/group", dir);
	unlink(p);
	(void)snprintf(p, sizeof(p), "%s/etc", dir);
	rmdir(p);
	rmdir(dir);
}

#endif
