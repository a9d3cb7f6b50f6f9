/* Machine-readable results: --json writes every figure of a run and the
 * whole latency histogram; `xfer-load merge` reads such files back and adds
 * them up exactly (counts, bytes, CPU and histogram buckets are sums; the
 * wall time is the longest run's, since the runs are meant to run side by
 * side). The reader takes the format this file writes, and any JSON of the
 * same shape: objects, arrays, numbers and strings, nothing else. */
#include "load.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_VERSION 1

static void put_counts(FILE *f, const char *name, const uint64_t *v, unsigned n) {
  fprintf(f, "  \"%s\": {", name);
  const char *sep = "";
  for (unsigned i = 0; i < n; i++) {
    if (!v[i])
      continue;
    fprintf(f, "%s\"%u\": %llu", sep, i, (unsigned long long)v[i]);
    sep = ", ";
  }
  fputs("},\n", f);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void put_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

int json_write(const char *path, const char *const *urls, int nurls, const struct load_result *r) {
  FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
  if (!f) {
    fprintf(stderr, "xfer-load: --json %s: %s\n", path, strerror(errno));
    return -1;
  }
  fprintf(f, "{\n  \"format\": \"xfer-load\",\n  \"version\": %d,\n  \"urls\": [", FORMAT_VERSION);
  for (int i = 0; i < nurls; i++) {
    fputs(i ? ", " : "", f);
    put_string(f, urls[i]);
  }
  fputs("],\n  \"backend\": ", f);
  put_string(f, r->backend);
  fprintf(f,
          ",\n  \"runs\": %llu,\n  \"connections\": %ld,\n  \"threads\": %ld,\n"
          "  \"elapsed_s\": %.9f,\n  \"rate\": %.3f,\n  \"issued\": %llu,\n"
          "  \"user_s\": %.6f,\n  \"sys_s\": %.6f,\n  \"requests\": %llu,\n  \"errors\": %llu,\n"
          "  \"bad_status\": %llu,\n  \"body_bytes\": %llu,\n  \"header_bytes\": %llu,\n"
          "  \"header_bytes_known\": %d,\n  \"connections_opened\": %llu,\n"
          "  \"tls_backend\": %d,\n  \"handshakes\": %llu,\n  \"resumed\": %llu,\n"
          "  \"interrupted\": %d,\n",
          (unsigned long long)(r->runs ? r->runs : 1), r->slots, r->threads ? r->threads : 1,
          r->elapsed_s, r->rate, (unsigned long long)r->issued, r->user_s, r->sys_s,
          (unsigned long long)r->requests, (unsigned long long)r->errors,
          (unsigned long long)r->bad_status, (unsigned long long)r->body_bytes,
          (unsigned long long)r->header_bytes, r->header_bytes_known,
          (unsigned long long)r->connections, r->tls_backend, (unsigned long long)r->handshakes,
          (unsigned long long)r->resumed, r->interrupted);
  put_counts(f, "errors_by_code", r->errors_by_code, LOAD_MAX_CODES);
  put_counts(f, "by_status", r->by_status, LOAD_MAX_STATUS);
  const struct load_histogram *h = &r->latency;
  fprintf(f,
          "  \"latency\": {\n    \"count\": %llu, \"min_ns\": %llu, \"max_ns\": %llu, "
          "\"sum_ns\": %llu,\n    \"p50_ns\": %llu, \"p90_ns\": %llu, \"p99_ns\": %llu, "
          "\"p99_9_ns\": %llu,\n"
          "    \"buckets\": [",
          (unsigned long long)h->count, (unsigned long long)(h->count ? h->min_ns : 0),
          (unsigned long long)h->max_ns, (unsigned long long)h->sum_ns,
          (unsigned long long)histogram_percentile(h, 50.0),
          (unsigned long long)histogram_percentile(h, 90.0),
          (unsigned long long)histogram_percentile(h, 99.0),
          (unsigned long long)histogram_percentile(h, 99.9));
  /* Only the buckets that hold samples, as [index, count] pairs: a whole
   * histogram is 3,072 buckets, nearly all empty. */
  const char *sep = "";
  for (unsigned b = 0; b < LOAD_HIST_BUCKETS; b++) {
    if (!h->buckets[b])
      continue;
    fprintf(f, "%s[%u, %llu]", sep, b, (unsigned long long)h->buckets[b]);
    sep = ", ";
  }
  fputs("]\n  }\n}\n", f);
  int bad = ferror(f);
  if (f != stdout)
    bad |= fclose(f) != 0;
  else
    fflush(f);
  if (bad) {
    fprintf(stderr, "xfer-load: --json %s: write failed\n", path);
    return -1;
  }
  return 0;
}

/* ---- reading ---------------------------------------------------------- */

struct reader {
  const char *p, *end;
  const char *path;
  int failed;
};

static void ws(struct reader *rd) {
  while (rd->p < rd->end && strchr(" \t\r\n", *rd->p))
    rd->p++;
}

static int fail(struct reader *rd, const char *what) {
  if (!rd->failed)
    fprintf(stderr, "xfer-load merge: %s: %s\n", rd->path, what);
  rd->failed = 1;
  return -1;
}

static int expect(struct reader *rd, char c) {
  ws(rd);
  if (rd->p >= rd->end || *rd->p != c) {
    char msg[32];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    return fail(rd, msg);
  }
  rd->p++;
  return 0;
}

/* After a container's element: 1 when a ',' announces another, 0 when
 * `close` ends the container, -1 (said why) for anything else. */
static int next(struct reader *rd, char close) {
  ws(rd);
  if (rd->p < rd->end && *rd->p == ',') {
    rd->p++;
    return 1;
  }
  return expect(rd, close) < 0 ? -1 : 0;
}

/* At a container's start: 1 (and `close` consumed) when it is empty. */
static int empty(struct reader *rd, char close) {
  ws(rd);
  if (rd->p < rd->end && *rd->p == close) {
    rd->p++;
    return 1;
  }
  return 0;
}

/* A string into buf (escapes other than \" and \\ are kept as they are:
 * the keys and values this reader uses have none). */
static int string(struct reader *rd, char *buf, size_t cap) {
  if (expect(rd, '"') < 0)
    return -1;
  size_t n = 0;
  while (rd->p < rd->end && *rd->p != '"') {
    char c = *rd->p++;
    if (c == '\\' && rd->p < rd->end)
      c = *rd->p++;
    if (n + 1 < cap)
      buf[n++] = c;
  }
  if (rd->p >= rd->end)
    return fail(rd, "unterminated string");
  rd->p++;
  buf[n] = '\0';
  return 0;
}

static int number(struct reader *rd, double *v) {
  ws(rd);
  char *e;
  errno = 0;
  *v = strtod(rd->p, &e);
  if (e == rd->p || errno != 0 || e > rd->end)
    return fail(rd, "expected a number");
  rd->p = e;
  return 0;
}

/* Skips any value (for keys a later version may add). */
static int skip(struct reader *rd, int depth) {
  ws(rd);
  if (rd->p >= rd->end || depth > 16)
    return fail(rd, "unexpected end or nesting");
  char c = *rd->p;
  if (c == '"') {
    char tmp[8];
    return string(rd, tmp, sizeof tmp);
  }
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    rd->p++;
    if (empty(rd, close))
      return 0;
    int more;
    do {
      if (c == '{') {
        char key[64];
        if (string(rd, key, sizeof key) < 0 || expect(rd, ':') < 0)
          return -1;
      }
      if (skip(rd, depth + 1) < 0)
        return -1;
    } while ((more = next(rd, close)) > 0);
    return more;
  }
  double v;
  return number(rd, &v);
}

