/* libzmq baseline for ferromq's comparison: the same subcommands, arguments and output lines as
 * `ferromq perf`, built on the system's libzmq (Debian's libzmq3-dev).
 *
 *   libzmq-perf local-thr <bind-to> <size> <count>      PULL, prints throughput
 *   libzmq-perf remote-thr <connect-to> <size> <count>  PUSH
 *   libzmq-perf local-lat <bind-to> <size> <roundtrips> REP, echoes
 *   libzmq-perf remote-lat <connect-to> <size> <roundtrips>  REQ, prints one-way latency
 *   libzmq-perf inproc-thr <size> <count>
 *   libzmq-perf inproc-lat <size> <roundtrips>
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void die(const char *what) {
    fprintf(stderr, "libzmq-perf: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static void recv_sized(void *s, zmq_msg_t *msg, size_t size) {
    if (zmq_msg_recv(msg, s, 0) < 0) die("recv");
    if (zmq_msg_size(msg) != size) {
        fprintf(stderr, "libzmq-perf: message of %zu bytes, expected %zu\n", zmq_msg_size(msg), size);
        exit(1);
    }
}

static void receive_throughput(void *s, size_t size, long count) {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    recv_sized(s, &msg, size);
    double start = now_us();
    for (long i = 1; i < count; i++) recv_sized(s, &msg, size);
    double elapsed = now_us() - start;
    if (elapsed < 1) elapsed = 1;
    zmq_msg_close(&msg);
    double rate = count * 1e6 / elapsed;
    printf("message size: %zu [B]\nmessage count: %ld\n", size, count);
    printf("mean throughput: %ld [msg/s]\n", (long)rate);
    printf("mean throughput: %.3f [Mb/s]\n", rate * size * 8 / 1e6);
}

static void send_count(void *s, size_t size, long count) {
    for (long i = 0; i < count; i++) {
        zmq_msg_t msg;
        if (zmq_msg_init_size(&msg, size) != 0) die("msg_init_size");
        memset(zmq_msg_data(&msg), 0, size);
        if (zmq_msg_send(&msg, s, 0) < 0) die("send");
    }
}

static void ping_pong(void *s, size_t size, long roundtrips, int first) {
    zmq_msg_t msg;
    zmq_msg_init_size(&msg, size);
    memset(zmq_msg_data(&msg), 0, size);
    for (long i = 0; i < roundtrips; i++) {
        if (first) {
            if (zmq_msg_send(&msg, s, 0) < 0) die("send");
            recv_sized(s, &msg, size);
        } else {
            recv_sized(s, &msg, size);
            if (zmq_msg_send(&msg, s, 0) < 0) die("send");
        }
    }
    zmq_msg_close(&msg);
}

static void print_latency(size_t size, long roundtrips, double elapsed) {
    printf("message size: %zu [B]\nroundtrip count: %ld\n", size, roundtrips);
    printf("average latency: %.3f [us]\n", elapsed / (roundtrips * 2.0));
}

struct peer { void *ctx; size_t size; long count; int lat; };

static void *inproc_peer(void *arg) {
    struct peer *p = arg;
    void *s = zmq_socket(p->ctx, p->lat ? ZMQ_REP : ZMQ_PUSH);
    if (zmq_connect(s, "inproc://perf") != 0) die("connect");
    if (p->lat) ping_pong(s, p->size, p->count, 0);
    else send_count(s, p->size, p->count);
    zmq_close(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: libzmq-perf local-thr|remote-thr|local-lat|remote-lat EP SIZE COUNT\n"
                        "       libzmq-perf inproc-thr|inproc-lat SIZE COUNT\n");
        return 2;
    }
    const char *cmd = argv[1];
    void *ctx = zmq_ctx_new();
    if (strncmp(cmd, "inproc-", 7) == 0) {
        int lat = strcmp(cmd, "inproc-lat") == 0;
        struct peer p = { ctx, (size_t)atol(argv[2]), atol(argv[3]), lat };
        void *s = zmq_socket(ctx, lat ? ZMQ_REQ : ZMQ_PULL);
        if (zmq_bind(s, "inproc://perf") != 0) die("bind");
        pthread_t t;
        pthread_create(&t, NULL, inproc_peer, &p);
        if (lat) {
            double start = now_us();
            ping_pong(s, p.size, p.count, 1);
            print_latency(p.size, p.count, now_us() - start);
        } else {
            receive_throughput(s, p.size, p.count);
        }
        pthread_join(t, NULL);
        zmq_close(s);
    } else {
        if (argc < 5) { fprintf(stderr, "libzmq-perf: missing arguments\n"); return 2; }
        const char *ep = argv[2];
        size_t size = (size_t)atol(argv[3]);
        long count = atol(argv[4]);
        int type = !strcmp(cmd, "local-thr") ? ZMQ_PULL : !strcmp(cmd, "remote-thr") ? ZMQ_PUSH
                 : !strcmp(cmd, "local-lat") ? ZMQ_REP : !strcmp(cmd, "remote-lat") ? ZMQ_REQ : -1;
        if (type < 0) { fprintf(stderr, "libzmq-perf: unknown command %s\n", cmd); return 2; }
        void *s = zmq_socket(ctx, type);
        int local = strncmp(cmd, "local", 5) == 0;
        if ((local ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) die(local ? "bind" : "connect");
        if (type == ZMQ_PULL) receive_throughput(s, size, count);
        else if (type == ZMQ_PUSH) send_count(s, size, count);
        else if (type == ZMQ_REP) ping_pong(s, size, count, 0);
        else {
            double start = now_us();
            ping_pong(s, size, count, 1);
            print_latency(size, count, now_us() - start);
        }
        zmq_close(s);
    }
    zmq_ctx_term(ctx);
    return 0;
}
