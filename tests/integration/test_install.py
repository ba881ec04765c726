"""`make install`: what a Kata operator gets. The Kata drop-in configurations parse, name the
installed kernel and initramfs (byte-identical to build/), keep the guest's security choices
(shared_fs=none, guest pull, static resources, no debug console), and the installed reference
values equal what sealpod-measure computes for the command line Kata's Go runtime builds from
that very file. No guest boot: scripts/install and scripts/kata-refvalues are the subjects."""
import filecmp
import hashlib
import json
import os
import subprocess
import tempfile
import tomllib

import harness

TOP = harness.TOP
B = os.path.join(TOP, "build")
PREFIX = "/opt/sealpod-test"
KATA_BASE = ("tsc=reliable no_timer_check rcupdate.rcu_expedited=1 i8042.direct=1 "
             "i8042.dumbkbd=1 i8042.nopnp=1 i8042.noaux=1 noreplace-smp reboot=k "
             "cryptomgr.notests net.ifnames=0 pci=lastbus=0 console=hvc0 console=hvc1 quiet panic=1")

_staged = {}


def _install(**env):
    key = tuple(sorted(env.items()))
    if key in _staged:
        return _staged[key]
    dest = tempfile.mkdtemp(prefix="sealpod-install-")
    e = dict(os.environ, PREFIX=PREFIX, DESTDIR=dest, B=B, **env)
    r = subprocess.run([os.path.join(TOP, "scripts", "install")], env=e, capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"scripts/install failed: {r.stderr.strip()}")
    _staged[key] = dest
    return dest


def _conf(dest, name):
    path = os.path.join(dest, PREFIX.lstrip("/"), "share/defaults/kata-containers",
                        f"configuration-{name}-sealpod.toml")
    with open(path, "rb") as f:
        return tomllib.load(f)


def test_layout_and_files():
    dest = _install()
    root = os.path.join(dest, PREFIX.lstrip("/"))
    data = os.path.join(root, "share/sealpod")
    assert filecmp.cmp(os.path.join(B, "bzImage"), os.path.join(data, "vmlinuz-sealpod"), False)
    assert filecmp.cmp(os.path.join(B, "initramfs.img"),
                       os.path.join(data, "initramfs-sealpod.img"), False)
    for tool in ("sealpod-ctl", "sealpod-measure", "sealpod-kata-refvalues"):
        p = os.path.join(root, "bin", tool)
        assert os.access(p, os.X_OK), f"{tool} not installed executable"
    # The production image is installed, never the test image.
    assert not filecmp.cmp(os.path.join(B, "initramfs-test.img"),
                           os.path.join(data, "initramfs-sealpod.img"), False)


def test_kata_configurations():
    dest = _install()
    for name in ("qemu", "qemu-tdx", "qemu-snp", "clh"):
        conf = _conf(dest, name)
        hv_name, hv = next(iter(conf["hypervisor"].items()))
        assert hv_name == ("clh" if name == "clh" else "qemu"), name
        assert hv["kernel"] == f"{PREFIX}/share/sealpod/vmlinuz-sealpod", name
        assert hv["initrd"] == f"{PREFIX}/share/sealpod/initramfs-sealpod.img", name
        assert "image" not in hv, f"{name}: an initrd guest has no rootfs image"
        assert hv["shared_fs"] == "none", name
        assert hv["block_device_driver"] == "virtio-blk", name
        agent = conf["agent"]["kata"]
        assert agent["debug_console_enabled"] is False and agent["dial_timeout"] >= 30, name
        rt = conf["runtime"]
        assert rt["experimental_force_guest_pull"] is True, name
        assert rt["static_sandbox_resource_mgmt"] is True, name
        assert rt["disable_guest_seccomp"] is False, name
        # A pod may bring initdata (measured), and no annotation that changes the launch.
        assert hv["enable_annotations"] == ["cc_init_data"], name
    assert _conf(dest, "qemu-tdx")["hypervisor"]["qemu"]["confidential_guest"] is True
    snp = _conf(dest, "qemu-snp")["hypervisor"]["qemu"]
    assert snp["confidential_guest"] is True and snp["sev_snp_guest"] is True
    # The plain QEMU configuration boots through OVMF, so the vTPM measures kernel and initrd.
    assert _conf(dest, "qemu")["hypervisor"]["qemu"]["firmware"].endswith(".fd")