/* {"code": count, ...} added into v[]. */
static int counts(struct reader *rd, uint64_t *v, unsigned n) {
  if (expect(rd, '{') < 0)
    return -1;
  if (empty(rd, '}'))
    return 0;
  int more;
  do {
    char key[32];
    double c;
    if (string(rd, key, sizeof key) < 0 || expect(rd, ':') < 0 || number(rd, &c) < 0)
      return -1;
    unsigned long k = strtoul(key, NULL, 10);
    if (k >= n)
      return fail(rd, "a code out of range");
    v[k] += (uint64_t)c;
  } while ((more = next(rd, '}')) > 0);
  return more;
}

static int buckets(struct reader *rd, struct load_histogram *h) {
  if (expect(rd, '[') < 0)
    return -1;
  if (empty(rd, ']'))
    return 0;
  int more;
  do {
    double b, c;
    if (expect(rd, '[') < 0 || number(rd, &b) < 0 || expect(rd, ',') < 0 || number(rd, &c) < 0 ||
        expect(rd, ']') < 0)
      return -1;
    if (b < 0 || b >= LOAD_HIST_BUCKETS)
      return fail(rd, "a histogram bucket out of range");
    h->buckets[(unsigned)b] += (uint64_t)c;
  } while ((more = next(rd, ']')) > 0);
  return more;
}

static int latency(struct reader *rd, struct load_histogram *h) {
  if (expect(rd, '{') < 0)
    return -1;
  uint64_t count = 0, min_ns = 0, max_ns = 0, sum_ns = 0;
  for (;;) {
    char key[32];
    double v;
    if (string(rd, key, sizeof key) < 0 || expect(rd, ':') < 0)
      return -1;
    if (strcmp(key, "buckets") == 0) {
      if (buckets(rd, h) < 0)
        return -1;
    } else if (!strcmp(key, "count") || !strcmp(key, "min_ns") || !strcmp(key, "max_ns") ||
               !strcmp(key, "sum_ns")) {
      if (number(rd, &v) < 0)
        return -1;
      uint64_t u = (uint64_t)v;
      if (key[1] == 'o')
        count = u;
      else if (key[1] == 'i')
        min_ns = u;
      else if (key[1] == 'a')
        max_ns = u;
      else
        sum_ns = u;
    } else if (skip(rd, 1) < 0) {
      return -1;
    }
    int more = next(rd, '}');
    if (more < 0)
      return -1;
    if (!more)
      break;
  }
  if (count) {
    if (!h->count || min_ns < h->min_ns)
      h->min_ns = min_ns;
    if (max_ns > h->max_ns)
      h->max_ns = max_ns;
  }
  h->count += count;
  h->sum_ns += sum_ns;
  return 0;
}

