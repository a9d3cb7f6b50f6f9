/*
 * Throw-away X.509 material for xfer's TLS tests (prefix ts_certs_).
 *
 * ts_certs_make() makes a private mkdtemp() directory (under $TMPDIR or /tmp)
 * and fills it by running the openssl command-line tool ($XFER_OPENSSL, else
 * "openssl" from $PATH; OpenSSL 3.0 or later) from a small shell script that
 * it writes there. Every key is EC P-256, so the whole set takes a few hundred
 * milliseconds. Validity periods are relative to the moment of the call.
 *
 * Files (NAME.pem holds just that certificate, NAME.key its unencrypted
 * PKCS#8 key):
 *   ca.pem ca.key       test CA "xfer test CA": basicConstraints CA:TRUE
 *                       (critical), keyUsage keyCertSign+cRLSign; valid from
 *                       3 years ago to 5 years ahead
 *   other-ca.pem .key   a second, unrelated CA "xfer other CA", same profile
 * Leaves signed by ca unless said otherwise; all have basicConstraints
 * CA:FALSE, keyUsage digitalSignature and extendedKeyUsage serverAuth, and are
 * valid from 1 day ago to 10 days ahead, unless said otherwise:
 *   good                CN=localhost, SAN DNS:localhost, DNS:good.example.test
 *   wronghost           CN=wrong.example.test, SAN DNS:wrong.example.test
 *   expired             as good, valid from 2 years ago to 1 year ago
 *   notyet              as good, valid from 1 year ahead to 2 years ahead
 *   wildcard            CN=xfer-test-wildcard, SAN DNS:*.example.test
 *   ipsan               CN=xfer-test-ipsan, SAN IP:127.0.0.1 only
 *   cnonly              CN=localhost, no subjectAltName extension at all
 *   otherca             CN=localhost, SAN DNS:localhost, signed by other-ca
 *   selfsigned          CN=localhost, SAN DNS:localhost, basicConstraints
 *                       CA:FALSE, self-signed, no keyUsage/extendedKeyUsage
 *                       (so it can also serve as its own trust anchor)
 *   client              CN=xfer-test-client, extendedKeyUsage clientAuth;
 *                       client.key unencrypted, client-enc.key the same key
 *                       as encrypted PKCS#8 (PBES2, AES-256-CBC) with the
 *                       passphrase TS_CERTS_CLIENT_PASS
 * The CNs of leaves with a SAN are chosen so that no verifier can succeed by
 * falling back to the CN where the SAN should make it fail.
 *
 * The directory also holds the generator's leftovers (gen.sh, gen.log,
 * openssl.cnf, *.csr, the CA database); tests should only use the files above.
 */
#ifndef XFER_TESTS_CERTS_H
#define XFER_TESTS_CERTS_H

#include <stddef.h>

#define TS_CERTS_CLIENT_PASS "secret"

struct ts_certs;

/* NULL (with a message on stderr) when openssl is missing or fails. */
struct ts_certs *ts_certs_make(void);
/* Removes the directory and frees. NULL is allowed. */
void ts_certs_free(struct ts_certs *c);

/* The directory (absolute when $TMPDIR is). */
const char *ts_certs_dir(const struct ts_certs *c);
/* "DIR/file" into out (e.g. file = "good.pem"). */
void ts_certs_path(const struct ts_certs *c, const char *file, char *out, size_t outlen);

/*
 * libcurl's CURLOPT_PINNEDPUBLICKEY form of the public key of the certificate
 * in the file leaf_pem_file (a name in the directory, e.g. "good.pem", or an
 * absolute path): "sha256//" + base64(SHA-256(DER SubjectPublicKeyInfo)).
 * 0 on success, -1 (message on stderr) on failure or when outlen is too small
 * (64 bytes are always enough).
 */
int ts_certs_spki_sha256(const struct ts_certs *c, const char *leaf_pem_file, char *out,
                         size_t outlen);

#endif
