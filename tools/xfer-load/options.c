/* Command-line parsing for xfer-load. The flags follow wrk and h2load where
 * they overlap (-c, -n, -d), so that runs of the three read alike. */
#include "load.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xfer/xfer.h>

#define DEFAULT_CONNECTIONS 16
#define DEFAULT_DURATION_S  5.0

/* Each connection is a descriptor in the client and another in the built-in
 * server; beyond this even a raised descriptor limit runs out, so a larger
 * value is a typing mistake rather than a test. */
#define MAX_CONNECTIONS 100000

/* A run's length is kept in nanoseconds in 64 bits; a billion seconds fits
 * with room to spare and is far beyond any sensible test. */
#define MAX_DURATION_S 1e9

static void usage(FILE *f) {
  fprintf(f,
          "Usage: xfer-load [-c CONNECTIONS] [-n REQUESTS | -d SECONDS] "
          "[--backend poll|epoll|io_uring] [URL...]\n"
          "\n"
          "Load-tests an HTTP/1.1 server through xfer's multi interface: CONNECTIONS\n"
          "transfers run in parallel, each on its own keep-alive connection. With\n"
          "several URLs each connection takes them in turn. Without a URL a built-in\n"
          "server on 127.0.0.1 answers every request. While it runs, a progress line\n"
          "on stderr says each second how far it is (rewritten in place on a terminal).\n"
          "\n"
          "  -c, --connections N   transfers (and connections) in parallel (default %d)\n"
          "  -t, --threads N       threads, each with its own multi and an even share\n"
          "                        of the connections (default 1)\n"
          "      --cpus LIST       pin the threads to these CPUs in turn (0,2-3)\n"
          "      --rate R          send R requests per second over all threads, on a\n"
          "                        fixed schedule; latency counts from each request's\n"
          "                        scheduled time (wrk2's correction)\n"
          "  -n, --requests N      stop after N requests\n"
          "  -d, --duration T      stop after T seconds (default %g; suffixes us, ms, s, m, h)\n"
          "  -m, --method NAME     request method (default GET, or POST with --body)\n"
          "  -H, --header 'N: V'   add a request header line (repeatable)\n"
          "      --body FILE       send FILE's bytes as every request's body\n"
          "      --timeout T       fail a request that takes longer than T\n"
          "      --max-errors N    exit 0 still with up to N failed requests or\n"
          "                        non-2xx/3xx answers (default 0)\n"
          "      --json FILE       also write every figure and the latency histogram\n"
          "                        as JSON to FILE ('-' for stdout); runs written so\n"
          "                        add up exactly with: xfer-load merge FILE...\n"
          "      --batch-wait T    how long io_uring may hold early answers while more\n"
          "                        are due (XFERMOPT_BATCH_WAIT_US; default 50us, 0: off)\n"
          "      --backend NAME    I/O backend: poll, epoll, io_uring (default: the\n"
          "                        library's choice, see XFER_BACKEND)\n"
          "  -q, --quiet           no progress lines on stderr while the load runs\n"
          "  -k, --insecure        https: do not verify the server's certificate\n"
          "      --cacert FILE     https: trust the CA certificates in FILE (PEM)\n"
          "                        instead of the system's; the TLS library is\n"
          "                        XFER_SSL_BACKEND's (wolfssl, the default, or openssl)\n"
          "  -h, --help            show this help\n"
          "\n"
          "Exit status: 0 when every request got a 2xx/3xx response (or at most\n"
          "--max-errors did not), 1 otherwise, 2 for bad arguments.\n",
          DEFAULT_CONNECTIONS, DEFAULT_DURATION_S);
}

static int bad(const char *fmt, const char *flag, const char *value) {
  fputs("xfer-load: ", stderr);
  fprintf(stderr, fmt, flag, value);
  fputs("\nTry 'xfer-load --help'.\n", stderr);
  return -1;
}

/* A whole number in [min, max], digits only (strtoull would take "-1"). */
static int parse_count(const char *s, unsigned long long min, unsigned long long max,
                       unsigned long long *out) {
  if (s[0] < '0' || s[0] > '9')
    return -1;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* A positive duration: a decimal number with an optional unit, seconds
 * when there is none, as wrk takes it. */
static int parse_duration(const char *s, double *out) {
  if ((s[0] < '0' || s[0] > '9') && s[0] != '.')
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s)
    return -1;
  if (strcmp(end, "ms") == 0)
    v /= 1000.0;
  else if (strcmp(end, "us") == 0)
    v /= 1e6;
  else if (strcmp(end, "m") == 0)
    v *= 60.0;
  else if (strcmp(end, "h") == 0)
    v *= 3600.0;
  else if (strcmp(end, "s") != 0 && *end != '\0')
    return -1;
  if (!isfinite(v) || v <= 0.0 || v > MAX_DURATION_S)
    return -1;
  *out = v;
  return 0;
}

