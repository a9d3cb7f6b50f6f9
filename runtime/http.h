/* The HTTP/1.1 codec, sans-I/O: it turns response bytes into a parsed head
 * and body spans, and a request description into bytes. It never calls a
 * socket function and never allocates while parsing, so it is shared by every
 * backend (and by TLS later), tested byte by byte and fuzzable.
 *
 * Errors are data: functions return a negative errno or xfer-private code
 * (error.h; the transfer's edge maps it to an xfer_code) and point *errmsg at a static sentence naming the problem (it goes into the
 * user's XFEROPT_ERRORBUFFER). The framing rules are RFC 9112's, stricter than
 * libcurl where section 6.3 says so; docs/internals/http-codec.md lists them
 * case by case. */
#ifndef XFER_RUNTIME_HTTP_H
#define XFER_RUNTIME_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "xfer/xfer.h"

/* Limits, as libcurl 8's: MAX_HTTP_RESP_HEADER_SIZE (lib/http.h),
 * CURL_MAX_HTTP_HEADER (include/curl/curl.h) and, since 8.5,
 * MAX_HTTP_RESP_HEADER_COUNT. */
#define XFER__HTTP_MAX_HEAD        (300u * 1024u) /* all of one response's head */
#define XFER__HTTP_MAX_LINE        (100u * 1024u) /* one head line */
#define XFER__HTTP_MAX_HEADERS     5000u          /* header lines per response */
/* The most header lines the codec can count: its resumable scan packs the
 * count into 16 bits, one value kept free. XFEROPT_MAX_HEADER_COUNT accepts
 * no more, so that every accepted value is honoured. */
#define XFER__HTTP_MAX_HEADERS_CAP 65534u

struct xfer__http_limits {
  size_t max_head;
  size_t max_line;
  unsigned max_headers;
};

/* ---- Response head ---------------------------------------------------- */

/* Body framing decided from a head (RFC 9112 section 6.3). */
enum xfer__http_framing {
  XFER__HTTP_BODY_NONE = 0,   /* HEAD, 1xx, 204, 304, or Content-Length: 0 */
  XFER__HTTP_BODY_LENGTH = 1, /* Content-Length */
  XFER__HTTP_BODY_CHUNKED = 2,
  XFER__HTTP_BODY_CLOSE = 3, /* read until the peer closes */
};

struct xfer__http_head {
  int status;             /* 100..999 */
  int minor_version;      /* 0 or 1 (HTTP/1.x) */
  size_t head_len;        /* bytes of the head, final empty line included */
  unsigned nheaders;      /* header lines, status line excluded */
  int64_t content_length; /* -1 when absent */
  unsigned chunked : 1;   /* Transfer-Encoding: chunked (last coding) */
  /* The connection cannot carry another request after this response:
   * Connection: close, or HTTP/1.0 without Connection: keep-alive. */
  unsigned conn_close : 1;
  /* View into the parsed buffer: the Location value with surrounding
   * whitespace trimmed, or NULL. */
  const char *location;
  size_t location_len;
};

/* Parses one response head at buf[0..len).
 * Returns head_len (> 0) when the head is complete and valid, and fills *h;
 * 0 when more bytes are needed (nothing invalid seen so far, and the limits
 * still allow more); or a negative code (error.h) with *errmsg set. A line ending in a bare
 * LF is accepted; a bare CR is not.
 * `scanned` (may be NULL) is an in/out cursor: how far a previous call on a
 * prefix of the same buffer already looked, so that a head arriving a byte at
 * a time costs O(n), not O(n^2). Start it at 0. */
int xfer__http_parse_head(struct xfer__http_head *h, const char *buf, size_t len, size_t *scanned,
                          const struct xfer__http_limits *lim, const char **errmsg);

/* Steps through the lines of a parsed head (status line first, then each
 * header line, then the empty line), each including its line ending, as the
 * header callback receives them. *pos starts at 0. Returns 1 with
 * line and line_len set, or 0 at the end. */
int xfer__http_next_line(const char *head, size_t head_len, size_t *pos, const char **line,
                         size_t *line_len);

