package contactfile

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-vcard"
)

// requireLinear fails unless the work of run on an input eight times as
// large grows as a linear algorithm's would: ×8, where quadratic work
// grows ×64. Bytes allocated do not depend on the machine's load (at most
// ×20); time, best of three runs, does (at most ×32: the tests run beside
// others and with -race, where a factor of two between inputs drowned in
// noise).
func requireLinear(t *testing.T, build func(scale int) []byte, run func([]byte) error) {
	t.Helper()
	cost := func(data []byte) (time.Duration, uint64) {
		best := time.Duration(1 << 62)
		var alloc uint64
		for range 3 {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			if err := run(data); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
			runtime.ReadMemStats(&after)
			alloc = after.TotalAlloc - before.TotalAlloc
		}
		return best, alloc
	}
	small, large := build(1), build(8)
	t1, b1 := cost(small)
	t2, b2 := cost(large)
	t.Logf("%d bytes: %v, %d allocated; %d bytes: %v, %d allocated (×%.1f time, ×%.1f bytes)",
		len(small), t1, b1, len(large), t2, b2, float64(t2)/float64(t1), float64(b2)/float64(b1))
	if b2 > 20*b1 {
		t.Errorf("allocation grows faster than the input: ×%.1f for ×8", float64(b2)/float64(b1))
	}
	if t1 > time.Millisecond && t2 > 32*t1 {
		t.Errorf("time grows faster than the input: ×%.1f for ×8", float64(t2)/float64(t1))
	}
}

const mib = 1 << 20

func parseAll(data []byte) error {
	_, _, err := Parse(data)
	return err
}

func TestParsingIsLinearInTheInput(t *testing.T) {
	vcardOf := func(body string) []byte {
		return []byte("BEGIN:VCARD\r\nVERSION:2.1\r\nFN:A\r\n" + body + "\r\nEND:VCARD\r\n")
	}
	for _, tc := range []struct {
		name  string
		build func(scale int) []byte
	}{
		{"one quoted CSV field of 2 MiB with many doubled quotes", func(s int) []byte {
			return []byte("Name,Notes\nA,\"" + strings.Repeat(`ab""`, s*mib/16) + "\"\n")
		}},
		{"a CSV header of many columns over many short rows", func(s int) []byte {
			var b bytes.Buffer
			b.WriteString("Name")
			for i := range s * 6250 {
				fmt.Fprintf(&b, ",Phone %d - Value", i+1)
			}
			b.WriteString("\n" + strings.Repeat("x\n", s*3125))
			return b.Bytes()
		}},
		{"many CSV rows", func(s int) []byte {
			return []byte("First Name,Last Name,E-mail Address,Notes\n" + strings.Repeat("Ann,Lee,ann@example.com,\"a\nb\"\n", s*3125))
		}},
		{"a vCard of 200k continuation lines", func(s int) []byte {
			return vcardOf("NOTE:a" + strings.Repeat("\r\n a", s*25000))
		}},
		{"a quoted-printable value of 100k soft line breaks", func(s int) []byte {
			return vcardOf("NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:x" + strings.Repeat("=C3=\r\n=BC", s*12500))
		}},
		{"a 2.1 photo of unindented base64 lines", func(s int) []byte {
			return vcardOf("PHOTO;ENCODING=BASE64;JPEG:" + strings.Repeat("QUJD\r\n", s*25000) + "\r\n")
		}},
		{"a property of many parameters", func(s int) []byte {
			return vcardOf("X-A" + strings.Repeat(";TYPE=a;X-B=c", s*12500) + ":v")
		}},
		{"a property of many bare parameters", func(s int) []byte {
			return vcardOf("TEL" + strings.Repeat(";CELL", s*25000) + ":1")
		}},
		{"a value of many escapes", func(s int) []byte {
			return vcardOf("N:" + strings.Repeat(`a\;\,\n\\`, s*mib/562))
		}},
		{"many small cards", func(s int) []byte {
			return bytes.Repeat([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEMAIL:a@b.example\r\nEND:VCARD\r\n"), s*3125)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { requireLinear(t, tc.build, parseAll) })
	}
}

func TestWritingIsLinearInTheCards(t *testing.T) {
	card := func(s int) vcard.Card {
		c := vcard.Card{}
		c.SetValue(vcard.FieldFormattedName, "A")
		c.SetValue(vcard.FieldNote, strings.Repeat("é, ;\n", s*mib/56))
		for range s * 2500 {
			c.Add(vcard.FieldTelephone, &vcard.Field{Value: "+1 555", Params: vcard.Params{"TYPE": {"work"}}})
		}
		return c
	}
	t.Run("Encode of a card of a long value and many properties", func(t *testing.T) {
		requireLinear(t, func(s int) []byte {
			b, _ := Encode(card(s), "4.0")
			return b
		}, func(b []byte) error {
			entries, err := ParseVCard(b)
			if err == nil {
				_, err = Encode(entries[0].Card, "3.0")
			}
			return err
		})
	})
}
