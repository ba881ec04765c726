/* The attestation module's insides, shared between its files and its unit tests and fuzzers.
 *
 *   initdata.c  the Kata initdata disk, its digest and the settings it carries (aa/cdh.toml)
 *   toml.c      the strict TOML reader those documents go through (lexing in toml_lex.c)
 *   initdata_keys.c  the cdh.toml and aa.toml settings implemented here; any other is fatal
 *   jose.c      base64, RFC 8785 canonical JSON, the TEE key (JWK) and JWE decryption
 *   kbs.c       the KBS protocol 0.4.0 messages (build and parse) and the HTTP exchange
 *   tpm.c       raw TPM 2.0 commands over /dev/tpmrm0 (PCR extend/read, a signing key, quote)
 *   evidence.c  evidence providers: sample, tpm, tdx/snp (configfs-tsm, /dev/sev-guest)
 *   ccel.c      the TCG2 event log walk, the firmware's CCEL and the log sent as evidence
 *   aael.c      the runtime event log (AAEL) and the register each event extends
 *   azure_hcl.c the HCL report of an Azure vTPM (az-snp-vtpm, az-tdx-vtpm)
 *   secrets.c   the [sealpod.secrets.*] declarations of cdh.toml (secrets for containers)
 *   confine.c   the worker's confinement, as data for lib/confine.c
 *   snp.c       the SNP report and certificate table as trustee's JSON
 *   boot.c      the initdata boot step: the launch binding, the KBS, evidence and key to use
 *   worker.c    the worker process that holds the TEE key and talks to the KBS (protocol: worker.h)
 *   attest.c    PID 1's side: starting the worker, waiting for it and the resource requests */
#ifndef SEALPOD_ATTEST_ATTEST_INT_H
#define SEALPOD_ATTEST_ATTEST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/attest.h"
#include "lib/err.h"

/* --- initdata ------------------------------------------------------------------------------- */
#define SP_INITDATA_MAGIC    "initdata"
#define SP_INITDATA_MAX_GZ   ((size_t)1 << 20) /* compressed bytes we read from the disk */
#define SP_INITDATA_MAX_TOML ((size_t)1 << 20) /* uncompressed */
#define SP_INITDATA_SERIAL   "sealpod-initdata"

enum sp_hash { SP_HASH_SHA256 = 0, SP_HASH_SHA384, SP_HASH_SHA512 };

struct sp_initdata {
	char *toml; /* the document exactly as read (NUL-terminated copy) */
	size_t toml_len;
	enum sp_hash alg;
	uint8_t digest[64];
	size_t digest_len;
	/* From [data]: borrowed from the parsed documents, valid while this lives. */
	const char *policy;	  /* policy.rego, or NULL */
	const char *kbs_url;	  /* aa.toml [token_configs.kbs] url, else cdh.toml [kbc] url */
	const char *kbs_cert;	  /* PEM */
	const char *tee_key_alg;  /* aa.toml [token_configs.kbs] tee_key_algorithm, or NULL */
	const char *evidence;	  /* aa.toml [sealpod] evidence, or NULL (auto) */
	bool require_attestation; /* a KBS is named, or aa.toml [sealpod] attestation="required" */
	struct sp_image_settings image;
	const char *insecure[16];
	const char *dec_keys[16];		       /* cdh.toml [sealpod] decryption_keys */
	struct sp_secret_decl secrets[SP_SECRETS_MAX]; /* cdh.toml [sealpod.secrets.*] */
	size_t nsecrets;
	/* Owned parse trees. */
	void *docs; /* struct sp_toml[3]: initdata, aa, cdh */
};

/* The bytes of the disk (or a prefix of it) → the TOML document (malloc'd, NUL-terminated). */
int sp_initdata_unpack(const uint8_t *disk, size_t len, char **toml, size_t *toml_len,
		       struct sp_err *err);
/* Parses and digests toml (takes ownership of it on success and failure). */
int sp_initdata_parse(char *toml, size_t len, struct sp_initdata *out, struct sp_err *err);
void sp_initdata_free(struct sp_initdata *d);
/* cdh.toml's [sealpod.secrets.<name>] tables (secrets.c) into d->secrets, strictly: an unknown
 * key, a missing or malformed value, a duplicate path or more than SP_SECRETS_MAX is an error.
 * cdh is a struct sp_toml; the strings stay borrowed from it. */
