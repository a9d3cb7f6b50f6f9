/* The request serialiser: libcurl's wire format byte for byte, the
 * XFEROPT_HTTPHEADER override rules, the refusal of anything that could
 * split a request, allocation failure, and chunk framing. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/alloc.h"
#include "runtime/http.h"
#include "runtime/error.h"

#define MAX_USER_HEADERS 8

struct req_case {
  const char *name;
  const char *method;
  const char *target;
  const char *host;
  const char *user_agent;
  const char *headers[MAX_USER_HEADERS]; /* NULL-terminated */
  int64_t body_len;
  const char *content_type;
  int err;            /* 0 or the XFERE_ code */
  const char *expect; /* the exact bytes when err == 0 */
};

#define NOB  XFER__HTTP_NO_BODY
#define CHB  XFER__HTTP_CHUNKED_BODY
#define FORM "application/x-www-form-urlencoded"
#define BAD  XFERE_BAD_FUNCTION_ARGUMENT
#define H0 \
  { NULL }

static const struct req_case cases[] = {
    {"GET as libcurl sends it", "GET", "/a", "127.0.0.1:18765", NULL, H0, NOB, NULL, 0,
     "GET /a HTTP/1.1\r\nHost: 127.0.0.1:18765\r\nAccept: */*\r\n\r\n"},
    {"User-Agent when set", "GET", "/", "h", "xfer/0.1", H0, NOB, NULL, 0,
     "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: xfer/0.1\r\nAccept: */*\r\n\r\n"},
    {"empty User-Agent is not sent", "GET", "/", "h", "", H0, NOB, NULL, 0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"},
    {"HEAD", "HEAD", "/x?y=1", "h", NULL, H0, NOB, NULL, 0,
     "HEAD /x?y=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"},
    {"POSTFIELDS", "POST", "/p", "h:8080", NULL, H0, 7, FORM, 0,
     "POST /p HTTP/1.1\r\nHost: h:8080\r\nAccept: */*\r\nContent-Length: 7\r\n"
     "Content-Type: application/x-www-form-urlencoded\r\n\r\n"},
    {"empty POSTFIELDS", "POST", "/p", "h", NULL, H0, 0, FORM, 0,
     "POST /p HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 0\r\n"
     "Content-Type: application/x-www-form-urlencoded\r\n\r\n"},
    {"PUT of known size", "PUT", "/u", "h", NULL, H0, 1234567890123, NULL, 0,
     "PUT /u HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 1234567890123\r\n\r\n"},
    {"unknown size goes chunked", "PUT", "/u", "h", NULL, H0, CHB, NULL, 0,
     "PUT /u HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n\r\n"},
    {"custom method", "PROPFIND", "/d", "h", NULL, H0, NOB, NULL, 0,
     "PROPFIND /d HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"},
    /* The user's headers */
    {"user headers in order",
     "GET",
     "/",
     "h",
     NULL,
     {"X-B: 2", "X-A: 1", "X-B: 3", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-B: 2\r\nX-A: 1\r\nX-B: 3\r\n\r\n"},
    {"replace Accept",
     "GET",
     "/",
     "h",
     NULL,
     {"accept: text/html", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\naccept: text/html\r\n\r\n"},
    {"replace Host",
     "GET",
     "/",
     "h",
     "ua",
     {"X: 1", "Host: other", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nUser-Agent: ua\r\nAccept: */*\r\nX: 1\r\nHost: other\r\n\r\n"},
    {"replace User-Agent",
     "GET",
     "/",
     "h",
     "ua",
     {"User-Agent: mine", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nUser-Agent: mine\r\n\r\n"},
    {"remove Accept",
     "GET",
     "/",
     "h",
     NULL,
     {"Accept:", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\n\r\n"},
    {"remove with trailing blanks",
     "GET",
     "/",
     "h",
     NULL,
     {"ACCEPT: \t ", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\n\r\n"},
    {"remove Host",
     "GET",
     "/",
     "h",
     NULL,
     {"Host:", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"},
    {"remove a header that has no default",
     "GET",
     "/",
     "h",
     NULL,
     {"X-None:", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"},
    {"Name; sends it empty",
     "GET",
     "/",
     "h",
     NULL,
     {"X-Empty;", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Empty:\r\n\r\n"},
    {"Accept; replaces the default",
     "GET",
     "/",
     "h",
     NULL,
     {"Accept;  ", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept:\r\n\r\n"},
    {"replace Content-Type",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Type: text/plain", NULL},
     2,
     FORM,
     0,
     "POST / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Type: text/plain\r\n"
     "Content-Length: 2\r\n\r\n"},
    {"remove Content-Type",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Type:", NULL},
     2,
     FORM,
     0,
     "POST / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 2\r\n\r\n"},
    {"value kept verbatim",
     "GET",
     "/",
     "h",
     NULL,
     {"X-V:a  b\tc ", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-V:a  b\tc \r\n\r\n"},
    {"obs-text in a value",
     "GET",
     "/",
     "h",
     NULL,
     {"X: caf\xc3\xa9", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX: caf\xc3\xa9\r\n\r\n"},
    /* Framing headers from the user must agree with the body */
    {"matching Content-Length",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Length: 7", NULL},
     7,
     NULL,
     0,
     "POST / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 7\r\n\r\n"},
    {"Content-Length 0 without a body",
     "GET",
     "/",
     "h",
     NULL,
     {"Content-Length: 0", NULL},
     NOB,
     NULL,
     0,
     "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n"},
    {"matching Transfer-Encoding",
     "PUT",
     "/",
     "h",
     NULL,
     {"transfer-encoding:  Chunked", NULL},
     CHB,
     NULL,
     0,
     "PUT / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\ntransfer-encoding:  Chunked\r\n\r\n"},
    {"remove Content-Length of a chunked body",
     "PUT",
     "/",
     "h",
     NULL,
     {"Content-Length:", NULL},
     CHB,
     NULL,
     0,
     "PUT / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n\r\n"},
    {"remove Transfer-Encoding of a sized body",
     "PUT",
     "/",
     "h",
     NULL,
     {"Transfer-Encoding:", NULL},
     3,
     NULL,
     0,
     "PUT / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nContent-Length: 3\r\n\r\n"},
    {"remove Content-Length of an empty body",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Length:", NULL},
     0,
     NULL,
     0,
     "POST / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"},
    {"wrong Content-Length",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Length: 8", NULL},
     7,
     NULL,
     BAD,
     NULL},
    {"Content-Length without a body",
     "GET",
     "/",
     "h",
     NULL,
     {"Content-Length: 5", NULL},
     NOB,
     NULL,
     BAD,
     NULL},
    {"Content-Length with a chunked body",
     "PUT",
     "/",
     "h",
     NULL,
     {"Content-Length: 7", NULL},
     CHB,
     NULL,
     BAD,
     NULL},
    {"Transfer-Encoding with a sized body",
     "PUT",
     "/",
     "h",
     NULL,
     {"Transfer-Encoding: chunked", NULL},
     7,
     NULL,
     BAD,
     NULL},
    {"Transfer-Encoding without a body",
     "GET",
     "/",
     "h",
     NULL,
     {"Transfer-Encoding: chunked", NULL},
     NOB,
     NULL,
     BAD,
     NULL},
    {"other transfer coding",
     "PUT",
     "/",
     "h",
     NULL,
     {"Transfer-Encoding: gzip, chunked", NULL},
     CHB,
     NULL,
     BAD,
     NULL},
    {"remove Content-Length of a body",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Length:", NULL},
     7,
     NULL,
     BAD,
     NULL},
    {"remove Transfer-Encoding of a chunked body",
     "PUT",
     "/",
     "h",
     NULL,
     {"Transfer-Encoding:", NULL},
     CHB,
     NULL,
     BAD,
     NULL},
    {"empty Content-Length", "POST", "/", "h", NULL, {"Content-Length;", NULL}, 7, NULL, BAD, NULL},
    {"bad Content-Length",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Length: +7", NULL},
     7,
     NULL,
     BAD,
     NULL},
    {"two Content-Length",
     "POST",
     "/",
     "h",
     NULL,
     {"Content-Length: 7", "Content-Length: 7", NULL},
     7,
     NULL,
     BAD,
     NULL},
    {"Content-Length and Transfer-Encoding",
     "PUT",
     "/",
     "h",
     NULL,
     {"Transfer-Encoding: chunked", "Content-Length: 7", NULL},
     CHB,
     NULL,
     BAD,
     NULL},
    /* Nothing may split the request */
    {"CRLF in the method", "GET\r\nX:", "/", "h", NULL, H0, NOB, NULL, BAD, NULL},
    {"space in the method", "GE T", "/", "h", NULL, H0, NOB, NULL, BAD, NULL},
    {"empty method", "", "/", "h", NULL, H0, NOB, NULL, BAD, NULL},
    {"CR in the target", "GET", "/a\rb", "h", NULL, H0, NOB, NULL, BAD, NULL},
    {"LF in the target", "GET", "/a\nGET /evil", "h", NULL, H0, NOB, NULL, BAD, NULL},
    {"space in the target", "GET", "/a HTTP/1.0", "h", NULL, H0, NOB, NULL, BAD, NULL},
    {"empty target", "GET", "", "h", NULL, H0, NOB, NULL, BAD, NULL},
    {"CRLF in the host", "GET", "/", "h\r\nX: y", NULL, H0, NOB, NULL, BAD, NULL},
    {"empty host", "GET", "/", "", NULL, H0, NOB, NULL, BAD, NULL},
    {"CRLF in the User-Agent", "GET", "/", "h", "ua\r\nX: y", H0, NOB, NULL, BAD, NULL},
    {"CR in the Content-Type", "POST", "/", "h", NULL, H0, 1, "text/plain\rX", BAD, NULL},
    {"CRLF in a header", "GET", "/", "h", NULL, {"X: a\r\nEvil: 1", NULL}, NOB, NULL, BAD, NULL},
    {"LF in a header", "GET", "/", "h", NULL, {"X: a\nb", NULL}, NOB, NULL, BAD, NULL},
    {"control byte in a header", "GET", "/", "h", NULL, {"X: a\x01", NULL}, NOB, NULL, BAD, NULL},
    {"space in a header name", "GET", "/", "h", NULL, {"Bad Name: x", NULL}, NOB, NULL, BAD, NULL},
    {"space before the colon", "GET", "/", "h", NULL, {"X : x", NULL}, NOB, NULL, BAD, NULL},
    {"no colon", "GET", "/", "h", NULL, {"NoColon", NULL}, NOB, NULL, BAD, NULL},
    {"empty name", "GET", "/", "h", NULL, {": x", NULL}, NOB, NULL, BAD, NULL},
    {"text after Name;", "GET", "/", "h", NULL, {"X;foo", NULL}, NOB, NULL, BAD, NULL},
    {"invalid body length", "GET", "/", "h", NULL, H0, -3, NULL, BAD, NULL},
    {"missing host", "GET", "/", NULL, NULL, H0, NOB, NULL, BAD, NULL},
};

static void run_case(const struct req_case *c) {
  struct xfer_slist nodes[MAX_USER_HEADERS];
  struct xfer__http_request r;
  char *buf = NULL;
  size_t cap = 0, len = 0, n = 0;
  const char *msg = NULL;
  int rc;

  while (c->headers[n])
    n++;
  for (size_t i = 0; i < n; i++) {
    nodes[i].data = (char *)c->headers[i];
    nodes[i].next = i + 1 < n ? &nodes[i + 1] : NULL;
  }
  memset(&r, 0, sizeof r);
  r.method = c->method;
  r.target = c->target;
  r.host = c->host;
  r.user_agent = c->user_agent;
  r.headers = n ? nodes : NULL;
  r.body_len = c->body_len;
  r.content_type = c->content_type;

  rc = xfer__http_build_request(&r, &buf, &cap, &len, &msg);
  if (c->err) {
    cr_expect(rc < 0 && xfer__code_of(rc, XFERE_OK) == (xfer_code)c->err, "%s: rc %d, want code %d",
              c->name, rc, c->err);
    cr_expect(msg && msg[0], "%s: no error sentence", c->name);
    cr_expect_null(buf, "%s: nothing allocated on error", c->name);
  } else {
    cr_expect_eq(rc, 0, "%s: rc %d (%s)", c->name, rc, msg ? msg : "");
    cr_expect(len == strlen(c->expect) && memcmp(buf, c->expect, len) == 0,
              "%s: got\n%.*s\nwant\n%s", c->name, (int)len, buf ? buf : "", c->expect);
    cr_expect_geq(cap, len, "%s", c->name);
    /* Never both framing headers on the wire. */
    cr_expect(!(strstr(c->expect, "Content-Length") && strstr(c->expect, "Transfer-Encoding")),
              "%s", c->name);
  }
  free(buf);
}

Test(http_request, wire_format_and_header_rules) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_case(&cases[i]);
}

Test(http_request, buffer_is_reused_and_grown) {
  struct xfer__http_request r = {"GET", "/", "h", NULL, NULL, XFER__HTTP_NO_BODY, NULL};
  size_t cap = 4, len = 0;
  char *buf = malloc(cap), *first;
  const char *msg = NULL;
  cr_assert(buf);
  cr_expect_eq(xfer__http_build_request(&r, &buf, &cap, &len, &msg), 0);
  cr_expect_geq(cap, len);
  first = buf;
  /* A second build that fits keeps the same buffer. */
  cr_expect_eq(xfer__http_build_request(&r, &buf, &cap, &len, &msg), 0);
  cr_expect_eq(buf, first);
  cr_expect_eq(len, strlen("GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"));
  free(buf);
}

static void *failing_realloc(void *p, size_t n) {
  (void)p;
  (void)n;
  return NULL;
}

Test(http_request, out_of_memory_leaves_the_buffer_alone) {
  struct xfer__http_request r = {"GET", "/", "h", NULL, NULL, XFER__HTTP_NO_BODY, NULL};
  size_t cap = 4, len = 123;
  char *buf = malloc(cap), *before = buf;
  const char *msg = NULL;
  int rc;
  cr_assert(buf);
  xfer__alloc_set(malloc, free, failing_realloc, strdup, calloc);
  rc = xfer__http_build_request(&r, &buf, &cap, &len, &msg);
  xfer__alloc_set(malloc, free, realloc, strdup, calloc);
  cr_expect_eq(rc, -ENOMEM);
  cr_expect(msg && msg[0]);
  cr_expect_eq(buf, before);
  cr_expect_eq(cap, (size_t)4);
  cr_expect_eq(len, (size_t)123);
  free(buf);
}

Test(http_request, frame_chunk) {
  static const struct {
    size_t len;
    const char *prefix;
  } rows[] = {{0, "0\r\n"},    {1, "1\r\n"},         {5, "5\r\n"},        {15, "f\r\n"},
              {255, "ff\r\n"}, {0x1234, "1234\r\n"}, {65536, "10000\r\n"}};
  static char data[65536], out[65536 + XFER__HTTP_CHUNK_OVERHEAD];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (char)('a' + i % 26);
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    size_t p = strlen(rows[r].prefix), n = xfer__http_frame_chunk(out, data, rows[r].len);
    cr_expect_eq(n, p + rows[r].len + 2, "len %zu", rows[r].len);
    cr_expect_leq(n, rows[r].len + XFER__HTTP_CHUNK_OVERHEAD);
    cr_expect(memcmp(out, rows[r].prefix, p) == 0, "len %zu: prefix", rows[r].len);
    cr_expect(memcmp(out + p, data, rows[r].len) == 0, "len %zu: data", rows[r].len);
    cr_expect(memcmp(out + p + rows[r].len, "\r\n", 2) == 0, "len %zu: CRLF", rows[r].len);
  }
  /* The last chunk is the whole end of the body. */
  cr_expect_eq(xfer__http_frame_chunk(out, NULL, 0), (size_t)5);
  cr_expect(memcmp(out, "0\r\n\r\n", 5) == 0);
}

Test(http_request, framed_chunks_decode_back) {
  /* A request body framed here decodes with the response-side chunked
   * decoder: both halves of the codec agree on the framing. */
  static const char body[] = "hello, chunked world";
  char framed[3 * (sizeof body + XFER__HTTP_CHUNK_OVERHEAD)];
  size_t n = 0, used = 0;
  struct xfer__http_body b;
  const char *msg = NULL;
  n += xfer__http_frame_chunk(framed + n, body, 5);
  n += xfer__http_frame_chunk(framed + n, body + 5, sizeof body - 1 - 5);
  n += xfer__http_frame_chunk(framed + n, NULL, 0);
  xfer__http_body_init(&b, XFER__HTTP_BODY_CHUNKED, -1, NULL);
  cr_expect_eq(xfer__http_body_feed(&b, framed, n, &used, NULL, NULL, &msg), 1);
  cr_expect_eq(used, n);
}
