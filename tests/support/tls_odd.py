#!/usr/bin/env python3
"""Misbehaving TLS (and not-TLS) servers for xfer's TLS tests.

Usage: tls_odd.py MODE CERTDIR

Started by tests/support/tls_odd.c (ts_odd_start()). Binds 127.0.0.1 on an
ephemeral port, prints the port number as the first line on stdout, and serves
every accepted connection in its own thread (at most MAX_CONNS at a time; more
are closed at once). It exits when its stdin reaches EOF (the parent closed the
pipe or died) or on SIGTERM. Every blocking socket call has a timeout, so no
connection thread can hang. Python standard library only.

CERTDIR is a ts_certs directory; the TLS modes serve CERTDIR/good.pem with
CERTDIR/good.key (SAN localhost, good.example.test; signed by CERTDIR/ca.pem)
unless said otherwise. "The response" below means

    HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok

Modes:
  tls11             TLS 1.1 only (minimum = maximum = TLSv1.1, ciphers
                    'DEFAULT:@SECLEVEL=0'); answers every request on the
                    connection with the response (keep-alive).
  anon              anonymous key exchange only and no certificate: TLS 1.2 at
                    most, ciphers 'aNULL:@SECLEVEL=0' (AECDH/ADH); answers
                    every request with the response.
  plain             no TLS at all: reads what the client sends first (its
                    ClientHello), writes the response in plaintext, FIN.
  garbage           at accept writes 64 bytes that start like a TLS record
                    header with an impossible length (17 03 03 ff ff) followed
                    by random bytes, then FIN.
  reset             reads the ClientHello, then closes with RST
                    (SO_LINGER {1, 0}).
  close_nonotify    TLS handshake, reads one request, writes
                    "HTTP/1.1 200 OK\\r\\nConnection: close\\r\\n\\r\\n" and 1000
                    bytes 'x' (body delimited by the close), then FIN without
                    a TLS close_notify alert: a truncation the client must
                    not take for a complete body.
  close_notify      the same response, then a proper close_notify
                    (SSLSocket.unwrap()) before the FIN.
  cl_nonotify       "HTTP/1.1 200 OK\\r\\nContent-Length: 1000\\r\\n\\r\\n" and
                    1000 'x', then FIN without close_notify (the body is
                    complete by its length).
  chunked_nonotify  "Transfer-Encoding: chunked", 1000 'x' in chunks of 400,
                    400 and 200 bytes, the terminating "0\\r\\n\\r\\n", then
                    FIN without close_notify (complete by its framing).
  short_nonotify    "Content-Length: 2000" but only 1000 'x', then FIN
  pending_poison    keep-alive; each answer is two TLS records: the first 41
                    bytes of the head, then exactly 16384 bytes holding the
                    rest of the head (a long X-Pad line), the body "hello"
                    and, past the response, the 41 bytes of a forged
                    response ("...Content-Length: 3...BAD"). A client whose
                    receive buffer has 16384 - 41 bytes free reads the
                    response to its last byte and leaves the forged bytes
                    decrypted inside its TLS library.
                    without close_notify (a truncated body).

"FIN without close_notify": the TCP socket is shut down for writing through a
duplicate of its descriptor, beneath the TLS layer, so OpenSSL never gets to
write the alert; the rest of what the client sends is then read and dropped
(for at most DRAIN_S) before close(), so unread bytes cannot turn the FIN into
an RST.
"""

import os
import signal
import socket
import ssl
import subprocess
import struct
import sys
import threading
import time
import warnings

MAX_CONNS = 64  # connection threads alive at once
IO_TIMEOUT_S = 10.0  # any single blocking socket call
DRAIN_S = 2.0  # read-and-drop bound after our FIN
HEAD_MAX = 65536  # request head bytes read at most

RESPONSE_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
BODY = b"x" * 1000

# TLS 1.1 is deprecated in the ssl module; using it is the point of tls11.
warnings.filterwarnings("ignore", category=DeprecationWarning)


