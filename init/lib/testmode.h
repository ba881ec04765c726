/* Whether this guest runs the test overlay: decided once at boot from the overlay's marker file
 * (part of the measured initrd) and kept in memory, so that no later check can be turned by a
 * file that appears at run time. */
#ifndef SEALPOD_LIB_TESTMODE_H
#define SEALPOD_LIB_TESTMODE_H

#include <stdbool.h>

/* Reads marker's existence the first time it is called (boot) and returns the decision; later
 * calls return the same answer without looking again. */
bool sp_test_overlay_latch(const char *marker);
/* The decision made at boot; false when it was never made. */
bool sp_test_overlay(void);

#endif