int sp_initdata_parse_secrets(const void *cdh, struct sp_initdata *d, struct sp_err *err);
/* Every key of cdh.toml and of aa.toml's security sections is one the guest implements
 * (initdata_keys.c), else "initdata.unsupported: <key>". aa and cdh are struct sp_toml. */
int sp_initdata_check_keys(const void *aa, const void *cdh, struct sp_err *err);
/* Finds the initdata disk: the virtio-blk disk with serial SP_INITDATA_SERIAL, else any vd* disk
 * that starts with the magic. 0 and *found=false when there is none. */
int sp_initdata_read_disk(const char *sysblock, const char *devdir, char **toml, size_t *toml_len,
			  bool *found, struct sp_err *err);
const char *sp_hash_name(enum sp_hash h);
int sp_hash_digest(enum sp_hash h, const void *data, size_t len, uint8_t *out, size_t *out_len);
/* The binding comparison: the digest zero-padded or truncated to the binding's size. */
bool sp_initdata_matches(const uint8_t *digest, size_t dlen, const uint8_t *binding, size_t blen);
void sp_hex(const uint8_t *p, size_t n, char *out); /* out: 2n+1 */

/* --- JOSE ------------------------------------------------------------------------------------ */
/* base64 (standard, padded) and base64url (no padding). Encoders return a malloc'd string. */
char *sp_b64_encode(const uint8_t *p, size_t n, bool url);
/* Decoders are strict: the exact alphabet, no whitespace, padding required (std) / refused (url).
 * Return a malloc'd buffer (one NUL byte after the data). */
int sp_b64_decode(const char *s, size_t slen, bool url, uint8_t **out, size_t *out_len);

/* RFC 8785 canonical JSON of json text in (objects, arrays, strings, integers, true/false/null;
 * non-integer numbers are refused). malloc'd result. */
int sp_jcs(const char *json, size_t len, char **out, struct sp_err *err);

enum sp_tee_key_kind { SP_TEE_KEY_EC_P256 = 0, SP_TEE_KEY_RSA };
struct sp_tee_key;
int sp_tee_key_new(enum sp_tee_key_kind kind, struct sp_tee_key **out, struct sp_err *err);
void sp_tee_key_free(struct sp_tee_key *k);
/* The JWK with exactly kty,crv,alg,x,y or kty,alg,n,e (in that member order), malloc'd. */
char *sp_tee_key_jwk(const struct sp_tee_key *k);
/* Decrypts a flattened JWE (JSON text) addressed to k. *plain is malloc'd; the caller wipes it. */
int sp_jwe_decrypt(const struct sp_tee_key *k, const char *json, size_t len, uint8_t **plain,
		   size_t *plain_len, struct sp_err *err);

/* --- KBS protocol messages --------------------------------------------------------------------- */
struct sp_kbs_challenge {
	char nonce[128];
	enum sp_hash hash; /* extra-params.selected-hash-algorithm, default sha384 */
};
/* The Request body for tee. malloc'd. */
char *sp_kbs_request_json(const char *tee);
int sp_kbs_parse_challenge(const char *body, size_t len, struct sp_kbs_challenge *c,
			   struct sp_err *err);
/* The canonical runtime data {"additional-evidence":"","nonce":..,"tee-pubkey":..} (malloc'd). */
int sp_kbs_runtime_data(const char *nonce, const char *jwk, char **out, struct sp_err *err);
/* The Attestation body. initdata may be NULL. */
int sp_kbs_attest_json(const char *initdata, const char *nonce, const char *jwk,
		       const char *evidence, char **out, struct sp_err *err);
/* {"token":"..."} → the token (malloc'd). */
int sp_kbs_parse_token(const char *body, size_t len, char **token, struct sp_err *err);
/* An error body's type suffix ("PolicyDeny"), escaped, or "" when there is none. */
void sp_kbs_error_type(const char *body, size_t len, char *out, size_t outlen);
/* Its "detail" text, escaped, or "". It may describe the owner's policy: it goes into
 * sp_err.detail only, never into a log line or a reply (the host reads the console too). */
