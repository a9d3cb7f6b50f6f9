/* One connection of the built-in server: incremental request parsing,
 * request bodies, pipelining and bounded buffers. Every request gets the same
 * 13-byte answer, which is what the peers' /small endpoint serves in the
 * performance baselines, so numbers taken against either are comparable. */
#include "server.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

static const char RESPONSE_OK[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";
static const char RESPONSE_OK_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!";
static const char RESPONSE_CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";
static const char RESPONSE_400[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char RESPONSE_431[] = "HTTP/1.1 431 Request Header Fields Too "
                                   "Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char RESPONSE_501[] =
    "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/* The body of the 200 answer, left out of the reply to HEAD. */
#define BODY_LEN (sizeof "Hello, world!" - 1)

/* Room that must be free in out[] before another request is parsed: enough
 * for the most one request can produce (an interim 100 Continue plus the
 * longest final answer), so a parsed request can always be answered. */
#define OUT_RESERVE 256
_Static_assert(sizeof RESPONSE_CONTINUE + sizeof RESPONSE_431 <= OUT_RESERVE,
               "OUT_RESERVE must hold the largest answer to one request");
_Static_assert(sizeof RESPONSE_CONTINUE + sizeof RESPONSE_OK_CLOSE <= OUT_RESERVE,
               "OUT_RESERVE must hold the largest answer to one request");

/* The most a lingering connection may discard before it is closed anyway;
 * a peer that keeps sending after an error cannot hold the server longer. */
#define LINGER_MAX (64 * 1024)

/* Content-Length values with more digits could overflow 64 bits; nobody
 * load-tests with exabyte bodies, so such a head is refused as malformed. */
#define MAX_LENGTH_DIGITS 18

/* What the server needs to know about one request head. */
struct request_head {
  int keep_alive;
  int head_only;
  int expect_continue;
  int transfer_coding;
  int has_length;
  uint64_t content_length;
};

void conn_init(struct server_conn *c, int fd) {
  /* Only the header fields are reset: the buffers are written before they
   * are read, and clearing 24 KiB per connection would be wasted work. */
  c->fd = fd;
  c->events = 0;
  c->in_len = 0;
  c->scanned = 0;
  c->body_left = 0;
  c->pending_head_only = 0;
  c->pending_close = 0;
  c->out_off = 0;
  c->out_len = 0;
  c->closing = 0;
  c->draining = 0;
  c->drained = 0;
}

static size_t out_pending(const struct server_conn *c) { return c->out_len - c->out_off; }

/* Whether out[] can take the answer to one more request, moving the unsent
 * bytes to the front first if that makes the difference. */
static int has_out_room(struct server_conn *c) {
  if (SERVER_CONN_OUT_SIZE - c->out_len >= OUT_RESERVE)
    return 1;
  if (c->out_off > 0) {
    memmove(c->out, c->out + c->out_off, out_pending(c));
    c->out_len -= c->out_off;
    c->out_off = 0;
  }
  return SERVER_CONN_OUT_SIZE - c->out_len >= OUT_RESERVE;
}

/* The caller has checked has_out_room() for this request. */
static void queue(struct server_conn *c, const char *s, size_t n) {
  memcpy(c->out + c->out_len, s, n);
  c->out_len += n;
}

static void queue_final(struct server_conn *c, int head_only, int close_after) {
  const char *r = close_after ? RESPONSE_OK_CLOSE : RESPONSE_OK;
  size_t n = close_after ? sizeof RESPONSE_OK_CLOSE - 1 : sizeof RESPONSE_OK - 1;
  if (head_only)
    n -= BODY_LEN;
  queue(c, r, n);
  if (close_after)
    c->closing = 1;
}

static void queue_error(struct server_conn *c, const char *r, size_t n) {
  queue(c, r, n);
  c->closing = 1;
}

/* The index just past the blank line that ends the head starting at pos, or
 * 0 when it has not arrived yet. The search resumes at from, which lies
 * between pos and len. A bare LF is accepted as a line end (RFC 9112 2.2). */
static size_t find_head_end(const char *buf, size_t pos, size_t from, size_t len) {
  const char *p = buf + from;
  const char *end = buf + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl)
      return 0;
    size_t i = (size_t)(nl - buf);
    if (i > pos && buf[i - 1] == '\n')
      return i + 1;
    if (i > pos + 1 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
      return i + 1;
    p = nl + 1;
  }
  return 0;
}

/* The next line of [*p, end) without its line end; the head is known to end
 * in a blank line, so a line end is always found. */
static void next_line(const char **p, const char *end, const char **line, size_t *len) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  if (!nl)
    nl = end;
  *line = *p;
  *len = (size_t)(nl - *p);
  if (*len > 0 && (*line)[*len - 1] == '\r')
    (*len)--;
  *p = nl < end ? nl + 1 : end;
}

