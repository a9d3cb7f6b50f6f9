/*
 * Scriptable HTTP/1.1 test server for xfer's network tests (prefix ts_).
 *
 * It runs inside the test process: one acceptor thread plus one thread per
 * connection, blocking sockets, and every wait bounded (poll() with a
 * timeout that also watches a stop pipe, SO_RCVTIMEO/SO_SNDTIMEO as a second
 * bound), so a misbehaving client can slow a test down but never hang it.
 * It listens on 127.0.0.1 with an ephemeral port (never a fixed one). Start a
 * second instance when a test needs an "other origin".
 *
 * Request handling, per connection, in a loop (keep-alive):
 *   1. read one request head (leading empty lines are skipped; CRLF or bare LF
 *      line ends are accepted, because the server records what the client
 *      sent, it does not judge it); the request counter goes up here;
 *   2. unless the matching scripted route has TS_ROUTE_HEAD_ONLY, read the
 *      body as framed by Transfer-Encoding: chunked (wins) or Content-Length;
 *      "Expect: 100-continue" gets an automatic "HTTP/1.1 100 Continue" first
 *      (again not for TS_ROUTE_HEAD_ONLY routes, which script it themselves);
 *   3. answer from a scripted route whose path equals the request target
 *      exactly (query included), else from the built-in routes below;
 *   4. read the next request on the same connection unless a step closed it.
 * The raw bytes of every request (head + body exactly as received, chunk
 * framing included) are logged; see ts_last_request() and ts_request_log().
 *
 * Built-in routes (HEAD gets the same head and no body; any other method is
 * answered like GET; numbers are decimal; a query string is ignored unless
 * said otherwise; a malformed number gives 400):
 *   /bytes/N          200, Content-Length: N, body ts_pattern(0..N), keep-alive
 *   /chunked/N        200, Transfer-Encoding: chunked, same N bytes in chunks
 *                     whose sizes cycle through 1,3,16,100,1000,4096,7,16384,
 *                     65536,2 (so both tiny and large chunks occur), then
 *                     "0\r\n\r\n"
 *   /close/N          200, Connection: close, no Content-Length, N bytes, then
 *                     FIN (read-to-EOF framing)
 *   /echo             200, Content-Length, body = the whole raw request (head
 *                     and body exactly as received); 413 if the request was
 *                     larger than TS_STORE_MAX
 *   /status/N         status N (100..599), empty body; 204 and 304 carry no
 *                     Content-Length and no body, every other final status has
 *                     "Content-Length: 0"; a 1xx N is sent as an interim
 *                     response followed by "200 OK" with Content-Length: 0
 *   /delay/MS/N       waits MS milliseconds (capped at 600000; stop-aware), then
 *                     answers like /bytes/N
 *   /redirect/CODE/HOPS?to=URL
 *   /redirect/CODE?to=URL   (HOPS = 1)
 *                     status CODE, Content-Length: 0. With HOPS > 1 the
 *                     Location is "/redirect/CODE/(HOPS-1)?to=URL" (query
 *                     kept verbatim), so a client follows HOPS redirects in
 *                     all; with HOPS == 1 the Location is URL percent-decoded
 *                     (so "?to=%2Fbytes%2F5%3Fa%3Db" gives "/bytes/5?a=b";
 *                     URL may also be absolute, e.g. another server's
 *                     ts_url()). Without "to=" the final Location is
 *                     "/bytes/16". A decoded URL with CR, LF or NUL gives 400.
 *   /headers/N        200 with N extra header lines "X-H-i: i" (i = 1..N,
 *                     N <= 1000000) and the body "headers\n" (Content-Length 8)
 *   /slow/N           200, Content-Length: N, the N pattern bytes dripped one
 *                     byte per write with 10 ms between bytes
 *   /slow/N/MS        same with MS milliseconds between bytes (MS <= 10000)
 *   anything else     404, Content-Length, body "not found\n"
 * A request with "Connection: close" (or HTTP/1.0 without keep-alive) makes a
 * built-in route close the connection (FIN) after its response. Scripted
 * routes never close unless a step does.
 *
 * Closing: TS_FIN and the built-in closes send FIN with shutdown(SHUT_WR),
 * then read and discard what the client still sends (at most TS_DRAIN_MS or
 * until its EOF) before close(), so unread request bytes do not turn the FIN
 * into an RST. TS_RST sets SO_LINGER {1,0} and closes at once (RST).
 *
 * Thread safety: every function may be called from any thread while the
 * server runs, except ts_stop() (once, after which the pointer is invalid).
 */
