package main

import (
	"math"
	"math/rand/v2"
	"testing"
)

// stampsFor returns post times (cycles) whose consecutive differences are
// us microseconds each, in that order, times factor.
func stampsFor(us []float64, factor float64) []int64 {
	perUS := cyclesPerNS() * 1e3
	stamps := make([]int64, len(us)+1)
	for i, v := range us {
		stamps[i+1] = stamps[i] + int64(math.Round(v*factor*perUS))
	}
	return stamps
}

// latency computes perftest's statistics: of 999 differences 1…999 µs in
// any order, the 2 largest are left out; typical is the median of the 997
// kept, max the next one, p99 and p99.9 those at index ⌈997·0.99⌉ = 988
// and ⌈997·0.999⌉ = 997.
func TestLatencyStatistics(t *testing.T) {
	us := make([]float64, 999)
	for i := range us {
		us[i] = float64(i + 1)
	}
	rand.Shuffle(len(us), func(i, j int) { us[i], us[j] = us[j], us[i] })
	for _, tc := range []struct {
		mode   string
		factor float64
	}{{modeReadLat, 1}, {modeSendLat, 2}, {modeWriteLat, 2}} {
		r := latency(tc.mode, 2, stampsFor(us, tc.factor), false)
		want := latResult{Mode: tc.mode, Bytes: 2, Iters: 1000, Min: 1, Max: 998, Typical: 499, Avg: 499,
			Stdev: math.Sqrt((997*997 - 1) / 12.0), P99: 989, P999: 998}
		if !near(r, want) {
			t.Errorf("%s: got %+v, want %+v", tc.mode, r, want)
		}
	}

	// An even count kept: the median is the mean of the middle two. With
	// unsorted, every difference in its order besides.
	in := []float64{4, 1, 3, 2, 100, 50}
	r := latency(modeReadLat, 2, stampsFor(in, 1), true)
	if want := (latResult{Mode: modeReadLat, Bytes: 2, Iters: 7, Min: 1, Max: 50, Typical: 2.5, Avg: 2.5,
		Stdev: math.Sqrt(1.25), P99: 50, P999: 50}); !near(r, want) {
		t.Errorf("6 differences: got %+v, want %+v", r, want)
	}
	if len(r.Unsorted) != len(in) {
		t.Fatalf("unsorted: %v, want the %d differences %v", r.Unsorted, len(in), in)
	}
	for i, v := range in {
		if math.Abs(r.Unsorted[i]-v) > 0.01 {
			t.Errorf("unsorted: %v, want %v", r.Unsorted, in)
			break
		}
	}

	// Fewer differences than the tail: none is left out.
	r = latency(modeReadLat, 2, stampsFor([]float64{7}, 1), false)
	if want := (latResult{Mode: modeReadLat, Bytes: 2, Iters: 2, Min: 7, Max: 7, Typical: 7, Avg: 7, P99: 7, P999: 7}); !near(r, want) {
		t.Errorf("1 difference: got %+v, want %+v", r, want)
	}
}

// near compares latency results to within the rounding of microseconds to
// cycles.
func near(a, b latResult) bool {
	close := func(x, y float64) bool { return math.Abs(x-y) < 0.01 }
	return a.Mode == b.Mode && a.Bytes == b.Bytes && a.Iters == b.Iters && close(a.Min, b.Min) && close(a.Max, b.Max) &&
		close(a.Typical, b.Typical) && close(a.Avg, b.Avg) && close(a.Stdev, b.Stdev) && close(a.P99, b.P99) &&
		close(a.P999, b.P999)
}
