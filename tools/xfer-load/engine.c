/* The load engine: one multi handle and, per connection, one easy handle
 * per URL, driven by the loop a libcurl multi user writes (perform,
 * info_read, poll). A finished request's slot adds its next handle (the
 * next URL in turn, or the same one again), so the connection goes back to
 * the pool and is reused; the handles are set up once and nothing is
 * allocated per request, which keeps the tool's own cost out of the way of
 * the library's. */
#include "load.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <xfer/xfer.h>

#define NS_PER_S  UINT64_C(1000000000)
#define NS_PER_MS UINT64_C(1000000)

/* The longest single wait: the loop normally wakes on I/O, the deadline or
 * xfer_multi_wakeup(); this only bounds how long a lost wake-up could delay
 * the end of a run. */
#define MAX_POLL_MS 1000

/* One parallel transfer: an easy handle per URL, the one in flight, and
 * when its request started. */
struct load_slot {
  xfer_easy *easy[LOAD_MAX_URLS];
  int next;           /* the handle of the next request */
  xfer_easy *current; /* the handle in flight */
  struct load_result *result;
  uint64_t started_ns;
};

/* The request headers, one list for every handle (the library reads it at
 * each request and does not copy it). */
static struct xfer_slist *header_list;

/* Set by SIGINT (and when a thread cannot start): the run stops early and
 * still reports what it measured. Read by every thread; a lock-free atomic
 * may be written from a signal handler. */
static atomic_int interrupted;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static double tv_seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

/* Counts the body and throws it away: a load generator only needs to know
 * that it arrived. */
static size_t discard_body(char *data, size_t size, size_t nmemb, void *userdata) {
  (void)data;
  struct load_slot *slot = userdata;
  slot->result->body_bytes += (uint64_t)size * nmemb;
  return size * nmemb;
}

static int setup_easy(xfer_easy *e, struct load_slot *slot, const struct load_options *o,
                      const char *url) {
  int head = o->method && strcmp(o->method, "HEAD") == 0;
  struct {
    const char *name;
    xfer_code rc;
  } set[] = {
      {"XFEROPT_URL", xfer_easy_setopt(e, XFEROPT_URL, url)},
      {"XFEROPT_WRITEFUNCTION",
       xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, (xfer_write_callback)discard_body)},
      {"XFEROPT_WRITEDATA", xfer_easy_setopt(e, XFEROPT_WRITEDATA, (void *)slot)},
      {"XFEROPT_PRIVATE", xfer_easy_setopt(e, XFEROPT_PRIVATE, (void *)slot)},
      /* No signals: the tool is single-threaded, but that is what every
       * multi user with threads must set, and the peers' loop sets it too. */
      {"XFEROPT_NOSIGNAL", xfer_easy_setopt(e, XFEROPT_NOSIGNAL, 1L)},
      /* -k turns off both checks, as curl's does. */
      {"XFEROPT_SSL_VERIFYPEER",
       xfer_easy_setopt(e, XFEROPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L)},
      {"XFEROPT_SSL_VERIFYHOST",
       xfer_easy_setopt(e, XFEROPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L)},
      {"XFEROPT_CAINFO", xfer_easy_setopt(e, XFEROPT_CAINFO, o->cacert)},
      {"XFEROPT_HTTPHEADER", xfer_easy_setopt(e, XFEROPT_HTTPHEADER, header_list)},
      {"XFEROPT_TIMEOUT_MS", xfer_easy_setopt(e, XFEROPT_TIMEOUT_MS, o->timeout_ms)},
      /* A body makes the request a POST, with its exact length; the bytes
       * are the tool's and outlive every transfer. */
      {"XFEROPT_POSTFIELDSIZE_LARGE",
       o->body ? xfer_easy_setopt(e, XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)o->body_len)
               : XFERE_OK},
      {"XFEROPT_POSTFIELDS", o->body ? xfer_easy_setopt(e, XFEROPT_POSTFIELDS, o->body) : XFERE_OK},
      /* HEAD is the one method whose answer has no body whatever it says:
       * the library must know, as libcurl's NOBODY tells it. */
      {"XFEROPT_NOBODY", head ? xfer_easy_setopt(e, XFEROPT_NOBODY, 1L) : XFERE_OK},
      {"XFEROPT_CUSTOMREQUEST",
       o->method && !head ? xfer_easy_setopt(e, XFEROPT_CUSTOMREQUEST, o->method) : XFERE_OK},
  };
  for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
    if (set[i].rc != XFERE_OK) {
      fprintf(stderr, "xfer-load: cannot set %s: %s\n", set[i].name, xfer_easy_strerror(set[i].rc));
      return -1;
    }
  }
  return 0;
}

