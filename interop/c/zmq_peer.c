/* A libzmq peer, driven line by line over stdin and stdout in the protocol of
 * interop/python/zmq_peer.py, so that ferromq is tested against libzmq's C API with no binding
 * in between.
 *
 *     cc -o zmq_peer zmq_peer.c -lzmq -lpthread
 *
 * Besides the common commands it answers "version" with "ok libzmq X.Y.Z" and takes
 * "allow-plain USER PASSWORD": a ZAP handler thread that lets in that PLAIN user only. */
#include <pthread.h>
#include <zmq.h>

#include "peer_line.h"
#include "zmq_names.h"

/* Integer options ("set") and bytes options ("setb"), as libzmq names them without ZMQ_. */
static const name_t int_options[] = {
    {"RCVTIMEO", ZMQ_RCVTIMEO},       {"SNDTIMEO", ZMQ_SNDTIMEO},
    {"LINGER", ZMQ_LINGER},           {"SNDHWM", ZMQ_SNDHWM},
    {"RCVHWM", ZMQ_RCVHWM},           {"IMMEDIATE", ZMQ_IMMEDIATE},
    {"CURVE_SERVER", ZMQ_CURVE_SERVER}, {"PLAIN_SERVER", ZMQ_PLAIN_SERVER},
    {"ROUTER_MANDATORY", ZMQ_ROUTER_MANDATORY}, {"XPUB_VERBOSE", ZMQ_XPUB_VERBOSE},
    {"PROBE_ROUTER", ZMQ_PROBE_ROUTER}, {"REQ_RELAXED", ZMQ_REQ_RELAXED},
    {"REQ_CORRELATE", ZMQ_REQ_CORRELATE}, {"RECONNECT_IVL", ZMQ_RECONNECT_IVL},
    {"HEARTBEAT_IVL", ZMQ_HEARTBEAT_IVL}, {"HANDSHAKE_IVL", ZMQ_HANDSHAKE_IVL},
    {NULL, 0}};

static const name_t bytes_options[] = {
    {"ROUTING_ID", ZMQ_ROUTING_ID},     {"IDENTITY", ZMQ_IDENTITY},
    {"CONNECT_ROUTING_ID", ZMQ_CONNECT_ROUTING_ID},
    {"SUBSCRIBE", ZMQ_SUBSCRIBE},       {"UNSUBSCRIBE", ZMQ_UNSUBSCRIBE},
    {"CURVE_SERVERKEY", ZMQ_CURVE_SERVERKEY}, {"CURVE_PUBLICKEY", ZMQ_CURVE_PUBLICKEY},
    {"CURVE_SECRETKEY", ZMQ_CURVE_SECRETKEY}, {"PLAIN_USERNAME", ZMQ_PLAIN_USERNAME},
    {"PLAIN_PASSWORD", ZMQ_PLAIN_PASSWORD},   {"ZAP_DOMAIN", ZMQ_ZAP_DOMAIN},
    {NULL, 0}};

static void *ctx;
static void *sock;

/* The ZAP handler of "allow-plain": one thread with a REP socket in the peer's context. */
static struct {
    pthread_t thread;
    void *rep;
    volatile int stop;
    char user[256], password[256];
} zap;

/* Answers one ZAP request: PLAIN is checked against the allowed user, others pass. */
static void zap_answer(void)
{
    zmq_msg_t part[16];
    int n = 0, more = 1;
    while (more && n < 16) {
        zmq_msg_init(&part[n]);
        if (zmq_msg_recv(&part[n], zap.rep, 0) < 0)
            return;
        more = zmq_msg_more(&part[n]);
        n++;
    }
    const char *status = "200";
    const char *user = "";
    if (n >= 8 && zmq_msg_size(&part[5]) == 5 && memcmp(zmq_msg_data(&part[5]), "PLAIN", 5) == 0) {
        size_t ul = zmq_msg_size(&part[6]), pl = zmq_msg_size(&part[7]);
        int ok = ul == strlen(zap.user) && memcmp(zmq_msg_data(&part[6]), zap.user, ul) == 0
                 && pl == strlen(zap.password)
                 && memcmp(zmq_msg_data(&part[7]), zap.password, pl) == 0;
        status = ok ? "200" : "400";
        user = ok ? zap.user : "";
    }
    zmq_send(zap.rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(zap.rep, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), ZMQ_SNDMORE);
    zmq_send(zap.rep, status, 3, ZMQ_SNDMORE);
    zmq_send(zap.rep, status[0] == '2' ? "OK" : "refused", status[0] == '2' ? 2 : 7, ZMQ_SNDMORE);
    zmq_send(zap.rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(zap.rep, "", 0, 0);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
}

static void *zap_loop(void *unused)
{
    (void) unused;
    while (!zap.stop) {
        zmq_pollitem_t item = {zap.rep, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 50) > 0)
            zap_answer();
    }
    return NULL;
}

static void zap_stop(void)
{
    if (!zap.rep)
        return;
    zap.stop = 1;
    pthread_join(zap.thread, NULL);
    zmq_close(zap.rep);
    zap.rep = NULL;
}

