#!/usr/bin/env python3
"""A pyzmq peer, driven line by line, for testing a ZeroMQ against libzmq.

A test starts this script, writes one command per line on its stdin and reads
exactly one answer line per command on its stdout.  The protocol names nothing
Python-specific, so a peer in any language can speak it.  Frames are written in
hex, an empty frame as "-", the frames of a multipart message separated by
commas.

    socket TYPE           ok                PAIR, PUSH, PULL, PUB, SUB, ...
    set OPTION VALUE      ok                integer options: RCVTIMEO,
                                            SNDTIMEO, LINGER, SNDHWM, ...
    setb OPTION HEX       ok                bytes options: ROUTING_ID,
                                            CONNECT_ROUTING_ID, ... ("-" is
                                            the empty value)
    bind EP               ok LAST_ENDPOINT
    connect EP            ok
    unbind EP             ok
    disconnect EP         ok
    subscribe HEX         ok                "-" subscribes to everything
    unsubscribe HEX       ok
    send HEX[,HEX...]     ok
    recv                  msg HEX[,HEX...]  or "timeout" after RCVTIMEO
    close                 ok
    version               ok TEXT           the ZeroMQ the peer is, and its version
    allow-plain USER PASS ok                a ZAP handler in the peer lets in that
                                            PLAIN user only (for a PLAIN_SERVER)
    quit                  ok                then closes (linger 0), exits 0

A command that fails answers "err TEXT" and the peer keeps running.

While it waits for the next command the peer keeps calling into its socket,
as a live application would: libzmq attaches a newly accepted connection (and
sends a SUB's subscriptions over it) only inside a call on the socket.

Given command-line arguments, a peer reads no stdin: each argument is one command
line, run in order with its answer printed as above, and then the peer closes and
exits as after "quit" (a "quit" among them ends the run early).  Here the close
keeps the socket's LINGER, so that what was sent is delivered before the peer
exits: give "set LINGER MS" to bound the wait (libzmq waits for ever by default,
CZMQ not at all).  The exit status is 1 when any command answered "err", else 0
("timeout" is an answer, not an error).  A PULL that binds and takes one message,
in each peer (INTEROP.md has more):

    python3 interop/python/zmq_peer.py 'socket PULL' 'set RCVTIMEO 5000' \\
        'bind tcp://127.0.0.1:5555' recv
    java -cp /usr/share/java/jeromq.jar interop/java/ZmqPeer.java 'socket PULL' ...
    ./zmq_peer 'socket PULL' ...       # cc -o zmq_peer interop/c/zmq_peer.c -lzmq
    ./czmq_peer 'socket PULL' ...      # cc -o czmq_peer interop/c/czmq_peer.c -lczmq -lzmq
    Rscript interop/r/zmq_peer.R 'socket PULL' ...
"""

import os
import select
import sys

import zmq


def decode_frame(text):
    return b"" if text in ("", "-") else bytes.fromhex(text)


def encode_frame(frame):
    return frame.hex() if frame else "-"


class Peer:
    def __init__(self):
        self.ctx = zmq.Context()
        self.sock = None
        self.auth = None

    def allow_plain(self, arg):
        user, password = arg.split()
        if self.auth is None:
            from zmq.auth.thread import ThreadAuthenticator

            self.auth = ThreadAuthenticator(self.ctx)
            self.auth.start()
        self.auth.configure_plain(domain="*", passwords={user: password})

    def need_socket(self):
        if self.sock is None:
            raise RuntimeError("no socket: send 'socket TYPE' first")
        return self.sock

    def close(self, keep_linger=False):
        if self.sock is not None:
            self.sock.close(linger=None if keep_linger else 0)
            self.sock = None

    def run(self, command, arg):
        if command == "socket":
            self.close()
            self.sock = self.ctx.socket(getattr(zmq, arg.upper()))
            return "ok"
        if command == "close":
            self.close()
            return "ok"
        if command == "version":
            return "ok pyzmq %s (libzmq %s)" % (zmq.__version__, zmq.zmq_version())
        if command == "allow-plain":
            self.allow_plain(arg)
            return "ok"
        sock = self.need_socket()
        if command == "set":
            name, value = arg.split()
            sock.setsockopt(getattr(zmq, name.upper()), int(value))
            return "ok"
        if command == "setb":
            name, _, value = arg.partition(" ")
            sock.setsockopt(getattr(zmq, name.upper()), decode_frame(value.strip()))
            return "ok"
        if command == "bind":
            sock.bind(arg)
            return "ok " + sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if command in ("connect", "unbind", "disconnect"):
            getattr(sock, command)(arg)
            return "ok"
        if command == "subscribe":
            sock.setsockopt(zmq.SUBSCRIBE, decode_frame(arg))
            return "ok"
        if command == "unsubscribe":
            sock.setsockopt(zmq.UNSUBSCRIBE, decode_frame(arg))
            return "ok"
        if command == "send":
            sock.send_multipart([decode_frame(f) for f in arg.split(",")])
            return "ok"
        if command == "recv":
            try:
                frames = sock.recv_multipart()
            except zmq.Again:
                return "timeout"
            return "msg " + ",".join(encode_frame(f) for f in frames)
        raise ValueError("unknown command " + repr(command))


def read_lines(peer):
    """Yields the lines of stdin, servicing the socket while waiting."""
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        line, newline, rest = pending.partition(b"\n")
        if newline:
            pending = rest
            yield line.decode()
            continue
        if select.select([fd], [], [], 0.02)[0]:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return
            pending += chunk
        elif peer.sock is not None:
            peer.sock.getsockopt(zmq.EVENTS)


def main(args):
    """Runs the command lines of `args`, or of stdin when there are none."""
    peer = Peer()
    failed = False
    for line in args or read_lines(peer):
        command, _, arg = line.strip().partition(" ")
        if command == "quit":
            print("ok", flush=True)
            break
        try:
            answer = peer.run(command, arg)
        except Exception as e:  # reported to the test, never fatal
            text = " ".join(str(e).split()) or type(e).__name__
            answer = "err " + text
        failed = failed or answer.startswith("err")
        print(answer, flush=True)
    peer.close(keep_linger=bool(args))
    if peer.auth is not None:
        peer.auth.stop()
    peer.ctx.term()
    return 1 if args and failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
