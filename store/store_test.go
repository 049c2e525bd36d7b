package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
	bolt "go.etcd.io/bbolt"
)

func publish(t testing.TB, people ...directory.Person) *directory.Published {
	t.Helper()
	pub, err := directory.Normalize(directory.Snapshot{Source: "src", People: people})
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func person(id, name, dept string) directory.Person {
	return directory.Person{ID: id, Username: id, DisplayName: name, Department: dept}
}

func open(t testing.TB, path string, opt Options) *Store {
	t.Helper()
	s, err := Open(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func changes(t *testing.T, s *Store, since uint64) []Change {
	t.Helper()
	var out []Change
	if err := s.Changes(since, func(c Change) bool { out = append(out, c); return true }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestApplyGivesNewRevisionsOnlyToRealChanges(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	res, err := s.Apply(publish(t, person("a", "Ann", "X"), person("b", "Ben", "X")))
	if err != nil {
		t.Fatal(err)
	}
	// two people and one department group
	if res.Added != 3 || res.Rev != 3 {
		t.Fatalf("first apply: %+v", res)
	}
	res, _ = s.Apply(publish(t, person("a", "Ann", "X"), person("b", "Ben", "X")))
	if res.Changed() || res.Unchanged != 3 || s.Index().Rev != 3 {
		t.Fatalf("identical apply changed something: %+v", res)
	}
	res, _ = s.Apply(publish(t, person("a", "Ann Renamed", "X"), person("b", "Ben", "X")))
	if res.Updated != 1 || res.Rev != 4 {
		t.Fatalf("rename: %+v", res)
	}
	got := changes(t, s, 3)
	if len(got) != 1 || got[0].Name != directory.CardUID(directory.PersonKey("src", "a")) || got[0].Deleted {
		t.Fatalf("changes since 3: %+v", got)
	}
	// The superseded entry of a is gone: each card appears once.
	if all := changes(t, s, 0); len(all) != 3 {
		t.Fatalf("change index holds %d entries, want 3: %+v", len(all), all)
	}
}

func TestRenameKeepsCardNameAndChangesTag(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, person("a", "Ann", "X")))
	name := directory.CardUID(directory.PersonKey("src", "a"))
	before, _ := s.Index().Lookup(name)
	tag := before.Tag
	s.Apply(publish(t, person("a", "Ann Other", "Y")))
	after, ok := s.Index().Lookup(name)
	if !ok {
		t.Fatal("card vanished on rename")
	}
	if after.Tag == tag {
		t.Fatal("content tag unchanged after rename")
	}
}

func TestRemovalLeavesTombstoneAndReAddClearsIt(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, person("a", "Ann", ""), person("b", "Ben", "")))
	res, _ := s.Apply(publish(t, person("a", "Ann", "")))
	if res.Removed != 1 {
		t.Fatalf("removal: %+v", res)
	}
	bName := directory.CardUID(directory.PersonKey("src", "b"))
	got := changes(t, s, 2)
	if len(got) != 1 || !got[0].Deleted || got[0].Name != bName {
		t.Fatalf("tombstone: %+v", got)
	}
	s.Apply(publish(t, person("a", "Ann", ""), person("b", "Ben", "")))
	got = changes(t, s, 0)
	if len(got) != 2 {
		t.Fatalf("after re-add want 2 entries, got %+v", got)
	}
	for _, c := range got {
		if c.Deleted {
			t.Fatalf("tombstone survived re-add: %+v", got)
		}
	}
}

func TestOtherSourcesAreUntouched(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, person("a", "Ann", "")))
	other, _ := directory.Normalize(directory.Snapshot{Source: "other", People: []directory.Person{person("z", "Zed", "")}})
	s.Apply(other)
	res, _ := s.Apply(publish(t, person("a", "Ann", "")))
	if res.Removed != 0 || s.Index().People != 2 {
		t.Fatalf("apply of src touched other: %+v, people %d", res, s.Index().People)
	}
}

