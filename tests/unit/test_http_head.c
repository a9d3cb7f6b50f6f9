/* The response-head parser, byte by byte. Every case runs four ways and
 * must give the same result each time: the whole buffer at once (with and
 * without a scan cursor), every prefix in turn with one cursor carried
 * along (one byte per call), and for every split point a first call on the
 * prefix followed by a call on the whole. Each prefix is copied into an
 * allocation of exactly its size, so ASan catches a read past it. Case
 * labels (M..) are those of the strictness table in
 * docs/internals/http-codec.md. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/http.h"
#include "runtime/error.h"

#define D10  "0123456789"
#define D100 D10 D10 D10 D10 D10 D10 D10 D10 D10 D10

/* Expected fields of a successful parse. */
struct head_expect {
  int status;
  int minor;
  int64_t cl;
  int chunked;
  int close;
  unsigned nheaders;
  enum xfer__http_framing framing; /* for GET */
  const char *location;            /* NULL: none */
};

struct head_case {
  const char *name;
  const char *in;
  size_t len;
  int err;      /* 0: success, else the XFERE_ code */
  size_t extra; /* bytes after the head (body bytes) */
  struct head_expect e;
};

#define OK(n, s, ...)                          \
  {                                            \
    n, s, sizeof(s) - 1, 0, 0, { __VA_ARGS__ } \
  }
#define OKX(n, s, x, ...)                      \
  {                                            \
    n, s, sizeof(s) - 1, 0, x, { __VA_ARGS__ } \
  }
#define ERR(n, s, code)                 \
  {                                     \
    n, s, sizeof(s) - 1, code, 0, { 0 } \
  }

#define B_NONE  XFER__HTTP_BODY_NONE
#define B_LEN   XFER__HTTP_BODY_LENGTH
#define B_CHUNK XFER__HTTP_BODY_CHUNKED
#define B_CLOSE XFER__HTTP_BODY_CLOSE

#define E8  XFERE_WEIRD_SERVER_REPLY
#define E1  XFERE_UNSUPPORTED_PROTOCOL
#define E61 XFERE_BAD_CONTENT_ENCODING

