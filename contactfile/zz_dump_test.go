package contactfile

import (
	"fmt"
	"os"
	"sort"
	"testing"
)

func dumpEntries(t *testing.T, es []Entry) {
	for _, e := range es {
		fmt.Printf("--- line %d skip=%q\n", e.Line, e.Skip)
		var keys []string
		for k := range e.Card {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, f := range e.Card[k] {
				v := f.Value
				if len(v) > 80 {
					v = v[:80] + "..."
				}
				fmt.Printf("  %s.%s %v %q\n", f.Group, k, f.Params, v)
			}
		}
	}
}

func TestZZDump(t *testing.T) {
	for _, n := range []string{os.Getenv("F")} {
		b, _ := os.ReadFile("testdata/" + n)
		es, f, err := Parse(b)
		fmt.Println(n, f, err)
		dumpEntries(t, es)
	}
}

func TestZZNote(t *testing.T) {
	b, _ := os.ReadFile("testdata/android.vcf")
	es, _ := ParseVCard(b)
	fmt.Printf("%q\n", es[0].Card.Value("NOTE"))
	out, err := Encode(es[0].Card, "3.0")
	fmt.Println(string(out), err)
	out, err = Encode(es[0].Card, "4.0")
	fmt.Println(string(out), err)
}
