/* Evidence providers (reference/attestation.md, section 3): sample (test overlay only), tpm
 * (/dev/tpmrm0), tdx and snp (configfs-tsm; snp also /dev/sev-guest). Each turns the runtime-data
 * digest into the primary_evidence JSON the KBS expects. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "attest/attest_int.h"
#include "lib/cleanup.h"
#include "lib/fileio.h"
#include "lib/log.h"

#define TSM_REPORT "/sys/kernel/config/tsm/report"
#define TPM_DEV	   "/dev/tpmrm0"
#define SEV_DEV	   "/dev/sev-guest"
#define TDX_DEV	   "/dev/tdx_guest"

const char *sp_evidence_name(enum sp_evidence_kind k)
{
	switch (k) {
	case SP_EV_SAMPLE:
		return "sample";
	case SP_EV_TPM:
		return "tpm";
	case SP_EV_TDX:
		return "tdx";
	case SP_EV_SNP:
		return "snp";
	default:
		return "none";
	}
}

enum sp_evidence_kind sp_evidence_detect(bool test_overlay)
{
	if (sp_path_exists(TDX_DEV))
		return SP_EV_TDX;
	if (sp_path_exists(SEV_DEV))
		return SP_EV_SNP;
	if (sp_path_exists(TPM_DEV))
		return SP_EV_TPM;
	return test_overlay ? SP_EV_SAMPLE : SP_EV_NONE;
}

/* --- configfs-tsm ---------------------------------------------------------------------------- */
/* The outblob of a report, whole, into *blob (*len bytes), which the caller frees either way. */
static int read_outblob(const char *path, uint8_t **blob, size_t *len, struct sp_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = (size_t)64 * 1024;

	*blob = malloc(cap);
	*len = 0;
	if (fd < 0 || !*blob)
		return sp_error(err, errno, "open %s", path);
	for (;;) {
		ssize_t r = read(fd, *blob + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sp_error(err, errno, "read %s", path);
		if (r == 0)
			break;
		*len += (size_t)r;
		if (*len == cap)
			return sp_error(err, 0, "%s is over %zu bytes", path, cap);
	}
	return 0;
}

/* The auxblob of the report in dir (*len bytes), NULL when the provider offers none, it is empty
 * or too large (a warning: the report goes without certificates). */
static uint8_t *read_auxblob(const char *dir, size_t *len)
{
	uint8_t *a = malloc(SP_SNP_CERTS_MAX_LEN + 1);
	char path[192];
	struct sp_err e;
	bool trunc;

	(void)snprintf(path, sizeof(path), "%s/auxblob", dir);
	if (a && sp_read_file(path, (char *)a, SP_SNP_CERTS_MAX_LEN + 1, len, &trunc, &e) == 0 &&
	    !trunc && *len > 0)
		return a;
	if (a && sp_path_exists(path) && trunc)
		sp_warn("attest", "%s is over %zu bytes: no certificates sent", path,
			SP_SNP_CERTS_MAX_LEN);
	free(a);
	*len = 0;
	return NULL;
}

/* A report from configfs-tsm: *out the outblob; with aux, the auxblob too (*aux NULL when the
 * provider offers none or it is empty: for sev_guest, the host's certificate table). */
static int tsm_report(const char *want_provider, const uint8_t rd[64], uint8_t **out, size_t *len,
		      uint8_t **aux, size_t *auxlen, struct sp_err *err)
{
	static unsigned seq;
	char dir[128], path[192], buf[64];
	size_t n, got = 0;
	bool trunc;
	int ret = -1;
	cleanup_close int fd = -1;
	uint8_t *blob = NULL;

	(void)snprintf(dir, sizeof(dir), TSM_REPORT "/sealpod-%d-%u", (int)getpid(), seq++);
	if (mkdir(dir, 0700) < 0)
		return sp_error(err, errno, "mkdir %s", dir);
	(void)snprintf(path, sizeof(path), "%s/provider", dir);
	if (sp_read_file(path, buf, sizeof(buf) - 1, &n, &trunc, err) < 0)
		goto out;
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	if (strcmp(buf, want_provider) != 0) {
		sp_error(err, 0, "configfs-tsm provider is %.32s, not %s", buf, want_provider);
		goto out;
	}
	(void)snprintf(path, sizeof(path), "%s/inblob", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, rd, 64) != 64) {
		sp_error(err, errno, "write %s", path);
		goto out;
	}
	close(steal_fd(&fd));
	(void)snprintf(path, sizeof(path), "%s/outblob", dir);
	if (read_outblob(path, &blob, &got, err) < 0)
		goto out;
	(void)snprintf(path, sizeof(path), "%s/generation", dir);
	if (sp_read_file(path, buf, sizeof(buf) - 1, &n, &trunc, err) < 0)
		goto out;
	buf[n] = '\0';
	if (strtoul(buf, NULL, 10) != 1) {
		sp_error(err, 0, "configfs-tsm generation %.16s != 1: another writer raced us",
			 buf);
		goto out;
	}
	if (aux) {
		size_t auxn = 0;

		*aux = read_auxblob(dir, &auxn);
		*auxlen = auxn;
	}
	*out = steal_ptr(&blob);
	*len = got;
	ret = 0;
out:
	free(blob);
	rmdir(dir);
	return ret;
}

