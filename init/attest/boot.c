/* The attestation boot step: the initdata disk, its launch binding (TDX MRCONFIGID, SNP HOSTDATA,
 * the vTPM's PCR8 or, with the test overlay, sealpod.test_binding), and the KBS, evidence and key
 * the attestation will use (attest_conf). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "attest/attest_int.h"
#include "lib/config.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/power.h"
#include "policy/policy.h"

#define TPM_DEV "/dev/tpmrm0"

struct sp_attest_conf attest_conf;

static const struct sp_image_settings default_image = { .max_parallel_layers = 3 };

/* --- boot: initdata ----------------------------------------------------------------------------- */
static int hex_decode(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t l = strlen(s);

	if (l % 2 || l / 2 > cap)
		return -1;
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*n = l / 2;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void digest_mismatch(const char *where, const uint8_t *binding, size_t blen)
{
	char want[129], got[129];
	uint8_t comp[64] = { 0 };

	memcpy(comp, attest_conf.id.digest,
	       attest_conf.id.digest_len < blen ? attest_conf.id.digest_len : blen);
	sp_hex(binding, blen, want);
	sp_hex(comp, blen, got);
	/* One line each: a hex digest is long, and both must reach the console whole. */
	sp_warn("initdata", "expected %s (the launch binding: %s)", want, where);
	sp_warn("initdata", "computed %s (%s of the %zu-byte TOML document)", got,
		sp_hash_name(attest_conf.id.alg), attest_conf.id.toml_len);
	sp_fatal("initdata.digest", "initdata does not match the launch binding (%s)", where);
}

const char *sp_initdata_bind_name(enum sp_initdata_bind b)
{
	static const char *const names[] = { "none", "launch", "rtmr3", "pcr8", "refuse" };

	return b <= SP_BIND_REFUSE ? names[b] : "?";
}

enum sp_initdata_bind sp_initdata_bind_plan(enum sp_evidence_kind hw, bool launch_zero, bool rtmr3,
					    bool tpm)
{
	/* A launch binding the host set is the strongest: the TEE measured it before the guest
	 * ran. Where it is zero (a platform or VMM that cannot set it), the guest measures the
	 * digest itself before using initdata, as Confidential Containers does: into RTMR3 on
	 * TDX, into PCR8 through a vTPM. SNP has no runtime register of its own. */
	if ((hw == SP_EV_TDX || hw == SP_EV_SNP) && !launch_zero)
		return SP_BIND_LAUNCH;
	if (hw == SP_EV_TDX && rtmr3)
		return SP_BIND_RTMR3;
	/* PCR8 binds only where the TPM's quote is the evidence: a TDX or SNP report does not
	 * carry it, and Trustee would compare the zero register with the digest. */
	if (hw == SP_EV_TPM && tpm)
		return SP_BIND_PCR8;
	return SP_BIND_REFUSE;
}

/* InitData into RTMR3, as the attestation agent records it (content: canonical JSON). */
static void bind_rtmr3(void)
{
	char hx[129], content[160];
	struct sp_err err;

	sp_hex(attest_conf.id.digest, attest_conf.id.digest_len, hx);
	(void)snprintf(content, sizeof(content), "{\"digest\":\"%s:%s\"}",
		       sp_hash_name(attest_conf.id.alg), hx);
	if (sp_aael_record(SP_AAEL_DOMAIN_COCO, "InitData", content, &err) < 0)
		sp_fatal("initdata.digest", "binding initdata through RTMR3: %s", err.msg);
	sp_info("initdata", "MRCONFIGID is zero: bound through RTMR3 (InitData event)");
}

static void extend_pcr8(void)
{
	struct sp_tpm *t;
	struct sp_err err;
	char hx[65];

	if (attest_conf.id.alg != SP_HASH_SHA256)
		sp_fatal("initdata.digest",
			 "the vTPM binding (PCR8) needs algorithm = \"sha256\", initdata uses %s",
			 sp_hash_name(attest_conf.id.alg));
	if (sp_tpm_open(TPM_DEV, &t, &err) < 0 ||
	    sp_tpm_extend_sha256(t, 8, attest_conf.id.digest, &err) < 0) {
		sp_tpm_close(t);
		sp_fatal("initdata.digest", "extending PCR8: %s", err.msg);
	}
	sp_tpm_close(t);
	sp_hex(attest_conf.id.digest, 32, hx);
	sp_info("initdata", "extended PCR8 with sha256 %s", hx);
}

/* Compares or extends: afterwards initdata is trusted (or the guest is off). */
static void verify_binding(const struct sp_config *cfg, bool found)
{
	uint8_t binding[64];
	size_t blen = 0;
	struct sp_err err;
	enum sp_evidence_kind hw = sp_evidence_detect(false);

	if (hw == SP_EV_TDX || hw == SP_EV_SNP) {
		if (sp_evidence_binding(hw, binding, &blen, &err) < 0)
			sp_fatal("initdata.digest", "cannot read the launch binding: %s", err.msg);
		if (!found) {
			if (!all_zero(binding, blen)) {
				char hx[129];
				sp_hex(binding, blen, hx);
				sp_fatal("initdata.digest",
					 "%s is %s but there is no initdata disk",
					 hw == SP_EV_TDX ? "MRCONFIGID" : "HOSTDATA", hx);
			}
			return;
		}
		if (all_zero(binding, blen)) {
			enum sp_initdata_bind b =
				sp_initdata_bind_plan(hw, true, sp_aael_register() == SP_AAEL_RTMR3,
						      sp_path_exists(TPM_DEV));

			if (b == SP_BIND_RTMR3)
				bind_rtmr3();
			else if (b == SP_BIND_PCR8)
				extend_pcr8();
			else
				sp_fatal("initdata.digest",
					 "%s is zero and this guest cannot measure initdata "
					 "itself (%s)",
					 hw == SP_EV_TDX ? "MRCONFIGID" : "HOSTDATA",
					 hw == SP_EV_TDX ? "this kernel cannot extend RTMR3"
							 : "SNP has no runtime register");
			return;
		}
		if (!sp_initdata_matches(attest_conf.id.digest, attest_conf.id.digest_len, binding,
					 blen))
			digest_mismatch(hw == SP_EV_TDX ? "TDX MRCONFIGID" : "SNP HOSTDATA",
					binding, blen);
		sp_info("initdata", "matches %s",
			hw == SP_EV_TDX ? "TDX MRCONFIGID" : "SNP HOSTDATA");
		return;
	}
	if (!found)
		return;
	if (cfg->test_binding[0]) {
		if (!attest_conf.test_overlay) {
			sp_warn("initdata", "sealpod.test_binding ignored: test overlay only");
		} else {
			if (hex_decode(cfg->test_binding, binding, sizeof(binding), &blen) < 0)
				sp_fatal("initdata.digest", "sealpod.test_binding is not hex");
			if (!sp_initdata_matches(attest_conf.id.digest, attest_conf.id.digest_len,
						 binding, blen))
				digest_mismatch("sealpod.test_binding, test overlay", binding,
						blen);
			sp_info("initdata", "matches sealpod.test_binding (test overlay)");
		}
	}
	if (hw == SP_EV_TPM) {
		extend_pcr8();
		return;
	}
	if (!cfg->test_binding[0] || !attest_conf.test_overlay) {
		if (!attest_conf.test_overlay)
			sp_fatal("initdata.digest", "no launch binding on this machine (no TDX, "
						    "SNP or TPM) to verify "
						    "initdata against");
		sp_warn("initdata", "not bound to the launch (no TEE, no TPM): accepted only "
				    "because the test overlay is present");
	}
}

/* The register the runtime events (aael.c) extend: RTMR3 where the kernel offers its extend
 * (Linux 6.16's measurement files; 6.12 has none), else PCR23 when a TPM is the evidence. */
static void setup_runtime_log(void)
{
	enum sp_evidence_kind hw = sp_evidence_detect(false);

	if (hw == SP_EV_TDX && sp_path_exists(SP_TDX_MEASUREMENTS "/rtmr3:sha384"))
		sp_aael_setup(SP_AAEL_RTMR3, SP_TDX_MEASUREMENTS, NULL);
	else if (hw == SP_EV_TPM)
		sp_aael_setup(SP_AAEL_PCR23, NULL, TPM_DEV);
	else
		sp_aael_setup(SP_AAEL_NONE, NULL, NULL);
	if (hw == SP_EV_TDX && sp_aael_register() == SP_AAEL_NONE)
		sp_info("attest", "runtime events not measured: this kernel cannot extend RTMR3");
}

static void choose_kbs(const struct sp_config *cfg)
{
	const char *url = NULL, *origin = NULL;

	if (attest_conf.have_initdata && attest_conf.id.kbs_url) {
		url = attest_conf.id.kbs_url, origin = "initdata";
		attest_conf.ca = attest_conf.id.kbs_cert;
		if (cfg->kbs_url[0])
			sp_warn("attest", "sealpod.kbs ignored: initdata names the KBS");
	} else if (cfg->kbs_url[0]) {
		if (attest_conf.test_overlay)
			url = cfg->kbs_url, origin = "sealpod.kbs (test overlay)";
		else
			sp_warn("attest", "sealpod.kbs ignored: the KBS comes from initdata "
					  "outside "
					  "the test overlay");
	}
	if (!url)
		return;
	if (strlen(url) >= sizeof(attest_conf.kbs_url))
		sp_fatal("attest.auth", "KBS URL from %s is too long", origin);
	if (strncmp(url, "https://", 8) != 0) {
		if (strncmp(url, "http://", 7) != 0)
			sp_fatal("attest.auth", "KBS URL from %s must be https://", origin);
		if (!attest_conf.test_overlay)
			sp_fatal("attest.auth",
				 "KBS URL from %s is plain HTTP: refused outside the test overlay",
				 origin);
	} else if (!attest_conf.ca && !attest_conf.test_overlay) {
		sp_fatal("attest.auth", "https KBS without a CA certificate in aa.toml: refused");
	}
	(void)snprintf(attest_conf.kbs_url, sizeof(attest_conf.kbs_url), "%s", url);
	while (attest_conf.kbs_url[0] &&
	       attest_conf.kbs_url[strlen(attest_conf.kbs_url) - 1] == '/')
		attest_conf.kbs_url[strlen(attest_conf.kbs_url) - 1] = '\0';
}

enum sp_evidence_kind sp_attest_choose_evidence(enum sp_evidence_kind detected, bool tpm_present,
						const char *initdata, const char *cmdline,
						bool test_overlay, char *note, size_t notelen)
{
	const char *want = initdata;
	char esc[32];

	note[0] = '\0';
	/* The command line is the host's: it may pick the evidence only on a test image. Anywhere
	 * else it could only ever pick something weaker than the hardware offers (the host's vTPM
	 * instead of TDX or SNP), so it is ignored. */
	if (cmdline && cmdline[0]) {
		if (test_overlay) {
			want = cmdline;
		} else if (strcmp(cmdline, sp_evidence_name(detected)) != 0) {
			sp_log_escape(esc, sizeof(esc), cmdline, strnlen(cmdline, 16));
			(void)snprintf(note, notelen,
				       "evidence \"%s\" ignored: the command line "
				       "(sealpod.evidence) "
				       "chooses the evidence only with the test overlay",
				       esc);
		}
	}
	if (!want || !want[0])
		return detected;
	if (strcmp(want, "sample") == 0) {
		if (test_overlay)
			return SP_EV_SAMPLE;
		(void)snprintf(note, notelen, "evidence \"sample\" ignored: test overlay only");
		return detected;
	}
	if (strcmp(want, "tpm") == 0 && tpm_present)
		return SP_EV_TPM;
	if (strcmp(want, sp_evidence_name(detected)) != 0) {
		sp_log_escape(esc, sizeof(esc), want, strnlen(want, 16));
		(void)snprintf(note, notelen, "evidence \"%s\" is not available here; using %s",
			       esc, sp_evidence_name(detected));
	}
	return detected;
}

static void choose_evidence(const struct sp_config *cfg)
{
	char note[160];

	attest_conf.ev = sp_attest_choose_evidence(
		sp_evidence_detect(attest_conf.test_overlay), sp_path_exists(TPM_DEV),
		attest_conf.have_initdata ? attest_conf.id.evidence : NULL, cfg->evidence,
		attest_conf.test_overlay, note, sizeof(note));
	if (note[0])
		sp_warn("attest", "%s", note);
}

/* The disk, parsed and verified: attest_conf.id and have_initdata (fatal when it is bad). */
static void read_initdata(const struct sp_config *cfg)
{
	char *toml = NULL;
	size_t len = 0;
	bool found = false;
	struct sp_err err;
	char hx[129];

	if (sp_is_pid1() &&
	    sp_initdata_read_disk("/sys/block", "/dev", &toml, &len, &found, &err) < 0)
		sp_fatal("initdata.read", "%s", err.msg);
	if (found) {
		if (sp_initdata_parse(toml, len, &attest_conf.id, &err) < 0)
			sp_fatal("initdata.parse", "%s", err.msg);
		attest_conf.have_initdata = true;
		sp_hex(attest_conf.id.digest, attest_conf.id.digest_len, hx);
		sp_info("initdata", "%zu bytes of TOML, %s %s; %zu secret%s for containers", len,
			sp_hash_name(attest_conf.id.alg), hx, attest_conf.id.nsecrets,
			attest_conf.id.nsecrets == 1 ? "" : "s");
	} else {
		sp_info("initdata", "none");
	}
	if (sp_is_pid1())
		verify_binding(cfg, found);
}

/* The resources fetched once attestation succeeds: the test overlay's, and initdata's registry
 * credentials. */
static void choose_prefetch(const struct sp_config *cfg)
{
	for (const char *p = cfg->test_resources;
	     attest_conf.test_overlay && *p && attest_conf.nprefetch < 4;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n < sizeof(attest_conf.prefetch[0]))
			(void)snprintf(attest_conf.prefetch[attest_conf.nprefetch++],
				       sizeof(attest_conf.prefetch[0]), "%.*s", (int)n, p);
		p += n + (e ? 1 : 0);
	}
	if (attest_conf.have_initdata && attest_conf.id.image.auth_uri && attest_conf.nprefetch < 4)
		(void)snprintf(attest_conf.prefetch[attest_conf.nprefetch++],
			       sizeof(attest_conf.prefetch[0]), "%s",
			       attest_conf.id.image.auth_uri);
}