void sp_kbs_error_detail(const char *body, size_t len, char *out, size_t outlen);
/* kbs:///repo/type/tag → "repo/type/tag" (each part [A-Za-z0-9._-]+, not . or ..). */
int sp_kbs_parse_uri(const char *uri, char *path, size_t pathlen, struct sp_err *err);

/* CLOCK_MONOTONIC in milliseconds (client.c), for the module's timings and deadlines. */
long long sp_attest_now_ms(void);

/* --- SNP report → trustee JSON ----------------------------------------------------------------- */
#define SP_SNP_REPORT_LEN 1184
/* The attestation_report object as the KBS expects it (malloc'd). */
char *sp_snp_report_json(const uint8_t report[SP_SNP_REPORT_LEN]);
/* The certificate table the host attaches to an extended report (configfs-tsm auxblob, or the
 * SNP_GET_EXT_REPORT buffer) as the evidence's cert_chain: a JSON array of {"cert_type":"VCEK",
 * "data":[bytes]} (serde's form of virtee/sev's CertTableEntry; VLEK, ASK, ARK and CRL by name,
 * any other GUID as {"OTHER":"<uuid>"}), or "null" for an empty table. The bytes are the host's:
 * a malformed table (an entry outside the buffer or overlapping the table, a zero length, no
 * terminator, more than SP_SNP_MAX_CERTS entries) is refused with err. malloc'd *json. */
#define SP_SNP_MAX_CERTS     16
#define SP_SNP_CERTS_MAX_LEN ((size_t)64 << 10)
int sp_snp_cert_chain_json(const uint8_t *table, size_t len, char **json, struct sp_err *err);

/* --- TPM ------------------------------------------------------------------------------------------ */
struct sp_tpm;
int sp_tpm_open(const char *dev, struct sp_tpm **out, struct sp_err *err);
void sp_tpm_close(struct sp_tpm *t);
int sp_tpm_extend_sha256(struct sp_tpm *t, unsigned pcr, const uint8_t digest[32],
			 struct sp_err *err);
int sp_tpm_pcr_read_sha256(struct sp_tpm *t, uint8_t pcrs[24][32], struct sp_err *err);
/* Creates the attestation key (a primary RSA 2048 restricted signing key, RSASSA-SHA256, in the
 * endorsement hierarchy); *spki is its DER SubjectPublicKeyInfo (malloc'd). */
int sp_tpm_create_ak(struct sp_tpm *t, uint8_t **spki, size_t *spki_len, struct sp_err *err);
/* TPM2_Quote over sha256 PCRs 0-23 with qualifying data qd (<= 32 bytes): the marshalled
 * TPMS_ATTEST and TPMT_SIGNATURE (malloc'd). */
int sp_tpm_quote(struct sp_tpm *t, const uint8_t *qd, size_t qdlen, uint8_t **attest,
		 size_t *attest_len, uint8_t **sig, size_t *sig_len, struct sp_err *err);

/* --- evidence ------------------------------------------------------------------------------------ */
enum sp_evidence_kind { SP_EV_NONE = 0, SP_EV_SAMPLE, SP_EV_TPM, SP_EV_TDX, SP_EV_SNP };
const char *sp_evidence_name(enum sp_evidence_kind k);
/* What this machine offers, best first: tdx, snp, tpm; sample only with the test overlay. */
enum sp_evidence_kind sp_evidence_detect(bool test_overlay);
/* The evidence to send (boot.c), from what detection found (detected, the best the machine
 * offers), whether a TPM is there, initdata's [sealpod] evidence and the command line's
 * sealpod.evidence (NULL or "" when unset): initdata may choose any the machine has; the
 * command line only on a test image (elsewhere it could only choose weaker evidence, e.g. the
 * host's vTPM over TDX); "sample" only on a test image. A refused or unavailable choice leaves
 * detected and a line for the console in note ("" when none). Pure: the detector is the
 * caller's, so a unit test can stand in for any machine. */
enum sp_evidence_kind sp_attest_choose_evidence(enum sp_evidence_kind detected, bool tpm_present,
						const char *initdata, const char *cmdline,
						bool test_overlay, char *note, size_t notelen);
