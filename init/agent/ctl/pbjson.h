/* JSON <-> any protobuf-c message, driven only by the message descriptors (so every message of
 * the agent's .proto files works without per-message code). The proto3 JSON mapping, with these
 * choices: field names are accepted as the .proto spells them and as their JSON name (underscores
 * dropped, the letter after each one upper-cased: mem_block_size -> memBlockSize); output uses the
 * JSON name; default values are left out; enums are written by name and read by name or number;
 * bytes are base64; 64-bit integers are read from numbers or decimal strings and written as
 * numbers; a map field (repeated XxxEntry{key=1, value=2}) is a JSON object. */
#ifndef SEALPOD_CTL_PBJSON_H
#define SEALPOD_CTL_PBJSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* A new message of type desc filled from obj (a JSON object), or NULL with why filled. Free it
 * with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *desc, json_object *obj,
				    char *why, size_t whylen);
/* A new JSON object for msg (never NULL unless out of memory). */
json_object *pbjson_from_message(const ProtobufCMessage *msg);

#endif
