package directory

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func journalState() *state {
	a := &rawPerson{Person: Person{ID: "a", Username: "ann", DisplayName: "Ann"}, dn: "uid=ann,ou=p", managerDN: "uid=bob,ou=p"}
	b := &rawPerson{Person: Person{ID: "b", Username: "bob", DisplayName: "Bob"}, dn: "uid=bob,ou=p"}
	return &state{
		people: map[string]*rawPerson{"a": a, "b": b},
		groups: map[string]*rawGroup{"g": {g: Group{ID: "g", Name: "G"}, dn: "cn=g", members: []string{"uid=ann,ou=p", "uid=dee,ou=p"}}},
		idByDN: map[string]string{"uid=ann,ou=p": "a", "uid=bob,ou=p": "b"},
		skips:  map[string]string{"uid=bad,ou=p": "no id"},
		hwm:    "100",
	}
}

func TestJournalRollbackRestoresTheState(t *testing.T) {
	st := journalState()
	people, groups, dns, skips := maps.Clone(st.people), maps.Clone(st.groups), maps.Clone(st.idByDN), maps.Clone(st.skips)
	st.begin()
	st.setPerson("a", &rawPerson{Person: Person{ID: "a", DisplayName: "Ann Changed"}, dn: "uid=ann,ou=p"})
	st.setPerson("c", &rawPerson{Person: Person{ID: "c"}, dn: "uid=cy,ou=p"})
	st.setDN("uid=cy,ou=p", "c")
	st.setPerson("b", nil)
	st.setDN("uid=bob,ou=p", "")
	st.setGroup("g", nil)
	st.setGroup("h", &rawGroup{g: Group{ID: "h"}})
	st.setSkip("uid=bad,ou=p", "")
	st.setSkip("uid=worse,ou=p", "no name")
	st.see("200")
	st.inChain = map[string]map[string]bool{"cn=x": {"a": true}}
	st.rollback()
	if !reflect.DeepEqual(st.people, people) || !reflect.DeepEqual(st.groups, groups) || !reflect.DeepEqual(st.idByDN, dns) ||
		!reflect.DeepEqual(st.skips, skips) || st.hwm != "100" || st.inChain != nil || st.log != nil {
		t.Fatalf("rollback left %+v", st)
	}
}

func TestDeltaHoldsWhatItCanCarry(t *testing.T) {
	const whole = -1 // no delta: a whole snapshot is needed
	cases := []struct {
		name             string
		edit             func(st *state)
		changed, removed int
		check            func(d *Delta) bool
	}{
		{"title edit", func(st *state) {
			p := *st.people["a"]
			p.Title = "Boss"
			st.setPerson("a", &p)
		}, 1, 0, nil},
		{"same entry read again", func(st *state) {
			p := *st.people["a"]
			st.setPerson("a", &p)
		}, 0, 0, nil},
		{"manager edit", func(st *state) {
			p := *st.people["b"]
			p.managerDN = "uid=ann,ou=p"
			st.setPerson("b", &p)
		}, 1, 0, func(d *Delta) bool { return d.Changed[0].Old.ManagerID == "" && d.Changed[0].New.ManagerID == "a" }},
		{"rename changes the DN", func(st *state) {
			p := *st.people["a"]
			p.dn = "uid=anne,ou=p"
			st.setPerson("a", &p)
		}, whole, 0, nil},
		{"login name edit", func(st *state) {
			p := *st.people["a"]
			p.Username = "anne"
			st.setPerson("a", &p)
		}, whole, 0, nil},
		{"joiner", func(st *state) {
			st.setPerson("c", &rawPerson{Person: Person{ID: "c", Username: "cy"}, dn: "uid=cy,ou=p"})
			st.setDN("uid=cy,ou=p", "c")
		}, 1, 0, func(d *Delta) bool { return d.Changed[0].Old.ID == "" && d.Changed[0].New.ID == "c" }},
		{"joiner a group already names", func(st *state) {
			st.setPerson("d", &rawPerson{Person: Person{ID: "d"}, dn: "uid=dee,ou=p"})
			st.setDN("uid=dee,ou=p", "d")
		}, whole, 0, nil},
		{"joiner whose DN people name as manager", func(st *state) {
			p := *st.people["b"]
			p.managerDN = "uid=cy,ou=p" // dangling until cy joins; set before the journal opens
			st.people["b"] = &p
			st.begin()
			st.setPerson("c", &rawPerson{Person: Person{ID: "c"}, dn: "uid=cy,ou=p"})
			st.setDN("uid=cy,ou=p", "c")
		}, 2, 0, func(d *Delta) bool {
			for _, c := range d.Changed {
				if c.New.ID == "b" && (c.Old.ManagerID != "" || c.New.ManagerID != "c") {
					return false
				}
			}
			return true
		}},
		{"manager leaves", func(st *state) {
			st.setPerson("b", nil)
			st.setDN("uid=bob,ou=p", "")
		}, 1, 1, func(d *Delta) bool {
			c := d.Changed[0]
			return d.Removed[0].ID == "b" && c.New.ID == "a" && c.Old.ManagerID == "b" && c.New.ManagerID == ""
		}},
		{"group edit", func(st *state) { st.setGroup("g", &rawGroup{g: Group{ID: "g", Name: "Renamed"}, dn: "cn=g"}) }, whole, 0, nil},
		{"group read again", func(st *state) {
			g := *st.groups["g"]
			st.setGroup("g", &g)
		}, 0, 0, nil},
		{"entry left out", func(st *state) { st.setSkip("uid=x,ou=p", "no id") }, whole, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &LDAPSource{cfg: LDAPConfig{Name: "corp"}, state: journalState()}
			s.state.begin()
			c.edit(s.state)
			d := s.delta(s.state.commit())
			switch {
			case c.changed == whole && d != nil:
				t.Fatalf("got delta %+v, want a whole snapshot", d)
			case c.changed != whole && (d == nil || len(d.Changed) != c.changed || len(d.Removed) != c.removed):
				t.Fatalf("got delta %+v, want %d changed and %d removed", d, c.changed, c.removed)
			case c.check != nil && !c.check(d):
				t.Fatalf("delta %+v", d)
			}
		})
	}
}

