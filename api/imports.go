package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/emersion/go-vcard"
	"github.com/orgdav/orgdav/contactfile"
	"github.com/orgdav/orgdav/store"
)

// mountImports serves imports into and exports of lists and personal
// books:
//
//	POST /api/v1/lists/{id}/import?dry_run=true        plan, or (without dry_run) apply, a CSV or vCard file
//	GET  /api/v1/lists/{id}/export?format=vcard|csv    the list as a file
//	POST /api/v1/users/{user}/personal/import           the same for a personal book
//	GET  /api/v1/users/{user}/personal/export
//
// An import is all or nothing; importing a file again updates the
// contacts it created, matched by UID, else e-mail, else name and phone.
func (a *API) mountImports() {
	a.route("POST "+Prefix+"lists/{id}/import", a.handle(func(r *http.Request) (any, error) {
		l, version, err := a.listToChange(r)
		if err != nil {
			return nil, err
		}
		if l.Live != nil {
			return nil, listError(store.ErrLiveList)
		}
		if version != 0 && version != l.Version {
			// A plan against another version than the one the caller
			// read would not be the plan of what they apply.
			return nil, listError(store.ErrPrecondition)
		}
		var existing []existingContact
		if err := a.opt.Store.ListContacts(l.ID, func(c store.Contact) bool {
			if c.Ref == "" {
				existing = append(existing, existingContact{id: c.ID, uid: c.UID, emails: c.Emails, name: c.Name, phones: c.Phones, card: c.Card})
			}
			return true
		}); err != nil {
			return nil, err
		}
		rep, plan, err := a.plan(r, existing)
		if err != nil || rep.DryRun {
			return rep, err
		}
		writes := make([]store.ContactWrite, 0, len(plan))
		for _, p := range plan {
			writes = append(writes, store.ContactWrite{Contact: p})
		}
		before := len(a.opt.Store.Index().ListCards(l.ID))
		res, err := a.opt.Store.WriteContacts(l.ID, version, writes)
		if err != nil {
			a.imports.WithLabelValues("failed").Inc()
			return nil, listError(err)
		}
		rep.ListVersion = res.List.Version
		a.imported(r, listTarget(l), before, len(a.opt.Store.Index().ListCards(l.ID)), rep)
		return rep, nil
	}))
	a.route("GET "+Prefix+"lists/{id}/export", func(w http.ResponseWriter, r *http.Request) {
		l, err := a.list(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		// Read first, then turned into cards: the directory entries
		// contacts refer to are read in a transaction of their own, never
		// one nested in the list's.
		var contacts []store.Contact
		if err := a.opt.Store.ListContacts(l.ID, func(c store.Contact) bool {
			contacts = append(contacts, c)
			return true
		}); err != nil {
			a.writeError(w, r, err)
			return
		}
		people := a.opt.Store.NewReader()
		defer people.Close()
		var cards []vcard.Card
		for i := range contacts {
			if card := a.exportCard(&contacts[i], people); card != nil {
				cards = append(cards, card)
			}
		}
		a.writeExport(w, r, l.Name, cards)
	})
	a.route("POST "+Prefix+"users/{user}/personal/import", a.handle(func(r *http.Request) (any, error) {
		user, err := a.personalUser(r)
		if err != nil {
			return nil, err
		}
		var existing []existingContact
		cards, err := a.opt.Store.PersonalCards(user)
		if err != nil {
			return nil, err
		}
		for _, pc := range cards {
			e := existingContact{id: pc.Name, uid: pc.UID, card: pc.Data}
			if card, _ := oneCard(pc.Data); card != nil {
				e.emails, e.name, e.phones = matchKeys(card)
			}
			existing = append(existing, e)
		}
		rep, plan, err := a.plan(r, existing)
		if err != nil || rep.DryRun {
			return rep, err
		}
		writes := make([]store.PersonalWrite, 0, len(plan))
		for _, p := range plan {
			writes = append(writes, store.PersonalWrite{Name: p.ID, UID: p.UID, Data: p.Card})
		}
		if _, _, err := a.opt.Store.PersonalPutAll(user, writes); err != nil {
			a.imports.WithLabelValues("failed").Inc()
			var conflict *store.UIDConflictError
			if errors.As(err, &conflict) {
				return nil, &Error{Status: http.StatusConflict, Field: "file", Message: "a card of the file has the UID of the personal card " + conflict.Name + " under another name"}
			}
			return nil, err
		}
		a.imported(r, "personal book of "+user, len(existing), len(existing)+rep.Created, rep)
		return rep, nil
	}))
	a.route("GET "+Prefix+"users/{user}/personal/export", func(w http.ResponseWriter, r *http.Request) {
		user, err := a.personalUser(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		cards, err := a.opt.Store.PersonalCards(user)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		var out []vcard.Card
		for _, pc := range cards {
			if card, _ := oneCard(pc.Data); card != nil {
				out = append(out, card)
			}
		}
		a.writeExport(w, r, "Personal "+user, out)
	})
}

// imported counts an applied import and records it in the audit log.
func (a *API) imported(r *http.Request, target string, before, after int, rep *ImportReport) {
	a.imports.WithLabelValues("applied").Inc()
	a.audit(r, store.AuditEntry{Action: "import", Target: target, Before: before, After: after, Note: rep.note()})
}

// personalUser is the account a personal-book route names: an admin may
// name anyone, everyone else only themselves.
func (a *API) personalUser(r *http.Request) (string, error) {
	it, ok := a.opt.Store.Index().User(r.PathValue("user"))
	if !ok {
		return "", &Error{Status: http.StatusNotFound, Field: "user", Message: "no directory user " + r.PathValue("user")}
	}
	return it.Username, nil
}

// exportCard is a list contact as a file carries it; a contact that refers
// to a directory person carries the name only, since what else of them a
// reader may see depends on who reads. people reads the person's entry.
func (a *API) exportCard(c *store.Contact, people *store.Reader) vcard.Card {
	if c.Ref != "" {
		card := vcard.Card{}
		card.SetValue(vcard.FieldVersion, "4.0")
		card.SetValue(vcard.FieldUID, c.Ref)
		name := c.Ref
		if e, err := people.Person(c.Ref); err == nil {
			name = e.DisplayName
		}
		card.SetValue(vcard.FieldFormattedName, name)
		return card
	}
	card, err := oneCard(c.Card)
	if err != nil {
		a.log.Warn("a stored contact does not parse; left out of the export", "list", c.List, "contact", c.ID, "err", err)
	}
	return card
}

// writeExport answers cards as a vCard (format=vcard, version=3.0 or 4.0)
// or CSV (format=csv, flavor=outlook or google) download.
func (a *API) writeExport(w http.ResponseWriter, r *http.Request, name string, cards []vcard.Card) {
	q := r.URL.Query()
	var buf bytes.Buffer
	ext, ctype := "vcf", "text/vcard; charset=utf-8"
	switch q.Get("format") {
	case "", "vcard":
		version := q.Get("version")
		if version == "" {
			version = "3.0"
		}
		if version != "3.0" && version != "4.0" {
			a.writeError(w, r, badField("version", "want 3.0 or 4.0"))
			return
		}
		for _, c := range cards {
			data, err := contactfile.Encode(c, version)
			if err != nil {
				a.log.Warn("a contact could not be encoded; left out of the export", "err", err)
				continue
			}
			buf.Write(data)
		}
	case "csv":
		flavor := contactfile.CSVFlavor(q.Get("flavor"))
		if flavor == "" {
			flavor = contactfile.Outlook
		}
		if flavor != contactfile.Outlook && flavor != contactfile.Google {
			a.writeError(w, r, badField("flavor", "want outlook or google"))
			return
		}
		if err := contactfile.WriteCSV(&buf, cards, flavor); err != nil {
			a.writeError(w, r, err)
			return
		}
		ext, ctype = "csv", "text/csv; charset=utf-8"
	default:
		a.writeError(w, r, badField("format", "want vcard or csv"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name + "." + ext}))
	h.Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

// plan is planImport, counted.
func (a *API) plan(r *http.Request, existing []existingContact) (*ImportReport, []store.Contact, error) {
	rep, plan, err := planImport(r, existing)
	switch {
	case err != nil:
		a.imports.WithLabelValues("refused").Inc()
		return nil, nil, err
	case rep.DryRun:
		a.imports.WithLabelValues("planned").Inc()
	}
	return rep, plan, nil
}

// existingContact is what an import matches a file's contacts against.
type existingContact struct {
	id, uid, name  string
	emails, phones []string
	card           []byte
}

// ImportReport is what an import did, or would do: every contact of the
// file with its line and what happens to it.
type ImportReport struct {
	Format    string       `json:"format"`
	DryRun    bool         `json:"dry_run"`
	Created   int          `json:"created"`
	Updated   int          `json:"updated"`
	Unchanged int          `json:"unchanged"`
	Skipped   int          `json:"skipped"`
	Items     []ImportItem `json:"items"`
	// ListVersion is the list's version after an applied import.
	ListVersion uint64 `json:"list_version,omitempty"`
}

// note sums the report up for the audit log.
func (rep *ImportReport) note() string {
	return fmt.Sprintf("%s: %d created, %d updated, %d unchanged, %d skipped", rep.Format, rep.Created, rep.Updated, rep.Unchanged, rep.Skipped)
}

type ImportItem struct {
	Line   int    `json:"line"`
	Action string `json:"action"` // create, update, unchanged, skip
	ID     string `json:"id,omitempty"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// planImport reads the uploaded file and decides, for each of its
// contacts, whether it creates a contact, updates one (matched by UID,
// else an e-mail address, else name and phone) or is skipped, and why.
func planImport(r *http.Request, existing []existingContact) (*ImportReport, []store.Contact, error) {
	dry, err := boolParam(r.URL.Query().Get("dry_run"), "dry_run")
	if err != nil {
		return nil, nil, err
	}
	if r.Body == nil {
		return nil, nil, badField("file", "empty: send the file as the request body")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, contactfile.MaxFileSize+1))
	if err != nil {
		return nil, nil, badField("file", "reading it failed: %v", err)
	}
	if len(data) > contactfile.MaxFileSize {
		return nil, nil, &Error{Status: http.StatusRequestEntityTooLarge, Field: "file", Message: "file is larger than 32 MiB: split it"}
	}
	entries, format, err := contactfile.Parse(data)
	if err != nil {
		var pe *contactfile.Error
		if errors.As(err, &pe) {
			return nil, nil, &Error{Status: http.StatusBadRequest, Field: "file", Line: pe.Line, Message: pe.Error() + "; nothing was imported"}
		}
		return nil, nil, badField("file", "%v", err)
	}
	rep := &ImportReport{Format: string(format), DryRun: dry, Items: make([]ImportItem, 0, len(entries))}
	byUID, byEmail, byNamePhone := map[string]int{}, map[string]int{}, map[string]int{}
	for i := range existing {
		e := &existing[i]
		if e.uid != "" {
			byUID[e.uid] = i
		}
		for _, m := range e.emails {
			if _, taken := byEmail[m]; !taken {
				byEmail[m] = i
			}
		}
		for _, p := range e.phones {
			byNamePhone[e.name+"\x00"+p] = i
		}
	}
	claimed := map[int]int{}  // existing contact -> line that updates it
	fresh := map[string]int{} // match keys of this file's new contacts -> line
	var plan []store.Contact
	for _, en := range entries {
		item := ImportItem{Line: en.Line}
		if en.Skip != "" {
			item.Action, item.Reason = "skip", en.Skip
			rep.Skipped++
			rep.Items = append(rep.Items, item)
			continue
		}
		card := en.Card
		item.Name = card.Value(vcard.FieldFormattedName)
		emails, name, phones := matchKeys(card)
		uid := strings.TrimSpace(card.Value(vcard.FieldUID))
		match, how := -1, ""
		if i, ok := byUID[uid]; ok && uid != "" {
			match, how = i, "UID"
		}
		for _, m := range emails {
			if i, ok := byEmail[m]; ok && match < 0 {
				match, how = i, "e-mail "+m
			}
		}
		for _, p := range phones {
			if i, ok := byNamePhone[name+"\x00"+p]; ok && match < 0 {
				match, how = i, "name and phone"
			}
		}
		keys := fileKeys(uid, emails, name, phones)
		if match >= 0 {
			if line, ok := claimed[match]; ok {
				item.Action, item.Reason = "skip", fmt.Sprintf("the same contact as line %d (%s)", line, how)
				rep.Skipped++
				rep.Items = append(rep.Items, item)
				continue
			}
			claimed[match] = en.Line
		} else if line, dup := firstLine(fresh, keys); dup {
			item.Action, item.Reason = "skip", fmt.Sprintf("the same contact as line %d", line)
			rep.Skipped++
			rep.Items = append(rep.Items, item)
			continue
		}
		for _, k := range keys {
			if _, taken := fresh[k]; !taken {
				fresh[k] = en.Line
			}
		}
		if match >= 0 {
			// The contact keeps its id and UID: editors' phones know it by them.
			card.SetValue(vcard.FieldUID, existing[match].uid)
		}
		c, err := cardContact(card)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Field, e.Line = "file", en.Line
			}
			return nil, nil, err
		}
		c.Name, c.Phones = name, phones
		switch {
		case match < 0:
			c.ID = contactID(c.UID)
			item.ID, item.Action = c.ID, "create"
			rep.Created++
			if dry {
				item.ID = "" // assigned when the import is applied
			}
		case bytes.Equal(existing[match].card, c.Card):
			c.ID = existing[match].id
			item.ID, item.Action, item.Reason = c.ID, "unchanged", "matched by "+how
			rep.Unchanged++
		default:
			c.ID = existing[match].id
			item.ID, item.Action, item.Reason = c.ID, "update", "matched by "+how
			rep.Updated++
		}
		if item.Action != "unchanged" {
			plan = append(plan, c)
		}
		rep.Items = append(rep.Items, item)
	}
	return rep, plan, nil
}

// matchKeys are what contacts are matched by: lower-cased addresses, the
// folded name, and phone numbers as digits.
func matchKeys(card vcard.Card) (emails []string, name string, phones []string) {
	for _, e := range cardEmails(card) {
		emails = append(emails, strings.ToLower(e))
	}
	name = strings.ToLower(strings.Join(strings.Fields(card.Value(vcard.FieldFormattedName)), " "))
	for _, t := range card.Values(vcard.FieldTelephone) {
		var d strings.Builder
		for _, c := range t {
			if c >= '0' && c <= '9' {
				d.WriteRune(c)
			}
		}
		if d.Len() >= 3 {
			phones = append(phones, d.String())
		}
	}
	return emails, name, phones
}

func fileKeys(uid string, emails []string, name string, phones []string) []string {
	var keys []string
	if uid != "" {
		keys = append(keys, "u:"+uid)
	}
	for _, e := range emails {
		keys = append(keys, "e:"+e)
	}
	for _, p := range phones {
		keys = append(keys, "n:"+name+"\x00"+p)
	}
	return keys
}

func firstLine(seen map[string]int, keys []string) (int, bool) {
	for _, k := range keys {
		if line, ok := seen[k]; ok {
			return line, true
		}
	}
	return 0, false
}
