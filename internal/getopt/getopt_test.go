package getopt

import (
	"reflect"
	"testing"
)

var opts = []Option{
	{Short: 'p', Long: "port", HasArg: true},
	{Short: 'd', Long: "ib-dev", HasArg: true},
	{Short: 'i', Long: "ib-port", HasArg: true},
	{Short: 'n', Long: "iters", HasArg: true},
	{Short: 'e', Long: "events"},
	{Short: 'v'},
	{Long: "json"},
}

// got renders found as "name=arg" strings: the letter, else the long name.
func got(found []Opt) []string {
	var out []string
	for _, o := range found {
		name := o.Long
		if o.Short != 0 {
			name = string(o.Short)
		}
		out = append(out, name+"="+o.Arg)
	}
	return out
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		found    []string
		operands []string
	}{
		{[]string{"host", "-p", "7"}, []string{"p=7"}, []string{"host"}},
		{[]string{"-p7", "-ev", "-n", "5"}, []string{"p=7", "e=", "v=", "n=5"}, nil},
		{[]string{"--port=7", "--ib-dev", "rxe0", "host", "--json"}, []string{"p=7", "d=rxe0", "json="}, []string{"host"}},
		{[]string{"--ib-d=rxe0", "--ev", "--it", "3"}, []string{"d=rxe0", "e=", "n=3"}, nil},
		{[]string{"-ve", "--", "-p", "x"}, []string{"v=", "e="}, []string{"-p", "x"}},
		{[]string{"-", "-vp", "1"}, []string{"v=", "p=1"}, []string{"-"}},
	} {
		found, operands, err := Parse(tc.args, opts)
		if err != nil || !reflect.DeepEqual(got(found), tc.found) || !reflect.DeepEqual(operands, tc.operands) {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", tc.args, got(found), operands, err, tc.found, tc.operands)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-x"}, "unknown option -x"},
		{[]string{"-vx"}, "unknown option -x"},
		{[]string{"--nope"}, "unknown option --nope"},
		{[]string{"-p"}, "option -p needs an argument"},
		{[]string{"--port"}, "option --port needs an argument"},
		{[]string{"--events=1"}, "option --events takes no argument"},
		{[]string{"--ib"}, "option --ib is ambiguous (--ib-dev, --ib-port)"},
		{[]string{"--="}, "unknown option --"},
	} {
		if _, _, err := Parse(tc.args, opts); err == nil || err.Error() != tc.msg {
			t.Errorf("Parse(%q): %v, want %q", tc.args, err, tc.msg)
		}
	}
}

func TestInt(t *testing.T) {
	for s, want := range map[string]int{"10": 10, "0x1f": 31, "0X10": 16, "010": 8, "0": 0, "-3": -3, "+4": 4, "-0x10": -16, " 7": 7} {
		if n, err := Int(s); err != nil || n != want {
			t.Errorf("Int(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "x", "0x", "08", "1_000", "0x-1", "--1", "-+5", "12abc"} {
		if n, err := Int(s); err == nil {
			t.Errorf("Int(%q) = %d, want an error", s, n)
		}
	}
}
