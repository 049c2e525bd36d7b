package store

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orgdav/orgdav/directory"
)

func withEmail(p directory.Person, email string) directory.Person {
	p.Emails = []string{email}
	return p
}

func card(fn, email string) []byte {
	return []byte("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:" + fn + "\r\nEMAIL:" + email + "\r\nEND:VCARD\r\n")
}

func contact(id, fn, email string) ContactWrite {
	return ContactWrite{Contact: Contact{ID: id, Emails: []string{email}, Card: card(fn, email)}}
}

func newList(t *testing.T, s *Store, name string, a Audience) *List {
	t.Helper()
	l := &List{Name: name, State: ListEnabled, Audience: a}
	if err := s.CreateList(l); err != nil {
		t.Fatal(err)
	}
	return l
}

func groupMembers(t *testing.T, s *Store, id string) []string {
	t.Helper()
	g, err := s.ListGroupCard(id)
	if err != nil {
		t.Fatal(err)
	}
	return g.Members
}

// Contacts live in the change index beside directory cards; the list's
// group card follows its members; a contact with a directory person's
// address is that person, in the group card and nowhere else.
func TestListContactsShareTheChangeIndexAndDedupeAgainstTheDirectory(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, withEmail(person("a", "Ann", "X"), "ann@corp.example"), person("b", "Ben", "Y")))
	dirRev := s.Index().Rev
	l := newList(t, s, "Suppliers", Audience{Everyone: true})
	res, err := s.WriteContacts(l.ID, 0, []ContactWrite{contact("acme", "Acme Hotline", "help@acme.example"), contact("ann", "Ann (copy)", "ANN@corp.example")})
	if err != nil || res.Created != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	ix := s.Index()
	if ix.Rev != dirRev {
		t.Errorf("a list write moved the directory's revision: %d -> %d", dirRev, ix.Rev)
	}
	lst := ix.Lists[l.ID]
	if lst.Rev <= dirRev || lst.Version != 2 {
		t.Errorf("list after the write: %+v", lst)
	}
	acme, _ := ix.Lookup(ListCardName(l.ID, "acme"))
	ann, _ := ix.Lookup(ListCardName(l.ID, "ann"))
	annDir := directory.CardUID(directory.PersonKey("src", "a"))
	if acme.Dup != "" || ann.Dup != annDir {
		t.Errorf("dups: acme %q, ann %q (want %q)", acme.Dup, ann.Dup, annDir)
	}
	if got, want := groupMembers(t, s, l.ID), []string{annDir, acme.Name}; !slices.Equal(got, want) && !slices.Equal(got, []string{acme.Name, annDir}) {
		t.Errorf("group members %v, want %v", got, want)
	}
	// Re-importing the same contacts changes nothing.
	res, _ = s.WriteContacts(l.ID, 0, []ContactWrite{contact("acme", "Acme Hotline", "help@acme.example")})
	if res.Unchanged != 1 || s.Index().Lists[l.ID].Rev != lst.Rev {
		t.Errorf("an unchanged write: %+v", res)
	}
	// Ann's address changes in the directory: the copy becomes a card of
	// its own again, with a new revision, and the group card follows.
	before := s.Index().Lists[l.ID].Rev
	s.Apply(publish(t, withEmail(person("a", "Ann", "X"), "ann.new@corp.example"), person("b", "Ben", "Y")))
	ix = s.Index()
	ann, _ = ix.Lookup(ListCardName(l.ID, "ann"))
	if ann.Dup != "" || ann.Rev <= before || ix.Lists[l.ID].Rev < ann.Rev {
		t.Errorf("after the address change: ann %+v, list rev %d", ann, ix.Lists[l.ID].Rev)
	}
	if got := groupMembers(t, s, l.ID); !slices.Contains(got, ann.Name) || slices.Contains(got, annDir) {
		t.Errorf("group members %v", got)
	}
	// Deleting the list leaves tombstones naming it.
	if err := s.DeleteList(l.ID, 0); err != nil {
		t.Fatal(err)
	}
	var gone []string
	for _, c := range changes(t, s, before) {
		if id, ok := ListOf(c.Name); ok && id == l.ID && c.Deleted {
			gone = append(gone, c.Name)
		}
	}
	if len(gone) != 3 || s.Index().Contacts != 0 {
		t.Errorf("deleting the list left %v, %d contacts", gone, s.Index().Contacts)
	}
}

