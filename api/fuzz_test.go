package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/store"
)

// FuzzListBody sends arbitrary JSON where a list is expected: the answer
// is a JSON success or a JSON error naming a field, never a crash or a 500.
func FuzzListBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"Suppliers","state":"enabled","audience":{"everyone":true,"except":{"users":["bob"]}},"editors":{"users":["erin"]}}`,
		`{"name":"X","audience":{"groups":["Platform"],"departments":["Engineering"]}}`,
		`{"name":"L","live":{"department":"Sales"}}`,
		`{"name":42}`, `{"name":"a","colour":1}`, `[]`, `{"name":"\u0000"}`, ``,
	} {
		f.Add(s)
	}
	// One API over 40 demo people for every input: building it per input
	// would measure the store, not the parsers.
	a := newEnv(f).api
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		a.Local().ServeHTTP(w, httptest.NewRequest("POST", Prefix+"lists", strings.NewReader(body)))
		if w.Code >= 500 || !strings.HasPrefix(w.Body.String(), "{") {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		if w.Code >= 400 && !strings.Contains(w.Body.String(), `"field"`) {
			t.Fatalf("%q: an error naming no field: %s", body, w.Body)
		}
	})
}

// FuzzContactBody does the same for a contact, in every form it takes.
func FuzzContactBody(f *testing.F) {
	for _, s := range []string{
		`{"fn":"Acme","emails":["a@acme.example"],"phones":[{"type":"work","number":"+1 555"}]}`,
		`{"person":"alice"}`,
		`{"vcard":"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nEND:VCARD\r\n"}`,
		`{"vcard":"BEGIN:VCARD\nVERSION:2.1\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller\nEND:VCARD\n"}`,
		`{"emails":["no-at-sign"]}`, `{}`,
	} {
		f.Add(s)
	}
	a := newEnv(f).api
	l := &store.List{Name: "Fuzz"}
	if err := a.opt.Store.CreateList(l); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		a.Local().ServeHTTP(w, httptest.NewRequest("POST", Prefix+"lists/"+l.ID+"/contacts", strings.NewReader(body)))
		if w.Code >= 500 || !strings.HasPrefix(w.Body.String(), "{") {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		if w.Code == http.StatusCreated {
			// What was stored reads back and exports.
			r := httptest.NewRecorder()
			a.Local().ServeHTTP(r, httptest.NewRequest("GET", Prefix+"lists/"+l.ID+"/export?format=csv", nil))
			if r.Code != http.StatusOK {
				t.Fatalf("export after %q: %d %s", body, r.Code, r.Body)
			}
		}
	})
}

// FuzzImportPlan plans arbitrary files against a list's contacts: a plan
// or an error with the line, never a crash.
func FuzzImportPlan(f *testing.F) {
	f.Add(outlookCSV)
	f.Add("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:X\r\nEMAIL:x@x.example\r\nEND:VCARD\r\n")
	f.Add("Name,E-mail 1 - Value\r\nA,a@x.example ::: b@x.example\r\n")
	existing := []existingContact{{id: "a.vcf", uid: "x", emails: []string{"x@x.example"}, name: "x", phones: []string{"5550100"}}}
	f.Fuzz(func(t *testing.T, file string) {
		rep, plan, err := planImport(httptest.NewRequest("POST", "/?dry_run=true", strings.NewReader(file)), existing)
		if err != nil {
			return
		}
		if rep.Created+rep.Updated+rep.Unchanged+rep.Skipped != len(rep.Items) || len(plan) != rep.Created+rep.Updated {
			t.Fatalf("counts %+v for %d items, %d planned", rep, len(rep.Items), len(plan))
		}
		ids := map[string]bool{}
		for _, c := range plan {
			if ids[c.ID] || c.ID == "" || len(c.Card) == 0 {
				t.Fatalf("plan of %q: contact id %q twice or empty", file, c.ID)
			}
			ids[c.ID] = true
		}
	})
}
