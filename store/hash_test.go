package store

import (
	"reflect"
	"testing"

	"github.com/orgdav/orgdav/directory"
)

// TestEntryHashCoversEveryField changes each field of a person entry and a
// group entry in turn, so a field added to the model but forgotten in the
// hash (and so never published when it changes) fails here.
func TestEntryHashCoversEveryField(t *testing.T) {
	var buf hashBuf
	base := func() *directory.Entry {
		return &directory.Entry{Key: "k", Person: directory.Person{Address: &directory.Address{}, Phones: []directory.Phone{{}}}}
	}
	baseHash := hashPerson(&buf, "fp", base())
	leaves := 0
	var walk func(path string, get func(e *directory.Entry) reflect.Value)
	walk = func(path string, get func(e *directory.Entry) reflect.Value) {
		v := get(base())
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				i := i
				walk(path+"."+v.Type().Field(i).Name, func(e *directory.Entry) reflect.Value { return get(e).Field(i) })
			}
			return
		case reflect.Pointer:
			walk(path, func(e *directory.Entry) reflect.Value { return get(e).Elem() })
			return
		}
		leaves++
		e := base()
		f := get(e)
		switch f.Kind() {
		case reflect.String:
			f.SetString("changed")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Struct {
				walk(path+"[0]", func(e *directory.Entry) reflect.Value { return get(e).Index(0) })
				return
			}
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		default:
			t.Fatalf("%s: kind %s not handled by this test; extend it and the hash", path, f.Kind())
		}
		if hashPerson(&buf, "fp", e) == baseHash {
			t.Errorf("changing %s does not change the content hash", path)
		}
	}
	walk("Entry", func(e *directory.Entry) reflect.Value { return reflect.ValueOf(e).Elem() })
	if leaves < 25 {
		t.Fatalf("walked only %d fields", leaves)
	}
	g := &directory.GroupEntry{}
	gv := reflect.ValueOf(g).Elem()
	gh := hashGroup(&buf, "fp", g)
	for i := 0; i < gv.NumField(); i++ {
		c := &directory.GroupEntry{}
		f := reflect.ValueOf(c).Elem().Field(i)
		if f.Kind() == reflect.Slice {
			f.Set(reflect.Append(f, reflect.Zero(f.Type().Elem())))
		} else {
			f.SetString("changed")
		}
		if hashGroup(&buf, "fp", c) == gh {
			t.Errorf("changing GroupEntry.%s does not change the hash", gv.Type().Field(i).Name)
		}
	}
	if hashPerson(&buf, "other-fingerprint", base()) == baseHash {
		t.Error("fingerprint does not change the hash")
	}
}
