package api

import (
	"net/http"
	"slices"
	"strings"
)

// mountDirectory serves what audiences are made of:
//
//	GET /api/v1/directory/groups        groups (directory groups and departments' groups): key, name, kind, members
//	GET /api/v1/directory/departments   departments and how many people each has
func (a *API) mountDirectory() {
	a.route("GET "+Prefix+"directory/groups", a.handle(func(r *http.Request) (any, error) {
		res := a.resolver()
		if err := res.loadGroups(); err != nil {
			return nil, err
		}
		out := []GroupView{}
		for _, g := range res.byKey {
			out = append(out, GroupView{Key: g.key, Name: g.name, Kind: string(g.kind), Members: g.members})
		}
		slices.SortFunc(out, func(a, b GroupView) int { return strings.Compare(a.Key, b.Key) })
		return out, nil
	}))
	a.route("GET "+Prefix+"directory/departments", a.handle(func(r *http.Request) (any, error) {
		ix := a.opt.Store.Index()
		out := []DepartmentView{}
		for _, d := range ix.Departments() {
			out = append(out, DepartmentView{Name: d, People: len(ix.InDepartment(d))})
		}
		return out, nil
	}))
}

// GroupView is a group of the directory: a directory group (kind "group"),
// which audiences name, or a department's (kind "department").
type GroupView struct {
	Key     string `json:"key"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Members int    `json:"members"` // published people, nesting resolved
}

// DepartmentView is a department and how many people it has.
type DepartmentView struct {
	Name   string `json:"name"`
	People int    `json:"people"`
}

// Deleted answers a deletion with the id of what was deleted and, for a
// contact, the list's version after it.
type Deleted struct {
	Deleted     string `json:"deleted"`
	ListVersion uint64 `json:"list_version,omitempty"`
}
