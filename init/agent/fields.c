/* The request model (fields.h): one row per field or message of the requests the control port
 * serves. Kept in the order of the method tables and the .proto files, so that a new field is
 * easy to place; the unit test says which one is missing. */
#define _GNU_SOURCE
#include "agent/fields.h"

#include <stdio.h>
#include <string.h>

#define J SP_FIELD_JUDGED
#define F SP_FIELD_FORCED
#define R SP_FIELD_REFUSED
#define H SP_FIELD_HOST

#define CC   "CreateContainerRequest"
#define SPEC CC ".OCI"
#define LNX  SPEC ".Linux_"
#define RES  LNX ".Resources"
#define ST   CC ".storages"

const struct sp_field sp_fields[] = {
	/* --- the agent's own methods --------------------------------------------------------- */
	{ "GuestDetailsRequest.mem_block_size", H, "agent/service.c get_guest_details",
	  "asks for the memory block size: read from sysfs, nothing changes" },
	{ "GuestDetailsRequest.mem_hotplug_probe", H, "agent/service.c get_guest_details",
	  "asks whether MemHotplugByProbe is served (it is not)" },
	{ "SetPolicyRequest.policy", J,
	  "policy/policy.c sp_policy_set_allowed; policy/policy.c sp_policy_replace",
	  "replaces the policy only without verified initdata, without attestation configured, "
	  "before the first container and when the policy in force allows SetPolicyRequest; loaded "
	  "whole or refused whole" },
	{ "UpdateEphemeralMountsRequest.storages", R, "agent/service.c update_ephemeral_mounts",
	  "not served: answered UNIMPLEMENTED, nothing is mounted" },

	/* --- CreateContainer ----------------------------------------------------------------- */
	{ CC ".container_id", H, "agent/service.c bad_id_field",
	  "the id pattern; names a container of this guest" },
	{ CC ".exec_id", H, "agent/service.c bad_id_field",
	  "the id pattern; names a process of that container" },
	{ CC ".string_user", R, "runtime/spec.c filter_around",
	  "refused when set: the uid and gid come from OCI.Process.User" },
	{ CC ".devices", R, "runtime/handlers.c devices_allowed; runtime/steps.c trusted_start",
	  "refused unless container_path is /dev/trusted_store: Kata's trusted image store, which "
	  "the storage module formats and no container sees" },
	{ ST ".driver", R, "runtime/steps.c storage_one",
	  "image_guest_pull, blk, blk-pci, ephemeral or local; any other is refused" },
	{ ST ".driver_options", R, "storage/opts.c sp_blk_opts_parse",
	  "blk: encryption_key=ephemeral and create_filesystem only, and a host disk mounted "
	  "unencrypted is refused; image_guest_pull: its metadata (the host's annotations) is not "
	  "read" },
	{ ST ".source", J,
	  "policy/policy.c check_image; runtime/steps.c digest_start; storage/kata.c blk_job",
	  "image_guest_pull: the image reference, judged by allowed_images, then the digest the "
	  "pull resolves; blk: a PCI path or /dev/<name> (the host's disk, encrypted); the sandbox "
	  "storages: not read" },
	{ ST ".fstype", R,
	  "storage/kata.c blk_job; storage/sandboxfs.c sp_storage_sandboxfs_prepare",
	  "blk: ext4 only; ephemeral: tmpfs only; image_guest_pull and local: not read" },
	{ ST ".options", R,
	  "storage/opts.c sp_blk_opts_parse; storage/sandboxfs.c sp_sandboxfs_opts_parse",
	  "a fixed list per driver, nodev and nosuid forced; image_guest_pull: not read" },
	{ ST ".mount_point", R,
	  "image/driver.c check_mount_point; storage/sandboxfs.c sp_storage_sandboxfs_prepare; "
	  "storage/kata.c blk_job",
	  "image_guest_pull: exactly one of this container's rootfs shapes; the others beneath "
	  "their Kata directory; all made and mounted through openat2 fds" },
	{ ST ".fs_group", H, "storage/kata.c blk_job; storage/fsgroup.c sp_fs_group_apply",
	  "blk: applied as Kata's set_ownership once mounted (the group, g+rw or g+r when ro, "
	  "directories g+x and set-group-id, recursively, symlinks skipped, OnRootMismatch "
	  "honoured): it only chooses which group of the pod may write the pod's own disk" },
	{ ST ".shared", H, "storage/kata.c blk_job",
	  "not read: every storage belongs to the request that made it" },
	{ SPEC ".Version", H, "runtime/spec.c sp_rt_filter_spec",
	  "not read: the fields are what counts" },
	{ SPEC ".Process"
	       ".Terminal",
	  H, "runtime/process.c rt_proc_new",
	  "a pty instead of pipes: what the process reads and writes goes to the host either way" },
	{ SPEC ".Process"
	       ".ConsoleSize",
	  H, "runtime/handlers.c tty_win_resize",
	  "not applied: the shim sizes the pty with TtyWinResize" },
	{ SPEC ".Process"
	       ".User.UID",
	  J, "policy/policy.c process_mismatch; runtime/pin.c check_user",
	  "allowed_images[].process.user; pin_process_to_image: the image's User" },
	{ SPEC ".Process"
	       ".User.GID",
	  J, "policy/policy.c process_mismatch; runtime/pin.c check_user", "as the uid" },
	{ SPEC ".Process"
	       ".User.AdditionalGids",
	  J, "policy/policy.c gids_equal; runtime/pin.c check_user",
	  "allowed_images[].process.user.additional_gids (the exact set); pin_process_to_image: "
	  "the process's gid or pin_allow_additional_gids" },
	{ SPEC ".Process"
	       ".User.Username",
	  R, "runtime/spec.c sp_rt_filter_process",
	  "refused when set: the uid and gid are what runs" },
	{ SPEC ".Process"
	       ".Args",
	  J, "policy/policy.c process_mismatch; runtime/pin.c check_args",
	  "allowed_images[].process.args; pin_process_to_image: entrypoint + cmd" },
	{ SPEC ".Process"
	       ".Env",
	  J, "policy/policy.c process_mismatch; runtime/pin.c check_env",
	  "allowed_images[].process.env; pin_process_to_image: the image's Env "
	  "(pin_allow_extra_env)" },
	{ SPEC ".Process"
	       ".Cwd",
	  J, "policy/policy.c process_mismatch; runtime/pin.c sp_rt_check_image_pin",
	  "allowed_images[].process.cwd; pin_process_to_image: the image's WorkingDir" },
	{ SPEC ".Process"
	       ".Capabilities",
	  F, "policy/policy.c check_caps; runtime/caps.c sp_caps_parse",
	  "CAP_NET_RAW is dropped (a console line says so) unless allow_privileged_capabilities "
	  "consents; any other capability beyond the default set needs that consent or refuses the "
	  "request" },
	{ SPEC ".Process"
	       ".Rlimits",
	  H, "runtime/spec.c sp_rt_filter_process",
	  "known names, soft <= hard: limits on the container itself" },
	{ SPEC ".Process"
	       ".NoNewPrivileges",
	  J, "policy/policy.c process_mismatch; runtime/child.c sp_rt_child",
	  "allowed_images[].process.no_new_privileges (exactly); honoured: without it the image's "
	  "own set-id programs may gain up to the capability sets, never more" },
	{ SPEC ".Process"
	       ".ApparmorProfile",
	  F, "runtime/child.c sp_rt_child",
	  "not applied (the guest has no AppArmor): every container gets the same fixed "
	  "confinement" },
	{ SPEC ".Process"
	       ".OOMScoreAdj",
	  H, "runtime/spec.c sp_rt_filter_process", "-999..1000: never PID 1's -1000" },
	{ SPEC ".Process"
	       ".SelinuxLabel",
	  F, "runtime/child.c sp_rt_child",
	  "not applied (the guest has no SELinux): the same fixed confinement" },
	{ SPEC ".Root.Path", R, "runtime/spec.c sp_rt_filter_spec; runtime/create.c check_root",
	  "refused unless it is the rootfs the guest prepared for this container, on the very "
	  "mount it made (mount id), reached without a symlink" },
	{ SPEC ".Root.Readonly", J,
	  "policy/policy.c process_mismatch; runtime/rootfs.c sp_rootfs_setup",
	  "allowed_images[].read_only_root (exactly); honoured; the pause's root is read-only "
	  "whatever it says" },
	{ SPEC ".Hostname", H, "runtime/spec.c sp_rt_filter_spec",
	  "a host name of at most 64 bytes, set in the pod's shared UTS namespace" },
	{ SPEC ".Mounts.destination", J,
	  "policy/policy_judge.c sp_judge_mounts; runtime/pin.c sp_rt_check_pin_mounts; "
	  "runtime/rootfs.c do_mount",
	  "allowed_mounts (exact); pin_process_to_image: no bind over, above or in the program's "
	  "directory or the dynamic loader's files, nor over a path the image has unless "
	  "allowed_mounts judged the mounts; absolute, normalised, not /, resolved without "
	  "symlinks" },
	{ SPEC ".Mounts.source", J,
	  "policy/policy_judge.c sp_judge_mounts; runtime/spec.c parse_mount; runtime/rootfs.c "
	  "do_mount",
	  "allowed_mounts (a pattern, $(cid) the container id); a bind's source must lie beneath "
	  "the shared-files or sandbox directories, else refused; opened without symlinks" },
	{ SPEC ".Mounts.type", J,
	  "policy/policy_judge.c sp_judge_mounts; runtime/spec.c parse_mount",
	  "allowed_mounts; bind, proc, sysfs, tmpfs, devpts, mqueue, cgroup, cgroup2, else "
	  "refused" },
	{ SPEC ".Mounts.options", F,
	  "runtime/spec.c parse_mount; runtime/spec.c sp_rt_plan_allow_exec",
	  "nosuid and nodev always; a bind noexec unless an allowed_mounts entry says exec, and "
	  "never recursive (rbind binds one mount); sysfs and cgroup read-only; devpts a new "
	  "instance; shared propagation refused" },
	{ SPEC ".Hooks", R, "runtime/spec.c filter_hooks",
	  "refused when any hook is named: none runs" },
	{ SPEC ".Annotations", H, "runtime/prepare.c sp_create_facts_parse",
	  "read only for the image name when there is no guest pull, which never passes "
	  "allowed_images (the host's word); nothing else acts on them: each key the shims add "
	  "is classified in POLICY.md (The annotations the shims add)" },
	{ LNX ".UIDMappings", R, "runtime/spec.c filter_namespaces", "refused: no user namespace" },
	{ LNX ".GIDMappings", R, "runtime/spec.c filter_namespaces", "refused: no user namespace" },
	{ LNX ".Sysctl", J,
	  "policy/policy_judge.c sp_judge_sysctls; runtime/spec.c filter_sysctls; "
	  "runtime/child.c apply_sysctls",
	  "allowed_sysctls (the key exact, the value exact when the entry gives one; the pause's "
	  "too); whatever the policy, refused unless every key is a namespaced safe sysctl "
	  "(POLICY.md) with a number, range or list for value; those are written before the "
	  "container's root is entered, for the whole pod" },
	{ RES ".Devices", F, "runtime/devcg.c sp_devcg_attach",
	  "the device cgroup allows the container's own /dev nodes only, whatever the rules say" },
	{ RES ".Memory.Limit", H, "runtime/spec.c filter_resources",
	  "1 MiB..2^50 bytes: memory.max" },
	{ RES ".Memory.Reservation", H, "runtime/spec.c filter_resources", "not applied" },
	{ RES ".Memory.Swap", H, "runtime/spec.c filter_resources",
	  "memory + swap, at least the limit: memory.swap.max" },
	{ RES ".Memory.Kernel", H, "runtime/spec.c filter_resources", "not applied (cgroup v2)" },
	{ RES ".Memory.KernelTCP", H, "runtime/spec.c filter_resources",
	  "not applied (cgroup v2)" },
	{ RES ".Memory.Swappiness", H, "runtime/spec.c filter_resources",
	  "not applied (cgroup v2)" },
	{ RES ".Memory.DisableOOMKiller", H, "runtime/spec.c filter_resources",
	  "not applied: the OOM killer stays on" },
	{ RES ".CPU.Shares", H, "runtime/spec.c filter_resources", "2..262144: cpu.weight" },
	{ RES ".CPU.Quota", H, "runtime/spec.c filter_resources", "at least 1000 us: cpu.max" },
	{ RES ".CPU.Period", H, "runtime/spec.c filter_resources", "1000..1000000 us: cpu.max" },
	{ RES ".CPU.RealtimeRuntime", H, "runtime/spec.c filter_resources", "not applied" },
	{ RES ".CPU.RealtimePeriod", H, "runtime/spec.c filter_resources", "not applied" },
	{ RES ".CPU.Cpus", H, "runtime/spec.c filter_resources",
	  "not applied (host CPU numbers; the shims clear it)" },
	{ RES ".CPU.Mems", H, "runtime/spec.c filter_resources", "not applied (host NUMA nodes)" },
	{ RES ".Pids.Limit", H, "runtime/spec.c filter_resources", "up to 4194304: pids.max" },
	{ RES ".BlockIO", H, "runtime/spec.c filter_resources", "not applied" },
	{ RES ".HugepageLimits", H, "runtime/spec.c filter_resources", "not applied" },
	{ RES ".Network", H, "runtime/spec.c filter_resources", "not applied" },
	{ LNX ".CgroupsPath", F, "runtime/cgroup.c sp_cgroup_create",
	  "not used: a container's cgroup is always sealpod/<container id>" },
	{ LNX ".Namespaces.Type", F, "runtime/spec.c filter_namespaces; runtime/create.c spawn",
	  "user and unknown types refused; mount and cgroup always new, ipc and uts the sandbox's, "
	  "pid as sandbox_pidns says, network the guest's" },
	{ LNX ".Namespaces.Path", R, "runtime/spec.c filter_namespaces",
	  "refused when set: no namespace is joined by path" },
	{ LNX ".Devices", R, "runtime/spec.c filter_devices",
	  "refused when any device is named: containers get the default nodes only" },
	{ LNX ".Seccomp", H, "runtime/spec.c sp_rt_filter_spec; runtime/seccomp.c sp_seccomp_load",
	  "applied with the always-on filter (AF_VSOCK sockets and io_uring denied whatever it "
	  "says), so it only narrows the container; unknown actions, flags and arches refused" },
	{ LNX ".RootfsPropagation", R, "runtime/spec.c sp_rt_filter_spec",
	  "shared propagation refused; the root is private" },
	{ LNX ".MaskedPaths", F, "runtime/rootfs.c mask_floor; runtime/spec.c filter_paths",
	  "a floor is masked whatever the spec says (runtime/rootfs.c); the spec's paths come on "
	  "top" },
	{ LNX ".ReadonlyPaths", F, "runtime/rootfs.c mask_floor; runtime/spec.c filter_paths",
	  "as MaskedPaths: /proc/sys and the like are read-only whatever the spec says" },
	{ LNX ".MountLabel", F, "runtime/rootfs.c sp_rootfs_setup",
	  "not applied (the guest has no SELinux)" },
	{ LNX ".IntelRdt", R, "runtime/spec.c sp_rt_filter_spec", "refused when set: no resctrl" },
	{ SPEC ".Solaris", R, "runtime/spec.c sp_rt_filter_spec",
	  "refused when set: a Linux guest" },
	{ SPEC ".Windows", R, "runtime/spec.c sp_rt_filter_spec",
	  "refused when set: a Linux guest" },
	{ CC ".sandbox_pidns", J, "policy/policy_judge.c sp_judge_pidns; runtime/create.c spawn",
	  "allow_sandbox_pidns (true unless a JSON policy says false); co-tenants of the namespace "
	  "each run in a Landlock domain of their own" },
	{ CC ".shared_mounts", R, "runtime/spec.c filter_around",
	  "refused when set: a container mounts nothing of another's" },
	{ CC ".stdin_port", R, "runtime/spec.c filter_around",
	  "refused when set: stdio goes over the ttRPC streams (no passfd)" },
	{ CC ".stdout_port", R, "runtime/spec.c filter_around", "as stdin_port" },
	{ CC ".stderr_port", R, "runtime/spec.c filter_around", "as stdin_port" },

	/* --- the other container and process methods ---------------------------------------- */
	{ "StartContainerRequest.container_id", H, "agent/service.c bad_id_field",
	  "the id pattern; names a container of this guest" },
	{ "RemoveContainerRequest.container_id", H, "agent/service.c bad_id_field",
	  "the id pattern; names a container of this guest" },
	{ "RemoveContainerRequest.timeout", H, "runtime/container.c sp_rt_remove",
	  "not applied: the container is killed at once and never waited for" },
	{ "ExecProcessRequest"
	  ".container_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a container of this guest" },
	{ "ExecProcessRequest"
	  ".exec_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a process of that container" },
	{ "ExecProcessRequest.string_user", R, "runtime/spec.c filter_around",
	  "refused when set: the uid and gid come from process.User" },
	{ "ExecProcessRequest.process"
	  ".Terminal",
	  J, "policy/policy_judge.c exec_mismatch",
	  "an allowed_exec entry may pin it; a pty or pipes, the streams go to the host either "
	  "way" },
	{ "ExecProcessRequest.process"
	  ".ConsoleSize",
	  H, "runtime/handlers.c tty_win_resize",
	  "not applied: the shim sizes the pty with TtyWinResize" },
	{ "ExecProcessRequest.process"
	  ".User.UID",
	  J, "policy/policy_judge.c exec_mismatch",
	  "the container's own user, or the user of an allowed_exec entry" },
	{ "ExecProcessRequest.process"
	  ".User.GID",
	  J, "policy/policy_judge.c exec_mismatch", "as the uid" },
	{ "ExecProcessRequest.process"
	  ".User.AdditionalGids",
	  J, "policy/policy_judge.c gid_ok",
	  "each one the container's own (its gid or one of its additional gids)" },
	{ "ExecProcessRequest.process"
	  ".User.Username",
	  R, "runtime/spec.c sp_rt_filter_process",
	  "refused when set: the uid and gid are what runs" },
	{ "ExecProcessRequest.process"
	  ".Args",
	  J, "policy/policy_judge.c sp_judge_exec", "allowed_exec (the exact argv)" },
	{ "ExecProcessRequest.process"
	  ".Env",
	  J, "policy/policy_judge.c env_ok",
	  "each entry the container's own, or admitted by an allowed_exec entry (a NAME=* pattern "
	  "never admits LD_*); TERM with a terminal" },
	{ "ExecProcessRequest.process"
	  ".Cwd",
	  J, "policy/policy_judge.c exec_mismatch",
	  "the container's own, or an allowed_exec entry's" },
	{ "ExecProcessRequest.process"
	  ".Capabilities",
	  F,
	  "policy/policy.c check_caps; runtime/caps.c sp_caps_parse; runtime/container.c "
	  "sp_rt_exec",
	  "none given (neither shim sends any): the container's own sets, as Kata; given: "
	  "CAP_NET_RAW is dropped (a console line says so) unless allow_privileged_capabilities "
	  "consents; any other capability beyond the default set needs that consent or refuses the "
	  "request" },
	{ "ExecProcessRequest.process"
	  ".Rlimits",
	  H, "runtime/spec.c sp_rt_filter_process",
	  "known names, soft <= hard: limits on the container itself" },
	{ "ExecProcessRequest.process"
	  ".NoNewPrivileges",
	  F, "runtime/container.c sp_rt_exec; runtime/child.c sp_rt_child",
	  "in a container created with no_new_privs, set whatever this says (an exec never widens "
	  "its container; the Go shim never sends it); otherwise honoured" },
	{ "ExecProcessRequest.process"
	  ".ApparmorProfile",
	  F, "runtime/child.c sp_rt_child",
	  "not applied (the guest has no AppArmor): every container gets the same fixed "
	  "confinement" },
	{ "ExecProcessRequest.process"
	  ".OOMScoreAdj",
	  H, "runtime/spec.c sp_rt_filter_process", "-999..1000: never PID 1's -1000" },
	{ "ExecProcessRequest.process"
	  ".SelinuxLabel",
	  F, "runtime/child.c sp_rt_child",
	  "not applied (the guest has no SELinux): the same fixed confinement" },
	{ "ExecProcessRequest"
	  ".stdin_port",
	  R, "runtime/spec.c filter_around",
	  "refused when set: stdio goes over the ttRPC streams (no passfd)" },
	{ "ExecProcessRequest"
	  ".stdout_port",
	  R, "runtime/spec.c filter_around", "as stdin_port" },
	{ "ExecProcessRequest"
	  ".stderr_port",
	  R, "runtime/spec.c filter_around", "as stdin_port" },
	{ "SignalProcessRequest"
	  ".container_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a container of this guest" },
	{ "SignalProcessRequest"
	  ".exec_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a process of that container" },
	{ "SignalProcessRequest.signal", H, "runtime/container.c sp_rt_signal",
	  "1..64, to that container's own processes" },
	{ "WaitProcessRequest"
	  ".container_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a container of this guest" },
	{ "WaitProcessRequest"
	  ".exec_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a process of that container" },
	{ "ReadStreamRequest"
	  ".container_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a container of this guest" },
	{ "ReadStreamRequest"
	  ".exec_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a process of that container" },
	{ "ReadStreamRequest.len", H, "runtime/process.c rt_proc_read", "at most 1 MiB answered" },
	{ "WriteStreamRequest"
	  ".container_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a container of this guest" },
	{ "WriteStreamRequest"
	  ".exec_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a process of that container" },
	{ "WriteStreamRequest.data", H, "runtime/process.c rt_proc_write",
	  "the process's stdin, buffered up to a bound" },
	{ "CloseStdinRequest"
	  ".container_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a container of this guest" },
	{ "CloseStdinRequest"
	  ".exec_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a process of that container" },
	{ "TtyWinResizeRequest"
	  ".container_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a container of this guest" },
	{ "TtyWinResizeRequest"
	  ".exec_id",
	  H, "agent/service.c bad_id_field", "the id pattern; names a process of that container" },
	{ "TtyWinResizeRequest.row", H, "runtime/handlers.c tty_win_resize", "clamped to 65535" },
	{ "TtyWinResizeRequest.column", H, "runtime/handlers.c tty_win_resize",
	  "clamped to 65535" },
	{ "StatsContainerRequest.container_id", H, "agent/service.c bad_id_field",
	  "the id pattern; the answer is that container's cgroup statistics" },
	{ "GetDiagnosticDataRequest.log_type", R, "runtime/handlers.c get_diagnostic_data",
	  "termination_log only (the built-in default allows it: both shims ask at every "
	  "container stop)" },
	{ "GetDiagnosticDataRequest.container_id", H, "runtime/handlers.c get_diagnostic_data",
	  "the id pattern; the answer is printable text of its termination log, opened beneath the "
	  "shared-files directory without symlinks" },

	/* --- UpdateContainer: limits are the host's, as in CreateContainer (POLICY.md) -------- */
	{ "UpdateContainerRequest.container_id", H, "agent/service.c bad_id_field",
	  "the id pattern; names a container of this guest" },
	{ "UpdateContainerRequest.resources.Memory.Limit", H,
	  "runtime/update.c plan_memory; runtime/cgroup.c sp_cgroup_update",
	  "1 MiB..2^50 bytes: memory.max; zero or negative leaves it as it is" },
	{ "UpdateContainerRequest.resources.Memory.Swap", H,
	  "runtime/update.c plan_memory; runtime/cgroup.c sp_cgroup_update",
	  "memory + swap, at least the limit and only with one: memory.swap.max = swap - limit "
	  "(-1: max); zero leaves it; nothing without swap accounting" },
	{ "UpdateContainerRequest.resources.Memory.Reservation", H, "runtime/update.c note_ignored",
	  "not applied (named on the console)" },
	{ "UpdateContainerRequest.resources.Memory.Kernel", H, "runtime/update.c note_ignored",
	  "not applied (cgroup v2)" },
	{ "UpdateContainerRequest.resources.Memory.KernelTCP", H, "runtime/update.c note_ignored",
	  "not applied (cgroup v2)" },
	{ "UpdateContainerRequest.resources.Memory.Swappiness", H, "runtime/update.c note_ignored",
	  "not applied (cgroup v2)" },
	{ "UpdateContainerRequest.resources.Memory.DisableOOMKiller", H,
	  "runtime/update.c note_ignored", "not applied: the OOM killer stays on" },
	{ "UpdateContainerRequest.resources.CPU.Shares", H,
	  "runtime/update.c plan_cpu; runtime/cgroup.c sp_cgroup_update",
	  "2..262144: cpu.weight = 1 + (shares - 2) * 9999 / 262142; zero leaves it" },
	{ "UpdateContainerRequest.resources.CPU.Quota", H,
	  "runtime/update.c plan_cpu; runtime/cgroup.c update_cpu_max",
	  "at least 1000 us: cpu.max; zero or negative leaves it" },
	{ "UpdateContainerRequest.resources.CPU.Period", H,
	  "runtime/update.c plan_cpu; runtime/cgroup.c update_cpu_max",
	  "1000..1000000 us: cpu.max (with the quota in force when none is given); zero leaves "
	  "it" },
	{ "UpdateContainerRequest.resources.CPU.RealtimeRuntime", H,
	  "runtime/update.c note_ignored", "not applied" },
	{ "UpdateContainerRequest.resources.CPU.RealtimePeriod", H, "runtime/update.c note_ignored",
	  "not applied" },
	{ "UpdateContainerRequest.resources.CPU.Cpus", H, "runtime/update.c note_ignored",
	  "not applied (host CPU numbers; the shims clear it)" },
	{ "UpdateContainerRequest.resources.CPU.Mems", H, "runtime/update.c note_ignored",
	  "not applied (host NUMA nodes; runtime-rs sends them)" },
	{ "UpdateContainerRequest.resources.Pids.Limit", H,
	  "runtime/update.c sp_rt_resize_plan; runtime/cgroup.c sp_cgroup_update",
	  "when Pids is given: up to 4194304 is pids.max, zero or negative is max" },
	{ "UpdateContainerRequest.resources.Devices", F,
	  "runtime/update.c note_ignored; runtime/devcg.c sp_devcg_attach",
	  "not applied: the device program the container got stays, whatever the rules say "
	  "(containerd's deny-all rule comes in every update)" },
	{ "UpdateContainerRequest.resources.BlockIO", H, "runtime/update.c note_ignored",
	  "not applied" },
	{ "UpdateContainerRequest.resources.HugepageLimits", H, "runtime/update.c note_ignored",
	  "not applied" },
	{ "UpdateContainerRequest.resources.Network", H, "runtime/update.c note_ignored",
	  "not applied" },

	/* --- the sandbox ---------------------------------------------------------------------- */
	{ "CreateSandboxRequest.hostname", H, "sandbox/sandbox.c create_sandbox",
	  "a valid host name: the guest's" },
	{ "CreateSandboxRequest.dns", H, "sandbox/resolv.c sp_resolv_conf_build",
	  "resolv.conf lines, checked: name resolution is the host's anyway (TLS decides trust)" },
	{ "CreateSandboxRequest.storages", R,
	  "sandbox/sandbox.c create_sandbox; storage/shm.c sp_storage_shm_check",
	  "only the shims' shm storage (ephemeral, source shm, tmpfs, at "
	  "/run/kata-containers/sandbox/shm): a tmpfs of its size=, nosuid nodev noexec forced, "
	  "mode without set-id bits, fsgid=; other drivers, sources and options refused by name" },
	{ "CreateSandboxRequest.sandbox_pidns", H, "sandbox/sandbox.c create_sandbox",
	  "recorded for the console only: what a container shares is its CreateContainer's "
	  "sandbox_pidns (judged)" },
	{ "CreateSandboxRequest.sandbox_id", H, "sandbox/sandbox.c create_sandbox",
	  "the id pattern" },
	{ "CreateSandboxRequest.guest_hook_path", F, "sandbox/sandbox.c create_sandbox",
	  "no guest hook ever runs: ignored, with a console line" },
	{ "CreateSandboxRequest.kernel_modules", R, "sandbox/sandbox.c create_sandbox",
	  "refused when any module is named: the kernel loads none" },
	{ "OnlineCPUMemRequest.wait", H, "sandbox/online.c sp_online_cpu_mem",
	  "brings hot-plugged CPUs and memory online" },
	{ "OnlineCPUMemRequest.nb_cpus", H, "sandbox/online.c sp_online_cpu_mem", "as wait" },
	{ "OnlineCPUMemRequest.cpu_only", H, "sandbox/online.c sp_online_cpu_mem", "as wait" },
	{ "CopyFileRequest.path", J,
	  "policy/policy.c check_copy; sandbox/copyfile.c sp_copy_file_at",
	  "copy_file_prefix (beneath the shared-files directory); resolved without symlinks and "
	  "never into another mount" },
	{ "CopyFileRequest.file_size", H, "sandbox/copyfile.c copy_regular", "bounded" },
	{ "CopyFileRequest.file_mode", F, "sandbox/copyfile.c sp_copy_file_at",
	  "a regular file, directory or symlink only; set-id bits stripped" },
	{ "CopyFileRequest.dir_mode", F, "sandbox/copyfile.c open_parents",
	  "permission bits of the directories made on the way" },
	{ "CopyFileRequest.uid", H, "sandbox/copyfile.c owner",
	  "the copy's owner, in the shared-files directory" },
	{ "CopyFileRequest.gid", H, "sandbox/copyfile.c owner", "as uid" },
	{ "CopyFileRequest.offset", H, "sandbox/copyfile.c copy_regular",
	  "chunks at increasing offsets" },
	{ "CopyFileRequest.data", H, "sandbox/copyfile.c copy_symlink",
	  "the file's bytes; a symlink's target must stay inside the shared-files directory" },

	/* --- the network: the host's by design (TLS to the KBS and registries decides trust) --- */
	{ "UpdateInterfaceRequest.interface", H, "net/handlers.c update_interface",
	  "found by MAC, addresses and MTU checked; loopback never touched" },
	{ "UpdateRoutesRequest.routes", H, "net/handlers.c update_routes",
	  "each route checked against the links before the table is replaced" },
	{ "AddARPNeighborsRequest.neighbors", H, "net/handlers.c add_arp_neighbors",
	  "each entry checked against the links" },
	{ "GetIPTablesRequest.is_ipv6", R, "net/list.c iptables_refused",
	  "refused whatever it says: the guest has no iptables-save to run" },
	{ "SetIPTablesRequest.is_ipv6", R, "net/list.c iptables_refused",
	  "refused whatever it says: the guest has no iptables-restore to run" },
	{ "SetIPTablesRequest.data", R, "net/list.c iptables_refused", "as is_ipv6" },

	/* --- the health service (never gated) ------------------------------------------------- */
	{ "CheckRequest.service", H, "agent/health.c health_check", "not read" },
};
const size_t sp_nfields = sizeof(sp_fields) / sizeof(sp_fields[0]);

