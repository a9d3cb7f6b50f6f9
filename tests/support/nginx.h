/*
 * nginx as a real HTTP/1.1 peer for xfer's network tests (prefix ts_nginx_).
 *
 * ts_nginx_start() makes a private mkdtemp() directory (under $TMPDIR or
 * /tmp), writes its own nginx.conf there (never touching the system config),
 * picks an ephemeral 127.0.0.1 port (bind port 0, read it, close; retried
 * with a new port if nginx then fails to bind it) and runs
 *   $XFER_NGINX (default /usr/sbin/nginx) -e DIR/error.log -p DIR/ -c DIR/nginx.conf
 * as a child (fork/exec, own process group, stdout/stderr to DIR/nginx.out),
 * then waits at most 5 s for it to answer a private readiness URL.
 *
 * Served (config: daemon off; master_process on; worker_processes 1;
 * keepalive_requests 1000000; keepalive_timeout 300s; tcp_nodelay on;
 * access_log off; temp paths inside DIR; "user root;" when run as root, since
 * the mkdtemp() directory is mode 0700 and a www-data worker could not read
 * it):
 *   /small           200 "Hello, world!" (13 bytes, Content-Type text/plain)
 *   /1k /64k /1m     static files of 1024, 65536, 1048576 bytes:
 *                    ts_pattern(0..size) (application/octet-stream)
 *   /echo_status/... 204, no body
 *   /16m             16 MiB (16777216 bytes) of ts_pattern, only with the
 *                    TS_NGINX_16M flag (writing it costs tens of ms)
 *   anything else    nginx's usual 404
 *
 * TLS (ts_nginx_start_tls*()): the same server, served as
 *   listen 127.0.0.1:PORT ssl; ssl_certificate/ssl_certificate_key as given;
 *   ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:1m;
 *   ssl_session_tickets on; (nginx's default ciphers)
 * with two more locations (Content-Type text/plain):
 *   /reused          "r" when this connection's TLS session was resumed,
 *                    "." when it was a full handshake ($ssl_session_reused)
 *   /proto           "$ssl_protocol $ssl_cipher", e.g.
 *                    "TLSv1.3 TLS_AES_256_GCM_SHA384"
 * The readiness URL then lives on a second, plain HTTP server of the same
 * nginx on another ephemeral port (it answers nothing else); tests never need
 * it. ts_nginx_url() gives https:// URLs for such an instance.
 *
 * ts_nginx_stop() sends SIGTERM to the child, waits (bounded, 5 s), then
 * SIGKILLs its process group; it always sweeps the group with SIGKILL
 * afterwards so no worker survives, and removes the directory.
 *
 * The child gets PR_SET_PDEATHSIG(SIGKILL), so if the test process dies
 * without ts_nginx_stop() the master dies with it. Linux ties that signal to
 * the *thread* that forked: call ts_nginx_start() from a thread that lives as
 * long as nginx should (the test's own thread).
 */
#ifndef XFER_TESTS_NGINX_H
#define XFER_TESTS_NGINX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ts_nginx;

/* 1 if the nginx binary is there and executable (tests may skip if not). */
int ts_nginx_available(void);

/* NULL (with a message on stderr) on failure. */
struct ts_nginx *ts_nginx_start(void);
/* Same, with extra directives inserted verbatim inside the server { } block
 * (e.g. "location = /x { return 200 \"y\"; }"). NULL extra = none. */
struct ts_nginx *ts_nginx_start_ex(const char *server_extra);
/*
 * nginx over TLS with the certificate chain file cert_pem and its key key_pem
 * (absolute paths, e.g. from ts_certs_path(); no '"', '\\', '$' or control
 * characters). The files are read once, at start. NULL on failure.
 */
struct ts_nginx *ts_nginx_start_tls(const char *cert_pem, const char *key_pem,
                                    const char *server_extra);
/* Flags for ts_nginx_start_tls_ex(). */
#define TS_NGINX_16M 1u /* also serve /16m (see above) */
/* The general form: cert_pem == key_pem == NULL gives a plain HTTP server
 * (ts_nginx_start_ex() plus the flags), so the flags work for both. */
struct ts_nginx *ts_nginx_start_tls_ex(const char *cert_pem, const char *key_pem,
                                       const char *server_extra, unsigned flags);
void ts_nginx_stop(struct ts_nginx *n);

uint16_t ts_nginx_port(const struct ts_nginx *n);
/* "http://127.0.0.1:PORT/path" ("/" is added if path lacks it; NULL = "/");
 * "https://..." for a TLS instance. */
void ts_nginx_url(const struct ts_nginx *n, const char *path, char *out, size_t outlen);
/* The same with another host name, "https://HOST:PORT/path" (or http://):
 * for tests that map HOST to 127.0.0.1 with XFEROPT_RESOLVE so the TLS layer
 * checks the certificate against HOST. host NULL = "127.0.0.1". */
void ts_nginx_url_host(const struct ts_nginx *n, const char *host, const char *path, char *out,
                       size_t outlen);
/* 1 for an instance started with a certificate, else 0. */
int ts_nginx_is_tls(const struct ts_nginx *n);
/* The master's pid (valid until ts_nginx_stop()). */
pid_t ts_nginx_pid(const struct ts_nginx *n);
/* The private directory (www/ holds the static files; error.log is here). */
const char *ts_nginx_dir(const struct ts_nginx *n);

#endif
