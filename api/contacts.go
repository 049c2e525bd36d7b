package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/emersion/go-vcard"
	"github.com/google/uuid"
	"github.com/orgdav/orgdav/contactfile"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// mountContacts serves a list's contacts:
//
//	GET    /api/v1/lists/{id}/contacts          every contact
//	POST   /api/v1/lists/{id}/contacts          add one (If-Match: the list's version)
//	GET    /api/v1/lists/{id}/contacts/{cid}    one, with its vCard (ETag)
//	PUT    /api/v1/lists/{id}/contacts/{cid}    replace it (If-Match: its ETag)
//	DELETE /api/v1/lists/{id}/contacts/{cid}    remove it (If-Match: its ETag)
func (a *API) mountContacts() {
	a.route("GET "+Prefix+"lists/{id}/contacts", a.handle(func(r *http.Request) (any, error) {
		l, err := a.list(r)
		if err != nil {
			return nil, err
		}
		// Read first, then shown: the directory entries contacts refer to
		// are read in a transaction of their own, never one nested in the
		// list's.
		var contacts []store.Contact
		if err := a.opt.Store.ListContacts(l.ID, func(c store.Contact) bool {
			contacts = append(contacts, c)
			return true
		}); err != nil {
			return nil, err
		}
		people := a.opt.Store.NewReader()
		defer people.Close()
		res := a.resolver()
		out := make([]ContactView, 0, len(contacts))
		for i := range contacts {
			out = append(out, res.contactView(&contacts[i], false, people))
		}
		return out, nil
	}))
	a.route("POST "+Prefix+"lists/{id}/contacts", a.handleStatus(http.StatusCreated, func(w http.ResponseWriter, r *http.Request) (any, error) {
		l, version, err := a.listToChange(r)
		if err != nil {
			return nil, err
		}
		c, body, err := a.readContact(r)
		if err != nil {
			return nil, err
		}
		c.ID = contactID(c.UID)
		before := len(a.opt.Store.Index().ListCards(l.ID))
		res, err := a.opt.Store.WriteContacts(l.ID, version, []store.ContactWrite{{Contact: c, New: true}})
		if errors.Is(err, store.ErrExists) {
			field := "vcard"
			if body.Person != "" {
				field = "person"
			}
			return nil, &Error{Status: http.StatusConflict, Field: field, Message: "the list already has this contact (" + c.ID + "): PUT to change it"}
		}
		if err != nil {
			return nil, listError(err)
		}
		a.audit(r, store.AuditEntry{Action: "add contact", Target: listTarget(l), Before: before, After: before + res.Created, Note: c.ID})
		got, err := a.opt.Store.Contact(l.ID, c.ID)
		if err != nil {
			return nil, err
		}
		w.Header().Set("ETag", `"`+got.ETag+`"`)
		w.Header().Set("Location", Prefix+"lists/"+l.ID+"/contacts/"+c.ID)
		v := a.fullView(&got)
		v.ListVersion = res.List.Version
		return v, nil
	}))
	a.route("GET "+Prefix+"lists/{id}/contacts/{cid}", a.handleW(func(w http.ResponseWriter, r *http.Request) (any, error) {
		c, err := a.contact(r)
		if err != nil {
			return nil, err
		}
		w.Header().Set("ETag", `"`+c.ETag+`"`)
		return a.fullView(&c), nil
	}))
	a.route("PUT "+Prefix+"lists/{id}/contacts/{cid}", a.handleW(func(w http.ResponseWriter, r *http.Request) (any, error) {
		cur, err := a.contact(r)
		if err != nil {
			return nil, err
		}
		c, _, err := a.readContact(r)
		if err != nil {
			return nil, err
		}
		c.List, c.ID = cur.List, cur.ID
		cond, err := contactCondition(r)
		if err != nil {
			return nil, err
		}
		if _, _, err := a.opt.Store.PutContact(c, cond); err != nil {
			return nil, contactError(err)
		}
		l, _ := a.opt.Store.List(cur.List)
		a.audit(r, store.AuditEntry{Action: "change contact", Target: listTarget(l), Before: 1, After: 1, Note: cur.ID})
		got, err := a.opt.Store.Contact(cur.List, cur.ID)
		if err != nil {
			return nil, err
		}
		w.Header().Set("ETag", `"`+got.ETag+`"`)
		v := a.fullView(&got)
		v.ListVersion = l.Version
		return v, nil
	}))
	a.route("DELETE "+Prefix+"lists/{id}/contacts/{cid}", a.handle(func(r *http.Request) (any, error) {
		cur, err := a.contact(r)
		if err != nil {
			return nil, err
		}
		before := len(a.opt.Store.Index().ListCards(cur.List))
		cond, err := contactCondition(r)
		if err != nil {
			return nil, err
		}
		if err := a.opt.Store.DeleteContact(cur.List, cur.ID, cond); err != nil {
			return nil, contactError(err)
		}
		l, _ := a.opt.Store.List(cur.List)
		a.audit(r, store.AuditEntry{Action: "delete contact", Target: listTarget(l), Before: before, After: before - 1, Note: cur.ID})
		return Deleted{Deleted: cur.ID, ListVersion: l.Version}, nil
	}))
}

