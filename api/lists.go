package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/orgdav/orgdav/store"
)

// maxJSON caps a JSON request body.
const maxJSON = 1 << 20

// mountLists serves the shared contact lists:
//
//	GET    /api/v1/lists                 every list
//	POST   /api/v1/lists                 create one
//	GET    /api/v1/lists/{id}            one list (ETag: its version)
//	PATCH  /api/v1/lists/{id}            change it (If-Match)
//	DELETE /api/v1/lists/{id}            delete it and its contacts (If-Match)
//	GET    /api/v1/lists/{id}/members    who receives and who edits it now
func (a *API) mountLists() {
	a.route("GET "+Prefix+"lists", a.handle(func(r *http.Request) (any, error) {
		ix := a.opt.Store.Index()
		res := a.resolver()
		out := []ListView{}
		for _, l := range sortedLists(ix) {
			out = append(out, res.view(l, nil))
		}
		return out, nil
	}))
	a.route("POST "+Prefix+"lists", a.handleStatus(http.StatusCreated, func(w http.ResponseWriter, r *http.Request) (any, error) {
		var body ListBody
		if err := decodeJSON(r, &body); err != nil {
			return nil, err
		}
		if body.Name == nil {
			return nil, badField("name", "required")
		}
		l := &store.List{State: store.ListDraft}
		res := a.resolver()
		if err := res.applyListBody(l, &body); err != nil {
			return nil, err
		}
		if err := a.opt.Store.CreateList(l); err != nil {
			return nil, listError(err)
		}
		a.audit(r, store.AuditEntry{Action: "create list", Target: listTarget(l), Note: string(l.State)})
		w.Header().Set("ETag", versionTag(l.Version))
		w.Header().Set("Location", Prefix+"lists/"+l.ID)
		n := a.receivers(l.ID)
		return res.renew().view(l, &n), nil
	}))
	a.route("GET "+Prefix+"lists/{id}", a.handleW(func(w http.ResponseWriter, r *http.Request) (any, error) {
		l, err := a.list(r)
		if err != nil {
			return nil, err
		}
		w.Header().Set("ETag", versionTag(l.Version))
		n := a.receivers(l.ID)
		return a.resolver().view(l, &n), nil
	}))
	a.route("PATCH "+Prefix+"lists/{id}", a.handleW(func(w http.ResponseWriter, r *http.Request) (any, error) {
		l, version, err := a.listToChange(r)
		if err != nil {
			return nil, err
		}
		var body ListBody
		if err := decodeJSON(r, &body); err != nil {
			return nil, err
		}
		before := a.receivers(l.ID)
		var res *resolver // over the index the change is made to
		updated, err := a.opt.Store.UpdateList(l.ID, version, func(n *store.List) error {
			res = a.resolver()
			return res.applyListBody(n, &body)
		})
		if err != nil {
			return nil, listError(err)
		}
		after := a.receivers(l.ID)
		a.audit(r, store.AuditEntry{Action: "change list", Target: listTarget(updated), Before: before, After: after,
			Note: "receivers before and after; " + body.changed()})
		w.Header().Set("ETag", versionTag(updated.Version))
		return res.renew().view(updated, &after), nil
	}))
	a.route("DELETE "+Prefix+"lists/{id}", a.handle(func(r *http.Request) (any, error) {
		l, version, err := a.listToChange(r)
		if err != nil {
			return nil, err
		}
		contacts := len(a.opt.Store.Index().ListCards(l.ID))
		if err := a.opt.Store.DeleteList(l.ID, version); err != nil {
			return nil, listError(err)
		}
		a.audit(r, store.AuditEntry{Action: "delete list", Target: listTarget(l), Before: contacts, After: 0, Note: "contacts before and after"})
		return Deleted{Deleted: l.ID}, nil
	}))
	a.route("GET "+Prefix+"lists/{id}/members", a.handle(func(r *http.Request) (any, error) {
		l, err := a.list(r)
		if err != nil {
			return nil, err
		}
		out := MembersView{Receivers: []PersonRef{}, Editors: []PersonRef{}}
		a.reach(l.ID, func(it *store.Item, receives, edits bool) {
			ref := PersonRef{Username: it.Username, Key: it.Key}
			if receives {
				out.Receivers = append(out.Receivers, ref)
			}
			if edits {
				out.Editors = append(out.Editors, ref)
			}
		})
		return out, nil
	}))
}

// list finds the list a route's {id} names.
func (a *API) list(r *http.Request) (*store.List, error) {
	l, ok := a.opt.Store.List(r.PathValue("id"))
	if !ok {
		return nil, &Error{Status: http.StatusNotFound, Field: "id", Message: "no shared list " + strconv.Quote(r.PathValue("id"))}
	}
	return l, nil
}

// listToChange finds the list a route's {id} names and the version
// If-Match says the change is for (0: any).
func (a *API) listToChange(r *http.Request) (*store.List, uint64, error) {
	l, err := a.list(r)
	if err != nil {
		return nil, 0, err
	}
	version, err := ifMatchVersion(r)
	return l, version, err
}