static int is_tchar(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
         (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int is_ows(char ch) { return ch == ' ' || ch == '\t'; }

static int equals_nocase(const char *s, size_t n, const char *lit) {
  return n == strlen(lit) && strncasecmp(s, lit, n) == 0;
}

/* "METHOD SP target SP HTTP/d.d"; -1 when it is not that. */
static int parse_request_line(const char *s, size_t n, struct request_head *rq) {
  size_t i = 0;
  while (i < n && is_tchar(s[i]))
    i++;
  if (i == 0 || i == n || s[i] != ' ')
    return -1;
  /* Methods are case-sensitive (RFC 9110 9.1). */
  rq->head_only = i == 4 && memcmp(s, "HEAD", 4) == 0;
  size_t target = ++i;
  while (i < n && s[i] != ' ' && (unsigned char)s[i] > ' ' && s[i] != 0x7f)
    i++;
  if (i == target || i == n || s[i] != ' ')
    return -1;
  i++;
  const char *v = s + i;
  if (n - i != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
      v[7] < '0' || v[7] > '9')
    return -1;
  if (v[5] != '1')
    return -1;
  /* HTTP/1.0 closes after each answer unless the client asks otherwise. */
  rq->keep_alive = v[7] != '0';
  return 0;
}

static int parse_content_length(const char *v, size_t n, struct request_head *rq) {
  if (n == 0 || n > MAX_LENGTH_DIGITS)
    return -1;
  uint64_t value = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    value = value * 10 + (uint64_t)(v[i] - '0');
  }
  /* Two different lengths make the framing ambiguous (RFC 9112 6.3). */
  if (rq->has_length && rq->content_length != value)
    return -1;
  rq->has_length = 1;
  rq->content_length = value;
  return 0;
}

/* Connection is a comma-separated token list; only close and keep-alive
 * change anything. */
static void parse_connection(const char *v, size_t n, struct request_head *rq) {
  size_t i = 0;
  while (i < n) {
    while (i < n && (is_ows(v[i]) || v[i] == ','))
      i++;
    size_t start = i;
    while (i < n && v[i] != ',')
      i++;
    size_t end = i;
    while (end > start && is_ows(v[end - 1]))
      end--;
    if (equals_nocase(v + start, end - start, "close"))
      rq->keep_alive = 0;
    else if (equals_nocase(v + start, end - start, "keep-alive"))
      rq->keep_alive = 1;
  }
}

static int parse_header(const char *s, size_t n, struct request_head *rq) {
  /* Folded continuation lines are obsolete and refused (RFC 9112 5.2). */
  if (is_ows(s[0]))
    return -1;
  const char *colon = memchr(s, ':', n);
  if (!colon || colon == s)
    return -1;
  size_t name_len = (size_t)(colon - s);
  for (size_t i = 0; i < name_len; i++)
    if (!is_tchar(s[i]))
      return -1;
  const char *v = colon + 1;
  size_t vn = n - name_len - 1;
  while (vn > 0 && is_ows(v[0])) {
    v++;
    vn--;
  }
  while (vn > 0 && is_ows(v[vn - 1]))
    vn--;
  if (equals_nocase(s, name_len, "content-length"))
    return parse_content_length(v, vn, rq);
  if (equals_nocase(s, name_len, "transfer-encoding"))
    rq->transfer_coding = 1;
  else if (equals_nocase(s, name_len, "connection"))
    parse_connection(v, vn, rq);
  else if (equals_nocase(s, name_len, "expect"))
    rq->expect_continue = equals_nocase(v, vn, "100-continue");
  return 0;
}

static int parse_head(const char *p, size_t n, struct request_head *rq) {
  memset(rq, 0, sizeof *rq);
  const char *end = p + n;
  const char *line;
  size_t len;
  next_line(&p, end, &line, &len);
  if (parse_request_line(line, len, rq) < 0)
    return -1;
  for (;;) {
    next_line(&p, end, &line, &len);
    if (len == 0)
      return 0;
    if (parse_header(line, len, rq) < 0)
      return -1;
  }
}

/* Parses and answers every complete request in in[]. Returns 1 when it
 * stopped because out[] was full, so the caller knows draining out[] lets it
 * go on. */
static int process(struct server_conn *c) {
  size_t pos = 0;
  int stalled = 0;
  while (!c->closing) {
    if (c->body_left > 0) {
      size_t avail = c->in_len - pos;
      size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
      pos += take;
      c->body_left -= take;
      if (c->body_left > 0)
        break;
      queue_final(c, c->pending_head_only, c->pending_close);
      continue;
    }
    /* Empty lines before a request line are skipped (RFC 9112 2.2). */
    if (pos < c->in_len && c->in[pos] == '\n') {
      pos++;
      continue;
    }
    if (pos < c->in_len && c->in[pos] == '\r') {
      if (pos + 1 == c->in_len)
        break;
      if (c->in[pos + 1] == '\n') {
        pos += 2;
        continue;
      }
    }
    if (pos == c->in_len)
      break;
    if (!has_out_room(c)) {
      stalled = 1;
      break;
    }
    size_t end = find_head_end(c->in, pos, pos + c->scanned, c->in_len);
    if (end == 0) {
      if (pos == 0 && c->in_len == SERVER_CONN_IN_SIZE)
        queue_error(c, RESPONSE_431, sizeof RESPONSE_431 - 1);
      else
        c->scanned = c->in_len - pos;
      break;
    }
    c->scanned = 0;
    struct request_head rq;
    if (parse_head(c->in + pos, end - pos, &rq) < 0) {
      queue_error(c, RESPONSE_400, sizeof RESPONSE_400 - 1);
      break;
    }
    /* Chunked request bodies are out of scope for a load-test target; the
     * connection cannot be reframed without them, so it is closed. */
    if (rq.transfer_coding) {
      queue_error(c, RESPONSE_501, sizeof RESPONSE_501 - 1);
      break;
    }
    pos = end;
    c->body_left = rq.content_length;
    c->pending_head_only = rq.head_only;
    c->pending_close = !rq.keep_alive;
    if (rq.expect_continue && c->body_left > 0)
      queue(c, RESPONSE_CONTINUE, sizeof RESPONSE_CONTINUE - 1);
    if (c->body_left == 0)
      queue_final(c, rq.head_only, !rq.keep_alive);
  }
  /* What is left is the start of the next head; it moves to the front so
   * that in[] always has its full size for a head. */
  if (pos > 0) {
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
  }
  return stalled;
}

/* Sends what out[] holds: 0 when all of it went, 1 when the socket is full,
 * -1 on an error. */
static int flush(struct server_conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 1;
      return -1;
    }
    c->out_off += (size_t)n;
  }
  c->out_off = 0;
  c->out_len = 0;
  return 0;
}

