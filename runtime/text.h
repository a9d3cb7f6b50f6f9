/* Small byte-classification helpers shared by the HTTP codec and the URL
 * parser: RFC 9110's token and whitespace classes, case-insensitive
 * comparison of a view with a literal, and the codec's error return. */
#ifndef XFER_RUNTIME_TEXT_H
#define XFER_RUNTIME_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

static inline unsigned char xfer__ascii_lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Case-insensitive comparison of s[0..n) with a lower-case literal. */
static inline int xfer__view_is(const char *s, size_t n, const char *lit) {
  for (size_t i = 0; i < n; i++) {
    if (lit[i] == '\0' || xfer__ascii_lower((unsigned char)s[i]) != (unsigned char)lit[i])
      return 0;
  }
  return lit[n] == '\0';
}

/* RFC 9110 section 5.6.2 tchar. */
static inline int xfer__is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return 1;
  switch (c) {
  case '!':
  case '#':
  case '$':
  case '%':
  case '&':
  case '\'':
  case '*':
  case '+':
  case '-':
  case '.':
  case '^':
  case '_':
  case '`':
  case '|':
  case '~':
    return 1;
  default:
    return 0;
  }
}

/* The value of a hexadecimal digit, or -1 for any other byte. */
static inline int xfer__hex_value(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Optional whitespace (RFC 9110 section 5.6.3). */
static inline int xfer__is_ows(unsigned char c) { return c == ' ' || c == '\t'; }

/* Writes v in decimal (no NUL) and returns the digit count, at most 20. */
static inline size_t xfer__format_u64(char *out, uint64_t v) {
  char tmp[20]; /* UINT64_MAX has 20 decimal digits */
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

/* Points *errmsg at a static sentence and returns err, a negative errno or
 * xfer-private code (error.h): how every codec function reports an error. */
static inline int xfer__fail(const char **errmsg, const char *msg, int err) {
  if (errmsg)
    *errmsg = msg;
  return err;
}

#endif
