package auth

import (
	"slices"
	"strings"

	"github.com/orgdav/orgdav/store"
)

// Admins decides who holds the admin role: the users the config names by
// login name and the members of the groups it names by DN (nested
// membership counts). Each name is resolved to the stable id it names and
// remembered, so renaming an admin or their group changes nothing.
type Admins struct {
	Users  []string
	Groups []string // DNs
	// GroupKey finds the key of the group a DN names now, if a source
	// knows it.
	GroupKey func(dn string) (string, bool)
	Store    *store.Store
}

// Is reports whether the account holds the admin role.
func (a *Admins) Is(it *store.Item) bool {
	if a == nil || it == nil {
		return false
	}
	for _, u := range a.Users {
		if strings.EqualFold(u, it.Username) {
			a.Store.Resolve("user", strings.ToLower(u), it.Key)
			return true
		}
		if key, ok := a.Store.Resolved("user", strings.ToLower(u)); ok && key == it.Key {
			return true // renamed since
		}
	}
	for _, dn := range a.Groups {
		key, ok := "", false
		if a.GroupKey != nil {
			if key, ok = a.GroupKey(dn); ok {
				a.Store.Resolve("group", strings.ToLower(dn), key)
			}
		}
		if !ok {
			key, ok = a.Store.Resolved("group", strings.ToLower(dn))
		}
		if ok && slices.Contains(it.Groups, key) {
			return true
		}
	}
	return false
}
