#define _GNU_SOURCE
#include "boot/boot.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "lib/cleanup.h"

int sp_loopback_up(struct sp_err *err)
{
	/* The netdevice ioctls work on a socket of any family; the kernel may lack AF_INET. */
	static const int families[] = { AF_INET, AF_UNIX, AF_VSOCK };
	int last = 0;

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		cleanup_close int fd = socket(families[i], SOCK_DGRAM | SOCK_CLOEXEC, 0);
		struct ifreq ifr;

		if (fd < 0 && families[i] == AF_VSOCK)
			fd = socket(families[i], SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		memset(&ifr, 0, sizeof(ifr));
		strncpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name) - 1);
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
			return sp_error(err, errno, "SIOCGIFFLAGS lo");
		if (ifr.ifr_flags & IFF_UP)
			return 0;
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			return sp_error(err, errno, "SIOCSIFFLAGS lo");
		return 0;
	}
	return sp_error(err, last, "socket for lo");
}