def test_reference_values_match_measure():
    dest = _install(MAXVCPUS="2", HOST_CPUS="8", MEMORY_MIB="2048")
    root = os.path.join(dest, PREFIX.lstrip("/"))
    with open(os.path.join(root, "share/sealpod/reference-values/qemu.json")) as f:
        ref = json.load(f)
    # Kata's order: arch parameters, console, quiet, panic, nr_cpus (not confidential), selinux.
    assert ref["cmdline"] == KATA_BASE + " nr_cpus=2 selinux=0", ref["cmdline"]
    assert ref["mem_mib"] == 2048
    r = subprocess.run([os.path.join(B, "sealpod-measure"), "--kernel", os.path.join(B, "bzImage"),
                        "--initrd", os.path.join(B, "initramfs.img"), "--cmdline", ref["cmdline"],
                        "--mem", "2048", "--format", "json"],
                       capture_output=True, text=True, check=True)
    direct = json.loads(r.stdout)
    for pcr in ("pcr4", "pcr5", "pcr9"):
        assert ref["measure"][pcr] == direct[pcr], pcr
    # And the installed files are the ones measured.
    with open(os.path.join(root, "share/sealpod/initramfs-sealpod.img"), "rb") as f:
        assert ref["measure"]["initrd_sha256"] == hashlib.sha256(f.read()).hexdigest()


