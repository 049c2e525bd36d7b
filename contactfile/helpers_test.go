package contactfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustParse parses data and fails the test on an error.
func mustParse(t testing.TB, data []byte) ([]Entry, Format) {
	t.Helper()
	entries, format, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return entries, format
}

// contacts returns the cards of the entries that are contacts.
func contacts(entries []Entry) []vcard.Card {
	var out []vcard.Card
	for _, e := range entries {
		if e.Skip == "" {
			out = append(out, e.Card)
		}
	}
	return out
}

// parseError checks that err is an *Error and returns it.
func parseError(t testing.TB, err error) *Error {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return pe
}

// field returns the only field of a property, failing when there is not
// exactly one.
func field(t testing.TB, c vcard.Card, name string) *vcard.Field {
	t.Helper()
	if n := len(c[name]); n != 1 {
		t.Fatalf("%s: %d properties, want 1 (card %s)", name, n, dump(c))
	}
	return c[name][0]
}

// without returns a copy of the cards without the named properties.
func without(cards []vcard.Card, names ...string) []vcard.Card {
	out := make([]vcard.Card, len(cards))
	for i, c := range cards {
		cp := vcard.Card{}
		for k, v := range c {
			if !slices.Contains(names, k) {
				cp[k] = v
			}
		}
		out[i] = cp
	}
	return out
}

// sameCards fails the test with a readable difference unless the cards
// are equal, property by property.
func sameCards(t testing.TB, want, got []vcard.Card) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("%d cards, want %d", len(got), len(want))
	}
	for i := range want {
		sortKept(want[i])
		sortKept(got[i])
		if !reflect.DeepEqual(want[i], got[i]) {
			t.Errorf("card %d differs:\nwant %s\ngot  %s", i, dump(want[i]), dump(got[i]))
		}
	}
}

// sortKept orders the kept CSV columns by name: a layout writes them in
// its own column order.
func sortKept(c vcard.Card) {
	slices.SortStableFunc(c[fieldCSV], func(a, b *vcard.Field) int {
		return strings.Compare(a.Params.Get(paramCSVName), b.Params.Get(paramCSVName))
	})
}

// dump renders a card one property a line, sorted, for messages.
func dump(c vcard.Card) string {
	var lines []string
	for k, fs := range c {
		for i, f := range fs {
			v := f.Value
			if len(v) > 60 {
				v = v[:60] + "…"
			}
			lines = append(lines, fmt.Sprintf("%s.%s[%d] %v %q", f.Group, k, i, f.Params, v))
		}
	}
	slices.Sort(lines)
	return "\n  " + strings.Join(lines, "\n  ")
}