static const struct head_case cases[] = {
    /* status    minor cl chunked close nheaders framing location */
    OK("basic", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 200, 1, 5, 0, 0, 1, B_LEN, NULL),
    OKX("basic with body after", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 5, 200, 1, 5,
        0, 0, 1, B_LEN, NULL),
    /* Status line */
    OK("M01 LF-only head", "HTTP/1.1 200 OK\nContent-Length: 5\n\n", 200, 1, 5, 0, 0, 1, B_LEN,
       NULL),
    OK("M01 mixed line ends", "HTTP/1.1 200 OK\r\nA: b\nContent-Length: 5\r\n\n", 200, 1, 5, 0, 0,
       2, B_LEN, NULL),
    ERR("M02 bare CR in status line", "HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", E8),
    ERR("M03 HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", E1),
    ERR("M04 HTTP/2", "HTTP/2 200\r\n\r\n", E8),
    ERR("M04 HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", E8),
    ERR("M05 lower-case http/", "http/1.1 200 OK\r\n\r\n", E8),
    ERR("M05 HTP/", "HTP/1.1 200 OK\r\n\r\n", E1),
    ERR("M06 one-digit status", "HTTP/1.1 2 OK\r\n\r\n", E1),
    ERR("M06 two-digit status", "HTTP/1.1 20 OK\r\n\r\n", E1),
    ERR("M06 four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", E1),
    ERR("M07 negative status", "HTTP/1.1 -12 OK\r\n\r\n", E1),
    ERR("M08 100-digit status", "HTTP/1.1 9" D100 " OK\r\n\r\n", E1),
    ERR("M09 100-digit minor version", "HTTP/1." D100 " 200 OK\r\n\r\n", E1),
    OK("M10 status 999", "HTTP/1.1 999 OK\r\n\r\n", 999, 1, -1, 0, 0, 0, B_CLOSE, NULL),
    ERR("M10 status 099", "HTTP/1.1 099 OK\r\n\r\n", E1),
    OK("M11 no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 200, 1, 0, 0, 0, 1, B_NONE,
       NULL),
    OK("M11 empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 200, 1, 0, 0, 0, 1, B_NONE,
       NULL),
    OK("reason with spaces and obs-text", "HTTP/1.1 404 Not \xc3\xa9 Found\r\n\r\n", 404, 1, -1, 0,
       0, 0, B_CLOSE, NULL),
    ERR("M12 two spaces before status", "HTTP/1.1  200 OK\r\n\r\n", E1),
    ERR("tab after version", "HTTP/1.1\t200 OK\r\n\r\n", E1),
    ERR("HTTP/0.9 version", "HTTP/0.9 200 OK\r\n\r\n", E1),
    ERR("HTTP/11.1 version", "HTTP/11.1 200 OK\r\n\r\n", E1),
    ERR("version only", "HTTP/1.1\r\n\r\n", E1),
    ERR("M13 NUL in status line", "HTTP/1.1 200 O\0K\r\n\r\n", E8),
    ERR("M13 NUL in version", "HTTP/1.\0 200 OK\r\n\r\n", E8),
    ERR("M13 NUL in header name", "HTTP/1.1 200 OK\r\nFo\0o: x\r\n\r\n", E8),
    ERR("M13 NUL in header value", "HTTP/1.1 200 OK\r\nFoo: x\0y\r\n\r\n", E8),
    ERR("M14 no status line", "hello world\r\n\r\n", E1),
    ERR("M14 no status line, no end", "hello world", E1),
    ERR("M15 body bytes where a head belongs", "ABCDE", E1),
    ERR("leading whitespace", " HTTP/1.1 200 OK\r\n\r\n", E1),
    ERR("leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n", E1),
    ERR("control byte in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", E8),
    /* Header section */
    ERR("M17 no colon", "HTTP/1.1 200 OK\r\nFoo bar\r\n\r\n", E8),
    ERR("M17 name only", "HTTP/1.1 200 OK\r\nFoo\r\n\r\n", E8),
    ERR("M18 space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", E8),
    ERR("M19 brace in name", "HTTP/1.1 200 OK\r\nFo{o: x\r\n\r\n", E8),
    ERR("M19 control in name", "HTTP/1.1 200 OK\r\nFo\x01o: x\r\n\r\n", E8),
    ERR("M19 empty name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", E8),
    ERR("M19 DEL in name", "HTTP/1.1 200 OK\r\nFoo\x7f: x\r\n\r\n", E8),
    ERR("M20 control in value", "HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", E8),
    ERR("M20 DEL in value", "HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", E8),
    ERR("M21 bare CR in value", "HTTP/1.1 200 OK\r\nServer: a\rfake\r\n\r\n", E8),
    ERR("M21 bare CR as separator",
        "HTTP/1.1 200 OK\r\nX-Abc: \rTransfer-Encoding: chunked\r\n\r\n", E8),
    ERR("bare CR before final LF", "HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n", E8),
    ERR("M22 obs-fold SP", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n", E8),
    ERR("M22 obs-fold HTAB", "HTTP/1.1 200 OK\r\nX-A: 1\r\n\t2\r\n\r\n", E8),
    ERR("M23 folded Transfer-Encoding",
        "HTTP/1.1 200 OK\r\nA: b\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", E8),
    ERR("M23 folded Content-Length", "HTTP/1.1 200 OK\r\nA: b\r\nContent-Length:\r\n 5\r\n\r\n",
        E8),
    ERR("M24 space before first header", "HTTP/1.1 200 OK\r\n Date: x\r\n\r\n", E8),
    OK("M29 codec part: a complete head is found", "HTTP/1.1 200 OK\r\nA: b\r\n\r\n", 200, 1, -1, 0,
       0, 1, B_CLOSE, NULL),
    OK("M30 same Location twice",
       "HTTP/1.1 301 Moved\r\nLocation: /a\r\nLocation:  /a \r\nContent-Length: 0\r\n\r\n", 301, 1,
       0, 0, 0, 3, B_NONE, "/a"),
    ERR("M30 two different Location", "HTTP/1.1 301 Moved\r\nLocation: /a\r\nLocation: /b\r\n\r\n",
        E8),
    OK("Location trimmed", "HTTP/1.1 302 Found\r\nlocation: \t http://x/y?z \t\r\n\r\n", 302, 1, -1,
       0, 0, 1, B_CLOSE, "http://x/y?z"),
    OK("empty Location ignored", "HTTP/1.1 302 Found\r\nLocation:   \r\n\r\n", 302, 1, -1, 0, 0, 1,
       B_CLOSE, NULL),
    OK("M31 obs-text in value", "HTTP/1.1 200 OK\r\nX: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n",
       200, 1, 0, 0, 0, 2, B_NONE, NULL),
    OK("empty value and tab in value", "HTTP/1.1 200 OK\r\nX:\r\nY: a\tb\r\n\r\n", 200, 1, -1, 0, 0,
       2, B_CLOSE, NULL),
    /* Content-Length */
    ERR("M32 negative", "HTTP/1.1 200 OK\r\nContent-Length: -6\r\n\r\n", E8),
    ERR("M33 trailing garbage", "HTTP/1.1 200 OK\r\nContent-Length: 6badness\r\n\r\n", E8),
    ERR("M33 garbage then a valid line",
        "HTTP/1.1 200 OK\r\nContent-Length: 6badness\r\nContent-Length: 44\r\n\r\n", E8),
    ERR("M34 not a number", "HTTP/1.1 200 OK\r\nContent-Length: crap\r\n\r\n", E8),
    ERR("M34 empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", E8),
    ERR("M34 empty with spaces", "HTTP/1.1 200 OK\r\nContent-Length:   \r\n\r\n", E8),
    ERR("M34 CR before -6", "HTTP/1.1 200 OK\r\nContent-Length: \r-6\r\n\r\n", E8),
    ERR("M35 above 2^64", "HTTP/1.1 200 OK\r\nContent-Length: 36893488147419103232\r\n\r\n", E8),
    ERR("M35 2^63", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", E8),
    OK("M35 2^63-1 is fine", "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\n", 200,
       1, INT64_MAX, 0, 0, 1, B_LEN, NULL),
    ERR("M36 plus sign", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", E8),
    ERR("M36 hex", "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", E8),
    ERR("M36 underscore", "HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n", E8),
    ERR("M36 inner space", "HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n", E8),
    ERR("M36 decimal point", "HTTP/1.1 200 OK\r\nContent-Length: 5.0\r\n\r\n", E8),
    ERR("M36 Arabic-Indic digit", "HTTP/1.1 200 OK\r\nContent-Length: \xd9\xa5\r\n\r\n", E8),
    ERR("trailing comma", "HTTP/1.1 200 OK\r\nContent-Length: 6,\r\n\r\n", E8),
    OK("M37 twice", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 6\r\n\r\n", 200, 1, 6,
       0, 0, 2, B_LEN, NULL),
    OK("M37 list", "HTTP/1.1 200 OK\r\nContent-Length: 6, 6\r\n\r\n", 200, 1, 6, 0, 0, 1, B_LEN,
       NULL),
    OK("M37 list with leading zero", "HTTP/1.1 200 OK\r\nContent-Length: 6,06,6\r\n\r\n", 200, 1, 6,
       0, 0, 1, B_LEN, NULL),
    OK("M37 list with spaces", "HTTP/1.1 200 OK\r\nContent-Length: 6,    6\r\n\r\n", 200, 1, 6, 0,
       0, 1, B_LEN, NULL),
    ERR("M38 44 then 6", "HTTP/1.1 200 OK\r\nContent-Length: 44\r\nContent-Length: 6\r\n\r\n", E8),
    ERR("M38 list 6, 7", "HTTP/1.1 200 OK\r\nContent-Length: 6, 7\r\n\r\n", E8),
    OK("M39 trailing OWS", "HTTP/1.1 200 OK\r\nContent-Length: 6   \r\n\r\n", 200, 1, 6, 0, 0, 1,
       B_LEN, NULL),
    OK("M39 leading OWS", "HTTP/1.1 200 OK\r\nContent-Length:  \t6\r\n\r\n", 200, 1, 6, 0, 0, 1,
       B_LEN, NULL),
    OK("Content-Length name case", "HTTP/1.1 200 OK\r\ncontent-LENGTH: 7\r\n\r\n", 200, 1, 7, 0, 0,
       1, B_LEN, NULL),
    OK("Content-Length-X is not Content-Length", "HTTP/1.1 200 OK\r\nContent-Length-X: 7\r\n\r\n",
       200, 1, -1, 0, 0, 1, B_CLOSE, NULL),
    OK("Content-Length 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 200, 1, 0, 0, 0, 1,
       B_NONE, NULL),
    /* Transfer-Encoding */
    OK("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, 1, -1, 1, 0, 1,
       B_CHUNK, NULL),
    OK("chunked upper case", "HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n", 200, 1, -1, 1,
       0, 1, B_CHUNK, NULL),
    OK("identity, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity, chunked\r\n\r\n", 200,
       1, -1, 1, 0, 1, B_CHUNK, NULL),
    OK("identity only reads to close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
       200, 1, -1, 0, 0, 1, B_CLOSE, NULL),
    OK("empty list elements", "HTTP/1.1 200 OK\r\nTransfer-Encoding: , chunked ,\r\n\r\n", 200, 1,
       -1, 1, 0, 1, B_CHUNK, NULL),
    ERR("empty Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", E8),
    ERR("M45 CL then TE",
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n", E8),
    ERR("M45 TE then CL",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n", E8),
    ERR("CL with TE identity",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 1\r\n\r\n", E8),
    ERR("M46 chunked, gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", E61),
    ERR("M46 chunked then identity line",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
        E61),
    ERR("M46 chunked, identity", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
        E61),
    ERR("M47 gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", E61),
    ERR("M48 chunked, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        E8),
    ERR("M48 two chunked lines",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", E8),
    ERR("M49 chunkedchunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedchunked\r\n\r\n", E61),
    ERR("M49 xchunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", E61),
    ERR("M49 chunked;q=1", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", E61),
    ERR("M50 HTTP/1.0 with TE", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", E8),
    /* 1xx and body-less statuses */
    OKX("M69 100 Continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 19, 100, 1, -1,
        0, 0, 0, B_NONE, NULL),
    OK("M70 102", "HTTP/1.1 102 Processing\r\n\r\n", 102, 1, -1, 0, 0, 0, B_NONE, NULL),
    OK("M70 103 with Link",
       "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>\r\n\r\n", 103, 1,
       -1, 0, 0, 2, B_NONE, NULL),
    OK("M70 104", "HTTP/1.1 104 x\r\n\r\n", 104, 1, -1, 0, 0, 0, B_NONE, NULL),
    ERR("M72 101 Switching Protocols",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        E8),
    OKX("M73 204 with Content-Length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
        5, 204, 1, 5, 0, 0, 1, B_NONE, NULL),
    OK("M73 204 with chunked", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", 204,
       1, -1, 1, 0, 1, B_NONE, NULL),
    OK("M74 304 with Content-Length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 677777\r\n\r\n",
       304, 1, 677777, 0, 0, 1, B_NONE, NULL),
    OK("M76 no framing on keep-alive", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", 200, 1, -1, 0, 0, 1,
       B_CLOSE, NULL),
    OK("M77 HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", 200, 0, 3,
       0, 1, 1, B_LEN, NULL),
    OK("M77 HTTP/1.0 with keep-alive",
       "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\n", 200, 0, 3, 0, 0, 2,
       B_LEN, NULL),
    OK("HTTP/1.1 Connection: close", "HTTP/1.1 200 OK\r\nConnection: foo, close\r\n\r\n", 200, 1,
       -1, 0, 1, 1, B_CLOSE, NULL),
    OK("HTTP/1.1 Connection: keep-alive", "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n", 200,
       1, -1, 0, 0, 1, B_CLOSE, NULL),
};

static char *copy_of(const char *s, size_t n) {
  char *p = malloc(n ? n : 1);
  cr_assert(p);
  memcpy(p, s, n);
  return p;
}

/* Parses an exact-size copy of in[0..n) so ASan sees any over-read. */
static int parse_copy(struct xfer__http_head *h, const char *in, size_t n, size_t *scanned,
                      const struct xfer__http_limits *lim, const char **errmsg,
                      ptrdiff_t *loc_off) {
  char *p = copy_of(in, n);
  int rc;
  *errmsg = NULL;
  rc = xfer__http_parse_head(h, p, n, scanned, lim, errmsg);
  *loc_off = (rc > 0 && h->location) ? h->location - p : -1;
  free(p);
  return rc;
}

/* Compares a result with the reference (whole-buffer) result. */
static void same_result(const char *name, const char *mode, size_t at, int rc,
                        const struct xfer__http_head *h, ptrdiff_t loc, const char *msg, int rc0,
                        const struct xfer__http_head *h0, ptrdiff_t loc0) {
  cr_expect_eq(rc, rc0, "%s: %s at %zu: rc %d, whole gave %d", name, mode, at, rc, rc0);
  if (rc != rc0)
    return;
  if (rc < 0)
    cr_expect(msg && msg[0], "%s: %s at %zu: no error sentence", name, mode, at);
  if (rc <= 0)
    return;
  cr_expect(h->status == h0->status && h->minor_version == h0->minor_version &&
                h->head_len == h0->head_len && h->nheaders == h0->nheaders &&
                h->content_length == h0->content_length && h->chunked == h0->chunked &&
                h->conn_close == h0->conn_close && h->location_len == h0->location_len &&
                loc == loc0,
            "%s: %s at %zu: fields differ from the whole-buffer parse", name, mode, at);
}

/* Runs one input through every delivery mode; returns the whole-buffer
 * result and fills *h0. With exhaustive == 0 the split points are sampled
 * (large inputs), and prefixes are not copied. */
static int run_modes(const char *name, const char *in, size_t len,
                     const struct xfer__http_limits *lim, struct xfer__http_head *h0,
                     const char **msg0, int exhaustive) {
  struct xfer__http_head h;
  ptrdiff_t loc0, loc;
  const char *msg;
  size_t k, scanned = 0, stride = exhaustive ? 1 : 4099;
  int rc0, rc, done = 0;

  rc0 = parse_copy(h0, in, len, NULL, lim, msg0, &loc0);
  /* The same with a fresh cursor. */
  rc = parse_copy(&h, in, len, &scanned, lim, &msg, &loc);
  same_result(name, "whole with cursor", len, rc, &h, loc, msg, rc0, h0, loc0);

  /* One byte per call: every prefix, one cursor. 0 until the first
   * non-zero, which must be the final result. */
  scanned = 0;
  for (k = 0; k <= len && !done; k++) {
    if (exhaustive) {
      rc = parse_copy(&h, in, k, &scanned, lim, &msg, &loc);
    } else {
      msg = NULL;
      rc = xfer__http_parse_head(&h, in, k, &scanned, lim, &msg);
      loc = (rc > 0 && h.location) ? h.location - in : -1;
    }
    if (rc == 0)
      continue;
    done = 1;
    same_result(name, "byte by byte", k, rc, &h, loc, msg, rc0, h0, loc0);
    if (rc > 0)
      cr_expect_eq(k, (size_t)rc, "%s: complete at %zu, head_len %d", name, k, rc);
  }
  if (!done)
    cr_expect_eq(rc0, 0, "%s: byte by byte never finished, whole gave %d", name, rc0);

  /* Two calls: a prefix, then the whole, with the cursor in between. */
  for (k = 0; k <= len; k += stride) {
    scanned = 0;
    if (exhaustive) {
      rc = parse_copy(&h, in, k, &scanned, lim, &msg, &loc);
    } else {
      msg = NULL;
      rc = xfer__http_parse_head(&h, in, k, &scanned, lim, &msg);
      loc = (rc > 0 && h.location) ? h.location - in : -1;
    }
    if (rc == 0)
      rc = parse_copy(&h, in, len, &scanned, lim, &msg, &loc);
    same_result(name, "split", k, rc, &h, loc, msg, rc0, h0, loc0);
  }
  return rc0;
}

Test(http_head, matrix_rows_in_every_delivery_mode) {
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct head_case *c = &cases[i];
    struct xfer__http_head h;
    const char *msg = NULL;
    int rc = run_modes(c->name, c->in, c->len, NULL, &h, &msg, 1);
    if (c->err) {
      cr_expect(rc < 0 && xfer__code_of(rc, XFERE_OK) == (xfer_code)c->err,
                "%s: rc %d, want code %d", c->name, rc, c->err);
      continue;
    }
    /* run_modes parsed copies that are gone: parse the case itself so the
     * views can be checked. */
    rc = xfer__http_parse_head(&h, c->in, c->len, NULL, NULL, &msg);
    cr_expect_eq(rc, (int)(c->len - c->extra), "%s: rc %d, want %zu", c->name, rc,
                 c->len - c->extra);
    if (rc <= 0)
      continue;
    cr_expect_eq(h.status, c->e.status, "%s: status %d", c->name, h.status);
    cr_expect_eq(h.minor_version, c->e.minor, "%s: minor %d", c->name, h.minor_version);
    cr_expect_eq(h.content_length, c->e.cl, "%s: content_length %lld", c->name,
                 (long long)h.content_length);
    cr_expect_eq(h.chunked, (unsigned)c->e.chunked, "%s: chunked", c->name);
    cr_expect_eq(h.conn_close, (unsigned)c->e.close, "%s: conn_close", c->name);
    cr_expect_eq(h.nheaders, c->e.nheaders, "%s: nheaders %u", c->name, h.nheaders);
    cr_expect_eq((int)xfer__http_framing(&h, 0), (int)c->e.framing, "%s: framing %d", c->name,
                 (int)xfer__http_framing(&h, 0));
    /* M75: a response to HEAD never has a body. */
    cr_expect_eq((int)xfer__http_framing(&h, 1), B_NONE, "%s: framing for HEAD", c->name);
    if (c->e.location) {
      cr_expect(h.location && h.location_len == strlen(c->e.location) &&
                    memcmp(h.location, c->e.location, h.location_len) == 0,
                "%s: location", c->name);
    } else {
      cr_expect_null(h.location, "%s: location should be NULL", c->name);
    }
  }
}

Test(http_head, m29_head_without_end_stays_incomplete) {
  /* The transfer layer turns EOF here into XFERE_PARTIAL_FILE; the codec
   * part is that no prefix of an unterminated head is an error. */
  static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n";
  struct xfer__http_head h;
  const char *msg = NULL;
  cr_expect_eq(run_modes("M29", in, sizeof in - 1, NULL, &h, &msg, 1), 0);
}

Test(http_head, m69_interim_then_final_response) {
  static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  struct xfer__http_head h;
  const char *msg = NULL, *p = in;
  size_t left = sizeof in - 1;
  int statuses[3], i;
  for (i = 0; i < 3; i++) {
    int rc = xfer__http_parse_head(&h, p, left, NULL, NULL, &msg);
    cr_assert_gt(rc, 0);
    statuses[i] = h.status;
    p += rc;
    left -= (size_t)rc;
  }
  cr_expect(statuses[0] == 100 && statuses[1] == 103 && statuses[2] == 200);
  cr_expect_eq(h.nheaders, 1u, "the 1xx headers are not merged into the final head");
  cr_expect_eq(xfer__http_framing(&h, 0), XFER__HTTP_BODY_LENGTH);
  cr_expect_eq(left, (size_t)2);
}

Test(http_head, next_line_walks_every_line) {
  static const char in[] = "HTTP/1.1 200 OK\r\nA: 1\nB: 2\r\n\r\nbody";
  static const char *const want[] = {"HTTP/1.1 200 OK\r\n", "A: 1\n", "B: 2\r\n", "\r\n"};
  struct xfer__http_head h;
  const char *msg = NULL, *line;
  size_t pos = 0, n;
  unsigned i = 0;
  int rc = xfer__http_parse_head(&h, in, sizeof in - 1, NULL, NULL, &msg);
  cr_assert_eq(rc, (int)(sizeof in - 1 - 4));
  while (xfer__http_next_line(in, h.head_len, &pos, &line, &n)) {
    cr_assert_lt(i, 4u);
    cr_expect(n == strlen(want[i]) && memcmp(line, want[i], n) == 0, "line %u", i);
    i++;
  }
  cr_expect_eq(i, 4u);
  cr_expect_eq(pos, h.head_len);
}

/* ---- Limits ------------------------------------------------------------ */

/* Builds "HTTP/1.1 200 OK\r\n" + lines + "\r\n" into a malloc'd buffer. */
static char *build_head(size_t nlines, size_t line_len, int terminate, size_t *len) {
  static const char status[] = "HTTP/1.1 200 OK\r\n";
  size_t cap = sizeof status + nlines * line_len + 2, o = 0, i;
  char *b = malloc(cap);
  cr_assert(b);
  memcpy(b, status, sizeof status - 1);
  o = sizeof status - 1;
  for (i = 0; i < nlines; i++) {
    /* "X:" + filler + "\r\n": line_len bytes in all (line_len >= 4). */
    b[o] = 'X';
    b[o + 1] = ':';
    memset(b + o + 2, 'a', line_len - 4);
    b[o + line_len - 2] = '\r';
    b[o + line_len - 1] = '\n';
    o += line_len;
  }
  if (terminate) {
    b[o++] = '\r';
    b[o++] = '\n';
  }
  *len = o;
  return b;
}

static int run_built(const char *name, size_t nlines, size_t line_len, int terminate,
                     const struct xfer__http_limits *lim, int exhaustive) {
  struct xfer__http_head h;
  const char *msg = NULL;
  size_t len;
  char *b = build_head(nlines, line_len, terminate, &len);
  int rc = run_modes(name, b, len, lim, &h, &msg, exhaustive);
  if (rc < 0)
    cr_expect(msg && msg[0], "%s: no error sentence", name);
  free(b);
  return rc;
}

Test(http_head, m25_one_line_over_100_kib, .timeout = 120) {
  /* A line of exactly 100 KiB (its CRLF included) is accepted. */
  cr_expect_gt(run_built("100 KiB line", 1, 100 * 1024, 1, NULL, 0), 0);
  cr_expect_eq(run_built("M25 100 KiB + 1 line", 1, 100 * 1024 + 1, 1, NULL, 0), XFER__ETOOLARGE);
}

Test(http_head, m16_long_status_line_fails_before_more_is_buffered) {
  /* A 1 MiB status line with no LF: the error comes as soon as the line
   * reaches the limit, not when the buffer reaches 1 MiB. */
  size_t len = 1024 * 1024, scanned = 0, k;
  char *b = malloc(len);
  const char *msg = NULL;
  struct xfer__http_head h;
  int rc = 0;
  cr_assert(b);
  memcpy(b, "HTTP/1.1 200 ", 13);
  memset(b + 13, 'x', len - 13);
  for (k = 1; k <= len && rc == 0; k++)
    rc = xfer__http_parse_head(&h, b, k, &scanned, NULL, &msg);
  cr_expect_eq(rc, XFER__ETOOLARGE);
  cr_expect_eq(k - 1, (size_t)XFER__HTTP_MAX_LINE, "failed at %zu bytes", k - 1);
  cr_expect(msg && msg[0]);
  cr_expect_eq(xfer__http_parse_head(&h, b, len, NULL, NULL, &msg), XFER__ETOOLARGE);
  free(b);
}

Test(http_head, m26_header_count, .timeout = 120) {
  cr_expect_gt(run_built("5000 headers", 5000, 8, 1, NULL, 0), 0);
  cr_expect_eq(run_built("M26 5001 headers", 5001, 8, 1, NULL, 0), XFER__ETOOLARGE);
  /* Refused at the 5001st line even before the head ends. */
  cr_expect_eq(run_built("M26 5001 headers, unterminated", 5001, 8, 0, NULL, 0), XFER__ETOOLARGE);
}

Test(http_head, m27_head_size, .timeout = 120) {
  /* 17 bytes of status line, then 4 KiB lines: 74 of them and the final
   * CRLF make 303123 bytes; 75 make 307219, over the 307200 limit. */
  struct xfer__http_head h;
  const char *msg = NULL;
  size_t len, o = 17 + 74 * 4096, last = 307200 - 17 - 74 * 4096 - 2;
  char *big;
  cr_expect_eq(run_built("under 300 KiB", 74, 4096, 1, NULL, 0), 17 + 74 * 4096 + 2);
  cr_expect_eq(run_built("M27 300 KiB + 1 in 4 KiB lines", 75, 4096, 1, NULL, 0), XFER__EHEADSIZE);
  cr_expect_eq(run_built("M27 unterminated", 80, 4096, 0, NULL, 0), XFER__EHEADSIZE);
  /* Exactly 300 KiB: the 75th line shortened to 4077 bytes. */
  big = build_head(75, 4096, 1, &len);
  memset(big + o + 2, 'a', last - 4);
  memcpy(big + o + last - 2, "\r\n\r\n", 4);
  cr_expect_eq(xfer__http_parse_head(&h, big, o + last + 2, NULL, NULL, &msg), 307200);
  /* One byte more before the end: over the limit. */
  memcpy(big + o + last - 2, "a\r\n\r\n", 5);
  cr_expect_eq(xfer__http_parse_head(&h, big, o + last + 3, NULL, NULL, &msg), XFER__EHEADSIZE);
  cr_expect(msg && msg[0]);
  free(big);
}

Test(http_head, small_limits_every_split_point) {
  /* The same three limits, small enough for the exhaustive harness. */
  static const struct xfer__http_limits lim = {200, 40, 5};
  cr_expect_gt(run_built("5 headers", 5, 10, 1, &lim, 1), 0);
  cr_expect_eq(run_built("6 headers", 6, 10, 1, &lim, 1), XFER__ETOOLARGE);
  cr_expect_eq(run_built("6 headers, unterminated", 6, 10, 0, &lim, 1), XFER__ETOOLARGE);
  cr_expect_gt(run_built("40-byte line", 1, 40, 1, &lim, 1), 0);
  cr_expect_eq(run_built("41-byte line", 1, 41, 1, &lim, 1), XFER__ETOOLARGE);
  cr_expect_eq(run_built("41-byte line, unterminated", 1, 41, 0, &lim, 1), XFER__ETOOLARGE);
  cr_expect_gt(run_built("head of 199", 5, 36, 1, &lim, 1), 0);
  cr_expect_eq(run_built("head over 200", 5, 40, 1, &lim, 1), XFER__EHEADSIZE);
}

Test(http_head, cursor_from_another_buffer_is_not_trusted) {
  static const char a[] = "HTTP/1.1 200 OK\r\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  static const char b[] = "HTTP/1.1 200 OK\r\n\r\n";
  struct xfer__http_head h;
  const char *msg = NULL;
  size_t scanned = 0;
  cr_expect_eq(xfer__http_parse_head(&h, a, sizeof a - 1, &scanned, NULL, &msg), 0);
  cr_expect_eq(xfer__http_parse_head(&h, b, sizeof b - 1, &scanned, NULL, &msg),
               (int)(sizeof b - 1));
}

Test(http_head, error_sentences_name_the_problem) {
  /* The transfer tests (tests/net/test_malformed.c) look for these words
   * in XFEROPT_ERRORBUFFER. */
  static const struct {
    const char *in;
    const char *word;
  } rows[] = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", "Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\n", "Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       "Content-Length"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "coding"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "coding"},
      {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "Transfer-Encoding"},
      {"HTTP/1.1 200 O\0K\r\n\r\n", "NUL"},
      {"HTTP/1.1 200 OK\r\nFoo bar\r\n\r\n", "colon"},
      {"HTTP/1.1 200 OK\rX: y\r\n\r\n", "CR"},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"},
      {"HTTP/1.1 200 OK\r\nX: 1\r\n 2\r\n\r\n", "obs-fold"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct xfer__http_head h;
    const char *msg = NULL;
    /* strlen stops at the NUL row's NUL: give that row its full length. */
    size_t len = strlen(rows[i].in);
    if (strcmp(rows[i].word, "NUL") == 0)
      len = sizeof "HTTP/1.1 200 O\0K\r\n\r\n" - 1;
    cr_expect_lt(xfer__http_parse_head(&h, rows[i].in, len, NULL, NULL, &msg), 0, "row %zu", i);
    cr_expect(msg && strstr(msg, rows[i].word), "row %zu: \"%s\" lacks \"%s\"", i, msg ? msg : "",
              rows[i].word);
  }
}
