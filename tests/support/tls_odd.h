/*
 * Odd TLS servers for xfer's TLS tests (prefix ts_odd_): peers that nginx
 * cannot be made to be (TLS 1.1 only, anonymous ciphers only, plaintext,
 * garbage, RST, bodies ended with or without close_notify). Each is one run of
 * tests/support/tls_odd.py, whose header documents the modes:
 *   tls11 anon plain garbage reset close_nonotify close_notify cl_nonotify
 *   chunked_nonotify short_nonotify
 *
 * ts_odd_start() runs "$XFER_PYTHON (default /usr/bin/python3, else python3
 * from $PATH) tls_odd.py MODE CERTDIR" as a child (fork/exec, own process
 * group, PR_SET_PDEATHSIG(SIGKILL) with the same per-thread caveat as
 * nginx.h, stdin a pipe from us, stdout a pipe for the port, stderr
 * inherited) and reads the port from its first stdout line, waiting at most
 * 5 s. The server listens on 127.0.0.1 with an ephemeral port. CERTDIR is a
 * ts_certs_dir(); the TLS modes serve its good.pem/good.key, so clients trust
 * ca.pem and name localhost or good.example.test (mapped to 127.0.0.1).
 *
 * The script is found at $XFER_TLS_ODD when set, else at TS_SUPPORT_DIR
 * "/tls_odd.py" (TS_SUPPORT_DIR is defined by tests/CMakeLists.txt).
 *
 * ts_odd_stop() closes the child's stdin (the script exits on EOF), sends
 * SIGTERM to its process group, waits at most 5 s, then SIGKILLs the group
 * and reaps it.
 */
#ifndef XFER_TESTS_TLS_ODD_H
#define XFER_TESTS_TLS_ODD_H

#include <stdint.h>

struct ts_odd;

/* 1 if a python3 interpreter and the script are there (tests may skip). */
int ts_odd_available(void);

/* NULL (with a message on stderr) on failure, e.g. an unknown mode. */
struct ts_odd *ts_odd_start(const char *mode, const char *certdir);
/* NULL is allowed. */
void ts_odd_stop(struct ts_odd *o);

uint16_t ts_odd_port(const struct ts_odd *o);

#endif
