package store

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/orgdav/orgdav/directory"
	bolt "go.etcd.io/bbolt"
)

func fullEntry() *directory.Entry {
	return &directory.Entry{Key: "src/p/1", Person: directory.Person{ID: "1", Username: "ann", GivenName: "Ann", FamilyName: "Lee",
		DisplayName: "Ann Lee", Emails: []string{"ann@x.example", "a@x.example"}, Phones: []directory.Phone{{Kind: directory.PhoneWork, Number: "+1 555"}},
		Title: "CEO", Department: "Exec", Company: "X", Office: "HQ", Address: &directory.Address{Street: "1 Main\nSt", City: "C", Country: "US"},
		ManagerID: "0", Website: "https://x.example", IMs: []string{"xmpp:ann@x.example"}, Notes: "n;o,t\\e", Birthday: "--03-07",
		EmployeeID: "E1", Photo: append([]byte{0xff, 0xd8}, make([]byte, 2000)...)},
		Groups: []string{"src/g/a", "src/g/b"}, IsManager: true, ManagerKey: "src/p/0", ManagerName: "Boss"}
}

func TestTheBinaryCodecKeepsEveryField(t *testing.T) {
	for _, e := range []*directory.Entry{fullEntry(), {Key: "src/p/2", Person: directory.Person{ID: "2"}}} {
		got, err := decodePerson(appendPerson(nil, e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("person round trip:\n got %+v %v\nwant %+v", got, err, e)
		}
	}
	g := &directory.GroupEntry{Key: "src/g/a", Name: "Sales", Kind: directory.KindGroup, Members: []string{"src/p/1"}}
	if got, err := decodeGroup(appendGroup(nil, g)); err != nil || !reflect.DeepEqual(got, g) {
		t.Errorf("group round trip: %+v %v", got, err)
	}
	// The binary form is what the store writes: much smaller than JSON.
	bin, js := appendPerson(nil, fullEntry()), mustJSON(t, fullEntry())
	if len(bin) > len(js)*3/4 {
		t.Errorf("binary %d bytes, JSON %d", len(bin), len(js))
	}
}

// A reader decodes card after card into one entry: nothing of the
// previous card may show in the next.
func TestDecodingIntoAReusedEntryLeavesNothingOfThePreviousCard(t *testing.T) {
	full, bare := fullEntry(), &directory.Entry{Key: "src/p/2", Person: directory.Person{ID: "2"}}
	two := fullEntry()
	two.Key, two.Emails, two.Phones, two.Groups = "src/p/3", []string{"z@x.example"}, nil, []string{"src/g/c"}
	for _, seq := range [][]*directory.Entry{{full, bare}, {bare, full}, {full, two}, {two, full, bare, two}} {
		var e directory.Entry
		for i, want := range seq {
			if err := decodePersonInto(appendPerson(nil, want), &e); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&e, want) {
				t.Fatalf("card %d of %d decoded into a reused entry:\n got %+v\nwant %+v", i+1, len(seq), e, want)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A store an earlier version wrote as JSON is recoded at start, with the
// same revisions and ETags: clients see nothing.
func TestJSONRecordsAreRecodedAtStartWithoutNewRevisions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, Options{})
	s.Apply(publish(t, person("a", "Ann", "X"), person("b", "Ben", "X")))
	before := s.Index()
	// Rewrite the records as an earlier version did.
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bItems)
		var keys [][]byte
		b.ForEach(func(k, _ []byte) error { keys = append(keys, append([]byte(nil), k...)); return nil })
		for _, k := range keys {
			r, _, _, err := loadRecord(k, b.Get(k))
			if err != nil {
				return err
			}
			var js []byte
			switch r.kind {
			case KindPerson:
				e, _ := decodePerson(r.data)
				js = mustJSON(t, e)
			case KindGroup:
				g, _ := decodeGroup(r.data)
				js = mustJSON(t, g)
			}
			if err := b.Put(k, encodeRecord(r.rev, r.hash, r.kind, js)); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Delete(kCodec)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path, Options{})
	defer s.Close()
	for i := range before.Items {
		it := before.Items[i]
		now, ok := s.Index().Lookup(it.Name)
		if !ok || now.Rev != it.Rev || now.Tag != it.Tag {
			t.Errorf("%s changed: %+v -> %+v", it.Name, it, now)
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bItems).ForEach(func(k, v []byte) error {
			if r, _ := decodeRecord(v); r.data[0] != codecBinary {
				t.Errorf("%s is still JSON", k)
			}
			return nil
		})
	})
	if e, err := s.Person(directory.CardUID(directory.PersonKey("src", "a"))); err != nil || e.DisplayName != "Ann" {
		t.Errorf("reading a recoded person: %+v %v", e, err)
	}
}

func FuzzDecodePerson(f *testing.F) {
	f.Add(appendPerson(nil, fullEntry()))
	f.Add([]byte{codecBinary, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || data[0] != codecBinary {
			return
		}
		e, err := decodePerson(data)
		if err != nil {
			return
		}
		again, err := decodePerson(appendPerson(nil, e))
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("a decoded person does not round trip: %+v / %+v %v", e, again, err)
		}
	})
}