static const char *allow_plain(char *arg)
{
    char *password = split_command(arg);
    if (!*arg || strlen(arg) >= sizeof zap.user || strlen(password) >= sizeof zap.password)
        return "usage: allow-plain USER PASSWORD";
    zap_stop();
    strcpy(zap.user, arg);
    strcpy(zap.password, password);
    zap.rep = zmq_socket(ctx, ZMQ_REP);
    int zero = 0;
    zmq_setsockopt(zap.rep, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(zap.rep, "inproc://zeromq.zap.01") < 0) {
        zmq_close(zap.rep);
        zap.rep = NULL;
        return zmq_strerror(zmq_errno());
    }
    zap.stop = 0;
    pthread_create(&zap.thread, NULL, zap_loop, NULL);
    return NULL;
}

/* Closes the socket, dropping what it still holds unless keep_linger. */
static void close_socket(int keep_linger)
{
    if (sock) {
        int zero = 0;
        if (!keep_linger)
            zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(sock);
        sock = NULL;
    }
}

static void service(void)
{
    if (sock) {
        int events;
        size_t len = sizeof events;
        zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len);
    }
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
    for (int i = 0; i < count; i++) {
        int flags = i + 1 < count ? ZMQ_SNDMORE : 0;
        if (zmq_send(sock, frames[i].data, frames[i].size, flags) < 0) {
            frames_free(frames, count);
            reply("err %s", zmq_strerror(zmq_errno()));
            return;
        }
    }
    frames_free(frames, count);
    reply("ok");
}

static void recv_message(void)
{
    answer_t a = {0};
    answer_put(&a, "msg ", 4);
    int more = 1, first = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&part);
            if (e == EAGAIN)
                reply("timeout");
            else
                reply("err %s", zmq_strerror(e));
            free(a.text);
            return;
        }
        answer_frame(&a, zmq_msg_data(&part), zmq_msg_size(&part), first);
        first = 0;
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
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
        int option = lookup(int_options, arg);
        int v = atoi(value);
        if (option < 0)
            return "unknown integer option";
        return zmq_setsockopt(sock, option, &v, sizeof v) < 0 ? zmq_strerror(zmq_errno()) : NULL;
    }
    if (strcmp(command, "setb") == 0 || strcmp(command, "subscribe") == 0
        || strcmp(command, "unsubscribe") == 0) {
        int option;
        char *value = arg;
        if (strcmp(command, "setb") == 0) {
            value = split_command(arg);
            option = lookup(bytes_options, arg);
        } else {
            option = command[0] == 's' ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE;
        }
        frame_t bytes;
        if (option < 0)
            return "unknown bytes option";
        if (hex_decode(value, strlen(value), &bytes) < 0)
            return "bad hex";
        int rc = zmq_setsockopt(sock, option, bytes.data, bytes.size);
        free(bytes.data);
        return rc < 0 ? zmq_strerror(zmq_errno()) : NULL;
    }
    int rc;
    if (strcmp(command, "connect") == 0)
        rc = zmq_connect(sock, arg);
    else if (strcmp(command, "unbind") == 0)
        rc = zmq_unbind(sock, arg);
    else if (strcmp(command, "disconnect") == 0)
        rc = zmq_disconnect(sock, arg);
    else
        return "unknown command";
    return rc < 0 ? zmq_strerror(zmq_errno()) : NULL;
}

/* Runs one command line and writes its answer. */
static void run(char *line)
{
    char *arg = split_command(line);
    const char *error = NULL;
    if (strcmp(line, "version") == 0) {
        int major, minor, patch;
        zmq_version(&major, &minor, &patch);
        reply("ok libzmq %d.%d.%d", major, minor, patch);
        return;
    }
    if (strcmp(line, "socket") == 0) {
        int type = lookup(socket_types, arg);
        close_socket(0);
        if (type < 0)
            error = "unknown socket type";
        else if (!(sock = zmq_socket(ctx, type)))
            error = zmq_strerror(zmq_errno());
    } else if (strcmp(line, "close") == 0) {
        close_socket(0);
    } else if (strcmp(line, "allow-plain") == 0) {
        error = allow_plain(arg);
    } else if (strcmp(line, "bind") == 0 && sock) {
        char endpoint[1024];
        size_t len = sizeof endpoint;
        if (zmq_bind(sock, arg) < 0 || zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, endpoint, &len) < 0)
            error = zmq_strerror(zmq_errno());
        else {
            reply("ok %s", endpoint);
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
    line_reader_t reader = {0};
    ctx = zmq_ctx_new();
    char *line;
    while ((line = next_command(&reader, argc, argv, service)) != NULL) {
        if (strcmp(line, "quit") == 0) {
            reply("ok");
            break;
        }
        run(line);
    }
    /* From arguments, what was sent goes out within the socket's LINGER. */
    close_socket(argc > 1);
    zap_stop();
    zmq_ctx_term(ctx);
    free(reader.buf);
    return argc > 1 && answered_err ? 1 : 0;
}
