/* The line protocol of the interop peers (see interop/python/zmq_peer.py), shared by the
 * libzmq and the CZMQ peer: reading command lines (from the arguments, or from stdin while
 * keeping a socket serviced), hex frames, and the answers.  Header-only, so each peer is
 * compiled from one command line. */
#ifndef FERROMQ_PEER_LINE_H
#define FERROMQ_PEER_LINE_H

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One frame of a multipart message. */
typedef struct {
    unsigned char *data;
    size_t size;
} frame_t;

/* Decodes one frame written as hex, "-" being the empty frame; -1 on bad hex. */
static int hex_decode(const char *text, size_t len, frame_t *out)
{
    out->data = NULL;
    out->size = 0;
    if (len == 0 || (len == 1 && text[0] == '-'))
        return 0;
    if (len % 2)
        return -1;
    out->data = malloc(len / 2);
    for (size_t i = 0; i < len / 2; i++) {
        unsigned int byte;
        char pair[3] = {text[2 * i], text[2 * i + 1], 0};
        char *end;
        byte = (unsigned int) strtoul(pair, &end, 16);
        if (*end) {
            free(out->data);
            return -1;
        }
        out->data[i] = (unsigned char) byte;
    }
    out->size = len / 2;
    return 0;
}

/* Splits "HEX,HEX,..." into frames; returns the count, or -1 on bad hex. */
static int frames_decode(const char *text, frame_t **frames)
{
    int count = 1;
    for (const char *p = text; *p; p++)
        count += *p == ',';
    *frames = calloc((size_t) count, sizeof(frame_t));
    const char *start = text;
    for (int i = 0; i < count; i++) {
        const char *comma = strchr(start, ',');
        size_t len = comma ? (size_t) (comma - start) : strlen(start);
        if (hex_decode(start, len, &(*frames)[i]) < 0)
            return -1;
        start += len + 1;
    }
    return count;
}

static void frames_free(frame_t *frames, int count)
{
    for (int i = 0; i < count; i++)
        free(frames[i].data);
    free(frames);
}

/* An answer being built: "msg " and the frames in hex, or any text. */
typedef struct {
    char *text;
    size_t len, cap;
} answer_t;

static void answer_put(answer_t *a, const char *text, size_t len)
{
    if (a->len + len + 1 > a->cap) {
        a->cap = (a->len + len + 1) * 2;
        a->text = realloc(a->text, a->cap);
    }
    memcpy(a->text + a->len, text, len);
    a->len += len;
    a->text[a->len] = 0;
}

static void answer_frame(answer_t *a, const void *data, size_t size, int first)
{
    static const char digits[] = "0123456789abcdef";
    if (!first)
        answer_put(a, ",", 1);
    if (size == 0) {
        answer_put(a, "-", 1);
        return;
    }
    const unsigned char *bytes = data;
    for (size_t i = 0; i < size; i++) {
        char pair[2] = {digits[bytes[i] >> 4], digits[bytes[i] & 15]};
        answer_put(a, pair, 2);
    }
}

/* Whether any answer so far was "err": the exit status when the commands are arguments. */
static int answered_err;

/* Writes one answer line and flushes it, so the test sees it at once. */
static void reply(const char *format, ...)
{
    if (strncmp(format, "err", 3) == 0)
        answered_err = 1;
    va_list args;
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    putchar('\n');
    fflush(stdout);
}

/* Standard input, read in chunks so that poll() tells the truth about what is left. */
typedef struct {
    char *buf;
    size_t len, cap;
} line_reader_t;

/* The next command line (without its newline), or NULL at end of input.  While no line is
 * complete, calls service() every 20 ms: libzmq attaches a new connection only inside a call
 * on the socket, as a live application would make. */
static char *next_line(line_reader_t *r, void (*service)(void))
{
    static size_t consumed = 0;
    if (consumed) {
        memmove(r->buf, r->buf + consumed, r->len - consumed);
        r->len -= consumed;
        consumed = 0;
    }
    for (;;) {
        char *newline = r->len ? memchr(r->buf, '\n', r->len) : NULL;
        if (newline) {
            *newline = 0;
            consumed = (size_t) (newline - r->buf) + 1;
            if (newline > r->buf && newline[-1] == '\r')
                newline[-1] = 0;
            return r->buf;
        }
        struct pollfd in = {.fd = 0, .events = POLLIN};
        int ready = poll(&in, 1, 20);
        if (ready < 0 && errno != EINTR)
            return NULL;
        if (ready <= 0) {
            service();
            continue;
        }
        if (r->cap - r->len < 65536) {
            r->cap = r->cap * 2 + 65536;
            r->buf = realloc(r->buf, r->cap);
        }
        ssize_t n = read(0, r->buf + r->len, r->cap - r->len);
        if (n <= 0)
            return NULL;
        r->len += (size_t) n;
    }
}

/* The next command line: the next of the command-line arguments when there are any (each one
 * is a command line), else the next line of stdin; NULL when there is none. */
static char *next_command(line_reader_t *r, int argc, char **argv, void (*service)(void))
{
    static int next_arg = 1;
    if (argc > 1)
        return next_arg < argc ? argv[next_arg++] : NULL;
    return next_line(r, service);
}

/* Splits "COMMAND ARG" in place; returns ARG ("" when there is none). */
static char *split_command(char *line)
{
    char *space = strchr(line, ' ');
    if (!space)
        return line + strlen(line);
    *space = 0;
    return space + 1;
}

#endif
