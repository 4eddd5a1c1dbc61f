#!/bin/sh
# make_certs.sh DIR [TRUST_DOMAIN [DNS_DOMAIN]] — a test CA and arca identities
# (P-256 keys, valid 2 days), the way services/README.md ("Security model") shows:
#   ca.pem/ca.key              the CA every service trusts (--tls-client-ca)
#   ROLE.pem/ROLE.key          for each ROLE in collector chunker compressor
#                              uploader orchestrator client: URI SAN
#                              spiffe://TRUST_DOMAIN/arca/ROLE (default domain
#                              "arca"), DNS localhost, IP 127.0.0.1, usable as
#                              server and client certificate; with
#                              DNS_DOMAIN also DNS ROLE.DNS_DOMAIN (e.g.
#                              arca.svc: the names the Kubernetes manifests dial)
#   server.pem/server.key      for 127.0.0.1 and localhost, no SPIFFE ID
#   foreign-chunker.pem/.key   spiffe://evil/arca/chunker, signed by ca
#   other-ca.pem/other-ca.key  an unrelated CA
#   other-client.pem/.key      spiffe://TRUST_DOMAIN/arca/chunker signed by other-ca
set -eu
cd "$1"
td="${2:-arca}"
dns_domain="${3:-}"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" 2>/dev/null
}
leaf() {  # name issuer cn extensions
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$3" 2>/dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
    -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}
identity() {  # name issuer spiffe-id
  extra=""
  [ -z "$dns_domain" ] || extra=",DNS:$1.$dns_domain"
  leaf "$1" "$2" "arca $1" "subjectAltName=URI:$3,DNS:localhost,IP:127.0.0.1$extra
extendedKeyUsage=serverAuth,clientAuth"
}
ca ca "arca test CA"
ca other-ca "another CA"
for role in collector chunker compressor uploader orchestrator client; do
  identity "$role" ca "spiffe://$td/arca/$role"
done
leaf server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth,clientAuth"
identity foreign-chunker ca "spiffe://evil/arca/chunker"
identity other-client other-ca "spiffe://$td/arca/chunker"
echo ok
