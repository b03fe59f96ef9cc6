"""The ferromq service directory from Python, with pyzmq (docs/directory.md).

A process started by ``ferromq run`` finds the directory in ``FERROMQ_DIRECTORY`` and its
owner name in ``FERROMQ_OWNER``::

    import zmq
    from ferromq_directory import Directory

    ctx = zmq.Context()
    directory = Directory.from_env(ctx)
    pub = ctx.socket(zmq.PUB)
    pub.bind("tcp://127.0.0.1:*")
    directory.register("quotes", [pub.getsockopt_string(zmq.LAST_ENDPOINT)])
    orders = directory.lookup("orders", wait=5.0)
    while not directory.wait_for_stop(0.1):
        ...  # work
    directory.close()

Registration starts a heartbeat thread, so the entries vanish if the process dies and are
registered again if the directory forgets them. The supervisor asks the process to exit with a
stop message: see ``stop_requested`` and ``wait_for_stop``.
"""

import os
import threading
import time

import zmq

DIRECTORY_ENV = "FERROMQ_DIRECTORY"
OWNER_ENV = "FERROMQ_OWNER"
# How long a request waits for the directory's answer, beyond a lookup's own wait (seconds).
ANSWER_TIMEOUT = 5.0


class DirectoryError(Exception):
    """The directory did not answer, or refused a request."""


class Directory:
    """A connection to a directory: registers services, keeps them alive, looks them up."""

    def __init__(self, ctx, endpoint, owner=None):
        self.ctx = ctx
        self.endpoint = endpoint
        self.owner = owner or "pid%d-%x" % (os.getpid(), time.time_ns() & 0xFFFFFFFF)
        self._requests = None
        self._lock = threading.Lock()
        self._services = {}
        self._interval = 1.0
        self._stop = threading.Event()
        self._quit = threading.Event()
        self._beat_now = threading.Event()
        self._thread = None

    @classmethod
    def from_env(cls, ctx):
        """The directory in FERROMQ_DIRECTORY, registering under FERROMQ_OWNER."""
        endpoint = os.environ.get(DIRECTORY_ENV)
        if not endpoint:
            raise DirectoryError(
                DIRECTORY_ENV + " is not set: this process was not started by ferromq run"
            )
        return cls(ctx, endpoint, os.environ.get(OWNER_ENV))

    def _request(self, frames, timeout):
        """One request and its answer; a STOP arriving meanwhile is noted, not taken for it."""
        with self._lock:
            if self._requests is None:
                sock = self.ctx.socket(zmq.DEALER)
                sock.setsockopt(zmq.LINGER, 0)
                sock.connect(self.endpoint)
                self._requests = sock
            sock = self._requests
            sock.send_multipart([f.encode() for f in frames])
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not sock.poll(int(left * 1000) + 1):
                    # A late answer must never be taken for the next request's.
                    sock.close(0)
                    self._requests = None
                    raise DirectoryError(
                        "no answer from the directory at %s within %.1f s"
                        % (self.endpoint, timeout)
                    )
                reply = [f.decode("utf-8", "replace") for f in sock.recv_multipart()]
                if reply and reply[0] == "STOP":
                    self._stop.set()
                    continue
                return reply

    @staticmethod
    def _ttl(reply, what):
        if len(reply) >= 2 and reply[0] == "OK":
            return int(reply[1]) / 1000.0
        raise DirectoryError("the directory refused %s: %s" % (what, " ".join(reply)))

    def register(self, service, endpoints):
        """Registers `service` at `endpoints` and keeps it alive with heartbeats."""
        endpoints = list(endpoints)
        reply = self._request(["REGISTER", self.owner, service] + endpoints, ANSWER_TIMEOUT)
        self._interval = self._ttl(reply, "REGISTER") / 3.0
        self._services[service] = endpoints
        if self._thread is None:
            self._thread = threading.Thread(target=self._heartbeats, daemon=True)
            self._thread.start()
        # The directory sends STOP to the connection it last heard from: the heartbeat one.
        self._beat_now.set()

    def unregister(self, service):
        """Removes this owner's entry for `service`."""
        self._services.pop(service, None)
        self._ttl(self._request(["UNREGISTER", self.owner, service], ANSWER_TIMEOUT), "UNREGISTER")

    def lookup(self, service, wait=0.0):
        """The endpoints of `service`, waiting up to `wait` seconds for one; [] if none."""
        reply = self._request(
            ["LOOKUP", service, str(int(wait * 1000))], wait + ANSWER_TIMEOUT
        )
        if reply and reply[0] == "FOUND":
            return reply[2:]
        if reply and reply[0] == "NOTFOUND":
            return []
        raise DirectoryError("an unexpected answer to LOOKUP: " + " ".join(reply))

    def stop_requested(self):
        """Has the supervisor asked this process to stop?"""
        return self._stop.is_set()

    def wait_for_stop(self, timeout):
        """Waits up to `timeout` seconds for a stop message; True if one came."""
        return self._stop.wait(timeout)

    def _heartbeats(self):
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        next_beat = 0.0
        try:
            while not self._quit.is_set():
                now = time.monotonic()
                if now >= next_beat or self._beat_now.is_set():
                    self._beat_now.clear()
                    sock.send_multipart([b"HEARTBEAT", self.owner.encode()])
                    next_beat = now + max(self._interval, 0.01)
                wait = min(next_beat - time.monotonic(), 0.05)
                if sock.poll(max(int(wait * 1000), 1)):
                    reply = [f.decode("utf-8", "replace") for f in sock.recv_multipart()]
                    if reply and reply[0] == "STOP":
                        self._stop.set()
                    elif reply and reply[0] == "UNKNOWN":
                        for service, endpoints in list(self._services.items()):
                            frames = ["REGISTER", self.owner, service] + endpoints
                            sock.send_multipart([f.encode() for f in frames])
        finally:
            sock.close(0)

    def close(self):
        """Stops the heartbeats and removes this owner's entries."""
        if self._thread is not None:
            self._quit.set()
            self._thread.join()
            self._thread = None
            try:
                self._request(["BYE", self.owner], 0.5)
            except DirectoryError:
                pass
        with self._lock:
            if self._requests is not None:
                self._requests.close(0)
                self._requests = None