/* --- SNP through /dev/sev-guest --------------------------------------------------------------- */
struct snp_report_req {
	uint8_t user_data[64];
	uint32_t vmpl;
	uint8_t rsvd[28];
};
struct snp_report_resp {
	uint8_t data[4000];
};
struct snp_guest_request_ioctl {
	uint8_t msg_version;
	uint64_t req_data;
	uint64_t resp_data;
	uint64_t exitinfo2;
};
struct snp_ext_report_req {
	struct snp_report_req data;
	uint64_t certs_address; /* page-aligned */
	uint32_t certs_len;	/* a multiple of the page size; the size needed on INVALID_LEN */
};
#define SNP_GET_REPORT		_IOWR('S', 0x0, struct snp_guest_request_ioctl)
#define SNP_GET_EXT_REPORT	_IOWR('S', 0x2, struct snp_guest_request_ioctl)
#define SNP_VMM_ERR_INVALID_LEN 1 /* in exitinfo2's upper 32 bits */
/* sandbox.c's seccomp filter allows exactly these two requests on the device. */
_Static_assert(SNP_GET_REPORT == 0xc0205300UL, "sandbox.c");
_Static_assert(SNP_GET_EXT_REPORT == 0xc0205302UL, "sandbox.c");

/* The extended report through the ioctl: the report in resp, the host's certificate table in
 * *certs (NULL when the host provided none). -1 when the ioctl fails (the caller falls back to
 * SNP_GET_REPORT). */
static int snp_ext_report(int fd, const uint8_t rd[64], struct snp_report_resp *resp,
			  uint8_t **certs, size_t *certs_len)
{
	for (size_t cap = 16384; cap <= SP_SNP_CERTS_MAX_LEN; cap *= 2) {
		struct snp_ext_report_req req = { 0 };
		struct snp_guest_request_ioctl io = { .msg_version = 1 };
		uint8_t *buf = aligned_alloc(4096, cap);

		if (!buf)
			return -1;
		memset(buf, 0, cap);
		memcpy(req.data.user_data, rd, 64);
		req.certs_address = (uint64_t)(uintptr_t)buf;
		req.certs_len = (uint32_t)cap;
		io.req_data = (uint64_t)(uintptr_t)&req;
		io.resp_data = (uint64_t)(uintptr_t)resp;
		if (ioctl(fd, SNP_GET_EXT_REPORT, &io) == 0) {
			*certs = buf;
			*certs_len = cap;
			return 0;
		}
		free(buf);
		if ((io.exitinfo2 >> 32) != SNP_VMM_ERR_INVALID_LEN || req.certs_len <= cap)
			return -1;
	}
	return -1;
}