def test_cmdline_follows_the_configuration():
    """kernel_params comes last (it wins), nr_cpus is clamped to the host, debug replaces quiet,
    a confidential guest gets no nr_cpus."""
    dest = _install(KERNEL_PARAMS="sealpod.log=debug", MAXVCPUS="16", HOST_CPUS="4")
    tool = os.path.join(TOP, "scripts", "kata-refvalues")
    path = os.path.join(dest, PREFIX.lstrip("/"), "share/defaults/kata-containers",
                        "configuration-qemu-sealpod.toml")
    out = subprocess.run([tool, "--config", path, "--host-cpus", "4", "--print-cmdline"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == KATA_BASE + " nr_cpus=4 selinux=0 sealpod.log=debug", out
    tdx = os.path.join(os.path.dirname(path), "configuration-qemu-tdx-sealpod.toml")
    out = subprocess.run([tool, "--config", tdx, "--print-cmdline"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert "nr_cpus" not in out and out.endswith("selinux=0 sealpod.log=debug"), out
    with open(path) as f:
        # The first enable_debug is the [hypervisor.qemu] one (the agent's comes later).
        text = f.read().replace("enable_debug = false", "enable_debug = true", 1)
    dbg = os.path.join(dest, "debug.toml")
    with open(dbg, "w") as f:
        f.write(text)
    out = subprocess.run([tool, "--config", dbg, "--host-cpus", "4", "--print-cmdline"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert " debug panic=1" in out and " quiet" not in out, out
    # The agent's parameters in the Go runtime's order (KataAgentKernelParams), CDI last.
    with open(path) as f:
        text = f.read().replace("kernel_modules = []\n", "kernel_modules = []\n"
                                "visible_cdi_devices = true\nlaunch_process_timeout = 6\n", 1)
    cdi = os.path.join(dest, "cdi.toml")
    with open(cdi, "w") as f:
        f.write(text)
    out = subprocess.run([tool, "--config", cdi, "--host-cpus", "4", "--print-cmdline"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out.endswith(" selinux=0 agent.launch_process_timeout=6 "
                        "agent.visible_cdi_devices=true sealpod.log=debug"), out


def test_install_refuses_bad_variables():
    for env in (dict(PREFIX="relative/path"), dict(MAXVCPUS="0"), dict(KERNEL_PARAMS='a"b')):
        e = dict(os.environ, DESTDIR=tempfile.mkdtemp(prefix="sealpod-install-"), B=B)
        e.setdefault("PREFIX", PREFIX)
        e.update(env)
        r = subprocess.run([os.path.join(TOP, "scripts", "install")], env=e, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 2 and "install:" in r.stderr, (env, r.returncode, r.stderr)


def test_tee_reference_values():
    """TDX and SEV-SNP values come with the firmware the configuration names: computed from the
    staged TDVF / AmdSev OVMF (`make firmware`), for the confidential command line (no
    nr_cpus), equal to sealpod-measure run directly."""
    r = subprocess.run([os.path.join(TOP, "firmware", "build"), "--print-dir"],
                       capture_output=True, text=True)
    fwdir = r.stdout.strip()
    if r.returncode != 0 or not os.path.exists(os.path.join(fwdir, "OVMF.amdsev.fd")):
        raise harness.Skip("TDVF/AmdSev firmware not built here (`make firmware`, 8-17 minutes, "
                           "not part of make test; then `make check-measure`)")
    dest = _install()
    root = os.path.join(dest, PREFIX.lstrip("/"))
    for name, tee, key, fw in (("qemu-tdx", "tdx", "mrtd", "OVMF.inteltdx.fd"),
                               ("qemu-snp", "snp", "snp_launch_digest", "OVMF.amdsev.fd"),
                               ("qemu-tdx-runtime-rs", "tdx", "mrtd", "OVMF.inteltdx.fd"),
                               ("qemu-snp-runtime-rs", "snp", "snp_launch_digest",
                                "OVMF.amdsev.fd")):
        with open(os.path.join(root, f"share/sealpod/reference-values/{name}.json")) as f:
            ref = json.load(f)
        assert "nr_cpus" not in ref["cmdline"], ref["cmdline"]
        if name.endswith("-runtime-rs"):
            assert ref["cmdline"] == RS_BASE + " selinux=0 console=hvc0", ref["cmdline"]
        cmd = [os.path.join(B, "sealpod-measure"), "--tee", tee,
               "--firmware", os.path.join(fwdir, fw), "--kernel", os.path.join(B, "bzImage"),
               "--initrd", os.path.join(B, "initramfs.img"), "--cmdline", ref["cmdline"],
               "--format", "json"]
        if tee == "snp":
            cmd += ["--vcpus", "1", "--vcpu-type", "EPYC-v4", "--vmm", "qemu"]
        direct = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                           check=True).stdout)
        keys = ("mrtd", "rtmr1", "rtmr2") if tee == "tdx" else (key,)
        for k in keys:
            assert len(ref["measure"][k]) == 96 and ref["measure"][k] == direct[k], (name, k)


# --- runtime-rs (Kata 4.x's default shim) ---------------------------------------------------------
# The keys runtime-rs's TOML loader reads, per table, taken from kata-containers' kata-types crate
# (commit 7c6ba40c54ea, after 4.1.0): the serde field names (renames applied, flattened structs
# expanded) of
#   [agent.kata]      src/libs/kata-types/src/config/agent.rs  struct Agent (deny_unknown_fields:
#                     any other key makes runtime-rs refuse the whole file)
#   [runtime]         src/libs/kata-types/src/config/runtime.rs  struct Runtime (other keys are
#                     silently ignored, which is why a Go-only key there is a bug we must catch)
#   [hypervisor.qemu] src/libs/kata-types/src/config/hypervisor/mod.rs  struct Hypervisor and the
#                     structs it flattens (BlockDeviceInfo, BootInfo, CpuInfo, DebugInfo,
#                     DeviceInfo, MachineInfo, MemoryInfo, NetworkInfo, SecurityInfo,
#                     SharedFsInfo, RemoteInfo, VmTemplateInfo); other keys are ignored.
RUNTIME_RS_AGENT_KEYS = frozenset("""
    enable_debug log_level enable_tracing debug_console_enabled visible_cdi_devices server_port
    log_port passfd_listener_port dial_timeout_ms reconnect_timeout_ms cdh_api_timeout_ms
    create_container_timeout health_check_request_timeout_ms kernel_modules container_pipe_size
    launch_process_timeout mem_agent policy""".split())
RUNTIME_RS_RUNTIME_KEYS = frozenset("""
    name hypervisor_name agent_name enable_debug log_level experimental internetworking_model
    disable_new_netns sandbox_bind_mounts sandbox_cgroup_only enable_vcpus_pinning enable_tracing
    jaeger_endpoint jaeger_user jaeger_password enable_pprof static_sandbox_resource_mgmt
    disable_guest_seccomp emptydir_mode vfio_mode keep_abnormal dan_conf shared_mounts
    use_passfd_io passfd_listener_port pod_resource_api_sock""".split())
RUNTIME_RS_HYPERVISOR_KEYS = frozenset("""
    path valid_hypervisor_paths ctlpath valid_ctlpaths jailer_path valid_jailer_paths
    disable_nesting_checks enable_iothreads indep_iothreads guest_extension_images factory
    prefetch_list_path disable_guest_selinux disable_selinux
    disable_block_device_use block_device_driver block_device_aio block_device_cache_set
    block_device_cache_direct block_device_cache_noflush block_device_logical_sector_size
    block_device_physical_sector_size disable_image_nvdimm memory_offset enable_vhost_user_store
    vhost_user_store_path valid_vhost_user_store_paths disk_rate_limiter_bw_max_rate
    disk_rate_limiter_bw_one_time_burst disk_rate_limiter_ops_max_rate
    disk_rate_limiter_ops_one_time_burst queue_size num_queues
    kernel kernel_params kernel_verity_params initrd image rootfs_type firmware vm_rootfs_driver
    cpu_features default_vcpus overhead_vcpus default_maxvcpus disable_nested_virtualization
    enable_debug log_level guest_memory_dump_paging guest_memory_dump_path extra_monitor_socket
    dbg_monitor_socket
    default_bridges cold_plug_vfio pcie_root_port pcie_switch_port enable_iommu
    enable_iommu_platform reclaim_guest_freed_memory
    machine_type machine_accelerators pflashes entropy_source valid_entropy_sources
    default_memory overhead_memory default_maxmemory memory_slots enable_mem_prealloc
    enable_hugepages hugepage_type enable_virtio_mem enable_guest_swap guest_swap_path
    guest_swap_size_percent guest_swap_create_threshold_secs
    disable_vhost_net rx_rate_limiter_max_rate tx_rate_limiter_max_rate network_queues
    rootless rootless_user disable_seccomp confidential_guest sev_snp_guest snp_id_block
    snp_id_auth snp_guest_policy guest_hook_path initdata enable_annotations
    tdx_quote_generation_service_socket_port seccomp_sandbox selinux_label
    shared_fs virtio_fs_daemon valid_virtio_fs_daemon_paths virtio_fs_extra_args virtio_fs_cache
    virtio_fs_cache_size virtio_fs_queue_size virtio_fs_is_dax
    hypervisor_socket hypervisor_timeout default_gpus default_gpu_model
    boot_to_be_template boot_from_template memory_path device_state_path""".split())
RS_FLAVOURS = ("qemu", "qemu-tdx", "qemu-snp")
# What runtime-rs builds for these files (KERNEL_PARAMS empty): KernelParams::new's fixed list
# (src/runtime-rs/crates/hypervisor/src/kernel_param.rs), no agent parameters (debug, tracing,
# debug console, pipe size, launch timeout off; cdh_api_timeout_ms = 0), the configuration's
# kernel_params, selinux= (qemu/cmdline_generator.rs Kernel::new), console=hvc0 (add_console).
RS_BASE = ("reboot=k panic=1 systemd.unit=kata-containers.target "
           "systemd.mask=systemd-networkd.service systemd.mask=systemd-networkd.socket")


def _rs_path(dest, name):
    return os.path.join(dest, PREFIX.lstrip("/"), "share/defaults/kata-containers/runtime-rs",
                        f"configuration-{name}-runtime-rs-sealpod.toml")


def _rs_conf(dest, name):
    with open(_rs_path(dest, name), "rb") as f:
        return tomllib.load(f)


def test_runtime_rs_configuration_keys():
    """Every key of the runtime-rs configurations is one runtime-rs reads, in the table it reads
    it from: [agent.kata] refuses unknown keys (a Go `dial_timeout` fails the whole file), the
    other tables drop them silently (a Go `experimental_force_guest_pull` would turn guest pull
    off without a word)."""
    dest = _install()
    for name in RS_FLAVOURS:
        conf = _rs_conf(dest, name)
        assert set(conf) == {"hypervisor", "agent", "runtime"}, (name, sorted(conf))
        assert list(conf["hypervisor"]) == ["qemu"] and list(conf["agent"]) == ["kata"], name
        for table, known in ((conf["hypervisor"]["qemu"], RUNTIME_RS_HYPERVISOR_KEYS),
                             (conf["agent"]["kata"], RUNTIME_RS_AGENT_KEYS),
                             (conf["runtime"], RUNTIME_RS_RUNTIME_KEYS)):
            unknown = sorted(set(table) - known)
            assert not unknown, f"{name}: runtime-rs does not read {unknown}"


def test_runtime_rs_configurations():
    dest = _install()
    for name in RS_FLAVOURS:
        conf = _rs_conf(dest, name)
        hv, agent, rt = conf["hypervisor"]["qemu"], conf["agent"]["kata"], conf["runtime"]
        assert (rt["name"], rt["hypervisor_name"], rt["agent_name"]) == \
            ("virt_container", "qemu", "kata"), name
        assert hv["kernel"] == f"{PREFIX}/share/sealpod/vmlinuz-sealpod", name
        assert hv["initrd"] == f"{PREFIX}/share/sealpod/initramfs-sealpod.img", name
        assert "image" not in hv, name
        assert hv["shared_fs"] == "none", name
        # kata-types BlockDeviceInfo::validate accepts virtio-blk-pci, not Go's virtio-blk.
        assert hv["block_device_driver"] == "virtio-blk-pci", name
        assert hv["disable_guest_selinux"] is True and hv["enable_debug"] is False, name
        assert hv["enable_annotations"] == ["^cc_init_data$"], name
        # The vsock dial retries until reconnect_timeout_ms (agent/src/sock/vsock.rs): TCG.
        assert agent["reconnect_timeout_ms"] >= 90000 and agent["dial_timeout_ms"] > 0, name
        assert agent["debug_console_enabled"] is False and agent["enable_debug"] is False, name
        # No confidential data hub here: 0 keeps agent.cdh_api_timeout off the command line.
        assert agent["cdh_api_timeout_ms"] == 0, name
        assert agent["create_container_timeout"] >= 300, name
        assert rt["experimental"] == ["force_guest_pull"], name
        assert rt["static_sandbox_resource_mgmt"] is True, name
        assert rt["disable_guest_seccomp"] is False, name
        assert rt["emptydir_mode"] == "block-encrypted", name
    assert _rs_conf(dest, "qemu-tdx")["hypervisor"]["qemu"]["confidential_guest"] is True
    snp = _rs_conf(dest, "qemu-snp")["hypervisor"]["qemu"]
    assert snp["confidential_guest"] is True and snp["sev_snp_guest"] is True
    assert _rs_conf(dest, "qemu")["hypervisor"]["qemu"]["firmware"].endswith(".fd")


def test_runtime_rs_reference_values():
    dest = _install(MAXVCPUS="2", HOST_CPUS="8", MEMORY_MIB="2048")
    root = os.path.join(dest, PREFIX.lstrip("/"))
    with open(os.path.join(root, "share/sealpod/reference-values/qemu-runtime-rs.json")) as f:
        ref = json.load(f)
    # No quiet, no nr_cpus, no tsc=/i8042 list: runtime-rs's own order.
    assert ref["cmdline"] == RS_BASE + " selinux=0 console=hvc0", ref["cmdline"]
    assert ref["source"]["config"] == (f"{PREFIX}/share/defaults/kata-containers/runtime-rs/"
                                       "configuration-qemu-runtime-rs-sealpod.toml"), ref["source"]
    assert ref["mem_mib"] == 2048
    r = subprocess.run([os.path.join(B, "sealpod-measure"), "--kernel", os.path.join(B, "bzImage"),
                        "--initrd", os.path.join(B, "initramfs.img"), "--cmdline", ref["cmdline"],
                        "--mem", "2048", "--format", "json"],
                       capture_output=True, text=True, check=True)
    direct = json.loads(r.stdout)
    for pcr in ("pcr4", "pcr5", "pcr9"):
        assert ref["measure"][pcr] == direct[pcr], pcr
    with open(os.path.join(root, "share/sealpod/reference-values/qemu.json")) as f:
        assert json.load(f)["measure"]["pcr9"] != ref["measure"]["pcr9"], \
            "the two shims' command lines differ, so must their PCR9"


def test_runtime_rs_cmdline_follows_the_configuration():
    """kernel_params before selinux= (runtime-rs's selinux= wins), agent parameters sorted by
    key before them (kata-types TomlConfig::get_agent_kernel_params, a BTreeMap), the log vport
    with the hypervisor's debug, IOMMU and console last; --shim auto-detects runtime-rs files."""
    dest = _install(KERNEL_PARAMS="sealpod.log=debug")
    tool = os.path.join(TOP, "scripts", "kata-refvalues")
    path = _rs_path(dest, "qemu")

    def cmdline(conf_path, *extra):
        r = subprocess.run([tool, "--config", conf_path, "--print-cmdline", *extra],
                           capture_output=True, text=True)
        assert r.returncode == 0, (conf_path, r.stderr)
        return r.stdout.strip()

    want = RS_BASE + " sealpod.log=debug selinux=0 console=hvc0"
    assert cmdline(path) == want, cmdline(path)
    assert cmdline(path, "--shim", "runtime-rs") == want
    assert cmdline(_rs_path(dest, "qemu-tdx")) == want
    with open(path) as f:
        text = f.read()
    swaps = {
        "hv-debug": ([("enable_debug = false", "enable_debug = true", 1)],
                     RS_BASE + " agent.log_vport=1025 sealpod.log=debug selinux=0 console=hvc0"),
        "agent": ([("cdh_api_timeout_ms = 0", "cdh_api_timeout_ms = 50000", 1),
                   ("debug_console_enabled = false", "debug_console_enabled = true", 1),
                   ("enable_debug = false\nenable_tracing = false\n",
                    "enable_debug = true\nenable_tracing = true\ncontainer_pipe_size = 4096\n"
                    "visible_cdi_devices = true\nlaunch_process_timeout = 6\n", 1)],
                  RS_BASE + " agent.cdh_api_timeout=50 agent.container_pipe_size=4096 "
                  "agent.debug_console agent.debug_console_vport=1026 "
                  "agent.launch_process_timeout=6 agent.log=debug agent.trace=true "
                  "agent.visible_cdi_devices=true sealpod.log=debug selinux=0 console=hvc0"),
        "iommu": ([("disable_guest_selinux = true\n",
                    "disable_guest_selinux = false\nenable_iommu = true\n", 1)],
                  RS_BASE + " sealpod.log=debug selinux=1 intel_iommu=on iommu=pt console=hvc0"),
    }
    for what, (edits, expect) in swaps.items():
        t = text
        for old, new, n in edits:
            assert old in t, (what, old)
            t = t.replace(old, new, n)
        p = os.path.join(dest, f"rs-{what}.toml")
        with open(p, "w") as f:
            f.write(t)
        assert cmdline(p) == expect, (what, cmdline(p))
    # The Go reconstruction of the same file is a different command line: --shim chooses.
    assert cmdline(path, "--shim", "go").startswith("tsc=reliable ")
