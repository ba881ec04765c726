/* sealpod-measure replay: replays a guest's event log and compares it with the prediction
 * (measure_main.c) and with a reference boot's log (--reference-log). The output is described at
 * the top of measure_main.c. */
#include "cli.h"
#include "eventlog.h"
#include "measure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void prediction_tpm(const struct measure_result *r, struct prediction *p)
{
	memset(p, 0, sizeof(*p));
	p->alg = TPM_ALG_SHA256;
	p->size = SHA256_LEN;
	p->nregs = 3;
	p->regs[0] = 4, p->regs[1] = 5, p->regs[2] = 9;
	p->want[0] = r->pcr4, p->want[1] = r->pcr5, p->want[2] = r->pcr9;
	for (size_t i = 0; i < r->nevents && p->n < PRED_MAX_EVENTS; i++) {
		p->ev[p->n].reg = r->events[i].pcr;
		p->ev[p->n].type = r->events[i].type;
		p->ev[p->n].digest = r->events[i].digest;
		p->ev[p->n++].what = r->events[i].what;
	}
}

void prediction_tdx(const struct tdx_result *r, struct prediction *p)
{
	memset(p, 0, sizeof(*p));
	p->alg = TPM_ALG_SHA384;
	p->size = SHA384_LEN;
	p->nregs = 2;
	p->regs[0] = 2, p->regs[1] = 3; /* CCEL MR index: RTMR1, RTMR2 */
	p->want[0] = r->rtmr1, p->want[1] = r->rtmr2;
	for (size_t i = 0; i < r->nevents && p->n < PRED_MAX_EVENTS; i++) {
		p->ev[p->n].reg = r->events[i].rtmr + 1;
		p->ev[p->n].type = r->events[i].type;
		p->ev[p->n].digest = r->events[i].digest;
		p->ev[p->n++].what = r->events[i].what;
	}
}

/* replay: the log's registers, then the predicted registers compared event by event. */
static void print_difference(int *first, const struct prediction *p, const struct evlog_event *ev,
			     size_t idx, size_t pi, uint32_t reg, size_t pos)
{
	char hex[2 * EVLOG_MAX_DIGEST + 1];
	printf("%s\n    {\"pcr\": %u, \"position\": %zu", *first ? "" : ",", reg, pos);
	*first = 0;
	if (ev) {
		const uint8_t *d = evlog_event_digest(ev, p->alg);
		printf(", \"log_event\": %zu, \"log_type\": \"%s\"", idx,
		       evlog_type_name(ev->type));
		if (d) {
			measure_hex(d, p->size, hex);
			printf(", \"logged\": \"%s\"", hex);
		}
	}
	if (pi < p->n) {
		measure_hex(p->ev[pi].digest, p->size, hex);
		printf(", \"expected_type\": \"%s\", \"expected\": \"%s\", \"expected_what\": ",
		       evlog_type_name(p->ev[pi].type), hex);
		json_str(p->ev[pi].what, strlen(p->ev[pi].what));
	}
	putchar('}');
}

/* A short description of an event for a difference report: the variable name of a UEFI
 * variable event, or the event data when it is printable text. */
static void print_event_what(const struct evlog_event *ev)
{
	char what[72];
	size_t n = 0;
	if ((ev->type == EV_EFI_VARIABLE_DRIVER_CONFIG || ev->type == EV_EFI_VARIABLE_BOOT ||
	     ev->type == 0x800000e0u) &&
	    ev->data_len >= 32) {
		uint64_t chars = 0;
		for (int i = 7; i >= 0; i--)
			chars = chars << 8 | ev->data[16 + i]; /* u64 UnicodeNameLength */
		for (uint64_t i = 0;
		     i < chars && n < sizeof(what) - 1 && 32 + 2 * i + 1 < ev->data_len; i++) {
			uint8_t c = ev->data[32 + 2 * i];
			what[n++] = c >= 0x20 && c < 0x7f && !ev->data[32 + 2 * i + 1] ? (char)c
										       : '?';
		}
	} else {
		for (uint32_t i = 0; i < ev->data_len && n < sizeof(what) - 1; i++) {
			uint8_t c = ev->data[i];
			if (c == 0 && i + 1 == ev->data_len)
				break;
			if (c < 0x20 || c >= 0x7f) {
				n = 0;
				break;
			}
			what[n++] = (char)c;
		}
	}
	if (n) {
		printf(", \"what\": ");
		json_str(what, n);
	}
}