const struct sp_field *sp_field_find(const char *path)
{
	for (size_t i = 0; path && i < sp_nfields; i++)
		if (strcmp(sp_fields[i].path, path) == 0)
			return &sp_fields[i];
	return NULL;
}

const char *sp_field_treatment_name(enum sp_field_treatment t)
{
	switch (t) {
	case SP_FIELD_JUDGED:
		return "judged";
	case SP_FIELD_FORCED:
		return "forced";
	case SP_FIELD_REFUSED:
		return "refused";
	case SP_FIELD_HOST:
		return "host";
	}
	return "?";
}

size_t sp_fields_markdown(char *buf, size_t size)
{
	size_t n = 0;

#define PUT(...)                                                                                   \
	do {                                                                                       \
		int k_ = snprintf(buf + (n < size ? n : size), n < size ? size - n : 0,            \
				  __VA_ARGS__);                                                    \
		n += k_ > 0 ? (size_t)k_ : 0;                                                      \
	} while (0)
	if (size)
		buf[0] = '\0';
	PUT("| field | treatment | rule | enforced by |\n|---|---|---|---|\n");
	for (size_t i = 0; i < sp_nfields; i++)
		PUT("| `%s` | %s | %s | %s |\n", sp_fields[i].path,
		    sp_field_treatment_name(sp_fields[i].treatment), sp_fields[i].rule,
		    sp_fields[i].by);
#undef PUT
	return n;
}