#ifndef XFER_TESTS_TESTSERVER_H
#define XFER_TESTS_TESTSERVER_H

#include <stddef.h>
#include <stdint.h>

/* Bounds the server applies (documented so tests can aim past them). */
#define TS_HEAD_MAX (1u << 20) /* request head larger -> 431 + close */
#define TS_STORE_MAX \
  (64u << 20)                        /* raw request bytes kept for /echo and
                                       ts_last_request; more is read and
                                       counted, not kept */
#define TS_LOG_KEEP     (256u << 10) /* raw bytes kept per ts_request_log entry */
#define TS_LOG_MAX      1000000u     /* log entries kept (counters go on) */
#define TS_IO_MS        30000        /* no progress mid-request/response: close */
#define TS_KEEPALIVE_MS 120000       /* idle between requests: close */
#define TS_DRAIN_MS     2000         /* read-after-FIN bound */
#define TS_WAIT_CAP_MS  600000       /* cap on TS_SLEEP/TS_IDLE/delays */
#define TS_BACKLOG      1024         /* listen() backlog */

struct ts_server;

enum ts_op {
  TS_SEND,          /* send data/len; how is set by ts_set_delivery() */
  TS_SEND_BYTEWISE, /* one byte per send(), TCP_NODELAY, no sleeps */
  TS_SLEEP,         /* wait ms milliseconds (stop-aware) */
  TS_FIN,           /* FIN (shutdown WR, bounded drain, close); ends steps */
  TS_RST,           /* SO_LINGER {1,0} then close: RST; ends steps */
  TS_SHUTDOWN_WR,   /* shutdown(SHUT_WR) only; later steps still run */
  TS_IDLE,          /* never answer: keep reading and discarding until the
                         client closes or ts_stop(); ends the connection */
  TS_READ_BODY,     /* read the request body now (only does something in a
                         TS_ROUTE_HEAD_ONLY route, where it was not read yet) */
  TS_SEND_SPLIT,    /* send data/len cut at pseudo-random points, seed = ms
                         (delivery mode D3), TCP_NODELAY */
  TS_DRIP,          /* send data/len one byte per send(), ms between bytes */
  TS_STOP_READING,  /* stop reading (the receive window fills up) and wait,
                         without answering, until the client closes or
                         ts_stop(); ends the connection */
};

/*
 * One step. data/len are copied by ts_route() (the caller's buffers may be
 * temporary). For the send ops, len == 0 with data != NULL means strlen(data).
 */
struct ts_step {
  enum ts_op op;
  const char *data;
  size_t len;
  int ms;
};

/* Step literals: TS_S("HTTP/1.1 200 OK\r\n...") etc. (string literals only). */
#define TS_S(lit) \
  { TS_SEND, (lit), sizeof(lit) - 1, 0 }
#define TS_S1(lit) \
  { TS_SEND_BYTEWISE, (lit), sizeof(lit) - 1, 0 }
#define TS_SLEEP_MS(n) \
  { TS_SLEEP, NULL, 0, (n) }
#define TS_STEP(op_) \
  { (op_), NULL, 0, 0 }

/* Route flags for ts_route_ex(). */
#define TS_ROUTE_HEAD_ONLY \
  1u /* run steps after the head; body via TS_READ_BODY
                                 (read and logged anyway after the last step
                                 if the connection is still open) */
#define TS_ROUTE_ONCE \
  2u /* answer one request only; later requests fall
                                 through to older routes or the built-ins */

/* Start a server on 127.0.0.1:<ephemeral>. NULL (and a line on stderr) on
 * failure. */
struct ts_server *ts_start(void);
/* Stop: close the listener and every connection, join all threads, free. */
void ts_stop(struct ts_server *s);

uint16_t ts_port(const struct ts_server *s);
/* "http://127.0.0.1:PORT/path" ("/" is added if path lacks it; NULL = "/"). */
void ts_url(const struct ts_server *s, const char *path, char *out, size_t outlen);

