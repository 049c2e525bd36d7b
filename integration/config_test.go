package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "orgdav test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestBinaryServesTLSFromConfig(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	cfg := filepath.Join(dir, "orgdav.yaml")
	os.WriteFile(cfg, []byte("tls:\n  cert_file: "+cert+"\n  key_file: "+key+"\nbooks:\n  company_name: Example Org\nvisibility:\n  fields:\n    mobile: nobody\n"), 0o600)
	url, _, stop := runBinary(t, bin, "--config", cfg, "--data", filepath.Join(dir, "data"))
	defer stop()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("logged URL %s is not https", url)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("PROPFIND", url+"dav/books/alice/", strings.NewReader(`<propfind xmlns="DAV:"><prop><displayname/></prop></propfind>`))
	req.SetBasicAuth("alice", "demo")
	req.Header.Set("Depth", "1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	_, _ = io.Copy(buf, resp.Body)
	if resp.StatusCode != http.StatusMultiStatus || !strings.Contains(buf.String(), "<D:displayname>Example Org</D:displayname>") {
		t.Fatalf("over TLS: %d %s", resp.StatusCode, buf)
	}
}

func TestBinaryRefusesBadConfigNamingTheKey(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "orgdav.yaml")
	os.WriteFile(cfg, []byte("visibility:\n  fields:\n    mobile: colleagues\n"), 0o600)
	out, err := exec.Command(bin, "serve", "--config", cfg, "--data", filepath.Join(dir, "data")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1, got %v: %s", err, out)
	}
	if !strings.Contains(string(out), "visibility.fields") || !strings.Contains(string(out), "colleagues") {
		t.Fatalf("error does not name the key: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Fatal("a refused config still created the data directory")
	}
}

func TestBinaryServesMetricsWhereTheConfigSays(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	get := func(url, token string) int {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// On their own listener (loopback, and a free port here); the phones'
	// listener serves none.
	url, logs, stop := runBinary(t, bin, "--data", filepath.Join(dir, "a"))
	m := metricsRE.FindStringSubmatch(logs.String())
	if m == nil || get(m[1], "") != http.StatusOK {
		t.Fatalf("no metrics on their listener:\n%s", logs)
	}
	if code := get(url+"metrics", ""); code != http.StatusForbidden {
		t.Errorf("the phones' listener, even from this machine: %d, want 403", code)
	}
	stop()

	// A token: the phones' listener serves whoever carries it.
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("f00dfeedf00dfeedf00dfeed\n"), 0o600)
	cfg := filepath.Join(dir, "token.yaml")
	os.WriteFile(cfg, []byte("metrics:\n  token_file: "+token+"\n"), 0o600)
	url, _, stop = runBinary(t, bin, "--config", cfg, "--data", filepath.Join(dir, "c"))
	defer stop()
	if code := get(url+"metrics", "f00dfeedf00dfeedf00dfeed"); code != http.StatusOK {
		t.Errorf("with the token: %d", code)
	}
	if code := get(url+"metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
}
