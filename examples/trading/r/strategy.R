# The trading example's R strategy, with pbdZMQ: the same rules as the Rust one
# (src/strategy.rs). It says HELLO to the gateway and learns the limits, joins the market from
# the feed's snapshot (whenever R is up: nothing waits for it), and trades its instruments'
# trends. On its first quote it breaks each limit once on purpose (price band, position, rate).
# At the end of the ticks it waits for its orders to be done, sends its summary through the
# gateway and prints it.
#
# R has no threads: the directory heartbeats (docs/directory.md) are sent from the main loop.

suppressMessages(library(pbdZMQ))

HISTORY <- 10
SETTLE <- 10
POLLIN <- .pbd_env$ZMQ.PO$POLLIN

env <- function(name, default) {
  value <- Sys.getenv(name, unset = "")
  if (value == "") default else value
}

now <- function() proc.time()[["elapsed"]]

ctx <- zmq.ctx.new()

send_frames <- function(sock, frames) {
  frames <- as.character(frames)
  for (i in seq_along(frames)) {
    flags <- if (i < length(frames)) .pbd_env$ZMQ.SR$SNDMORE else .pbd_env$ZMQ.SR$BLOCK
    zmq.msg.send(charToRaw(frames[[i]]), sock, flags = flags, serialize = FALSE)
  }
}

recv_frames <- function(sock) {
  frames <- character(0)
  repeat {
    frames <- c(frames, rawToChar(zmq.msg.recv(sock, unserialize = FALSE)))
    if (zmq.getsockopt(sock, .pbd_env$ZMQ.SO$RCVMORE, 0L) == 0) break
  }
  frames
}

readable <- function(sock, timeout_ms) {
  zmq.poll(list(sock), POLLIN, as.integer(timeout_ms))
  bitwAnd(zmq.poll.get.revents(1), POLLIN) != 0
}

# A request and its answer, waiting at most timeout_ms; NULL if none came.
ask <- function(sock, frames, timeout_ms) {
  send_frames(sock, frames)
  if (!readable(sock, timeout_ms)) return(NULL)
  recv_frames(sock)
}

directory <- zmq.socket(ctx, .pbd_env$ZMQ.ST$DEALER)
zmq.setsockopt(directory, .pbd_env$ZMQ.SO$LINGER, 0L)
zmq.connect(directory, Sys.getenv("FERROMQ_DIRECTORY"))

lookup <- function(service) {
  reply <- ask(directory, c("LOOKUP", service, "180000"), 185000)
  if (is.null(reply) || reply[[1]] != "FOUND") stop(paste("no", service, "registered"))
  reply[[3]]
}

name <- env("TRADING_NAME", "r")
instruments <- strsplit(env("TRADING_INSTRUMENTS", "ACME DYNE"), " +")[[1]]
style <- env("TRADING_STYLE", "momentum")
every <- max(as.integer(env("TRADING_EVERY", "10")), 1)
qty <- max(as.integer(env("TRADING_QTY", "10")), 1)
deadline <- now() + as.numeric(env("TRADING_MAX_SECS", "300"))

orders <- zmq.socket(ctx, .pbd_env$ZMQ.ST$DEALER)
zmq.setsockopt(orders, .pbd_env$ZMQ.SO$LINGER, 2000L)
zmq.connect(orders, lookup("orders"))
welcome <- ask(orders, c("HELLO", name), 10000)
if (is.null(welcome) || welcome[[1]] != "WELCOME") stop("no WELCOME from the gateway")
max_position <- as.numeric(welcome[[2]])
max_rate <- as.numeric(welcome[[3]])
band_bps <- as.numeric(welcome[[4]])

# The status service: registering it makes this process ready, which the feed waits for.
status <- zmq.socket(ctx, .pbd_env$ZMQ.ST$REP)
zmq.setsockopt(status, .pbd_env$ZMQ.SO$LINGER, 0L)
zmq.bind(status, "tcp://127.0.0.1:*")
endpoint <- zmq.getsockopt(status, .pbd_env$ZMQ.SO$LAST_ENDPOINT, strrep(" ", 255))
owner <- Sys.getenv("FERROMQ_OWNER")
registered <- ask(directory, c("REGISTER", owner, paste0("strategy.", name), endpoint), 10000)
if (is.null(registered) || registered[[1]] != "OK") stop("the directory refused REGISTER")
beat_every <- as.numeric(registered[[2]]) / 3000
next_beat <- now() + beat_every
stop_requested <- FALSE