/* A request whose target equals path runs steps in order. A newer route for
 * the same path hides the older one. Safe while the server runs. */
void ts_route(struct ts_server *s, const char *path, const struct ts_step *steps, size_t nsteps);
void ts_route_ex(struct ts_server *s, const char *path, const struct ts_step *steps, size_t nsteps,
                 unsigned flags);
/* A route that sends one fixed raw response (one TS_SEND step). */
void ts_route_raw(struct ts_server *s, const char *path, const char *raw, size_t len);
/* Steps run on every new connection right after accept(), before any request
 * is read (server greeting garbage, close or RST at accept, ...). If they do
 * not close, normal request handling follows. Replaces earlier ones; nsteps 0
 * removes them. Affects connections accepted afterwards. */
void ts_on_accept(struct ts_server *s, const struct ts_step *steps, size_t nsteps);

/* A server that accepts slowly: the acceptor waits ms milliseconds
 * (stop-aware, capped at TS_WAIT_CAP_MS) before each accept(), so at most
 * one connection is accepted per ms. Meanwhile clients' connections wait in
 * the kernel's accept queue (listen backlog TS_BACKLOG): their connect()
 * has completed, their requests are buffered by the kernel, and nothing
 * answers them until they are accepted. 0 (the default) accepts at once.
 * Takes effect from the next accept. */
void ts_set_accept_delay(struct ts_server *s, int ms);

/* How TS_SEND steps deliver bytes (the b.0 delivery modes); default WHOLE.
 * Built-in routes are not affected. */
enum ts_delivery {
  TS_D_WHOLE,    /* D1: one send() for the whole buffer */
  TS_D_BYTEWISE, /* D2: one byte per send(), TCP_NODELAY */
  TS_D_SPLIT,    /* D3: pseudo-random split points from seed, TCP_NODELAY */
};
void ts_set_delivery(struct ts_server *s, enum ts_delivery mode, uint32_t seed);

/* Counters (atomic). */
uint64_t ts_connections(const struct ts_server *s);      /* accepted so far */
uint64_t ts_requests(const struct ts_server *s);         /* request heads read so far */
uint64_t ts_open_connections(const struct ts_server *s); /* not yet closed */
/* Connections that ended because the client closed (EOF) or reset them,
 * as seen by a read or a write of the server (curl's connection-monitor). */
uint64_t ts_client_closes(const struct ts_server *s);

/* Bounded waits for a counter to reach n: 0 when reached, -1 on timeout.
 * Use these instead of sleeps. */
int ts_wait_requests(struct ts_server *s, uint64_t n, int timeout_ms);
int ts_wait_connections(struct ts_server *s, uint64_t n, int timeout_ms);
int ts_wait_client_closes(struct ts_server *s, uint64_t n, int timeout_ms);
/* Wait until ts_open_connections() == n. */
int ts_wait_open(struct ts_server *s, uint64_t n, int timeout_ms);

/*
 * Raw bytes (head + body as received) of the most recent request: copies up
 * to outlen bytes (no NUL added) and returns the full stored length (at most
 * TS_STORE_MAX), like snprintf. 0 if there was no request. The body is added
 * as it is read, always before the response's first byte is sent.
 */
size_t ts_last_request(struct ts_server *s, char *out, size_t outlen);
/* Same for request number idx (0 = first head read by this server, in the
 * order of ts_requests()); at most TS_LOG_KEEP bytes are kept per entry.
 * Returns the stored length, 0 if idx is out of range. */
size_t ts_request_log(struct ts_server *s, size_t idx, char *out, size_t outlen);
/* Connection (1 = first accepted) on which request idx arrived; 0 if none.
 * The oracle for connection reuse: same id = reused, new id = new connection. */
uint64_t ts_request_conn(struct ts_server *s, size_t idx);

/* Deterministic body bytes: byte i of every built-in body is
 * ts_pattern(i, ...). Not periodic, so an offset error shows. */
void ts_pattern(uint64_t offset, char *out, size_t len);
/* 1 if buf[0..len) equals the pattern from offset, else 0. */
int ts_pattern_check(uint64_t offset, const char *buf, size_t len);

#endif
