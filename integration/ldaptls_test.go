package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/config"
	"github.com/orgdav/orgdav/directory"
)

// testCA writes a CA and a server certificate signed by it for the given
// names (IP addresses or host names in the subject alternative names; with
// none, the host name only in the subject's CN, as Samba makes its own).
func testCA(t *testing.T, dir string, names ...string) (caFile, certFile, keyFile string) {
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "orgdav test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dc1.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	return
}

// tlsSlapd runs slapd with a certificate for names, signed by a test CA.
func tlsSlapd(t *testing.T, names ...string) (srv *slapd, caFile string) {
	dir := t.TempDir()
	caFile, cert, key := testCA(t, dir, names...)
	ldif, _ := generateOrg(30)
	return startSlapdWith(t, ldif, "olcTLSCACertificateFile: "+caFile+"\nolcTLSCertificateFile: "+cert+"\nolcTLSCertificateKeyFile: "+key+"\n"), caFile
}

func TestLDAPOverTLSAndStartTLSWithCAFile(t *testing.T) {
	need(t, "slapd", "slapd")
	srv, caFile := tlsSlapd(t, "127.0.0.1")
	// A certificate naming the server by host name only, as most do, while
	// the url names it by address; and one naming it only in the subject's
	// CN, as Samba's self-made ones do.
	byName, nameCA := tlsSlapd(t, "ldap.example.test")
	cnOnly, cnCA := tlsSlapd(t)
	base := func(url string) string {
		return "sources:\n  - name: corp\n    kind: ldap\n    url: " + url + "\n    bind_dn: " + serviceDN + "\n    bind_password: " + servicePass +
			"\n    people:\n      base_dns: [\"ou=people," + suffix + "\"]\n"
	}
	cases := []struct {
		name, yaml, wantErr string
	}{
		{"ldaps with ca_file", base("ldaps://"+srv.tlsAddr) + "    ca_file: " + caFile + "\n", ""},
		{"StartTLS with ca_file", base(srv.url) + "    start_tls: true\n    ca_file: " + caFile + "\n", ""},
		{"ldaps without the CA", base("ldaps://" + srv.tlsAddr), "set ca_file"},
		{"ldaps, checks off", base("ldaps://"+srv.tlsAddr) + "    insecure_skip_verify: true\n", ""},
		{"ldaps by address to a certificate for a host name", base("ldaps://"+byName.tlsAddr) + "    ca_file: " + nameCA + "\n",
			"the certificate is for ldap.example.test, not 127.0.0.1: connect by one of those names in url, or keep url and set tls_server_name"},
		{"the same with tls_server_name", base("ldaps://"+byName.tlsAddr) + "    ca_file: " + nameCA + "\n    tls_server_name: ldap.example.test\n", ""},
		{"StartTLS with tls_server_name", base(byName.url) + "    start_tls: true\n    ca_file: " + nameCA + "\n    tls_server_name: ldap.example.test\n", ""},
		{"a certificate with its name only in the CN", base("ldaps://"+cnOnly.tlsAddr) + "    ca_file: " + cnCA + "\n    tls_server_name: dc1.example.test\n",
			"names no host in its subject alternative names"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			lc, err := cfg.Sources[0].LDAP()
			if err != nil {
				t.Fatal(err)
			}
			src := directory.NewLDAPSource(lc, nil)
			defer src.Close()
			snap, err := src.Snapshot(withTimeout(t, 30*time.Second))
			switch {
			case c.wantErr == "" && (err != nil || len(snap.People) < 25):
				t.Fatalf("read over TLS: %d people, %v", len(snap.People), err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("want an error about %q, got %v", c.wantErr, err)
			case c.wantErr != "":
				t.Logf("refused: %v", err)
			}
		})
	}
}
