/* The response-body decoder, byte by byte. Every case is fed whole, in two
 * pieces for every split point, and one byte per call; each piece is an
 * allocation of exactly its size, so ASan catches a read past it. The
 * result code, the decoded bytes, the bytes consumed and the verdict at EOF
 * must be the same in every mode. Case labels (M..) are those of the
 * strictness table in docs/internals/http-codec.md. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/http.h"
#include "runtime/error.h"

/* Collects decoded spans, and can refuse them after a number of bytes. */
struct sink {
  char *buf;
  size_t len, cap;
  size_t fail_at; /* 0: never; else fail once this many bytes arrived */
  unsigned calls;
  unsigned empty_spans; /* on_data must never get one */
};

static int collect(void *ctx, const char *data, size_t len) {
  struct sink *s = ctx;
  /* Plain checks here: a Criterion assertion per span would dominate the
   * run time of the million-chunk test. */
  if (len == 0)
    s->empty_spans++;
  if (s->len + len > s->cap) {
    s->cap = (s->len + len) * 2;
    s->buf = realloc(s->buf, s->cap);
    if (!s->buf)
      abort();
  }
  memcpy(s->buf + s->len, data, len);
  s->len += len;
  s->calls++;
  if (s->fail_at && s->len >= s->fail_at)
    return XFER__EWRITE;
  return 0;
}

struct outcome {
  int rc;          /* last feed result: 1, 0 or an error */
  size_t consumed; /* in total */
  int eof;         /* body_eof after everything, when rc == 0 */
  const char *msg;
};

/* Feeds in[0..len) cut at the given points. */
static struct outcome run_cuts(enum xfer__http_framing f, int64_t cl, const char *in, size_t len,
                               const size_t *cuts, size_t ncuts,
                               const struct xfer__http_limits *lim, struct sink *s) {
  struct xfer__http_body b;
  struct outcome o = {0, 0, 0, NULL};
  size_t start = 0, i;
  xfer__http_body_init(&b, f, cl, lim);
  for (i = 0; i <= ncuts && o.rc == 0; i++) {
    size_t end = i < ncuts ? cuts[i] : len, n = end - start, used = 0;
    char *piece = malloc(n ? n : 1);
    cr_assert(piece);
    memcpy(piece, in + start, n);
    o.rc = xfer__http_body_feed(&b, piece, n, &used, collect, s, &o.msg);
    free(piece);
    cr_assert_leq(used, n);
    if (o.rc == 0)
      cr_assert_eq(used, n, "feed wants more but left %zu bytes unused", n - used);
    o.consumed += used;
    start = end;
  }
  if (o.rc == 0) {
    const char *msg = NULL;
    o.eof = xfer__http_body_eof(&b, &msg);
    if (o.eof < 0)
      cr_expect(msg && msg[0], "EOF error without a sentence");
  }
  return o;
}

struct body_case {
  const char *name;
  enum xfer__http_framing framing;
  int64_t cl;
  const char *in;
  size_t len;
  int rc;          /* 1 complete, 0 needs more, or a negative code (error.h) */
  const char *out; /* decoded bytes */
  size_t out_len;
  size_t consumed; /* total; for an error, the offset of the bad byte */
  int eof;         /* when rc == 0: body_eof's result */
};

#define S(x) x, sizeof(x) - 1
/* extra: bytes after the end of the body, left unconsumed. */
#define DONE(name, f, cl, in, out, extra) \
  { name, f, cl, S(in), 1, S(out), sizeof(in) - 1 - (extra), 0 }
#define MORE(name, f, cl, in, out, eof) \
  { name, f, cl, S(in), 0, S(out), sizeof(in) - 1, eof }
#define FAIL(name, in, code, out, at) \
  { name, XFER__HTTP_BODY_CHUNKED, 0, S(in), code, S(out), at, 0 }

#define CH  XFER__HTTP_BODY_CHUNKED
#define LEN XFER__HTTP_BODY_LENGTH
#define E56 XFER__EBADCHUNK  /* RECV_ERROR to the user */
#define E8  XFER__EMALFORMED /* WEIRD_SERVER_REPLY */
#define E18 XFER__EPARTIAL   /* PARTIAL_FILE */

