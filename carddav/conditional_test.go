package carddav

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestWritesCheckEveryEntityTagOfTheirConditions(t *testing.T) {
	e := newEnv(t, 60)
	p := bookPath("alice", bookPersonal) + "cond.vcf"
	card := func(note string) string {
		return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:cond\r\nFN:Cond\r\nNOTE:" + note + "\r\nEND:VCARD\r\n"
	}
	r := e.do("PUT", p, "alice", card("v1"))
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d", r.code)
	}
	current := r.header.Get("ETag") // quoted
	cases := []struct {
		name           string
		method, header string
		value          string
		want           int
	}{
		{"If-Match with the current tag among others", "PUT", "If-Match", `"wrong", CURRENT`, http.StatusNoContent},
		{"If-Match with only other tags", "PUT", "If-Match", `"wrong", "other"`, http.StatusPreconditionFailed},
		{"If-Match with the current tag as weak never matches", "PUT", "If-Match", "W/CURRENT", http.StatusPreconditionFailed},
		{"If-None-Match with the current tag among others", "PUT", "If-None-Match", `"other", CURRENT`, http.StatusPreconditionFailed},
		{"If-None-Match weak compares too", "PUT", "If-None-Match", "W/CURRENT", http.StatusPreconditionFailed},
		{"If-None-Match * on an existing card", "PUT", "If-None-Match", "*", http.StatusPreconditionFailed},
		{"a malformed If-Match is not ignored", "PUT", "If-Match", `"`, http.StatusBadRequest},
		{"an unquoted tag is malformed", "PUT", "If-Match", `abc`, http.StatusBadRequest},
		{"tags without a comma are malformed", "PUT", "If-Match", `"a" "b"`, http.StatusBadRequest},
		{"an empty If-Match is malformed", "PUT", "If-Match", ` `, http.StatusBadRequest},
		{"DELETE with only other tags", "DELETE", "If-Match", `"a", W/CURRENT`, http.StatusPreconditionFailed},
		{"DELETE with a malformed header", "DELETE", "If-Match", `"x`, http.StatusBadRequest},
		{"GET If-None-Match among others", "GET", "If-None-Match", `"a", CURRENT`, http.StatusNotModified},
		{"GET If-Match strong only", "GET", "If-Match", "W/CURRENT", http.StatusPreconditionFailed},
		{"GET with a malformed condition", "GET", "If-None-Match", `W/x`, http.StatusBadRequest},
		{"a failed precondition is told before a bad card", "PUT BAD", "If-Match", `"other"`, http.StatusPreconditionFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, _ := e.st.PersonalInfo("alice")
			value := strings.ReplaceAll(c.value, "CURRENT", current)
			method, body := c.method, card("changed by "+c.name)
			if method == "PUT BAD" {
				method, body = "PUT", "not a card"
			}
			r := e.do(method, p, "alice", body, c.header, value)
			if r.code != c.want {
				t.Fatalf("%s %s: %s: %d, want %d: %s", c.method, c.header, value, r.code, c.want, r.body)
			}
			after, _ := e.st.PersonalInfo("alice")
			if c.want >= 400 && after.Rev != info.Rev {
				t.Fatal("a refused write changed the book")
			}
			if r.code == http.StatusNoContent {
				current = r.header.Get("ETag")
			}
		})
	}
}

func TestTagListsParse(t *testing.T) {
	cases := []struct {
		in   string
		want string // tags joined, weak ones prefixed W/; "*"; or "error"
	}{
		{`"a"`, "a"},
		{` "a" , W/"b",,"c" `, "a W/b c"},
		{`*`, "*"},
		{`""`, ""},
		{`"a`, "error"},
		{`a`, "error"},
		{`"a" "b"`, "error"},
		{`W/ "a"`, "error"},
		{"\"a\x01\"", "error"},
		{`,`, "error"},
		{strings.Repeat(`"a",`, maxTags+1), "error"},
	}
	for _, c := range cases {
		l, err := parseTagList([]string{c.in})
		got := "error"
		if err == nil {
			var parts []string
			for _, tg := range l.tags {
				if tg.weak {
					parts = append(parts, "W/"+tg.opaque)
				} else {
					parts = append(parts, tg.opaque)
				}
			}
			got = strings.Join(parts, " ")
			if l.any {
				got = "*"
			}
		}
		if got != c.want {
			t.Errorf("%q: %q (%v), want %q", c.in, got, err, c.want)
		}
	}
	if l, err := parseTagList(nil); l != nil || err != nil {
		t.Errorf("no header: %v %v", l, err)
	}
}

// FuzzTagList checks that any header either is refused or parses into
// tags that match themselves: what the client sent back is what it got.
func FuzzTagList(f *testing.F) {
	for _, s := range []string{`"a"`, `W/"a", "b"`, `*`, `"`, `,,`, `"a" "b"`, "\"\x80\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		l, err := parseTagList([]string{h})
		if err != nil || l == nil || l.any {
			return
		}
		// Written back in the header's own syntax, the list reads the same.
		var parts []string
		for _, tg := range l.tags {
			w := ""
			if tg.weak {
				w = "W/"
			}
			parts = append(parts, w+`"`+tg.opaque+`"`)
		}
		again, err := parseTagList([]string{strings.Join(parts, ", ")})
		if err != nil || !slices.Equal(again.tags, l.tags) {
			t.Fatalf("%q: %+v written back as %q reads %+v, %v", h, l.tags, strings.Join(parts, ", "), again, err)
		}
		for _, tg := range l.tags {
			if !l.matchWeak(true, tg.opaque) || (!tg.weak && !l.matchStrong(true, tg.opaque)) {
				t.Fatalf("%q: tag %+v does not match itself", h, tg)
			}
			if l.matchStrong(false, tg.opaque) {
				t.Fatalf("%q: If-Match matched a card that does not exist", h)
			}
		}
	})
}

func TestConditionsOnAnotherUsersBookTellNothing(t *testing.T) {
	e := newEnv(t, 60)
	bobs := bookPath("bob", bookPersonal) + "x.vcf"
	if r := e.do("PUT", bobs, "bob", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:X\r\nEND:VCARD\r\n"); r.code != http.StatusCreated {
		t.Fatalf("bob's own card: %d", r.code)
	}
	for _, h := range []string{`"`, `*`, `"whatever"`} {
		for _, m := range []string{"PUT", "DELETE", "GET"} {
			if r := e.do(m, bobs, "alice", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:X\r\nEND:VCARD\r\n", "If-Match", h); r.code != http.StatusNotFound {
				t.Errorf("alice %s on bob's card with If-Match %s: %d, want 404", m, h, r.code)
			}
		}
	}
}