// readContact decodes a contact body into a contact to store.
func (a *API) readContact(r *http.Request) (store.Contact, *ContactBody, error) {
	var body ContactBody
	if err := decodeJSON(r, &body); err != nil {
		return store.Contact{}, nil, err
	}
	c, err := a.resolver().contact(&body)
	return c, &body, err
}

func (a *API) contact(r *http.Request) (store.Contact, error) {
	l, err := a.list(r)
	if err != nil {
		return store.Contact{}, err
	}
	c, err := a.opt.Store.Contact(l.ID, r.PathValue("cid"))
	if errors.Is(err, store.ErrNotFound) {
		return c, &Error{Status: http.StatusNotFound, Field: "cid", Message: "no contact " + r.PathValue("cid") + " in the list"}
	}
	return c, err
}

// contactCondition reads If-Match as a contact's ETag: one quoted tag.
func contactCondition(r *http.Request) (store.Conditions, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return store.Conditions{}, nil
	}
	want, opened := strings.CutPrefix(h, `"`)
	want, closed := strings.CutSuffix(want, `"`)
	if !opened || !closed || want == "" || strings.ContainsAny(want, `", `) {
		return store.Conditions{}, badField("If-Match", "want the contact's ETag, quoted as the ETag header gives it")
	}
	return store.Conditions{Allow: func(exists bool, etag string) bool { return exists && etag == want }}, nil
}

func contactError(err error) error {
	var conflict *store.UIDConflictError
	switch {
	case errors.Is(err, store.ErrPrecondition):
		return &Error{Status: http.StatusPreconditionFailed, Field: "If-Match", Message: "the contact changed since you read it: read it again and retry"}
	case errors.As(err, &conflict):
		return &Error{Status: http.StatusConflict, Field: "vcard", Message: "another contact of the list, " + conflict.Name + ", has this UID"}
	}
	return listError(err)
}

// contactID names a new contact: its UID when that makes a clean path
// segment (editors' clients see it as the card's href), else a new one.
func contactID(uid string) string {
	uid = strings.TrimPrefix(uid, "urn:uuid:")
	if uid != "" && len(uid) <= 200 && strings.Trim(uid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@") == "" {
		return uid + ".vcf"
	}
	return uuid.NewString() + ".vcf"
}

// ContactBody is a contact as the API takes it: a vCard, a directory
// person, or the common fields.
type ContactBody struct {
	VCard  string   `json:"vcard,omitempty"`
	Person string   `json:"person,omitempty"`
	FN     string   `json:"fn,omitempty"`
	Given  string   `json:"given,omitempty"`
	Family string   `json:"family,omitempty"`
	Org    string   `json:"org,omitempty"`
	Title  string   `json:"title,omitempty"`
	Emails []string `json:"emails,omitempty"`
	Phones []Phone  `json:"phones,omitempty"`
	Note   string   `json:"note,omitempty"`
	URL    string   `json:"url,omitempty"`
}

