package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// ErrNoPush means this source cannot follow pushed changes; incremental
// runs then read changes by polling.
var ErrNoPush = errors.New("ldap: this server does not push changes to this source (needs OpenLDAP syncprov and id_attribute entryUUID)")

// pushed is one change the server pushed: an added or modified entry, or
// the entryUUID of an entry that was deleted or left the scope.
type pushed struct {
	entry   *ldap.Entry
	deleted string
	group   bool
}

// Watch follows the server's changes (RFC 4533 refreshAndPersist) until
// ctx ends or the stream breaks, queueing them for the next Changes and
// calling notify after each. It calls opened once the server has answered
// the stream, on the caller's goroutine (the runner relies on it). It resumes from the last read with a cookie
// made of that read's highest entryCSN, so nothing between the read and
// the watch is lost. While it runs, Changes needs no listing of the
// directory: deletions arrive as notifications.
func (s *LDAPSource) Watch(ctx context.Context, opened, notify func()) error {
	s.mu.Lock()
	read, csn := s.state != nil, s.useCSN
	var cookie string
	if read {
		cookie = "rid=000,csn=" + s.state.hwm
	}
	s.mu.Unlock()
	switch {
	case !read:
		return errors.New("ldap: no full read yet to resume changes from")
	case !csn || !strings.EqualFold(s.cfg.IDAttribute, "entryUUID"):
		return ErrNoPush
	}
	c, err := s.dialService(ctx, s.cfg.Timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(0) // a persistent search waits for changes indefinitely
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type stream struct {
		base, filter string
		scope        int
		attrs        []string
		group        bool
	}
	var streams []stream
	for _, b := range s.cfg.PeopleBases {
		streams = append(streams, stream{b, s.cfg.PeopleFilter, s.cfg.PeopleScope, s.personAttributes(), false})
	}
	for _, b := range s.cfg.GroupBases {
		streams = append(streams, stream{b, s.cfg.GroupFilter, ldap.ScopeWholeSubtree, s.groupAttributes(), true})
	}
	errc := make(chan error, len(streams))
	answered := make(chan struct{}, len(streams))
	for _, st := range streams {
		go func() {
			errc <- s.follow(ctx, c, st.base, st.scope, st.filter, st.attrs, st.group, cookie, answered, notify)
		}()
	}
	s.setPushing(true)
	defer s.setPushing(false)
	select {
	case err := <-errc:
		return err
	case <-answered:
		opened()
	}
	return <-errc
}

func (s *LDAPSource) follow(ctx context.Context, c *ldap.Conn, base string, scope int, filter string, attrs []string, group bool, cookie string, answered chan<- struct{}, notify func()) error {
	req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil)
	resp := c.Syncrepl(ctx, req, 64, ldap.SyncRequestModeRefreshAndPersist, []byte(cookie), false)
	first := true
	for resp.Next() {
		if first {
			// The end of the refresh stage at the latest (RFC 4533 3.4).
			answered <- struct{}{}
			first = false
		}
		var batch []pushed
		if e := resp.Entry(); e != nil {
			state, _ := ldap.FindControl(resp.Controls(), ldap.ControlTypeSyncState).(*ldap.ControlSyncState)
			switch {
			case state != nil && state.State == ldap.SyncStateDelete:
				batch = append(batch, pushed{deleted: state.EntryUUID.String(), group: group})
			case state == nil || state.State != ldap.SyncStatePresent:
				batch = append(batch, pushed{entry: e, group: group})
			}
		}
		for _, ctrl := range resp.Controls() {
			if info, ok := ctrl.(*ldap.ControlSyncInfo); ok && info.SyncIdSet != nil && info.SyncIdSet.RefreshDeletes {
				for _, u := range info.SyncIdSet.SyncUUIDs {
					batch = append(batch, pushed{deleted: u.String(), group: group})
				}
			}
		}
		if len(batch) > 0 {
			s.pushMu.Lock()
			s.pending = append(s.pending, batch...)
			s.pushMu.Unlock()
			notify()
		}
	}
	if err := resp.Err(); err != nil {
		if ldap.IsErrorAnyOf(err, ldap.LDAPResultUnavailableCriticalExtension, ldap.LDAPResultInsufficientAccessRights,
			ldap.LDAPResultUnwillingToPerform, ldap.LDAPResultProtocolError) {
			// No syncprov, or no right to use it: asking again will not help.
			return fmt.Errorf("%w: %v", ErrNoPush, err)
		}
		return fmt.Errorf("ldap: follow changes under %q: %w", base, tidy(err))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("ldap: the server ended the change stream under %q", base)
}

// setPushing marks the stream open or closed. Closing drops changes not
// yet applied: polling reads them anyway (the kept state has not seen
// them), and applying them after a poll could undo newer values.
func (s *LDAPSource) setPushing(on bool) {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	s.pushing = on
	if !on {
		s.pending = nil
	}
}

// Pushing reports whether a watch currently follows the server's changes.
func (s *LDAPSource) Pushing() bool {
	s.pushMu.Lock()
	defer s.pushMu.Unlock()
	return s.pushing
}

// applyPushed applies queued changes to the state; it reports whether
// anything changed and which people to re-check against the flag filters.
func (s *LDAPSource) applyPushed(st *state, pend []pushed) (changed bool, touched []string) {
	for _, p := range pend {
		switch {
		case p.deleted != "" && p.group:
			if _, ok := st.groups[p.deleted]; ok {
				st.setGroup(p.deleted, nil)
				changed = true
			}
		case p.deleted != "":
			changed = st.dropPerson(p.deleted) || changed
		case p.group:
			changed = s.updateGroup(st, p.entry) || changed
		default:
			id, ch := s.updatePerson(st, p.entry)
			changed = changed || ch
			touched = append(touched, id)
		}
	}
	return changed, touched
}