// reach calls fn for every person, in index order, with whether they
// receive and whether they edit list id now.
func (a *API) reach(id string, fn func(it *store.Item, receives, edits bool)) {
	ix := a.opt.Store.Index()
	for i := range ix.Items {
		if it := &ix.Items[i]; it.Kind == store.KindPerson {
			lists, edits := ix.ListsFor(it)
			fn(it, slices.Contains(lists, id), slices.Contains(edits, id))
		}
	}
}

// receivers counts the people who receive a list now.
func (a *API) receivers(id string) int {
	n := 0
	a.reach(id, func(_ *store.Item, receives, _ bool) {
		if receives {
			n++
		}
	})
	return n
}

func listTarget(l *store.List) string { return "list " + l.ID + " " + strconv.Quote(l.Name) }

func versionTag(v uint64) string { return `"` + strconv.FormatUint(v, 10) + `"` }

// ifMatchVersion reads If-Match as a list version; none means any.
func ifMatchVersion(r *http.Request) (uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	v, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || v == 0 {
		return 0, badField("If-Match", "want the list's ETag, a quoted version such as \"3\"")
	}
	return v, nil
}

// listError maps the store's refusals of a list change.
func listError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: err.Error()}
	case errors.Is(err, store.ErrPrecondition):
		return &Error{Status: http.StatusPreconditionFailed, Field: "If-Match", Message: "the list changed since you read it: read it again and retry"}
	case errors.Is(err, store.ErrNameTaken):
		return &Error{Status: http.StatusConflict, Field: "name", Message: err.Error()}
	case errors.Is(err, store.ErrLiveList):
		return &Error{Status: http.StatusConflict, Field: "live", Message: err.Error()}
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// ListBody is a list as the API takes it; absent fields stay as they are.
type ListBody struct {
	Name        *string       `json:"name"`
	Description *string       `json:"description"`
	State       *string       `json:"state"`
	Audience    *AudienceBody `json:"audience"`
	Editors     *MembersBody  `json:"editors"`
	// Live makes the list's members a directory group or department; an
	// empty object makes it a list of its own contacts again.
	Live *LiveBody `json:"live"`
}

// AudienceBody is who receives a list: everyone, managers, or the users,
// groups and departments named, except those in except.
type AudienceBody struct {
	Everyone bool `json:"everyone,omitempty"`
	Managers bool `json:"managers,omitempty"`
	MembersBody
	Except *MembersBody `json:"except,omitempty"`
}

// MembersBody names people: users by login name (shown so), groups by DN,
// key or name (shown by key, their names in group_names), departments by
// name.
type MembersBody struct {
	Users       []string `json:"users,omitempty"`
	Groups      []string `json:"groups,omitempty"`
	Departments []string `json:"departments,omitempty"`
}

// LiveBody makes a list's members a directory group or department.
type LiveBody struct {
	Group      string `json:"group,omitempty"`
	Department string `json:"department,omitempty"`
}

// changed names the fields a body changes, for the audit log.
func (b *ListBody) changed() string {
	var f []string
	for name, set := range map[string]bool{"name": b.Name != nil, "description": b.Description != nil, "state": b.State != nil,
		"audience": b.Audience != nil, "editors": b.Editors != nil, "live": b.Live != nil} {
		if set {
			f = append(f, name)
		}
	}
	slices.Sort(f)
	return "changed " + strings.Join(f, ", ")
}

// applyListBody checks a body and applies it to l, resolving its names.
func (r *resolver) applyListBody(l *store.List, b *ListBody) error {
	if b.Name != nil {
		name := strings.TrimSpace(*b.Name)
		if err := checkText("name", name, 1, 200); err != nil {
			return err
		}
		l.Name = name
	}
	if b.Description != nil {
		if err := checkText("description", *b.Description, 0, 2000); err != nil {
			return err
		}
		l.Description = *b.Description
	}
	if b.State != nil {
		switch s := store.ListState(*b.State); s {
		case store.ListEnabled, store.ListDraft, store.ListDisabled:
			l.State = s
		default:
			return badField("state", "want enabled, draft or disabled")
		}
	}
	if b.Audience != nil {
		in, err := r.members("audience", &b.Audience.MembersBody, true)
		if err != nil {
			return err
		}
		except := b.Audience.Except
		if except == nil {
			except = &MembersBody{}
		}
		ex, err := r.members("audience.except", except, true)
		if err != nil {
			return err
		}
		l.Audience = store.Audience{Everyone: b.Audience.Everyone, Managers: b.Audience.Managers, Members: in, Except: ex}
	}
	if b.Editors != nil {
		ed, err := r.members("editors", b.Editors, false)
		if err != nil {
			return err
		}
		l.Editors = ed
	}
	if b.Live != nil {
		switch {
		case b.Live.Group != "" && b.Live.Department != "":
			return badField("live", "a group or a department, not both")
		case b.Live.Group != "":
			key, err := r.group("live.group", b.Live.Group)
			if err != nil {
				return err
			}
			l.Live = &store.Live{Group: key}
		case b.Live.Department != "":
			d, err := r.department("live.department", b.Live.Department)
			if err != nil {
				return err
			}
			l.Live = &store.Live{Department: d}
		default:
			l.Live = nil
		}
	}
	if l.Live != nil && (len(l.Editors.Users) > 0 || len(l.Editors.Groups) > 0) {
		return badField("editors", "a live list's members come from the directory: it has no editors")
	}
	return nil
}

