package api

import (
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

// Client calls the API of a running server over its Unix socket, as the
// CLI does.
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
	return runs, c.call(http.MethodPost, "sync", q, &runs)
}

// Runs returns up to n recent runs of a source, or of all ("").
func (c *Client) Runs(source string, n int) ([]store.Run, error) {
	q := url.Values{"n": {strconv.Itoa(n)}}
	if source != "" {
		q.Set("source", source)
	}
	var runs []store.Run
	return runs, c.call(http.MethodGet, "runs", q, &runs)
}

func (c *Client) call(method, route string, q url.Values, out any) error {
	req, err := http.NewRequest(method, "http://orgdav"+Prefix+route+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			return fmt.Errorf("admin API: %s: %s", resp.Status, b)
		}
		return &e
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
