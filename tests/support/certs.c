/*
 * Throw-away X.509 material for TLS tests; see certs.h for the contract.
 *
 * Why a shell script run by the openssl tool rather than a crypto library:
 * the test programs must not link a second TLS library next to the one under
 * test, and the openssl command line is the most widely understood way to say
 * what a certificate contains. The script is a constant in this file and all
 * variable input (the tool's path and the dates) reaches it as arguments,
 * never as text spliced into a command line.
 *
 * Why "openssl ca" for every certificate: OpenSSL 3.0's "x509 -req" and
 * "req -x509" can only start a certificate's validity now, while expired and
 * notyet need periods entirely in the past or the future; "ca" takes
 * -startdate/-enddate. Using it for all of them keeps one code path.
 */
#include "certs.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CERTS_GEN_MS 30000 /* bound on the whole generator (normally < 1 s) */
#define CERTS_PIN_MS 10000 /* bound on one ts_certs_spki_sha256() */

struct ts_certs {
  char dir[PATH_MAX];
  char openssl[PATH_MAX];
};

/* $1 = the openssl binary, $2..$9 = validity bounds (YYYYMMDDHHMMSSZ): CA
 * from/to, current from/to, past from/to, future from/to. */
static const char gen_script[] =
    "# Written and run by tests/support/certs.c; see certs.h.\n"
    "set -eux # -x: gen.log then shows which step failed\n"
    "OPENSSL=$1\n"
    "CA_FROM=$2; CA_TO=$3; NOW_FROM=$4; NOW_TO=$5\n"
    "PAST_FROM=$6; PAST_TO=$7; FUT_FROM=$8; FUT_TO=$9\n"
    "umask 077\n"
    "cat > openssl.cnf <<'EOF'\n"
    "[ ca ]\n"
    "default_ca = ca_section\n"
    "[ ca_section ]\n"
    "database = ./index.txt\n"
    "new_certs_dir = ./newcerts\n"
    "serial = ./serial\n"
    "default_md = sha256\n"
    "policy = policy_any\n"
    "unique_subject = no\n"
    "email_in_dn = no\n"
    "copy_extensions = none\n"
    "[ policy_any ]\n"
    "commonName = supplied\n"
    "[ req ]\n"
    "distinguished_name = req_dn\n"
    "prompt = no\n"
    "[ req_dn ]\n"
    "CN = unused\n"
    "[ ext_ca ]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[ ext_good ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "subjectAltName = DNS:localhost, DNS:good.example.test\n"
    "[ ext_wronghost ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "subjectAltName = DNS:wrong.example.test\n"
    "[ ext_wildcard ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "subjectAltName = DNS:*.example.test\n"
    "[ ext_ipsan ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "subjectAltName = IP:127.0.0.1\n"
    "[ ext_cnonly ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "[ ext_localhost ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "subjectAltName = DNS:localhost\n"
    "[ ext_selfsigned ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "subjectKeyIdentifier = hash\n"
    "subjectAltName = DNS:localhost\n"
    "[ ext_client ]\n"
    "basicConstraints = critical, CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = clientAuth\n"
    "subjectKeyIdentifier = hash\n"
    "authorityKeyIdentifier = keyid\n"
    "EOF\n"
    ": > index.txt\n"
    "echo 1000 > serial\n"
    "mkdir -p newcerts\n"
    "\n"
    "# NAME SUBJECT: a new P-256 key in NAME.key and a request in NAME.csr.\n"
    "req() {\n"
    "  \"$OPENSSL\" req -new -config openssl.cnf -newkey ec -pkeyopt ec_paramgen_curve:P-256 \\\n"
    "    -nodes -keyout \"$1.key\" -subj \"$2\" -out \"$1.csr\"\n"
    "}\n"
    "# NAME ISSUER EXTENSIONS FROM TO: NAME.pem signed by ISSUER.key.\n"
    "sign() {\n"
    "  \"$OPENSSL\" ca -batch -config openssl.cnf -notext -cert \"$2.pem\" -keyfile \"$2.key\" \\\n"
    "    -extensions \"$3\" -startdate \"$4\" -enddate \"$5\" -in \"$1.csr\" -out \"$1.pem\"\n"
    "}\n"
    "# NAME EXTENSIONS FROM TO: NAME.pem signed by its own key.\n"
    "selfsign() {\n"
    "  \"$OPENSSL\" ca -batch -config openssl.cnf -notext -selfsign -keyfile \"$1.key\" \\\n"
    "    -extensions \"$2\" -startdate \"$3\" -enddate \"$4\" -in \"$1.csr\" -out \"$1.pem\"\n"
    "}\n"
    "\n"
    "req ca '/CN=xfer test CA'\n"
    "selfsign ca ext_ca \"$CA_FROM\" \"$CA_TO\"\n"
    "req other-ca '/CN=xfer other CA'\n"
    "selfsign other-ca ext_ca \"$CA_FROM\" \"$CA_TO\"\n"
    "\n"
    "req good /CN=localhost\n"
    "sign good ca ext_good \"$NOW_FROM\" \"$NOW_TO\"\n"
    "req wronghost /CN=wrong.example.test\n"
    "sign wronghost ca ext_wronghost \"$NOW_FROM\" \"$NOW_TO\"\n"
    "req expired /CN=localhost\n"
    "sign expired ca ext_good \"$PAST_FROM\" \"$PAST_TO\"\n"
    "req notyet /CN=localhost\n"
    "sign notyet ca ext_good \"$FUT_FROM\" \"$FUT_TO\"\n"
    "req wildcard /CN=xfer-test-wildcard\n"
    "sign wildcard ca ext_wildcard \"$NOW_FROM\" \"$NOW_TO\"\n"
    "req ipsan /CN=xfer-test-ipsan\n"
    "sign ipsan ca ext_ipsan \"$NOW_FROM\" \"$NOW_TO\"\n"
    "req cnonly /CN=localhost\n"
    "sign cnonly ca ext_cnonly \"$NOW_FROM\" \"$NOW_TO\"\n"
    "req otherca /CN=localhost\n"
    "sign otherca other-ca ext_localhost \"$NOW_FROM\" \"$NOW_TO\"\n"
    "req selfsigned /CN=localhost\n"
    "selfsign selfsigned ext_selfsigned \"$NOW_FROM\" \"$NOW_TO\"\n"
    "req client /CN=xfer-test-client\n"
    "sign client ca ext_client \"$NOW_FROM\" \"$NOW_TO\"\n"
    "\"$OPENSSL\" pkey -in client.key -aes-256-cbc -passout pass:" TS_CERTS_CLIENT_PASS
    " -out client-enc.key\n"
    "echo done\n";

/* Files ts_certs_make() checks for before it reports success. */
static const char *const expected_files[] = {
    "ca.pem",         "ca.key",         "other-ca.pem",  "other-ca.key", "good.pem",
    "good.key",       "wronghost.pem",  "wronghost.key", "expired.pem",  "expired.key",
    "notyet.pem",     "notyet.key",     "wildcard.pem",  "wildcard.key", "ipsan.pem",
    "ipsan.key",      "cnonly.pem",     "cnonly.key",    "otherca.pem",  "otherca.key",
    "selfsigned.pem", "selfsigned.key", "client.pem",    "client.key",   "client-enc.key",
};

/* now + delta_s as the GeneralizedTime "YYYYMMDDHHMMSSZ" that "openssl ca"
 * takes for -startdate/-enddate (UTC, so the local zone plays no part). */
static void fmt_time(time_t now, long long delta_s, char out[32]) {
  time_t t = (time_t)((long long)now + delta_s);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y%m%d%H%M%SZ", &tm);
}

struct ts_certs *ts_certs_make(void) {
  struct ts_certs *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  const char *tool = getenv("XFER_OPENSSL");
  if (!tool || !*tool)
    tool = "openssl";
  if (ts_proc_which(tool, c->openssl, sizeof c->openssl) != 0) {
    fprintf(stderr, "ts_certs: the openssl tool (%s) was not found; install openssl\n", tool);
    free(c);
    return NULL;
  }

  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp)
    tmp = "/tmp";
  snprintf(c->dir, sizeof c->dir, "%s/xfer-certs-XXXXXX", tmp);
  if (!mkdtemp(c->dir)) {
    fprintf(stderr, "ts_certs: mkdtemp %s: %s\n", c->dir, strerror(errno));
    free(c);
    return NULL;
  }

  char script[PATH_MAX + 32], log[PATH_MAX + 32];
  snprintf(script, sizeof script, "%s/gen.sh", c->dir);
  snprintf(log, sizeof log, "%s/gen.log", c->dir);
  FILE *f = fopen(script, "we");
  if (!f || fwrite(gen_script, 1, sizeof gen_script - 1, f) != sizeof gen_script - 1) {
    fprintf(stderr, "ts_certs: cannot write %s\n", script);
    if (f)
      fclose(f);
    goto fail;
  }
  if (fclose(f) != 0) {
    fprintf(stderr, "ts_certs: cannot write %s\n", script);
    goto fail;
  }

  /* One day of margin on the "current" period keeps a test machine with a
     * slightly wrong clock, or a run across midnight, from failing. */
  const long long day = 86400, year = 365 * day;
  time_t now = time(NULL);
  char d[8][32];
  fmt_time(now, -3 * year, d[0]);
  fmt_time(now, 5 * year, d[1]);
  fmt_time(now, -day, d[2]);
  fmt_time(now, 10 * day, d[3]);
  fmt_time(now, -2 * year, d[4]);
  fmt_time(now, -year, d[5]);
  fmt_time(now, year, d[6]);
  fmt_time(now, 2 * year, d[7]);

  int logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (logfd < 0) {
    fprintf(stderr, "ts_certs: open %s: %s\n", log, strerror(errno));
    goto fail;
  }
  char *const argv[] = {"/bin/sh", "gen.sh", c->openssl, d[0], d[1], d[2],
                        d[3],      d[4],     d[5],       d[6], d[7], NULL};
  pid_t pid = ts_proc_spawn(argv, c->dir, -1, logfd, logfd);
  close(logfd);
  int rc = pid < 0 ? -1 : ts_proc_wait(pid, CERTS_GEN_MS);
  if (rc != 0) {
    char tail[2048];
    ts_proc_read_tail(log, tail, sizeof tail);
    fprintf(stderr, "ts_certs: the generator %s (%d)\n%s\n",
            rc < 0 ? "did not finish in time or could not start" : "failed", rc, tail);
    goto fail;
  }
  for (size_t i = 0; i < sizeof expected_files / sizeof expected_files[0]; i++) {
    char p[PATH_MAX + 64];
    ts_certs_path(c, expected_files[i], p, sizeof p);
    struct stat st;
    if (stat(p, &st) != 0 || st.st_size == 0) {
      fprintf(stderr, "ts_certs: the generator did not write %s\n", p);
      goto fail;
    }
  }
  return c;

fail:
  ts_proc_rm_tree(c->dir);
  free(c);
  return NULL;
}

