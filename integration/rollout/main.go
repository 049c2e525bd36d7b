// Command rollout is the load client for rollout day: many distinct
// viewers of an orgdav server running the demo directory each download
// their whole Company book the way a phone's first sync does (PROPFIND
// Depth 1 for the ETags, then addressbook-multiget of every card in
// batches of 100), a fixed number at a time. It reports total server CPU
// (from /proc, when given the server's PID), resident memory sampled
// during the run, and request and per-viewer latency percentiles.
//
//	go run ./integration/rollout -url http://127.0.0.1:8080 -people 50000 \
//	    -viewers 1000 -concurrency 20 -pid $(pidof orgdav)
//
// scripts/bench runs it against the binary; see the README.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/orgdav/orgdav/directory"
)

// options are the command line.
type options struct {
	url         string
	people      int // the demo directory's size, to know its viewers
	viewers     int
	concurrency int
	batch       int
	pid         int
	gzip        bool
	vcard4      bool
	timeout     time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "the server's base URL, as it logs it (required)")
	flag.IntVar(&o.people, "people", 50000, "people in the server's demo directory (its --demo-people)")
	flag.IntVar(&o.viewers, "viewers", 1000, "distinct viewers, picked across departments")
	flag.IntVar(&o.concurrency, "concurrency", 20, "viewers downloading at once")
	flag.IntVar(&o.batch, "batch", 100, "cards per addressbook-multiget")
	flag.IntVar(&o.pid, "pid", 0, "the server's process ID, to read its CPU and memory from /proc (0: not measured)")
	flag.BoolVar(&o.gzip, "gzip", false, "accept gzip-compressed responses")
	flag.BoolVar(&o.vcard4, "vcard4", false, "ask for vCard 4.0, as DAVx5 does")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "give up after this long")
	flag.Parse()
	if o.url == "" || o.viewers < 1 || o.concurrency < 1 || o.batch < 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	r, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rollout:", err)
		os.Exit(1)
	}
	fmt.Print(r)
}

// viewers picks n distinct people who can log in, taking each
// department in turn so that the viewers' visibility differs as much as
// the directory allows.
func viewers(people, n int) ([]string, error) {
	byDept := map[string][]string{}
	var depts []string
	for _, p := range directory.Demo(people).People {
		if p.Hidden || p.Disabled || p.Username == "" {
			continue
		}
		if _, ok := byDept[p.Department]; !ok {
			depts = append(depts, p.Department)
		}
		byDept[p.Department] = append(byDept[p.Department], p.Username)
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		took := false
		for _, d := range depts {
			if i < len(byDept[d]) && len(out) < n {
				out = append(out, byDept[d][i])
				took = true
			}
		}
		if !took {
			return nil, fmt.Errorf("the demo directory of %d people has only %d viewers, not %d", people, len(out), n)
		}
	}
	return out, nil
}

// report is what a run measured.
type report struct {
	o           options
	wall        time.Duration
	cards       int64
	bytes       int64
	requests    []time.Duration // every request's latency
	downloads   []time.Duration // every viewer's whole download
	cpu, sys    time.Duration   // server CPU over the run (user + system), and system
	rssBefore   int64           // bytes
	rssPeak     int64           // highest sampled during the run
	rssAfter    int64
	anon, file  int64 // RssAnon and RssFile after the run
	clientCPU   time.Duration
	measuredCPU bool
}

