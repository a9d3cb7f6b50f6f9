/* The string helpers of libcurl's API that programs call beside transfers:
 * percent-encoding (curl_easy_escape / curl_easy_unescape) and the date
 * parser (curl_getdate). Results are allocated through the hooks of
 * runtime/alloc.h and freed with xfer_free(). */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "text.h"
#include "xfer/xfer.h"

/* ---- percent-encoding ---------------------------------------------------- */

/* RFC 3986 section 2.3: the unreserved characters are never encoded. */
static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

char *xfer_easy_escape(xfer_easy *e, const char *s, int length) {
  (void)e; /* libcurl accepts any handle, NULL included */
  if (!s || length < 0)
    return NULL;
  size_t n = length ? (size_t)length : strlen(s);
  if (n > (SIZE_MAX - 1) / 3)
    return NULL;
  char *out = xfer__malloc(n * 3 + 1);
  if (!out)
    return NULL;
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c)) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = '\0';
  return out;
}

char *xfer_easy_unescape(xfer_easy *e, const char *s, int length, int *outlength) {
  (void)e;
  if (!s || length < 0)
    return NULL;
  size_t n = length ? (size_t)length : strlen(s);
  if (n > INT_MAX)
    return NULL; /* the length goes back in an int */
  char *out = xfer__malloc(n + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int hi, lo;
    /* A '%' without two hex digits is kept as it is, as libcurl does. */
    if (s[i] == '%' && i + 2 < n && (hi = xfer__hex_value((unsigned char)s[i + 1])) >= 0 &&
        (lo = xfer__hex_value((unsigned char)s[i + 2])) >= 0) {
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  if (outlength)
    *outlength = (int)o;
  return out;
}

/* ---- dates --------------------------------------------------------------- */

static const char *const months[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const wdays[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
static const char *const wdays_long[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                          "friday", "saturday", "sunday"};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil), so no timegm() and no TZ is involved. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int word_is(const char *w, size_t n, const char *const *list, int count) {
  for (int i = 0; i < count; i++)
    if (strlen(list[i]) == n && strncasecmp(w, list[i], n) == 0)
      return i;
  return -1;
}

/* The three date forms of RFC 9110 section 5.6.7 (IMF-fixdate, RFC 850 and
 * asctime) and the looser ones libcurl's parser also takes: words (weekday,
 * month, GMT or UTC) and numbers in any order, hh:mm[:ss], a 4-digit or
 * 2-digit year, and a numeric zone +hhmm / -hhmm. Anything it cannot place
 * makes the whole date invalid: -1. */
time_t xfer_getdate(const char *p, const time_t *unused) {
  (void)unused;
  if (!p)
    return -1;
  const char *start = p;
  int year = -1, mon = -1, mday = -1, hh = -1, mm = -1, ss = -1;
  long zone = 0; /* seconds east of UTC */
  int zone_set = 0;
  while (*p) {
    unsigned char c = (unsigned char)*p;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      const char *w = p;
      while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
        p++;
      size_t n = (size_t)(p - w);
      int k;
      if ((k = word_is(w, n, months, 12)) >= 0) {
        if (mon >= 0)
          return -1;
        mon = k;
      } else if (word_is(w, n, wdays, 7) >= 0 || word_is(w, n, wdays_long, 7) >= 0) {
        /* the weekday says nothing the date does not */
      } else if ((n == 3 && (strncasecmp(w, "GMT", 3) == 0 || strncasecmp(w, "UTC", 3) == 0)) ||
                 (n == 1 && (*w == 'Z' || *w == 'z'))) {
        if (zone_set)
          return -1;
        zone_set = 1;
      } else {
        return -1;
      }
    } else if (c >= '0' && c <= '9') {
      const char *d = p;
      long v = 0;
      while (*p >= '0' && *p <= '9' && p - d < 9)
        v = v * 10 + (*p++ - '0');
      if (*p >= '0' && *p <= '9')
        return -1;
      size_t n = (size_t)(p - d);
      if (*p == ':' && hh < 0) {
        /* hh:mm or hh:mm:ss */
        int a = (int)v, b = 0, s = 0;
        p++;
        if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
          return -1;
        b = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':') {
          p++;
          if (!(p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9'))
            return -1;
          s = (p[0] - '0') * 10 + (p[1] - '0');
          p += 2;
        }
        if (a > 23 || b > 59 || s > 60)
          return -1;
        hh = a;
        mm = b;
        ss = s;
      } else if (d > start && (d[-1] == '+' || d[-1] == '-') && n == 4 && hh >= 0 && !zone_set) {
        long zh = v / 100, zm = v % 100;
        if (zh > 14 || zm > 59)
          return -1;
        zone = (zh * 3600 + zm * 60) * (d[-1] == '+' ? 1 : -1);
        zone_set = 1;
      } else if (n == 4 && year < 0) {
        year = (int)v;
      } else if (n <= 2 && mday < 0 && v >= 1 && v <= 31) {
        mday = (int)v;
      } else if (n == 2 && year < 0) {
        year = (int)(v < 70 ? 2000 + v : 1900 + v); /* RFC 6265's rule */
      } else {
        return -1;
      }
    } else if (c == ' ' || c == ',' || c == '-' || c == '+' || c == '\t' || c == '/') {
      p++;
    } else {
      return -1;
    }
  }
  if (year < 0 || mon < 0 || mday < 0)
    return -1;
  if (hh < 0)
    hh = mm = ss = 0; /* a date without a time is its midnight */
  if (year < 1583)
    return -1; /* before the Gregorian calendar: libcurl refuses it too */
  int64_t t = days_from_civil(year, (unsigned)mon + 1, (unsigned)mday) * 86400 + hh * 3600 +
              mm * 60 + ss - zone;
  if ((time_t)t != t)
    return -1;
  return (time_t)t;
}