static const struct body_case cases[] = {
    /* Content-Length, close-delimited, none */
    DONE("CL exact", LEN, 5, "hello", "hello", 0),
    DONE("M40 CL 5 then 10 bytes", LEN, 5, "helloEXTRA", "hello", 5),
    MORE("M41 CL 100, 10 bytes, EOF", LEN, 100, "0123456789", "0123456789", E18),
    DONE("CL 0", LEN, 0, "abc", "", 3),
    MORE("M76 close-delimited", XFER__HTTP_BODY_CLOSE, -1, "abc\r\n\0def", "abc\r\n\0def", 1),
    MORE("close-delimited, empty", XFER__HTTP_BODY_CLOSE, -1, "", "", 1),
    DONE("M73 M74 M75 no body", XFER__HTTP_BODY_NONE, 5, "hello", "", 5),
    /* Chunked, valid */
    DONE("chunked", CH, 0, "5\r\nhello\r\n0\r\n\r\n", "hello", 0),
    DONE("two chunks, upper-case hex", CH, 0, "A\r\n0123456789\r\n1\r\n!\r\n0\r\n\r\n",
         "0123456789!", 0),
    DONE("leading zeros", CH, 0, "0003\r\nabc\r\n0\r\n\r\n", "abc", 0),
    DONE("16 hex digits", CH, 0, "0000000000000003\r\nabc\r\n0\r\n\r\n", "abc", 0),
    DONE("response bytes after the body", CH, 0, "3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", "abc",
         17),
    DONE("M56 extensions", CH, 0, "5;a=b;c=\"x;y\"\r\nhello\r\n6 ; name\r\n world\r\n0\r\n\r\n",
         "hello world", 0),
    DONE("M56 quoted pair, BWS around =", CH, 0, "3;a = \"q\\\"\" ;b\t=c\r\nabc\r\n0;last\r\n\r\n",
         "abc", 0),
    DONE("M64 trailer", CH, 0, "0\r\nX-T: 1\r\n\r\n", "", 0),
    DONE("M66 framing fields in trailers", CH, 0,
         "3\r\nabc\r\n0\r\nContent-Length: 999\r\nTransfer-Encoding: x\r\n\r\n", "abc", 0),
    DONE("trailers with bare LF", CH, 0, "0\r\nX: 1\nY:\n\n", "", 0),
    DONE("trailer value with obs-text and tab", CH, 0, "0\r\nX: caf\xc3\xa9\tz\r\n\r\n", "", 0),
    MORE("max chunk size, then EOF", CH, 0, "7fffffffffffffff\r\nab", "ab", E18),
    MORE("M61 EOF before the zero chunk", CH, 0, "5\r\nhello\r\n", "hello", E18),
    MORE("M61 EOF inside a chunk", CH, 0, "5\r\nhel", "hel", E18),
    MORE("M63 EOF after the zero chunk line", CH, 0, "0\r\n", "", E18),
    MORE("M63 EOF inside the trailers", CH, 0, "0\r\nX: y\r\n", "", E18),
    MORE("EOF before CRLF after data", CH, 0, "5\r\nhello\r", "hello", E18),
    /* Chunk framing errors: all XFERE_RECV_ERROR, as in curl */
    FAIL("M51 ILLEGAL", "ILLEGAL\r\n", E56, "", 0),
    FAIL("M51 z", "z\r\n", E56, "", 0),
    FAIL("M51 1x", "1x\r\n", E56, "", 1),
    FAIL("empty size line", "\r\n", E56, "", 0),
    FAIL("M52 17 digits", "12345678123456789\r\n", E56, "", 16),
    FAIL("M52 17 f digits", "fffffffffffffffff\r\n", E56, "", 15),
    FAIL("M52 17 digits with leading zeros", "00000000000000001\r\n", E56, "", 16),
    FAIL("M53 16 digits over INT64_MAX", "ffffffffffffffff\r\n", E56, "", 15),
    FAIL("M53 2^63", "8000000000000000\r\n", E56, "", 15),
    FAIL("M54 0x prefix", "0x1a\r\n", E56, "", 1),
    FAIL("M54 plus sign", "+1a\r\n", E56, "", 0),
    FAIL("M54 minus sign", "-1\r\n", E56, "", 0),
    FAIL("M54 leading space", " 1a\r\n", E56, "", 0),
    FAIL("M55 spaces after size", "25  \r\n", E56, "", 4),
    FAIL("M57 empty extension", "2;\r\nab\r\n0\r\n\r\n", E56, "", 2),
    FAIL("M57 unbalanced quote", "5;a=\"b\r\nhello\r\n", E56, "", 6),
    FAIL("space after extension name", "5;a \r\nhello\r\n", E56, "", 4),
    FAIL("empty extension value", "5;a=\r\nhello\r\n", E56, "", 4),
    FAIL("M58 bare LF in extension", "5;a\nb\r\nhello\r\n", E56, "", 3),
    FAIL("M58 bare CR in extension", "5;a\rb\r\nhello\r\n", E56, "", 4),
    FAIL("M59 bare LF after size", "6\nhello \r\n0\r\n\r\n", E56, "", 1),
    FAIL("M59 bare LF after last chunk", "5\r\nhello\r\n0\n\r\n", E56, "hello", 11),
    FAIL("M60 data not followed by CRLF", "5\r\nhelloXX0\r\n\r\n", E56, "hello", 8),
    FAIL("M60 bare LF after data", "5\r\nhello\n0\r\n\r\n", E56, "hello", 8),
    FAIL("M60 CR without LF after data", "5\r\nhello\rX", E56, "hello", 9),
    /* Trailers follow the head's rules */
    FAIL("M65 NUL in a trailer", "0\r\nX: a\0b\r\n\r\n", E8, "", 7),
    FAIL("obs-fold in trailers", "0\r\nX: a\r\n b\r\n\r\n", E8, "", 9),
    FAIL("trailer without colon", "0\r\nXY\r\n\r\n", E8, "", 5),
    FAIL("trailer with a bad name", "0\r\nX{: a\r\n\r\n", E8, "", 4),
    FAIL("trailer name starting badly", "0\r\n{X: a\r\n\r\n", E8, "", 3),
    FAIL("bare CR in a trailer value", "0\r\nX: a\rb\r\n\r\n", E8, "", 8),
    FAIL("control byte in a trailer value", "0\r\nX: a\x01\r\n\r\n", E8, "", 7),
    FAIL("bare CR ending the trailers", "0\r\n\rX", E8, "", 4),
};

