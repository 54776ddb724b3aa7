package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// Latency histogram: values under subBuckets ns are exact; above, each
// power of two is split into subBuckets buckets (under 1% error), so that
// percentiles of an endless run take constant memory.
const (
	subBits    = 7
	subBuckets = 1 << subBits
	numBuckets = (64 - subBits) * subBuckets // durations are below 1<<63
)

// stats accumulates the round trips of one connection.
type stats struct {
	n        int64
	bytes    int64
	sum      time.Duration
	min, max time.Duration
	start    time.Time
	buckets  [numBuckets]int64
}

func newStats() *stats { return &stats{start: time.Now()} }

func bucketOf(v time.Duration) int {
	u := uint64(max(v, 0))
	if u < subBuckets {
		return int(u)
	}
	e := bits.Len64(u) - subBits - 1 // u>>e keeps the top subBits+1 bits
	return e*subBuckets + int(u>>e)
}

// bucketMid returns the middle of bucket i's range.
func bucketMid(i int) time.Duration {
	if i < subBuckets {
		return time.Duration(i)
	}
	e := i/subBuckets - 1
	m := uint64(i - e*subBuckets)
	return time.Duration(m<<e + (1<<e)/2)
}

// add records one ping's round trip and the bytes it moved.
func (s *stats) add(rtt time.Duration, bytes int) {
	if s.n == 0 || rtt < s.min {
		s.min = rtt
	}
	s.max = max(s.max, rtt)
	s.n++
	s.sum += rtt
	s.bytes += int64(bytes)
	s.buckets[bucketOf(rtt)]++
}

// percentile returns the p-th percentile (0 < p ≤ 100), within the
// histogram's precision and never outside [min, max].
func (s *stats) percentile(p float64) time.Duration {
	rank := int64(float64(s.n)*p/100 + 0.999999)
	var seen int64
	for i, c := range s.buckets {
		seen += c
		if c > 0 && seen >= rank {
			return min(max(bucketMid(i), s.min), s.max)
		}
	}
	return s.max
}

// summary is what rping-go prints at the end of a connection, and its
// --json form.
type summary struct {
	Role    string   `json:"role"` // "client" or "server"
	Peer    string   `json:"peer"`
	Size    int      `json:"size,omitempty"` // client only: -S
	Pings   int64    `json:"pings"`
	Bytes   int64    `json:"bytes"`
	Seconds float64  `json:"seconds"`
	RTT     *latency `json:"rtt_us,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// latency is in microseconds.
type latency struct {
	Min float64 `json:"min"`
	Avg float64 `json:"avg"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

func (s *stats) summary(role, peer string, size int, err error) summary {
	sum := summary{Role: role, Peer: peer, Size: size, Pings: s.n, Bytes: s.bytes, Seconds: time.Since(s.start).Seconds()}
	if s.n > 0 {
		sum.RTT = &latency{Min: us(s.min), Avg: us(s.sum / time.Duration(s.n)), P50: us(s.percentile(50)),
			P99: us(s.percentile(99)), Max: us(s.max)}
	}
	if err != nil {
		sum.Error = err.Error()
	}
	return sum
}

// print writes the summary as text, or as one line of JSON.
func (sum summary) print(w io.Writer, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(sum)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	other := "server"
	if sum.Role == "server" {
		other = "client"
	}
	fmt.Fprintf(w, "--- rping-go %s, %s %s ---\n", sum.Role, other, sum.Peer)
	fmt.Fprintf(w, "%d pings, %d bytes of ping data read and written, %.3f s\n", sum.Pings, sum.Bytes, sum.Seconds)
	if r := sum.RTT; r != nil {
		fmt.Fprintf(w, "round trip min/avg/p50/p99/max = %.1f/%.1f/%.1f/%.1f/%.1f us\n", r.Min, r.Avg, r.P50, r.P99, r.Max)
	}
}
