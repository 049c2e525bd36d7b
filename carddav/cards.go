package carddav

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/orgdav/orgdav/store"
)

// wantsV4 reads vCard version negotiation from an Accept header.
func wantsV4(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, params, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt != "text/vcard" && mt != "text/x-vcard" {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "version") && strings.Trim(v, `"`) == "4.0" {
				return true
			}
		}
	}
	return false
}

func (s *Server) getCard(w http.ResponseWriter, r *http.Request, b book, seg string) {
	data, etag, err := b.get(seg, wantsV4(r.Header.Get("Accept")))
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Error("reading card failed", "card", seg, "err", err)
		http.Error(w, "Internal error reading the card; try again.", http.StatusInternalServerError)
		return
	}
	im, inm, err := requestConditions(r)
	if err != nil {
		badCondition(w, err)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+etag+`"`)
	h.Set("Vary", "Accept")
	if im != nil && !im.matchStrong(true, etag) {
		http.Error(w, "Precondition failed: the card has changed.", http.StatusPreconditionFailed)
		return
	}
	if inm != nil && inm.matchWeak(true, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/vcard; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

func (s *Server) putCard(w http.ResponseWriter, r *http.Request, rt route, v *viewer) {
	if rt.kind != routeCard {
		needPrivileges(w, rt.parent(), "bind")
		return
	}
	b := s.book(v, rt.book)
	wb, ok := b.(writableBook)
	if !ok {
		href, priv := rt.parent(), "bind"
		if _, exists := b.find(rt.card); exists {
			href, priv = rt.href(), "write-content"
		}
		needPrivileges(w, href, priv)
		return
	}
	if len(rt.card) > 255 {
		http.Error(w, "Bad request: card name longer than 255 bytes.", http.StatusBadRequest)
		return
	}
	cond, err := writeConditions(r)
	if err != nil {
		badCondition(w, err)
		return
	}
	// Preconditions come before the content (RFC 9110 13.2.1): a client
	// whose copy is stale learns that first. The store checks them again
	// in its write.
	if cond.Allow != nil {
		etag, exists := b.find(rt.card)
		if !cond.Allow(exists, etag) {
			http.Error(w, "Precondition failed: the card has changed or already exists.", http.StatusPreconditionFailed)
			return
		}
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.opt.MaxCardBytes+1))
	if err != nil {
		readBodyError(w, err)
		return
	}
	// The size as sent, and as stored: a conversion may shrink or grow it.
	tooBig := int64(len(data)) > s.opt.MaxCardBytes
	if !tooBig {
		if data, err = cardText(r.Header.Get("Content-Type"), data); err != nil {
			xmlError(w, http.StatusUnsupportedMediaType, "<C:supported-address-data/><D:responsedescription>"+textXML(err.Error())+"</D:responsedescription>")
			return
		}
		tooBig = int64(len(data)) > s.opt.MaxCardBytes
	}
	if tooBig {
		xmlError(w, http.StatusRequestEntityTooLarge, "<C:max-resource-size/>")
		return
	}
	pc, err := checkCard(data)
	if err == nil {
		err = store.ValidatePersonalUID(pc.uid)
	}
	if err != nil {
		xmlError(w, http.StatusBadRequest, "<C:valid-address-data/><D:responsedescription>"+textXML(err.Error())+"</D:responsedescription>")
		return
	}
	etag, created, err := wb.put(rt.card, pc, data, cond)
	var conflict *store.UIDConflictError
	switch {
	case errors.Is(err, store.ErrPrecondition):
		http.Error(w, "Precondition failed: the card has changed or already exists.", http.StatusPreconditionFailed)
		return
	case errors.As(err, &conflict):
		xmlError(w, http.StatusConflict, "<C:no-uid-conflict>"+hrefXML(bookPath(v.user, rt.book)+url.PathEscape(conflict.Name))+"</C:no-uid-conflict>")
		return
	case errors.Is(err, store.ErrLiveList), errors.Is(err, store.ErrNotFound):
		// The list turned live or went away since the request began.
		needPrivileges(w, rt.parent(), "bind")
		return
	case err != nil:
		s.log.Error("storing a card failed", "user", v.user, "book", rt.book, "card", rt.card, "err", err)
		http.Error(w, "Internal error storing the card; nothing was changed. Try again.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	if created {
		w.WriteHeader(http.StatusCreated)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) deleteCard(w http.ResponseWriter, r *http.Request, rt route, v *viewer) {
	if rt.kind != routeCard {
		needPrivileges(w, rt.parent(), "unbind")
		return
	}
	b := s.book(v, rt.book)
	wb, ok := b.(writableBook)
	if !ok {
		if _, exists := b.find(rt.card); !exists {
			http.Error(w, "Not found.", http.StatusNotFound)
			return
		}
		needPrivileges(w, rt.parent(), "unbind")
		return
	}
	cond, err := writeConditions(r)
	if err != nil {
		badCondition(w, err)
		return
	}
	err = wb.remove(rt.card, cond)
	switch {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "Not found.", http.StatusNotFound)
	case errors.Is(err, store.ErrPrecondition):
		http.Error(w, "Precondition failed: the card has changed.", http.StatusPreconditionFailed)
	case err != nil:
		s.log.Error("deleting a card failed", "user", v.user, "book", rt.book, "card", rt.card, "err", err)
		http.Error(w, "Internal error deleting the card; nothing was changed. Try again.", http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
