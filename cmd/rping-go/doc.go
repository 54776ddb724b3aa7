// Command rping-go is rdma-core's rping over the go-rdma rdmacm and verbs
// packages: the same flags, the same wire protocol and the same ping data,
// so that it interoperates with C rping both ways and its -v lines are
// identical to C rping's.
//
// Usage:
//
//	rping-go -s [-vVd] [-S size] [-C count] [-a addr] [-p port] [-P] [-q] [--json]
//	rping-go -c [-vVd] [-S size] [-C count] [-I addr] -a addr [-p port] [-q] [--json]
//
// Flags, with rping's defaults and limits:
//
//	-s        server
//	-c        client
//	-a addr   address: the server listens on it (default all), the client connects to it
//	-I addr   the client's source address
//	-p port   port (default 7174)
//	-C count  pings (default 0: forever)
//	-S size   ping data size, 23 to 65535 bytes (default 64)
//	-v        print the ping data: "ping data: ..." (client), "server ping data: ..." (server)
//	-V        validate the ping data
//	-d        debug output
//	-P        persistent server: serve clients concurrently, one goroutine each, until interrupted
//	-q        QP created by hand (see below)
//	--json    print the summary as one JSON object per connection
//
// Flags group (-vV) and take their argument attached or separate (-C10,
// -C 10), as with getopt.
//
// # Protocol
//
// Each side advertises buffers with the 16-byte big-endian
// struct rping_rdma_info {buf u64, rkey u32, size u32}. For each ping the
// client writes "rdma-ping-<n>: " then letters cycling from 'A'+n%58 through
// 'A'..'z' into its start buffer (NUL-terminated) and advertises it; the
// server RDMA-reads it and sends a go-ahead; the client advertises its sink
// buffer; the server RDMA-writes the data back and sends a go-ahead. The
// client disconnects after -C pings.
//
// # Differences from C rping
//
//   - Both sides print a summary at the end of each connection: pings, bytes
//     of ping data read and written, duration and the round trip latency
//     min/avg/p50/p99/max in microseconds (the client times the whole ping;
//     the server from the client's advertisement to its last go-ahead).
//     --json prints it as one JSON object a line: role, peer, size, pings,
//     bytes, seconds, rtt_us {min, avg, p50, p99, max}, error.
//   - On a terminal, without -v, a client with -C 0 or at least 1000 keeps
//     a live progress line.
//   - Errors are one line on stderr naming the failed step and address and
//     the rdma_cm event (RDMA_CM_EVENT_REJECTED with the reject reason,
//     RDMA_CM_EVENT_ADDR_ERROR…) or the work completion status in words;
//     the exit status is 0 on success and 1 on any error (C rping returns
//     assorted values). A peer that disconnects in the middle of a run ends
//     it normally, as in C rping, with a line on stderr naming the ping.
//     SIGINT and SIGTERM end a run that pings normally, with its summary;
//     during the connection's setup they end it with "context canceled".
//   - The command line is checked more strictly: -s with -c, a port or
//     count that is not a number, a port over 65535 and extra arguments
//     are errors (C rping takes the last of -s/-c, reads bad numbers as 0
//     and keeps a port's low 16 bits), and the client
//     needs -a (C rping's client without it connects to 0.0.0.0, which
//     rdma_cm resolves to a local device). The size message is C rping's,
//     which names 65536 as the top of the range it refuses. Usage after a
//     bad command line goes to stderr (C rping prints it on stdout).
//   - C rping's "server DISCONNECT EVENT..." and "client DISCONNECT
//     EVENT..." lines are not printed: the summary ends each connection.
//     The client waits up to 2 s for the server to answer its disconnect
//     (C rping does not wait); a server that does not answer is not an
//     error. A second SIGINT or SIGTERM kills rping-go at once.
//   - The server reads any size a client advertises up to 65536 bytes, so
//     its -S does not have to match the client's; with -V it checks that the
//     data it reads is rping's pattern.
//   - The QP is always created by rping-go with verbs, moved to INIT by
//     rdmacm (InitQP) so that the first receive is posted before the
//     connection is up, and taken to RTR/RTS by rdmacm's Connect and
//     CompleteConnect (two-phase connect on IB/RoCE) or Accept. That is C
//     rping's -q path; without -q C rping lets rdma_create_qp make the QP,
//     which the Go binding does not do, so -q is accepted and changes
//     nothing.
//   - Read and write limits are one RDMA read in flight each way, as C
//     rping -q offers; no private data (not even the binding's framing).
//   - Host names (-a, -I) are resolved by Go's resolver, which takes the
//     first address of a name in /etc/hosts in the file's order, where
//     getaddrinfo sorts them (RFC 3484): for a name with both IPv4 and IPv6
//     addresses the two commands may pick different ones. Give an address
//     to be sure both use the same.
package main
