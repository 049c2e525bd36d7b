package api

import (
	"net/http"
	"slices"
	"strings"
)

// mountDirectory serves what audiences are made of:
//
//	GET /api/v1/directory/groups        directory groups: key, name, members
//	GET /api/v1/directory/departments   departments and how many people each has
func (a *API) mountDirectory() {
	a.route("GET "+Prefix+"directory/groups", a.handle(func(r *http.Request) (any, error) {
		res := a.resolver()
		if err := res.loadGroups(); err != nil {
			return nil, err
		}
		type group struct {
			Key     string `json:"key"`
			Name    string `json:"name"`
			Kind    string `json:"kind"`
			Members int    `json:"members"`
		}
		out := []group{}
		for _, g := range res.byKey {
			out = append(out, group{Key: g.key, Name: g.name, Kind: string(g.kind), Members: g.members})
		}
		slices.SortFunc(out, func(a, b group) int { return strings.Compare(a.Key, b.Key) })
		return out, nil
	}))
	a.route("GET "+Prefix+"directory/departments", a.handle(func(r *http.Request) (any, error) {
		ix := a.opt.Store.Index()
		type dept struct {
			Name   string `json:"name"`
			People int    `json:"people"`
		}
		out := []dept{}
		for _, d := range ix.Departments() {
			out = append(out, dept{Name: d, People: len(ix.InDepartment(d))})
		}
		return out, nil
	}))
}