/* The report for rd; with certs, the host's certificate table too (*certs NULL when none). */
static int snp_report(const uint8_t rd[64], uint8_t report[SP_SNP_REPORT_LEN], uint8_t **certs,
		      size_t *certs_len, struct sp_err *err)
{
	struct snp_report_req req = { 0 };
	static struct snp_report_resp resp;
	struct snp_guest_request_ioctl io = { .msg_version = 1 };
	uint8_t *blob = NULL;
	size_t len = 0;
	cleanup_close int fd = -1;

	if (certs) {
		*certs = NULL;
		*certs_len = 0;
	}
	if (sp_path_exists(TSM_REPORT) &&
	    tsm_report("sev_guest", rd, &blob, &len, certs, certs_len, err) == 0) {
		if (len < SP_SNP_REPORT_LEN) {
			free(blob);
			return sp_error(err, 0, "configfs-tsm SNP report of %zu bytes", len);
		}
		memcpy(report, blob, SP_SNP_REPORT_LEN);
		free(blob);
		return 0;
	}
	fd = open(SEV_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return sp_error(err, errno, "open " SEV_DEV);
	if (certs && snp_ext_report(fd, rd, &resp, certs, certs_len) == 0)
		goto got;
	memcpy(req.user_data, rd, 64);
	io.req_data = (uint64_t)(uintptr_t)&req;
	io.resp_data = (uint64_t)(uintptr_t)&resp;
	if (ioctl(fd, SNP_GET_REPORT, &io) < 0)
		return sp_error(err, errno, "SNP_GET_REPORT (fw 0x%llx)",
				(unsigned long long)io.exitinfo2);
got:
	/* MSG_REPORT_RSP: status, report_size, reserved, then the report at 0x20. */
	if (resp.data[0] | resp.data[1] | resp.data[2] | resp.data[3])
		return sp_error(err, 0, "SNP_GET_REPORT: status %u", resp.data[0]);
	memcpy(report, resp.data + 0x20, SP_SNP_REPORT_LEN);
	return 0;
}

/* --- TDX report (for MRCONFIGID) ----------------------------------------------------------------- */
struct tdx_report_req {
	uint8_t reportdata[64];
	uint8_t tdreport[1024];
};
#define TDX_CMD_GET_REPORT0 _IOWR('T', 1, struct tdx_report_req)
#define TDREPORT_MRCONFIGID 576 /* REPORTMACSTRUCT 256 + TEE_TCB_INFO 239 + 17 + TDINFO 16+48 */

int sp_evidence_binding(enum sp_evidence_kind k, uint8_t *out, size_t *len, struct sp_err *err)
{
	uint8_t rd[64] = { 0 };

	*len = 0;
	if (k == SP_EV_TDX) {
		static struct tdx_report_req req;
		cleanup_close int fd = open(TDX_DEV, O_RDWR | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, TDX_CMD_GET_REPORT0, &req) < 0)
			return sp_error(err, errno, "TDX report");
		memcpy(out, req.tdreport + TDREPORT_MRCONFIGID, 48);
		*len = 48;
	} else if (k == SP_EV_SNP) {
		static uint8_t report[SP_SNP_REPORT_LEN];
		if (snp_report(rd, report, NULL, NULL, err) < 0)
			return -1;
		memcpy(out, report + 0xc0, 32);
		*len = 32;
	}
	return 0;
}

/* --- providers ------------------------------------------------------------------------------------ */
static int ev_sample(const uint8_t *rd, size_t rdlen, char **json, struct sp_err *err)
{
	char *b = sp_b64_encode(rd, rdlen, false);

	if (!b || asprintf(json, "{\"svn\":\"1\",\"report_data\":\"%s\"}", b) < 0) {
		free(b);
		return sp_error(err, ENOMEM, "sample evidence");
	}
	free(b);
	return 0;
}

static int ev_tpm(const uint8_t *rd, size_t rdlen, const uint8_t *evlog, size_t evlog_len,
		  char **json, struct sp_err *err)
{
	struct sp_tpm *t = NULL;
	uint8_t *spki = NULL, *att = NULL, *sig = NULL, fp[32];
	size_t spki_len = 0, att_len = 0, sig_len = 0;
	uint8_t pcrs[24][32];
	char *a = NULL, *q = NULL, *s = NULL, *el = NULL, hex[65], fphex[65];
	FILE *f;
	size_t len;
	unsigned fplen;
	int ret = -1;

	*json = NULL;
	if (sp_tpm_open(TPM_DEV, &t, err) < 0)
		return -1;
	if (sp_tpm_create_ak(t, &spki, &spki_len, err) < 0 ||
	    sp_tpm_quote(t, rd, rdlen, &att, &att_len, &sig, &sig_len, err) < 0 ||
	    sp_tpm_pcr_read_sha256(t, pcrs, err) < 0)
		goto out;
	if (EVP_Digest(spki, spki_len, fp, &fplen, EVP_sha256(), NULL) == 1) {
		sp_hex(fp, 32, fphex);
		sp_info("attest",
			"tpm: attestation key sha256:%s (RSA 2048, endorsement hierarchy)", fphex);
	}
	a = sp_b64_encode(spki, spki_len, false);
	q = sp_b64_encode(att, att_len, false);
	s = sp_b64_encode(sig, sig_len, false);
	el = evlog_len ? sp_b64_encode(evlog, evlog_len, false) : NULL;
	f = open_memstream(json, &len);
	if (!a || !q || !s || !f || (evlog_len && !el)) {
		if (f)
			(void)fclose(f);
		sp_error(err, ENOMEM, "tpm evidence");
		goto out;
	}
	(void)fprintf(f,
		      "{\"ak_public\":\"%s\",\"tpm_quote\":{\"signature\":\"%s\",\"message\":\"%"
		      "s\","
		      "\"pcrs\":[",
		      a, s, q);
	for (int i = 0; i < 24; i++) {
		sp_hex(pcrs[i], 32, hex);
		(void)fprintf(f, i ? ",\"%s\"" : "\"%s\"", hex);
	}
	(void)fputs("]}", f);
	if (el)
		(void)fprintf(f, ",\"aa_eventlog\":\"%s\"", el);
	(void)fputs("}", f);
	if (fclose(f) != 0) {
		sp_error(err, errno, "tpm evidence");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		free(*json);
		*json = NULL;
	}
	free(a), free(q), free(s), free(el), free(spki), free(att), free(sig);
	sp_tpm_close(t);
	return ret;
}

