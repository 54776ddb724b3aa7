package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"github.com/go-rdma/rdma/internal/getopt"
)

// Limits and defaults, as in rping.c.
const (
	bufSize     = 64 * 1024 // RPING_BUFSIZE
	minSize     = 23        // RPING_MIN_BUFSIZE: sizeof "INT_MAX" + sizeof "rdma-ping-%d: "
	maxSize     = bufSize - 1
	defaultSize = 64
	defaultPort = 7174
)

// config is the parsed command line.
type config struct {
	server, client bool
	addr           string // -a, resolved to an IP address; "" for none
	source         string // -I, likewise
	port           int
	count          int // 0: forever
	size           int
	verbose        bool
	validate       bool
	debug          bool
	persistent     bool
	selfQP         bool
	json           bool
}

// errHelp asks for the usage text alone, with success.
var errHelp = errors.New("help")

// usageError is a command-line error whose message is followed by the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// options are rping's getopt("a:I:Pp:C:S:t:scvVdq") less -t (which rping
// refuses too), and ours: --json, -h/--help.
var options = func() []getopt.Option {
	var o []getopt.Option
	for _, c := range []byte("aIpCS") {
		o = append(o, getopt.Option{Short: c, HasArg: true})
	}
	for _, c := range []byte("PscvVdq") {
		o = append(o, getopt.Option{Short: c})
	}
	return append(o, getopt.Option{Long: "json"}, getopt.Option{Short: 'h', Long: "help"})
}()

// parseArgs parses args as rping's getopt does (see internal/getopt):
// flags may be grouped (-vV), option arguments attached (-C10) or separate
// (-C 10), "--" ends the options. rping takes no operands.
func parseArgs(ctx context.Context, args []string) (*config, error) {
	c := &config{port: defaultPort, size: defaultSize}
	found, operands, err := getopt.Parse(args, options)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	if len(operands) > 0 {
		return nil, &usageError{fmt.Sprintf("unexpected argument %q", operands[0])}
	}
	for _, o := range found {
		switch {
		case o.Short == 'h':
			return nil, errHelp
		case o.Long == "json":
			c.json = true
		case o.HasArg:
			if err := c.option(ctx, o.Short, o.Arg); err != nil {
				return nil, err
			}
		default:
			c.flag(o.Short)
		}
	}
	switch {
	case c.server && c.client:
		return nil, &usageError{"-s and -c are exclusive: run either a server or a client"}
	case !c.server && !c.client:
		return nil, &usageError{"choose a side: -s (server) or -c (client)"}
	case c.client && c.addr == "":
		return nil, &usageError{"the client needs the server's address: -a addr"}
	}
	return c, nil
}

// flag sets a flag without argument.
func (c *config) flag(opt byte) {
	switch opt {
	case 's':
		c.server = true
	case 'c':
		c.client = true
	case 'v':
		c.verbose = true
	case 'V':
		c.validate = true
	case 'd':
		c.debug = true
	case 'P':
		c.persistent = true
	case 'q':
		c.selfQP = true
	}
}

// option sets an option with its argument, with rping's checks and
// messages (stricter on numbers: rping's atoi reads "x" as 0).
func (c *config) option(ctx context.Context, opt byte, val string) error {
	var err error
	switch opt {
	case 'a':
		c.addr, err = lookup(ctx, val)
	case 'I':
		c.source, err = lookup(ctx, val)
	case 'p':
		p, perr := strconv.Atoi(val)
		if perr != nil || p < 0 || p > 65535 {
			return fmt.Errorf("Invalid port %s (valid range is 0 to 65535)", val)
		}
		c.port = p
	case 'C':
		n, perr := strconv.Atoi(val)
		if perr != nil || n < 0 {
			return fmt.Errorf("Invalid count %s", val)
		}
		c.count = n
	case 'S':
		n, perr := strconv.Atoi(val)
		if perr != nil || n < minSize || n > maxSize {
			// rping prints RPING_BUFSIZE as the top of the range, and
			// refuses it: the largest size is one less.
			return fmt.Errorf("Invalid size %s (valid range is %d to %d)", val, minSize, bufSize)
		}
		c.size = n
	}
	return err
}

// lookup resolves host (an IP address or a name) to its first IP address,
// as rping's get_addr does with getaddrinfo.
func lookup(ctx context.Context, host string) (string, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.String(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		var dns *net.DNSError
		if errors.As(err, &dns) {
			err = errors.New(dns.Err)
		} else if err == nil {
			err = errors.New("no address")
		}
		return "", fmt.Errorf("getaddrinfo failed (%v) - invalid hostname or IP address %q", err, host)
	}
	return ips[0].Unmap().String(), nil
}

func usage(w io.Writer) {
	const name = "rping-go"
	fmt.Fprintf(w, "%s -s [-vVd] [-S size] [-C count] [-a addr] [-p port] [-P] [-q] [--json]\n", name)
	fmt.Fprintf(w, "%s -c [-vVd] [-S size] [-C count] [-I addr] -a addr [-p port] [-q] [--json]\n", name)
	fmt.Fprint(w, `	-c		client side
	-I		Source address to bind to for client.
	-s		server side.  To bind to any address with IPv6 use -a ::0
	-v		display ping data to stdout
	-V		validate ping data
	-d		debug printfs
	-S size 	ping data size
	-C count	ping count times
	-a addr		address
	-p port		port
	-P		persistent server mode allowing multiple connections
	-q		use self-created, self-modified QP
	--json		print the summary as one JSON object a connection
`)
}