func TestListsSurviveARestartWithTheirState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, Options{})
	s.Apply(publish(t, withEmail(person("a", "Ann", "X"), "ann@corp.example")))
	l := newList(t, s, "Front desk", Audience{Members: Members{Departments: []string{"X"}}})
	s.WriteContacts(l.ID, 0, []ContactWrite{contact("desk", "Front desk", "desk@corp.example"), contact("ann", "Ann", "ann@corp.example")})
	before := s.Index()
	s.Close()
	s = open(t, path, Options{})
	defer s.Close()
	ix := s.Index()
	if ix.Contacts != 2 || ix.Lists[l.ID] == nil || ix.Lists[l.ID].Rev != before.Lists[l.ID].Rev {
		t.Fatalf("after restart: %d contacts, list %+v", ix.Contacts, ix.Lists[l.ID])
	}
	for _, name := range []string{ListCardName(l.ID, "desk"), ListCardName(l.ID, "ann"), l.ID} {
		a, _ := before.Lookup(name)
		b, ok := ix.Lookup(name)
		if !ok || a.Rev != b.Rev || a.Dup != b.Dup || a.Tag != b.Tag {
			t.Errorf("%s: %+v became %+v", name, a, b)
		}
	}
	c, err := s.Contact(l.ID, "desk")
	if err != nil || string(c.Card) != string(card("Front desk", "desk@corp.example")) {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestAudiencesAdmitAndExclude(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, person("a", "Ann", "Sales"), person("b", "Ben", "Sales"), person("c", "Cid", "Ops")))
	key := func(id string) string { return directory.PersonKey("src", id) }
	all := newList(t, s, "All", Audience{Everyone: true, Except: Members{Users: []string{key("b")}}})
	sales := newList(t, s, "Sales", Audience{Members: Members{Departments: []string{"Sales"}}})
	cid := newList(t, s, "Cid's", Audience{Members: Members{Users: []string{key("c")}}})
	draft := &List{Name: "Draft", State: ListDraft, Audience: Audience{Everyone: true}, Editors: Members{Users: []string{key("a")}}}
	s.CreateList(draft)
	edited := &List{Name: "Edited", State: ListEnabled, Audience: Audience{Everyone: true}, Editors: Members{Users: []string{key("a")}}}
	s.CreateList(edited)
	ix := s.Index()
	for _, c := range []struct {
		user         string
		lists, edits []string
	}{
		{"a", []string{all.ID, sales.ID}, []string{draft.ID, edited.ID}},
		{"b", []string{sales.ID, edited.ID}, nil},
		{"c", []string{all.ID, cid.ID, edited.ID}, nil},
	} {
		it, _ := ix.User(c.user)
		lists, edits := ix.ListsFor(it)
		want := slices.Sorted(slices.Values(c.lists))
		if !slices.Equal(lists, want) || !slices.Equal(edits, slices.Sorted(slices.Values(c.edits))) {
			t.Errorf("%s: lists %v edits %v, want %v %v", c.user, lists, edits, want, c.edits)
		}
	}
	// Disabled: nobody receives it, nobody edits it.
	s.UpdateList(edited.ID, 0, func(l *List) error { l.State = ListDisabled; return nil })
	it, _ := s.Index().User("a")
	if lists, edits := s.Index().ListsFor(it); slices.Contains(lists, edited.ID) || slices.Contains(edits, edited.ID) {
		t.Errorf("a disabled list reaches a: %v %v", lists, edits)
	}
}

