//go:build !amd64

package main

import "time"

var epoch = time.Now()

// cycles returns monotonic nanoseconds where no cycle counter is read.
func cycles() int64 { return int64(time.Since(epoch)) }

// cyclesAreTSC: cycles counts nanoseconds, not at the CPU's rate.
const cyclesAreTSC = false