static int parse_backend(const char *s, struct load_options *o) {
  static const struct {
    const char *name;
    long value;
  } names[] = {
      {"auto", XFER_BACKEND_AUTO},
      {"poll", XFER_BACKEND_POLL},
      {"epoll", XFER_BACKEND_EPOLL},
      {"io_uring", XFER_BACKEND_IO_URING},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(s, names[i].name) == 0) {
      o->backend = names[i].value;
      o->backend_name = names[i].name;
      return 0;
    }
  }
  return -1;
}

/* Whether s[0..n) is an RFC 9110 token: letters, digits and the token
 * symbols, nothing that could break a request or header line. */
static int is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!(s[i] && strchr("!#$%&'*+-.^_`|~", s[i])) && !(s[i] >= '0' && s[i] <= '9') &&
        !(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= 'a' && s[i] <= 'z'))
      return 0;
  return 1;
}

static int valid_method(const char *s) { return is_token(s, strlen(s)); }

/* "Name: value" with a token name and no line break anywhere. */
static int valid_header(const char *s) {
  const char *colon = strchr(s, ':');
  return colon && !strpbrk(s, "\r\n") && is_token(s, (size_t)(colon - s));
}

/* Reads the whole of path into o->body. */
static int read_body(struct load_options *o, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "xfer-load: --body %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
    fprintf(stderr, "xfer-load: --body %s: not a regular file\n", path);
    fclose(f);
    return -1;
  }
  size_t n = (size_t)st.st_size;
  o->body = malloc(n ? n : 1);
  if (!o->body || fread(o->body, 1, n, f) != n) {
    fprintf(stderr, "xfer-load: --body %s: cannot read it\n", path);
    fclose(f);
    return -1;
  }
  fclose(f);
  o->body_len = n;
  o->body_file = path;
  return 0;
}

void options_free(struct load_options *o) {
  free(o->body);
  o->body = NULL;
}

/* Values of getopt_long for the options that have no short form. */
enum {
  OPT_BACKEND = 256,
  OPT_SERVE_ONLY,
  OPT_CACERT,
  OPT_BODY,
  OPT_TIMEOUT,
  OPT_MAX_ERRORS,
  OPT_JSON,
  OPT_CPUS,
  OPT_RATE,
  OPT_BATCH_WAIT
};

/* "0,2,4-7": CPU numbers and ranges, into o->cpus. */
static int parse_cpus(const char *s, struct load_options *o) {
  o->ncpus = 0;
  while (*s) {
    char *end;
    if (*s < '0' || *s > '9')
      return -1;
    long a = strtol(s, &end, 10), b = a;
    s = end;
    if (*s == '-') {
      s++;
      if (*s < '0' || *s > '9')
        return -1;
      b = strtol(s, &end, 10);
      s = end;
    }
    if (a < 0 || b < a || b >= LOAD_MAX_CPUS)
      return -1;
    for (long c = a; c <= b; c++) {
      if (o->ncpus == LOAD_MAX_CPUS)
        return -1;
      o->cpus[o->ncpus++] = (int)c;
    }
    if (*s == ',')
      s++;
    else if (*s)
      return -1;
  }
  return o->ncpus ? 0 : -1;
}