/* Adds one file's figures into r. */
static int merge_text(struct reader *rd, struct load_result *r) {
  if (expect(rd, '{') < 0)
    return -1;
  int seen_format = 0;
  for (;;) {
    char key[64];
    double v = 0;
    if (string(rd, key, sizeof key) < 0 || expect(rd, ':') < 0)
      return -1;
    if (!strcmp(key, "format")) {
      char fmt[32];
      if (string(rd, fmt, sizeof fmt) < 0)
        return -1;
      if (strcmp(fmt, "xfer-load") != 0)
        return fail(rd, "not an xfer-load result");
      seen_format = 1;
    } else if (!strcmp(key, "version")) {
      if (number(rd, &v) < 0)
        return -1;
      if ((int)v != FORMAT_VERSION)
        return fail(rd, "a format version this xfer-load does not know");
    } else if (!strcmp(key, "backend")) {
      char b[sizeof r->backend];
      if (string(rd, b, sizeof b) < 0)
        return -1;
      if (!r->backend[0])
        snprintf(r->backend, sizeof r->backend, "%s", b);
      else if (strcmp(r->backend, b) != 0)
        snprintf(r->backend, sizeof r->backend, "mixed");
    } else if (!strcmp(key, "errors_by_code")) {
      if (counts(rd, r->errors_by_code, LOAD_MAX_CODES) < 0)
        return -1;
    } else if (!strcmp(key, "by_status")) {
      if (counts(rd, r->by_status, LOAD_MAX_STATUS) < 0)
        return -1;
    } else if (!strcmp(key, "latency")) {
      if (latency(rd, &r->latency) < 0)
        return -1;
    } else if (!strcmp(key, "urls")) {
      if (skip(rd, 1) < 0)
        return -1;
    } else {
      if (rd->p < rd->end && (ws(rd), *rd->p == '"' || *rd->p == '{' || *rd->p == '[')) {
        if (skip(rd, 1) < 0)
          return -1;
      } else if (number(rd, &v) < 0) {
        return -1;
      }
      uint64_t u = (uint64_t)v;
      if (!strcmp(key, "runs"))
        r->runs += u;
      else if (!strcmp(key, "connections"))
        r->slots += (long)u;
      else if (!strcmp(key, "threads"))
        r->threads += (long)u;
      else if (!strcmp(key, "rate"))
        r->rate += v;
      else if (!strcmp(key, "issued"))
        r->issued += u;
      else if (!strcmp(key, "elapsed_s"))
        r->elapsed_s = v > r->elapsed_s ? v : r->elapsed_s;
      else if (!strcmp(key, "user_s"))
        r->user_s += v;
      else if (!strcmp(key, "sys_s"))
        r->sys_s += v;
      else if (!strcmp(key, "requests"))
        r->requests += u;
      else if (!strcmp(key, "errors"))
        r->errors += u;
      else if (!strcmp(key, "bad_status"))
        r->bad_status += u;
      else if (!strcmp(key, "body_bytes"))
        r->body_bytes += u;
      else if (!strcmp(key, "header_bytes"))
        r->header_bytes += u;
      else if (!strcmp(key, "header_bytes_known"))
        r->header_bytes_known = r->runs <= 1 ? (int)u : r->header_bytes_known && u;
      else if (!strcmp(key, "connections_opened"))
        r->connections += u;
      else if (!strcmp(key, "tls_backend"))
        r->tls_backend = r->tls_backend ? r->tls_backend : (int)u;
      else if (!strcmp(key, "handshakes"))
        r->handshakes += u;
      else if (!strcmp(key, "resumed"))
        r->resumed += u;
      else if (!strcmp(key, "interrupted"))
        r->interrupted |= (int)u;
    }
    int more = next(rd, '}');
    if (more < 0)
      return -1;
    if (!more)
      break;
  }
  if (!seen_format)
    return fail(rd, "not an xfer-load result (no \"format\")");
  return 0;
}

int json_merge_file(const char *path, struct load_result *r) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "xfer-load merge: %s: %s\n", path, strerror(errno));
    return -1;
  }
  /* A result is a few KiB; 16 MiB bounds a file that is not one. */
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  while (buf) {
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap || cap >= (16u << 20))
      break;
    char *nb = realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  int err = ferror(f);
  fclose(f);
  if (!buf || err || len == cap) {
    fprintf(stderr, "xfer-load merge: %s: cannot read it (or it is over 16 MiB)\n", path);
    free(buf);
    return -1;
  }
  struct reader rd = {buf, buf + len, path, 0};
  int rc = merge_text(&rd, r);
  free(buf);
  return rc;
}