/* The primary_evidence JSON for report data rd (the runtime-data digest, rdlen bytes). evlog
 * (evlog_len bytes, may be 0): the event log from sp_evlog_compose, sent as tdx's cc_eventlog
 * (Trustee replays it against RTMR0-3) and as tpm's aa_eventlog (the runtime events, PCR 23). */
int sp_evidence_collect(enum sp_evidence_kind k, const uint8_t *rd, size_t rdlen,
			const uint8_t *evlog, size_t evlog_len, char **json, struct sp_err *err);
/* The attestation worker's confinement (confine.c): what the spawn applies, and the whole of it
 * for evidence ev, entered by the worker once the network is up (sp_confine_enter_root). */
struct sp_confine;
extern const struct sp_confine sp_attest_confine_boot;
const struct sp_confine *sp_attest_confine(enum sp_evidence_kind ev);
/* The launch binding of initdata: TDX MRCONFIGID (48), SNP HOSTDATA (32). 0 with *len 0 when this
 * machine has no such binding. */
int sp_evidence_binding(enum sp_evidence_kind k, uint8_t *out, size_t *len, struct sp_err *err);

/* --- event logs: the firmware's CCEL (ccel.c) and the runtime events (aael.c) ------------------- */
#define SP_CCEL_PATH	       "/sys/firmware/acpi/tables/data/CCEL"
#define SP_TDX_MEASUREMENTS    "/sys/devices/virtual/misc/tdx_guest/measurements"
#define SP_EVLOG_MAX	       ((size_t)1 << 20)
#define SP_EVLOG_MAX_ALGS      8
#define SP_EVLOG_MAX_EVENTS    16384
#define SP_EVLOG_HEADER_MAX    128
#define SP_TPM_ALG_SHA256      0x000b
#define SP_TPM_ALG_SHA384      0x000c
#define SP_AAEL_PCR	       23
#define SP_AAEL_TEXT_MAX       4096
#define SP_AAEL_DOMAIN_COCO    "github.com/confidential-containers"
#define SP_AAEL_DOMAIN_SEALPOD "sealpod"
struct sp_evlog_info {
	uint16_t algs[SP_EVLOG_MAX_ALGS], sizes[SP_EVLOG_MAX_ALGS];
	unsigned nalgs;
	size_t header_len; /* the Spec ID event */
	size_t len;	   /* header and events: where the padding or the end flag starts */
	size_t nevents;
};
struct sp_evlog_event {
	uint32_t mr, type, ndigests;
	uint16_t alg[SP_EVLOG_MAX_ALGS], dsize[SP_EVLOG_MAX_ALGS];
	const uint8_t *digest[SP_EVLOG_MAX_ALGS];
	const uint8_t *data;
	uint32_t data_len;
};
typedef int (*sp_evlog_cb)(const struct sp_evlog_event *ev, void *ctx, struct sp_err *err);
/* Walks a TCG2 crypto-agile log (untrusted: every length checked), calling cb (may be NULL) per
 * event after the Spec ID header; stops at the end, or at an 8-byte 0xFF or zero run. */
int sp_evlog_walk(const uint8_t *p, size_t len, sp_evlog_cb cb, void *ctx, struct sp_evlog_info *in,
		  struct sp_err *err);
/* The log to send: the CCEL's events (ccel may be NULL: then a Spec ID header for alg alone),
 * then events (TCG2 entries, alg digests), then the 0xFF end flag. malloc'd *out. */
int sp_evlog_compose(const uint8_t *ccel, size_t ccel_len, uint16_t alg, const uint8_t *events,
		     size_t events_len, uint8_t **out, size_t *out_len, struct sp_err *err);
/* The whole file at path (malloc'd; 0 with *out NULL when there is none). */
int sp_ccel_read(const char *path, uint8_t **out, size_t *len, struct sp_err *err);

enum sp_aael_register { SP_AAEL_NONE = 0, SP_AAEL_RTMR3, SP_AAEL_PCR23 };
int sp_aael_check(const char *domain, const char *op, const char *content, struct sp_err *err);
/* One event as a TCG2 EV_EVENT_TAG entry for MR index mr: *out (malloc'd, *len bytes), and
 * the digest that extends the register (*dlen bytes: h's size). */