type Phone struct {
	Type   string `json:"type,omitempty"` // work, home, cell, fax, pager, …
	Number string `json:"number"`
}

// contact turns a body into a contact to store.
func (r *resolver) contact(b *ContactBody) (store.Contact, error) {
	fields := b.FN != "" || b.Given != "" || b.Family != "" || b.Org != "" || b.Title != "" || len(b.Emails) > 0 || len(b.Phones) > 0 || b.Note != "" || b.URL != ""
	n := 0
	for _, set := range []bool{b.VCard != "", b.Person != "", fields} {
		if set {
			n++
		}
	}
	if n != 1 {
		return store.Contact{}, badField("body", "give one of vcard, person, or the contact's fields (fn, emails, phones, …)")
	}
	if b.Person != "" {
		key, err := r.user("person", b.Person)
		if err != nil {
			return store.Contact{}, err
		}
		name := directory.CardUID(key)
		return store.Contact{UID: name, Ref: name}, nil
	}
	var card vcard.Card
	if b.VCard != "" {
		entries, err := contactfile.ParseVCard([]byte(b.VCard))
		if err != nil {
			return store.Contact{}, badField("vcard", "%v", err)
		}
		if len(entries) != 1 || entries[0].Skip != "" {
			reason := "want exactly one contact"
			if len(entries) == 1 {
				reason = entries[0].Skip
			}
			return store.Contact{}, badField("vcard", "%s", reason)
		}
		card = entries[0].Card
	} else {
		var err error
		if card, err = fieldsCard(b); err != nil {
			return store.Contact{}, err
		}
	}
	return cardContact(card)
}

// cardContact stores a card as vCard 4.0, with a UID of its own if it has
// none, and its addresses for finding directory people.
func cardContact(card vcard.Card) (store.Contact, error) {
	if strings.TrimSpace(card.Value(vcard.FieldUID)) == "" {
		card.SetValue(vcard.FieldUID, "urn:uuid:"+uuid.NewString())
	}
	data, err := contactfile.Encode(card, "4.0")
	if err != nil {
		return store.Contact{}, badField("vcard", "%v", err)
	}
	return store.Contact{UID: card.Value(vcard.FieldUID), Emails: cardEmails(card), Card: data}, nil
}

