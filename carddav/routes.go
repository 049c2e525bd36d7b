package carddav

import (
	"github.com/orgdav/orgdav/directory"
)

// renderVersion changes whenever rendering changes the bytes of a card;
// the store then gives every card a new revision so clients re-fetch once.
const renderVersion = "r1"

// RenderFingerprint identifies everything besides the data that decides
// the served bytes.
func RenderFingerprint(rules *directory.Rules) string {
	return renderVersion + ":" + rules.Fingerprint()
}
