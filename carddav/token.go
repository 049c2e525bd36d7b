package carddav

import (
	"strconv"
	"strings"
)

const tokenPrefix = "urn:x-orgdav:sync/"

// formatToken builds a sync token URI: it holds ':' and '/' (Evolution
// ignores tokens without them) and nothing that needs XML escaping
// (Outlook pastes it into XML unescaped).
func formatToken(epoch, book string, rev uint64, fp string) string {
	return tokenPrefix + epoch + "/" + book + "/" + strconv.FormatUint(rev, 10) + "/" + fp
}

type parsedToken struct {
	epoch, book, fp string
	rev             uint64
}

func parseToken(s string) (parsedToken, bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return parsedToken{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 {
		return parsedToken{}, false
	}
	rev, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return parsedToken{}, false
	}
	return parsedToken{epoch: parts[0], book: parts[1], rev: rev, fp: parts[3]}, true
}
