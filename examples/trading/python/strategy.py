"""The trading example's Python strategy, with plain pyzmq: the same rules as the Rust one
(src/strategy.rs). It says HELLO to the gateway and learns the limits, registers its status
service, joins the market from the feed's snapshot, and trades its instruments' trends. On its
first quote it breaks each limit once on purpose (price band, position, rate), so every run
shows each rejection. At the end of the ticks it waits for its orders to be done, sends its
summary through the gateway and prints it.
"""

import os
import sys
import time
from collections import deque

import zmq
from ferromq_directory import Directory

HISTORY = 10
SETTLE = 10.0
FIRST_TICK_WAIT = 500  # ms: a first tick proves the subscription reached the feed


def env(name, default):
    return os.environ.get(name, default)


class Market:
    """The feed's ticks on a SUB socket, started from the snapshot (as src/market.rs)."""

    def __init__(self, ctx, directory, instruments):
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 1000000)
        for topic in instruments + ["END"]:
            self.sub.setsockopt_string(zmq.SUBSCRIBE, topic)
        self.sub.connect(lookup(directory, "ticks"))
        first = None
        if self.sub.poll(FIRST_TICK_WAIT):
            first = self.sub.recv_multipart()
        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(lookup(directory, "snapshot"))
        req.send_multipart([f.encode() for f in ["SNAPSHOT"] + instruments])
        if not req.poll(10000):
            raise SystemExit("no snapshot from the feed")
        reply = [f.decode() for f in req.recv_multipart()]
        req.close()
        assert reply[0] == "SNAPSHOT", reply
        self.seq = int(reply[1])
        self.ended = reply[2] == "ended"
        self.quotes = {}
        rest = reply[3:]
        for i in range(0, len(rest), 3):
            self.quotes[rest[i]] = (int(rest[i + 1]), int(rest[i + 2]))
        if first is not None:
            self.apply(first)

    def apply(self, frames):
        """A tick `instrument seq bid ask` or `END seq`; the instrument that ticked, or None."""
        frames = [f.decode() for f in frames]
        seq = int(frames[1])
        if frames[0] == "END":
            self.ended = True
            return None
        if seq <= self.seq:
            return None
        self.seq = seq
        self.quotes[frames[0]] = (int(frames[2]), int(frames[3]))
        return frames[0]


def lookup(directory, service):
    found = directory.lookup(service, wait=180.0)
    if not found:
        raise SystemExit("no %s registered" % service)
    return found[0]