func cardEmails(card vcard.Card) []string {
	var out []string
	for _, e := range card.Values(vcard.FieldEmail) {
		if e = strings.TrimSpace(strings.TrimPrefix(e, "mailto:")); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func fieldsCard(b *ContactBody) (vcard.Card, error) {
	for field, v := range map[string]string{"fn": b.FN, "given": b.Given, "family": b.Family, "org": b.Org, "title": b.Title, "url": b.URL} {
		if err := checkText(field, v, 0, 500); err != nil {
			return nil, err
		}
	}
	if err := checkText("note", b.Note, 0, 10000); err != nil {
		return nil, err
	}
	if len(b.Emails) > 50 || len(b.Phones) > 50 {
		return nil, badField("body", "at most 50 e-mails and 50 phones")
	}
	card := vcard.Card{}
	card.SetValue(vcard.FieldVersion, "4.0")
	fn := strings.TrimSpace(b.FN)
	if fn == "" {
		fn = strings.TrimSpace(b.Given + " " + b.Family)
	}
	if fn == "" {
		fn = b.Org
	}
	if fn == "" && len(b.Emails) > 0 {
		fn = b.Emails[0]
	}
	if fn == "" {
		return nil, badField("fn", "required: a name, an organisation or an e-mail")
	}
	card.SetValue(vcard.FieldFormattedName, fn)
	if b.Given != "" || b.Family != "" {
		card.SetName(&vcard.Name{GivenName: b.Given, FamilyName: b.Family})
	}
	if b.Org != "" {
		card.SetValue(vcard.FieldOrganization, b.Org)
	}
	if b.Title != "" {
		card.SetValue(vcard.FieldTitle, b.Title)
	}
	for i, e := range b.Emails {
		if err := checkText(fmt.Sprintf("emails[%d]", i), e, 3, 254); err != nil {
			return nil, err
		}
		if !strings.Contains(e, "@") {
			return nil, badField(fmt.Sprintf("emails[%d]", i), "not an e-mail address")
		}
		card.Add(vcard.FieldEmail, &vcard.Field{Value: strings.TrimSpace(e), Params: vcard.Params{vcard.ParamType: {"work"}}})
	}
	for i, p := range b.Phones {
		if err := checkText(fmt.Sprintf("phones[%d].number", i), p.Number, 1, 64); err != nil {
			return nil, err
		}
		typ := strings.ToLower(p.Type)
		if typ == "" {
			typ = "work"
		}
		if err := checkText(fmt.Sprintf("phones[%d].type", i), typ, 1, 32); err != nil {
			return nil, err
		}
		card.Add(vcard.FieldTelephone, &vcard.Field{Value: p.Number, Params: vcard.Params{vcard.ParamType: {typ, "voice"}}})
	}
	if b.Note != "" {
		card.SetValue(vcard.FieldNote, b.Note)
	}
	if b.URL != "" {
		card.SetValue(vcard.FieldURL, b.URL)
	}
	return card, nil
}

// ContactView is a contact as the API shows it.
type ContactView struct {
	ID      string    `json:"id"`
	UID     string    `json:"uid,omitempty"`
	Name    string    `json:"name"`
	Org     string    `json:"org,omitempty"`
	Emails  []string  `json:"emails"`
	Phones  []string  `json:"phones"`
	Person  string    `json:"person,omitempty"`  // the directory person it refers to
	Same    string    `json:"same_as,omitempty"` // the directory person with its address
	ETag    string    `json:"etag"`
	Updated time.Time `json:"updated"`
	VCard   string    `json:"vcard,omitempty"`
	// ListVersion is the list's version after a write of the contact,
	// for the If-Match of the next change of the list.
	ListVersion uint64 `json:"list_version,omitempty"`
}

// fullView shows one contact with its vCard.
func (a *API) fullView(c *store.Contact) ContactView {
	people := a.opt.Store.NewReader()
	defer people.Close()
	return a.resolver().contactView(c, true, people)
}

// contactView shows a contact; people reads the directory entries of
// contacts that refer to a person.
func (r *resolver) contactView(c *store.Contact, full bool, people *store.Reader) ContactView {
	v := ContactView{ID: c.ID, UID: c.UID, ETag: c.ETag, Updated: c.Updated, Emails: []string{}, Phones: []string{}}
	if c.Ref != "" {
		if it, ok := r.ix.Account(c.Ref); ok {
			v.Person = it.Username
			if e, err := people.Person(c.Ref); err == nil {
				v.Name, v.Emails = e.DisplayName, append(v.Emails, e.Emails...)
			}
		} else {
			v.Person = c.Ref
			v.Name = "(left the directory)"
		}
		return v
	}
	if it, ok := r.ix.Lookup(store.ListCardName(c.List, c.ID)); ok && it.Dup != "" {
		if p, ok := r.ix.Account(it.Dup); ok {
			v.Same = p.Username
		}
	}
	if card, _ := oneCard(c.Card); card != nil {
		v.Name = card.Value(vcard.FieldFormattedName)
		v.Org = strings.ReplaceAll(card.Value(vcard.FieldOrganization), ";", ", ")
		v.Emails = append(v.Emails, cardEmails(card)...)
		for _, t := range card.Values(vcard.FieldTelephone) {
			v.Phones = append(v.Phones, strings.TrimPrefix(t, "tel:"))
		}
	}
	if full {
		v.VCard = string(c.Card)
	}
	return v
}

// oneCard parses a stored card, which holds one contact: an error when it
// does not parse or holds another number; nil and no error when the one
// it holds is not a contact.
func oneCard(data []byte) (vcard.Card, error) {
	entries, err := contactfile.ParseVCard(data)
	if err == nil && len(entries) != 1 {
		err = fmt.Errorf("%d contacts in one stored card", len(entries))
	}
	if err != nil {
		return nil, err
	}
	return entries[0].Card, nil
}
