import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;

import org.zeromq.ZMQ;

/**
 * A JeroMQ peer, driven line by line over stdin and stdout in the protocol of
 * interop/python/zmq_peer.py, so that ferromq is tested against ZeroMQ written in pure Java.
 *
 * <pre>java -cp jeromq.jar interop/java/ZmqPeer.java</pre>
 *
 * Given arguments, it runs each as one command line instead of reading stdin, then exits (1
 * if any answered "err"), as the protocol says:
 *
 * <pre>java -cp jeromq.jar interop/java/ZmqPeer.java 'socket PULL' 'set RCVTIMEO 5000' \
 *     'bind tcp://127.0.0.1:5555' recv</pre>
 *
 * A reader thread only queues the command lines: every call on the socket stays on the main
 * thread, as JeroMQ requires, and that thread keeps calling into the socket while it waits.
 * Options this JeroMQ does not have (CURVE and PLAIN among them) answer "err".
 */
public final class ZmqPeer {
    private final ZMQ.Context ctx = ZMQ.context(1);
    private ZMQ.Socket sock;

    public static void main(String[] args) throws Exception {
        ZmqPeer peer = new ZmqPeer();
        if (args.length > 0) {
            boolean failed = false;
            for (String line : args) {
                String answer = peer.handle(line);
                if (answer == null) {
                    break;
                }
                failed |= answer.startsWith("err");
            }
            // What was sent goes out within the socket's LINGER before the context ends.
            peer.close(true);
            peer.ctx.term();
            System.exit(failed ? 1 : 0);
        }
        LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> readLines(lines));
        reader.setDaemon(true);
        reader.start();
        while (true) {
            String line = lines.poll(20, TimeUnit.MILLISECONDS);
            if (line == null) {
                if (peer.sock != null) {
                    peer.sock.getEvents();
                }
                continue;
            }
            if (line.equals("\u0000eof") || peer.handle(line) == null) {
                break;
            }
        }
        peer.close(false);
        peer.ctx.term();
    }

    /** Runs one command line and writes its answer, which it returns; null after "quit". */
    private String handle(String line) {
        int space = line.indexOf(' ');
        String command = space < 0 ? line : line.substring(0, space);
        String arg = space < 0 ? "" : line.substring(space + 1).trim();
        if (command.equals("quit")) {
            answer("ok");
            return null;
        }
        String answer;
        try {
            answer = run(command, arg);
        } catch (RuntimeException e) {
            String text = String.valueOf(e.getMessage()).replaceAll("\\s+", " ");
            answer = "err " + e.getClass().getSimpleName() + ": " + text;
        }
        answer(answer);
        return answer;
    }

    /** Queues stdin's lines; end of input becomes a quit without an answer. */
    private static void readLines(LinkedBlockingQueue<String> lines) {
        try (BufferedReader in = new BufferedReader(
                new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                lines.add(line);
            }
        } catch (Exception e) {
            // End of input as far as this peer is concerned.
        }
        lines.add("\u0000eof");
    }

    private static void answer(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private ZMQ.Socket needSocket() {
        if (sock == null) {
            throw new IllegalStateException("no socket: send 'socket TYPE' first");
        }
        return sock;
    }

    /** Closes the socket, dropping what it still holds unless keepLinger. */
    private void close(boolean keepLinger) {
        if (sock != null) {
            if (!keepLinger) {
                sock.setLinger(0);
            }
            sock.close();
            sock = null;
        }
    }

    private String run(String command, String arg) {
        switch (command) {
            case "version":
                return "ok JeroMQ " + jarVersion() + " (a port of libzmq "
                        + ZMQ.getVersionString() + ")";
            case "socket":
                close(false);
                sock = ctx.socket(socketType(arg));
                return "ok";
            case "close":
                close(false);
                return "ok";
            case "allow-plain":
                return "err JeroMQ " + jarVersion() + " has no PLAIN mechanism";
            default:
                return runOnSocket(needSocket(), command, arg);
        }
    }

    private String runOnSocket(ZMQ.Socket s, String command, String arg) {
        switch (command) {
            case "set": {
                String[] parts = arg.split("\\s+");
                return setInt(s, parts[0].toUpperCase(Locale.ROOT), Long.parseLong(parts[1]));
            }
            case "setb": {
                int space = arg.indexOf(' ');
                String name = (space < 0 ? arg : arg.substring(0, space)).toUpperCase(Locale.ROOT);
                return setBytes(s, name, decode(space < 0 ? "" : arg.substring(space + 1).trim()));
            }
            case "bind":
                s.bind(arg);
                return "ok " + s.base().getsockoptx(zmq.ZMQ.ZMQ_LAST_ENDPOINT);
            case "connect":
                s.connect(arg);
                return "ok";
            case "unbind":
            case "disconnect":
                return s.base().termEndpoint(arg) ? "ok" : "err no such endpoint";
            case "subscribe":
                s.subscribe(decode(arg));
                return "ok";
            case "unsubscribe":
                s.unsubscribe(decode(arg));
                return "ok";
            case "send":
                return send(s, arg);
            case "recv":
                return recv(s);
            default:
                return "err unknown command " + command;
        }
    }

    private static int socketType(String name) {
        switch (name.toUpperCase(Locale.ROOT)) {
            case "PAIR": return ZMQ.PAIR;
            case "PUB": return ZMQ.PUB;
            case "SUB": return ZMQ.SUB;
            case "REQ": return ZMQ.REQ;
            case "REP": return ZMQ.REP;
            case "DEALER": return ZMQ.DEALER;
            case "ROUTER": return ZMQ.ROUTER;
            case "PULL": return ZMQ.PULL;
            case "PUSH": return ZMQ.PUSH;
            case "XPUB": return ZMQ.XPUB;
            case "XSUB": return ZMQ.XSUB;
            default: throw new IllegalArgumentException("unknown socket type " + name);
        }
    }

    private static String setInt(ZMQ.Socket s, String name, long value) {
        switch (name) {
            case "RCVTIMEO": s.setReceiveTimeOut((int) value); break;
            case "SNDTIMEO": s.setSendTimeOut((int) value); break;
            case "LINGER": s.setLinger(value); break;
            case "SNDHWM": s.setSndHWM(value); break;
            case "RCVHWM": s.setRcvHWM(value); break;
            case "RECONNECT_IVL": s.setReconnectIVL(value); break;
            case "ROUTER_MANDATORY": s.setRouterMandatory(value != 0); break;
            case "XPUB_VERBOSE": s.setXpubVerbose(value != 0); break;
            case "IMMEDIATE": s.setDelayAttachOnConnect(value != 0); break;
            default: return "err JeroMQ " + jarVersion() + " has no option " + name;
        }
        return "ok";
    }

    private static String setBytes(ZMQ.Socket s, String name, byte[] value) {
        switch (name) {
            case "ROUTING_ID":
            case "IDENTITY":
                s.setIdentity(value);
                return "ok";
            case "SUBSCRIBE":
                s.subscribe(value);
                return "ok";
            case "UNSUBSCRIBE":
                s.unsubscribe(value);
                return "ok";
            default:
                return "err JeroMQ " + jarVersion() + " has no option " + name;
        }
    }

    private static String send(ZMQ.Socket s, String arg) {
        String[] frames = arg.split(",", -1);
        for (int i = 0; i < frames.length; i++) {
            int flags = i + 1 < frames.length ? ZMQ.SNDMORE : 0;
            if (!s.send(decode(frames[i]), flags)) {
                return "err send failed (timeout or no peer)";
            }
        }
        return "ok";
    }

    private static String recv(ZMQ.Socket s) {
        List<String> frames = new ArrayList<>();
        do {
            byte[] frame = s.recv(0);
            if (frame == null) {
                return frames.isEmpty() ? "timeout" : "err message cut short";
            }
            frames.add(encode(frame));
        } while (s.hasReceiveMore());
        return "msg " + String.join(",", frames);
    }

    private static byte[] decode(String hex) {
        if (hex.isEmpty() || hex.equals("-")) {
            return new byte[0];
        }
        byte[] bytes = new byte[hex.length() / 2];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        }
        return bytes;
    }

    private static String encode(byte[] frame) {
        if (frame.length == 0) {
            return "-";
        }
        StringBuilder text = new StringBuilder(frame.length * 2);
        for (byte b : frame) {
            text.append(Character.forDigit((b >> 4) & 15, 16)).append(Character.forDigit(b & 15, 16));
        }
        return text.toString();
    }

    /** JeroMQ's own version, from the manifest of the jar it was loaded from. */
    private static String jarVersion() {
        try {
            String jar = ZMQ.class.getProtectionDomain().getCodeSource().getLocation().getPath();
            try (JarFile file = new JarFile(jar)) {
                String version = file.getManifest().getMainAttributes().getValue("Bundle-Version");
                return version == null ? "(unknown version)" : version;
            }
        } catch (Exception e) {
            return "(unknown version)";
        }
    }
}