static int setup_slot(struct load_slot *slot, const struct load_options *o, const char *const *urls,
                      int nurls, struct load_result *r) {
  slot->result = r;
  for (int u = 0; u < nurls; u++) {
    slot->easy[u] = xfer_easy_init();
    if (!slot->easy[u]) {
      fprintf(stderr, "xfer-load: xfer_easy_init failed (out of memory)\n");
      return -1;
    }
    if (setup_easy(slot->easy[u], slot, o, urls[u]) < 0)
      return -1;
  }
  return 0;
}

/* Adds the slot's next request: the next URL in turn. */
static xfer_mcode start(xfer_multi *m, struct load_slot *slot, int nurls, uint64_t now) {
  slot->current = slot->easy[slot->next];
  slot->next = slot->next + 1 == nurls ? 0 : slot->next + 1;
  slot->started_ns = now;
  return xfer_multi_add_handle(m, slot->current);
}

static int setup_multi(xfer_multi *m, const struct load_options *o, long slots) {
  if (o->backend != XFER_BACKEND_AUTO &&
      xfer_multi_setopt(m, XFERMOPT_BACKEND, o->backend) != XFERM_OK) {
    fprintf(stderr, "xfer-load: backend %s is not available in this build or kernel\n",
            o->backend_name);
    return -1;
  }
  /* Exactly one connection per transfer: the comparison with wrk -cC and
   * h2load -cC only holds when C connections carry the load. */
  xfer_mcode mc = xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, slots);
  if (mc == XFERM_OK)
    mc = xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, slots);
  if (mc != XFERM_OK) {
    fprintf(stderr, "xfer-load: cannot limit the multi to %ld connections: %s\n", slots,
            xfer_multi_strerror(mc));
    return -1;
  }
  if (o->batch_wait_us >= 0 &&
      xfer_multi_setopt(m, XFERMOPT_BATCH_WAIT_US, o->batch_wait_us) != XFERM_OK) {
    fprintf(stderr, "xfer-load: the library refused --batch-wait\n");
    return -1;
  }
  /* The pool must keep every idle connection, or a handle re-added a moment
   * later would have to open a new one. The result is not checked: the
   * pool's own default may already be large enough, and the connection
   * count in the report shows whether it was. */
  xfer_multi_setopt(m, XFERMOPT_MAXCONNECTS, slots);
  return 0;
}

/* Books one finished transfer. */
static void account(struct load_result *r, struct load_slot *slot, xfer_code rc, uint64_t t,
                    int *header_info) {
  long n = 0;
  xfer_easy *e = slot->current;
  if (xfer_easy_getinfo(e, XFERINFO_NUM_CONNECTS, &n) == XFERE_OK && n > 0)
    r->connections += (uint64_t)n;
  struct xfer_tlssessioninfo *ti = NULL;
  if (xfer_easy_getinfo(e, XFERINFO_TLS_SSL_PTR, &ti) == XFERE_OK && ti && ti->backend) {
    r->tls_backend = ti->backend;
    long resumed = 0;
    if (n > 0) {
      r->handshakes += (uint64_t)n;
      if (xfer_easy_getinfo(e, XFERINFO_TLS_SESSION_RESUMED, &resumed) == XFERE_OK && resumed)
        r->resumed++;
    }
  }
  if (rc != XFERE_OK) {
    r->errors++;
    unsigned idx = (unsigned)rc < LOAD_MAX_CODES ? (unsigned)rc : LOAD_MAX_CODES - 1;
    r->errors_by_code[idx]++;
    return;
  }
  r->requests++;
  histogram_record(&r->latency, t - slot->started_ns);
  long status = 0;
  xfer_easy_getinfo(e, XFERINFO_RESPONSE_CODE, &status);
  /* 1xx never ends a transfer, so below 200 means no status at all. */
  if (status < 200 || status >= 400)
    r->bad_status++;
  r->by_status[status >= 100 && status < LOAD_MAX_STATUS ? status : 0]++;
  /* The header size makes the byte count comparable with wrk's, which
   * counts every byte read; it is asked for until the library says it does
   * not have it. */
  if (*header_info) {
    long hs = 0;
    if (xfer_easy_getinfo(e, XFERINFO_HEADER_SIZE, &hs) == XFERE_OK && hs >= 0) {
      r->header_bytes += (uint64_t)hs;
    } else {
      *header_info = 0;
      r->header_bytes = 0;
    }
  }
}