func TestListWritesCheckVersionsAndNames(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	l := newList(t, s, "Suppliers", Audience{Everyone: true})
	if err := s.CreateList(&List{Name: "suppliers"}); !errors.Is(err, ErrNameTaken) {
		t.Errorf("a clashing name: %v", err)
	}
	if _, err := s.WriteContacts(l.ID, l.Version+5, []ContactWrite{contact("x", "X", "x@x.example")}); !errors.Is(err, ErrPrecondition) {
		t.Errorf("a stale version: %v", err)
	}
	if _, err := s.WriteContacts("nope", 0, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown list: %v", err)
	}
	if _, err := s.WriteContacts(l.ID, 0, []ContactWrite{contact("x", "X", "x@x.example"), {Contact: Contact{ID: "missing"}, Delete: true}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting an unknown contact: %v", err)
	}
	if s.Index().Contacts != 0 {
		t.Error("a failed write stored part of its contacts")
	}
}

// A live list's group card names the people of its department as the
// directory runs leave them; contact writes to it are refused.
func TestLiveListsFollowTheDirectory(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, person("a", "Ann", "Sales"), person("b", "Ben", "Ops")))
	l := &List{Name: "Sales team", State: ListEnabled, Audience: Audience{Everyone: true}, Live: &Live{Department: "Sales"}}
	if err := s.CreateList(l); err != nil {
		t.Fatal(err)
	}
	name := func(id string) string { return directory.CardUID(directory.PersonKey("src", id)) }
	if got := groupMembers(t, s, l.ID); !slices.Equal(got, []string{name("a")}) {
		t.Fatalf("members %v", got)
	}
	rev := s.Index().Lists[l.ID].Rev
	s.Apply(publish(t, person("a", "Ann", "Sales"), person("b", "Ben", "Sales")))
	got := groupMembers(t, s, l.ID)
	want := []string{name("a"), name("b")}
	slices.Sort(want)
	if !slices.Equal(got, want) || s.Index().Lists[l.ID].Rev <= rev {
		t.Errorf("after Ben joined Sales: members %v, list rev %d -> %d", got, rev, s.Index().Lists[l.ID].Rev)
	}
	if _, err := s.WriteContacts(l.ID, 0, []ContactWrite{contact("x", "X", "x@x.example")}); !errors.Is(err, ErrLiveList) {
		t.Errorf("a contact write to a live list: %v", err)
	}
}

// A change of a list's settings alone (its group card stays the same) is
// written, not only kept in memory: it survives a restart.
func TestListSettingsOnlyChangesSurviveARestart(t *testing.T) {
	key := directory.PersonKey("src", "a")
	for _, c := range []struct {
		name   string
		change func(*List)
	}{
		{"state", func(l *List) { l.State = ListDisabled }},
		{"description", func(l *List) { l.Description = "x" }},
		{"state and description", func(l *List) { l.State, l.Description = ListDisabled, "x" }},
		{"audience", func(l *List) { l.Audience = Audience{Members: Members{Users: []string{key}}} }},
		{"editors", func(l *List) { l.Editors = Members{Users: []string{key}} }},
		{"name", func(l *List) { l.Name = "Renamed" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			s := open(t, path, Options{})
			s.Apply(publish(t, person("a", "Ann", "X")))
			l := newList(t, s, "Suppliers", Audience{Everyone: true})
			s.WriteContacts(l.ID, 0, []ContactWrite{contact("acme", "Acme Hotline", "help@acme.example")})
			if _, err := s.UpdateList(l.ID, 0, func(l *List) error { c.change(l); return nil }); err != nil {
				t.Fatal(err)
			}
			want := s.Index().Lists[l.ID]
			it, _ := s.Index().User("a")
			wantLists, wantEdits := s.Index().ListsFor(it)
			s.Close()
			s = open(t, path, Options{})
			defer s.Close()
			got := s.Index().Lists[l.ID]
			if got == nil {
				t.Fatal("the list is gone after a restart")
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("after a restart:\n got %s\nwant %s", g, w)
			}
			it, _ = s.Index().User("a")
			if lists, edits := s.Index().ListsFor(it); !slices.Equal(lists, wantLists) || !slices.Equal(edits, wantEdits) {
				t.Errorf("a receives %v, edits %v after a restart; before: %v, %v", lists, edits, wantLists, wantEdits)
			}
		})
	}
}

// A reconcile that finds the shared lists up to date writes nothing: no
// commit, so no sync to disk (every start and every directory run
// reconciles).
func TestReconcileWithNothingToChangeDoesNotCommit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, withEmail(person("a", "Ann", "X"), "ann@corp.example")))
	l := newList(t, s, "Suppliers", Audience{Everyone: true})
	s.WriteContacts(l.ID, 0, []ContactWrite{contact("ann", "Ann (copy)", "ann@corp.example")})
	ix := s.Index()
	var contacts []*Item
	for i := range ix.ListCards(l.ID) {
		contacts = append(contacts, &ix.ListCards(l.ID)[i])
	}
	written := func() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
	writes := written()
	next, err := s.reconcile(ix, contacts, []string{l.ID})
	if err != nil || next != ix {
		t.Fatalf("reconcile: %v, a new index: %v", err, next != ix)
	}
	if n := written() - writes; n != 0 {
		t.Errorf("an up-to-date reconcile wrote %d times", n)
	}
}
