package directory

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
)

// mutate changes one person the way directory edits do, including edits
// that a delta cannot carry alone (hiding, disabling, removing the name,
// moving under a hidden manager).
func mutate(rng *rand.Rand, s *Snapshot, p *Person) {
	switch rng.IntN(48) {
	default:
		p.Title = fmt.Sprintf("Title %d", rng.IntN(1000))
	case 2, 14:
		p.DisplayName = fmt.Sprintf("Renamed %d", rng.IntN(1000))
	case 3:
		p.DisplayName = ""
	case 4, 15, 16:
		p.Department = []string{"", "Sales", "Finance", "Brand New", s.People[rng.IntN(len(s.People))].Department}[rng.IntN(5)]
	case 5, 6, 12, 13:
		p.ManagerID = []string{"", p.ID, "no-such-person", s.People[rng.IntN(len(s.People))].ID}[rng.IntN(4)]
	case 7:
		p.Emails = append(slices.Clone(p.Emails), "not an email")
	case 8:
		p.Phones = []Phone{{Kind: PhoneMobile, Number: fmt.Sprintf("+1 555 %04d", rng.IntN(10000))}}
	case 9:
		p.Hidden = !p.Hidden
	case 10:
		p.Disabled = !p.Disabled
	case 11:
		p.GivenName, p.FamilyName, p.DisplayName, p.Username = "", "", "", ""
	}
}

func byKey(es []Entry) map[string]Entry {
	m := make(map[string]Entry, len(es))
	for _, e := range es {
		m[e.Key] = e
	}
	return m
}

// TestPatchEqualsFullNormalisation applies random deltas to a published
// source, one after another, and checks that every patched result is
// exactly what normalising the whole new snapshot gives.
func TestPatchEqualsFullNormalisation(t *testing.T) {
	patched, full, joins, leaves := 0, 0, 0, 0
	for seed := range 60 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		s := withNamedGroups(Demo(300))
		pub, err := Normalize(s)
		if err != nil {
			t.Fatal(err)
		}
		for step := range 8 {
			next := s
			next.People = slices.Clone(s.People)
			d := &Delta{Source: s.Source}
			changed := map[string]int{} // ID -> index in d.Changed
			for _, i := range rng.Perm(len(s.People))[:rng.IntN(4)] {
				old := s.People[i]
				p := old
				for range 1 + rng.IntN(2) {
					mutate(rng, &s, &p)
				}
				next.People[i] = p
				changed[p.ID] = len(d.Changed)
				d.Changed = append(d.Changed, PersonChange{Old: old, New: p})
			}
			if rng.IntN(3) == 0 {
				// Someone joins, in no group, maybe under a manager.
				p := Person{ID: fmt.Sprintf("joiner-%d-%d", seed, step), GivenName: "New", FamilyName: fmt.Sprint(step),
					Department: []string{"", "Brand New", s.People[rng.IntN(len(s.People))].Department}[rng.IntN(3)]}
				if rng.IntN(2) == 0 {
					p.ManagerID = s.People[rng.IntN(len(s.People))].ID
				}
				next.People = append(next.People, p)
				changed[p.ID] = len(d.Changed)
				d.Changed = append(d.Changed, PersonChange{New: p})
			}
			if rng.IntN(3) == 0 {
				// Someone leaves; their reports lose their manager, as a
				// source resolving manager DNs sees it.
				j := rng.IntN(len(next.People))
				if _, edited := changed[next.People[j].ID]; !edited {
					left := next.People[j]
					next.People = slices.Delete(slices.Clone(next.People), j, j+1)
					d.Removed = append(d.Removed, left)
					// A source resolving manager DNs reports the reports
					// as changed; one keeping dangling manager IDs does not.
					for k := range next.People {
						if rng.IntN(2) == 0 {
							break
						}
						q := &next.People[k]
						if q.ManagerID != left.ID {
							continue
						}
						if c, ok := changed[q.ID]; ok {
							d.Changed[c].New.ManagerID = ""
						} else {
							changed[q.ID] = len(d.Changed)
							d.Changed = append(d.Changed, PersonChange{Old: *q})
							d.Changed[len(d.Changed)-1].New = *q
							d.Changed[len(d.Changed)-1].New.ManagerID = ""
						}
						q.ManagerID = ""
					}
				}
			}
			want, err := Normalize(next)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := pub.Patch(d)
			if errors.Is(err, ErrNeedsFull) {
				full++
				s, pub = next, want
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			patched++
			if len(d.Removed) > 0 {
				leaves++
			}
			if slices.ContainsFunc(d.Changed, func(c PersonChange) bool { return c.Old.ID == "" }) {
				joins++
			}
			pub.Commit(ch)
			samePublished(t, fmt.Sprintf("seed %d step %d", seed, step), pub, want)
			s = next
		}
	}
	// Most random edits are ordinary attribute changes; the fast path
	// must take them, or it proves nothing.
	if patched < 3*full || patched < 200 || joins < 50 || leaves < 50 {
		t.Fatalf("patched %d deltas (%d with joins, %d with leavers), normalised %d in full: the patch path is not exercised", patched, joins, leaves, full)
	}
	t.Logf("patched %d deltas (%d with joins, %d with leavers), %d needed a full normalisation", patched, joins, leaves, full)
}