/* One thread's share of the run: its multi, its connections and its own
 * result, added into the run's at the end. */
struct worker {
  pthread_t tid;
  const struct load_options *o;
  xfer_multi *m;
  struct load_slot *slots;
  struct load_slot **free_slots; /* --rate: slots waiting for their next send time */
  long nslots;
  int nurls;
  uint64_t budget;        /* requests to issue; 0 for a timed run */
  double rate;            /* requests per second for this thread; 0 for as fast as possible */
  uint64_t start_ns;      /* shared by every thread */
  uint64_t deadline;      /* UINT64_MAX for a counted run */
  int cpu;                /* the CPU to pin to, or -1 */
  struct load_live *live; /* what the progress thread reads */
  struct load_result r;
};

/* The multis of the run, woken by SIGINT. Set before the handler is
 * installed and cleared after it is removed. */
static struct worker *signal_workers;
static long signal_nworkers;

static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
  for (long i = 0; i < signal_nworkers; i++)
    xfer_multi_wakeup(signal_workers[i].m);
}

/* The main loop; returns when the run is over, with the handles still in
 * flight left added. A multi error ends the run early, with what was
 * measured until then kept and the error noted in r->aborted.
 *
 * Without --rate each slot sends its next request as soon as the previous
 * one is done (a closed loop, as wrk). With --rate the sends follow a
 * schedule of fixed intervals, and a request's latency is counted from its
 * scheduled time, not from when a slot was free to send it: a server that
 * stalls then shows its stall in the latencies of every request that should
 * have been sent meanwhile (coordinated omission, as wrk2 corrects it). */
static void drive(struct worker *w) {
  struct load_result *r = &w->r;
  xfer_multi *m = w->m;
  int header_info = 1;
  uint64_t issued = 0;
  long active = 0;
  long nfree = 0;
  uint64_t interval = w->rate > 0.0 ? (uint64_t)((double)NS_PER_S / w->rate) : 0;
  uint64_t next_send = w->start_ns;
  xfer_mcode mc;

  for (long i = 0; i < w->nslots; i++) {
    /* Each connection starts at a different URL, so that all of them are
     * asked for from the first round on. */
    w->slots[i].next = (int)(i % w->nurls);
    if (interval) {
      w->free_slots[nfree++] = &w->slots[i];
      continue;
    }
    mc = start(m, &w->slots[i], w->nurls, w->start_ns);
    if (mc != XFERM_OK) {
      r->aborted = xfer_multi_strerror(mc);
      goto done;
    }
    issued++;
    active++;
  }

  uint64_t now = w->start_ns;
  for (;;) {
    /* Scheduled sends that are due, on the slots that are free. */
    while (interval && nfree > 0 && next_send <= now && now < w->deadline && !interrupted &&
           (!w->budget || issued < w->budget)) {
      struct load_slot *slot = w->free_slots[--nfree];
      mc = start(m, slot, w->nurls, next_send);
      if (mc != XFERM_OK) {
        r->aborted = xfer_multi_strerror(mc);
        goto done;
      }
      next_send += interval;
      issued++;
      active++;
    }
    int more = (w->budget ? issued < w->budget : now < w->deadline) && !interrupted;
    if (active == 0 && !(interval && more))
      break;
    int running = 0;
    mc = xfer_multi_perform(m, &running);
    if (mc != XFERM_OK) {
      r->aborted = xfer_multi_strerror(mc);
      break;
    }
    xfer_msg *msg;
    int left;
    while ((msg = xfer_multi_info_read(m, &left)) != NULL) {
      if (msg->msg != XFERMSG_DONE)
        continue;
      /* The message is only valid until the handle is removed, so what it
       * says is taken out first. */
      xfer_easy *e = msg->easy_handle;
      xfer_code rc = msg->data.result;
      char *priv = NULL;
      xfer_easy_getinfo(e, XFERINFO_PRIVATE, &priv);
      struct load_slot *slot = (struct load_slot *)(void *)priv;
      now = now_ns();
      account(r, slot, rc, now, &header_info);
      /* This thread is the counters' only writer: plain relaxed stores. */
      atomic_store_explicit(&w->live->done, r->requests + r->errors, memory_order_relaxed);
      atomic_store_explicit(&w->live->failed, r->errors + r->bad_status, memory_order_relaxed);
      xfer_multi_remove_handle(m, e);
      active--;
      more = (w->budget ? issued < w->budget : now < w->deadline) && !interrupted;
      if (interval) {
        w->free_slots[nfree++] = slot;
      } else if (more) {
        mc = start(m, slot, w->nurls, now);
        if (mc != XFERM_OK) {
          r->aborted = xfer_multi_strerror(mc);
          goto done;
        }
        issued++;
        active++;
      }
    }
    if (interrupted)
      break;
    now = now_ns();
    if (now >= w->deadline)
      break;
    if (active == 0 && !interval)
      break;
    uint64_t wake = w->deadline;
    if (interval && nfree > 0 && next_send < wake)
      wake = next_send;
    int timeout = MAX_POLL_MS;
    if (wake != UINT64_MAX) {
      /* Rounded up, so the loop does not spin through the last millisecond;
       * a send due in less than that is made at the next turn. */
      uint64_t left_ms = wake > now ? (wake - now + NS_PER_MS - 1) / NS_PER_MS : 0;
      if (left_ms < (uint64_t)timeout)
        timeout = (int)left_ms;
    }
    mc = xfer_multi_poll(m, NULL, 0, timeout, NULL);
    if (mc != XFERM_OK) {
      r->aborted = xfer_multi_strerror(mc);
      break;
    }
    now = now_ns();
  }
done:
  r->header_bytes_known = header_info;
  r->elapsed_s = (double)(now_ns() - w->start_ns) / (double)NS_PER_S;
  r->issued = issued;
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  if (w->cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
      fprintf(stderr, "xfer-load: cannot pin a thread to CPU %d\n", w->cpu);
  }
  drive(w);
  return NULL;
}

