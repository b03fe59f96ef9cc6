/* A CZMQ peer, driven line by line over stdin and stdout in the protocol of
 * interop/python/zmq_peer.py: sockets are zsock_t, messages zmsg_t, and a PLAIN server's
 * passwords are checked by CZMQ's own authenticator actor, zauth.
 *
 *     cc -o czmq_peer czmq_peer.c -lczmq -lzmq
 *
 * CZMQ takes bytes options as C strings, so a value with a zero byte is refused ("err"). */
#include <czmq.h>

#include "peer_line.h"
#include "zmq_names.h"

typedef struct {
    const char *name;
    void (*set)(void *self, int value);
} int_option_t;

static const int_option_t int_options[] = {
    {"RCVTIMEO", zsock_set_rcvtimeo},
    {"SNDTIMEO", zsock_set_sndtimeo},
    {"LINGER", zsock_set_linger},
    {"SNDHWM", zsock_set_sndhwm},
    {"RCVHWM", zsock_set_rcvhwm},
    {"IMMEDIATE", zsock_set_immediate},
    {"CURVE_SERVER", zsock_set_curve_server},
    {"PLAIN_SERVER", zsock_set_plain_server},
    {"ROUTER_MANDATORY", zsock_set_router_mandatory},
    {"XPUB_VERBOSE", zsock_set_xpub_verbose},
    {"PROBE_ROUTER", zsock_set_probe_router},
    {"REQ_RELAXED", zsock_set_req_relaxed},
    {"REQ_CORRELATE", zsock_set_req_correlate},
    {"RECONNECT_IVL", zsock_set_reconnect_ivl},
    {NULL, NULL}};

typedef struct {
    const char *name;
    void (*set)(void *self, const char *value);
    void (*set_bin)(void *self, const byte *value);
} text_option_t;

static const text_option_t text_options[] = {
    {"ROUTING_ID", zsock_set_identity, NULL},
    {"IDENTITY", zsock_set_identity, NULL},
    {"CONNECT_ROUTING_ID", zsock_set_connect_rid, NULL},
    {"SUBSCRIBE", zsock_set_subscribe, NULL},
    {"UNSUBSCRIBE", zsock_set_unsubscribe, NULL},
    {"CURVE_SERVERKEY", zsock_set_curve_serverkey, zsock_set_curve_serverkey_bin},
    {"CURVE_PUBLICKEY", zsock_set_curve_publickey, zsock_set_curve_publickey_bin},
    {"CURVE_SECRETKEY", zsock_set_curve_secretkey, zsock_set_curve_secretkey_bin},
    {"PLAIN_USERNAME", zsock_set_plain_username, NULL},
    {"PLAIN_PASSWORD", zsock_set_plain_password, NULL},
    {"ZAP_DOMAIN", zsock_set_zap_domain, NULL},
    {NULL, NULL, NULL}};

static zsock_t *sock;
static zactor_t *auth;
static char passwords[64];

/* Closes the socket, dropping what it still holds unless keep_linger. */
static void close_socket(int keep_linger)
{
    if (sock) {
        if (!keep_linger)
            zsock_set_linger(sock, 0);
        zsock_destroy(&sock);
    }
}

static void stop_auth(void)
{
    zactor_destroy(&auth);
    if (passwords[0]) {
        unlink(passwords);
        passwords[0] = 0;
    }
}

static void service(void)
{
    if (sock)
        zsock_events(sock);
}

/* "allow-plain USER PASSWORD": zauth with a one-line password file. */
static const char *allow_plain(char *arg)
{
    char *password = split_command(arg);
    if (!*arg)
        return "usage: allow-plain USER PASSWORD";
    stop_auth();
    strcpy(passwords, "/tmp/czmq-peer-passwords-XXXXXX");
    int fd = mkstemp(passwords);
    if (fd < 0)
        return strerror(errno);
    FILE *file = fdopen(fd, "w");
    fprintf(file, "%s=%s\n", arg, password);
    fclose(file);
    auth = zactor_new(zauth, NULL);
    zstr_sendx(auth, "PLAIN", passwords, NULL);
    zsock_wait(auth);
    return NULL;
}

/* CZMQ asserts that an option suits the socket type; an error here keeps the peer alive. */
static const char *wrong_type(void (*set)(void *, const char *))
{
    int type = zsock_type(sock);
    if ((set == zsock_set_subscribe || set == zsock_set_unsubscribe) && type != ZMQ_SUB)
        return "CZMQ takes SUBSCRIBE and UNSUBSCRIBE on SUB only";
    if ((set == zsock_set_identity || set == zsock_set_connect_rid) && type != ZMQ_REQ
        && type != ZMQ_REP && type != ZMQ_DEALER && type != ZMQ_ROUTER)
        return "CZMQ takes routing ids on REQ, REP, DEALER and ROUTER only";
    return NULL;
}