class Strategy:
    def __init__(self, name, orders, limits):
        self.name = name
        self.orders = orders
        self.max_position, self.max_rate, self.band_bps = limits
        self.style = env("TRADING_STYLE", "reversion")
        self.every = max(int(env("TRADING_EVERY", "10")), 1)
        self.qty = max(int(env("TRADING_QTY", "10")), 1)
        self.next_id = 0
        self.open = {}  # id -> (instrument, side, qty)
        self.unanswered = 0
        self.positions = {}
        self.sent_at = deque()
        self.history = {}
        self.ticks = {}
        self.probed = False
        self.sent = self.accepted = self.fills = self.expired = 0
        self.rejected = {}

    def send(self, instrument, side, qty, price):
        self.next_id += 1
        oid = str(self.next_id)
        frames = ["ORDER", oid, instrument, side, str(qty), str(price)]
        self.orders.send_multipart([f.encode() for f in frames])
        self.open[oid] = (instrument, side, qty)
        self.unanswered += 1
        self.sent += 1
        self.sent_at.append(time.monotonic())

    def answer(self, frames):
        frames = [f.decode() for f in frames]
        kind, oid = frames[0], frames[1] if len(frames) > 1 else ""
        if kind == "ACCEPTED":
            self.unanswered -= 1
            self.accepted += 1
        elif kind == "REJECTED":
            self.unanswered -= 1
            self.open.pop(oid, None)
            self.rejected[frames[2]] = self.rejected.get(frames[2], 0) + 1
        elif kind == "FILL":
            self.open.pop(oid, None)
            self.fills += 1
            sign = 1 if frames[3] == "BUY" else -1
            self.positions[frames[2]] = self.positions.get(frames[2], 0) + sign * int(frames[4])
        elif kind == "EXPIRED":
            self.open.pop(oid, None)
            self.expired += 1
        else:
            print("an unexpected message from the gateway:", frames, file=sys.stderr)

    def on_tick(self, market, instrument):
        bid, ask = market.quotes[instrument]
        mid = (bid + ask) // 2
        if not self.probed:
            self.probed = True
            # Outside the price band, beyond the position limit, faster than the rate limit.
            self.send(instrument, "BUY", 1, mid + mid * self.band_bps * 2 // 10000 + 1)
            self.send(instrument, "BUY", self.max_position + 1, ask)
            below = bid - max(mid * self.band_bps // 20000, 1)
            for _ in range(self.max_rate + 1):
                self.send(instrument, "BUY", 1, below)
        history = self.history.setdefault(instrument, deque(maxlen=HISTORY))
        history.append(mid)
        mean = sum(history) // len(history)
        self.ticks[instrument] = self.ticks.get(instrument, 0) + 1
        if len(history) < HISTORY // 2 or self.ticks[instrument] % self.every or mid == mean:
            return
        up = mid > mean
        side = "BUY" if up == (self.style == "momentum") else "SELL"
        now = time.monotonic()
        while self.sent_at and now - self.sent_at[0] >= 1.0:
            self.sent_at.popleft()
        if len(self.sent_at) + 1 >= self.max_rate:
            return
        open_qty = sum(q for (i, s, q) in self.open.values() if i == instrument and s == side)
        position = self.positions.get(instrument, 0)
        worst = position + open_qty + self.qty if side == "BUY" else position - open_qty - self.qty
        if abs(worst) > self.max_position:
            return
        self.send(instrument, side, self.qty, ask if side == "BUY" else bid)

    def summary(self):
        frames = ["SUMMARY", self.sent, self.accepted, sum(self.rejected.values()), self.fills,
                  self.expired]
        for instrument in sorted(self.positions):
            frames += [instrument, self.positions[instrument]]
        return [str(f) for f in frames]


def main():
    name = env("TRADING_NAME", "python")
    instruments = env("TRADING_INSTRUMENTS", "BOLT CRUX").split()
    ctx = zmq.Context()
    directory = Directory.from_env(ctx)
    orders = ctx.socket(zmq.DEALER)
    orders.setsockopt(zmq.LINGER, 2000)
    orders.connect(lookup(directory, "orders"))
    orders.send_multipart([b"HELLO", name.encode()])
    if not orders.poll(10000):
        raise SystemExit("no WELCOME from the gateway")
    welcome = [f.decode() for f in orders.recv_multipart()]
    assert welcome[0] == "WELCOME", welcome
    s = Strategy(name, orders, [int(x) for x in welcome[1:4]])
    status = ctx.socket(zmq.REP)
    status.setsockopt(zmq.LINGER, 0)
    status.bind("tcp://127.0.0.1:*")
    directory.register("strategy." + name, [status.getsockopt_string(zmq.LAST_ENDPOINT)])
    market = Market(ctx, directory, instruments)
    print("trading %s (the snapshot had quotes for %d of them)" % (" ".join(instruments), len(market.quotes)), flush=True)
    if market.quotes:
        s.on_tick(market, sorted(market.quotes)[0])
    deadline = time.monotonic() + float(env("TRADING_MAX_SECS", "300"))
    poller = zmq.Poller()
    for sock in (orders, status, market.sub):
        poller.register(sock, zmq.POLLIN)

    def step(timeout_ms):
        ready = dict(poller.poll(timeout_ms))
        while orders.poll(0):
            s.answer(orders.recv_multipart())
        if status in ready:
            status.recv_multipart()
            status.send_multipart([f.encode() for f in s.summary()])
        while market.sub.poll(0):
            instrument = market.apply(market.sub.recv_multipart())
            if instrument is not None and not market.ended:
                s.on_tick(market, instrument)

    while not market.ended and not directory.stop_requested() and time.monotonic() < deadline:
        step(100)
    settle_by = time.monotonic() + SETTLE
    while s.open and time.monotonic() < settle_by and not directory.stop_requested():
        step(50)
    if s.unanswered or s.open:
        print("%d orders unanswered and %d open at the end" % (s.unanswered, len(s.open)),
              file=sys.stderr)
    orders.send_multipart([f.encode() for f in s.summary()])
    recorded = False
    until = time.monotonic() + 5.0
    while not recorded and orders.poll(max(int((until - time.monotonic()) * 1000), 1)):
        recorded = orders.recv_multipart()[0] == b"RECORDED"
    if not recorded:
        raise SystemExit("the gateway did not record the summary")
    reasons = ", ".join("%s %d" % kv for kv in sorted(s.rejected.items()))
    positions = ", ".join("%s %d" % kv for kv in sorted(s.positions.items())) or "none"
    print("%s: sent %d, accepted %d, rejected %d (%s), fills %d, expired %d; positions: %s"
          % (name, s.sent, s.accepted, sum(s.rejected.values()), reasons, s.fills, s.expired,
             positions), flush=True)
    directory.close()
    for sock in (orders, status, market.sub):
        sock.close()
    ctx.term()


if __name__ == "__main__":
    main()