/* Sets up one thread's multi and handles; 0, or -1 after saying why. */
static int worker_setup(struct worker *w, const char *const *urls, int nurls) {
  struct load_result *r = &w->r;
  histogram_init(&r->latency);
  w->m = xfer_multi_init();
  if (!w->m) {
    fprintf(stderr, "xfer-load: xfer_multi_init failed\n");
    return -1;
  }
  w->slots = calloc((size_t)w->nslots, sizeof *w->slots);
  w->free_slots = calloc((size_t)w->nslots, sizeof *w->free_slots);
  if (!w->slots || !w->free_slots) {
    fprintf(stderr, "xfer-load: out of memory for %ld transfers\n", w->nslots);
    return -1;
  }
  if (setup_multi(w->m, w->o, w->nslots) < 0)
    return -1;
  if (xfer_multi_backend(w->m))
    snprintf(r->backend, sizeof r->backend, "%s", xfer_multi_backend(w->m));
  for (long i = 0; i < w->nslots; i++)
    if (setup_slot(&w->slots[i], w->o, urls, nurls, r) < 0)
      return -1;
  return 0;
}

static void worker_free(struct worker *w) {
  /* Cleaning an easy handle removes it from the multi first, which also
   * drops the transfers still in flight when the time ran out. */
  for (long i = 0; w->slots && i < w->nslots; i++)
    for (int u = 0; u < w->nurls; u++)
      xfer_easy_cleanup(w->slots[i].easy[u]);
  free(w->slots);
  free(w->free_slots);
  if (w->m)
    xfer_multi_cleanup(w->m);
}

/* Adds one thread's result into the run's. */
static void result_add(struct load_result *r, const struct load_result *x) {
  r->requests += x->requests;
  r->issued += x->issued;
  r->errors += x->errors;
  for (unsigned i = 0; i < LOAD_MAX_CODES; i++)
    r->errors_by_code[i] += x->errors_by_code[i];
  r->bad_status += x->bad_status;
  for (unsigned i = 0; i < LOAD_MAX_STATUS; i++)
    r->by_status[i] += x->by_status[i];
  r->body_bytes += x->body_bytes;
  r->header_bytes += x->header_bytes;
  r->header_bytes_known = x->header_bytes_known;
  if (!r->backend[0])
    memcpy(r->backend, x->backend, sizeof r->backend);
  r->connections += x->connections;
  if (x->tls_backend)
    r->tls_backend = x->tls_backend;
  r->handshakes += x->handshakes;
  r->resumed += x->resumed;
  if (x->elapsed_s > r->elapsed_s)
    r->elapsed_s = x->elapsed_s;
  if (!r->aborted)
    r->aborted = x->aborted;
  histogram_add(&r->latency, &x->latency);
}