// withNamedGroups adds the groups that department and empty-group rules
// meet: a directory group named like a department (in another case), one
// named like a department that does not exist yet, and one whose members
// are all hidden.
func withNamedGroups(s Snapshot) Snapshot {
	var hidden, sales []string
	for i, p := range s.People {
		if p.Hidden {
			hidden = append(hidden, p.ID)
		}
		// Members of their own, some of them in the department too.
		if i%4 == 0 || (p.Department == "Sales" && i%3 == 0) {
			sales = append(sales, p.ID)
		}
	}
	s.Groups = append(slices.Clone(s.Groups),
		Group{ID: "named-sales", Name: "SALES", Members: sales},
		Group{ID: "named-new", Name: "Brand New"},
		Group{ID: "hidden-only", Name: "Hidden Only", Members: hidden})
	return s
}

// samePublished fails unless got and want publish the same entries.
func samePublished(t *testing.T, where string, got, want *Published) {
	t.Helper()
	g, w := byKey(got.People), byKey(want.People)
	if len(g) != len(w) {
		t.Fatalf("%s: %d people, want %d", where, len(g), len(w))
	}
	for k, e := range w {
		if !reflect.DeepEqual(g[k], e) {
			t.Fatalf("%s: %s\n got  %+v\n want %+v", where, k, g[k], e)
		}
	}
	sort.Slice(want.Groups, func(i, j int) bool { return want.Groups[i].Key < want.Groups[j].Key })
	if !reflect.DeepEqual(got.Groups, want.Groups) {
		t.Fatalf("%s: groups differ\n got  %+v\n want %+v", where, got.Groups, want.Groups)
	}
	if !reflect.DeepEqual(got.Hidden, want.Hidden) {
		t.Fatalf("%s: hidden people differ", where)
	}
}

func TestPatchRemovesDepartmentLeftEmpty(t *testing.T) {
	s := Demo(MinDemoPeople)
	pub, err := Normalize(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, dept := range []string{"Solo", s.People[5].Department} {
		next := s
		next.People = slices.Clone(s.People)
		next.People[5].Department = dept
		ch, err := pub.Patch(&Delta{Source: s.Source, Changed: []PersonChange{{Old: s.People[5], New: next.People[5]}}})
		if err != nil {
			t.Fatal(err)
		}
		pub.Commit(ch)
		want, err := Normalize(next)
		if err != nil {
			t.Fatal(err)
		}
		samePublished(t, "moved to "+dept, pub, want)
		s = next
	}
	if _, indexed := pub.index().groups[DepartmentKey(s.Source, "Solo")]; indexed || slices.ContainsFunc(pub.Groups, func(g GroupEntry) bool { return g.Name == "Solo" }) {
		t.Fatal("the emptied department is still published")
	}
}

// TestPatchLeavers covers what random edits of the demo rarely reach: a
// group or a manager left with nobody.
func TestPatchLeavers(t *testing.T) {
	s := Snapshot{Source: "corp", People: []Person{{ID: "a", DisplayName: "A"}, {ID: "b", DisplayName: "B", ManagerID: "a"}},
		Groups: []Group{{ID: "solo", Name: "Solo", Members: []string{"a"}}}}
	for _, c := range []struct {
		name string
		left int
	}{{"the only member of a group and a manager", 0}, {"the only report of a manager", 1}} {
		t.Run(c.name, func(t *testing.T) {
			pub, err := Normalize(s)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := pub.Patch(&Delta{Source: "corp", Removed: []Person{s.People[c.left]}})
			if err != nil {
				t.Fatal(err)
			}
			pub.Commit(ch)
			next := s
			next.People = slices.Delete(slices.Clone(s.People), c.left, c.left+1)
			want, err := Normalize(next)
			if err != nil {
				t.Fatal(err)
			}
			samePublished(t, c.name, pub, want)
		})
	}
}

func TestPatchRejectsDeltaOfAnotherSource(t *testing.T) {
	pub, err := Normalize(Demo(MinDemoPeople))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Patch(&Delta{Source: "other"}); err == nil || errors.Is(err, ErrNeedsFull) {
		t.Fatalf("delta of another source: %v", err)
	}
}
