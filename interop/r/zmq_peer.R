# A pbdZMQ peer, driven line by line over stdin and stdout in the protocol of
# interop/python/zmq_peer.py, so that ferromq is tested against what R users have.
#
#     Rscript interop/r/zmq_peer.R
#
# Given arguments, it runs each as one command line instead of reading stdin, then exits (1 if
# any answered "err"), as the protocol says:
#
#     Rscript interop/r/zmq_peer.R 'socket PULL' 'set RCVTIMEO 5000' 'bind tcp://127.0.0.1:5555' recv
#
# pbdZMQ sets string options as C strings: a bytes value with a zero byte, or an empty one
# (SUBSCRIBE to everything), answers "err".  R has no threads, so "allow-plain USER PASSWORD"
# answers ZAP requests from this loop, and "send" and "recv" wait in zmq.poll on the socket
# and the ZAP handler together instead of blocking in libzmq.

suppressMessages(library(pbdZMQ))

# pbdZMQ prints its errors with Rprintf: they go to stderr, the answers to the real stdout
# (appended, so that a stdout redirected to a file is not truncated).
out <- file("/dev/stdout", open = "a", raw = TRUE)
sink(stderr())

ctx <- zmq.ctx.new()
state <- new.env()
state$sock <- NULL
state$type <- NULL
state$zap <- NULL
state$rcvtimeo <- -1L
state$sndtimeo <- -1L

answer <- function(text) {
  writeLines(text, out)
  flush(out)
}

decode <- function(hex) {
  if (hex == "" || hex == "-") return(raw(0))
  as.raw(strtoi(substring(hex, seq(1, nchar(hex) - 1, 2), seq(2, nchar(hex), 2)), 16L))
}

encode <- function(bytes) {
  if (length(bytes) == 0) "-" else paste(as.character(bytes), collapse = "")
}

# A bytes value as the C string pbdZMQ passes on.
as_text <- function(bytes) {
  if (length(bytes) == 0 || any(bytes == as.raw(0))) {
    stop("pbdZMQ takes this option as a non-empty C string, without zero bytes")
  }
  rawToChar(bytes)
}

need_socket <- function() {
  if (is.null(state$sock)) stop("no socket: send 'socket TYPE' first")
  state$sock
}

check <- function(rc, what) {
  if (!is.null(rc) && identical(as.integer(rc), -1L)) stop(paste(what, "failed"))
  invisible(rc)
}

# Closes the socket, dropping what it still holds unless keep_linger.
close_socket <- function(keep_linger = FALSE) {
  if (!is.null(state$sock)) {
    if (!keep_linger) zmq.setsockopt(state$sock, .pbd_env$ZMQ.SO$LINGER, 0L)
    zmq.close(state$sock)
    state$sock <- NULL
  }
}

option_id <- function(name) {
  name <- toupper(name)
  if (name == "ROUTING_ID") name <- "IDENTITY"
  if (name == "CONNECT_ROUTING_ID") name <- "CONNECT_RID"
  id <- .pbd_env$ZMQ.SO[[name]]
  if (is.null(id)) stop(paste("pbdZMQ has no option", name))
  id
}

# The ZAP handler: answers one request, letting in the allowed PLAIN user only.
zap_answer <- function() {
  parts <- list()
  repeat {
    parts[[length(parts) + 1]] <- zmq.msg.recv(state$zap$sock, unserialize = FALSE)
    if (zmq.getsockopt(state$zap$sock, .pbd_env$ZMQ.SO$RCVMORE, 0L) == 0) break
  }
  status <- "200"
  user <- raw(0)
  if (length(parts) >= 8 && identical(rawToChar(parts[[6]]), "PLAIN")) {
    ok <- identical(parts[[7]], charToRaw(state$zap$user)) &&
      identical(parts[[8]], charToRaw(state$zap$password))
    status <- if (ok) "200" else "400"
    if (ok) user <- charToRaw(state$zap$user)
  }
  reply <- list(charToRaw("1.0"), parts[[2]], charToRaw(status),
                charToRaw(if (status == "200") "OK" else "refused"), user, raw(0))
  for (i in seq_along(reply)) {
    flags <- if (i < length(reply)) .pbd_env$ZMQ.SR$SNDMORE else .pbd_env$ZMQ.SR$BLOCK
    zmq.msg.send(reply[[i]], state$zap$sock, flags = flags, serialize = FALSE)
  }
}