func TestRestartKeepsTagsAndRevisions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, Options{Fingerprint: "f1"})
	p := person("a", "Ann", "X")
	p.Emails = []string{"ann@example.org"}
	pub := publish(t, p, person("b", "Ben", "X"))
	pub.People[0].Groups = []string{"src/g/x"}
	pub.People[0].IsManager = true
	s.Apply(pub)
	ix := s.Index()
	epoch := s.Epoch()
	s.Close()
	s = open(t, path, Options{Fingerprint: "f1"})
	defer s.Close()
	if s.Epoch() != epoch || s.Index().Rev != ix.Rev {
		t.Fatalf("restart changed epoch or revision")
	}
	res, _ := s.Apply(pub)
	if res.Changed() {
		t.Fatalf("re-apply after restart changed: %+v", res)
	}
	if !reflect.DeepEqual(s.Index().Items, ix.Items) {
		t.Fatalf("index differs across restart:\n%+v\n%+v", s.Index().Items, ix.Items)
	}
}

func TestFingerprintChangeRevisesEveryCard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, Options{Fingerprint: "f1"})
	s.Apply(publish(t, person("a", "Ann", "X"), person("b", "Ben", "X")))
	old := s.Index()
	s.Close()
	s = open(t, path, Options{Fingerprint: "f2"})
	defer s.Close()
	ix := s.Index()
	if ix.Rev <= old.Rev {
		t.Fatalf("revision did not advance: %d -> %d", old.Rev, ix.Rev)
	}
	if got := changes(t, s, old.Rev); len(got) != len(old.Items) {
		t.Fatalf("want every card changed, got %d of %d", len(got), len(old.Items))
	}
	if ix.Items[0].Tag == old.Items[0].Tag {
		t.Fatal("tag unchanged after fingerprint change")
	}
}

func TestRetentionPrunesTombstonesAndRaisesHorizon(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{Retention: 24 * time.Hour, Now: func() time.Time { return now }})
	defer s.Close()
	s.Apply(publish(t, person("a", "Ann", ""), person("b", "Ben", "")))
	s.Apply(publish(t, person("a", "Ann", "")))
	deletedAt := s.Index().Rev
	if s.Index().Horizon != 0 {
		t.Fatal("horizon moved before retention passed")
	}
	now = now.Add(48 * time.Hour)
	s.Apply(publish(t, person("a", "Ann 2", "")))
	if h := s.Index().Horizon; h != deletedAt {
		t.Fatalf("horizon %d, want %d", h, deletedAt)
	}
	for _, c := range changes(t, s, 0) {
		if c.Deleted {
			t.Fatalf("tombstone older than retention kept: %+v", c)
		}
	}
}

func TestFailedApplyChangesNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	s.Apply(publish(t, person("a", "Ann", "")))
	before := s.Index()
	// Two entries with one key cannot be stored; the whole apply must fail.
	pub := publish(t, person("a", "Ann 2", ""), person("b", "Ben", ""))
	pub.People = append(pub.People, pub.People[1])
	if _, err := s.Apply(pub); err == nil {
		t.Fatal("apply with duplicate keys succeeded")
	}
	if s.Index().Rev != before.Rev || len(changes(t, s, 0)) != len(before.Items) {
		t.Fatal("failed apply left changes behind")
	}
}

