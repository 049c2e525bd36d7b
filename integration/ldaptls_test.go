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

// testCA writes a CA and a server certificate for 127.0.0.1 signed by it.
func testCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
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
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
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

func TestLDAPOverTLSAndStartTLSWithCAFile(t *testing.T) {
	need(t, "slapd", "slapd")
	dir := t.TempDir()
	caFile, cert, key := testCA(t, dir)
	ldif, _ := generateOrg(30)
	srv := startSlapdWith(t, ldif, "olcTLSCACertificateFile: "+caFile+"\nolcTLSCertificateFile: "+cert+"\nolcTLSCertificateKeyFile: "+key+"\n")
	base := func(url string) string {
		return "sources:\n  - name: corp\n    kind: ldap\n    url: " + url + "\n    bind_dn: " + serviceDN + "\n    bind_password: " + servicePass +
			"\n    people:\n      base_dns: [\"ou=people," + suffix + "\"]\n"
	}
	cases := []struct {
		name, yaml, wantErr string
	}{
		{"ldaps with ca_file", base("ldaps://"+srv.tlsAddr) + "    ca_file: " + caFile + "\n", ""},
		{"StartTLS with ca_file", base(srv.url) + "    start_tls: true\n    ca_file: " + caFile + "\n", ""},
		{"ldaps without the CA", base("ldaps://" + srv.tlsAddr), "certificate"},
		{"ldaps, checks off", base("ldaps://"+srv.tlsAddr) + "    insecure_skip_verify: true\n", ""},
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
			}
		})
	}
}