func run(ctx context.Context, o options) (*report, error) {
	names, err := viewers(o.people, o.viewers)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: o.concurrency, DisableCompression: !o.gzip}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	r := &report{o: o}
	var before procStat
	if o.pid > 0 {
		if before, err = readProc(o.pid); err != nil {
			return nil, err
		}
		r.rssBefore, r.measuredCPU = before.rss, true
	}
	selfBefore := selfCPU()

	// Sample the server's memory while the viewers download.
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	var peak atomic.Int64
	go func() {
		defer close(sampled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if o.pid > 0 {
				if s, err := readProc(o.pid); err == nil && s.rss > peak.Load() {
					peak.Store(s.rss)
				}
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()

	var mu sync.Mutex
	var firstErr error
	next := make(chan string)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for user := range next {
				reqs, cards, n, took, err := download(ctx, c, o, user)
				mu.Lock()
				r.requests = append(r.requests, reqs...)
				r.downloads = append(r.downloads, took)
				r.cards += int64(cards)
				r.bytes += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, u := range names {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		select {
		case next <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	r.wall = time.Since(start)
	close(stopSampling)
	<-sampled
	r.clientCPU = selfCPU() - selfBefore
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.pid > 0 {
		after, err := readProc(o.pid)
		if err != nil {
			return nil, err
		}
		r.cpu, r.sys = after.cpu-before.cpu, after.sys-before.sys
		r.rssAfter, r.anon, r.file = after.rss, after.anon, after.file
		r.rssPeak = max(peak.Load(), after.rss)
	}
	return r, nil
}

const propfindBody = `<propfind xmlns="DAV:"><prop><resourcetype/><getetag/></prop></propfind>`

// download is one viewer's first sync of the Company book.
func download(ctx context.Context, c *http.Client, o options, user string) (reqs []time.Duration, cards int, n int64, took time.Duration, err error) {
	start := time.Now()
	book := strings.TrimSuffix(o.url, "/") + "/dav/books/" + user + "/company/"
	body, d, err := do(ctx, c, "PROPFIND", book, user, propfindBody, "1")
	reqs = append(reqs, d)
	if err != nil {
		return reqs, 0, 0, 0, err
	}
	n += int64(len(body))
	hrefs := cardHrefs(body)
	if len(hrefs) == 0 {
		return reqs, 0, n, 0, fmt.Errorf("%s: PROPFIND Depth 1 listed no cards", user)
	}
	data := `<C:address-data/>`
	if o.vcard4 {
		data = `<C:address-data content-type="text/vcard" version="4.0"/>`
	}
	var req bytes.Buffer
	for i := 0; i < len(hrefs); i += o.batch {
		part := hrefs[i:min(i+o.batch, len(hrefs))]
		req.Reset()
		req.WriteString(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/>` + data + `</D:prop>`)
		for _, h := range part {
			req.WriteString("<D:href>")
			req.Write(h)
			req.WriteString("</D:href>")
		}
		req.WriteString("</C:addressbook-multiget>")
		body, d, err := do(ctx, c, "REPORT", book, user, req.String(), "0")
		reqs = append(reqs, d)
		if err != nil {
			return reqs, cards, n, 0, err
		}
		n += int64(len(body))
		got := bytes.Count(body, []byte("BEGIN:VCARD"))
		if got != len(part) {
			return reqs, cards, n, 0, fmt.Errorf("%s: a multiget of %d cards returned %d", user, len(part), got)
		}
		cards += got
	}
	return reqs, cards, n, time.Since(start), nil
}

// do sends one DAV request and reads its whole answer.
func do(ctx context.Context, c *http.Client, method, url, user, body, depth string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.SetBasicAuth(user, directory.DemoPassword)
	req.Header.Set("Content-Type", "application/xml; charset=utf-8")
	req.Header.Set("Depth", depth)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return nil, took, fmt.Errorf("%s %s: reading the answer: %w", method, url, err)
	}
	if resp.StatusCode != http.StatusMultiStatus {
		return nil, took, fmt.Errorf("%s %s: %s: %.200s", method, url, resp.Status, data)
	}
	return data, took, nil
}

// cardHrefs finds the cards' hrefs in a multistatus, whatever prefix the
// server gives the DAV namespace.
func cardHrefs(body []byte) [][]byte {
	var out [][]byte
	for {
		i := bytes.Index(body, []byte("href>"))
		if i < 0 {
			return out
		}
		body = body[i+len("href>"):]
		j := bytes.IndexByte(body, '<')
		if j < 0 {
			return out
		}
		if h := body[:j]; bytes.HasSuffix(h, []byte(".vcf")) {
			out = append(out, h)
		}
		// Skip the closing tag, which also ends in "href>".
		if k := bytes.Index(body[j:], []byte("href>")); k >= 0 {
			body = body[j+k+len("href>"):]
		} else {
			return out
		}
	}
}

// procStat is what /proc says about a process.
type procStat struct {
	cpu, sys        time.Duration // sys: the kernel's share of cpu
	rss, anon, file int64
}

// clockTick is USER_HZ, which is 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

func readProc(pid int) (procStat, error) {
	var s procStat
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading the server's CPU time: %w", err)
	}
	// The command name may hold spaces: fields count from after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, errors.New("/proc/PID/stat has no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, errors.New("/proc/PID/stat is too short")
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime) // field 14, after the state and 10 others
	fmt.Sscan(f[12], &stime)
	s.cpu = time.Duration(utime+stime) * clockTick
	s.sys = time.Duration(stime) * clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading the server's memory: %w", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var kb int64
		fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
		switch k {
		case "VmRSS":
			s.rss = kb << 10
		case "RssAnon":
			s.anon = kb << 10
		case "RssFile":
			s.file = kb << 10
		}
	}
	return s, nil
}

// selfCPU is this process's CPU time so far: the client's own share of
// the machine, beside the server's.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	// The nearest rank: of 100 samples, p99 is the 99th, not the largest.
	return s[max(0, min(len(s)-1, int(math.Ceil(float64(len(s))*p))-1))]
}

func (r *report) String() string {
	var b strings.Builder
	mib := func(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
	enc := "identity"
	if r.o.gzip {
		enc = "gzip"
	}
	version := "3.0"
	if r.o.vcard4 {
		version = "4.0"
	}
	fmt.Fprintf(&b, "rollout: %d viewers, %d at a time, %d cards (vCard %s, %s, %.1f MB) in %s\n",
		len(r.downloads), r.o.concurrency, r.cards, version, enc, float64(r.bytes)/1e6, r.wall.Round(time.Millisecond))
	fmt.Fprintf(&b, "requests: %d, p50 %s, p99 %s, max %s\n", len(r.requests),
		pct(r.requests, .5).Round(time.Microsecond), pct(r.requests, .99).Round(time.Microsecond), pct(r.requests, 1).Round(time.Microsecond))
	fmt.Fprintf(&b, "a viewer's download: p50 %s, p99 %s, max %s\n",
		pct(r.downloads, .5).Round(time.Millisecond), pct(r.downloads, .99).Round(time.Millisecond), pct(r.downloads, 1).Round(time.Millisecond))
	if r.measuredCPU {
		fmt.Fprintf(&b, "server CPU: %s (%s in the kernel), %.2f µs a card, %.0f ms a viewer\n", r.cpu.Round(10*time.Millisecond),
			r.sys.Round(10*time.Millisecond), float64(r.cpu)/1e3/float64(max(r.cards, 1)), float64(r.cpu)/1e6/float64(max(len(r.downloads), 1)))
		fmt.Fprintf(&b, "server RSS: %s before, %s peak during, %s after (%s anonymous, %s file)\n",
			mib(r.rssBefore), mib(r.rssPeak), mib(r.rssAfter), mib(r.anon), mib(r.file))
	}
	fmt.Fprintf(&b, "client CPU: %s\n", r.clientCPU.Round(10*time.Millisecond))
	return b.String()
}