# Waits up to timeout_ms (-1: for ever) until the socket has `events`, answering ZAP
# requests meanwhile; TRUE when it has.
wait_for <- function(events, timeout_ms) {
  deadline <- if (timeout_ms < 0) Inf else proc.time()[["elapsed"]] + timeout_ms / 1000
  repeat {
    left <- deadline - proc.time()[["elapsed"]]
    if (left <= 0) return(FALSE)
    slice <- as.integer(min(left * 1000, 50))
    if (is.null(state$zap)) {
      zmq.poll(list(state$sock), events, slice)
    } else {
      zmq.poll(list(state$sock, state$zap$sock), c(events, .pbd_env$ZMQ.PO$POLLIN), slice)
      if (bitwAnd(zmq.poll.get.revents(2), .pbd_env$ZMQ.PO$POLLIN) != 0) zap_answer()
    }
    if (bitwAnd(zmq.poll.get.revents(1), events) != 0) return(TRUE)
  }
}

send_message <- function(arg) {
  sock <- need_socket()
  if (state$type %in% c("SUB", "PULL")) return("err Operation not supported")
  frames <- strsplit(arg, ",", fixed = TRUE)[[1]]
  if (length(frames) == 0) frames <- "-"
  for (i in seq_along(frames)) {
    if (!wait_for(.pbd_env$ZMQ.PO$POLLOUT, state$sndtimeo)) {
      return("err Resource temporarily unavailable")
    }
    flags <- if (i < length(frames)) .pbd_env$ZMQ.SR$SNDMORE else .pbd_env$ZMQ.SR$BLOCK
    check(zmq.msg.send(decode(frames[[i]]), sock, flags = flags, serialize = FALSE), "send")
  }
  "ok"
}

recv_message <- function() {
  sock <- need_socket()
  if (!wait_for(.pbd_env$ZMQ.PO$POLLIN, state$rcvtimeo)) return("timeout")
  frames <- character(0)
  repeat {
    frames <- c(frames, encode(zmq.msg.recv(sock, unserialize = FALSE)))
    if (zmq.getsockopt(sock, .pbd_env$ZMQ.SO$RCVMORE, 0L) == 0) break
  }
  paste("msg", paste(frames, collapse = ","))
}

allow_plain <- function(arg) {
  words <- strsplit(arg, " ", fixed = TRUE)[[1]]
  if (length(words) != 2) stop("usage: allow-plain USER PASSWORD")
  if (is.null(state$zap)) {
    zap <- zmq.socket(ctx, .pbd_env$ZMQ.ST$REP)
    check(zmq.bind(zap, "inproc://zeromq.zap.01"), "bind of the ZAP handler")
    state$zap <- list(sock = zap)
  }
  state$zap$user <- words[[1]]
  state$zap$password <- words[[2]]
  "ok"
}

