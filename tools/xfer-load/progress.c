/* The progress report of a running load: once a second, the requests done,
 * the rate over the last second, the errors and the time elapsed and left.
 * On a terminal one line is rewritten in place; anywhere else (a CI log, a
 * file) each report is a line of its own, so that a log shows how the rate
 * moved during the run. It goes to stderr, where curl's and k6's progress
 * go, so that stdout holds only the report (or the JSON with --json -).
 *
 * It runs on a thread of its own, which reads the workers' counters and
 * never touches a multi: the load threads pay one relaxed store per
 * finished request for it, and nothing is printed from the hot loop. */
#include "load.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S UINT64_C(1000000000)

/* One report a second: often enough to watch a rate move, rare enough that
 * a long run's log stays readable (k6 reports at the same pace). */
#define PROGRESS_INTERVAL_NS NS_PER_S

/* A report line: every field at its widest stays well below this. */
#define LINE_MAX_TEXT 192

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sum(const struct progress *p, uint64_t *done, uint64_t *failed) {
  *done = 0;
  *failed = 0;
  for (long i = 0; i < p->nlive; i++) {
    *done += atomic_load_explicit(&p->live[i].done, memory_order_relaxed);
    *failed += atomic_load_explicit(&p->live[i].failed, memory_order_relaxed);
  }
}

/* Written with one write(2) from a stack buffer: stdio could allocate, and
 * the tool's allocation count per request is measured from outside. */
static void say(const struct progress *p, uint64_t t, uint64_t done, uint64_t failed, double rate) {
  char line[LINE_MAX_TEXT];
  double elapsed = (double)(t - p->start_ns) / (double)NS_PER_S;
  char left[48] = "";
  if (p->duration_s > 0.0) {
    double rest = p->duration_s - elapsed;
    snprintf(left, sizeof left, ", %.1f s left", rest > 0.0 ? rest : 0.0);
  } else if (p->requests > done) {
    snprintf(left, sizeof left, ", %" PRIu64 " requests left", p->requests - done);
  }
  int n = snprintf(line, sizeof line,
                   "%s[%6.1f s] %" PRIu64 " requests, %.0f req/s, %" PRIu64 " errors%s%s",
                   p->tty ? "\r" : "", elapsed, done, rate, failed, left, p->tty ? "\033[K" : "\n");
  if (n < 0)
    return;
  size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
  /* A short or failed write of a progress line is not worth failing the
   * run for; the final report still says everything. */
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

static void *progress_main(void *arg) {
  struct progress *p = arg;
  uint64_t last_t = p->start_ns, last_done = 0;
  uint64_t next = p->start_ns + PROGRESS_INTERVAL_NS;
  pthread_mutex_lock(&p->lock);
  while (!p->stop) {
    struct timespec until = {(time_t)(next / NS_PER_S), (long)(next % NS_PER_S)};
    int rc = pthread_cond_timedwait(&p->wake, &p->lock, &until);
    if (p->stop)
      break;
    if (rc != ETIMEDOUT)
      continue;
    uint64_t t = now_ns(), done, failed;
    sum(p, &done, &failed);
    double rate =
        t > last_t ? (double)(done - last_done) * (double)NS_PER_S / (double)(t - last_t) : 0.0;
    say(p, t, done, failed, rate);
    last_t = t;
    last_done = done;
    next += PROGRESS_INTERVAL_NS;
    /* After a stall of the machine, report from now on rather than print
     * the missed seconds in a burst. */
    if (next <= t)
      next = t + PROGRESS_INTERVAL_NS;
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int progress_start(struct progress *p, const struct load_options *o, const struct load_live *live,
                   long nlive, uint64_t start_ns) {
  memset(p, 0, sizeof *p);
  if (o->quiet)
    return 0;
  p->live = live;
  p->nlive = nlive;
  p->start_ns = start_ns;
  p->duration_s = o->duration_s;
  p->requests = o->requests;
  p->tty = isatty(STDERR_FILENO);
  pthread_condattr_t ca;
  if (pthread_condattr_init(&ca) != 0)
    return -1;
  /* The deadlines above are CLOCK_MONOTONIC times, as the run's are. */
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(&p->wake, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0)
    return -1;
  pthread_mutex_init(&p->lock, NULL);
  if (pthread_create(&p->tid, NULL, progress_main, p) != 0) {
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    return -1;
  }
  p->running = 1;
  return 0;
}

void progress_stop(struct progress *p) {
  if (!p->running)
    return;
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_signal(&p->wake);
  pthread_mutex_unlock(&p->lock);
  pthread_join(p->tid, NULL);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->lock);
  p->running = 0;
  /* The report follows on a clean line. */
  if (p->tty) {
    ssize_t w = write(STDERR_FILENO, "\r\033[K", 4);
    (void)w;
  }
}
