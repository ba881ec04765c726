/* The internal form of a request: how the front-end (init/front/) hands PID 1 a message it decoded
 * from the host's protobuf, so that PID 1 itself never runs a protobuf decoder on host bytes.
 *
 * One generic layout, driven by the protobuf-c descriptors, for every message: the fields in
 * descriptor order, each with an explicit count or length, nothing optional left to guess.
 *
 *   message     its fields, in descriptor->fields order, nothing between or after them
 *   field       repeated:              u32 count, then count values
 *               message (not repeated): u8 0 (absent) or u8 1 and the message
 *               oneof member, or proto2 optional with a has_ flag: u8 0 or u8 1 and the value
 *               anything else:          the value
 *   value       32-bit scalars (int32, sint32, sfixed32, uint32, fixed32, enum, float): 4 bytes
 *               64-bit scalars (int64, sint64, sfixed64, uint64, fixed64, double): 8 bytes
 *               bool: 1 byte, 0 or 1
 *               string: u32 length L, L bytes of UTF-8 without a NUL, then one 0 byte
 *               bytes: u32 length L, L bytes
 *               message (a repeated element): the message
 *   integers are little-endian.
 *
 * PID 1 checks a form against limits it owns before it allocates anything (exact lengths,
 * counts against the bytes left and against its own item budget, nesting depth, string bytes),
 * sizes the decoded message exactly, and builds it in one allocation in which strings and bytes
 * point into the form (so the form must outlive the message). The result is an ordinary
 * protobuf-c message for the handlers: pack it, read it, but free it with free(), never with
 * protobuf_c_message_free_unpacked(). */
#ifndef SEALPOD_AGENT_FORM_H
#define SEALPOD_AGENT_FORM_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* PID 1's own bounds on one request. A form is never longer than a ttRPC frame plus what the
 * fixed-size encodings of absent fields add; the arena holds the structs and arrays (strings
 * stay in the form), so a few MiB is plenty for any request Kata sends. */
#define SP_FORM_MAX_LEN	  ((size_t)(4u << 20) + (512u << 10))
#define SP_FORM_MAX_ALLOC ((size_t)4 << 20)
#define SP_FORM_MAX_ITEMS 65536u /* repeated elements in one request, all fields together */
#define SP_FORM_MAX_DEPTH 16u	 /* nested messages, the request itself being depth 1 */

/* --- the encoder (the front-end) ----------------------------------------------------------- */

/* Optional: tells the encoder how long a string really was on the wire (protobuf-c keeps only
 * the NUL-terminated copy), so that an embedded NUL is refused instead of silently cutting the
 * string short. Returns SIZE_MAX when it does not know. */
typedef size_t (*sp_form_wire_len)(const ProtobufCFieldDescriptor *f, const char *s, void *arg);

/* Measures m's form and checks every string (UTF-8, no NUL); 0 and *size, or -1 with err naming
 * the message and field (kind SP_E_INVALID, or SP_E_EXHAUSTED when the form would be longer than
 * max or hold more than SP_FORM_MAX_ITEMS elements or nest deeper than SP_FORM_MAX_DEPTH). */
int sp_form_measure(const ProtobufCMessage *m, size_t max, sp_form_wire_len wire_len, void *arg,
		    size_t *size, struct sp_err *err);
/* Writes m's form: exactly the size sp_form_measure() returned for it. */
void sp_form_write(const ProtobufCMessage *m, uint8_t *out);

/* --- the validator (PID 1) ------------------------------------------------------------------ */

/* Checks form[0..len) as a desc message under the limits above and builds it: 0 and *out (one
 * allocation: free(*out)), or -1 with err (kind SP_E_INVALID, or SP_E_EXHAUSTED for a limit)
 * naming the message and field where the form went wrong. Any bytes are safe to pass. */
int sp_form_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *form, size_t len,
		   ProtobufCMessage **out, struct sp_err *err);

#endif
