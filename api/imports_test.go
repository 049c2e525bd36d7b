package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every fixture, written as the products export it, imports through the
// API; importing it again changes nothing; its export parses back.
func TestEveryExportFixtureImportsOnceAndAgainWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	files, _ := filepath.Glob("../contactfile/testdata/*.*")
	if len(files) < 6 {
		t.Fatalf("only %d fixtures", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			l := e.createList(t, `{"name":"`+filepath.Base(f)+`"}`)
			path := "/api/v1/lists/" + l.ID + "/import"
			var first, again ImportReport
			status, b := e.do(t, "alice", "POST", path, string(data))
			if status != 200 || json.Unmarshal([]byte(b), &first) != nil || first.Created == 0 {
				t.Fatalf("first import: %d %.500s", status, b)
			}
			status, b = e.do(t, "alice", "POST", path, string(data))
			if status != 200 || json.Unmarshal([]byte(b), &again) != nil || again.Created != 0 || again.Updated != 0 || again.Unchanged != first.Created {
				t.Fatalf("second import: %d %.500s (first created %d)", status, b, first.Created)
			}
			if n := len(e.st.Index().ListCards(l.ID)); n != first.Created {
				t.Errorf("%d contacts stored, %d created", n, first.Created)
			}
			for _, format := range []string{"format=vcard&version=3.0", "format=vcard&version=4.0", "format=csv&flavor=outlook", "format=csv&flavor=google"} {
				status, out, _ := e.doH(t, "alice", "GET", "/api/v1/lists/"+l.ID+"/export?"+format, "")
				if status != 200 {
					t.Fatalf("export %s: %d", format, status)
				}
				probe := e.createList(t, `{"name":"`+filepath.Base(f)+" "+format+`"}`)
				var rep ImportReport
				status, b := e.do(t, "alice", "POST", "/api/v1/lists/"+probe.ID+"/import?dry_run=true", out)
				if status != 200 || json.Unmarshal([]byte(b), &rep) != nil || rep.Created != first.Created {
					t.Errorf("the %s export does not import back as %d contacts: %d %.300s", format, first.Created, status, b)
				}
			}
		})
	}
}

// Broken files are refused with the line at fault, and nothing of them is
// imported.
func TestBrokenFilesImportNothingAndNameTheLine(t *testing.T) {
	e := newEnv(t)
	l := e.createList(t, `{"name":"Target"}`)
	big := "First Name,E-mail Address\r\n" + strings.Repeat("Jane,jane@x.example\r\n", 50<<20/21)
	cases := []struct {
		name, file string
		status     int
		line       int
	}{
		{"an unbalanced quote", "First Name,E-mail Address\r\nJane,jane@x.example\r\n\"Joe,joe@x.example\r\nAnn,ann@x.example\r\n", 400, 3},
		{"a binary file", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", 400, 2}, // the first NUL
		{"a 50 MB file", big, 413, 0},
		{"an unknown charset", "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=X-NOPE;ENCODING=QUOTED-PRINTABLE:M=FCller\r\nFN:Ann\r\nEND:VCARD\r\n", 400, 3},
		{"a card without its end", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\n", 400, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, b := e.do(t, "alice", "POST", "/api/v1/lists/"+l.ID+"/import", c.file)
			var got Error
			if status != c.status || json.Unmarshal([]byte(b), &got) != nil || got.Field != "file" || got.Line != c.line || !strings.Contains(got.Message, "nothing") && c.status == 400 {
				t.Errorf("%d %.300s, want %d at line %d", status, b, c.status, c.line)
			}
		})
	}
	if n := len(e.st.Index().ListCards(l.ID)); n != 0 {
		t.Errorf("broken files imported %d contacts", n)
	}
}
