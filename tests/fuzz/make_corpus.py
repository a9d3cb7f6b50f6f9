#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz harness into OUTDIR/<harness>/.

Usage: make_corpus.py OUTDIR

Each seed is a harness's choice bytes followed by its payload, in the layout
that harness's LLVMFuzzerTestOneInput() reads (see the comment above each
function below). The seeds cover the codec's documented cases (the strictness
table of docs/internals/http-codec.md) and any input a fuzzer once found
failing (regression seeds, named so). The output is the same on every run, so
the corpus is generated at build time and nothing binary is kept in the tree.
"""
import os
import shutil
import struct
import sys


def u8(v):
    return struct.pack("<B", v & 0xFF)


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


# ---- fuzz_response ---------------------------------------------------------
# flags u8 (1 HEAD request, 2 on_data fails, 4 with a positive code, 8 also
# one byte per call), limits (which u8, head u16, line u16, count u16; see
# limits.h), fail_after u16, ncuts u8, cuts u16 * ncuts, then the stream.

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;a=b;c=\"x;y\"\r\nhello\r\n6 ; name\r\n world\r\n0\r\nX-T: 1\r\nY: z\r\n\r\nexcess",
    b"HTTP/1.0 200 OK\r\n\r\nread until close",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: </a>\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 301 Moved\r\nLocation:  /next  \r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 3\n\nabc",
    b"HTTP/1.1 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 6, 6\r\n\r\nabcdef",
    # Refused: one per row of the strictness table.
    b"hello world",
    b"HTTP/1.2 200 OK\r\n\r\n",
    b"HTTP/2 200\r\n\r\n",
    b"http/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1  200 OK\r\n\r\n",
    b"HTTP/1.1 099 Low\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad\rCR: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nNul: a\x00b\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nName : v\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n Leading: ws\r\n\r\n",
    b"HTTP/1.1 302 Found\r\nLocation: /a\r\nLocation: /b\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;\r\nhi\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nContent-Le",
]


def response_seed(stream, flags=0, limits=(0, 0, 0, 0), fail_after=0, cuts=()):
    which, head, line, count = limits
    out = u8(flags) + u8(which) + u16(head) + u16(line) + u16(count) + u16(fail_after)
    out += u8(len(cuts)) + b"".join(u16(c) for c in cuts)
    return out + stream


def response_seeds():
    seeds = {}
    for i, r in enumerate(RESPONSES):
        seeds["whole-%02d" % i] = response_seed(r)
        seeds["bytewise-%02d" % i] = response_seed(r, flags=8)
        seeds["cuts-%02d" % i] = response_seed(r, cuts=(1, 5, len(r) // 2, len(r) - 1))
        seeds["head-%02d" % i] = response_seed(r, flags=1, cuts=(len(r) // 3,))
        seeds["fail-%02d" % i] = response_seed(r, flags=2 | 8, fail_after=2)
    # Small limits, set through the options (head >= 1024, line >= 256,
    # count >= 1), against heads that reach them.
    many = b"HTTP/1.1 200 OK\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(40)) + b"\r\n"
    long_line = b"HTTP/1.1 200 OK\r\nLong: " + b"x" * 400 + b"\r\n\r\n"
    big = b"HTTP/1.1 200 OK\r\n" + b"".join(b"Big%d: %s\r\n" % (i, b"y" * 90) for i in range(20)) + b"\r\n"
    seeds["limit-count"] = response_seed(many, limits=(4, 0, 0, 10), cuts=(30, 100))
    seeds["limit-line"] = response_seed(long_line, limits=(2, 0, 320, 0), cuts=(50,))
    seeds["limit-head"] = response_seed(big, limits=(1, 256, 0, 0), cuts=(700, 1500))
    trailers = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
                + b"".join(b"T%d: v\r\n" % i for i in range(20)) + b"\r\n")
    seeds["limit-trailers"] = response_seed(trailers, flags=8, limits=(4, 0, 0, 5))
    return seeds


# ---- fuzz_chunked ----------------------------------------------------------
# flags u8 (1 damage a byte, 2 also one byte per call, 4 bare LF at the very
# end), seed u32, ntrailers u8, last-chunk style u8, ext kind u8, ext param
# u8, excess u8, damage offset u16, damage byte u8, ncuts u8, cuts u16 *
# ncuts, then chunks of 4 bytes: size u16 (top bit set: the low 15 bits,
# else below 300), style u8 (1 upper-case hex, bits 2-4 leading zeros, 0x20
# the runtime's framer, bits 6-7 extension kind), extension param u8.

def chunked_seed(chunks, flags=0, seed=1, ntrailers=0, last=(0, 0, 0), excess=0,
                 damage=(0, 0), cuts=()):
    out = u8(flags) + u32(seed) + u8(ntrailers) + u8(last[0]) + u8(last[1]) + u8(last[2])
    out += u8(excess) + u16(damage[0]) + u8(damage[1])
    out += u8(len(cuts)) + b"".join(u16(c) for c in cuts)
    for size, style, ext in chunks:
        out += u16(size) + u8(style) + u8(ext)
    return out


def chunked_seeds():
    seeds = {
        "empty": chunked_seed([]),
        "one": chunked_seed([(5, 0, 0)]),
        "framer": chunked_seed([(100, 0x20, 0), (1, 0x20, 0)], last=(0x20, 0, 0)),
        "hexcase-zeros": chunked_seed([(255, 1 | (3 << 2), 0), (4096 | 0x8000, 0, 0)]),
        "ext-name": chunked_seed([(10, 0x40, 0x13)], last=(0, 1, 0x21)),
        "ext-token": chunked_seed([(10, 0x80, 0x5f)], last=(0, 2, 0x47)),
        "ext-quoted": chunked_seed([(10, 0xC0, 0xf6)], last=(0, 3, 0xf2)),
        "trailers": chunked_seed([(3, 0, 0)], ntrailers=8, excess=7),
        "bare-lf-end": chunked_seed([(3, 0, 0)], flags=4, ntrailers=2),
        "bytewise": chunked_seed([(20, 0xC0, 0x35), (7, 0x20, 0), (9, 0x44, 0x12)], flags=2,
                                 ntrailers=3, last=(4, 3, 0x17), excess=3),
        "cuts": chunked_seed([(300, 0, 0), (0x8000 | 100, 0x80, 0x2a)],
                             cuts=(1, 2, 3, 200, 305, 310, 900)),
        "damaged": chunked_seed([(5, 0xC0, 0x33)], flags=1 | 2, damage=(3, 0x0a)),
        "damaged-size": chunked_seed([(5, 0, 0)], flags=1, damage=(0, ord("g"))),
    }
    return seeds


# ---- fuzz_url --------------------------------------------------------------
# base length u16, the URL (that many bytes), then the Location reference.

URLS = [
    (b"http://example.com/a/b?q=1#frag", b"../c?x"),
    (b"https://EXAMPLE.com:443/", b"//other.test:8080/p"),
    (b"http://127.0.0.1:18765/a/./b/../c", b"?only=query"),
    (b"http://[::1]:8080/x", b"/abs/./path/.."),
    (b"http://[::ffff:1.2.3.4]/", b"https://h/"),
    (b"localhost:8080/x", b"rel"),
    (b"example.com", b""),
    (b"http://h/\xc3\xa9t\xc3\xa9?\xff", b"a b"),
    (b"http://h:/empty-port", b"#frag"),
    (b"http://h/a/b/c/d;p?q", b"../../../../g"),
    (b"http://h/a/b", b"g;x?y#s"),
    (b"http://h/a/b", b"ftp://x/"),
    (b"http://user@h/", b""),
    (b"http://h:0/", b""),
    (b"http://h:65536/", b""),
    (b"http://[fe80::1%25eth0]/", b""),
    (b"http://h\x01/", b""),
    (b"gopher://h/", b""),
    (b"http:/h", b""),
    (b"http://", b""),
    (b"http://h/..//../.", b"./..//./"),
]


def url_seeds():
    seeds = {}
    for i, (base, ref) in enumerate(URLS):
        seeds["url-%02d" % i] = u16(len(base)) + base + ref
    return seeds


# ---- fuzz_request ----------------------------------------------------------
# nops u8, then per op: opcode u8 and its argument. Strings are a length u8
# (255: NULL) and the bytes. Opcodes: 0 CUSTOMREQUEST s, 1 USERAGENT s,
# 2 a HTTPHEADER line s, 3 POST u8, 4 UPLOAD u8, 5 NOBODY u8, 6 HTTPGET u8,
# 7 POSTFIELDS s, 8 COPYPOSTFIELDS s, 9 POSTFIELDSIZE u16-2, 10 INFILESIZE
# u16-2, 11 POSTFIELDSIZE_LARGE u32<<16, 12 INFILESIZE_LARGE u32<<16, 13 URL s.

def s8(b):
    return u8(len(b)) + b


def request_seed(*ops):
    out = u8(len(ops))
    for op in ops:
        out += op
    return out


def op_str(code, b):
    return u8(code) + s8(b)


def request_seeds():
    url = lambda b: op_str(13, b)
    hdr = lambda b: op_str(2, b)
    return {
        "get": request_seed(),
        "get-url": request_seed(url(b"http://example.com:8080/a/../b?q=1")),
        "head": request_seed(u8(5) + u8(1)),
        "post-fields": request_seed(op_str(7, b"a=1&b=2")),
        "post-copy-size": request_seed(u8(9) + u16(5), op_str(8, b"abc\x00de")),
        "post-chunked": request_seed(u8(3) + u8(1)),
        "post-sized": request_seed(u8(3) + u8(1), u8(9) + u16(12)),
        "put-sized": request_seed(u8(4) + u8(1), u8(10) + u16(102)),
        "put-chunked": request_seed(u8(4) + u8(1), hdr(b"Transfer-Encoding: chunked")),
        "put-large": request_seed(u8(4) + u8(1), u8(12) + u32(0x12345)),
        "custom": request_seed(op_str(0, b"PROPFIND"), op_str(1, b"agent/1.0")),
        "headers": request_seed(hdr(b"X-A: 1"), hdr(b"Accept:"), hdr(b"X-Empty;"),
                                hdr(b"Host: other"), hdr(b"User-Agent: ua")),
        "cl-match": request_seed(op_str(7, b"abcd"), hdr(b"Content-Length: 4")),
        "cl-mismatch": request_seed(op_str(7, b"abcd"), hdr(b"Content-Length: 5")),
        "cl-and-te": request_seed(u8(3) + u8(1), hdr(b"Content-Length: 0"),
                                  hdr(b"Transfer-Encoding: chunked")),
        "crlf-header": request_seed(hdr(b"X-A: 1\r\nX-Injected: 2")),
        "crlf-method": request_seed(op_str(0, b"GET / HTTP/1.1\r\nX: y\r\n\r\nGET")),
        "crlf-agent": request_seed(op_str(1, b"ua\nX-Injected: 1")),
        "crlf-url": request_seed(url(b"http://h/a\r\nX: 1")),
        "ctl-header": request_seed(hdr(b"X-A: a\x01b")),
        "bad-name": request_seed(hdr(b"Bad Name: x")),
        "semicolon-text": request_seed(hdr(b"X;text")),
        "get-after-post": request_seed(op_str(7, b"x"), u8(6) + u8(1)),
        "nul-in-copy": request_seed(u8(9) + u16(10), op_str(8, b"a\x00b\x00c")),
        # Found by this harness: POSTFIELDSIZE grown after COPYPOSTFIELDS
        # made the transfer send (and duphandle copy) bytes past the copy.
        "regress-copy-then-grow": request_seed(op_str(8, b"ab"), u8(9) + u16(1000)),
    }


# ---- fuzz_tls_glue ---------------------------------------------------------
# library u8 (even wolfSSL, odd OpenSSL when both are built), flags u8 (1 TLS
# 1.2 only, 2 verify the server, 4 keep sessions, 8 close_notify at the end,
# 16 KeyUpdate halfway), request body u16, response body u16, server write
# size u8 and client read size u8 (0 full records, below 128 bytes, above
# steps of 512), nflips u8, per flip (stream offset u16, xor u8), cut offset
# u16 (0 none), then one control byte per delivery (bit 7 as the view; low 7
# bits below 0x70: that many bytes plus one; else a u16 length plus one
# follows); when they run out, the rest is delivered at once.

def tls_seed(lib, flags, req=0, resp=0, wsize=0, rsize=0, flips=(), cut=0, pieces=b""):
    out = u8(lib) + u8(flags) + u16(req) + u16(resp) + u8(wsize) + u8(rsize)
    out += u8(len(flips)) + b"".join(u16(at) + u8(x) for at, x in flips)
    return out + u16(cut) + pieces


def big(n, view=False):
    """A delivery of n bytes (1..65536)."""
    return u8(0x70 | (0x80 if view else 0)) + u16(n - 1)


def tls_glue_seeds():
    seeds = {}
    bytewise = b"\x00" * 3000          # one byte at a time into ibuf
    bytewise_view = b"\x80" * 3000     # one byte at a time as the view
    mixed = b"".join(u8(c) for c in (4, 0x80 | 0x6f, 0, big(700)[0]) ) + u16(699)
    mixed += (u8(0x45) + u8(0x80 | 2) + big(5000, True)) * 6
    for lib in (0, 1):
        name = ("wolfssl", "openssl")[lib]
        for flags, tag in ((0, "13"), (1, "12")):
            f = flags | 8
            seeds["%s-%s-whole" % (name, tag)] = tls_seed(lib, f, 100, 1000)
            seeds["%s-%s-verify-sessions" % (name, tag)] = tls_seed(lib, f | 2 | 4, 40, 20000)
            seeds["%s-%s-bytewise" % (name, tag)] = tls_seed(lib, f, 10, 300, pieces=bytewise)
            seeds["%s-%s-bytewise-view" % (name, tag)] = tls_seed(lib, f, 10, 300,
                                                                 pieces=bytewise_view)
            seeds["%s-%s-mixed" % (name, tag)] = tls_seed(lib, f | 16, 20000, 40000, wsize=200,
                                                          rsize=7, pieces=mixed)
            seeds["%s-%s-small-writes" % (name, tag)] = tls_seed(lib, f, 0, 3000, wsize=3,
                                                                 rsize=130, pieces=b"\x83" * 400)
            seeds["%s-%s-no-close-notify" % (name, tag)] = tls_seed(lib, flags, 5, 5000,
                                                                    pieces=b"\x10\x90" * 50)
            seeds["%s-%s-key-update" % (name, tag)] = tls_seed(lib, f | 16, 5, 50000, rsize=255)
            # Damaged: in the ServerHello, in the certificate's flight, in
            # the response, in the last record (close_notify), and cut in
            # the handshake and in the response.
            seeds["%s-%s-flip-hello" % (name, tag)] = tls_seed(lib, f, 5, 100, flips=((60, 0x80),))
            seeds["%s-%s-flip-header" % (name, tag)] = tls_seed(lib, f, 5, 100, flips=((3, 0x40),),
                                                                pieces=b"\x02" * 100)
            seeds["%s-%s-flip-flight" % (name, tag)] = tls_seed(lib, f | 2, 5, 100,
                                                                flips=((400, 0x01),))
            seeds["%s-%s-flip-data" % (name, tag)] = tls_seed(lib, f, 5, 8000,
                                                              flips=((3000, 0x10),))
            seeds["%s-%s-flip-length" % (name, tag)] = tls_seed(lib, f, 5, 8000,
                                                                flips=((1500, 0x7f),
                                                                       (1501, 0xff)))
            seeds["%s-%s-cut-handshake" % (name, tag)] = tls_seed(lib, f, 5, 100, cut=300,
                                                                  pieces=b"\x05" * 100)
            seeds["%s-%s-cut-response" % (name, tag)] = tls_seed(lib, flags, 5, 30000, cut=9000)
    return seeds


HARNESSES = {
    "chunked": chunked_seeds,
    "request": request_seeds,
    "response": response_seeds,
    "tls_glue": tls_glue_seeds,
    "url": url_seeds,
}


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    out = sys.argv[1]
    for name, make in HARNESSES.items():
        d = os.path.join(out, name)
        # Rebuilt from scratch, so a seed removed here does not linger.
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for seed_name, data in sorted(make().items()):
            with open(os.path.join(d, seed_name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
