/* Arbitrary bytes as a TCG2 event log (binary_bios_measurements or a CCEL from the guest under
 * test: untrusted). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../measure/eventlog.h"
#include "../../measure/measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[MEASURE_ERR_MAX];
	struct evlog log;
	if (evlog_parse(data, size, &log, err) < 0) {
		if (strnlen(err, sizeof(err)) == 0)
			abort();
		return 0;
	}
	if (log.nalgs == 0 || log.nalgs > EVLOG_MAX_ALGS || log.nevents > EVLOG_MAX_EVENTS)
		abort();
	for (size_t i = 0; i < log.nevents; i++) {
		const struct evlog_event *ev = &log.events[i];
		if (ev->pcr >= EVLOG_NUM_PCRS || ev->ndigests > log.nalgs)
			abort();
		if (ev->data_len && (ev->data < data || ev->data + ev->data_len > data + size))
			abort();
		for (uint32_t k = 0; k < ev->ndigests; k++)
			if (ev->digests[k].bytes < data ||
			    ev->digests[k].bytes + ev->digests[k].size > data + size)
				abort();
		(void)evlog_type_name(ev->type);
	}
	static uint8_t regs[EVLOG_NUM_PCRS][EVLOG_MAX_DIGEST];
	unsigned dsize;
	for (uint32_t k = 0; k < log.nalgs; k++)
		(void)evlog_replay(&log, log.algs[k].alg, regs, &dsize, err);
	evlog_free(&log);
	return 0;
}
