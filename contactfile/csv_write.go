package contactfile

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-vcard"
)

// CSVFlavor names the column layout of a CSV export.
type CSVFlavor string

// The layouts WriteCSV writes.
const (
	Outlook CSVFlavor = "outlook"
	Google  CSVFlavor = "google"
)

// outlookColumns is the header of classic Outlook's "Export to a file",
// in its order.
var outlookColumns = []string{
	"Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department", "Job Title",
	"Business Street", "Business Street 2", "Business Street 3", "Business City", "Business State",
	"Business Postal Code", "Business Country/Region", "Home Street", "Home Street 2", "Home Street 3",
	"Home City", "Home State", "Home Postal Code", "Home Country/Region", "Other Street", "Other Street 2",
	"Other Street 3", "Other City", "Other State", "Other Postal Code", "Other Country/Region",
	"Assistant's Phone", "Business Fax", "Business Phone", "Business Phone 2", "Callback", "Car Phone",
	"Company Main Phone", "Home Fax", "Home Phone", "Home Phone 2", "ISDN", "Mobile Phone", "Other Fax",
	"Other Phone", "Pager", "Primary Phone", "Radio Phone", "TTY/TDD Phone", "Telex", "Account",
	"Anniversary", "Assistant's Name", "Billing Information", "Birthday", "Business Address PO Box",
	"Categories", "Children", "Directory Server", "E-mail Address", "E-mail Type", "E-mail Display Name",
	"E-mail 2 Address", "E-mail 2 Type", "E-mail 2 Display Name", "E-mail 3 Address", "E-mail 3 Type",
	"E-mail 3 Display Name", "Gender", "Government ID Number", "Hobby", "Home Address PO Box", "Initials",
	"Internet Free Busy", "Keywords", "Language", "Location", "Manager's Name", "Mileage", "Notes",
	"Office Location", "Organizational ID Number", "Other Address PO Box", "Priority", "Private",
	"Profession", "Referred By", "Sensitivity", "Spouse", "User 1", "User 2", "User 3", "User 4", "Web Page",
}

// googleColumns are the columns of Google's current export before its
// numbered groups.
var googleColumns = []string{
	"First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name",
	"Phonetic Last Name", "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Name",
	"Organization Title", "Organization Department", "Birthday", "Notes", "Photo", "Labels",
}

// googleGroups are Google's numbered groups, in its order, with their
// parts.
var googleGroups = []struct {
	name, field string
	parts       []string
	always      bool // written even when no card has one
}{
	{"E-mail", vcard.FieldEmail, []string{"Label", "Value"}, true},
	{"Phone", vcard.FieldTelephone, []string{"Label", "Value"}, true},
	{"Address", vcard.FieldAddress, []string{"Label", "Formatted", "Street", "City", "PO Box", "Region",
		"Postal Code", "Country", "Extended Address"}, true},
	{"Relation", vcard.FieldRelated, []string{"Label", "Value"}, false},
	{"Website", vcard.FieldURL, []string{"Label", "Value"}, true},
}

// WriteCSV writes the cards as a CSV file in the flavor's layout: for
// Outlook, its documented columns in their order, UTF-8 with a
// byte-order mark (so that Excel and Outlook read it as UTF-8), every
// field quoted as Outlook does; for Google, its current layout with as
// many numbered groups as the cards need, without a byte-order mark.
// Lines end in CRLF. Every field the layout has a column for is written;
// X-ORGDAV-CSV properties go back to the column they came from (Google
// gets a column for each). What has no column, such as a photo for
// Outlook, is left out.
func WriteCSV(w io.Writer, cards []vcard.Card, flavor CSVFlavor) error {
	var header []string
	var rows [][]string
	switch flavor {
	case Outlook:
		header = outlookColumns
		cols := newColumns(header)
		for _, c := range cards {
			if c != nil {
				rows = append(rows, outlookRow(c, cols.row()))
			}
		}
	case Google:
		header, rows = googleRows(cards)
	default:
		return fmt.Errorf("contactfile: write CSV: flavor %q: want %q or %q", flavor, Outlook, Google)
	}
	bw := bufio.NewWriter(w)
	if flavor == Outlook {
		bw.Write(bomUTF8)
	}
	for _, r := range append([][]string{header}, rows...) {
		for i, f := range r {
			if i > 0 {
				bw.WriteByte(',')
			}
			writeCSVField(bw, f, flavor == Outlook)
		}
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("contactfile: write CSV: %w", err)
	}
	return nil
}

// Quoted fields double their quotes; line breaks inside them are CRLF
// for Outlook, "\n" for Google, as each writes them.
var (
	quoteCRLF = strings.NewReplacer(`"`, `""`, "\r\n", "\r\n", "\n", "\r\n")
	quoteLF   = strings.NewReplacer(`"`, `""`, "\r\n", "\n")
)

