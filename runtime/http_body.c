/* The response-body half of the HTTP/1.1 codec: Content-Length, chunked,
 * close-delimited and empty bodies, decoded from bytes that arrive in any
 * pieces. Decoded data is handed to on_data as views into the input; the
 * chunked decoder is a byte-level state machine whose whole state lives in
 * struct xfer__http_body, so no byte ever has to be kept from one call to
 * the next and no input ever has to be contiguous across calls. */
#include <stdint.h>
#include <string.h>

#include "http.h"
#include "text.h"

/* The chunked decoder's states (RFC 9112 section 7.1):
 *   chunk-size [ chunk-ext ] CRLF chunk-data CRLF ... last-chunk trailer CRLF
 * with chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] ). */
enum chunk_state {
  CS_SIZE_FIRST = 0, /* first hex digit of a chunk size */
  CS_SIZE,           /* more hex digits, ';', CR, or BWS before ';' */
  CS_SIZE_BWS,       /* whitespace after the size: only ';' may follow */
  CS_EXT_PRE_NAME,   /* after ';': BWS, then an extension name */
  CS_EXT_NAME,
  CS_EXT_NAME_BWS,   /* whitespace after a name: '=' or ';' must follow */
  CS_EXT_PRE_VALUE,  /* after '=': BWS, then a token or a quoted string */
  CS_EXT_VALUE,      /* token value */
  CS_EXT_QUOTED,     /* inside a quoted-string value */
  CS_EXT_QUOTED_ESC, /* after a backslash in a quoted string */
  CS_EXT_AFTER_QUOTE,
  CS_EXT_BWS, /* whitespace after a value: ';' must follow */
  CS_SIZE_LF, /* CR seen at the end of the size line */
  CS_DATA,
  CS_DATA_CR, /* chunk data must be followed by CRLF */
  CS_DATA_LF,
  CS_TR_LINE_START, /* start of a trailer line, or the final empty line */
  CS_TR_NAME,
  CS_TR_VALUE,
  CS_TR_VALUE_CR,
  CS_TR_END_LF, /* CR of the final empty line seen */
  CS_DONE,
};

/* 16 hex digits are the most an int64_t size can need; curl refuses more
 * (CHUNK_MAXNUM_LEN), and so does picohttpparser. */
#define MAX_CHUNK_DIGITS 16u