func checkText(field, s string, least, most int) error {
	switch {
	case !utf8.ValidString(s):
		return badField(field, "not valid UTF-8")
	case utf8.RuneCountInString(s) < least:
		return badField(field, "required")
	case utf8.RuneCountInString(s) > most:
		return badField(field, "longer than %d characters", most)
	}
	for _, c := range s {
		if unicode.IsControl(c) && c != '\n' && c != '\t' {
			return badField(field, "holds a control character")
		}
	}
	return nil
}

// ListView is a list as the API shows it: audiences and editors by the
// names people know, with the ids they are kept by.
type ListView struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	State       string       `json:"state"`
	Audience    AudienceBody `json:"audience"`
	Editors     MembersBody  `json:"editors"`
	Live        *LiveBody    `json:"live,omitempty"`
	Contacts    int          `json:"contacts"`
	Receivers   *int         `json:"receivers,omitempty"`
	Version     uint64       `json:"version"`
	Created     time.Time    `json:"created"`
	Updated     time.Time    `json:"updated"`
	Groups      []GroupName  `json:"group_names,omitempty"`
}

// GroupName names a group a list's audience, editors or live members
// refer to by key.
type GroupName struct {
	Key  string `json:"key"`
	Name string `json:"name"`
}

// MembersView is who receives a list and who edits it now.
type MembersView struct {
	Receivers []PersonRef `json:"receivers"`
	Editors   []PersonRef `json:"editors"`
}

// PersonRef is a person by login name and key.
type PersonRef struct {
	Username string `json:"username"`
	Key      string `json:"key"`
}

// view shows a list; receivers, when counted, is how many receive it.
func (r *resolver) view(l *store.List, receivers *int) ListView {
	v := ListView{ID: l.ID, Name: l.Name, Description: l.Description, State: string(l.State), Version: l.Version,
		Created: l.Created, Updated: l.Updated, Contacts: len(r.ix.ListCards(l.ID))}
	groups := map[string]bool{}
	mv := func(m store.Members) MembersBody {
		out := MembersBody{Departments: m.Departments}
		for _, k := range m.Users {
			out.Users = append(out.Users, r.userName(k))
		}
		for _, g := range m.Groups {
			out.Groups = append(out.Groups, g)
			groups[g] = true
		}
		return out
	}
	v.Audience = AudienceBody{Everyone: l.Audience.Everyone, Managers: l.Audience.Managers, MembersBody: mv(l.Audience.Members)}
	if !l.Audience.Except.Empty() {
		ex := mv(l.Audience.Except)
		v.Audience.Except = &ex
	}
	v.Editors = mv(l.Editors)
	if l.Live != nil {
		v.Live = &LiveBody{Group: l.Live.Group, Department: l.Live.Department}
		if l.Live.Group != "" {
			groups[l.Live.Group] = true
		}
	}
	if len(groups) > 0 && r.loadGroups() == nil {
		for g := range groups {
			v.Groups = append(v.Groups, GroupName{Key: g, Name: r.byKey[g].name})
		}
		slices.SortFunc(v.Groups, func(a, b GroupName) int { return strings.Compare(a.Key, b.Key) })
	}
	v.Receivers = receivers
	return v
}

// decodeJSON reads a JSON body of at most maxJSON bytes into v, refusing
// unknown fields; errors name the field at fault.
func decodeJSON(r *http.Request, v any) error {
	if r.Body == nil {
		return badField("body", "empty: send a JSON object")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxJSON+1))
	if err != nil {
		return badField("body", "reading it failed: %v", err)
	}
	if len(data) > maxJSON {
		return &Error{Status: http.StatusRequestEntityTooLarge, Field: "body", Message: fmt.Sprintf("larger than %d bytes", maxJSON)}
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "body"
			}
			return badField(field, "want %s, not %s", jsonKind(te.Type), te.Value)
		case errors.As(err, &se):
			return badField("body", "not JSON at byte %d: %v", se.Offset, se)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.TrimPrefix(err.Error(), "json: unknown field ")
			if field := strings.Trim(name, `"`); field != "" {
				return badField(field, "unknown field")
			}
			return badField("body", "unknown field %s", name)
		case errors.Is(err, io.EOF):
			return badField("body", "empty: send a JSON object")
		}
		return badField("body", "%v", err)
	}
	if dec.More() {
		return badField("body", "more than one JSON value")
	}
	return nil
}

// sortedLists returns every list, by name.
func sortedLists(ix *store.Index) []*store.List {
	out := make([]*store.List, 0, len(ix.Lists))
	for _, l := range ix.Lists {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *store.List) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// jsonKind names what JSON a Go type is read from, for error messages.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return "a number"
}