static void check(const struct body_case *c, const char *mode, size_t at, struct outcome o,
                  const struct sink *s) {
  cr_expect_eq(o.rc, c->rc, "%s: %s %zu: rc %d, want %d", c->name, mode, at, o.rc, c->rc);
  cr_expect_eq(o.consumed, c->consumed, "%s: %s %zu: consumed %zu, want %zu", c->name, mode, at,
               o.consumed, c->consumed);
  cr_expect(s->len == c->out_len && memcmp(s->buf ? s->buf : "", c->out, c->out_len) == 0,
            "%s: %s %zu: decoded %zu bytes, want %zu", c->name, mode, at, s->len, c->out_len);
  cr_expect_eq(s->empty_spans, 0u, "%s: %s %zu: an empty span was delivered", c->name, mode, at);
  if (c->rc < 0)
    cr_expect(o.msg && o.msg[0], "%s: %s %zu: no error sentence", c->name, mode, at);
  if (c->rc == 0)
    cr_expect_eq(o.eof, c->eof, "%s: %s %zu: eof %d, want %d", c->name, mode, at, o.eof, c->eof);
}

static void run_case(const struct body_case *c) {
  struct sink s = {0};
  struct outcome o;
  size_t i, *cuts = malloc((c->len + 1) * sizeof *cuts);
  cr_assert(cuts);

  o = run_cuts(c->framing, c->cl, c->in, c->len, NULL, 0, NULL, &s);
  check(c, "whole", 0, o, &s);
  for (i = 0; i <= c->len; i++) {
    s.len = 0;
    o = run_cuts(c->framing, c->cl, c->in, c->len, &i, 1, NULL, &s);
    check(c, "split at", i, o, &s);
  }
  for (i = 0; i < c->len; i++)
    cuts[i] = i + 1;
  s.len = 0;
  o = run_cuts(c->framing, c->cl, c->in, c->len, cuts, c->len ? c->len - 1 : 0, NULL, &s);
  check(c, "byte by byte", 0, o, &s);
  free(cuts);
  free(s.buf);
}

Test(http_body, matrix_rows_in_every_delivery_mode) {
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(&cases[i]);
}

Test(http_body, feed_after_completion_consumes_nothing) {
  struct xfer__http_body b;
  struct sink s = {0};
  const char *msg = NULL;
  size_t used = 99;
  xfer__http_body_init(&b, XFER__HTTP_BODY_CHUNKED, -1, NULL);
  cr_expect_eq(xfer__http_body_feed(&b, "0\r\n\r\n", 5, &used, collect, &s, &msg), 1);
  cr_expect_eq(used, (size_t)5);
  cr_expect_eq(xfer__http_body_feed(&b, "more", 4, &used, collect, &s, &msg), 1);
  cr_expect_eq(used, (size_t)0);
  cr_expect_eq(xfer__http_body_eof(&b, &msg), 1);
  cr_expect_eq(s.len, (size_t)0);
}

/* ---- on_data errors propagate --------------------------------------------- */

