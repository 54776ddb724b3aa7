package main

// cycles reads the time-stamp counter, as perftest's get_cycles does: a
// clock read costs a few nanoseconds even where the kernel's clocksource
// (HPET in an emulated guest) makes time.Now a slow read.
func cycles() int64

// cyclesAreTSC: cycles counts at the rate /proc/cpuinfo gives as cpu MHz.
const cyclesAreTSC = true
