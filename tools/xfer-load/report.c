/* The report: wrk's figures (rate, bytes, errors, latency percentiles) plus
 * the client's own CPU time per request, the figure the performance
 * baselines compare clients by. */
#include "load.h"

#include <stdlib.h>
#include <string.h>

#include <xfer/xfer.h>

#define MIB (1024.0 * 1024.0)

/* Room for one formatted latency such as "1234.57ms". */
#define LATENCY_TEXT 32

/* A latency in the unit that keeps three or four significant digits. */
static const char *fmt_latency(char buf[LATENCY_TEXT], uint64_t ns) {
  if (ns < UINT64_C(1000000))
    snprintf(buf, LATENCY_TEXT, "%.1fus", (double)ns / 1e3);
  else if (ns < UINT64_C(1000000000))
    snprintf(buf, LATENCY_TEXT, "%.2fms", (double)ns / 1e6);
  else
    snprintf(buf, LATENCY_TEXT, "%.2fs", (double)ns / 1e9);
  return buf;
}

/* The backend the library actually ran on, and how it was chosen. */
static void print_backend(FILE *out, const struct load_options *o, const struct load_result *r) {
  const char *env = getenv("XFER_BACKEND");
  const char *used = r->backend[0] ? r->backend : o->backend_name;
  if (o->backend == XFER_BACKEND_AUTO && env && *env)
    fprintf(out, "backend %s (XFER_BACKEND=%s)", used, env);
  else if (o->backend == XFER_BACKEND_AUTO)
    fprintf(out, "backend %s (auto)", used);
  else
    fprintf(out, "backend %s", used);
}

static void print_errors(FILE *out, const struct load_result *r) {
  fprintf(out, "  errors        %llu", (unsigned long long)r->errors);
  if (r->errors) {
    const char *sep = " (by code: ";
    for (unsigned c = 0; c < LOAD_MAX_CODES; c++) {
      if (!r->errors_by_code[c])
        continue;
      fprintf(out, "%s%u %s: %llu", sep, c, xfer_easy_strerror((xfer_code)c),
              (unsigned long long)r->errors_by_code[c]);
      sep = ", ";
    }
    fputc(')', out);
  }
  fprintf(out, "  non-2xx/3xx: %llu\n", (unsigned long long)r->bad_status);
}

static void print_latency(FILE *out, const struct load_histogram *h) {
  static const struct {
    const char *label;
    double p;
  } points[] = {{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9}, {"p99.99", 99.99}};
  char buf[LATENCY_TEXT];
  fputs("  latency      ", out);
  if (h->count == 0) {
    fputs(" none (no response)\n", out);
    return;
  }
  for (size_t i = 0; i < sizeof points / sizeof points[0]; i++)
    fprintf(out, " %s %s", points[i].label, fmt_latency(buf, histogram_percentile(h, points[i].p)));
  fprintf(out, " max %s", fmt_latency(buf, h->max_ns));
  fprintf(out, "  (mean %s)\n", fmt_latency(buf, (uint64_t)histogram_mean_ns(h)));
}

/* Responses by status code, in code order. */
static void print_status(FILE *out, const struct load_result *r) {
  const char *sep = "  status       ";
  for (unsigned c = 0; c < LOAD_MAX_STATUS; c++) {
    if (!r->by_status[c])
      continue;
    if (c == 0)
      fprintf(out, "%s none: %llu", sep, (unsigned long long)r->by_status[c]);
    else
      fprintf(out, "%s %u: %llu", sep, c, (unsigned long long)r->by_status[c]);
    sep = ",";
  }
  if (sep[0] == ',')
    fputc('\n', out);
}

void report_print(FILE *out, const struct load_options *o, const char *const *urls, int nurls,
                  int builtin, const struct load_result *r) {
  double secs = r->elapsed_s > 0.0 ? r->elapsed_s : 1e-9;
  if (!o) {
    /* Runs side by side: rates are over the longest run's wall time. */
    fprintf(out,
            "xfer-load merge: %llu runs from %d files, %ld connections, %.2f s (longest), "
            "backend %s%s\n",
            (unsigned long long)r->runs, nurls, r->slots, r->elapsed_s,
            r->backend[0] ? r->backend : "unknown", r->interrupted ? " (some interrupted)" : "");
  } else {
    fprintf(out, "xfer-load: %s", urls[0]);
    if (nurls > 1)
      fprintf(out, " and %d more URLs in turn", nurls - 1);
    fprintf(out, "%s, %ld connections", builtin ? " (built-in server)" : "", r->slots);
    if (r->threads > 1)
      fprintf(out, " on %ld threads", r->threads);
    fprintf(out, ", %.2f s, ", r->elapsed_s);
    print_backend(out, o, r);
    fputs(r->interrupted ? " (interrupted)\n" : "\n", out);
  }
  if (r->aborted)
    fprintf(out, "  aborted       the multi failed: %s\n", r->aborted);

  fprintf(out, "  requests      %llu (%.1f/s)\n", (unsigned long long)r->requests,
          (double)r->requests / secs);
  if (o && o->rate > 0.0) {
    /* What was sent against what the schedule asked for. A timed run
     * sends nothing after its deadline, so its schedule spans -d exactly;
     * the wall time also holds the last turn after the deadline, which a
     * busy machine stretches, and that is not a shortfall. */
    double window = o->duration_s > 0.0 && o->duration_s < secs ? o->duration_s : secs;
    double sent = (double)r->issued / window;
    fprintf(out, "  rate          asked %.1f/s, sent %.1f/s (%+.1f%%)\n", o->rate, sent,
            100.0 * (sent - o->rate) / o->rate);
  }

  uint64_t total = r->body_bytes + (r->header_bytes_known ? r->header_bytes : 0);
  fprintf(out, "  bytes         %llu (%.2f MiB/s", (unsigned long long)total,
          (double)total / MIB / secs);
  if (r->header_bytes_known)
    fprintf(out, "; body %llu)\n", (unsigned long long)r->body_bytes);
  else
    fputs("; body only)\n", out);

  print_status(out, r);
  print_errors(out, r);
  fprintf(out, "  connections   %llu\n", (unsigned long long)r->connections);
  if (r->tls_backend) {
    const char *lib = r->tls_backend == XFERSSLBACKEND_OPENSSL   ? "openssl"
                      : r->tls_backend == XFERSSLBACKEND_WOLFSSL ? "wolfssl"
                                                                 : "other";
    fprintf(out, "  TLS           %s, %llu handshakes, %llu resumed (%.1f%%)\n", lib,
            (unsigned long long)r->handshakes, (unsigned long long)r->resumed,
            r->handshakes ? 100.0 * (double)r->resumed / (double)r->handshakes : 0.0);
  }
  print_latency(out, &r->latency);

  /* Failed transfers cost CPU too, so the cost is spread over all that
   * finished; in a clean run that is the number of requests. */
  uint64_t done = r->requests + r->errors;
  fprintf(out, "  client CPU    user %.3f s  sys %.3f s", r->user_s, r->sys_s);
  if (done)
    fprintf(out, "  -> %.2f us/request\n", (r->user_s + r->sys_s) * 1e6 / (double)done);
  else
    fputs("  -> n/a (no request finished)\n", out);
}
