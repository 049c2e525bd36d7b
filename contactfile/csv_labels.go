package contactfile

import (
	"slices"
	"strings"

	"github.com/emersion/go-vcard"
)

// labelMap says which TYPE values a label in a CSV export stands for. It
// is read both ways; the first label of a set of types is the one
// written.
type labelMap []struct {
	label string
	types []string
}

// types returns the TYPE values of a label, and false for a label the
// map does not know (which is kept as a custom label).
func (m labelMap) types(label string) ([]string, bool) {
	for _, e := range m {
		if strings.EqualFold(e.label, label) {
			return e.types, true
		}
	}
	return nil, false
}

// label returns the label of a set of types, and false when no label has
// exactly those.
func (m labelMap) label(set map[string]bool) (string, bool) {
	for _, e := range m {
		if len(e.types) == len(set) && allIn(e.types, set) {
			return e.label, true
		}
	}
	return "", false
}

func allIn(types []string, set map[string]bool) bool {
	for _, t := range types {
		if !set[t] {
			return false
		}
	}
	return true
}

// Labels of Google's exports, current and legacy. Numbers whose kind
// vCard has no word for get x- types, shared with Outlook's columns of
// the same kind.
var (
	phoneLabels = labelMap{
		{"Mobile", []string{"cell"}},
		{"Work", []string{"work"}},
		{"Home", []string{"home"}},
		{"Main", []string{"main"}},
		{"Work Fax", []string{"work", "fax"}},
		{"Home Fax", []string{"home", "fax"}},
		{"Other Fax", []string{"fax"}},
		{"Fax", []string{"fax"}},
		{"Pager", []string{"pager"}},
		{"Work Mobile", []string{"work", "cell"}},
		{"Work Pager", []string{"work", "pager"}},
		{"Company Main", []string{"work", "main"}},
		{"Assistant", []string{"x-assistant"}},
		{"Callback", []string{"x-callback"}},
		{"Car", []string{"car"}},
		{"ISDN", []string{"isdn"}},
		{"Radio", []string{"x-radio"}},
		{"Telex", []string{"x-telex"}},
		{"TTY/TDD", []string{"textphone"}},
		{"Video", []string{"video"}},
		{"Other", nil},
	}
	placeLabels = labelMap{
		{"Home", []string{"home"}},
		{"Work", []string{"work"}},
		{"Other", nil},
	}
	relationLabels = labelMap{
		{"Spouse", []string{"spouse"}},
		{"Child", []string{"child"}},
		{"Parent", []string{"parent"}},
		{"Sibling", []string{"sibling"}},
		{"Friend", []string{"friend"}},
		{"Relative", []string{"kin"}},
		{"Assistant", []string{"agent"}},
		{"Partner", []string{"sweetheart"}},
		{"Other", nil},
	}
)

// outlookPhones are Outlook's phone columns in its export order, with the
// TYPE values each stands for.
var outlookPhones = []struct {
	column string
	types  []string
}{
	{"Assistant's Phone", []string{"x-assistant"}},
	{"Business Fax", []string{"work", "fax"}},
	{"Business Phone", []string{"work"}},
	{"Business Phone 2", []string{"work"}},
	{"Callback", []string{"x-callback"}},
	{"Car Phone", []string{"car"}},
	{"Company Main Phone", []string{"work", "main"}},
	{"Home Fax", []string{"home", "fax"}},
	{"Home Phone", []string{"home"}},
	{"Home Phone 2", []string{"home"}},
	{"ISDN", []string{"isdn"}},
	{"Mobile Phone", []string{"cell"}},
	{"Other Fax", []string{"fax"}},
	{"Other Phone", nil},
	{"Pager", []string{"pager"}},
	{"Primary Phone", []string{"main"}},
	{"Radio Phone", []string{"x-radio"}},
	{"TTY/TDD Phone", []string{"textphone"}},
	{"Telex", []string{"x-telex"}},
}

// outlookPhoneColumns returns the Outlook columns a number of these
// types goes to, best first: the columns of exactly these types, else
// the nearest kind (a work mobile is a mobile), Other Phone last.
func outlookPhoneColumns(set map[string]bool) []string {
	var cols []string
	for _, p := range outlookPhones {
		if len(p.types) == len(set) && allIn(p.types, set) {
			cols = append(cols, p.column)
		}
	}
	switch {
	case set["fax"] && set["work"]:
		cols = append(cols, "Business Fax")
	case set["fax"] && set["home"]:
		cols = append(cols, "Home Fax")
	case set["fax"]:
		cols = append(cols, "Other Fax")
	case set["cell"]:
		cols = append(cols, "Mobile Phone")
	case set["pager"]:
		cols = append(cols, "Pager")
	case set["work"]:
		cols = append(cols, "Business Phone", "Business Phone 2")
	case set["home"]:
		cols = append(cols, "Home Phone", "Home Phone 2")
	}
	return append(cols, "Other Phone")
}

// parseLabel reads a label cell: "* Work" is the primary value labelled
// Work. A label the map does not know is returned as custom.
func parseLabel(m labelMap, cell string) (types []string, custom string, pref bool) {
	cell = strings.TrimSpace(cell)
	if rest, ok := strings.CutPrefix(cell, "* "); ok {
		cell, pref = strings.TrimSpace(rest), true
	}
	if cell == "" {
		return nil, "", pref
	}
	if t, ok := m.types(cell); ok {
		return t, "", pref
	}
	return nil, cell, pref
}

// labelOf returns the label a CSV export shows for a field: its Apple
// label when it has one, else the label of its types, else the nearest
// one.
func labelOf(m labelMap, f *vcard.Field, labels map[string]string) string {
	if f.Group != "" {
		if l, ok := labels[strings.ToLower(f.Group)]; ok && l != "" {
			return l
		}
	}
	set := typeSet(f)
	if l, ok := m.label(set); ok {
		return l
	}
	for _, e := range m {
		if len(e.types) == 1 && set[e.types[0]] {
			return e.label
		}
	}
	types := make([]string, 0, len(set))
	for t := range set {
		types = append(types, t)
	}
	slices.Sort(types)
	if len(types) > 0 {
		return strings.Join(types, " ")
	}
	return "Other"
}