def read_head(sock):
    """Reads one request head; returns it, or None on EOF/timeout/error."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > HEAD_MAX:
            return None
        try:
            chunk = sock.recv(4096)
        except (OSError, ssl.SSLError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def drain(raw):
    """Reads and drops until EOF, an error or DRAIN_S have passed."""
    deadline = time.monotonic() + DRAIN_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        raw.settimeout(left)
        try:
            if not raw.recv(65536):
                return
        except OSError:
            return


def fin_plain(raw):
    """FIN on a plain socket, bounded drain, close."""
    try:
        raw.shutdown(socket.SHUT_WR)
        drain(raw)
    except OSError:
        pass
    raw.close()


def fin_without_notify(tls):
    """FIN beneath the TLS layer, so no close_notify is ever written."""
    try:
        raw = socket.socket(fileno=os.dup(tls.fileno()))
    except OSError:
        tls.close()
        return
    fin_plain(raw)
    # Freeing the SSL object (SSL_free) writes nothing to the network, and the
    # TCP stream is already finished anyway.
    tls.close()


def rst(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def make_context(mode, certdir):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if mode == "tls11":
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    elif mode == "anon":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("aNULL:@SECLEVEL=0")
        # ADH suites (the anonymous ones wolfSSL has) need DH parameters; the
        # RFC 7919 group is named, so making the file costs no prime search.
        dh = os.path.join(certdir, "dh.pem")
        if not os.path.exists(dh):
            subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH",
                            "-pkeyopt", "group:ffdhe2048", "-out", dh],
                           check=True, capture_output=True)
        ctx.load_dh_params(dh)
        return ctx  # no certificate at all
    ctx.load_cert_chain(os.path.join(certdir, "good.pem"), os.path.join(certdir, "good.key"))
    return ctx


POISON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX:1\r\n"
POISON_TAIL = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nBAD"
assert len(POISON_HEAD) == len(POISON_TAIL) == 41
POISON_REST = (b"X-Pad: " + b"a" * (16384 - 41 - 7 - 4 - 5) + b"\r\n\r\nhello")
assert len(POISON_REST) + len(POISON_TAIL) == 16384


def serve_poison(tls):
    while read_head(tls) is not None:
        try:
            tls.sendall(POISON_HEAD)
            tls.sendall(POISON_REST + POISON_TAIL)
        except OSError:
            break
    tls.close()


def serve_keepalive(tls):
    while read_head(tls) is not None:
        try:
            tls.sendall(RESPONSE_OK)
        except OSError:
            break
    tls.close()


def serve_once(tls, mode):
    if read_head(tls) is None:
        tls.close()
        return
    if mode in ("close_nonotify", "close_notify"):
        resp = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY
    elif mode == "cl_nonotify":
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + BODY
    elif mode == "chunked_nonotify":
        resp = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"190\r\n" + BODY[:400] + b"\r\n"
                + b"190\r\n" + BODY[400:800] + b"\r\n"
                + b"c8\r\n" + BODY[800:] + b"\r\n"
                + b"0\r\n\r\n")
    else:  # short_nonotify
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + BODY
    try:
        tls.sendall(resp)
    except OSError:
        tls.close()
        return
    if mode != "close_notify":
        fin_without_notify(tls)
        return
    # unwrap() sends close_notify and then waits for the client's (bounded by
    # the timeout); a client that just closes makes it raise, which is fine.
    tls.settimeout(DRAIN_S)
    try:
        raw = tls.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        tls.close()
        return
    fin_plain(raw)


def handle(conn, mode, ctx, slots):
    try:
        conn.settimeout(IO_TIMEOUT_S)
        if mode == "plain":
            try:
                conn.recv(16384)
                conn.sendall(RESPONSE_OK)
            except OSError:
                pass
            fin_plain(conn)
            return
        if mode == "garbage":
            try:
                conn.sendall(b"\x17\x03\x03\xff\xff" + os.urandom(59))
            except OSError:
                pass
            fin_plain(conn)
            return
        if mode == "reset":
            try:
                conn.recv(16384)
            except OSError:
                pass
            rst(conn)
            return
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            # The client refused the handshake (or could not do it): that is
            # what most tests against these servers expect.
            conn.close()
            return
        if mode in ("tls11", "anon"):
            serve_keepalive(tls)
        elif mode == "pending_poison":
            serve_poison(tls)
        else:
            serve_once(tls, mode)
    except Exception as e:  # noqa: BLE001 - a test helper reports, never dies
        print("tls_odd.py: %s: %r" % (mode, e), file=sys.stderr)
        try:
            conn.close()
        except OSError:
            pass
    finally:
        slots.release()


MODES = ("tls11", "anon", "plain", "garbage", "reset", "close_nonotify", "close_notify",
         "cl_nonotify", "chunked_nonotify", "short_nonotify", "pending_poison")


def watch_stdin():
    # EOF on stdin: the parent closed the pipe or died.
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        print("usage: tls_odd.py {%s} CERTDIR" % "|".join(MODES), file=sys.stderr)
        return 2
    mode, certdir = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
    ctx = None
    if mode not in ("plain", "garbage", "reset"):
        ctx = make_context(mode, certdir)

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    sys.stdout.write("%d\n" % lsock.getsockname()[1])
    sys.stdout.flush()
    threading.Thread(target=watch_stdin, daemon=True).start()

    slots = threading.BoundedSemaphore(MAX_CONNS)
    while True:
        try:
            conn, _ = lsock.accept()
        except InterruptedError:
            continue
        except OSError as e:
            print("tls_odd.py: accept: %r" % (e,), file=sys.stderr)
            time.sleep(0.05)
            continue
        if not slots.acquire(blocking=False):
            rst(conn)
            continue
        threading.Thread(target=handle, args=(conn, mode, ctx, slots), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