/* n split over k parts as evenly as whole numbers allow: part i's share. */
static uint64_t share(uint64_t n, long k, long i) {
  return n / (uint64_t)k + ((uint64_t)i < n % (uint64_t)k ? 1 : 0);
}

int engine_run(const struct load_options *o, const char *const *urls, int nurls,
               struct load_result *r) {
  memset(r, 0, sizeof *r);
  histogram_init(&r->latency);
  long nslots = o->connections;
  if (o->requests && (uint64_t)nslots > o->requests)
    nslots = (long)o->requests;
  long nthreads = o->threads > nslots ? nslots : o->threads;
  r->slots = nslots;
  r->threads = nthreads;
  r->rate = o->rate;

  int status = 0;
  for (int i = 0; status == 0 && i < o->nheaders; i++) {
    struct xfer_slist *l = xfer_slist_append(header_list, o->headers[i]);
    if (!l) {
      fprintf(stderr, "xfer-load: out of memory for the request headers\n");
      status = 1;
    }
    header_list = l;
  }
  struct worker *w = calloc((size_t)nthreads, sizeof *w);
  /* Each thread's counters on a cache line of their own (see load.h). */
  size_t live_size = (size_t)nthreads * sizeof(struct load_live);
  struct load_live *live = aligned_alloc(_Alignof(struct load_live), live_size);
  if (live)
    memset(live, 0, live_size);
  if (!w || !live) {
    fprintf(stderr, "xfer-load: out of memory for %ld threads\n", nthreads);
    status = 1;
  }
  for (long i = 0; status == 0 && i < nthreads; i++) {
    w[i].o = o;
    w[i].nurls = nurls;
    w[i].nslots = (long)share((uint64_t)nslots, nthreads, i);
    w[i].budget = o->requests ? share(o->requests, nthreads, i) : 0;
    w[i].rate = o->rate / (double)nthreads;
    w[i].cpu = o->ncpus ? o->cpus[i % o->ncpus] : -1;
    w[i].live = &live[i];
    if (worker_setup(&w[i], urls, nurls) < 0)
      status = 1;
  }

  if (status == 0) {
    signal_workers = w;
    signal_nworkers = nthreads;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    /* A second Ctrl-C kills the tool the ordinary way, should the first
     * not stop it. */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old);

    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    uint64_t start_ns = now_ns();
    uint64_t deadline = UINT64_MAX;
    if (o->duration_s > 0.0)
      deadline = start_ns + (uint64_t)(o->duration_s * (double)NS_PER_S);
    for (long i = 0; i < nthreads; i++) {
      w[i].start_ns = start_ns;
      w[i].deadline = deadline;
    }
    struct progress progress;
    if (progress_start(&progress, o, live, nthreads, start_ns) < 0)
      fprintf(stderr, "xfer-load: cannot start the progress thread; running without it\n");
    if (nthreads == 1) {
      /* One thread: the run's own, with no thread to start. */
      worker_main(&w[0]);
    } else {
      long started = 0;
      for (; started < nthreads; started++)
        if (pthread_create(&w[started].tid, NULL, worker_main, &w[started]) != 0)
          break;
      if (started < nthreads) {
        fprintf(stderr, "xfer-load: could start only %ld of %ld threads\n", started, nthreads);
        interrupted = 1;
        for (long i = 0; i < started; i++)
          xfer_multi_wakeup(w[i].m);
        status = 1;
      }
      for (long i = 0; i < started; i++)
        pthread_join(w[i].tid, NULL);
    }
    getrusage(RUSAGE_SELF, &after);
    progress_stop(&progress);

    sigaction(SIGINT, &old, NULL);
    signal_workers = NULL;
    signal_nworkers = 0;
    for (long i = 0; i < nthreads; i++)
      result_add(r, &w[i].r);
    r->interrupted = interrupted;
    r->user_s = tv_seconds(after.ru_utime) - tv_seconds(before.ru_utime);
    r->sys_s = tv_seconds(after.ru_stime) - tv_seconds(before.ru_stime);
  }

  for (long i = 0; w && i < nthreads; i++)
    worker_free(&w[i]);
  free(w);
  free(live);
  xfer_slist_free_all(header_list);
  header_list = NULL;
  return status;
}