int options_parse(int argc, char **argv, struct load_options *o) {
  static const struct option longs[] = {
      {"connections", required_argument, NULL, 'c'},
      {"requests", required_argument, NULL, 'n'},
      {"duration", required_argument, NULL, 'd'},
      {"backend", required_argument, NULL, OPT_BACKEND},
      {"insecure", no_argument, NULL, 'k'},
      {"quiet", no_argument, NULL, 'q'},
      {"cacert", required_argument, NULL, OPT_CACERT},
      {"method", required_argument, NULL, 'm'},
      {"header", required_argument, NULL, 'H'},
      {"body", required_argument, NULL, OPT_BODY},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"max-errors", required_argument, NULL, OPT_MAX_ERRORS},
      {"json", required_argument, NULL, OPT_JSON},
      {"threads", required_argument, NULL, 't'},
      {"cpus", required_argument, NULL, OPT_CPUS},
      {"rate", required_argument, NULL, OPT_RATE},
      {"batch-wait", required_argument, NULL, OPT_BATCH_WAIT},
      /* Runs only the built-in server, for measuring other clients against
       * it; left out of --help as it is not part of load testing proper. */
      {"serve-only", no_argument, NULL, OPT_SERVE_ONLY},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->connections = DEFAULT_CONNECTIONS;
  o->threads = 1;
  o->backend = XFER_BACKEND_AUTO;
  o->backend_name = "auto";
  o->batch_wait_us = -1;

  /* Messages are ours, so that each says what was expected. */
  opterr = 0;
  optind = 1;
  unsigned long long count;
  int opt;
  const char *body_path = NULL;
  double timeout_s;
  char *end;
  while ((opt = getopt_long(argc, argv, ":c:n:d:m:H:t:kqh", longs, NULL)) != -1) {
    switch (opt) {
    case 'c':
      if (parse_count(optarg, 1, MAX_CONNECTIONS, &count) < 0)
        return bad("%s needs a whole number from 1 to 100000, not '%s'", "--connections", optarg);
      o->connections = (long)count;
      break;
    case 'n':
      if (parse_count(optarg, 1, UINT64_MAX, &count) < 0)
        return bad("%s needs a whole number of at least 1, not '%s'", "--requests", optarg);
      o->requests = count;
      break;
    case 'd':
      if (parse_duration(optarg, &o->duration_s) < 0)
        return bad("%s needs a positive time such as 5, 2.5s, 500ms or 1m, not '%s'", "--duration",
                   optarg);
      break;
    case OPT_BACKEND:
      if (parse_backend(optarg, o) < 0)
        return bad("%s must be poll, epoll or io_uring, not '%s'", "--backend", optarg);
      break;
    case OPT_SERVE_ONLY:
      o->serve_only = 1;
      break;
    case 'k':
      o->insecure = 1;
      break;
    case 'q':
      o->quiet = 1;
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case 'm':
      if (!valid_method(optarg))
        return bad("%s needs a method name such as GET or POST, not '%s'", "--method", optarg);
      o->method = optarg;
      break;
    case 'H':
      if (!valid_header(optarg))
        return bad("%s needs 'Name: value' on one line, not '%s'", "--header", optarg);
      if (o->nheaders == LOAD_MAX_HEADERS)
        return bad("%s is accepted 64 times at most; '%s' is one too many", "--header", optarg);
      o->headers[o->nheaders++] = optarg;
      break;
    case OPT_BODY:
      body_path = optarg;
      break;
    case OPT_TIMEOUT:
      if (parse_duration(optarg, &timeout_s) < 0 || timeout_s < 0.001 || timeout_s > 86400.0)
        return bad("%s needs a time from 1ms to 24h such as 2s or 500ms, not '%s'", "--timeout",
                   optarg);
      o->timeout_ms = (long)(timeout_s * 1000.0 + 0.5);
      break;
    case OPT_BATCH_WAIT:
      /* 0 is allowed here (it turns batching off), unlike in --timeout. */
      if (strcmp(optarg, "0") == 0) {
        o->batch_wait_us = 0;
      } else if (parse_duration(optarg, &timeout_s) < 0 || timeout_s > 1.0) {
        return bad("%s needs a time from 0 to 1s such as 50us, 0.1ms or 0, not '%s'",
                   "--batch-wait", optarg);
      } else {
        o->batch_wait_us = (long)(timeout_s * 1e6 + 0.5);
      }
      break;
    case OPT_JSON:
      o->json = optarg;
      break;
    case 't':
      if (parse_count(optarg, 1, 1024, &count) < 0)
        return bad("%s needs a whole number from 1 to 1024, not '%s'", "--threads", optarg);
      o->threads = (long)count;
      break;
    case OPT_CPUS:
      if (parse_cpus(optarg, o) < 0)
        return bad("%s needs CPU numbers and ranges such as 1 or 0,2-3, not '%s'", "--cpus",
                   optarg);
      break;
    case OPT_RATE:
      errno = 0;
      o->rate = strtod(optarg, &end);
      if (errno || end == optarg || *end || !isfinite(o->rate) || o->rate <= 0.0 || o->rate > 1e9)
        return bad("%s needs requests per second above 0, such as 1000, not '%s'", "--rate",
                   optarg);
      break;
    case OPT_MAX_ERRORS:
      if (parse_count(optarg, 0, UINT64_MAX, &count) < 0)
        return bad("%s needs a whole number, not '%s'", "--max-errors", optarg);
      o->max_errors = count;
      break;
    case 'h':
      usage(stdout);
      return 1;
    case ':':
      return bad("%s needs a value%s", argv[optind - 1], "");
    default: {
      /* getopt sets optopt for an unknown short option only. */
      char flag[3] = {'-', (char)optopt, '\0'};
      return bad("unknown option %s%s", optopt != 0 ? flag : argv[optind - 1], "");
    }
    }
  }
  while (optind < argc) {
    if (o->nurls == LOAD_MAX_URLS)
      return bad("64 URLs at most; '%s' is one too many%s", argv[optind], "");
    o->urls[o->nurls++] = argv[optind++];
  }
  if (o->threads > o->connections)
    return bad("%s cannot exceed the connections: each thread needs one (%s)", "--threads",
               "see -c");
  if (o->requests && o->duration_s > 0.0)
    return bad("%s and %s cannot be combined: a run is counted or timed", "-n", "-d");
  if (o->serve_only && o->nurls)
    return bad("%s serves locally and takes no URL, not '%s'", "--serve-only", o->urls[0]);
  if (!o->requests && o->duration_s == 0.0)
    o->duration_s = DEFAULT_DURATION_S;
  /* Read last, so that a bad flag after --body is reported as such. */
  if (body_path && read_body(o, body_path) < 0)
    return -1;
  return 0;
}