static void choose_key(void)
{
	const char *alg = attest_conf.have_initdata ? attest_conf.id.tee_key_alg : NULL;

	if (!alg)
		return;
	if (strcmp(alg, "RSA-OAEP-256") == 0)
		attest_conf.key_kind = SP_TEE_KEY_RSA;
	else if (strcmp(alg, "ECDH-ES+A256KW-P256") != 0 && strcmp(alg, "ECDH-ES+A256KW") != 0)
		sp_fatal("initdata.parse", "aa.toml tee_key_algorithm: unsupported value");
}

void sp_attest_boot_initdata(const struct sp_config *cfg, bool test_overlay,
			     struct sp_initdata_conf *out)
{
	struct sp_policy *policy = NULL;
	struct sp_err err;

	memset(out, 0, sizeof(*out));
	memset(&attest_conf.id, 0, sizeof(attest_conf.id));
	attest_conf.test_overlay = test_overlay;
	sp_attest_arm(false);
	if (sp_is_pid1())
		setup_runtime_log();
	read_initdata(cfg);
	if (attest_conf.have_initdata && attest_conf.id.policy &&
	    sp_policy_load(attest_conf.id.policy, strlen(attest_conf.id.policy), &policy, &err) < 0)
		sp_fatal("policy.load", "initdata policy.rego: %s", err.msg);
	choose_kbs(cfg);
	choose_evidence(cfg);
	choose_key();
	attest_conf.required = cfg->sec.attest == SP_ATTEST_REQUIRED || attest_conf.kbs_url[0] ||
			       (attest_conf.have_initdata && attest_conf.id.require_attestation) ||
			       (policy && sp_policy_requires_attestation(policy));
	choose_prefetch(cfg);
	if (attest_conf.required || attest_conf.kbs_url[0]) {
		sp_attest_arm(true);
		sp_info("attest", "required: kbs=%s evidence=%s key=%s",
			attest_conf.kbs_url[0] ? attest_conf.kbs_url : "(none)",
			sp_evidence_name(attest_conf.ev),
			attest_conf.key_kind == SP_TEE_KEY_RSA ? "RSA-OAEP-256" : "ECDH-ES+A256KW");
	} else {
		sp_info("attest", "not required (no KBS configured)");
	}
	out->present = attest_conf.have_initdata;
	out->policy = policy;
	out->image = attest_conf.have_initdata ? &attest_conf.id.image : &default_image;
	out->secrets = attest_conf.have_initdata ? attest_conf.id.secrets : NULL;
	out->nsecrets = attest_conf.have_initdata ? attest_conf.id.nsecrets : 0;
}