void ts_certs_free(struct ts_certs *c) {
  if (!c)
    return;
  ts_proc_rm_tree(c->dir);
  free(c);
}

const char *ts_certs_dir(const struct ts_certs *c) { return c->dir; }

void ts_certs_path(const struct ts_certs *c, const char *file, char *out, size_t outlen) {
  snprintf(out, outlen, "%s/%s", c->dir, file);
}

/* Four separate openssl runs through files in the private directory rather
 * than one pipeline: /bin/sh (dash) has no pipefail, and a failed first stage
 * would otherwise still yield a well-formed pin, the hash of nothing. */
static const char pin_script[] = "set -e\n"
                                 "\"$0\" x509 -in \"$1\" -noout -pubkey -out \"$2.pub\"\n"
                                 "\"$0\" pkey -pubin -in \"$2.pub\" -outform der -out \"$2.der\"\n"
                                 "\"$0\" dgst -sha256 -binary -out \"$2.bin\" \"$2.der\"\n"
                                 "\"$0\" enc -base64 -A -in \"$2.bin\"\n"
                                 "rm -f \"$2.pub\" \"$2.der\" \"$2.bin\"\n";

int ts_certs_spki_sha256(const struct ts_certs *c, const char *leaf_pem_file, char *out,
                         size_t outlen) {
  static atomic_uint seq;
  char file[PATH_MAX + 64], stem[PATH_MAX + 64];
  if (leaf_pem_file[0] == '/')
    snprintf(file, sizeof file, "%s", leaf_pem_file);
  else
    ts_certs_path(c, leaf_pem_file, file, sizeof file);
  /* A private name per call, so concurrent calls cannot share files. */
  snprintf(stem, sizeof stem, "%s/pin-%ld-%u", c->dir, (long)getpid(), atomic_fetch_add(&seq, 1));

  char b64[256];
  char *const argv[] = {"/bin/sh", "-c", (char *)pin_script, (char *)c->openssl, file, stem, NULL};
  int rc = ts_proc_run(argv, NULL, b64, sizeof b64, CERTS_PIN_MS);
  size_t n = strlen(b64);
  while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r'))
    b64[--n] = '\0';
  /* base64 of a 32-byte digest is always 44 characters ending in '='. */
  if (rc != 0 || n != 44 || b64[43] != '=') {
    fprintf(stderr, "ts_certs: cannot compute the public key pin of %s (exit %d, \"%s\")\n", file,
            rc, b64);
    return -1;
  }
  int k = snprintf(out, outlen, "sha256//%s", b64);
  if (k < 0 || (size_t)k >= outlen) {
    fprintf(stderr, "ts_certs: pin buffer too small (%zu bytes)\n", outlen);
    return -1;
  }
  return 0;
}
