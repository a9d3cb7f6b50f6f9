/* The built-in HTTP/1.1 server's connection layer, shared by server.c (the
 * event loop) and server_conn.c (buffers and request parsing). */
#ifndef XFER_LOAD_SERVER_H
#define XFER_LOAD_SERVER_H

#include <stddef.h>
#include <stdint.h>

/* The largest request head the server accepts. Load-test requests carry a
 * few hundred bytes of head at most; 8 KiB is the limit most servers use, and
 * a larger head gets 431 and a close, so memory stays bounded. */
#define SERVER_CONN_IN_SIZE 8192

/* Room for responses not yet written. A pipelining client can ask for many
 * responses in one read; 16 KiB holds over 300 of the 51-byte answers, and
 * when it fills up the server simply stops reading until it drains. */
#define SERVER_CONN_OUT_SIZE 16384

struct server_conn {
  int fd;
  /* The epoll interest currently registered, so that epoll_ctl is only
   * called when it changes (normally never, for a keep-alive connection). */
  uint32_t events;
  /* Bytes of in[] that hold request data, and how far in[] has already been
   * searched for the end of a head, so a head that arrives in pieces is not
   * searched again from its start on every read. */
  size_t in_len;
  size_t scanned;
  /* Request body bytes still to be read and discarded before the response
   * to that request is due. */
  uint64_t body_left;
  /* What the response owed after the body will look like. */
  int pending_head_only;
  int pending_close;
  /* Queued response bytes: out[out_off, out_len) is still to be sent. */
  size_t out_off;
  size_t out_len;
  /* Set once a response that ends the connection is queued: no further
   * request is read, and once out[] has drained the connection lingers. */
  int closing;
  /* Lingering: the write side is shut and input is read and discarded until
   * the peer closes, so that unread requests do not make the kernel reset
   * the connection and destroy the last response before the peer reads it. */
  int draining;
  size_t drained;
  char in[SERVER_CONN_IN_SIZE];
  char out[SERVER_CONN_OUT_SIZE];
};

void conn_init(struct server_conn *c, int fd);

/* Each returns 0 while the connection stays open and -1 when it must be
 * closed (peer gone, I/O error, or a closing response fully sent). */
int conn_on_readable(struct server_conn *c);
int conn_on_writable(struct server_conn *c);

/* The epoll events the connection wants now. */
uint32_t conn_wanted_events(const struct server_conn *c);

#endif
