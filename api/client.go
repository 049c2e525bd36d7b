package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/orgdav/orgdav/store"
)

// Client calls the API as the CLI does: over a running server's Unix
// socket, or in process on the data directory when no server runs.
type Client struct {
	http *http.Client
}

// Dial returns a client for the server listening on the socket at path,
// or nil when none answers there.
func Dial(path string) *Client {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	return &Client{http: &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}}
}

// InProcess returns a client that calls h directly: the CLI's way to the
// data directory when no server runs, with the same routes and answers.
func InProcess(h http.Handler) *Client {
	return &Client{http: &http.Client{Transport: inProcess{h}}}
}

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &bufferedResponse{header: http.Header{}}
	t.h.ServeHTTP(w, req)
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{StatusCode: w.code, Status: strconv.Itoa(w.code) + " " + http.StatusText(w.code),
		Header: w.header, Body: io.NopCloser(&w.body), Request: req}, nil
}

// bufferedResponse keeps a handler's answer for an in-process call.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }
func (w *bufferedResponse) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}
func (w *bufferedResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

// Sync runs one source (or all, source "") now.
func (c *Client) Sync(source string, confirm bool) ([]store.Run, error) {
	q := url.Values{}
	if source != "" {
		q.Set("source", source)
	}
	if confirm {
		q.Set("confirm", "true")
	}
	var runs []store.Run
	return runs, c.Call(http.MethodPost, "sync", q, nil, &runs)
}

// Runs returns up to n recent runs of a source, or of all ("").
func (c *Client) Runs(source string, n int) ([]store.Run, error) {
	q := url.Values{"n": {strconv.Itoa(n)}}
	if source != "" {
		q.Set("source", source)
	}
	var runs []store.Run
	return runs, c.Call(http.MethodGet, "runs", q, nil, &runs)
}

// Audit returns up to n recent admin changes, newest first.
func (c *Client) Audit(n int) ([]store.AuditEntry, error) {
	var log []store.AuditEntry
	return log, c.Call(http.MethodGet, "audit", url.Values{"n": {strconv.Itoa(n)}}, nil, &log)
}

// Call sends a JSON request to a route under Prefix; in, when not nil, is
// sent as JSON and out, when not nil, is decoded from the answer.
func (c *Client) Call(method, route string, q url.Values, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	data, err := c.Raw(method, route, q, body, ctype)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// Raw sends body to a route and returns the answer's body: for uploads
// and downloads of contact files.
func (c *Client) Raw(method, route string, q url.Values, body io.Reader, ctype string) ([]byte, error) {
	req, err := http.NewRequest(method, "http://orgdav"+Prefix+route+"?"+q.Encode(), body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			return nil, fmt.Errorf("admin API: %s: %s", resp.Status, b)
		}
		e.Status = resp.StatusCode
		return nil, &e
	}
	return io.ReadAll(resp.Body)
}