func TestPersonalBookConditionsAndConflicts(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	card := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:X\r\nEND:VCARD\r\n")
	etag, created, err := s.PersonalPut("alice", "u1.vcf", "u1", card, Conditions{Allow: func(exists bool, _ string) bool { return !exists }})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if _, _, err := s.PersonalPut("alice", "u1.vcf", "u1", card, Conditions{Allow: func(exists bool, _ string) bool { return !exists }}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("If-None-Match * on existing: %v", err)
	}
	if _, _, err := s.PersonalPut("alice", "u1.vcf", "u1", card, Conditions{Allow: func(exists bool, tag string) bool { return exists && tag == "stale" }}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale If-Match: %v", err)
	}
	var conflict *UIDConflictError
	if _, _, err := s.PersonalPut("alice", "other.vcf", "u1", card, Conditions{}); !errors.As(err, &conflict) || conflict.Name != "u1.vcf" {
		t.Fatalf("uid conflict: %v", err)
	}
	// A card keeps its UID: another is refused, and the card stays.
	if _, _, err := s.PersonalPut("alice", "u1.vcf", "u2", card, Conditions{}); !errors.As(err, &conflict) || conflict.Name != "u1.vcf" {
		t.Fatalf("UID changed by a PUT: %v", err)
	}
	if c, err := s.PersonalGet("alice", "u1.vcf"); err != nil || c.UID != "u1" || c.ETag != etag {
		t.Fatalf("after a refused UID change: %+v %v", c, err)
	}
	if err := s.PersonalDelete("alice", "u1.vcf", Conditions{Allow: func(exists bool, tag string) bool { return exists && tag == "stale" }}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale delete: %v", err)
	}
	if err := s.PersonalDelete("alice", "u1.vcf", Conditions{Allow: func(exists bool, tag string) bool { return exists && tag == etag }}); err != nil {
		t.Fatal(err)
	}
	var got []Change
	s.PersonalChanges("alice", 0, func(c Change) bool { got = append(got, c); return true })
	if len(got) != 1 || !got[0].Deleted {
		t.Fatalf("personal changes after delete: %+v", got)
	}
	if info, _ := s.PersonalInfo("bob"); info.Rev != 0 || info.Count != 0 {
		t.Fatalf("bob sees alice's book: %+v", info)
	}
}

func TestMissingSummariesAreRebuiltFromRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, Options{Fingerprint: "f"})
	s.Apply(publish(t, person("a", "Ann", "X"), person("b", "Ben", "Y")))
	want := s.Index().Items
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bSums); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bSums)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, Options{Fingerprint: "f"})
	defer s.Close()
	if !reflect.DeepEqual(s.Index().Items, want) {
		t.Fatalf("rebuilt index differs:\n%+v\n%+v", s.Index().Items, want)
	}
}

func TestLargeApplySpansTransactionsAndStaysConsistent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, Options{})
	n := 2*MaxWritesPerTx + 7
	ppl := make([]directory.Person, n)
	for i := range ppl {
		ppl[i] = person(fmt.Sprintf("id-%06d", i), fmt.Sprintf("P %d", i), fmt.Sprintf("D%d", i%5))
	}
	res, err := s.Apply(publish(t, ppl...))
	if err != nil || res.Added != n+5 || s.Index().People != n {
		t.Fatalf("large apply: %+v %v, people %d", res, err, s.Index().People)
	}
	if got := len(changes(t, s, 0)); got != n+5 || s.Index().Rev != uint64(n+5) {
		t.Fatalf("change index has %d entries, rev %d", got, s.Index().Rev)
	}
	want := s.Index().Items
	s.Close()
	s = open(t, path, Options{})
	defer s.Close()
	if !reflect.DeepEqual(s.Index().Items, want) {
		t.Fatal("index after reopen differs from the one built while applying")
	}
	if res, _ := s.Apply(publish(t, ppl...)); res.Changed() {
		t.Fatalf("re-apply changed: %+v", res)
	}
}