Test(http_body, on_data_error_stops_decoding) {
  static const struct {
    enum xfer__http_framing f;
    const char *in;
  } rows[] = {
      {XFER__HTTP_BODY_LENGTH, "0123456789"},
      {XFER__HTTP_BODY_CLOSE, "0123456789"},
      {XFER__HTTP_BODY_CHUNKED, "3\r\n012\r\n7\r\n3456789\r\n0\r\n\r\n"},
  };
  size_t r, i, len;
  for (r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    len = strlen(rows[r].in);
    for (i = 0; i <= len; i++) {
      /* Refuse once 5 bytes arrived, whatever the split. */
      struct sink s = {0};
      struct outcome o;
      s.fail_at = 5;
      o = run_cuts(rows[r].f, 10, rows[r].in, len, &i, 1, NULL, &s);
      cr_expect_eq(o.rc, XFER__EWRITE, "row %zu split %zu: rc %d", r, i, o.rc);
      cr_expect_null(o.msg, "row %zu: the callback's error carries no sentence of ours", r);
      cr_expect_geq(s.len, (size_t)5);
      free(s.buf);
    }
  }
}

/* ---- Limits ------------------------------------------------------------------ */

/* Feeds a large body whole, byte by byte, and at sampled split points. */
static struct outcome run_big(const char *in, size_t len, const struct xfer__http_limits *lim,
                              size_t *decoded) {
  struct sink s = {0};
  struct outcome whole, o;
  struct xfer__http_body b;
  size_t i, used, total = 0;
  int rc = 0;

  whole = run_cuts(XFER__HTTP_BODY_CHUNKED, -1, in, len, NULL, 0, lim, &s);
  *decoded = s.len;
  /* One byte per call, on the buffer itself: copying 6 MB a byte at a
   * time would only test malloc. */
  s.len = 0;
  xfer__http_body_init(&b, XFER__HTTP_BODY_CHUNKED, -1, lim);
  for (i = 0; i < len && rc == 0; i++) {
    const char *msg = NULL;
    rc = xfer__http_body_feed(&b, in + i, 1, &used, collect, &s, &msg);
    total += used;
  }
  cr_expect_eq(rc, whole.rc, "byte by byte: rc %d, whole %d", rc, whole.rc);
  cr_expect_eq(total, whole.consumed, "byte by byte: consumed %zu, whole %zu", total,
               whole.consumed);
  cr_expect_eq(s.len, *decoded);
  cr_expect_eq(s.empty_spans, 0u);
  /* 16 sampled split points: each one copies and decodes the whole input. */
  for (i = 0; i <= len; i += len / 16 + 1) {
    s.len = 0;
    o = run_cuts(XFER__HTTP_BODY_CHUNKED, -1, in, len, &i, 1, lim, &s);
    cr_expect(o.rc == whole.rc && o.consumed == whole.consumed && s.len == *decoded,
              "split at %zu differs", i);
  }
  free(s.buf);
  return whole;
}

/* "0\r\n" + trailer lines of line_len bytes ("T:aaa...\r\n") + "\r\n". */
static char *build_trailers(size_t nlines, size_t line_len, size_t *len) {
  size_t o = 3, i;
  char *b = malloc(3 + nlines * line_len + 2);
  cr_assert(b);
  memcpy(b, "0\r\n", 3);
  for (i = 0; i < nlines; i++) {
    b[o] = 'T';
    b[o + 1] = ':';
    memset(b + o + 2, 'a', line_len - 4);
    memcpy(b + o + line_len - 2, "\r\n", 2);
    o += line_len;
  }
  memcpy(b + o, "\r\n", 2);
  *len = o + 2;
  return b;
}

static int trailer_run(size_t nlines, size_t line_len, const struct xfer__http_limits *lim) {
  size_t len, decoded;
  char *b = build_trailers(nlines, line_len, &len);
  struct outcome o = run_big(b, len, lim, &decoded);
  if (o.rc < 0)
    cr_expect(o.msg && o.msg[0]);
  free(b);
  return o.rc;
}

Test(http_body, m65_trailer_limits, .timeout = 120) {
  cr_expect_eq(trailer_run(1, 100 * 1024, NULL), 1, "a 100 KiB trailer line is fine");
  cr_expect_eq(trailer_run(1, 100 * 1024 + 1, NULL), XFER__ETOOLARGE);
  cr_expect_eq(trailer_run(5000, 8, NULL), 1, "5000 trailer lines are fine");
  cr_expect_eq(trailer_run(5001, 8, NULL), XFER__ETOOLARGE);
  /* 74 lines of 4 KiB + the final CRLF stay under 300 KiB; 76 do not. */
  cr_expect_eq(trailer_run(74, 4096, NULL), 1);
  cr_expect_eq(trailer_run(76, 4096, NULL), XFER__EHEADSIZE);
}

