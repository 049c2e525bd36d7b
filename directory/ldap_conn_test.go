package directory

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestConnectHintSaysWhatToDoAboutTheCertificate(t *testing.T) {
	samba := &x509.Certificate{DNSNames: []string{"dc1.example.test"}}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"a certificate without the IP the url names", ldap.NewError(ldap.ErrorNetwork, x509.HostnameError{Certificate: samba, Host: "127.0.0.1"}),
			"set tls_server_name to one of them"},
		{"a certificate with no names at all", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "127.0.0.1"}, "issue the server a certificate"},
		{"an unknown CA", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), "set ca_file"},
		{"an expired certificate", x509.CertificateInvalidError{Reason: x509.Expired}, "renew it"},
		{"a negative serial", errors.New("tls: failed to parse certificate from server: x509: negative serial number"), "negative serial"},
		{"plain LDAP on an ldaps:// url", errors.New("tls: first record does not look like a TLS handshake"), "does not speak TLS"},
		{"nothing listening", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, "network path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := connectHint(c.err, "check url, that the server runs and the network path"); !strings.Contains(got, c.want) {
				t.Fatalf("hint %q lacks %q", got, c.want)
			}
		})
	}
}

func TestEmptyServerMessagesLeaveNoDanglingColon(t *testing.T) {
	err := fmt.Errorf("ldap: read base %q: %w (check)", "dc=example", tidy(ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New(""))))
	if strings.Contains(err.Error(), ":  (") || !strings.Contains(err.Error(), `"No Such Object" (check)`) || !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		t.Fatalf("%v", err)
	}
}