int sp_aael_entry(const char *domain, const char *op, const char *content, enum sp_hash h,
		  uint32_t mr, uint8_t **out, size_t *len, uint8_t digest[64], size_t *dlen,
		  struct sp_err *err);
/* RTMR extend through the kernel's measurement files under dir (SP_TDX_MEASUREMENTS). */
int sp_rtmr_extend_tdx(const char *dir, unsigned rtmr, const uint8_t d[48], struct sp_err *err);
/* Which register the runtime events go to (PID 1, at boot; tests point the paths elsewhere);
 * the log starts empty. */
void sp_aael_setup(enum sp_aael_register reg, const char *tdx_dir, const char *tpm_dev);
enum sp_aael_register sp_aael_register(void);
/* Extends the register with the event, then logs it. An error leaves register and log as they
 * were (except when the register itself fails half way, which the kernel reports). */
int sp_aael_record(const char *domain, const char *op, const char *content, struct sp_err *err);
const uint8_t *sp_aael_bytes(size_t *len, size_t *nevents);

/* --- Azure vTPM: the HCL report (azure_hcl.c) ------------------------------------------------ */
struct sp_hcl {
	bool tdx;	   /* a TDREPORT, else an SNP report */
	enum sp_hash hash; /* of the variable data, into report_data */
	const uint8_t *hw; /* the hardware report (hw_len bytes) */
	size_t hw_len;
	const uint8_t *report_data; /* inside hw */
	const uint8_t *var;	    /* the variable data: JSON (var_len bytes) */
	size_t var_len;
};
/* Parses an HCL report (untrusted: every size checked); the pointers point into p. */
int sp_hcl_parse(const uint8_t *p, size_t len, struct sp_hcl *out, struct sp_err *err);
/* The hardware report's report_data starts with the variable data's digest. */
int sp_hcl_check_binding(const struct sp_hcl *h, struct sp_err *err);
/* The variable data's "user-data" (128 hex digits): what the guest wrote to NV 0x01400002. */
int sp_hcl_user_data(const struct sp_hcl *h, uint8_t out[64], struct sp_err *err);

/* How initdata is bound (boot.c), from what the machine offers: a nonzero launch binding
 * (MRCONFIGID, HOSTDATA) must match; a zero one makes the guest measure initdata itself, into
 * RTMR3 (TDX, when the kernel can extend it) or PCR8 (a TPM); otherwise the boot stops. Pure:
 * the caller detects, so a unit test stands in for any machine. */
enum sp_initdata_bind {
	SP_BIND_NONE = 0,
	SP_BIND_LAUNCH,
	SP_BIND_RTMR3,
	SP_BIND_PCR8,
	SP_BIND_REFUSE
};
enum sp_initdata_bind sp_initdata_bind_plan(enum sp_evidence_kind hw, bool launch_zero, bool rtmr3,
					    bool tpm);
const char *sp_initdata_bind_name(enum sp_initdata_bind b);

/* --- the attestation's settings ---------------------------------------------------------------- */
/* What the boot step settles (boot.c, from initdata and the kernel command line), read by PID 1's
 * side (attest.c), which sends the worker what it needs of it (worker.h). */
struct sp_attest_conf {
	bool test_overlay;
	bool have_initdata;
	struct sp_initdata id;
	char kbs_url[256];
	const char *ca;
	enum sp_evidence_kind ev;
	enum sp_tee_key_kind key_kind;
	bool required;
	char prefetch[4][256];
	size_t nprefetch;
};
extern struct sp_attest_conf attest_conf;
/* A failure of the worker as PID 1 reports it (attest.c): w is the worker's error frame (NULL:
 * it died, or PID 1 could not reach it; what then says why). err gets "stage: reason" (reason
 * also in why, for the console) with kind and the stage's code (the worker's, else dflt), and
 * the KBS's words in err->detail only, never printed or sent. */
void sp_attest_failure(const struct sp_err *w, enum sp_stage dflt, const char *what,
		       enum sp_err_kind kind, struct sp_err *err, char *why, size_t whylen);
/* The boot step's verdict (attest.c): attestation waits for its first trigger (true) or is off.
 * Unit tests use it to stand for a configured attestation. */
void sp_attest_arm(bool pending);

#endif
