/* The runtime's one error space. Every internal function returns 0 (or a
 * count) on success and a negative number on failure: a negative errno
 * (-ENOMEM, -EMFILE, -ECONNRESET, ...) when the cause has one, as libuv and
 * liburing do, or one of the xfer-private codes below when it has none (a
 * malformed response, a callback's refusal). The private codes sit below
 * -4095, the lowest value the Linux kernel uses for an errno (MAX_ERRNO in
 * include/linux/err.h), so no errno can ever collide with one, the way
 * libuv's UV__EOF does.
 *
 * The libcurl-numbered xfer_code a user sees is decided in one place, at
 * the transfer's edge or a public function's: xfer__code_of(). The
 * sentence for the error buffer is written by the site that knows the
 * context; xfer__err_text() gives the fallback wording.
 * docs/internals/errors.md lists the codes and the choices. */
#ifndef XFER_RUNTIME_ERROR_H
#define XFER_RUNTIME_ERROR_H

#include "xfer/xfer.h"

/* The first private code: one below the kernel's lowest errno, -4095. */
#define XFER__ERR_BASE (-4096)

enum {
  /* The response breaks HTTP/1.1 syntax (status line, header line, a NUL
   * or bare CR): no errno describes a peer's grammar. WEIRD_SERVER_REPLY. */
  XFER__EMALFORMED = XFER__ERR_BASE,
  /* The peer's bytes are not HTTP/1.x at all (another protocol, an
   * unsupported version or status). UNSUPPORTED_PROTOCOL, as libcurl. */
  XFER__ENOTHTTP = XFER__ERR_BASE - 1,
  /* A transfer coding this build cannot decode. BAD_CONTENT_ENCODING. */
  XFER__EENCODING = XFER__ERR_BASE - 2,
  /* One header or trailer line, or their count, is over its limit.
   * TOO_LARGE. */
  XFER__ETOOLARGE = XFER__ERR_BASE - 3,
  /* A whole head, trailer section or the heads of one transfer are over
   * the head size limit. RECV_ERROR, as libcurl's header-size check. */
  XFER__EHEADSIZE = XFER__ERR_BASE - 4,
  /* Broken chunked framing. RECV_ERROR, as libcurl (its tests 36, 1416). */
  XFER__EBADCHUNK = XFER__ERR_BASE - 5,
  /* The body ended before the end its framing announced. PARTIAL_FILE. */
  XFER__EPARTIAL = XFER__ERR_BASE - 6,
  /* A URL (or a redirect target) that does not parse. URL_MALFORMAT. */
  XFER__EURL = XFER__ERR_BASE - 7,
  /* A URL whose scheme is neither http nor https. UNSUPPORTED_PROTOCOL. */
  XFER__ESCHEME = XFER__ERR_BASE - 8,
  /* An option string with a bad syntax (an XFEROPT_RESOLVE line).
   * SETOPT_OPTION_SYNTAX. */
  XFER__ESYNTAX = XFER__ERR_BASE - 9,
  /* The resolver answered with no address: getaddrinfo's EAI_* codes are
   * not errnos. COULDNT_RESOLVE_HOST. */
  XFER__ENOHOST = XFER__ERR_BASE - 10,
  /* A callback asked the transfer to stop (read or progress callback).
   * ABORTED_BY_CALLBACK. */
  XFER__EABORTED = XFER__ERR_BASE - 11,
  /* The write or header callback took fewer bytes than it was given.
   * WRITE_ERROR. */
  XFER__EWRITE = XFER__ERR_BASE - 12,
  /* The read callback returned what it may not (too much, too little,
   * a pause). READ_ERROR. */
  XFER__EREAD = XFER__ERR_BASE - 13,
  /* The library itself failed to allocate for an operation and says so
   * in the operation's result (a backend's bookkeeping for a submitted op,
   * a connection's receive queue). Distinct from -ENOMEM there, which is
   * the kernel's own answer to that system call (recv(2) may give it) and
   * is a receive or send error like the others. OUT_OF_MEMORY. */
  XFER__EOPNOMEM = XFER__ERR_BASE - 14,
  XFER__ERR_LAST = XFER__ERR_BASE - 14
};

/* Whether err is a negative errno rather than a private code or success. */
static inline int xfer__is_errno(int err) { return err < 0 && err > XFER__ERR_BASE; }

/* The xfer_code for err. Private codes, -ENOMEM and -EINVAL (an argument
 * the caller got wrong: BAD_FUNCTION_ARGUMENT) have a code of their own;
 * any other errno is a system call's failure, which means what the step
 * that made it was doing: `sys` (RECV_ERROR for a receive, COULDNT_CONNECT
 * for a connect, ...). 0 is XFERE_OK. */
xfer_code xfer__code_of(int err, xfer_code sys);

/* The same for a system call's or a backend operation's result, where every
 * errno is that call's own answer: -ENOMEM from recv(2) or socket(2) is a
 * failure of the step (`sys`), not the library running out of memory. */
static inline xfer_code xfer__code_of_call(int err, xfer_code sys) {
  return xfer__is_errno(err) ? sys : xfer__code_of(err, sys);
}

/* A short fallback sentence for err: strerror's for an errno, a fixed one
 * for a private code. */
const char *xfer__err_text(int err);

#endif
