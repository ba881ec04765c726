# sealpod: the one entry point. `make` builds every artifact under build/; `make run` runs a
# demo pod in the guest; `make test` runs the whole suite. Expensive outputs (static
# dependencies, the kernel) are cached outside the checkout, keyed by a hash of their inputs
# (scripts/lib.sh).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
# Keep intermediate objects (fuzz and test objects come from chained pattern rules).
.SECONDARY:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules

B := build
export SEALPOD_CACHE ?= $(HOME)/.cache/sealpod
export SOURCE_DATE_EPOCH ?= 1704067200

# Kernel-style output: one short line per step (`  CC      init/agent/gate.c`); `make V=1`
# prints the full commands instead.
V ?= 0
ifeq ($(V),1)
say =
Q :=
else
say = @printf '  %-7s %s\n' '$(1)' '$(2)';
Q := @
endif
# Header dependencies come from the compiler (-MMD -MP: one .d file beside each object), so a
# header change rebuilds only what includes it. Generated protobuf-c headers are order-only
# prerequisites of every object: they exist before the first compile, and the .d files track
# them from then on.
DEPFLAGS := -MMD -MP

# --- the guest build: static-pie, musl, hardened, against the cached dependency prefix --------
# build-deps writes the prefix path once the dependencies are built (read lazily: on a fresh
# machine the toolchain that keys the prefix is only installed by the packages step).
DEPS_PREFIX = $(file < $(B)/deps-prefix)
GUEST_CC := gcc -specs $(CURDIR)/scripts/musl-static-pie.specs
WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla -Wno-unused-parameter
GUEST_CFLAGS = -std=gnu11 -O2 -fPIE $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	-fno-strict-aliasing -ffunction-sections -fdata-sections -ffile-prefix-map=$(CURDIR)=. \
	-isystem $(DEPS_PREFIX)/include -I$(B)/gen -Iinit
GUEST_LDFLAGS = -static-pie -Wl,-z,relro,-z,now,-z,noexecstack,--gc-sections -s -L$(DEPS_PREFIX)/lib
# Static archives: only what /init references is linked in (--gc-sections drops the rest).
GUEST_LIBS := -lcryptsetup -ldevmapper -lcurl -lssl -lcrypto -lprotobuf-c -ljson-c -lblkid -luuid \
	-lseccomp -lzstd -lisal -lz -lm -pthread

# --- the host build: glibc + Debian -dev libraries, ASan/UBSan, for unit tests and fuzzing ----
HOST_CC := gcc
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_CFLAGS := -std=gnu11 -O1 -g $(WARN) $(SAN) -I$(B)/gen -Iinit -DSEALPOD_HOST_BUILD
# One list for every host build of our code: the unit tests here, the host agent of
# tests/integration/test_agent_host.py (the bench runs the guest's own /init instead).
HOST_LIBS := $(file < tests/host-libs.txt)
FUZZ_CC := clang
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I$(B)/gen -Iinit -DSEALPOD_HOST_BUILD

