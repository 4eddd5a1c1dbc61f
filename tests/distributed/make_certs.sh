#!/bin/sh
# make_certs.sh DIR — test certificates (P-256 keys, valid 2 days):
#   ca.pem/ca.key              the CA the services trust
#   server.pem/server.key      for 127.0.0.1 and localhost, signed by ca
#   client.pem/client.key      a client certificate signed by ca
#   other-ca.pem/other-ca.key  an unrelated CA
#   other-client.pem/.key      a client certificate signed by other-ca
set -eu
cd "$1"
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
ca ca "arca test CA"
ca other-ca "another CA"
leaf server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
leaf client ca "arca client" "extendedKeyUsage=clientAuth"
leaf other-client other-ca "intruder" "extendedKeyUsage=clientAuth"
echo ok