/* Firmware PCRs (0-3, 6, 7; RTMR0 for a TDX CCEL) of the replayed log against a reference boot's
 * log: the register
 * values, then event by event per PCR (type and digest in the replayed bank). Returns 0 when
 * they match, 1 when they differ, 2 on errors. */
static int compare_reference(const struct opts *o, const struct evlog *log, uint16_t alg,
			     unsigned size, uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST],
			     char *err)
{
	/* vTPM: the firmware PCRs; TDX CCEL: MR index 1, RTMR0 (TD HOB, CFV, ACPI, variables) */
	static const int tpm_pcrs[] = { 0, 1, 2, 3, 6, 7 }, tdx_regs[] = { 1 };
	int tdx = !strcmp(o->tee, "tdx");
	const int *pcrs = tdx ? tdx_regs : tpm_pcrs;
	int npcrs = tdx ? 1 : 6;
	static uint8_t ref_regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	struct buf b = { 0 };
	struct evlog ref;
	unsigned ref_size;
	if (read_file(o->reference_log, &b, err) < 0)
		return 2;
	if (evlog_parse(b.p, b.len, &ref, err) < 0) {
		free(b.p);
		return 2;
	}
	int ret = 0;
	if (evlog_replay(&ref, alg, ref_regs, &ref_size, err) < 0 || ref_size != size) {
		ret = 2;
		goto out;
	}
	printf(",\n  \"reference_log\": ");
	json_str(o->reference_log, strlen(o->reference_log));
	printf(",\n  \"firmware_match\": {");
	for (int k = 0; k < npcrs; k++) {
		int same = !memcmp(regs[pcrs[k]], ref_regs[pcrs[k]], size);
		printf("%s\"%d\": %s", k ? ", " : "", pcrs[k], same ? "true" : "false");
		if (!same)
			ret = 1;
	}
	printf("},\n  \"firmware_differences\": [");
	int first = 1;
	for (int k = 0; k < npcrs; k++) {
		size_t li = 0, ri = 0;
		for (size_t pos = 0;; pos++) {
			while (li < log->nevents && (log->events[li].pcr != (uint32_t)pcrs[k] ||
						     log->events[li].type == EV_NO_ACTION))
				li++;
			while (ri < ref.nevents && (ref.events[ri].pcr != (uint32_t)pcrs[k] ||
						    ref.events[ri].type == EV_NO_ACTION))
				ri++;
			const struct evlog_event *a = li < log->nevents ? &log->events[li] : NULL;
			const struct evlog_event *r = ri < ref.nevents ? &ref.events[ri] : NULL;
			if (!a && !r)
				break;
			const uint8_t *da = a ? evlog_event_digest(a, alg) : NULL;
			const uint8_t *dr = r ? evlog_event_digest(r, alg) : NULL;
			if (!a || !r || !da || !dr || a->type != r->type ||
			    memcmp(da, dr, size) != 0) {
				char hex[2 * EVLOG_MAX_DIGEST + 1];
				printf("%s\n    {\"pcr\": %d, \"position\": %zu", first ? "" : ",",
				       pcrs[k], pos);
				first = 0;
				if (a) {
					printf(", \"log_event\": %zu, \"log_type\": \"%s\"", li,
					       evlog_type_name(a->type));
					if (da) {
						measure_hex(da, size, hex);
						printf(", \"logged\": \"%s\"", hex);
					}
					print_event_what(a);
				}
				if (r) {
					printf(", \"reference_event\": %zu, \"reference_type\": "
					       "\"%s\"",
					       ri, evlog_type_name(r->type));
					if (dr) {
						measure_hex(dr, size, hex);
						printf(", \"reference\": \"%s\"", hex);
					}
				}
				putchar('}');
				ret = 1;
			}
			li += a != NULL;
			ri += r != NULL;
		}
	}
	printf("%s]", first ? "" : "\n  ");
out:
	if (ret == 2 && !err[0])
		measure_err(err, "--reference-log: no %s bank", o->bank);
	evlog_free(&ref);
	free(b.p);
	return ret;
}

