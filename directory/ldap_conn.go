package directory

import (
	"context"
	"fmt"
	"net"

	"github.com/go-ldap/ldap/v3"
)

// dial opens a connection (TLS or StartTLS as configured) without binding.
func (s *LDAPSource) dial(ctx context.Context) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.Timeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if s.cfg.TLS != nil {
		opts = append(opts, ldap.DialWithTLSConfig(s.cfg.TLS))
	}
	c, err := ldap.DialURL(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ldap: connect %s: %w (check url, that the server runs and the network path)", s.cfg.URL, err)
	}
	c.SetTimeout(s.cfg.Timeout)
	if s.cfg.StartTLS {
		if err := c.StartTLS(s.cfg.TLS); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap: StartTLS with %s: %w (check ca_file, or the server's TLS setup)", s.cfg.URL, err)
		}
	}
	return c, ctx.Err()
}

// dialService opens a new connection bound as the service account (or
// anonymous without a bind_dn).
func (s *LDAPSource) dialService(ctx context.Context) (*ldap.Conn, error) {
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.BindDN != "" {
		if err := c.Bind(s.cfg.BindDN, s.cfg.Password); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap: bind as %q: %w (check bind_dn and the bind password)", s.cfg.BindDN, err)
		}
	}
	return c, nil
}

// service returns the bound service connection, dialling it if needed.
func (s *LDAPSource) service(ctx context.Context) (*ldap.Conn, error) {
	if s.conn != nil && !s.conn.IsClosing() {
		return s.conn, nil
	}
	c, err := s.dialService(ctx)
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
			return fmt.Errorf("ldap: search %q %s: %w", base, filter, err)
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
