/* xfer-load: the pieces of the tool and what they share. */
#ifndef XFER_LOAD_LOAD_H
#define XFER_LOAD_LOAD_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "histogram.h"

/* ---- options.c ---- */

struct load_options {
  long connections;
  /* Exactly one of requests and duration_s is non-zero once parsed. */
  uint64_t requests;
  double duration_s;
  /* XFERMOPT_BACKEND's value, 0 to leave the library's default. */
  long backend;
  const char *backend_name;
  /* NULL to load-test the built-in server. */
  const char *url;
  /* Run only the built-in server in the foreground (for comparisons). */
  int serve_only;
  /* HTTPS: skip verification (-k), or trust this CA file (--cacert). */
  int insecure;
  const char *cacert;
};

/* Fills o from argv. Returns 0 to run, 1 when help was printed (exit 0), and
 * -1 after printing why the arguments are wrong (exit 2). */
int options_parse(int argc, char **argv, struct load_options *o);

/* ---- server.c ---- */

/* A listening socket on 127.0.0.1 at a port the kernel picks, stored in
 * *port; -1 with a message printed on failure. */
int server_listen(uint16_t *port);

/* Serves on listen_fd until the process is killed; returns only on a fatal
 * error. */
int server_serve(int listen_fd);

/* Runs server_serve in a child process that dies with its parent; the
 * parent's copy of listen_fd is closed. Returns the child's pid, or -1. */
pid_t server_spawn(int listen_fd);

/* Kills and reaps the child; warns when it had already died on its own. */
void server_stop(pid_t pid);

/* ---- engine.c ---- */

/* xfer_code values are small (libcurl's stop below 100); any larger code is
 * counted in the last slot so that the table stays fixed. */
#define LOAD_MAX_CODES 128

struct load_result {
  /* Transfers that got a response, whatever its status. */
  uint64_t requests;
  /* Transfers that failed, by xfer_code. */
  uint64_t errors;
  uint64_t errors_by_code[LOAD_MAX_CODES];
  /* Responses with a status outside 200-399. */
  uint64_t bad_status;
  uint64_t body_bytes;
  /* Header bytes as XFERINFO_HEADER_SIZE reports them; header_bytes_known
   * is 0 when the library does not provide that info. */
  uint64_t header_bytes;
  int header_bytes_known;
  /* The backend the multi ran on, from xfer_multi_backend(). */
  char backend[16];
  /* Sum of XFERINFO_NUM_CONNECTS: connections the transfers had to open. */
  uint64_t connections;
  /* Transfers that were run in parallel. */
  long slots;
  /* HTTPS: the TLS library used (XFERSSLBACKEND_*, 0 for plain HTTP), the
   * handshakes made (transfers that opened a connection) and how many of
   * them resumed a session. */
  int tls_backend;
  uint64_t handshakes;
  uint64_t resumed;
  double elapsed_s;
  double user_s;
  double sys_s;
  /* The run was cut short by SIGINT. */
  int interrupted;
  /* Why the multi failed and the run stopped early, or NULL. */
  const char *aborted;
  struct load_histogram latency;
};

/* Runs the load against url. Returns 0 when the run took place (whatever
 * its errors), or the exit status after printing why it could not. */
int engine_run(const struct load_options *o, const char *url, struct load_result *r);

/* ---- report.c ---- */

void report_print(FILE *out, const struct load_options *o, const char *url, int builtin,
                  const struct load_result *r);

#endif
