// Package getopt parses command lines as glibc's getopt_long does, for the
// commands that stand in for rdma-core's C tools: short options alone or
// grouped (-vV), their arguments attached (-C10) or separate (-C 10), long
// options with "=value" or a separate value (--port=7 --size 64) and any
// unambiguous prefix of their names, operands anywhere (glibc permutes
// them to the end), and "--" ending the options.
package getopt

import (
	"fmt"
	"strconv"
	"strings"
)

// Option is one option a command takes.
type Option struct {
	Short  byte   // its letter, 0 for none
	Long   string // its long name, "" for none
	HasArg bool   // it takes an argument
}

// Opt is one option found on the command line.
type Opt struct {
	Option
	Arg string
}

// Parse returns the options of args in their order and the operands.
func Parse(args []string, opts []Option) (found []Opt, operands []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return found, append(operands, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o, err := long(opts, name)
			if err != nil {
				return nil, nil, err
			}
			switch {
			case !o.HasArg && hasVal:
				return nil, nil, fmt.Errorf("option --%s takes no argument", o.Long)
			case o.HasArg && !hasVal:
				if i+1 == len(args) {
					return nil, nil, fmt.Errorf("option --%s needs an argument", o.Long)
				}
				i++
				val = args[i]
			}
			found = append(found, Opt{o, val})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				o, ok := short(opts, a[j])
				if !ok {
					return nil, nil, fmt.Errorf("unknown option -%c", a[j])
				}
				if !o.HasArg {
					found = append(found, Opt{Option: o})
					continue
				}
				val := a[j+1:]
				if val == "" {
					if i+1 == len(args) {
						return nil, nil, fmt.Errorf("option -%c needs an argument", o.Short)
					}
					i++
					val = args[i]
				}
				found = append(found, Opt{o, val})
				break
			}
		default:
			operands = append(operands, a)
		}
	}
	return found, operands, nil
}

func short(opts []Option, c byte) (Option, bool) {
	for _, o := range opts {
		if o.Short != 0 && o.Short == c {
			return o, true
		}
	}
	return Option{}, false
}

// long finds the option name names exactly or as the prefix of one name.
func long(opts []Option, name string) (Option, error) {
	var matches []Option
	for _, o := range opts {
		switch {
		case o.Long == "" || name == "":
		case o.Long == name:
			return o, nil
		case strings.HasPrefix(o.Long, name):
			matches = append(matches, o)
		}
	}
	switch len(matches) {
	case 0:
		return Option{}, fmt.Errorf("unknown option --%s", name)
	case 1:
		return matches[0], nil
	}
	names := make([]string, len(matches))
	for i, o := range matches {
		names[i] = "--" + o.Long
	}
	return Option{}, fmt.Errorf("option --%s is ambiguous (%s)", name, strings.Join(names, ", "))
}

// Int parses s as C's strtol with base 0 does a whole argument: leading
// white space, one sign, then decimal, hexadecimal after "0x", octal after
// "0".
func Int(s string) (int, error) {
	t := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := strings.HasPrefix(t, "-")
	if neg || strings.HasPrefix(t, "+") {
		t = t[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X"):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" || t[0] == '+' || t[0] == '-' {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	n, err := strconv.ParseInt(t, base, 0)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if neg {
		n = -n
	}
	return int(n), nil
}
