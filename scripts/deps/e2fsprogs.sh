# shellcheck shell=bash
# e2fsprogs: static-pie mke2fs and e2fsck only, with e2fsprogs' own internal libuuid/libblkid.
build_e2fsprogs() {
	# --prefix=/usr --sysconfdir=/etc: mke2fs/e2fsck embed these paths (/etc/mke2fs.conf).
	./configure --prefix=/usr --sysconfdir=/etc --disable-nls --disable-elf-shlibs --disable-bsd-shlibs \
		--disable-fuse2fs --disable-debugfs --disable-imager --disable-defrag --disable-tdb \
		--disable-resizer --disable-uuidd --disable-backtrace --disable-rpath --disable-fsck \
		--disable-e2initrd-helper --without-udev-rules-dir --without-crond-dir \
		--without-systemd-unit-dir --enable-libuuid --enable-libblkid \
		CFLAGS="$CPPFLAGS $CFLAGS" LDFLAGS="-static-pie -Wl,-z,relro,-z,now,-z,noexecstack,--gc-sections"
	make -j"$JOBS" libs
	make -C misc -j"$JOBS" mke2fs
	make -C e2fsck -j"$JOBS" e2fsck
	mkdir -p "$PREFIX/sbin"
	install -m755 misc/mke2fs "$PREFIX/sbin/mke2fs"
	install -m755 e2fsck/e2fsck "$PREFIX/sbin/e2fsck"
	strip "$PREFIX/sbin/mke2fs" "$PREFIX/sbin/e2fsck"
}