/* Sets a bytes option through CZMQ's string setter (or its _bin one for a raw CURVE key). */
static const char *set_text(const char *name, const char *hex)
{
    const text_option_t *option = text_options;
    while (option->name && strcasecmp(option->name, name) != 0)
        option++;
    if (!option->name)
        return "unknown bytes option";
    const char *refused = wrong_type(option->set);
    if (refused)
        return refused;
    frame_t value;
    if (hex_decode(hex, strlen(hex), &value) < 0)
        return "bad hex";
    const char *error = NULL;
    if (option->set_bin && value.size == 32)
        option->set_bin(sock, value.data);
    else if (value.data && memchr(value.data, 0, value.size))
        error = "CZMQ takes this option as a C string, without zero bytes";
    else {
        char *text = calloc(1, value.size + 1);
        if (value.size)
            memcpy(text, value.data, value.size);
        option->set(sock, text);
        free(text);
    }
    free(value.data);
    return error;
}

static const char *set_int(const char *name, int value)
{
    for (const int_option_t *option = int_options; option->name; option++)
        if (strcasecmp(option->name, name) == 0) {
            option->set(sock, value);
            return NULL;
        }
    return "unknown integer option";
}

static void send_message(char *arg)
{
    frame_t *frames;
    int count = frames_decode(arg, &frames);
    if (count < 0) {
        frames_free(frames, 0);
        reply("err bad hex");
        return;
    }
    zmsg_t *msg = zmsg_new();
    for (int i = 0; i < count; i++)
        zmsg_addmem(msg, frames[i].data, frames[i].size);
    frames_free(frames, count);
    if (zmsg_send(&msg, sock) < 0) {
        zmsg_destroy(&msg);
        reply("err %s", zmq_strerror(zmq_errno()));
        return;
    }
    reply("ok");
}

static void recv_message(void)
{
    zmsg_t *msg = zmsg_recv(sock);
    if (!msg) {
        if (zmq_errno() == EAGAIN)
            reply("timeout");
        else
            reply("err %s", zmq_strerror(zmq_errno()));
        return;
    }
    answer_t a = {0};
    answer_put(&a, "msg ", 4);
    int first = 1;
    for (zframe_t *f = zmsg_first(msg); f; f = zmsg_next(msg)) {
        answer_frame(&a, zframe_data(f), zframe_size(f), first);
        first = 0;
    }
    zmsg_destroy(&msg);
    reply("%s", a.text);
    free(a.text);
}

/* Runs one command that needs a socket; NULL on success, else the error text. */
static const char *run_socket_command(const char *command, char *arg)
{
    if (!sock)
        return "no socket: send 'socket TYPE' first";
    if (strcmp(command, "set") == 0) {
        char *value = split_command(arg);
        return set_int(arg, atoi(value));
    }
    if (strcmp(command, "setb") == 0) {
        char *value = split_command(arg);
        return set_text(arg, value);
    }
    if (strcmp(command, "subscribe") == 0)
        return set_text("SUBSCRIBE", arg);
    if (strcmp(command, "unsubscribe") == 0)
        return set_text("UNSUBSCRIBE", arg);
    int rc;
    if (strcmp(command, "connect") == 0)
        rc = zsock_connect(sock, "%s", arg);
    else if (strcmp(command, "unbind") == 0)
        rc = zsock_unbind(sock, "%s", arg);
    else if (strcmp(command, "disconnect") == 0)
        rc = zsock_disconnect(sock, "%s", arg);
    else
        return "unknown command";
    return rc < 0 ? zmq_strerror(zmq_errno()) : NULL;
}

static void run(char *line)
{
    char *arg = split_command(line);
    const char *error = NULL;
    if (strcmp(line, "version") == 0) {
        int major, minor, patch;
        zmq_version(&major, &minor, &patch);
        reply("ok CZMQ %d.%d.%d (libzmq %d.%d.%d)", CZMQ_VERSION_MAJOR, CZMQ_VERSION_MINOR,
              CZMQ_VERSION_PATCH, major, minor, patch);
        return;
    }
    if (strcmp(line, "socket") == 0) {
        close_socket(0);
        int type = lookup(socket_types, arg);
        if (type < 0)
            error = "unknown socket type";
        else if (!(sock = zsock_new(type)))
            error = zmq_strerror(zmq_errno());
    } else if (strcmp(line, "close") == 0) {
        close_socket(0);
    } else if (strcmp(line, "allow-plain") == 0) {
        error = allow_plain(arg);
    } else if (strcmp(line, "bind") == 0 && sock) {
        if (zsock_bind(sock, "%s", arg) < 0)
            error = zmq_strerror(zmq_errno());
        else {
            reply("ok %s", zsock_endpoint(sock));
            return;
        }
    } else if (strcmp(line, "send") == 0 && sock) {
        send_message(arg);
        return;
    } else if (strcmp(line, "recv") == 0 && sock) {
        recv_message();
        return;
    } else {
        error = run_socket_command(line, arg);
    }
    if (error)
        reply("err %s", error);
    else
        reply("ok");
}

/* Runs the command lines given as arguments, or else those of stdin. */
int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    line_reader_t reader = {0};
    char *line;
    while ((line = next_command(&reader, argc, argv, service)) != NULL) {
        if (strcmp(line, "quit") == 0) {
            reply("ok");
            break;
        }
        run(line);
    }
    /* From arguments, what was sent goes out within the socket's LINGER (CZMQ's default is 0). */
    close_socket(argc > 1);
    stop_auth();
    free(reader.buf);
    return argc > 1 && answered_err ? 1 : 0;
}
