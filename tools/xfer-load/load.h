/* xfer-load: the pieces of the tool and what they share. */
#ifndef XFER_LOAD_LOAD_H
#define XFER_LOAD_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "histogram.h"

/* ---- options.c ---- */

/* Bounds on repeated arguments: a load test names a few URLs and headers;
 * more is a mistake the tool says rather than an allocation per flag. */
#define LOAD_MAX_URLS    64
#define LOAD_MAX_HEADERS 64
#define LOAD_MAX_CPUS    1024

struct load_options {
  long connections;
  /* Exactly one of requests and duration_s is non-zero once parsed. */
  uint64_t requests;
  double duration_s;
  /* XFERMOPT_BACKEND's value, 0 to leave the library's default. */
  long backend;
  const char *backend_name;
  /* The URLs, taken in turn by each connection's requests; none to
   * load-test the built-in server. */
  const char *urls[LOAD_MAX_URLS];
  int nurls;
  /* -m: the request method, NULL for GET (or POST with a body). */
  const char *method;
  /* -H: extra request header lines, as given. */
  const char *headers[LOAD_MAX_HEADERS];
  int nheaders;
  /* --body: the request body, read from a file at start-up. */
  const char *body_file;
  char *body;
  size_t body_len;
  /* --timeout: per request, in milliseconds; 0 for none. */
  long timeout_ms;
  /* --max-errors: failed requests and non-2xx/3xx answers tolerated before
   * the exit status says the run failed. */
  uint64_t max_errors;
  /* --json: where to write the results as JSON ("-": stdout), or NULL. */
  const char *json;
  /* -t: threads, each with its own multi and a share of the connections. */
  long threads;
  /* --cpus: the CPUs the threads are pinned to, in turn; none when empty. */
  int cpus[LOAD_MAX_CPUS];
  int ncpus;
  /* --rate: requests per second over all threads; 0 for as fast as the
   * connections go. */
  double rate;
  /* Run only the built-in server in the foreground (for comparisons). */
  int serve_only;
  /* HTTPS: skip verification (-k), or trust this CA file (--cacert). */
  int insecure;
  const char *cacert;
  /* -q: no progress lines while the load runs. */
  int quiet;
  /* --batch-wait: XFERMOPT_BATCH_WAIT_US, or -1 for the library's default. */
  long batch_wait_us;
};

/* Fills o from argv (and reads --body's file). Returns 0 to run, 1 when
 * help was printed (exit 0), and -1 after printing why the arguments are
 * wrong (exit 2). */
int options_parse(int argc, char **argv, struct load_options *o);
void options_free(struct load_options *o);

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
#define LOAD_MAX_CODES  128
/* HTTP status codes are three digits from 100 to 599 (RFC 9110 section 15). */
#define LOAD_MAX_STATUS 600

struct load_result {
  /* Runs added up into this result: 1, or more after `xfer-load merge`. */
  uint64_t runs;
  /* Transfers that got a response, whatever its status. */
  uint64_t requests;
  /* Transfers that failed, by xfer_code. */
  uint64_t errors;
  uint64_t errors_by_code[LOAD_MAX_CODES];
  /* Responses with a status outside 200-399. */
  uint64_t bad_status;
  /* Responses by status code (100-599; 0 for anything else). */
  uint64_t by_status[LOAD_MAX_STATUS];
  uint64_t body_bytes;
  /* Header bytes as XFERINFO_HEADER_SIZE reports them; header_bytes_known
   * is 0 when the library does not provide that info. */
  uint64_t header_bytes;
  int header_bytes_known;
  /* The backend the multi ran on, from xfer_multi_backend(). */
  char backend[16];
  /* Sum of XFERINFO_NUM_CONNECTS: connections the transfers had to open. */
  uint64_t connections;
  /* Transfers that were run in parallel, over how many threads. */
  long slots;
  long threads;
  /* Requests sent (some may still have been in flight at the end), and
   * the rate asked for with --rate (0 without). */
  uint64_t issued;
  double rate;
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

/* Runs the load against the urls, each connection taking them in turn.
 * Returns 0 when the run took place (whatever its errors), or the exit
 * status after printing why it could not. */
int engine_run(const struct load_options *o, const char *const *urls, int nurls,
               struct load_result *r);

/* ---- progress.c ---- */

/* What one load thread has finished so far, for the progress thread to
 * read: written by its thread alone with relaxed stores, on a cache line of
 * its own (64 bytes on x86-64 and most arm64 cores) so that the reader does
 * not slow the writers down. */
struct load_live {
  _Alignas(64) atomic_uint_fast64_t done;
  atomic_uint_fast64_t failed; /* failed transfers and non-2xx/3xx answers */
};

struct progress {
  pthread_t tid;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int running;
  int stop; /* under lock */
  int tty;
  const struct load_live *live;
  long nlive;
  uint64_t start_ns;
  double duration_s;
  uint64_t requests;
};

/* Starts reporting on stderr once a second unless o->quiet; live[0..nlive)
 * are the threads' counters, start_ns the run's start (CLOCK_MONOTONIC).
 * 0, or -1 when the thread could not start (the run goes on without it). */
int progress_start(struct progress *p, const struct load_options *o, const struct load_live *live,
                   long nlive, uint64_t start_ns);
/* Stops the reports; on a terminal the progress line is cleared. */
void progress_stop(struct progress *p);

/* ---- json.c ---- */

/* Writes r as JSON to path ("-": stdout). 0, or -1 after saying why. */
int json_write(const char *path, const char *const *urls, int nurls, const struct load_result *r);
/* Adds the results in the JSON file at path into r (counts, bytes, CPU and
 * histogram summed; the wall time is the longest). 0, or -1 after saying
 * why. */
int json_merge_file(const char *path, struct load_result *r);

/* ---- report.c ---- */

/* o is NULL for the report of `xfer-load merge`, whose urls are the files
 * merged. */
void report_print(FILE *out, const struct load_options *o, const char *const *urls, int nurls,
                  int builtin, const struct load_result *r);

#endif