# The market: subscribe, wait briefly for a first tick (the subscription is then in place),
# then take the snapshot and apply only newer ticks.
sub <- zmq.socket(ctx, .pbd_env$ZMQ.ST$SUB)
zmq.setsockopt(sub, .pbd_env$ZMQ.SO$LINGER, 0L)
zmq.setsockopt(sub, .pbd_env$ZMQ.SO$RCVHWM, 1000000L)
for (topic in c(instruments, "END")) zmq.setsockopt(sub, .pbd_env$ZMQ.SO$SUBSCRIBE, topic)
zmq.connect(sub, lookup("ticks"))
first <- if (readable(sub, 500)) recv_frames(sub) else NULL
snapshot <- zmq.socket(ctx, .pbd_env$ZMQ.ST$REQ)
zmq.setsockopt(snapshot, .pbd_env$ZMQ.SO$LINGER, 0L)
zmq.connect(snapshot, lookup("snapshot"))
reply <- ask(snapshot, c("SNAPSHOT", instruments), 10000)
if (is.null(reply) || reply[[1]] != "SNAPSHOT") stop("no snapshot from the feed")
zmq.close(snapshot)

market <- new.env()
market$seq <- as.numeric(reply[[2]])
market$ended <- reply[[3]] == "ended"
market$bid <- list()
market$ask <- list()
rest <- reply[-(1:3)]
for (i in seq(1, length(rest), by = 3)) {
  if (length(rest) < 3) break
  market$bid[[rest[[i]]]] <- as.numeric(rest[[i + 1]])
  market$ask[[rest[[i]]]] <- as.numeric(rest[[i + 2]])
}

# A tick `instrument seq bid ask` or `END seq`: the instrument that ticked, or NULL.
apply_tick <- function(frames) {
  if (frames[[1]] == "END") {
    market$ended <- TRUE
    return(NULL)
  }
  seq <- as.numeric(frames[[2]])
  if (seq <= market$seq) return(NULL)
  market$seq <- seq
  market$bid[[frames[[1]]]] <- as.numeric(frames[[3]])
  market$ask[[frames[[1]]]] <- as.numeric(frames[[4]])
  frames[[1]]
}
if (!is.null(first)) invisible(apply_tick(first))
cat(sprintf("trading %s (the snapshot had quotes for %d of them)\n", paste(instruments, collapse = " "),
            length(market$bid)))

s <- new.env()
s$next_id <- 0
s$open <- list()        # id -> list(instrument, side, qty)
s$unanswered <- 0
s$positions <- list()
s$sent_at <- numeric(0)
s$history <- list()
s$ticks <- list()
s$probed <- FALSE
s$sent <- 0; s$accepted <- 0; s$fills <- 0; s$expired <- 0
s$rejected <- list()

send_order <- function(instrument, side, q, price) {
  s$next_id <- s$next_id + 1
  id <- as.character(s$next_id)
  send_frames(orders, c("ORDER", id, instrument, side, format(q, scientific = FALSE),
                        format(price, scientific = FALSE)))
  s$open[[id]] <- list(instrument = instrument, side = side, qty = q)
  s$unanswered <- s$unanswered + 1
  s$sent <- s$sent + 1
  s$sent_at <- c(s$sent_at, now())
}

position_of <- function(instrument) {
  p <- s$positions[[instrument]]
  if (is.null(p)) 0 else p
}

answer <- function(frames) {
  kind <- frames[[1]]
  id <- if (length(frames) > 1) frames[[2]] else ""
  if (kind == "ACCEPTED") {
    s$unanswered <- s$unanswered - 1
    s$accepted <- s$accepted + 1
  } else if (kind == "REJECTED") {
    s$unanswered <- s$unanswered - 1
    s$open[[id]] <- NULL
    reason <- frames[[3]]
    s$rejected[[reason]] <- (if (is.null(s$rejected[[reason]])) 0 else s$rejected[[reason]]) + 1
  } else if (kind == "FILL") {
    s$open[[id]] <- NULL
    s$fills <- s$fills + 1
    sign <- if (frames[[4]] == "BUY") 1 else -1
    s$positions[[frames[[3]]]] <- position_of(frames[[3]]) + sign * as.numeric(frames[[5]])
  } else if (kind == "EXPIRED") {
    s$open[[id]] <- NULL
    s$expired <- s$expired + 1
  } else {
    message("an unexpected message from the gateway: ", paste(frames, collapse = " "))
  }
}

