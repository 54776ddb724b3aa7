package main

import (
	"sync"
	"time"
)

// cyclesPerNS is the rate of cycles, measured once against the monotonic
// clock.
var cyclesPerNS = sync.OnceValue(func() float64 {
	t0, c0 := time.Now(), cycles()
	time.Sleep(20 * time.Millisecond)
	c1, t1 := cycles(), time.Now()
	return float64(c1-c0) / float64(t1.Sub(t0))
})