Test(http_body, small_limits_every_split_point) {
  static const struct xfer__http_limits lim = {60, 20, 3};
  static const struct {
    const char *in;
    int rc;
  } rows[] = {
      {"0\r\nA:1234567890123456\r\n\r\n", 1},                /* a 20-byte trailer line */
      {"0\r\nA:12345678901234567\r\n\r\n", XFER__ETOOLARGE}, /* 21 bytes */
      {"0\r\nA:1\r\nB:2\r\nC:3\r\n\r\n", 1},
      {"0\r\nA:1\r\nB:2\r\nC:3\r\nD:4\r\n\r\n", XFER__ETOOLARGE},
      /* 3 lines of 20 bytes and the final CRLF: 62 bytes, over 60. */
      {"0\r\nA:1234567890123456\r\nB:1234567890123456\r\nC:1234567890123456\r\n\r\n",
       XFER__EHEADSIZE},
      {"3;abcdefghijklmno\r\nabc\r\n0\r\n\r\n", 1},                 /* a 19-byte size line */
      {"3;abcdefghijklmnop\r\nabc\r\n0\r\n\r\n", 1},                /* 20 bytes */
      {"3;abcdefghijklmnopq\r\nabc\r\n0\r\n\r\n", XFER__ETOOLARGE}, /* 21 */
  };
  size_t r, i, len;
  for (r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    struct sink s = {0};
    struct outcome whole, o;
    len = strlen(rows[r].in);
    whole = run_cuts(XFER__HTTP_BODY_CHUNKED, -1, rows[r].in, len, NULL, 0, &lim, &s);
    cr_expect_eq(whole.rc, rows[r].rc, "row %zu: rc %d", r, whole.rc);
    for (i = 0; i <= len; i++) {
      o = run_cuts(XFER__HTTP_BODY_CHUNKED, -1, rows[r].in, len, &i, 1, &lim, &s);
      cr_expect(o.rc == whole.rc && o.consumed == whole.consumed, "row %zu split %zu", r, i);
    }
    free(s.buf);
  }
}

Test(http_body, m67_many_small_chunks, .timeout = 120) {
  /* 1,000,000 one-byte chunks, then 100,000 chunks with a 45-byte
   * extension: accepted, in linear time, with no state beyond the struct. */
  static const char one[] = "1\r\na\r\n";
  static const char ext[] = "1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nb\r\n";
  size_t n1 = 1000000, n2 = 100000, i, o = 0, decoded;
  size_t len = n1 * (sizeof one - 1) + n2 * (sizeof ext - 1) + 5;
  char *b = malloc(len);
  struct outcome r;
  cr_assert(b);
  for (i = 0; i < n1; i++, o += sizeof one - 1)
    memcpy(b + o, one, sizeof one - 1);
  for (i = 0; i < n2; i++, o += sizeof ext - 1)
    memcpy(b + o, ext, sizeof ext - 1);
  memcpy(b + o, "0\r\n\r\n", 5);
  r = run_big(b, len, NULL, &decoded);
  cr_expect_eq(r.rc, 1);
  cr_expect_eq(r.consumed, len);
  cr_expect_eq(decoded, n1 + n2);
  free(b);
}

Test(http_body, chunk_error_sentences_say_chunk) {
  /* tests/net/test_malformed.c looks for "chunk" in the error buffer. */
  static const char *const rows[] = {"ILLEGAL\r\n",           "1x\r\n",
                                     "12345678123456789\r\n", "ffffffffffffffff\r\n",
                                     "5\r\nhelloXX",          "6\nhello"};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct xfer__http_body b;
    const char *msg = NULL;
    size_t used;
    xfer__http_body_init(&b, XFER__HTTP_BODY_CHUNKED, -1, NULL);
    cr_expect_eq(xfer__http_body_feed(&b, rows[i], strlen(rows[i]), &used, NULL, NULL, &msg),
                 XFER__EBADCHUNK, "row %zu", i);
    cr_expect(msg && strstr(msg, "chunk"), "row %zu: \"%s\"", i, msg ? msg : "");
  }
  {
    struct xfer__http_body b;
    const char *msg = NULL;
    xfer__http_body_init(&b, XFER__HTTP_BODY_CHUNKED, -1, NULL);
    cr_expect_eq(xfer__http_body_eof(&b, &msg), XFER__EPARTIAL);
    cr_expect(msg && strstr(msg, "chunk"));
  }
}
