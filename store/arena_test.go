package store

import (
	"path/filepath"

	"fmt"
	"reflect"
	"runtime"
	"testing"

	"github.com/orgdav/orgdav/directory"
)

func TestPackKeepsEveryItemAsItWas(t *testing.T) {
	var items []Item
	for i := range 3000 {
		items = append(items, Item{Name: fmt.Sprintf("n%05d", i), Key: fmt.Sprintf("src/p/%d", i), Tag: "t", Username: fmt.Sprint("u", i),
			Dept: fmt.Sprint("dept", i%7), Groups: []string{"src/g/a", fmt.Sprint("src/g/", i%3)}, Emails: []string{fmt.Sprint(i, "@x.example")},
			List: []string{"", "list1"}[i%2], Dup: []string{"", "dup"}[i%5/4]})
	}
	want := make([]Item, len(items))
	for i := range items {
		want[i] = items[i]
		want[i].Groups = append([]string(nil), items[i].Groups...)
		want[i].Emails = append([]string(nil), items[i].Emails...)
	}
	pack(items)
	if !reflect.DeepEqual(items, want) {
		t.Fatal("packing changed the items")
	}
	items[0].Groups = append(items[0].Groups, "src/g/extra")
	if !reflect.DeepEqual(items[1].Groups, want[1].Groups) {
		t.Fatal("appending to one item's groups wrote over the next item's")
	}
}

// An incremental run packs the one item it changed: that must cost about
// its own bytes, not a block.
func TestPackingOneItemCostsItsOwnSize(t *testing.T) {
	items := []Item{{Name: "0f1d6c5e-8a49-5b6a-9c1e-6f7267646176", Key: "src/p/1", Dept: "Sales", Groups: []string{"src/g/a"}, Emails: []string{"a@x.example"}}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		pack(items)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 2048 {
		t.Fatalf("packing one item allocates %d bytes", per)
	}
}

func TestPackIndexKeepsTheIndexAsItWas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	defer s.Close()
	pub, err := directory.Normalize(directory.Demo(500))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(pub); err != nil {
		t.Fatal(err)
	}
	before := s.Index()
	if before.packed {
		t.Fatal("an index patched from a publication is already packed")
	}
	s.PackIndex()
	after := s.Index()
	if !after.packed || !reflect.DeepEqual(after.Items, before.Items) || after.People != before.People || after.Groups != before.Groups || after.Rev != before.Rev {
		t.Fatal("packing changed the index")
	}
	for _, it := range before.Items {
		got, ok := after.Lookup(it.Name)
		if !ok || got.Name != it.Name {
			t.Fatalf("%s is not found in the packed index", it.Name)
		}
		if it.Username != "" {
			if acc, ok := after.User(it.Username); !ok || acc.Name != it.Name {
				t.Fatalf("%s's account is not found in the packed index", it.Username)
			}
		}
	}
	s.PackIndex()
	if s.Index() != after {
		t.Fatal("a packed index was packed again")
	}
}