int measure_replay_main(const struct opts *o, const struct prediction *pred, char *err)
{
	struct buf log_bytes = { 0 };
	struct evlog log;
	if (read_file(o->eventlog, &log_bytes, err) < 0)
		return 2;
	if (evlog_parse(log_bytes.p, log_bytes.len, &log, err) < 0) {
		free(log_bytes.p);
		return 2;
	}
	uint16_t alg = 0;
	for (uint16_t a = 1; a < 0x20; a++)
		if (evlog_alg_name(a) && !strcmp(evlog_alg_name(a), o->bank))
			alg = a;
	static uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	unsigned size;
	int ret = 2;
	if (!alg) {
		measure_err(err, "--bank: sha1, sha256, sha384 or sha512");
		goto out;
	}
	if (evlog_replay(&log, alg, regs, &size, err) < 0)
		goto out;
	int used[EVLOG_NUM_PCRS] = { 0 };
	for (size_t i = 0; i < log.nevents; i++)
		if (log.events[i].type != EV_NO_ACTION)
			used[log.events[i].pcr] = 1;
	printf("{\n  \"eventlog\": ");
	json_str(o->eventlog, strlen(o->eventlog));
	printf(",\n  \"bank\": \"%s\",\n  \"events\": %zu,\n  \"algorithms\": [", o->bank,
	       log.nevents);
	for (uint32_t i = 0; i < log.nalgs; i++)
		printf("%s\"0x%04x\"", i ? ", " : "", log.algs[i].alg);
	printf("],\n  \"pcrs\": {");
	int first = 1;
	for (int p = 0; p < EVLOG_NUM_PCRS; p++) {
		if (!used[p])
			continue;
		char hex[2 * EVLOG_MAX_DIGEST + 1];
		measure_hex(regs[p], size, hex);
		printf("%s\n    \"%d\": \"%s\"", first ? "" : ",", p, hex);
		first = 0;
	}
	printf("\n  }");
	ret = 0;
	if (pred && alg != pred->alg) {
		measure_err(err, "--bank %s: the prediction is in the %s bank", o->bank,
			    evlog_alg_name(pred->alg));
		ret = 2;
		goto out;
	}
	if (pred) {
		printf(",\n  \"predicted\": {");
		for (size_t k = 0; k < pred->nregs; k++) {
			char hex[2 * EVLOG_MAX_DIGEST + 1];
			measure_hex(pred->want[k], pred->size, hex);
			printf("%s\"%u\": \"%s\"", k ? ", " : "", pred->regs[k], hex);
		}
		printf("},\n  \"match\": {");
		for (size_t k = 0; k < pred->nregs; k++) {
			int same = !memcmp(regs[pred->regs[k]], pred->want[k], pred->size);
			printf("%s\"%u\": %s", k ? ", " : "", pred->regs[k],
			       same ? "true" : "false");
			if (!same)
				ret = 1;
		}
		printf("},\n  \"differences\": [");
		first = 1;
		for (size_t k = 0; k < pred->nregs; k++) {
			uint32_t reg = pred->regs[k];
			size_t li = 0, pi = 0, pos = 0;
			for (;; pos++) {
				while (li < log.nevents && (log.events[li].pcr != reg ||
							    log.events[li].type == EV_NO_ACTION))
					li++;
				while (pi < pred->n && pred->ev[pi].reg != reg)
					pi++;
				const struct evlog_event *ev = li < log.nevents ? &log.events[li]
										: NULL;
				if (!ev && pi == pred->n)
					break;
				const uint8_t *d = ev ? evlog_event_digest(ev, alg) : NULL;
				if (!ev || pi == pred->n || !d || ev->type != pred->ev[pi].type ||
				    memcmp(d, pred->ev[pi].digest, pred->size) != 0) {
					print_difference(&first, pred, ev, li, pi, reg, pos);
					ret = 1;
				}
				li += ev != NULL;
				pi += pi < pred->n;
			}
		}
		printf("%s]", first ? "" : "\n  ");
	}
	if (o->reference_log) {
		int r = compare_reference(o, &log, alg, size, regs, err);
		if (r == 2) {
			ret = 2;
			goto out;
		}
		if (r == 1)
			ret = 1;
	}
	printf("\n}\n");
out:
	evlog_free(&log);
	free(log_bytes.p);
	return ret;
}