on_tick <- function(instrument) {
  bid <- market$bid[[instrument]]
  ask_price <- market$ask[[instrument]]
  mid <- (bid + ask_price) %/% 2
  if (!s$probed) {
    s$probed <- TRUE
    # Outside the price band, beyond the position limit, faster than the rate limit.
    send_order(instrument, "BUY", 1, mid + (mid * band_bps * 2) %/% 10000 + 1)
    send_order(instrument, "BUY", max_position + 1, ask_price)
    below <- bid - max((mid * band_bps) %/% 20000, 1)
    for (i in seq_len(max_rate + 1)) send_order(instrument, "BUY", 1, below)
  }
  history <- c(s$history[[instrument]], mid)
  if (length(history) > HISTORY) history <- history[-1]
  s$history[[instrument]] <- history
  mean_mid <- sum(history) %/% length(history)
  count <- (if (is.null(s$ticks[[instrument]])) 0 else s$ticks[[instrument]]) + 1
  s$ticks[[instrument]] <- count
  if (length(history) < HISTORY %/% 2 || count %% every != 0 || mid == mean_mid) return()
  side <- if ((mid > mean_mid) == (style == "momentum")) "BUY" else "SELL"
  s$sent_at <- s$sent_at[now() - s$sent_at < 1]
  if (length(s$sent_at) + 1 >= max_rate) return()
  open_qty <- 0
  for (o in s$open) if (o$instrument == instrument && o$side == side) open_qty <- open_qty + o$qty
  worst <- if (side == "BUY") position_of(instrument) + open_qty + qty
           else position_of(instrument) - open_qty - qty
  if (abs(worst) > max_position) return()
  send_order(instrument, side, qty, if (side == "BUY") ask_price else bid)
}

summary_frames <- function() {
  rejected <- if (length(s$rejected) == 0) 0 else sum(unlist(s$rejected))
  counts <- c(s$sent, s$accepted, rejected, s$fills, s$expired)
  frames <- c("SUMMARY", sprintf("%d", as.integer(counts)))
  for (instrument in sort(names(s$positions))) {
    frames <- c(frames, instrument, sprintf("%d", as.integer(s$positions[[instrument]])))
  }
  frames
}

step <- function(timeout_ms) {
  zmq.poll(list(orders, sub, status), c(POLLIN, POLLIN, POLLIN), as.integer(timeout_ms))
  if (now() >= next_beat) {
    send_frames(directory, c("HEARTBEAT", owner))
    next_beat <<- now() + beat_every
  }
  while (readable(directory, 0)) {
    if (recv_frames(directory)[[1]] == "STOP") stop_requested <<- TRUE
  }
  if (readable(status, 0)) {
    recv_frames(status)
    send_frames(status, summary_frames())
  }
  while (readable(orders, 0)) answer(recv_frames(orders))
  while (readable(sub, 0)) {
    instrument <- apply_tick(recv_frames(sub))
    if (!is.null(instrument) && !market$ended) on_tick(instrument)
  }
}

if (length(market$bid) > 0 && !market$ended) invisible(on_tick(sort(names(market$bid))[[1]]))
while (!market$ended && !stop_requested && now() < deadline) step(100)
settle_by <- now() + SETTLE
while (length(s$open) > 0 && !stop_requested && now() < settle_by) step(50)
if (s$unanswered > 0 || length(s$open) > 0) {
  message(sprintf("%d orders unanswered and %d open at the end", s$unanswered, length(s$open)))
}
recorded <- ask(orders, summary_frames(), 5000)
if (is.null(recorded) || recorded[[1]] != "RECORDED") stop("the gateway did not record the summary")
reasons <- paste(sprintf("%s %d", names(s$rejected), unlist(s$rejected)), collapse = ", ")
positions <- if (length(s$positions) == 0) "none" else
  paste(sprintf("%s %d", names(s$positions), unlist(s$positions)), collapse = ", ")
cat(sprintf("%s: sent %d, accepted %d, rejected %d (%s), fills %d, expired %d; positions: %s\n",
            name, s$sent, s$accepted, sum(unlist(s$rejected)), reasons, s$fills, s$expired,
            positions))
send_frames(directory, c("BYE", owner))
for (sock in list(orders, sub, status, directory)) zmq.close(sock)
zmq.ctx.destroy(ctx)
