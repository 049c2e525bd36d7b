package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// Audiences and editors are given by the names people know (a login name,
// a group's DN or name, a department) and stored by stable id (the
// person's and the group's key), so renames change nothing.

const maxMembers = 1000 // names in one audience or editor field

// resolver turns names into stable ids against one snapshot of the
// directory; group names are read once, when first needed.
type resolver struct {
	a      *API
	ix     *store.Index
	groups map[string][]groupInfo // by folded name
	byKey  map[string]groupInfo
}

type groupInfo struct {
	key, name string
	kind      directory.GroupKind
	members   int
}

func (a *API) resolver() *resolver { return &resolver{a: a, ix: a.opt.Store.Index()} }

// renew is r over the index as it is now, after a change of a list, with
// the group names r has read: a list's change changes no directory group.
func (r *resolver) renew() *resolver {
	return &resolver{a: r.a, ix: r.a.opt.Store.Index(), groups: r.groups, byKey: r.byKey}
}

func (r *resolver) loadGroups() error {
	if r.byKey != nil {
		return nil
	}
	r.groups, r.byKey = map[string][]groupInfo{}, map[string]groupInfo{}
	for i := range r.ix.Items {
		it := &r.ix.Items[i]
		if it.Kind != store.KindGroup {
			continue
		}
		g, err := r.a.opt.Store.Group(it.Name)
		if err != nil {
			return err
		}
		gi := groupInfo{key: g.Key, name: g.Name, kind: g.Kind, members: len(g.Members)}
		r.byKey[g.Key] = gi
		f := strings.ToLower(g.Name)
		r.groups[f] = append(r.groups[f], gi)
	}
	return nil
}

func badField(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// user resolves a login name or a person's key.
func (r *resolver) user(field, s string) (string, error) {
	if it, ok := r.ix.User(s); ok {
		return it.Key, nil
	}
	if it, ok := r.ix.Lookup(directory.CardUID(s)); ok && it.Kind == store.KindPerson {
		return it.Key, nil
	}
	return "", badField(field, "no directory user %q", s)
}

// group resolves a group's DN, key or name to its key; departments are
// named as departments, not groups.
func (r *resolver) group(field, s string) (string, error) {
	if err := r.loadGroups(); err != nil {
		return "", err
	}
	if g, ok := r.byKey[s]; ok && g.kind == directory.KindGroup {
		return s, nil
	}
	if strings.Contains(s, "=") && r.a.opt.GroupKey != nil {
		if key, ok := r.a.opt.GroupKey(s); ok {
			if _, published := r.byKey[key]; published {
				return key, nil
			}
			return "", badField(field, "group %q has no published members", s)
		}
		return "", badField(field, "no directory group with the DN %q", s)
	}
	var found []groupInfo
	for _, g := range r.groups[strings.ToLower(s)] {
		if g.kind == directory.KindGroup {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 1:
		return found[0].key, nil
	case 0:
		return "", badField(field, "no directory group %q (give its DN, key or name; departments go in departments)", s)
	}
	return "", badField(field, "%d groups are named %q: give its DN or key", len(found), s)
}

// department resolves a department's name, matched without regard to case.
func (r *resolver) department(field, s string) (string, error) {
	for _, d := range r.ix.Departments() {
		if strings.EqualFold(d, s) {
			return d, nil
		}
	}
	return "", badField(field, "no department %q", s)
}

func (r *resolver) all(field string, in []string, fn func(field, s string) (string, error)) ([]string, error) {
	if len(in) > maxMembers {
		return nil, badField(field, "more than %d entries", maxMembers)
	}
	var out []string
	for i, s := range in {
		id, err := fn(fmt.Sprintf("%s[%d]", field, i), strings.TrimSpace(s))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// members resolves a members body; departments only where allowed.
func (r *resolver) members(field string, m *MembersBody, departments bool) (store.Members, error) {
	var out store.Members
	var err error
	if out.Users, err = r.all(field+".users", m.Users, r.user); err != nil {
		return out, err
	}
	if out.Groups, err = r.all(field+".groups", m.Groups, r.group); err != nil {
		return out, err
	}
	if len(m.Departments) > 0 && !departments {
		return out, badField(field+".departments", "not allowed here: name users or groups")
	}
	out.Departments, err = r.all(field+".departments", m.Departments, r.department)
	return out, err
}

// userName shows a person's key as their current login name, or the key
// when they have left the directory.
func (r *resolver) userName(key string) string {
	if it, ok := r.ix.Account(directory.CardUID(key)); ok && it.Username != "" {
		return it.Username
	}
	return key
}
