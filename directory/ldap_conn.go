package directory

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// dial opens a connection (TLS or StartTLS as configured) without binding;
// timeout bounds the dial and each operation on the connection.
func (s *LDAPSource) dial(ctx context.Context, timeout time.Duration) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if s.cfg.TLS != nil {
		opts = append(opts, ldap.DialWithTLSConfig(s.cfg.TLS))
	}
	c, err := ldap.DialURL(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ldap: connect %s: %w (%s)", s.cfg.URL, tidy(err), connectHint(err, "check url, that the server runs and the network path"))
	}
	c.SetTimeout(timeout)
	if s.cfg.StartTLS {
		if err := c.StartTLS(s.cfg.TLS); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap: StartTLS with %s: %w (%s)", s.cfg.URL, tidy(err), connectHint(err, "check the server's TLS setup"))
		}
	}
	return c, ctx.Err()
}

// connectHint says what to do about a failed connection: about the
// certificate when that is what failed, else fallback.
func connectHint(err error, fallback string) string {
	var (
		host      x509.HostnameError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &host):
		names := append(slices.Clone(host.Certificate.DNSNames), ipStrings(host.Certificate.IPAddresses)...)
		if len(names) == 0 {
			return "the certificate names no host in its subject alternative names, which TLS clients require: issue the server a certificate that does"
		}
		return fmt.Sprintf("the certificate is for %s, not %s: connect by one of those names in url, or keep url and set tls_server_name to one of them",
			strings.Join(names, ", "), host.Host)
	case errors.As(err, &authority):
		return "the certificate is not signed by a CA orgdav trusts: set ca_file to the PEM file of the CA that issued it"
	case errors.As(err, &invalid):
		return "the certificate is not valid (expired, not yet valid, or not for servers): renew it on the server"
	case strings.Contains(err.Error(), "negative serial number"):
		return "the certificate has a negative serial number, which Go refuses (Samba's self-made certificates often do): issue the server a certificate from a CA"
	case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
		return "the server does not speak TLS on that port: use ldap:// (with start_tls) or the server's LDAPS port, usually 636"
	}
	return fallback
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// tidy drops the empty diagnostic message many servers send, which go-ldap
// prints as a dangling colon: `LDAP Result Code 32 "No Such Object": `.
func tidy(err error) error {
	if err == nil || !strings.HasSuffix(err.Error(), ": ") {
		return err
	}
	return tidyError{err}
}

type tidyError struct{ err error }

func (e tidyError) Error() string { return strings.TrimSuffix(e.err.Error(), ": ") }
func (e tidyError) Unwrap() error { return e.err }

// dialService opens a new connection bound as the service account (or
// anonymous without a bind_dn).
func (s *LDAPSource) dialService(ctx context.Context, timeout time.Duration) (*ldap.Conn, error) {
	c, err := s.dial(ctx, timeout)
	if err != nil {
		return nil, err
	}
	if s.cfg.BindDN != "" {
		if err := c.Bind(s.cfg.BindDN, s.cfg.Password); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap: bind as %q: %w (check bind_dn and the bind password)", s.cfg.BindDN, tidy(err))
		}
	}
	return c, nil
}

// service returns the bound service connection, dialling it if needed.
func (s *LDAPSource) service(ctx context.Context) (*ldap.Conn, error) {
	if s.conn != nil && !s.conn.IsClosing() {
		return s.conn, nil
	}
	c, err := s.dialService(ctx, s.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	s.conn = c
	return c, nil
}

// search runs a paged search and streams the entries to fn, so a large
// directory is never held as one result. Continuation references (AD's
// referral to CN=Configuration) are skipped: people live in the base.
func (s *LDAPSource) search(ctx context.Context, c *ldap.Conn, base string, scope int, filter string, attrs []string, fn func(*ldap.Entry) error) error {
	return s.searchPaged(ctx, c, base, scope, filter, attrs, s.cfg.PageSize, fn)
}

func (s *LDAPSource) searchPaged(ctx context.Context, c *ldap.Conn, base string, scope int, filter string, attrs []string, pageSize int, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(pageSize))
	for {
		req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, int(s.cfg.Timeout.Seconds()), false, filter, attrs, []ldap.Control{paging})
		resp := c.SearchAsync(ctx, req, 256)
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				if err := fn(e); err != nil {
					return err
				}
			} else if ref := resp.Referral(); ref != "" {
				s.log.Debug("ldap: skipping referral", "base", base, "referral", ref)
			}
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("ldap: search %q %s: %w", base, filter, tidy(err))
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ldap: search %q: %w", base, err)
		}
		ctrl, _ := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// dropConn closes a connection that failed, so the next run redials.
func (s *LDAPSource) dropConn() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