static int ev_tdx(const uint8_t *rd, size_t rdlen, const uint8_t *evlog, size_t evlog_len,
		  char **json, struct sp_err *err)
{
	uint8_t pad[64] = { 0 }, *quote = NULL;
	size_t qlen = 0;
	cleanup_free char *b = NULL, *el = NULL;

	memcpy(pad, rd, rdlen > 64 ? 64 : rdlen);
	if (tsm_report("tdx_guest", pad, &quote, &qlen, NULL, NULL, err) < 0)
		return -1;
	b = sp_b64_encode(quote, qlen, false);
	free(quote);
	el = evlog_len ? sp_b64_encode(evlog, evlog_len, false) : NULL;
	if (!b || (evlog_len && !el))
		return sp_error(err, ENOMEM, "tdx evidence");
	/* Trustee's field names: cc_eventlog (the CCEL and the runtime events, base64) */
	if ((el ? asprintf(json, "{\"cc_eventlog\":\"%s\",\"quote\":\"%s\"}", el, b)
		: asprintf(json, "{\"quote\":\"%s\"}", b)) < 0)
		return sp_error(err, ENOMEM, "tdx evidence");
	return 0;
}

static int ev_snp(const uint8_t *rd, size_t rdlen, char **json, struct sp_err *err)
{
	uint8_t pad[64] = { 0 }, *certs = NULL;
	static uint8_t report[SP_SNP_REPORT_LEN];
	size_t certs_len = 0;
	char *r, *chain = NULL;
	struct sp_err e;

	memcpy(pad, rd, rdlen > 64 ? 64 : rdlen);
	if (snp_report(pad, report, &certs, &certs_len, err) < 0)
		return -1;
	/* The host's certificates let the verifier skip AMD's key server; a table that does not
	 * parse is dropped (cert_chain null), never trusted: the VCEK signature is what counts. */
	if (certs && sp_snp_cert_chain_json(certs, certs_len, &chain, &e) < 0)
		sp_warn("attest", "%s; sending cert_chain null", e.msg);
	free(certs);
	r = sp_snp_report_json(report);
	if (!r || asprintf(json, "{\"attestation_report\":%s,\"cert_chain\":%s}", r,
			   chain ? chain : "null") < 0) {
		free(r);
		free(chain);
		return sp_error(err, ENOMEM, "snp evidence");
	}
	free(r);
	free(chain);
	return 0;
}

int sp_evidence_collect(enum sp_evidence_kind k, const uint8_t *rd, size_t rdlen,
			const uint8_t *evlog, size_t evlog_len, char **json, struct sp_err *err)
{
	*json = NULL;
	switch (k) {
	case SP_EV_SAMPLE:
		return ev_sample(rd, rdlen, json, err);
	case SP_EV_TPM:
		return ev_tpm(rd, rdlen, evlog, evlog_len, json, err);
	case SP_EV_TDX:
		return ev_tdx(rd, rdlen, evlog, evlog_len, json, err);
	case SP_EV_SNP:
		return ev_snp(rd, rdlen, json, err);
	default:
		return sp_error(err, 0, "no evidence provider on this machine");
	}
}