# --- sources ----------------------------------------------------------------------------------
# /init is every init/<module>/*.c except the pause program; init/boot/main.c holds main().
INIT_SRCS := $(sort $(filter-out init/pause/%,$(wildcard init/*/*.c)))
LIB_SRCS := $(filter-out init/boot/main.c,$(INIT_SRCS))
PAUSE_SRCS := $(sort $(wildcard init/pause/*.c))
PROTOS := $(sort $(wildcard init/agent/proto/*.proto))
PROTO_C := $(patsubst init/agent/proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))
TESTBIN_SRCS := $(sort $(wildcard tests/guest/*.c))
TESTBINS := $(patsubst tests/guest/%.c,$(B)/guest/%,$(TESTBIN_SRCS))

.PHONY: all deps kernel kernel-repro initramfs run test lint fuzz clean bench install \
	check-fresh check-repro check-measure
all: $(B)/bzImage $(B)/initramfs.img $(B)/initramfs-test.img $(B)/sealpod-cpio $(B)/sealpod-measure \
	$(B)/sealpod-ctl $(B)/sealpod-policy

# --- Debian packages the build and the tests need (installed when missing, as root) -----------
$(B)/packages.stamp: scripts/ensure-packages $(wildcard scripts/*-packages.txt)
	@mkdir -p $(B)
	$(call say,PKGS,scripts/*-packages.txt)scripts/ensure-packages
	@touch $@

# --- dependencies and kernel (cached outside the checkout) ------------------------------------
deps: $(B)/deps.stamp
$(B)/deps.stamp: $(B)/packages.stamp scripts/build-deps scripts/deps.lock scripts/lib.sh \
		scripts/musl-static-pie.specs $(wildcard scripts/deps/*.sh)
	$(call say,DEPS,$(B)/deps-manifest.txt)scripts/build-deps --build $(B)/deps-manifest.txt
	$(Q)scripts/build-deps --print-prefix > $(B)/deps-prefix
	@touch $@

kernel: $(B)/bzImage
# A from-scratch kernel build in another directory must give the cached kernel's bytes (slow).
kernel-repro: $(B)/packages.stamp
	scripts/check-kernel-repro
$(B)/bzImage: $(B)/packages.stamp scripts/build-kernel scripts/check-kconfig scripts/lib.sh $(wildcard kernel-config/*.conf)
	$(call say,KERNEL,$@)scripts/build-kernel $(B)
	@touch $@

# --- generated protobuf-c code ----------------------------------------------------------------
$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: init/agent/proto/%.proto $(B)/packages.stamp
	@mkdir -p $(B)/gen
	$(call say,PROTOC,$<)protoc-c --proto_path=init/agent/proto --c_out=$(B)/gen $<

# --- objects built before header dependencies were recorded ----------------------------------
# Such an object has no .d file, so a header changed since would not rebuild it and a stale
# struct layout would be linked in. This stamp is made once per build tree, after them: every
# object older than it is rebuilt once; in a new tree it comes first and changes nothing. It is
# made while the Makefile is read (a stamp made by a rule would count as a missing secondary
# file under .SECONDARY, which rebuilds nothing).
OBJ_STAMP := $(B)/objects-with-deps.stamp
$(shell [ -e $(OBJ_STAMP) ] || { mkdir -p $(B) && touch $(OBJ_STAMP); })

# --- guest objects and programs ---------------------------------------------------------------
$(B)/guest/obj/%.o: %.c $(B)/deps.stamp $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(GUEST_CC) $(GUEST_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(B)/guest/obj/gen/%.o: $(B)/gen/%.c $(B)/deps.stamp $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(GUEST_CC) $(GUEST_CFLAGS) $(DEPFLAGS) -c $< -o $@

GUEST_INIT_OBJS := $(patsubst %.c,$(B)/guest/obj/%.o,$(INIT_SRCS)) \
	$(patsubst $(B)/gen/%.c,$(B)/guest/obj/gen/%.o,$(PROTO_C))
GUEST_LIB_OBJS := $(filter-out $(B)/guest/obj/init/boot/main.o,$(GUEST_INIT_OBJS))
$(B)/guest/init: $(GUEST_INIT_OBJS)
	$(call say,LD,$@)$(GUEST_CC) $(GUEST_LDFLAGS) $^ $(GUEST_LIBS) -o $@
$(B)/guest/pause: $(patsubst %.c,$(B)/guest/obj/%.o,$(PAUSE_SRCS))
	$(call say,LD,$@)$(GUEST_CC) $(GUEST_LDFLAGS) $^ -o $@
# Test-overlay programs (relay, in-guest driver): one .c each, linked with init's library code.
$(B)/guest/%: $(B)/guest/obj/tests/guest/%.o $(GUEST_LIB_OBJS)
	$(call say,LD,$@)$(GUEST_CC) $(GUEST_LDFLAGS) $^ $(GUEST_LIBS) -o $@

# --- host tools -------------------------------------------------------------------------------
$(B)/sealpod-cpio: measure/cpio.c measure/cpio.h measure/cpio_main.c $(B)/packages.stamp
	$(call say,HOSTCC,$@)$(HOST_CC) -std=gnu11 -O2 $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Imeasure \
		measure/cpio.c measure/cpio_main.c -o $@
# sealpod-measure: reference values (PCR4/5/8/9) and event-log replay, OpenSSL libcrypto from
# Debian's libssl-dev. The command line (main() in measure_main.c, the replay subcommand in
# replay_cli.c) stays out of MEASURE_LIB_SRCS so unit tests and fuzzers link the rest.
MEASURE_CLI_SRCS := measure/measure_main.c measure/replay_cli.c measure/rvps.c
MEASURE_LIB_SRCS := $(sort $(filter-out measure/measure_main.c,\
	$(wildcard measure/measure*.c measure/pe*.c measure/eventlog*.c)))
$(B)/sealpod-measure: $(MEASURE_LIB_SRCS) $(MEASURE_CLI_SRCS) $(wildcard measure/*.h) \
		$(B)/packages.stamp
	$(call say,HOSTCC,$@)$(HOST_CC) -std=gnu11 -O2 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Imeasure \
		$(MEASURE_LIB_SRCS) $(MEASURE_CLI_SRCS) -lcrypto -o $@

# sealpod-ctl: the host's client of the agent API. It lives in init/agent/ctl/ (a subdirectory, so
# not part of /init) and is linked with the agent's generated protobuf-c code.
CTL_SRCS := $(sort $(wildcard init/agent/ctl/*.c))
$(B)/sealpod-ctl: $(CTL_SRCS) $(wildcard init/agent/ctl/*.h) init/lib/be.h $(PROTO_C) $(PROTO_H) $(B)/packages.stamp
	$(call say,HOSTCC,$@)$(HOST_CC) -std=gnu11 -O2 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Iinit \
		-I$(B)/gen $(CTL_SRCS) $(PROTO_C) -lprotobuf-c -ljson-c -o $@

# --- initramfs images (bit-reproducible) ------------------------------------------------------
INITRAMFS_INPUTS := $(B)/guest/init $(B)/guest/pause $(B)/sealpod-cpio rootfs/initramfs.list \
	scripts/mkinitramfs
$(B)/initramfs.img: $(INITRAMFS_INPUTS)
	$(call say,CPIO,$@)scripts/mkinitramfs $@ rootfs/initramfs.list
$(B)/initramfs-test.img: $(INITRAMFS_INPUTS) $(TESTBINS) rootfs/test-overlay.list \
		rootfs/test-overlay.marker
	$(call say,CPIO,$@)scripts/mkinitramfs $@ rootfs/initramfs.list rootfs/test-overlay.list
initramfs: $(B)/initramfs.img $(B)/initramfs-test.img

# --- host build for unit tests (ASan + UBSan) -------------------------------------------------
$(B)/host/obj/%.o: %.c $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOST_CC) $(HOST_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(B)/host/obj/gen/%.o: $(B)/gen/%.c $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOST_CC) $(HOST_CFLAGS) $(DEPFLAGS) -c $< -o $@
HOST_LIB_OBJS := $(patsubst %.c,$(B)/host/obj/%.o,$(LIB_SRCS)) \
	$(patsubst $(B)/gen/%.c,$(B)/host/obj/gen/%.o,$(PROTO_C))
# One unit binary per module, build/host/unit/<module>: the tests of tests/unit/test_<module>*.c
# (a file whose first word is not its module is listed in UNIT_MODULE_<module>), the runner
# (tests/unit/main.c) and an archive of the host objects, so each binary links only what its
# tests reach. A test hook that needs a module's private state is tests/unit/hooks/<module>/<file>.c:
# it includes init/<module>/<file>.c and adds the hook, and the archive holds it in place of that
# file's object, so no production source carries test code; helpers several modules' tests share
# are the other tests/unit/*.c, in the archive too. build/host/unit-tests runs every binary.
UNIT_MODULE_agent := fields form gate proto ttrpc
UNIT_MODULE_attest := secrets
UNIT_MODULE_lib := cmdline pathat worker
UNIT_MODULE_measure := cpio
UNIT_MODULE_runtime := confine pin prepare update
UNIT_MODULE_storage := fsgroup
UNIT_TEST_SRCS := $(filter tests/unit/test_%.c,$(UNIT_SRCS))
unit_word = $(firstword $(subst _, ,$(patsubst tests/unit/test_%.c,%,$(1))))
unit_module = $(or $(firstword $(foreach m,$(patsubst UNIT_MODULE_%,%,$(filter UNIT_MODULE_%,\
	$(.VARIABLES))),$(if $(filter $(call unit_word,$(1)),$(UNIT_MODULE_$(m))),$(m)))),$(call unit_word,$(1)))
UNIT_MODULES := $(sort $(foreach f,$(UNIT_TEST_SRCS),$(call unit_module,$(f))))
UNIT_HOOK_SRCS := $(sort $(wildcard tests/unit/hooks/*/*.c))
UNIT_HELPER_SRCS := $(filter-out tests/unit/main.c $(UNIT_TEST_SRCS),$(UNIT_SRCS))
UNIT_ARCHIVE := $(B)/host/unit/libunit.a
$(UNIT_ARCHIVE): $(filter-out $(patsubst tests/unit/hooks/%.c,$(B)/host/obj/init/%.o,$(UNIT_HOOK_SRCS)),\
		$(HOST_LIB_OBJS)) $(patsubst %.c,$(B)/host/obj/%.o,$(UNIT_HOOK_SRCS) $(UNIT_HELPER_SRCS)) \
		$(B)/host/obj/measure/cpio.o $(patsubst %.c,$(B)/host/obj/%.o,$(MEASURE_LIB_SRCS))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
define unit_binary
$(B)/host/unit/$(1): $(B)/host/obj/tests/unit/main.o $(UNIT_ARCHIVE) \
		$(patsubst %.c,$(B)/host/obj/%.o,$(foreach f,$(UNIT_TEST_SRCS),$(if $(filter $(1),$(call unit_module,$(f))),$(f))))
	$$(call say,LD,$$@)$$(HOST_CC) $$(HOST_CFLAGS) $$(filter %.o,$$^) $(UNIT_ARCHIVE) $$(HOST_LIBS) -o $$@
endef
$(foreach m,$(UNIT_MODULES),$(eval $(call unit_binary,$(m))))
$(B)/host/unit-tests: tests/unit/run-modules $(addprefix $(B)/host/unit/,$(UNIT_MODULES))
	$(call say,GEN,$@)sed 's/@MODULES@/$(UNIT_MODULES)/' $< >$@ && chmod 755 $@

# --- sealpod-policy ------------------------------------------------------------------------
# sealpod-policy (measure/policy/, spp.h): a pod's policy, initdata, annotation and reference
# values, and `explain`. It links the guest's own policy and initdata code compiled for the host
# (the same sources as the unit tests, but a release build: -O2, hardening, no sanitizers, since
# operators run it), from an archive so only what it reaches comes in; libyaml for generate's
# reader. The unit tests and fuzz targets exercise the same sources under ASan/UBSan.
TOOL_CFLAGS := -std=gnu11 -O2 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE \
	-I$(B)/gen -Iinit -DSEALPOD_HOST_BUILD
$(B)/tool/obj/%.o: %.c $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,TOOLCC,$<)$(HOST_CC) $(TOOL_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(B)/tool/obj/gen/%.o: $(B)/gen/%.c $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,TOOLCC,$<)$(HOST_CC) $(TOOL_CFLAGS) $(DEPFLAGS) -c $< -o $@
SPP_SRCS := $(sort $(wildcard measure/policy/*.c))
SPP_OBJS := $(patsubst %.c,$(B)/tool/obj/%.o,$(SPP_SRCS)) $(B)/tool/obj/init/agent/ctl/pbjson.o
SPP_ARCHIVE := $(B)/tool/libinit.a
SPP_LIBS := $(HOST_LIBS) -lyaml
$(SPP_ARCHIVE): $(patsubst $(B)/host/obj/%,$(B)/tool/obj/%,$(HOST_LIB_OBJS))
	@mkdir -p $(dir $@)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(B)/sealpod-policy: $(SPP_OBJS) $(SPP_ARCHIVE)
	$(call say,LD,$@)$(HOST_CC) $(TOOL_CFLAGS) -pie -Wl,-z,relro,-z,now $(SPP_OBJS) $(SPP_ARCHIVE) \
		$(SPP_LIBS) -o $@
# Its unit tests (tests/unit/test_spp_*.c) link the parts they test (not main(), nor generate's
# objects, which need libyaml, which the unit binaries do not link).
SPP_UNIT_OBJS := $(patsubst %.c,$(B)/host/obj/%.o,$(wildcard measure/policy/explain*.c \
	measure/policy/initdata_out*.c measure/policy/annotate*.c measure/policy/refvalues.c \
	measure/policy/util.c)) $(B)/host/obj/init/agent/ctl/pbjson.o
# explain finds a call's message among every request message of the .proto files, listed here
# from the generated headers (clang-tidy reads it too).
$(B)/gen/spp-requests.h: $(B)/gen/agent.pb-c.h $(B)/gen/health.pb-c.h
	$(call say,GEN,$@)sed -n 's/^extern const ProtobufCMessageDescriptor \(grpc__[a-z0-9_]*_request__descriptor\);$$/\&\1,/p' $^ >$@.tmp && mv $@.tmp $@
$(B)/host/obj/measure/policy/explain.o $(B)/tool/obj/measure/policy/explain.o: $(B)/gen/spp-requests.h
lint: $(B)/gen/spp-requests.h
$(B)/host/unit/spp: $(SPP_UNIT_OBJS)

# sealpod-policy generate (measure/policy/{yaml,k8s,gen,settings}*.c): its unit tests
# (tests/unit/test_policygen*.c, the unit binary "policygen") and its fuzz target link its
# objects and libyaml.
SPG_SRCS := $(sort $(wildcard measure/policy/yaml*.c measure/policy/k8s*.c measure/policy/gen*.c \
	measure/policy/settings*.c))
SPG_LIB_SRCS := $(filter-out measure/policy/gen_main.c,$(SPG_SRCS))
$(B)/host/unit/policygen: $(patsubst %.c,$(B)/host/obj/%.o,$(SPG_LIB_SRCS))
$(B)/host/unit/policygen: HOST_LIBS += -lyaml
$(B)/fuzz/fuzz_k8s_yaml: $(patsubst %.c,$(B)/fuzz/obj/%.o,$(SPG_LIB_SRCS))
$(B)/fuzz/fuzz_k8s_yaml: HOST_LIBS += -lyaml

# --- fuzzing (clang libFuzzer + ASan/UBSan) ---------------------------------------------------
$(B)/fuzz/obj/%.o: %.c $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@
$(B)/fuzz/obj/gen/%.o: $(B)/gen/%.c $(OBJ_STAMP) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@
FUZZ_LIB_OBJS := $(patsubst %.c,$(B)/fuzz/obj/%.o,$(LIB_SRCS)) \
	$(patsubst $(B)/gen/%.c,$(B)/fuzz/obj/gen/%.o,$(PROTO_C))
$(B)/fuzz/%: $(B)/fuzz/obj/tests/fuzz/%.o $(FUZZ_LIB_OBJS) $(B)/fuzz/obj/measure/cpio.o \
		$(patsubst %.c,$(B)/fuzz/obj/%.o,$(MEASURE_LIB_SRCS))
	$(call say,LD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) $^ $(HOST_LIBS) -o $@
# TDVF and AmdSev OVMF for the TDX/SNP reference values (firmware/build): built only on request
# (about 10-40 minutes), cached outside the checkout keyed by the recipe, the edk2 version and the
# toolchain; the measure tests use them when present and skip otherwise.
.PHONY: firmware
firmware: $(B)/deps.stamp
	nice firmware/build --build

# Seconds per target, one target after the other (18 targets: 3 hours by default).
FUZZ_SECONDS ?= 600
fuzz: $(FUZZERS)
	tests/fuzz/run $(FUZZ_SECONDS) $(FUZZERS)

# --- user entry points ------------------------------------------------------------------------
# A whole confidential pod on loopback (scripts/demo): registry + demo image, test KBS, swtpm,
# the guest, a pod through sealpod-ctl, its output and the boot timeline. A plain boot of the
# production image with its timeline: scripts/run-qemu --demo.
run: all
	scripts/demo

test: all $(B)/host/unit-tests $(FUZZERS)
	tests/run

# clang-tidy needs the generated protobuf-c headers.
lint: $(PROTO_C) $(PROTO_H)
	scripts/lint

# A fresh Debian 12 root with only the listed packages: make, make test (empty cache) and the
# kernel reproducibility check inside it (scripts/check-fresh; root, about an hour on 2 cores).
check-fresh:
	scripts/check-fresh

# Reproducibility: /init, pause, the test programs and both initramfs images built from scratch
# in two copies of the tree (tests/repro.sh, also part of make test), and the kernel built from
# scratch once more and compared with the cached one (scripts/check-kernel-repro).
check-repro: $(B)/deps.stamp
	tests/repro.sh
	scripts/check-kernel-repro

# Every measurement vector whose inputs exist here, regenerated where the oracles are given
# (SNP_ORACLE, TDX_ORACLE: tests/measure/make-vectors.sh), and what could not be checked.
check-measure: all
	scripts/check-measure

# Our agent's ttRPC server vs containerd's Go ttRPC server, same run (tests/bench/README.md).
# The guest, the host tools, Kata drop-in configurations for both shims (the Go runtime and
# runtime-rs) and their reference values
# (scripts/install: PREFIX, DESTDIR, VCPUS, MAXVCPUS, MEMORY_MIB, KERNEL_PARAMS, firmware paths).
install: all
	scripts/install

# Each area adds its own tests/bench/bench-* executable, run after the ttRPC comparison; every
# one prints `bench:` lines (DESIGN.md, Conventions) and exits non-zero only when it broke.
# tests/bench/summary closes with a table (sizes, the boot timeline, every ratio of the run).
bench: all $(PROTO_C) $(PROTO_H) $(B)/bench/sealpod-pull $(B)/bench/spawn-bench $(B)/bench/layer-stages
	@mkdir -p $(B)/bench
	rc=0; : >$(B)/bench/lines.txt; \
	tests/bench/run | tee -a $(B)/bench/lines.txt || rc=1; \
	for b in $(sort $(wildcard tests/bench/bench-*)); do [ -x "$$b" ] || continue; \
		"$$b" | tee -a $(B)/bench/lines.txt || rc=1; done; \
	tests/bench/summary $(B)/bench/lines.txt || rc=1; \
	exit $$rc

# The image pull as the guest ships it, as a command for tests/bench/bench-image: the same
# static musl, hardened objects /init is linked from.
$(B)/bench/sealpod-pull: $(B)/guest/obj/tests/image/sealpod-pull.o $(GUEST_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_LDFLAGS) $^ $(GUEST_LIBS) -o $@

# Where one layer's time goes (tests/bench/bench-image's breakdown line): the guest's own
# stream, tar and apply objects, linked like /init.
$(B)/bench/layer-stages: $(B)/guest/obj/tests/bench/layer-stages.o $(GUEST_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_LDFLAGS) $^ $(GUEST_LIBS) -o $@

# What starting a worker costs, for tests/bench/bench-workers: linked like /init.
$(B)/bench/spawn-bench: $(B)/guest/obj/tests/bench/spawn-bench.o $(GUEST_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_LDFLAGS) $^ $(GUEST_LIBS) -o $@

# --- issue 21: faults and load (the "faults" block) -------------------------------------------
# The dm-integrity AEAD check (tests/integration/test_integrity.py) 20 times in a row, each round
# on a freshly formatted disk, journal off and on in turn (one round runs in make test).
# check-faults: the fault tests (tests/integration/test_faults*.py; today all of them also run in
# make test).
.PHONY: check-integrity check-faults
check-integrity: all
	SEALPOD_INTEGRITY_ROUNDS=20 /usr/bin/python3 tests/integration/run.py -k integrity.
check-faults: all
	/usr/bin/python3 tests/integration/run.py -k faults_

clean:
	rm -rf $(B)

# Header dependencies written by the compiler (DEPFLAGS).
-include $(wildcard $(B)/guest/obj/*/*.d $(B)/guest/obj/*/*/*.d $(B)/guest/obj/*/*/*/*.d \
	$(B)/host/obj/*/*.d $(B)/host/obj/*/*/*.d $(B)/host/obj/*/*/*/*.d $(B)/host/obj/*/*/*/*/*.d \
	$(B)/fuzz/obj/*/*.d $(B)/fuzz/obj/*/*/*.d $(B)/fuzz/obj/*/*/*/*.d \
	$(B)/tool/obj/*/*.d $(B)/tool/obj/*/*/*.d $(B)/tool/obj/*/*/*/*.d $(B)/tool/obj/*/*/*/*/*.d)