static int is_value_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* qdtext and the escapable characters of RFC 9110 section 5.6.4. */
static int is_qdtext(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

static int is_quoted_pair_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

/* Every chunk-framing error is a receive error, as in curl (tests 36, 1416:
 * "... in chunked-encoding" is CURLE_RECV_ERROR). */
static int chunk_error(const char **errmsg, const char *msg) {
  return xfer__fail(errmsg, msg, XFER__EBADCHUNK);
}

/* An error from on_data is passed through with no sentence of ours: the
 * callback's owner knows why it stopped. A positive value (a code the
 * callback forgot to negate) must not read as "body complete". */
static int data_error(int rc, const char **errmsg) {
  if (errmsg)
    *errmsg = NULL;
  return rc < 0 ? rc : -rc;
}

/* The line limit is kept in the upper half of line_bytes and the current
 * line's length in the lower half: the struct has no field for it, and
 * body_feed gets no limits. 32 bits each are far more than a line needs. */
#define LINE_COUNT_MASK 0xFFFFFFFFu

static uint64_t line_cap(const struct xfer__http_body *b) { return b->line_bytes >> 32; }

static void line_reset(struct xfer__http_body *b) { b->line_bytes &= ~(uint64_t)LINE_COUNT_MASK; }

/* Counts one byte of a framing or trailer line against the line limit. */
static int line_count(struct xfer__http_body *b) {
  uint64_t n = (b->line_bytes & LINE_COUNT_MASK) + 1;
  if (n > line_cap(b))
    return 0;
  b->line_bytes = (b->line_bytes & ~(uint64_t)LINE_COUNT_MASK) | n;
  return 1;
}

void xfer__http_body_init(struct xfer__http_body *b, enum xfer__http_framing framing,
                          int64_t content_length, const struct xfer__http_limits *lim) {
  uint64_t max_line = lim ? lim->max_line : XFER__HTTP_MAX_LINE;
  memset(b, 0, sizeof *b);
  b->framing = framing;
  if (max_line > LINE_COUNT_MASK)
    max_line = LINE_COUNT_MASK;
  b->line_bytes = max_line << 32;
  /* Trailers obey the limits of a head (case M65 of docs/internals/http-codec.md). */
  b->trailer_bytes = lim ? lim->max_head : XFER__HTTP_MAX_HEAD;
  b->trailer_lines = lim ? lim->max_headers : XFER__HTTP_MAX_HEADERS;
  b->state = CS_SIZE_FIRST;
  if (framing == XFER__HTTP_BODY_LENGTH)
    b->remaining = content_length > 0 ? (uint64_t)content_length : 0;
  if (framing == XFER__HTTP_BODY_NONE || (framing == XFER__HTTP_BODY_LENGTH && b->remaining == 0))
    b->done = 1;
}

/* One byte of the chunk-size line (size, extensions, CR, LF). Returns 0 to
 * go on or a negative code. */
static int size_line_byte(struct xfer__http_body *b, unsigned char c, const char **errmsg) {
  int d;
  if (!line_count(b))
    return xfer__fail(errmsg, "A chunk-size line is longer than the header line limit",
                      XFER__ETOOLARGE);
  switch (b->state) {
  case CS_SIZE_FIRST:
  case CS_SIZE:
    d = xfer__hex_value(c);
    if (d >= 0) {
      if (++b->digits > MAX_CHUNK_DIGITS || b->remaining > ((uint64_t)INT64_MAX - (uint64_t)d) / 16)
        return chunk_error(errmsg, "Chunk size too large in the chunked response body");
      b->remaining = b->remaining * 16 + (uint64_t)d;
      b->state = CS_SIZE;
      return 0;
    }
    if (b->state == CS_SIZE_FIRST)
      return chunk_error(errmsg, "Invalid chunk size in the chunked response body");
    if (c == '\r')
      b->state = CS_SIZE_LF;
    else if (c == ';')
      b->state = CS_EXT_PRE_NAME;
    else if (xfer__is_ows(c))
      b->state = CS_SIZE_BWS;
    else if (c == '\n')
      return chunk_error(errmsg, "Bare LF after a chunk size in the chunked response body");
    else
      return chunk_error(errmsg, "Invalid chunk size in the chunked response body");
    return 0;
  case CS_SIZE_BWS:
  case CS_EXT_NAME_BWS:
  case CS_EXT_BWS:
    /* BWS is only allowed before ';' (or '=' after a name): trailing
     * spaces before the CRLF are refused, as llhttp does by default. */
    if (xfer__is_ows(c))
      return 0;
    if (c == ';')
      b->state = CS_EXT_PRE_NAME;
    else if (c == '=' && b->state == CS_EXT_NAME_BWS)
      b->state = CS_EXT_PRE_VALUE;
    else
      return chunk_error(errmsg, "Invalid chunk extension in the chunked response body");
    return 0;
  case CS_EXT_PRE_NAME:
    if (xfer__is_ows(c))
      return 0;
    if (!xfer__is_tchar(c))
      return chunk_error(errmsg, "Invalid chunk extension in the chunked response body");
    b->state = CS_EXT_NAME;
    return 0;
  case CS_EXT_NAME:
  case CS_EXT_VALUE:
  case CS_EXT_AFTER_QUOTE:
    if (xfer__is_tchar(c) && b->state != CS_EXT_AFTER_QUOTE)
      return 0;
    if (c == '\r')
      b->state = CS_SIZE_LF;
    else if (c == ';')
      b->state = CS_EXT_PRE_NAME;
    else if (c == '=' && b->state == CS_EXT_NAME)
      b->state = CS_EXT_PRE_VALUE;
    else if (xfer__is_ows(c))
      b->state = b->state == CS_EXT_NAME ? CS_EXT_NAME_BWS : CS_EXT_BWS;
    else
      return chunk_error(errmsg, "Invalid chunk extension in the chunked response body");
    return 0;
  case CS_EXT_PRE_VALUE:
    if (xfer__is_ows(c))
      return 0;
    if (c == '"')
      b->state = CS_EXT_QUOTED;
    else if (xfer__is_tchar(c))
      b->state = CS_EXT_VALUE;
    else
      return chunk_error(errmsg, "Invalid chunk extension in the chunked response body");
    return 0;
  case CS_EXT_QUOTED:
    if (c == '"')
      b->state = CS_EXT_AFTER_QUOTE;
    else if (c == '\\')
      b->state = CS_EXT_QUOTED_ESC;
    else if (!is_qdtext(c))
      return chunk_error(errmsg, "Invalid chunk extension in the chunked response body");
    return 0;
  case CS_EXT_QUOTED_ESC:
    if (!is_quoted_pair_char(c))
      return chunk_error(errmsg, "Invalid chunk extension in the chunked response body");
    b->state = CS_EXT_QUOTED;
    return 0;
  case CS_SIZE_LF:
    if (c != '\n')
      return chunk_error(errmsg, "Bare CR in a chunk-size line of the chunked response body");
    line_reset(b);
    b->digits = 0;
    b->state = b->remaining == 0 ? CS_TR_LINE_START : CS_DATA;
    return 0;
  default:
    return chunk_error(errmsg, "Internal chunked decoder state error");
  }
}

/* One byte of the trailer section. Trailers are read and dropped: the
 * header rules and limits of a head apply to them (RFC 9110 section 6.5
 * forbids merging them, so a trailer can never change the framing). */
static int trailer_byte(struct xfer__http_body *b, unsigned char c, const char **errmsg) {
  if (!line_count(b))
    return xfer__fail(errmsg, "A trailer line is longer than the header line limit",
                      XFER__ETOOLARGE);
  if (b->trailer_bytes == 0)
    return xfer__fail(errmsg, "The trailer section is larger than the head size limit",
                      XFER__EHEADSIZE);
  b->trailer_bytes--;
  if (c == '\0')
    return xfer__fail(errmsg, "NUL byte in the trailer section", XFER__EMALFORMED);
  switch (b->state) {
  case CS_TR_LINE_START:
    if (c == '\n') {
      b->state = CS_DONE; /* a bare LF line end is accepted, as in a head */
    } else if (c == '\r') {
      b->state = CS_TR_END_LF;
    } else if (xfer__is_tchar(c)) {
      if (b->trailer_lines == 0)
        return xfer__fail(errmsg, "The trailer section has more lines than the header limit allows",
                          XFER__ETOOLARGE);
      b->trailer_lines--;
      b->state = CS_TR_NAME;
    } else if (xfer__is_ows(c)) {
      return xfer__fail(errmsg, "Folded line (obs-fold) in the trailer section", XFER__EMALFORMED);
    } else {
      return xfer__fail(errmsg, "Invalid trailer name in the response", XFER__EMALFORMED);
    }
    return 0;
  case CS_TR_NAME:
    if (c == ':')
      b->state = CS_TR_VALUE;
    else if (c == '\r' || c == '\n')
      return xfer__fail(errmsg, "Trailer line without a colon in the response", XFER__EMALFORMED);
    else if (!xfer__is_tchar(c))
      return xfer__fail(errmsg, "Invalid trailer name in the response", XFER__EMALFORMED);
    return 0;
  case CS_TR_VALUE:
    if (c == '\r') {
      b->state = CS_TR_VALUE_CR;
    } else if (c == '\n') {
      line_reset(b);
      b->state = CS_TR_LINE_START;
    } else if (!is_value_char(c)) {
      return xfer__fail(errmsg, "Invalid character in a trailer value", XFER__EMALFORMED);
    }
    return 0;
  case CS_TR_VALUE_CR:
    if (c != '\n')
      return xfer__fail(errmsg, "Bare CR in the trailer section", XFER__EMALFORMED);
    line_reset(b);
    b->state = CS_TR_LINE_START;
    return 0;
  case CS_TR_END_LF:
    if (c != '\n')
      return xfer__fail(errmsg, "Bare CR in the trailer section", XFER__EMALFORMED);
    b->state = CS_DONE;
    return 0;
  default:
    return chunk_error(errmsg, "Internal chunked decoder state error");
  }
}

static int feed_chunked(struct xfer__http_body *b, const char *buf, size_t len, size_t *consumed,
                        xfer__http_data_fn on_data, void *ctx, const char **errmsg) {
  size_t i = 0;
  int rc = 0;
  while (i < len && b->state != CS_DONE) {
    unsigned char c = (unsigned char)buf[i];
    if (b->state == CS_DATA) {
      size_t n = len - i;
      if ((uint64_t)n > b->remaining)
        n = (size_t)b->remaining;
      b->remaining -= n;
      if (b->remaining == 0)
        b->state = CS_DATA_CR;
      i += n;
      if (on_data && (rc = on_data(ctx, buf + i - n, n)) != 0) {
        rc = data_error(rc, errmsg);
        break;
      }
      continue;
    }
    if (b->state == CS_DATA_CR || b->state == CS_DATA_LF) {
      /* RFC 9112 requires CRLF after the data; a bare LF here is refused
       * like one after the size (picohttpparser a875a01). */
      if (c != (b->state == CS_DATA_CR ? '\r' : '\n')) {
        rc = chunk_error(errmsg, "Chunk data not followed by CRLF in the chunked response body");
        break;
      }
      b->state = b->state == CS_DATA_CR ? CS_DATA_LF : CS_SIZE_FIRST;
      i++;
      continue;
    }
    rc = b->state >= CS_TR_LINE_START ? trailer_byte(b, c, errmsg) : size_line_byte(b, c, errmsg);
    if (rc != 0)
      break;
    i++;
  }
  *consumed = i;
  if (rc != 0)
    return rc;
  if (b->state == CS_DONE) {
    b->done = 1;
    return 1;
  }
  return 0;
}

int xfer__http_body_feed(struct xfer__http_body *b, const char *buf, size_t len, size_t *consumed,
                         xfer__http_data_fn on_data, void *ctx, const char **errmsg) {
  size_t n;
  int rc;
  *consumed = 0;
  if (b->done)
    return 1;
  switch (b->framing) {
  case XFER__HTTP_BODY_CHUNKED:
    return feed_chunked(b, buf, len, consumed, on_data, ctx, errmsg);
  case XFER__HTTP_BODY_LENGTH:
    n = len;
    if ((uint64_t)n > b->remaining)
      n = (size_t)b->remaining;
    b->remaining -= n;
    *consumed = n;
    if (b->remaining == 0)
      b->done = 1;
    break;
  case XFER__HTTP_BODY_CLOSE:
    n = len;
    *consumed = n;
    break;
  default:
    b->done = 1;
    return 1;
  }
  if (n > 0 && on_data && (rc = on_data(ctx, buf, n)) != 0)
    return data_error(rc, errmsg);
  return b->done ? 1 : 0;
}

int xfer__http_body_eof(struct xfer__http_body *b, const char **errmsg) {
  if (b->done)
    return 1;
  if (b->framing == XFER__HTTP_BODY_CLOSE) {
    b->done = 1;
    return 1;
  }
  if (b->framing == XFER__HTTP_BODY_CHUNKED)
    return xfer__fail(errmsg, "The connection closed before the end of the chunked response body",
                      XFER__EPARTIAL);
  return xfer__fail(errmsg, "The connection closed before the whole Content-Length body arrived",
                    XFER__EPARTIAL);
}