func TestADRenameKeepsMembershipAndManagers(t *testing.T) {
	s := &LDAPSource{cfg: LDAPConfig{Name: "ad", Kind: KindAD}, state: journalState()}
	st := s.state
	st.begin()
	for _, r := range []struct{ id, dn string }{{"a", "uid=anne,ou=p"}, {"b", "uid=robert,ou=q"}} {
		p := *st.people[r.id]
		old := p.dn
		p.dn = r.dn
		st.setDN(old, "")
		st.setPerson(r.id, &p)
		st.setDN(r.dn, r.id)
		s.followRename(st, old, r.dn)
	}
	if g := st.groups["g"]; !slices.Contains(g.members, "uid=anne,ou=p") || slices.Contains(g.members, "uid=ann,ou=p") {
		t.Fatalf("group members after the rename: %v", g.members)
	}
	if m := st.people["a"].managerDN; m != "uid=robert,ou=q" {
		t.Fatalf("ann's manager DN after her manager's rename: %q", m)
	}
	d := s.delta(st.commit())
	if d == nil || len(d.Changed)+len(d.Removed) != 0 {
		t.Fatalf("renames publish nothing new: got %+v", d)
	}
}

// TestSimpleDNsNormaliseAsParsed checks normDN's shortcut against parsing,
// on DNs built from the characters that make the difference.
func TestSimpleDNsNormaliseAsParsed(t *testing.T) {
	parsed := func(dn string) string {
		d, err := ldap.ParseDN(dn)
		if err != nil || d == nil {
			return strings.ToLower(strings.TrimSpace(dn))
		}
		return strings.ToLower(d.String())
	}
	fixed := []string{"uid=user00001,ou=Engineering,ou=people,dc=example,dc=org", "CN=John Smith,OU=Staff,DC=corp,DC=example",
		"cn=a=b,dc=x", "cn=,dc=x", "=x", "", "cn=John, OU=Staff", "cn= x", "cn=x ", "cn=a  b", "cn=x\\,y", "cn=Ünal", "cn=a+sn=b"}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aZ09=, .-_#+;\"\\<>é"
	var random []string
	for range 20000 {
		b := []rune("cn=")
		for range 1 + rng.IntN(12) {
			b = append(b, []rune(alphabet)[rng.IntN(len([]rune(alphabet)))])
		}
		random = append(random, string(b))
	}
	simple := 0
	for _, dn := range append(fixed, random...) {
		if simpleDN(dn) {
			simple++
		}
		if got, want := normDN(dn), parsed(dn); got != want {
			t.Fatalf("normDN(%q) = %q, parsing gives %q", dn, got, want)
		}
	}
	if simple < 1000 {
		t.Fatalf("only %d DNs took the shortcut", simple)
	}
}