func TestHiddenPeopleHaveAccountsButNoCards(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, Options{})
	h := person("h", "Hidden Hanna", "X")
	h.Hidden = true
	s.Apply(publish(t, person("a", "Ann", "X"), h))
	check := func(s *Store) {
		t.Helper()
		ix := s.Index()
		if ix.People != 1 {
			t.Fatalf("hidden person listed: %d people", ix.People)
		}
		for _, it := range ix.Items {
			if it.Username == "h" {
				t.Fatal("hidden person has a card")
			}
		}
		it, ok := ix.User("H")
		if !ok || it.Dept != "X" {
			t.Fatalf("hidden person cannot log in: %+v %v", it, ok)
		}
		if _, ok := ix.Account(directory.CardUID(directory.PersonKey("src", "h"))); !ok {
			t.Fatal("hidden account not found by name")
		}
	}
	check(s)
	s.Close()
	s = open(t, path, Options{})
	defer s.Close()
	check(s)
	if res, _ := s.Apply(publish(t, person("a", "Ann", "X"), h)); res.Changed() {
		t.Fatalf("re-apply changed: %+v", res)
	}
	s.Apply(publish(t, person("a", "Ann", "X")))
	if _, ok := s.Index().User("h"); ok {
		t.Fatal("a person gone from the directory can still log in")
	}
}

// TestApplyChangeMatchesApplyOfTheWholeSource publishes the same edit
// twice, once as a partial change and once as the whole source, and
// expects the same cards, tags and lookups, with only the changed cards
// revised by the partial change.
func TestApplyChangeMatchesApplyOfTheWholeSource(t *testing.T) {
	before := []directory.Person{person("a", "Ann", "X"), person("b", "Ben", "X"), person("c", "Cy", "Solo"), person("d", "Di", "X")}
	before[1].ManagerID = "a"
	after := append([]directory.Person(nil), before[:3]...)
	after[0].DisplayName = "Ann Renamed" // Ben's manager name changes with it
	after[2].Department = "X"            // Solo is left empty
	joiner := person("e", "Eve", "Y")    // a new department
	joiner.ManagerID = "c"               // Cy becomes a manager
	after = append(after, joiner)        // and Di left
	partial := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer partial.Close()
	whole := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer whole.Close()
	pub := publish(t, before...)
	for _, s := range []*Store{partial, whole} {
		if _, err := s.Apply(publish(t, before...)); err != nil {
			t.Fatal(err)
		}
	}
	rev := partial.Index().Rev
	ch, err := pub.Patch(&directory.Delta{Source: "src",
		Changed: []directory.PersonChange{{Old: before[0], New: after[0]}, {Old: before[2], New: after[2]}, {New: joiner}},
		Removed: []directory.Person{before[3]}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := partial.ApplyChange(ch)
	if err != nil {
		t.Fatal(err)
	}
	want, err := whole.Apply(publish(t, after...))
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != want.Added || res.Updated != want.Updated || res.Removed != want.Removed || !res.Changed() {
		t.Fatalf("partial change %+v, whole apply %+v", res, want)
	}
	if got := changes(t, partial, rev); len(got) != res.Added+res.Updated+res.Removed {
		t.Fatalf("change index after the partial change: %+v", got)
	}
	p, w := partial.Index(), whole.Index()
	if len(p.Items) != len(w.Items) {
		t.Fatalf("%d cards, whole apply has %d", len(p.Items), len(w.Items))
	}
	for i := range w.Items {
		if p.Items[i].Name != w.Items[i].Name || p.Items[i].Tag != w.Items[i].Tag {
			t.Fatalf("card %d: %s/%s, whole apply %s/%s", i, p.Items[i].Name, p.Items[i].Tag, w.Items[i].Name, w.Items[i].Tag)
		}
	}
	if len(p.InDepartment("X")) != 3 || len(p.InDepartment("Solo")) != 0 {
		t.Fatalf("department look-ups after the change: X %v, Solo %v", p.InDepartment("X"), p.InDepartment("Solo"))
	}
	if _, ok := p.User("d"); ok {
		t.Fatal("a leaver can still log in")
	}
	if res, err := partial.ApplyChange(ch); err != nil || res.Changed() || partial.Index().Rev != p.Rev {
		t.Fatalf("the same change again: %+v %v", res, err)
	}
	foreign := &directory.Change{Source: "other", People: ch.People}
	if _, err := partial.ApplyChange(foreign); err == nil {
		t.Fatal("a change naming another source's cards was accepted")
	}
}