run <- function(command, arg) {
  switch(command,
    version = paste0("ok pbdZMQ ", packageVersion("pbdZMQ"), " (libzmq ", zmq.version(), ")"),
    socket = {
      close_socket()
      type <- .pbd_env$ZMQ.ST[[toupper(arg)]]
      if (is.null(type)) stop(paste("unknown socket type", arg))
      state$sock <- zmq.socket(ctx, type)
      state$type <- toupper(arg)
      state$rcvtimeo <- -1L
      state$sndtimeo <- -1L
      "ok"
    },
    close = {
      close_socket()
      "ok"
    },
    "allow-plain" = allow_plain(arg),
    set = {
      words <- strsplit(arg, " ", fixed = TRUE)[[1]]
      value <- as.integer(words[[2]])
      # Timeouts are kept here: send and recv wait in zmq.poll, never blocked in libzmq.
      if (toupper(words[[1]]) == "RCVTIMEO") state$rcvtimeo <- value
      else if (toupper(words[[1]]) == "SNDTIMEO") state$sndtimeo <- value
      else check(zmq.setsockopt(need_socket(), option_id(words[[1]]), value), "setsockopt")
      "ok"
    },
    setb = {
      words <- strsplit(arg, " ", fixed = TRUE)[[1]]
      value <- as_text(decode(if (length(words) > 1) words[[2]] else "-"))
      check(zmq.setsockopt(need_socket(), option_id(words[[1]]), value), "setsockopt")
      "ok"
    },
    subscribe = {
      check(zmq.setsockopt(need_socket(), option_id("SUBSCRIBE"), as_text(decode(arg))), "subscribe")
      "ok"
    },
    unsubscribe = {
      check(zmq.setsockopt(need_socket(), option_id("UNSUBSCRIBE"), as_text(decode(arg))),
            "unsubscribe")
      "ok"
    },
    bind = {
      sock <- need_socket()
      check(zmq.bind(sock, arg), paste("bind", arg))
      endpoint <- zmq.getsockopt(sock, .pbd_env$ZMQ.SO$LAST_ENDPOINT, strrep(" ", 255))
      paste("ok", sub("[^[:graph:]].*$", "", endpoint))
    },
    connect = {
      check(zmq.connect(need_socket(), arg), paste("connect", arg))
      "ok"
    },
    disconnect = {
      check(zmq.disconnect(need_socket(), arg), paste("disconnect", arg))
      "ok"
    },
    send = send_message(arg),
    recv = recv_message(),
    stop(paste("unknown command", command))
  )
}

# Runs one command line and writes its answer, which it returns; NULL after "quit".
handle <- function(line) {
  line <- trimws(line)
  space <- regexpr(" ", line, fixed = TRUE)
  command <- if (space < 0) line else substr(line, 1, space - 1)
  arg <- if (space < 0) "" else substr(line, space + 1, nchar(line))
  if (command == "quit") {
    answer("ok")
    return(NULL)
  }
  reply <- tryCatch(run(command, arg), error = function(e) {
    paste("err", gsub("[[:space:]]+", " ", conditionMessage(e)))
  })
  answer(reply)
  reply
}

# The test that drives this peer; when it is gone, so is the peer (stdin's end cannot be told
# from a pause on a non-blocking connection).
parent <- strsplit(readLines("/proc/self/stat", warn = FALSE), " ", fixed = TRUE)[[1]][[4]]
parent_alive <- function() file.exists(file.path("/proc", parent))

# Keeps the socket serviced and the ZAP handler answering while no command is pending.
idle <- function() {
  if (is.null(state$zap)) {
    Sys.sleep(0.02)
  } else {
    zmq.poll(list(state$zap$sock), .pbd_env$ZMQ.PO$POLLIN, 20L)
    if (bitwAnd(zmq.poll.get.revents(1), .pbd_env$ZMQ.PO$POLLIN) != 0) zap_answer()
  }
  if (!is.null(state$sock)) zmq.getsockopt(state$sock, .pbd_env$ZMQ.SO$EVENTS, 0L)
}

args <- commandArgs(trailingOnly = TRUE)
failed <- FALSE
if (length(args) > 0) {
  for (line in args) {
    reply <- handle(line)
    if (is.null(reply)) break
    failed <- failed || startsWith(reply, "err")
  }
} else {
  stdin_lines <- file("stdin", open = "r", blocking = FALSE)
  idle_rounds <- 0
  repeat {
    line <- readLines(stdin_lines, n = 1, warn = FALSE)
    if (length(line) == 0) {
      idle()
      idle_rounds <- idle_rounds + 1
      if (idle_rounds %% 50 == 0 && !parent_alive()) break
      next
    }
    if (is.null(handle(line))) break
  }
}
# From arguments, what was sent goes out within the socket's LINGER before the context ends.
close_socket(keep_linger = length(args) > 0)
if (!is.null(state$zap)) zmq.close(state$zap$sock)
zmq.ctx.destroy(ctx)
if (failed) quit(status = 1)