/* Decides the body framing for a response to `method_is_head`. */
enum xfer__http_framing xfer__http_framing(const struct xfer__http_head *h, int method_is_head);

/* ---- Response body ---------------------------------------------------- */

struct xfer__http_body {
  enum xfer__http_framing framing;
  uint64_t remaining;     /* LENGTH: bytes left; CHUNKED: bytes left in chunk */
  int state;              /* private: the chunked decoder's state */
  uint32_t digits;        /* private: hex digits seen in the chunk-size line */
  uint64_t trailer_bytes; /* private: budget for the trailer section */
  uint32_t trailer_lines;
  uint64_t line_bytes; /* private: length of the current framing line */
  unsigned done : 1;
};

/* Receives each span of decoded body bytes (a view into the input). Returns
 * 0 to go on or a negative code (error.h) to stop decoding with that code. */
typedef int (*xfer__http_data_fn)(void *ctx, const char *data, size_t len);

void xfer__http_body_init(struct xfer__http_body *b, enum xfer__http_framing framing,
                          int64_t content_length, const struct xfer__http_limits *lim);

/* Decodes buf[0..len). Returns 1 when the body is complete, 0 when more
 * bytes are needed, or a negative code (error.h; *errmsg set; for an error returned by
 * on_data, *errmsg is left NULL). *consumed gets the bytes used: after 1,
 * anything left over in buf does not belong to this response. */
int xfer__http_body_feed(struct xfer__http_body *b, const char *buf, size_t len, size_t *consumed,
                         xfer__http_data_fn on_data, void *ctx, const char **errmsg);

/* The peer closed the stream. Returns 1 when that completes the body
 * (XFER__HTTP_BODY_CLOSE, or already done), or XFER__EPARTIAL with
 * *errmsg set. */
int xfer__http_body_eof(struct xfer__http_body *b, const char **errmsg);

/* ---- Request head ----------------------------------------------------- */

/* Body length values of xfer__http_request.body_len other than a size. */
#define XFER__HTTP_NO_BODY      (-1)
#define XFER__HTTP_CHUNKED_BODY (-2) /* size unknown: Transfer-Encoding: chunked */

struct xfer__http_request {
  const char *method;               /* "GET", "POST", a custom word */
  const char *target;               /* path and query, starting with '/' */
  const char *host;                 /* Host header value: host, or host:port */
  const char *user_agent;           /* NULL: no User-Agent header, as libcurl */
  const struct xfer_slist *headers; /* XFEROPT_HTTPHEADER, may be NULL */
  int64_t body_len;                 /* >= 0, XFER__HTTP_NO_BODY or XFER__HTTP_CHUNKED_BODY */
  /* Content-Type to send unless the user's headers set or remove it; NULL
   * for none (POSTFIELDS uses application/x-www-form-urlencoded). */
  const char *content_type;
};

/* Serialises the request head into *buf (grown with xfer__realloc, *cap its
 * size), returning 0 with *len set, or -EINVAL (a CR, LF
 * or NUL in a method, target or header; a user Content-Length or
 * Transfer-Encoding header that would contradict the body) or
 * -ENOMEM, with *errmsg set. Order, as libcurl's: request line,
 * Host, User-Agent, Accept, Transfer-Encoding (the defaults not overridden),
 * the user's headers in their order, then Content-Length and Content-Type.
 * A user header "Name:" with no value removes the default of that name;
 * "Name;" sends "Name:" with an empty value, as in libcurl. */
int xfer__http_build_request(const struct xfer__http_request *r, char **buf, size_t *cap,
                             size_t *len, const char **errmsg);

/* Frames len bytes of request body as one chunk ("%zx\r\n" ... "\r\n") into
 * out, which must have room for len + XFER__HTTP_CHUNK_OVERHEAD bytes, and
 * returns the framed size. len 0 writes the last chunk "0\r\n\r\n". */
#define XFER__HTTP_CHUNK_OVERHEAD 20u
size_t xfer__http_frame_chunk(char *out, const char *data, size_t len);

#endif