/* Answers what can be answered and sends it, as long as that makes progress;
 * each round consumes input, so the loop ends. */
static int service(struct server_conn *c) {
  for (;;) {
    int stalled = process(c);
    int rc = flush(c);
    if (rc < 0)
      return -1;
    if (rc > 0)
      return 0;
    if (c->closing) {
      if (shutdown(c->fd, SHUT_WR) < 0)
        return -1;
      c->draining = 1;
      return 0;
    }
    if (!stalled)
      return 0;
  }
}

/* Reads and discards what a lingering connection receives; -1 once the
 * peer has closed, on an error, or after LINGER_MAX bytes. */
static int drain(struct server_conn *c) {
  ssize_t n = recv(c->fd, c->in, SERVER_CONN_IN_SIZE, 0);
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
  if (n == 0)
    return -1;
  c->drained += (size_t)n;
  return c->drained > LINGER_MAX ? -1 : 0;
}

int conn_on_readable(struct server_conn *c) {
  if (c->draining)
    return drain(c);
  /* With no room left (out[] full) nothing is read: recv into zero bytes
   * would look like the peer's end of stream. */
  if (!c->closing && c->in_len < SERVER_CONN_IN_SIZE) {
    ssize_t n = recv(c->fd, c->in + c->in_len, SERVER_CONN_IN_SIZE - c->in_len, 0);
    if (n == 0)
      return -1;
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return -1;
    } else {
      c->in_len += (size_t)n;
    }
  }
  return service(c);
}

int conn_on_writable(struct server_conn *c) { return c->draining ? 0 : service(c); }

uint32_t conn_wanted_events(const struct server_conn *c) {
  if (c->draining)
    return EPOLLIN;
  uint32_t ev = 0;
  if (!c->closing && c->in_len < SERVER_CONN_IN_SIZE &&
      SERVER_CONN_OUT_SIZE - out_pending(c) >= OUT_RESERVE)
    ev |= EPOLLIN;
  if (out_pending(c) > 0)
    ev |= EPOLLOUT;
  return ev;
}