// writeCSVField quotes a field when it must be (always, for Outlook).
func writeCSVField(bw *bufio.Writer, f string, outlook bool) {
	if !outlook && !strings.ContainsAny(f, ",\"\r\n") && strings.TrimSpace(f) == f {
		bw.WriteString(f)
		return
	}
	bw.WriteByte('"')
	if outlook {
		quoteCRLF.WriteString(bw, f)
	} else {
		quoteLF.WriteString(bw, f)
	}
	bw.WriteByte('"')
}

// csvRow fills the cells of one card; set never overwrites a cell, so
// the first value for a column wins.
type csvRow struct {
	cells []string
	cols  *columns
}

// columns finds a header's cells by name, as the code writes it or, for
// the names kept from an imported file, in any case.
type columns struct {
	index, lower map[string]int
	width        int
}

func newColumns(header []string) *columns {
	c := &columns{index: map[string]int{}, lower: map[string]int{}, width: len(header)}
	for i, h := range header {
		c.index[h] = i
		c.lower[strings.ToLower(h)] = i
	}
	return c
}

func (c *columns) row() *csvRow {
	return &csvRow{cells: make([]string, c.width), cols: c}
}

func (r *csvRow) free(col string) bool {
	i, ok := r.cols.index[col]
	return ok && r.cells[i] == ""
}

func (r *csvRow) set(col, v string) {
	if i, ok := r.cols.index[col]; ok && v != "" && r.cells[i] == "" {
		r.cells[i] = v
	}
}

// kept puts X-ORGDAV-CSV properties back into their columns first, so
// that mapped fields take the free ones: an Outlook row of an Exchange
// address in E-mail and an SMTP one in E-mail 2 comes back the same.
func (r *csvRow) kept(c vcard.Card) {
	for _, f := range c[fieldCSV] {
		if i, ok := r.cols.lower[strings.ToLower(f.Params.Get(paramCSVName))]; ok && r.cells[i] == "" {
			r.cells[i] = f.Value
		}
	}
}

// names writes N's parts, or the formatted name as the first name when
// the card has no N and its name is not just its organisation, e-mail or
// phone (which a reader would make the name again).
func (r *csvRow) names(c vcard.Card, cols [5]string) {
	if n := c.Get(vcard.FieldName); n != nil && strings.Trim(n.Value, "; ") != "" {
		p := splitParts(n.Value)
		for i, col := range cols {
			r.set(col, part(p, i))
		}
		return
	}
	fn := strings.TrimSpace(c.Value(vcard.FieldFormattedName))
	if fn != fallbackName(c) {
		r.set(cols[1], fn)
	}
}

func outlookRow(c vcard.Card, r *csvRow) []string {
	r.kept(c)
	r.names(c, [5]string{"Last Name", "First Name", "Middle Name", "Title", "Suffix"})
	if o := c.Get(vcard.FieldOrganization); o != nil {
		p := splitParts(o.Value)
		r.set("Company", p[0])
		r.set("Department", joinNonEmpty(p[1:], ", "))
	}
	r.set("Job Title", c.Value(vcard.FieldTitle))
	r.set("Profession", c.Value(vcard.FieldRole))
	used := map[string]bool{}
	for _, f := range c[vcard.FieldAddress] {
		place := "Other"
		if set := typeSet(f); set["work"] {
			place = "Business"
		} else if set["home"] {
			place = "Home"
		}
		if used[place] {
			place = "Other" // Outlook has one address of each kind
		}
		if used[place] {
			continue
		}
		used[place] = true
		p := splitParts(f.Value)
		r.set(place+" Street", joinNonEmpty([]string{part(p, 2), part(p, 1)}, "\n"))
		r.set(place+" City", part(p, 3))
		r.set(place+" State", part(p, 4))
		r.set(place+" Postal Code", part(p, 5))
		r.set(place+" Country/Region", part(p, 6))
		r.set(place+" Address PO Box", part(p, 0))
	}
	for _, f := range c[vcard.FieldTelephone] {
		for _, col := range outlookPhoneColumns(typeSet(f)) {
			if r.free(col) {
				r.set(col, strings.TrimPrefix(f.Value, "tel:"))
				break
			}
		}
	}
	fn := c.Value(vcard.FieldFormattedName)
	slots := []string{"E-mail", "E-mail 2", "E-mail 3"}
	for _, f := range c[vcard.FieldEmail] {
		for len(slots) > 0 && !r.free(slots[0]+" Address") {
			slots = slots[1:]
		}
		if len(slots) == 0 || f.Value == "" {
			continue
		}
		r.set(slots[0]+" Address", f.Value)
		r.set(slots[0]+" Type", "SMTP")
		r.set(slots[0]+" Display Name", fmt.Sprintf("%s (%s)", fn, f.Value))
	}
	r.set("Birthday", outlookDate(c.Value(vcard.FieldBirthday)))
	r.set("Anniversary", outlookDate(c.Value(vcard.FieldAnniversary)))
	r.set("Categories", strings.Join(categories(c), ";"))
	r.set("Notes", strings.Join(c.Values(vcard.FieldNote), "\n\n"))
	r.set("Web Page", c.Value(vcard.FieldURL))
	r.set("Internet Free Busy", c.Value(vcard.FieldFreeOrBusyURL))
	switch sex, _ := c.Gender(); sex {
	case vcard.SexMale:
		r.set("Gender", "Male")
	case vcard.SexFemale:
		r.set("Gender", "Female")
	}
	for _, f := range c[vcard.FieldRelated] {
		switch set := typeSet(f); {
		case set["spouse"]:
			r.set("Spouse", f.Value)
		case set["child"]:
			r.set("Children", f.Value)
		case set["agent"]:
			r.set("Assistant's Name", f.Value)
		}
	}
	return r.cells
}

