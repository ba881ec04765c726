# shellcheck shell=bash
# lvm2: libdevmapper.a only (no udev sync, no SELinux, no tools, no daemons).
build_lvm2() {
	ac_static --disable-udev_sync --disable-udev-systemd-background-jobs --disable-selinux \
		--enable-static_link --disable-readline --disable-blkid_wiping --disable-nls \
		--disable-systemd-journal --disable-app-machineid --disable-dmeventd --disable-cmirrord \
		--disable-lvmpolld --disable-lvmlockd-sanlock --disable-lvmlockd-dlm --disable-use-lvmpolld \
		--disable-notify-dbus --disable-dbus-service --without-systemd-run \
		--with-thin=none --with-cache=none --with-vdo=none --with-writecache=none --with-integrity=none \
		--with-usrlibdir="$PREFIX/lib" --with-libexecdir="$PREFIX/libexec"
	make -C include
	make -C libdm -j"$JOBS" ioctl/libdevmapper.a libdevmapper.pc
	make -C libdm install_ioctl_static install_include install_pkgconfig
}
