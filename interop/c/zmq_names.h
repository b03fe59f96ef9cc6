/* Names the peers take on their command lines, mapped to libzmq's constants: the socket types,
 * shared by the libzmq and the CZMQ peer. */
#ifndef FERROMQ_ZMQ_NAMES_H
#define FERROMQ_ZMQ_NAMES_H

#include <strings.h>
#include <zmq.h>

typedef struct {
    const char *name;
    int value;
} name_t;

static const name_t socket_types[] = {
    {"PAIR", ZMQ_PAIR},     {"PUB", ZMQ_PUB},       {"SUB", ZMQ_SUB},   {"REQ", ZMQ_REQ},
    {"REP", ZMQ_REP},       {"DEALER", ZMQ_DEALER}, {"ROUTER", ZMQ_ROUTER},
    {"PULL", ZMQ_PULL},     {"PUSH", ZMQ_PUSH},     {"XPUB", ZMQ_XPUB}, {"XSUB", ZMQ_XSUB},
    {"STREAM", ZMQ_STREAM}, {NULL, 0}};

/* The value named `name` (any case) in `table`, or -1. */
static int lookup(const name_t *table, const char *name)
{
    for (; table->name; table++)
        if (strcasecmp(table->name, name) == 0)
            return table->value;
    return -1;
}

#endif