// outlookDate writes a date as Outlook does, 3/7/1980; a date without a
// year gets 1604, which Parse reads back as none.
func outlookDate(v string) string {
	d, ok := parseVCardDate(v)
	if !ok {
		return ""
	}
	if d.year == 0 {
		d.year = noYear
	}
	return fmt.Sprintf("%d/%d/%d", d.month, d.day, d.year)
}

func googleDate(v string) string {
	d, ok := parseVCardDate(v)
	switch {
	case !ok:
		return ""
	case d.year == 0:
		return fmt.Sprintf("--%02d-%02d", d.month, d.day)
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day)
}

// categories returns the items of every CATEGORIES property.
func categories(c vcard.Card) []string {
	var out []string
	for _, f := range c[vcard.FieldCategories] {
		for _, s := range splitItems(f.Value) {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func joinNonEmpty(parts []string, sep string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// googleRows builds the header, with as many numbered groups as the
// cards need and a column for each X-ORGDAV-CSV name it lacks, and the
// rows.
func googleRows(cards []vcard.Card) ([]string, [][]string) {
	header := append([]string(nil), googleColumns...)
	has := map[string]bool{}
	for _, h := range header {
		has[strings.ToLower(h)] = true
	}
	var extra []string
	counts := make([]int, len(googleGroups))
	for _, c := range cards {
		for i, g := range googleGroups {
			counts[i] = max(counts[i], len(c[g.field]))
		}
		for _, f := range c[fieldCSV] {
			if name := f.Params.Get(paramCSVName); !has[strings.ToLower(name)] {
				has[strings.ToLower(name)] = true
				extra = append(extra, name)
			}
		}
	}
	for i, g := range googleGroups {
		n := counts[i]
		if g.always {
			n = max(n, 1)
		}
		for k := 1; k <= n; k++ {
			for _, p := range g.parts {
				name := fmt.Sprintf("%s %d - %s", g.name, k, p)
				if !has[strings.ToLower(name)] {
					header = append(header, name)
				}
			}
		}
	}
	header = append(header, extra...)
	cols := newColumns(header)
	var rows [][]string
	for _, c := range cards {
		if c != nil {
			rows = append(rows, googleRow(c, cols.row()))
		}
	}
	return header, rows
}

func googleRow(c vcard.Card, r *csvRow) []string {
	r.kept(c)
	r.names(c, [5]string{"Last Name", "First Name", "Middle Name", "Name Prefix", "Name Suffix"})
	for i, name := range phoneticFields {
		r.set(googleColumns[3+i], c.Value(name))
	}
	var nicks []string
	for _, f := range c[vcard.FieldNickname] {
		nicks = append(nicks, splitItems(f.Value)...)
	}
	r.set("Nickname", joinNonEmpty(nicks, googleSep))
	if o := c.Get(vcard.FieldOrganization); o != nil {
		p := splitParts(o.Value)
		r.set("Organization Name", p[0])
		r.set("Organization Department", joinNonEmpty(p[1:], ", "))
	}
	r.set("Organization Title", c.Value(vcard.FieldTitle))
	r.set("Birthday", googleDate(c.Value(vcard.FieldBirthday)))
	r.set("Notes", strings.Join(c.Values(vcard.FieldNote), "\n\n"))
	for _, f := range c[vcard.FieldPhoto] {
		if !strings.HasPrefix(f.Value, "data:") {
			r.set("Photo", f.Value)
			break
		}
	}
	r.set("Labels", strings.Join(append([]string{"* myContacts"}, categories(c)...), googleSep))
	labels := groupLabels(c)
	for _, g := range googleGroups {
		m := placeLabels
		switch g.field {
		case vcard.FieldTelephone:
			m = phoneLabels
		case vcard.FieldRelated:
			m = relationLabels
		}
		for k, f := range c[g.field] {
			col := fmt.Sprintf("%s %d - ", g.name, k+1)
			label := labelOf(m, f, labels)
			if isPref(f) {
				label = "* " + label
			}
			r.set(col+"Label", label)
			if g.field != vcard.FieldAddress {
				r.set(col+"Value", strings.TrimPrefix(f.Value, "tel:"))
				continue
			}
			p := splitParts(f.Value)
			r.set(col+"Formatted", f.Params.Get("LABEL"))
			for i, name := range []string{"PO Box", "Extended Address", "Street", "City", "Region", "Postal Code", "Country"} {
				r.set(col+name, part(p, i))
			}
		}
	}
	return r.cells
}
