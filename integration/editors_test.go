package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/store"
)

func byFN(cards map[string]string, fn string) (string, bool) {
	for _, c := range cards {
		if strings.Contains(c, "\r\nFN:"+fn+"\r\n") {
			return c, true
		}
	}
	return "", false
}

// An editor writes a shared list through real vdirsyncer, two-way from the
// bare URL: what they add, change and delete reaches an audience member's
// Company book at their next sync, once; a non-editor's write is refused
// and changes nothing on the server.
func TestEditorsWriteASharedListThroughVdirsyncer(t *testing.T) {
	ls := startLive(t, 60)
	erin, _ := ls.st.Index().User("erin")
	l := &store.List{Name: "Suppliers", State: store.ListEnabled, Audience: store.Audience{Everyone: true}, Editors: store.Members{Users: []string{erin.Key}}}
	must(t, ls.st.CreateList(l))
	editor := newVdirsyncer(t, ls.url, "erin")
	editor.run("discover", "contacts")
	editor.run("sync")
	book := filepath.Join(editor.dir, "contacts", "shared-"+l.ID)
	if _, err := os.Stat(book); err != nil {
		t.Fatalf("the list's book was not discovered for its editor: %v", err)
	}
	reader := newVdirsyncer(t, ls.url, "alice")
	reader.run("discover", "contacts")
	reader.run("sync")
	before := len(reader.cards("company"))

	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:acme-hotline\r\nFN:Acme Hotline\r\nTEL;TYPE=WORK:+1 555 0100\r\nEMAIL:help@acme.example\r\nEND:VCARD\r\n"
	must(t, os.WriteFile(filepath.Join(book, "acme-hotline.vcf"), []byte(card), 0o600))
	must(t, os.WriteFile(filepath.Join(book, "globex.vcf"), []byte("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:globex\r\nFN:Globex Front Desk\r\nEND:VCARD\r\n"), 0o600))
	editor.run("sync")
	if n := len(ls.st.Index().ListCards(l.ID)); n != 2 {
		t.Fatalf("the editor's upload: %d contacts in the list", n)
	}
	reader.run("sync")
	got := reader.cards("company")
	if _, ok := byFN(got, "Acme Hotline"); !ok || len(got) != before+2 {
		t.Fatalf("alice's book after the editor's add: %d cards (was %d), contact found %t", len(got), before, ok)
	}
	if _, ok := editor.cards("company")["acme-hotline"]; ok {
		t.Error("the editor has the contact in their Company book too")
	}

	must(t, os.WriteFile(filepath.Join(book, "acme-hotline.vcf"), []byte(strings.Replace(card, "FN:Acme Hotline", "FN:Acme Support", 1)), 0o600))
	editor.run("sync")
	reader.run("sync")
	got = reader.cards("company")
	if _, ok := byFN(got, "Acme Support"); !ok || len(got) != before+2 {
		t.Errorf("alice's book after the editor's change: %d cards, renamed found %t", len(got), ok)
	}

	// alice is no editor: her client's upload into the Company book is refused.
	intruder := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:intruder\r\nFN:Intruder\r\nEND:VCARD\r\n"
	must(t, os.WriteFile(filepath.Join(reader.dir, "contacts", "company", "intruder.vcf"), []byte(intruder), 0o600))
	if out, ok := reader.tryRun("sync"); ok {
		t.Errorf("a non-editor's upload was not refused:\n%s", out)
	}
	if _, ok := ls.st.Index().Lookup("intruder"); ok || len(ls.st.Index().ListCards(l.ID)) != 2 {
		t.Error("a non-editor's upload changed the server")
	}

	must(t, os.Remove(filepath.Join(book, "acme-hotline.vcf")))
	editor.run("sync")
	must(t, os.Remove(filepath.Join(reader.dir, "contacts", "company", "intruder.vcf")))
	reader.run("sync")
	got = reader.cards("company")
	if _, ok := byFN(got, "Acme Support"); ok || len(got) != before+1 {
		t.Errorf("alice's book after the editor's delete: %d cards, contact still there %t", len(got), ok)
	}
}
